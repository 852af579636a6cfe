// Type-checked (never run) as a consumer would, against the installed @iomux/core.
import { createSelector, DefaultSelector, Events, socketPair, SystemError, type BackendName, type Ready, type SelectorKey } from '@iomux/core';

const backend: BackendName = 'epoll';
const sel = new DefaultSelector<{ name: string }>();
const [a, b] = socketPair();
const key: SelectorKey<{ name: string }> = sel.register(a, Events.IN, { name: 'a' });
const ready: Ready<{ name: string }>[] = sel.select(0);
const names: string[] = ready.map(([k]) => k.data.name);
const later: Promise<Ready<{ name: string }>[]> = sel.wait({ timeoutMs: 10, signal: AbortSignal.timeout(100) });
const err: unknown = null;
if (err instanceof SystemError) console.log(err.code, err.errno, err.syscall);
// Negative controls: these must be type errors, so the declarations were really read.
// @ts-expect-error no such backend
createSelector('kqueue');
// @ts-expect-error data is { name: string }
const wrong: number = key.data;
console.log(backend, names, later, b, wrong);
