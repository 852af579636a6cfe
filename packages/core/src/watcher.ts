import { codedError, invalidType } from './errors.ts';
import { Events } from './events.ts';
import { createSelector, type BackendName, type BaseSelector, type FileLike, type Ready, type Selector, type SelectorKey } from './selector.ts';

/**
 * What a {@link Watcher} calls: once per ready fd with `err === null`, the fd
 * and its ready events (a non-negative mask of {@link Events} bits, `ERR`,
 * `HUP` and `NVAL` included when the kernel reports them); or with an error
 * the wait itself met (then `fd` is -1 and `events` 0).
 */
export type WatchCallback = (err: Error | null, fd: number, events: number) => void;

/** Options for a {@link Watcher}. */
export interface WatcherOptions {
  /** The mechanism to use; default `'default'` (epoll on Linux). */
  backend?: BackendName | 'default';
}

// Always reported, whatever the interest (as poll(2) does).
const ALWAYS = Events.ERR | Events.HUP | Events.NVAL;

/**
 * A callback-style watcher: one {@link Selector} driven by its own `wait()`
 * loop, calling one callback per ready fd, for programs that prefer
 * callbacks to a `for await` loop (libuv's `uv_poll_t`, the npm `epoll`
 * package; `@iomux/core/epoll` is built on this class).
 *
 * - **Callbacks run on the event loop and never starve it.** They are called
 *   from the results of `wait()`, which delivers at most `FAIR_BURST` (64)
 *   results between two turns of the loop, so timers, I/O and signal
 *   handlers keep their turn even under an fd that is never drained.
 *   Level-triggered is the default, as in `poll(2)`: an fd that stays ready
 *   is reported again on every pass until it is drained, disarmed (`ONESHOT`)
 *   or removed.
 * - **Never synchronously.** `add()` returns before any callback runs.
 * - **Stale events are dropped.** A callback may remove or modify other fds:
 *   an fd removed earlier in the same pass is not reported, and a modified
 *   one only with the bits its new interest mask (plus ERR/HUP/NVAL) allows.
 * - **Errors go to the callback.** An error of the wait itself is passed as
 *   `callback(err, -1, 0)`, and the loop goes on at the next turn of the event
 *   loop; nothing is thrown from the loop. A callback that throws is reported
 *   like any throwing callback in Node (`uncaughtException`); the loop goes on.
 *   Argument errors of `add()`, `modify()` and `remove()` throw at the call,
 *   as the {@link Selector} methods do.
 * - **Keeps the process alive only while it has fds and is open**, like a
 *   libuv handle that is active: removing the last fd or `close()` lets the
 *   process exit. While it has fds the loop and its selector are reachable
 *   from the pending wait, so an unreferenced watcher is not garbage-collected
 *   while it still watches something.
 * - Works in Worker threads; `close()` (or the Worker's exit) releases it.
 * - Remove an fd before you close it: epoll forgets a closed fd silently and
 *   the watcher would keep the process alive for it; poll and select report
 *   `NVAL` for it on every pass.
 *
 * @example
 * ```ts
 * import { Events, Watcher } from '@iomux/core';
 * const watcher = new Watcher((err, fd, events) => {
 *   if (err) throw err;
 *   console.log(`fd ${fd}: ${formatEvents(events)}`);
 * });
 * watcher.add(fd, Events.IN);
 * // …
 * watcher.close();
 * ```
 */
export class Watcher {
  readonly #selector: Selector<undefined> & BaseSelector<undefined>;
  readonly #keys: ReadonlyMap<number, SelectorKey<undefined>>;
  readonly #callback: WatchCallback;
  #running = false;

