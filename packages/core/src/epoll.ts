/**
 * A drop-in for the npm `epoll` package (v4, github fivdi/epoll), built on
 * iomux's {@link Watcher} over the epoll backend: change
 * `require('epoll')` to `require('@iomux/core/epoll')` and keep the rest.
 * No compiler or per-ABI rebuild, and it works in Worker threads.
 *
 * ```js
 * const { Epoll } = require('@iomux/core/epoll'); // or: import { Epoll } from '@iomux/core/epoll'
 * const poller = new Epoll((err, fd, events) => { … });
 * poller.add(fd, Epoll.EPOLLPRI);
 * ```
 *
 * Same as the peer: `new Epoll(callback)`; `callback(err, fd, events)` is
 * called on the event loop once per ready fd, with `this` the global object;
 * on an error of the wait itself with `callback(err)` alone. `add()`,
 * `modify()` and `remove()` return the instance so calls chain; `closed` is
 * true after `close()`; the constants are read-only properties of `Epoll`.
 * An instance keeps the process alive only while it has fds and is open,
 * and is not garbage-collected while it has fds.
 *
 * Deliberate differences, all where the peer throws or crashes:
 * - errors are iomux's, never bare strings: `SystemError` with `code`,
 *   `errno`, `syscall` for a kernel refusal (`EPERM` for a regular file),
 *   `ERR_ALREADY_REGISTERED` for `add()` of a watched fd (the peer: `EEXIST`),
 *   `ERR_NOT_REGISTERED` for `modify()`/`remove()` of an unknown one (the
 *   peer: `ENOENT`), `ERR_SELECTOR_CLOSED` for any use after `close()`,
 *   `ERR_INVALID_ARG_TYPE` for a missing callback or a bad fd;
 * - `close()` is idempotent (the peer throws on the second call);
 * - each instance has an epoll fd of its own, so two instances may watch the
 *   same fd (the peer shares one: `EEXIST`);
 * - callbacks never starve the event loop (see {@link Watcher});
 * - it works in Worker threads (the peer crashes the process).
 * @module
 */
import { invalidType } from './errors.ts';
import { constants } from './events.ts';
import { Watcher } from './watcher.ts';

/** The callback of an {@link Epoll}, as in the npm `epoll` package. */
export type EpollCallback = (err: Error | null, fd?: number, events?: number) => void;

/** The npm `epoll` package's class, on iomux. */
export class Epoll {
  /** Readable (read-only, as are the other constants). */
  static readonly EPOLLIN: number = constants.epoll.EPOLLIN;
  /** Writable. */
  static readonly EPOLLOUT: number = constants.epoll.EPOLLOUT;
  /** The peer shut down its write side. */
  static readonly EPOLLRDHUP: number = constants.epoll.EPOLLRDHUP;
  /** Urgent data; for sysfs GPIO values and `/proc/self/mounts`, "changed". */
  static readonly EPOLLPRI: number = constants.epoll.EPOLLPRI;
  /** Error condition (always reported). */
  static readonly EPOLLERR: number = constants.epoll.EPOLLERR;
  /** Hang-up (always reported). */
  static readonly EPOLLHUP: number = constants.epoll.EPOLLHUP;
  /** Edge-triggered. */
  static readonly EPOLLET: number = constants.epoll.EPOLLET;
  /** Report once, then disarm until `modify()`. */
  static readonly EPOLLONESHOT: number = constants.epoll.EPOLLONESHOT;

  readonly #watcher: Watcher;

  /**
   * @param callback - `callback(err, fd, events)`, called with `this` the
   *   global object, as the peer does
   * @throws `ERR_INVALID_ARG_TYPE` if `callback` is not a function
   */
  constructor(callback: EpollCallback) {
    if (typeof callback !== 'function') throw invalidType('callback', 'of type function', callback);
    this.#watcher = new Watcher(
      (err, fd, events) => {
        if (err !== null) Reflect.apply(callback, globalThis, [err]);
        else Reflect.apply(callback, globalThis, [null, fd, events]);
      },
      { backend: 'epoll' },
    );
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#watcher.closed;
  }

  /**
   * Watches `fd` for `events` (`Epoll.EPOLLIN | …`).
   * @returns this instance
   * @throws see the module's notes
   */
  add(fd: number, events: number): this {
    this.#watcher.add(fd, events);
    return this;
  }

  /**
   * Changes the events `fd` is watched for; re-arms an `EPOLLONESHOT` fd.
   * @returns this instance
   */
  modify(fd: number, events: number): this {
    this.#watcher.modify(fd, events);
    return this;
  }

  /**
   * Stops watching `fd`.
   * @returns this instance
   */
  remove(fd: number): this {
    this.#watcher.remove(fd);
    return this;
  }

  /** Stops watching every fd and releases the epoll fd; idempotent. */
  close(): void {
    this.#watcher.close();
  }
}

// Read-only, as the peer's are.
for (const name of ['EPOLLIN', 'EPOLLOUT', 'EPOLLRDHUP', 'EPOLLPRI', 'EPOLLERR', 'EPOLLHUP', 'EPOLLET', 'EPOLLONESHOT'] as const) {
  Object.defineProperty(Epoll, name, { writable: false, configurable: false });
}
