import { abortError, codedError, invalidType, invalidValue, SystemError } from './errors.ts';
import { capabilities, type BackendCapabilities } from './capabilities.ts';
import { Events, KNOWN_BITS, formatEvents } from './events.ts';
import { native, type NativeSelector } from './native.ts';
import { BACKEND_NAMES, availableBackends, unavailableReason, type BackendName } from './registry.ts';
import { Batch, type BatchOptions } from './batch.ts';
import { ReadyList, fillReadyList } from './ready-list.ts';
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- only {@link}ed in doc comments; typedoc resolves the links through it
import type { Socket } from './socket.ts';
import { Waker } from './waker.ts';
import { fdOrGone, type FileLike } from './fileobj.ts';
import type { Ready, SelectorKey, WaitOptions } from './types.ts';

export type { FileLike } from './fileobj.ts';

export type { BackendName } from './registry.ts';

export type { SelectorKey, Ready, WaitOptions } from './types.ts';

/** The contract every selector fulfils, whatever its backend. */
export interface Selector<T = unknown> {
  /** Which mechanism this selector uses. */
  readonly backend: BackendName;
  /** True once `close()` was called. */
  readonly closed: boolean;
  /** Starts watching `fileobj` for `events`; throws if it is already registered. */
  register(fileobj: FileLike, events: number, data?: T): SelectorKey<T>;
  /** Stops watching `fileobj` and returns its key; works after the fd was closed. */
  unregister(fileobj: FileLike): SelectorKey<T>;
  /** Changes the interest mask and data (omitted data becomes `undefined`, as in CPython). */
  modify(fileobj: FileLike, events: number, data?: T): SelectorKey<T>;
  /** Waits for readiness, blocking the calling thread. */
  select(timeoutMs?: number | null): Ready<T>[];
  /** Like `select()`, but refills a reusable {@link ReadyList} (no allocation per call); returns its length. */
  selectInto(list: ReadyList<T>, timeoutMs?: number | null): number;
  /** This selector's {@link Batch}: one native call per loop pass (docs/batch.md). */
  batch(options?: BatchOptions): Batch<T>;
  /** Waits for readiness without blocking the event loop. */
  wait(options?: WaitOptions): Promise<Ready<T>[]>;
  /** The key of a registered `fileobj`. */
  getKey(fileobj: FileLike): SelectorKey<T>;
  /** A live, read-only view: fd → key. */
  getMap(): ReadonlyMap<number, SelectorKey<T>>;
  /** The cross-thread {@link Waker} that ends this selector's waits early. */
  waker(): Waker;
  /** Releases the kernel object; idempotent. Registered fds stay open. */
  close(): void;
  /** Same as `close()`, for `using`. */
  [Symbol.dispose](): void;
}

const closedError = () => codedError(Error, 'ERR_SELECTOR_CLOSED', 'The selector is closed');

/** A live read-only view of a selector's fd → key map. */
class KeyMapView<T> implements ReadonlyMap<number, SelectorKey<T>> {
  readonly #map: Map<number, SelectorKey<T>>;
  readonly #check: () => void;
  constructor(map: Map<number, SelectorKey<T>>, check: () => void) {
    this.#map = map;
    this.#check = check;
  }
  get size(): number {
    this.#check();
    return this.#map.size;
  }
  get(fd: number): SelectorKey<T> | undefined {
    this.#check();
    return this.#map.get(fd);
  }
  has(fd: number): boolean {
    this.#check();
    return this.#map.has(fd);
  }
  forEach(cb: (key: SelectorKey<T>, fd: number, map: ReadonlyMap<number, SelectorKey<T>>) => void, thisArg?: unknown): void {
    this.#check();
    for (const [fd, key] of this.#map) cb.call(thisArg, key, fd, this);
  }
  entries(): MapIterator<[number, SelectorKey<T>]> {
    this.#check();
    return this.#map.entries();
  }
  keys(): MapIterator<number> {
    this.#check();
    return this.#map.keys();
  }
  values(): MapIterator<SelectorKey<T>> {
    this.#check();
    return this.#map.values();
  }
  [Symbol.iterator](): MapIterator<[number, SelectorKey<T>]> {
    return this.entries();
  }
}

interface PendingWait<T> {
  resolve(ready: Ready<T>[]): void;
  reject(err: unknown): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * The machinery shared by every backend: the fd → key map, argument checks,
 * errors, the result buffer and `wait()`. Subclasses only name a backend.
 */
export abstract class BaseSelector<T = unknown> implements Selector<T>, AsyncIterable<Ready<T>[]> {
  /** Which mechanism this selector uses. */
  readonly backend: BackendName;
  /** What this selector's backend can do (the same record as {@link capabilities}). */
  readonly capabilities: BackendCapabilities;
  readonly #native: NativeSelector;
  readonly #keys = new Map<number, SelectorKey<T>>();
  readonly #view: KeyMapView<T>;
  // (fd, events) pairs written by the addon; always room for every key.
  #buffer = new Int32Array(2 * 16);
  #closed = false;
  #pending: PendingWait<T> | null = null;
  #batch: Batch<T> | null = null;
  #keysChanging: ((removing: boolean) => void) | null = null; // the batch's hook
  #waker: Waker | null = null;
  #woken = false; // the last collected batch held the waker's pair
  #burst = 0; // wait() results delivered without a turn of the event loop
  readonly #loopTurned = (): void => {
    this.#burst = 0;
  };

