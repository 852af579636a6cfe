import { invalidType } from './errors.ts';
import { native } from './native.ts';

/**
 * Ends a selector's `select()` or `wait()` early, from any thread of the
 * process: Java's `Selector.wakeup()`, mio's `Waker`. Get one with
 * `selector.waker()`, hand it (or its `id`) to another thread with
 * `postMessage()`, and call `wake()` there.
 *
 * - A blocked `select()` returns; a pending `wait()` resolves. Both give the
 *   fds that are ready at that moment, which may be none (`[]`).
 * - A `wake()` while the selector is not waiting makes its next `select()`
 *   or `wait()` return at once. Wake-ups coalesce: several of them before
 *   the selector looks end one wait, not several.
 * - After the selector is closed (or garbage-collected, or its Worker
 *   exited), `wake()` does nothing and returns `false`. The id is never
 *   reused, so a late `wake()` can never write into an unrelated fd that
 *   took over the number of the selector's eventfd.
 *
 * @example
 * ```ts
 * // in a Worker
 * const sel = new EpollSelector();
 * parentPort.postMessage(sel.waker());       // a structured clone: { id }
 * sel.select(null);                          // returns when the main thread wakes it
 * // on the main thread
 * worker.on('message', (w) => Waker.from(w).wake());
 * ```
 */
export class Waker {
  /** The process-wide id of the selector's waker; never reused. */
  readonly id: bigint;

  /** @internal Use `selector.waker()` or {@link Waker.from}. */
  constructor(id: bigint) {
    if (typeof id !== 'bigint') throw invalidType('id', 'of type bigint', id);
    this.id = id;
  }

  /**
   * A Waker for what another thread posted: a {@link Waker} (which arrives
   * as a plain `{ id }` object) or its `id`.
   * @throws `ERR_INVALID_ARG_TYPE` for anything else
   */
  static from(handle: Waker | { readonly id: bigint } | bigint): Waker {
    if (typeof handle === 'bigint') return new Waker(handle);
    if (typeof handle === 'object' && handle !== null && typeof (handle as { id?: unknown }).id === 'bigint') {
      return new Waker((handle as { id: bigint }).id);
    }
    throw invalidType('handle', 'a Waker, an object with a bigint id, or a bigint', handle);
  }

  /**
   * Wakes the selector. Safe from any thread, at any time.
   * @returns `true` if the selector was open; `false` (and nothing written)
   *   once it was closed
   */
  wake(): boolean {
    return native.wake(this.id);
  }
}
