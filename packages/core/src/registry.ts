/**
 * The backend registry's TypeScript half: the names, in the order the
 * addon's registry (packages/native/src/backend_common.cc, `kBackends`)
 * lists them, and whether this machine can run each. `BackendName`,
 * `backends()`, `capabilities()`, `createSelector()` and the tests' backend
 * lists are all derived from here; adding a backend adds its name here, its
 * entry in `kBackends` and its class in selector.ts (which the compiler then
 * asks for).
 * @internal
 * @module
 */
import { native } from './native.ts';

/**
 * Every backend iomux implements, whether or not this machine can run it
 * (`backends()` lists those it can), best last among those always present.
 */
export const BACKEND_NAMES = ['select', 'poll', 'epoll', 'io_uring'] as const;

/** The readiness mechanisms iomux implements. */
export type BackendName = (typeof BACKEND_NAMES)[number];

const addonNames = native.backends.map((b) => b.name).join(',');
if (addonNames !== BACKEND_NAMES.join(',')) {
  throw new Error(`@iomux/native lists the backends ${addonNames}, @iomux/core expects ${BACKEND_NAMES.join(',')}: rebuild the addon`);
}

/** Why `backend` cannot run on this machine (a sentence), or null when it can. */
export function unavailableReason(backend: BackendName): string | null {
  if (process.platform !== 'linux') return `iomux's backends need Linux (this is ${process.platform})`;
  return native.backends.find((b) => b.name === backend)?.reason ?? null;
}

/** The names of the backends this machine can run, in registry order. */
export function availableBackends(): BackendName[] {
  return BACKEND_NAMES.filter((name) => unavailableReason(name) === null);
}
