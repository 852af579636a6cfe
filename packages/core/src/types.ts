/**
 * The types every module of the package shares: a leaf, imported by
 * selector.ts, batch.ts and ready-list.ts alike, so that none of them
 * imports another for its types.
 * @module
 */
import type { FileLike } from './fileobj.ts';

/**
 * What `register()` returns and `select()` reports: the registered object,
 * its fd, the interest mask (modifiers included) and the user's data.
 * Keys are immutable; `modify()` replaces the key.
 */
export interface SelectorKey<T = unknown> {
  /** What was passed to `register()`. */
  readonly fileobj: FileLike;
  /** The file descriptor. */
  readonly fd: number;
  /** The interest mask, modifiers included, as an unsigned 32-bit number. */
  readonly events: number;
  /** The data passed to `register()` or `modify()`. */
  readonly data: T;
}

/** One ready fd: its key and the events that are ready (a non-negative mask). */
export type Ready<T> = [key: SelectorKey<T>, events: number];

/** Options for {@link Selector.wait}. */
export interface WaitOptions {
  /** Milliseconds to wait; `null`/`undefined`: forever; `0` or less: don't wait. */
  timeoutMs?: number | null;
  /** Aborting it rejects the pending wait with an `AbortError`. */
  signal?: AbortSignal;
}
