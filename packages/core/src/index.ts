/**
 * iomux: one `Selector` interface over native `select(2)`, `poll(2)` and
 * `epoll(7)`, in the spirit of CPython's `selectors`, with raw sockets to
 * drive them.
 *
 * @example
 * ```ts
 * import { DefaultSelector, Events, socketPair } from '@iomux/core';
 * const sel = new DefaultSelector<string>();
 * const [a, b] = socketPair();
 * sel.register(a, Events.IN, 'a');
 * b.send('hi');
 * for (const [key, events] of sel.select(1000)) console.log(key.data, events);
 * ```
 * @module
 */
export {
  BaseSelector,
  DefaultSelector,
  EpollSelector,
  FAIR_BURST,
  IoUringSelector,
  PollSelector,
  SelectSelector,
  backends,
  createSelector,
  type BackendName,
  type FileLike,
  type Ready,
  type Selector,
  type SelectorKey,
  type WaitOptions,
} from './selector.ts';
export { capabilities, type BackendCapabilities } from './capabilities.ts';
export { BACKEND_NAMES } from './registry.ts';
export { EVENT_READ, EVENT_WRITE, Events, FD_SETSIZE, constants, formatEvents, type EventName } from './events.ts';
export { ReadyList } from './ready-list.ts';
export { Batch, BatchResult, type BatchOptions } from './batch.ts';
export { SystemError, type CodedError, type ErrorCode } from './errors.ts';
export { Socket, socketPair, type Address, type FromFdOptions, type SocketFamily, type SocketType } from './socket.ts';
export { getBlocking, pipe, raiseFdLimit, setBlocking, type PipeOptions } from './os.ts';
export { Waker } from './waker.ts';
export { Watcher, type WatchCallback, type WatcherOptions } from './watcher.ts';