  protected constructor(backend: BackendName) {
    this.backend = backend;
    this.capabilities = capabilities(backend);
    this.#native = new native.NativeSelector(backend);
    this.#native.setBuffer(this.#buffer);
    this.#view = new KeyMapView(this.#keys, () => this.#checkOpen());
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The kernel object's fd (epoll's own fd), or -1 for select and poll,
   * which keep no kernel object, and after `close()`.
   */
  fileno(): number {
    return this.#closed ? -1 : this.#native.kernelFd;
  }

  /**
   * Starts watching `fileobj`.
   * @param fileobj - an fd, an object with `fileno()`, or one with a numeric `fd`
   *   (`FileHandle`, `process.stdin`): a {@link FileLike}
   * @param events - interest bits from {@link Events}, optionally with `ONESHOT`/`EDGE`/`EXCLUSIVE`;
   *   none at all (0) watches only ERR/HUP/NVAL, which select can never report
   * @param data - anything; returned in the key
   * @throws `ERR_ALREADY_REGISTERED`, `ERR_FD_SETSIZE` (select), `ERR_UNSUPPORTED` (EDGE or
   *   EXCLUSIVE on select/poll; RDHUP without IN on select), `ERR_INVALID_ARG_VALUE` (EXCLUSIVE
   *   with ONESHOT, PRI or RDHUP, which the kernel refuses), other argument errors, or a
   *   {@link SystemError} (`EBADF` for a closed fd; `EPERM` on epoll for a regular file or
   *   `/dev/null`, whose message names the cause and the fix). A failed register leaves no
   *   key behind.
   */
  register(fileobj: FileLike, events: number, data?: T): SelectorKey<T> {
    this.#checkOpen();
    const fd = this.#fdOf(fileobj, false);
    const mask = this.#checkEvents(events);
    if (this.#keys.has(fd)) {
      throw codedError(Error, 'ERR_ALREADY_REGISTERED', `fd ${fd} is already registered`);
    }
    if (fd > this.capabilities.maxFd) {
      throw codedError(
        RangeError,
        'ERR_FD_SETSIZE',
        `fd ${fd} is out of range for ${this.backend}() (FD_SETSIZE is ${this.capabilities.maxFd + 1})`,
      );
    }
    const key: SelectorKey<T> = Object.freeze({ fileobj, fd, events: mask, data: data as T });
    // Bookkeeping first, system call second, roll back on failure.
    this.#keysChanging?.(false);
    this.#keys.set(fd, key);
    try {
      this.#native.add(fd, mask);
    } catch (err) {
      this.#keys.delete(fd);
      throw err;
    }
    // Room for every key, plus the waker's pair.
    if (2 * (this.#keys.size + 1) > this.#buffer.length) {
      this.#buffer = new Int32Array(4 * this.#keys.size);
      this.#native.setBuffer(this.#buffer);
    }
    return key;
  }

  /**
   * Stops watching `fileobj` and returns its key. Works after the fd was
   * closed (a closed {@link Socket}, `FileHandle` or stream is found by identity).
   * @throws `ERR_NOT_REGISTERED`
   */
  unregister(fileobj: FileLike): SelectorKey<T> {
    this.#checkOpen();
    const key = this.#keyOf(fileobj);
    this.#keysChanging?.(true);
    this.#keys.delete(key.fd);
    this.#native.remove(key.fd);
    return key;
  }

  /**
   * Changes the interest mask and the data. Omitted `data` becomes
   * `undefined`, as in CPython. With the same mask only the data changes and
   * no system call is made, except for a mask with `ONESHOT`, where
   * `modify()` is also how a fired fd is re-armed.
   *
   * `EXCLUSIVE` registrations (epoll): the kernel refuses to change them in
   * place, so `modify()` re-registers (`EPOLL_CTL_DEL`, then `EPOLL_CTL_ADD`
   * with the new mask). The new mask keeps `EXCLUSIVE` only if it carries
   * it; adding `EXCLUSIVE` to a plain registration is refused
   * (`ERR_INVALID_ARG_VALUE`: it is set at `register()`). If the kernel
   * refuses the new registration, the old one is put back and `modify()`
   * throws: the key and the kernel are as before.
   * @throws `ERR_NOT_REGISTERED`, argument errors, or a {@link SystemError}
   */
  modify(fileobj: FileLike, events: number, data?: T): SelectorKey<T> {
    this.#checkOpen();
    const old = this.#keyOf(fileobj);
    const mask = this.#checkEvents(events);
    if ((mask & ~old.events & Events.EXCLUSIVE) !== 0) {
      throw invalidValue('events', 'may carry EXCLUSIVE only if the registration has it: EXCLUSIVE is set at register()', events);
    }
    if (mask !== old.events || (mask & Events.ONESHOT) !== 0) this.#native.modify(old.fd, mask);
    const key: SelectorKey<T> = Object.freeze({ fileobj: old.fileobj, fd: old.fd, events: mask, data: data as T });
    this.#keysChanging?.(false);
    this.#keys.set(key.fd, key);
    return key;
  }

  /**
   * Waits until a registered fd is ready or the timeout passes, blocking the
   * calling thread (timers and I/O of this thread's event loop wait too; use
   * {@link wait} inside a Node program that must stay responsive).
   * @param timeoutMs - `null`/`undefined`: forever; `0` or negative: poll without
   *   blocking; fractions round up, so the wait never ends early
   * @returns ready fds, each at most once; `[]` on timeout
   */
  select(timeoutMs?: number | null): Ready<T>[] {
    this.#checkOpen();
    return this.#collect(this.#native.select(toNativeTimeout(timeoutMs)));
  }

  /**
   * Like {@link select}, but refills `list` instead of returning new arrays:
   * no allocation per call or per fd once the list has grown to the largest
   * result. Same wait, same results, same errors as `select()`.
   * @returns how many fds are ready (`list.length`); 0 on timeout
   * @throws as `select()`, and `ERR_INVALID_ARG_TYPE` if `list` is not a {@link ReadyList}
   */
  selectInto(list: ReadyList<T>, timeoutMs?: number | null): number {
    this.#checkOpen();
    if (!(list instanceof ReadyList)) throw invalidType('list', 'an instance of ReadyList', list);
    return fillReadyList(list, this.#native.select(toNativeTimeout(timeoutMs)), this.#buffer, this.#keys);
  }

  /**
   * This selector's {@link Batch}: one native call per loop pass (queued
   * sends, the wait, one recv per ready fd that asked for it). Created by the
   * first call, with `options`; later calls return the same object.
   * @throws `ERR_SELECTOR_CLOSED`; `ERR_INVALID_STATE` if `options` are given once it exists
   */
  batch(options?: BatchOptions): Batch<T> {
    this.#checkOpen();
    if (this.#batch !== null) {
      if (options !== undefined) throw codedError(Error, 'ERR_INVALID_STATE', 'This selector already has a batch; its options were set when it was created');
      return this.#batch;
    }
    this.#batch = new Batch<T>(
      {
        native: this.#native,
        keys: this.#keys,
        keyOf: (fileobj) => this.#keyOf(fileobj),
        target: (fileobj) => {
          const found = this.#fdOf(fileobj, true);
          return typeof found === 'number' ? (this.#keys.get(found) ?? found) : found;
        },
        checkOpen: () => this.#checkOpen(),
        timeout: toNativeTimeout,
        watchKeys: (hook) => {
          this.#keysChanging = hook;
        },
      },
      options,
    );
    return this.#batch;
  }

  /**
   * Like {@link select} but never blocks the event loop: a dedicated thread
   * blocks in the mechanism's own call and hands over what it saw, so nothing
   * is asked of the kernel twice and no event is lost. Registrations changed
   * while it is pending take effect in it; `close()` resolves it with `[]`;
   * an aborted `signal` rejects it with an `AbortError` (what its thread had
   * already harvested is delivered by the next `wait()`). Only one wait may
   * be pending per selector (`ERR_WAIT_PENDING`). A wait whose thread
   * cannot be made (a cgroup's `pids.max`, `RLIMIT_NPROC`) rejects with a
   * {@link SystemError} `EAGAIN` (`syscall: 'pthread_create'`); the selector
   * stays usable and the next `wait()` tries again.
   *
   * Fair: fds ready at call time resolve the promise at once, but at most
   * {@link FAIR_BURST} (64) times between two turns of the event loop; then
   * the wait goes through the loop like any I/O, so timers, immediates and
   * signal handlers run even while an fd is never drained.
   */
  wait(options?: WaitOptions): Promise<Ready<T>[]> {
    let timeout: number;
    let signal: AbortSignal | undefined;
    try {
      if (options !== undefined && (options === null || typeof options !== 'object')) {
        throw invalidType('options', 'of type object', options);
      }
      timeout = toNativeTimeout(options?.timeoutMs);
      signal = options?.signal;
      if (signal !== undefined && !(signal instanceof AbortSignal)) {
        throw invalidType('options.signal', 'an instance of AbortSignal', signal);
      }
      this.#checkOpen();
      if (this.#pending) throw codedError(Error, 'ERR_WAIT_PENDING', 'A wait() is already pending on this selector');
      if (signal?.aborted) throw abortError(signal);
      // Fds ready at call time resolve at once (a microtask), but only
      // FAIR_BURST times between two turns of the event loop; then the wait
      // waits for the loop's next check phase (after every immediate queued
      // so far, and after timers and I/O if the loop is past them), so
      // timers, immediates and signal handlers keep their turn under a
      // never-drained fd.
      if (this.#burst < FAIR_BURST) {
        const ready = this.select(0);
        if (ready.length > 0 || timeout === 0 || this.#woken) {
          if (this.#burst++ === 0) setImmediate(this.#loopTurned).unref();
          return Promise.resolve(ready);
        }
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const yieldFirst = this.#burst >= FAIR_BURST;
    return new Promise<Ready<T>[]>((resolve, reject) => {
      const pending: PendingWait<T> = { resolve, reject, signal, onAbort: undefined };
      this.#pending = pending;
      if (signal) {
        pending.onAbort = () => this.#finish(pending, abortError(signal));
        signal.addEventListener('abort', pending.onAbort, { once: true });
      }
      if (yieldFirst) setImmediate(() => this.#afterTurn(pending, timeout));
      else this.#arm(pending, timeout);
    });
  }

  // The loop has turned since a burst used up its FAIR_BURST results: what
  // is ready now resolves the wait, else it waits natively.
  #afterTurn(pending: PendingWait<T>, timeout: number): void {
    if (this.#pending !== pending) return; // closed or aborted meanwhile
    this.#burst = 0;
    let ready: Ready<T>[];
    try {
      ready = this.select(0);
    } catch (err) {
      this.#finish(pending, err);
      return;
    }
    if (ready.length > 0 || timeout === 0 || this.#woken) {
      this.#burst = 1;
      this.#finish(pending, null, ready);
    } else {
      this.#arm(pending, timeout);
    }
  }

  #arm(pending: PendingWait<T>, timeout: number): void {
    // The deadline lives in the addon, next to the wait itself.
    try {
      this.#native.arm(this.#onReady, timeout);
    } catch (err) {
      this.#finish(pending, err);
    }
  }

  /**
   * Successive {@link wait} results, until the selector is closed.
   * @example
   * ```ts
   * for await (const ready of sel) for (const [key, events] of ready) …
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncIterator<Ready<T>[]> {
    while (!this.#closed) {
      const ready = await this.wait();
      if (this.#closed) return;
      yield ready;
    }
  }

  /**
   * The key registered for `fileobj`.
   * @throws `ERR_NOT_REGISTERED`
   */
  getKey(fileobj: FileLike): SelectorKey<T> {
    this.#checkOpen();
    return this.#keyOf(fileobj);
  }

  /** A live, read-only view of the registrations: fd → key. */
  getMap(): ReadonlyMap<number, SelectorKey<T>> {
    this.#checkOpen();
    return this.#view;
  }

  /**
   * Releases the kernel object (the epoll fd), any wait thread and the
   * {@link waker}'s eventfd (its `wake()` returns `false` from then on).
   * Registered fds are not closed. A pending {@link wait} resolves with `[]`.
   * Idempotent. A selector in a Worker that exits unclosed is released the
   * same way.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const pending = this.#pending;
    if (pending) this.#finish(pending, null, []);
    this.#native.close();
    this.#keysChanging?.(true);
    this.#keys.clear();
  }

  /**
   * This selector's cross-thread {@link Waker} (made on the first call, the
   * same one after). Post it to another thread; its `wake()` there makes a
   * blocked `select()` return, or a pending `wait()` resolve, with the fds
   * ready at that moment (possibly `[]`). Costs one eventfd, which
   * `close()` releases; on select it must be numbered below `FD_SETSIZE`.
   * @throws `ERR_SELECTOR_CLOSED`; `ERR_FD_SETSIZE` (select) if no fd below
   *   `FD_SETSIZE` is free; a {@link SystemError} if `eventfd(2)` fails
   */
  waker(): Waker {
    this.#checkOpen();
    if (this.#waker === null) this.#waker = new Waker(this.#native.waker());
    return this.#waker;
  }

  /** Same as {@link close}, so TypeScript users can write `using sel = new EpollSelector()`. */
  [Symbol.dispose](): void {
    this.close();
  }

  // -- internals ---------------------------------------------------------

  readonly #onReady = (errno: number, timedOut: boolean, count: number): void => {
    const pending = this.#pending;
    if (!pending) return; // a late notification after the wait settled
    // Called from the event loop, which has turned since the last burst;
    // this result opens the next one.
    this.#burst = 1;
    if (errno !== 0) {
      this.#finish(pending, new SystemError(-errno, this.capabilities.syscalls.wait));
      return;
    }
    let ready: Ready<T>[];
    try {
      // The wait thread hands over what its one kernel call saw; asking the
      // kernel again here would lose a report-once file's event.
      ready = count >= 0 ? this.#collect(count) : this.select(0);
    } catch (err) {
      this.#finish(pending, err);
      return;
    }
    if (ready.length > 0 || timedOut || this.#woken) {
      this.#finish(pending, null, ready);
    } else {
      // Nothing left to report: every fd seen was unregistered (or, when
      // collected here, drained or disarmed) meanwhile. Keep waiting,
      // towards the same deadline.
      try {
        this.#native.rearm(this.#onReady);
      } catch (err) {
        this.#finish(pending, err);
      }
    }
  };

  #finish(pending: PendingWait<T>, err: unknown, ready: Ready<T>[] = []): void {
    if (this.#pending !== pending) return;
    this.#pending = null;
    if (pending.onAbort) pending.signal?.removeEventListener('abort', pending.onAbort);
    if (!this.#closed) this.#native.disarm();
    if (err !== null) pending.reject(err);
    else pending.resolve(ready);
  }

  #collect(n: number): Ready<T>[] {
    const out: Ready<T>[] = [];
    const buf = this.#buffer;
    this.#woken = false;
    for (let i = 0; i < n; i++) {
      const fd = buf[2 * i]!;
      const key = this.#keys.get(fd);
      if (key !== undefined) out.push([key, buf[2 * i + 1]! >>> 0]);
      else if (fd === WAKER_FD) this.#woken = true;
    }
    return out;
  }

  #checkOpen(): void {
    if (this.#closed) throw closedError();
  }

  #checkEvents(events: unknown): number {
    if (typeof events !== 'number') throw invalidType('events', 'of type number', events);
    if (!Number.isInteger(events) || events < -0x80000000 || events > 0xffffffff) {
      throw invalidValue('events', 'must be a 32-bit integer mask', events);
    }
    const mask = events >>> 0;
    if ((mask & ~KNOWN_BITS) !== 0) {
      throw invalidValue('events', `has unknown bits (${formatEvents(mask & ~KNOWN_BITS)})`, events);
    }
    // No interest bit at all (0, or only ERR/HUP/NVAL) is allowed, as in poll(2)
    // and epoll(7): the fd is then watched only for what is always reported.
    const caps = this.capabilities;
    if ((mask & Events.EDGE) !== 0 && !caps.edge) {
      throw codedError(Error, 'ERR_UNSUPPORTED', `EDGE (edge-triggered) is not supported by the ${this.backend} backend`);
    }
    if ((mask & Events.EXCLUSIVE) !== 0) checkExclusive(caps, mask, events);
    // select's read set wakes for data as well as for a shutdown, so it cannot
    // wait for RDHUP alone: it would return at once, with nothing to report,
    // for as long as unread data sits on the socket.
    if (caps.rdhupNeedsIn && (mask & Events.RDHUP) !== 0 && (mask & Events.IN) === 0) {
      throw codedError(Error, 'ERR_UNSUPPORTED', `The ${this.backend} backend can watch RDHUP only together with IN`);
    }
    return mask;
  }

  #fdOf(fileobj: unknown, lookup: true): number | SelectorKey<T>;
  #fdOf(fileobj: unknown, lookup: false): number;
  #fdOf(fileobj: unknown, lookup: boolean): number | SelectorKey<T> {
    const fd = fdOrGone(fileobj);
    if (typeof fd === 'number') return fd;
    // An object whose fd is gone (a closed Socket or FileHandle answers -1, a
    // closed ReadStream null): find it by identity among the keys.
    if (lookup) for (const key of this.#keys.values()) if (key.fileobj === fileobj) return key;
    throw fd;
  }

  #keyOf(fileobj: FileLike): SelectorKey<T> {
    const found = this.#fdOf(fileobj, true);
    if (typeof found !== 'number') return found;
    const key = this.#keys.get(found);
    if (key === undefined) throw codedError(Error, 'ERR_NOT_REGISTERED', `fd ${found} is not registered`);
    return key;
  }
}

// EPOLLEXCLUSIVE: the kernel accepts it only at EPOLL_CTL_ADD and only with
// IN, OUT and EDGE (EINVAL otherwise); refusing the other combinations here
// names the reason, which a bare EINVAL from epoll_ctl would not.
function checkExclusive(caps: BackendCapabilities, mask: number, events: number): void {
  if (!caps.exclusive) {
    throw codedError(Error, 'ERR_UNSUPPORTED', `EXCLUSIVE is not supported by the ${caps.backend} backend (epoll only)`);
  }
  const refused = mask & (Events.ONESHOT | Events.PRI | Events.RDHUP);
  if (refused !== 0) {
    throw invalidValue('events', `cannot combine EXCLUSIVE with ${formatEvents(refused)} (the kernel allows IN, OUT and EDGE only)`, events);
  }
}

// The fd the addon reports for the waker's eventfd (never a real fd).
const WAKER_FD = -1;

/**
 * The most `wait()` results delivered between two turns of the event loop
 * while fds are ready at call time (README: "wait() and the event loop").
 */
export const FAIR_BURST = 64;

/**
 * Milliseconds as the addon takes them: -1 forever, 0 no wait, else ms. Only
 * validated here; the addon converts them to a deadline and rounds them up,
 * once, to the mechanism's resolution.
 */
function toNativeTimeout(timeoutMs: unknown): number {
  if (timeoutMs === undefined || timeoutMs === null) return -1;
  if (typeof timeoutMs !== 'number') throw invalidType('timeoutMs', 'of type number', timeoutMs);
  if (Number.isNaN(timeoutMs)) throw invalidValue('timeoutMs', 'must not be NaN', timeoutMs);
  if (timeoutMs === Infinity) return -1;
  return timeoutMs > 0 ? timeoutMs : 0;
}

/**
 * `select(2)`: three fd bitmaps copied and scanned on every call: cost grows
 * with the highest fd. Refuses fds ≥ {@link FD_SETSIZE} at `register()`.
 * Cannot tell HUP or ERR from readiness; RDHUP is emulated and needs IN.
 * `wait()` uses a dedicated thread.
 */
export class SelectSelector<T = unknown> extends BaseSelector<T> {
  constructor() {
    super('select');
  }
}

/**
 * `poll(2)`: one `pollfd` array passed on every call: cost grows with the
 * number of registered fds; no fd limit. `wait()` uses a dedicated thread.
 */
export class PollSelector<T = unknown> extends BaseSelector<T> {
  constructor() {
    super('poll');
  }
}

/**
 * `epoll(7)`: the interest list lives in the kernel; a wait costs O(ready
 * fds). Supports `EDGE`. Refuses regular files (`EPERM`). `wait()` hands the
 * epoll fd to libuv and needs no thread.
 */
export class EpollSelector<T = unknown> extends BaseSelector<T> {
  constructor() {
    super('epoll');
  }
}

/**
 * `io_uring(7)` used for readiness: one poll request per registered fd in a
 * ring of the selector's own. `register()` and `modify()` make no system
 * call (their requests go in with the next wait); level-triggered fds are
 * re-armed after each report; `EDGE`, `ONESHOT` and `EXCLUSIVE` as on epoll.
 * An fd closed while registered stays open until `unregister()` or
 * `close()` (`capabilities('io_uring').keepsClosedFdOpen`). `wait()` hands an
 * eventfd the ring signals to libuv and needs no thread. Available only
 * where the kernel allows io_uring (see {@link backends}); otherwise the
 * constructor throws `ERR_UNSUPPORTED` naming the reason.
 */
export class IoUringSelector<T = unknown> extends BaseSelector<T> {
  constructor() {
    super('io_uring');
  }
}

/** The best selector on this platform: {@link EpollSelector} on Linux. */
export const DefaultSelector: typeof EpollSelector = EpollSelector;
/** The type of {@link DefaultSelector} instances. */
export type DefaultSelector<T = unknown> = EpollSelector<T>;

const CLASSES: Record<BackendName, new <T>() => BaseSelector<T>> = {
  select: SelectSelector,
  poll: PollSelector,
  epoll: EpollSelector,
  io_uring: IoUringSelector,
};

/**
 * The backends this machine can run, in a fixed order (`['select', 'poll', 'epoll', 'io_uring']` on a
 * Linux whose kernel allows io_uring; without `'io_uring'` where a kernel too old, the sysctl
 * `kernel.io_uring_disabled` or a seccomp filter refuses it: {@link createSelector} names the reason).
 */
export function backends(): BackendName[] {
  return availableBackends();
}

/**
 * A selector for `backend` (default: the best available, epoll on Linux; never io_uring).
 * @throws `ERR_INVALID_ARG_VALUE` for an unknown name, `ERR_UNSUPPORTED` for one
 *   this machine cannot run (the message says why)
 */
export function createSelector<T = unknown>(backend: BackendName | 'default' = 'default'): Selector<T> & BaseSelector<T> {
  if (backend === 'default') return new DefaultSelector<T>();
  if (typeof backend !== 'string') throw invalidType('backend', 'of type string', backend);
  if (!Object.hasOwn(CLASSES, backend)) {
    throw invalidValue('backend', `must be one of ${BACKEND_NAMES.map((n) => `'${n}'`).join(', ')} or 'default'`, backend);
  }
  const reason = unavailableReason(backend);
  if (reason !== null) throw codedError(Error, 'ERR_UNSUPPORTED', `The ${backend} backend is not available: ${reason}`);
  return new CLASSES[backend]<T>();
}
