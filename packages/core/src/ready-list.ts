import { codedError } from './errors.ts';
import type { Ready, SelectorKey } from './types.ts';

/** @internal Refills a list from the selector's (fd, events) result buffer. */
export let fillReadyList: <T>(list: ReadyList<T>, n: number, pairs: Int32Array, keys: Map<number, SelectorKey<T>>) => number;

const outOfRange = (i: unknown, length: number) =>
  codedError(RangeError, 'ERR_OUT_OF_RANGE', `The value of "index" is out of range. It must be >= 0 and < ${length}. Received ${String(i)}`);

/**
 * A reusable result of {@link BaseSelector.selectInto}: the ready fds of the
 * last call, read by index. Refilling it allocates nothing once its storage
 * has grown to the largest result seen, so a loop of `selectInto()` calls
 * creates no garbage (unlike `select()`, which returns a new array of new
 * tuples each time).
 *
 * The entries are those of the last `selectInto()` call on this list; the
 * next call replaces them. A list may be filled by any selector with the
 * same key data type.
 *
 * @example
 * ```ts
 * const ready = new ReadyList<Conn>();
 * for (;;) {
 *   const n = sel.selectInto(ready, null);
 *   for (let i = 0; i < n; i++) handle(ready.key(i).data, ready.events(i));
 * }
 * ```
 */
export class ReadyList<T = unknown> {
  #keys: SelectorKey<T>[] = [];
  #events: number[] = [];
  #length = 0;

  static {
    fillReadyList = <U>(list: ReadyList<U>, n: number, pairs: Int32Array, keys: Map<number, SelectorKey<U>>): number => {
      const ks = list.#keys;
      const evs = list.#events;
      let m = 0;
      for (let i = 0; i < n; i++) {
        const key = keys.get(pairs[2 * i]!);
        if (key === undefined) continue;
        // Growing by one at the end keeps the arrays packed; refills overwrite in place.
        if (m === ks.length) {
          ks.push(key);
          evs.push(pairs[2 * i + 1]! >>> 0);
        } else {
          ks[m] = key;
          evs[m] = pairs[2 * i + 1]! >>> 0;
        }
        m++;
      }
      list.#length = m;
      return m;
    };
  }

  /** How many fds the last `selectInto()` reported (0 before the first call). */
  get length(): number {
    return this.#length;
  }

  /**
   * The key of entry `i` (as it was when the call returned).
   * @throws `ERR_OUT_OF_RANGE` unless `0 <= i < length`
   */
  key(i: number): SelectorKey<T> {
    if (!(i >= 0 && i < this.#length)) throw outOfRange(i, this.#length);
    return this.#keys[i | 0]!;
  }

  /**
   * The ready events of entry `i`: a non-negative mask, as `select()` reports it.
   * @throws `ERR_OUT_OF_RANGE` unless `0 <= i < length`
   */
  events(i: number): number {
    if (!(i >= 0 && i < this.#length)) throw outOfRange(i, this.#length);
    return this.#events[i | 0]!;
  }

  /**
   * The fd of entry `i` (`key(i).fd`).
   * @throws `ERR_OUT_OF_RANGE` unless `0 <= i < length`
   */
  fd(i: number): number {
    return this.key(i).fd;
  }

  /** The entries as `select()` would have returned them (allocates). */
  toArray(): Ready<T>[] {
    const out: Ready<T>[] = [];
    for (let i = 0; i < this.#length; i++) out.push([this.#keys[i]!, this.#events[i]!]);
    return out;
  }

  /** Iterates the entries as `[key, events]` tuples (allocates one per entry). */
  *[Symbol.iterator](): IterableIterator<Ready<T>> {
    for (let i = 0; i < this.#length; i++) yield [this.#keys[i]!, this.#events[i]!];
  }
}