  /**
   * @param callback - called once per ready fd (see {@link WatchCallback})
   * @param options - the backend (default: the best available)
   * @throws `ERR_INVALID_ARG_TYPE` if `callback` is not a function; as
   *   {@link createSelector} for a bad backend
   */
  constructor(callback: WatchCallback, options?: WatcherOptions) {
    if (typeof callback !== 'function') throw invalidType('callback', 'of type function', callback);
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw invalidType('options', 'of type object', options);
    }
    this.#callback = callback;
    this.#selector = createSelector<undefined>(options?.backend ?? 'default');
    this.#keys = this.#selector.getMap();
  }

  /** The mechanism this watcher uses. */
  get backend(): BackendName {
    return this.#selector.backend;
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#selector.closed;
  }

  /** How many fds are watched (0 once closed). */
  get size(): number {
    return this.closed ? 0 : this.#keys.size;
  }

  /**
   * Starts watching `fileobj` for `events` (as {@link Selector.register}).
   * @returns this watcher, so calls chain
   * @throws `ERR_SELECTOR_CLOSED` after `close()`; otherwise as `register()`
   *   (`ERR_ALREADY_REGISTERED`, argument errors, a {@link SystemError})
   */
  add(fileobj: FileLike, events: number): this {
    this.#checkOpen('add');
    this.#selector.register(fileobj, events);
    if (!this.#running) {
      this.#running = true;
      void this.#run();
    }
    return this;
  }

  /**
   * Changes the interest mask of a watched fd (as {@link Selector.modify});
   * also how a fired `ONESHOT` fd is re-armed.
   * @returns this watcher, so calls chain
   * @throws `ERR_SELECTOR_CLOSED` after `close()`; `ERR_NOT_REGISTERED`;
   *   argument errors; a {@link SystemError}
   */
  modify(fileobj: FileLike, events: number): this {
    this.#checkOpen('modify');
    this.#selector.modify(fileobj, events);
    return this;
  }

  /**
   * Stops watching `fileobj`; works after the fd was closed. Removing the
   * last fd lets the process exit if nothing else keeps it alive.
   * @returns this watcher, so calls chain
   * @throws `ERR_SELECTOR_CLOSED` after `close()`; `ERR_NOT_REGISTERED`
   */
  remove(fileobj: FileLike): this {
    this.#checkOpen('remove');
    this.#selector.unregister(fileobj);
    // The pending wait holds the process; end it so the loop can stop.
    if (this.#keys.size === 0 && this.#running) this.#selector.waker().wake();
    return this;
  }

  /**
   * Stops watching every fd (they stay open) and releases the selector. No
   * callback runs after `close()`. Idempotent.
   */
  close(): void {
    this.#selector.close();
  }

  /** Same as {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  // -- internals ---------------------------------------------------------

  #checkOpen(method: string): void {
    if (this.closed) {
      throw codedError(Error, 'ERR_SELECTOR_CLOSED', `The watcher is closed: ${method}() cannot be called after close()`);
    }
  }

  async #run(): Promise<void> {
    const sel = this.#selector;
    try {
      // Start after the caller's synchronous code: fds added together in one
      // go are all in the first wait, and no callback runs inside add().
      await Promise.resolve();
      while (!sel.closed && this.#keys.size > 0) {
        let ready: Ready<undefined>[];
        try {
          ready = await sel.wait();
        } catch (err) {
          if (sel.closed) break;
          this.#call(err instanceof Error ? err : new Error(String(err)), -1, 0);
          // A failing wait would fail again at once: try again next turn.
          await new Promise<void>((resolve) => setImmediate(resolve));
          continue;
        }
        this.#dispatch(ready);
      }
    } finally {
      this.#running = false;
    }
  }

  #dispatch(ready: Ready<undefined>[]): void {
    const sel = this.#selector;
    for (const [key, events] of ready) {
      if (sel.closed) return;
      // A callback earlier in this pass may have removed or changed this fd.
      const now = this.#keys.get(key.fd);
      if (now === undefined) continue;
      const mask = (events & ((now.events & ~(Events.ONESHOT | Events.EDGE | Events.EXCLUSIVE)) | ALWAYS)) >>> 0;
      if (mask === 0) continue;
      this.#call(null, key.fd, mask);
    }
  }

  #call(err: Error | null, fd: number, events: number): void {
    try {
      this.#callback(err, fd, events);
    } catch (thrown) {
      // As for any callback Node calls: the process's uncaughtException.
      process.nextTick(() => {
        throw thrown;
      });
    }
  }
}
