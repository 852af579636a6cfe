// Type-checked (never run) as a consumer would, against the installed @iomux/core.
import { createSelector, DefaultSelector, Events, socketPair, SystemError, Watcher, type BackendName, type Ready, type SelectorKey } from '@iomux/core';
import { Epoll } from '@iomux/core/epoll';

const backend: BackendName = 'epoll';
const sel = new DefaultSelector<{ name: string }>();
const [a, b] = socketPair();
const key: SelectorKey<{ name: string }> = sel.register(a, Events.IN, { name: 'a' });
const ready: Ready<{ name: string }>[] = sel.select(0);
const names: string[] = ready.map(([k]) => k.data.name);
const later: Promise<Ready<{ name: string }>[]> = sel.wait({ timeoutMs: 10, signal: AbortSignal.timeout(100) });
const err: unknown = null;
if (err instanceof SystemError) console.log(err.code, err.errno, err.syscall);
const poller: Epoll = new Epoll((e, fd, events) => console.log(e, fd, events)).add(0, Epoll.EPOLLIN | Epoll.EPOLLET);
const watcher: Watcher = new Watcher((e: Error | null, fd: number) => console.log(e, fd), { backend: 'poll' });
console.log(poller.closed, watcher.size);
// Negative controls: these must be type errors, so the declarations were really read.
// @ts-expect-error no such backend
createSelector('kqueue');
// @ts-expect-error data is { name: string }
const wrong: number = key.data;
console.log(backend, names, later, b, wrong);
