import { codedError, invalidType, invalidValue, SystemError } from './errors.ts';
import { fdOrGone } from './fileobj.ts';
import { native, type NativeSelector } from './native.ts';
import type { FileLike } from './fileobj.ts';
import type { SelectorKey } from './types.ts';
import { releasedSockets, Socket } from './socket.ts';

/**
 * Negative results of a {@link Batch} pass. A recv result (`bytes(i)`) or a
 * send result (`sent(t)`) that is `>= 0` is a byte count; anything else is
 * one of these.
 */
export const BatchResult = Object.freeze({
  /** recv: none was made (the fd has no `setRecv()`, or was not reported readable, HUP or ERR, or was NVAL). */
  NONE: -1,
  /** recv or send: it would block (EAGAIN). Nothing was lost: the bytes are still in the kernel, or still yours to resend. */
  AGAIN: -2,
  /** recv or send: it failed; `error(i)` / `sendError(t)` is the {@link SystemError}. */
  ERROR: -3,
  /** recv: the pass's recv region was used up by earlier fds; nothing was read for this one. */
  NO_ROOM: -4,
  /** send: not attempted, because an earlier send to the same fd in this flush fell short (order is kept). */
  SKIPPED: -5,
  /** send: not attempted, because the fd's registration went away (unregistered, its object closed or replaced) before the flush. */
  CANCELLED: -6,
} as const);

/** Sizes of a {@link Batch}'s memory. */
export interface BatchOptions {
  /** Bytes the recvs of one pass may fill in total (default 256 KiB). */
  recvBytes?: number;
  /** Initial bytes for data copied by `send()` between passes (default 64 KiB; grows as needed). */
  sendBytes?: number;
  /** Initial number of queued sends (default 64; grows as needed). */
  sendCapacity?: number;
}

/** @internal What a selector lends its batch. */
export interface BatchHost<T> {
  readonly native: NativeSelector;
  readonly keys: Map<number, SelectorKey<T>>;
  keyOf(fileobj: FileLike): SelectorKey<T>;
  /** The key of a registered fileobj, else its fd (argument errors as `register()`). */
  target(fileobj: FileLike): SelectorKey<T> | number;
  checkOpen(): void;
  timeout(timeoutMs: unknown): number;
  /**
   * Installs the batch's hook, which the selector calls just before it
   * changes its keys (`removing`: a registration goes away).
   */
  watchKeys(hook: (removing: boolean) => void): void;
}

// The memory's layout, declared once, in packages/native/src/batch.h, and
// read from the addon: ready records, then two halves of send records; then
// the io bytes: two recv windows, then two send halves. Pass k uses half
// k % 2 of each, so what pass k flushed and received stays intact while pass
// k+1 is handled. A ready record is fd, events, result, aux (offset or
// errno); a send record fd, offset, length, result, errno.
const {
  readyStride: READY_STRIDE,
  readyFd: R_FD,
  readyEvents: R_EVENTS,
  readyResult: R_RESULT,
  readyAux: R_AUX,
  sendStride: SEND_STRIDE,
  sendFd: S_FD,
  sendOffset: S_OFFSET,
  sendLength: S_LENGTH,
  sendResult: S_RESULT,
  sendErrno: S_ERRNO,
} = native.batchLayout;
// The public names of the results must mean what the pass writes.
for (const [name, value] of Object.entries(BatchResult)) {
  if (native.batchLayout.results[name as keyof typeof BatchResult] !== value) {
    throw new Error(`@iomux/native's batch result ${name} is not ${value}: rebuild the addon`);
  }
}
const MAX_IO = 0x7fffffff;
// Copies up to this many bytes with a loop: TypedArray.prototype.set costs
// more than the copy for the one-byte sends of a dispatch loop.
const SMALL_COPY = 32;
// A target whose fileno is this method reads a Socket's own number, which
// changes only on close or detach.
// eslint-disable-next-line @typescript-eslint/unbound-method -- compared by identity, never called
const socketFileno = Socket.prototype.fileno;

const outOfRange = (name: string, i: unknown, length: number) =>
  codedError(RangeError, 'ERR_OUT_OF_RANGE', `The value of "${name}" is out of range. It must be >= 0 and < ${length}. Received ${String(i)}`);

function size(name: string, v: unknown, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number') throw invalidType(name, 'of type number', v);
  if (!Number.isInteger(v) || v < min || v > MAX_IO) throw invalidValue(name, `must be an integer from ${min} to ${MAX_IO}`, v);
  return v;
}

/**
 * One native call per loop pass. `run()` flushes the sends queued since the
 * last pass (in order), waits like `select()`, then makes one `recv` for each
 * reported fd that asked for it (`setRecv()`), into slices of one reusable
 * buffer, and reports per fd the events and what the recv gave, and per
 * queued send the bytes taken. Nothing is allocated per pass or per fd once
 * warm. The full contract is docs/batch.md.
 *
 * Get one with {@link BaseSelector.batch}; it lives as long as its selector.
 */
export class Batch<T = unknown> {
  readonly #host: BatchHost<T>;
  readonly #recvBytes: number;
  #readyCap = 0;
  #sendCap = 0;
  #sendBytes = 0; // per half
  #words!: Int32Array;
  #buffer!: Buffer;
  #parity = 0; // the half the next run() flushes from and receives into
  // The last pass (half #parity ^ 1).
  #length = 0;
  // key(i) reads the selector's keys until they change; the first change
  // after a pass copies the entries' keys here first (#pinned).
  #keys: (SelectorKey<T> | undefined)[] = [];
  #pinned = false;
  #flushed = 0;
  // Queued for the next pass (half #parity).
  #queued = 0;
  // Where the next copied send data goes in buffer, and the end of this
  // half's send data.
  #sendAt = 0;
  #sendEnd = 0;
  // Per queued send, at 4 * ticket + 2 * half: the target object, then
  // whether it was registered when queued (one flat array: one store check
  // per send instead of two nested ones).
  #targets: (FileLike | boolean)[] = [];
  // Each queued send's target is checked when it is queued. The flush checks
  // them again only if something could have changed the answer since the
  // last flush: a registration went away, a Socket let go of its number, or
  // a send was queued to an object that is not a plain Socket (whose
  // fileno() or fd may change without telling anyone).
  #recheck = false;
  #released = releasedSockets();

  /** @internal Use {@link BaseSelector.batch}. */
  constructor(host: BatchHost<T>, options: BatchOptions = {}) {
    if (typeof options !== 'object' || options === null) throw invalidType('options', 'of type object', options);
    this.#host = host;
    host.watchKeys((removing) => this.#keysChanging(removing));
    this.#recvBytes = size('options.recvBytes', options.recvBytes, 256 * 1024, 1);
    const sendBytes = size('options.sendBytes', options.sendBytes, 64 * 1024, 0);
    const sendCap = size('options.sendCapacity', options.sendCapacity, 64, 1);
    this.#layout(Math.max(16, host.keys.size), sendCap, sendBytes);
    this.#sendAt = this.#sendStart(0);
    this.#sendEnd = this.#sendAt + sendBytes;
  }

  /**
   * The batch's bytes: the recv slices (`offset(i)`, `bytes(i)`) and the data
   * `send()` copied. A view of the batch's memory; it is replaced when the
   * memory grows (a `send()`, `sendRange()`, `resend()` or `run()` may grow
   * it), so read it again rather than keep it.
   */
  get buffer(): Buffer {
    return this.#buffer;
  }

  /** Bytes the recvs of one pass may fill in total (`options.recvBytes`). */
  get recvBytes(): number {
    return this.#recvBytes;
  }

  /**
   * Recv up to `maxBytes` from `fileobj` on every pass that reports it
   * readable, HUP or ERR; `0` stops. Kept across `modify()`; forgotten by
   * `unregister()`.
   * @throws `ERR_NOT_REGISTERED`, `ERR_SELECTOR_CLOSED`, argument errors
   */
  setRecv(fileobj: FileLike, maxBytes: number): void {
    this.#host.checkOpen();
    const key = this.#host.keyOf(fileobj);
    const max = size('maxBytes', maxBytes, 0, 0);
    this.#host.native.batchRecv(key.fd, max);
  }

  /**
   * Queues `data` for `fileobj`, copied now, sent by the next `run()` before
   * it waits. Sends to one fd go out in the order they were queued.
   * `fileobj` need not be registered; if it is, the send is cancelled when
   * that registration goes away before the flush, and a `Socket` closed
   * before the flush cancels it too.
   * @returns the send's ticket: its index for `sent()` / `sendError()` after that run
   * @throws `ERR_SELECTOR_CLOSED`, argument errors
   */
  send(fileobj: FileLike, data: Uint8Array | string): number {
    this.#host.checkOpen();
    const target = this.#target(fileobj);
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    if (!(bytes instanceof Uint8Array)) throw invalidType('data', 'a string or an instance of Uint8Array', data);
    const n = bytes.length;
    return this.#queue(target, fileobj, this.#copy(bytes, n), n);
  }

  /**
   * Queues `length` bytes of `buffer` from `offset` for `fileobj`, without
   * copying: typically a recv slice of the last pass (`offset(i)`,
   * `bytes(i)`). The bytes must stay as they are until the next `run()`
   * has flushed them; recv slices and copied send data do.
   * @returns the send's ticket
   * @throws `ERR_OUT_OF_RANGE` for a range outside `buffer`; as `send()` otherwise
   */
  sendRange(fileobj: FileLike, offset: number, length: number): number {
    this.#host.checkOpen();
    const target = this.#target(fileobj);
    const end = this.#buffer.length;
    if (!Number.isInteger(offset) || offset < 0 || offset > end) throw outOfRange('offset', offset, end + 1);
    if (!Number.isInteger(length) || length < 0 || offset + length > end) throw outOfRange('length', length, end - offset + 1);
    return this.#queue(target, fileobj, offset, length);
  }

  /**
   * Queues again, to the same target, the bytes of send `ticket` of the
   * last flush that were not taken (all of them unless `sent(ticket) > 0`),
   * copied now. Nothing is queued when it was sent in full.
   * @returns the new ticket, or -1 when nothing was left to send
   * @throws `ERR_OUT_OF_RANGE` unless `0 <= ticket < flushed`; `ERR_SELECTOR_CLOSED`
   */
  resend(ticket: number): number {
    this.#host.checkOpen();
    const at = this.#flushedRecord(ticket);
    const w = this.#words;
    const taken = Math.max(0, w[at + S_RESULT]!);
    const left = w[at + S_LENGTH]! - taken;
    if (left <= 0) return -1;
    const from = w[at + S_OFFSET]! + taken;
    const half = this.#parity ^ 1;
    const fileobj = this.#targets[4 * ticket + 2 * half] as FileLike;
    const target = this.#targets[4 * ticket + 2 * half + 1] ? (this.#host.keys.get(w[at + S_FD]!) ?? w[at + S_FD]!) : w[at + S_FD]!;
    // The copy may grow the memory: copy first, from the current buffer.
    const offset = this.#copyWithin(from, left);
    return this.#queue(target, fileobj, offset, left);
  }

  /** The bytes of send `ticket` of the last flush that were not taken (a view of `buffer`; allocates the view). */
  unsent(ticket: number): Buffer {
    const at = this.#flushedRecord(ticket);
    const w = this.#words;
    const taken = Math.max(0, w[at + S_RESULT]!);
    const start = w[at + S_OFFSET]! + taken;
    return this.#buffer.subarray(start, start + Math.max(0, w[at + S_LENGTH]! - taken));
  }

  /** Sends queued for the next `run()`. */
  get queued(): number {
    return this.#queued;
  }

  /**
   * One pass: flush the queued sends, wait up to `timeoutMs` (as `select()`:
   * `null`/`undefined` forever, `0` or less: don't block; counted from the
   * call), then recv for each reported fd that asked for it.
   * @returns how many fds were reported (`length`); 0 on timeout
   * @throws `ERR_SELECTOR_CLOSED`, a timeout argument error, or the wait's
   *   {@link SystemError} (the flush happened: `sent()` has its results)
   */
  run(timeoutMs?: number | null): number {
    const host = this.#host;
    host.checkOpen();
    const timeout = host.timeout(timeoutMs);
    const keys = host.keys;
    // Room for every key plus the waker's pair (a backend reports at most that many).
    if (keys.size + 1 > this.#readyCap) this.#grow(2 * (keys.size + 1), this.#sendCap, this.#sendBytes);
    const half = this.#parity;
    const n = this.#queued;
    const released = releasedSockets();
    if (n > 0 && (this.#recheck || released !== this.#released)) this.#cancelStale(half, n);
    this.#recheck = false;
    this.#released = released;
    this.#parity = half ^ 1;
    this.#flushed = n;
    this.#queued = 0;
    this.#sendAt = this.#sendStart(half ^ 1);
    this.#sendEnd = this.#sendAt + this.#sendBytes;
    this.#length = 0;
    this.#pinned = false;
    const m = host.native.batchRun(timeout, n, half);
    this.#length = m;
    return m;
  }

  /** How many fds the last `run()` reported. */
  get length(): number {
    return this.#length;
  }

  /** The key of entry `i` of the last pass (as it was when `run()` returned). */
  key(i: number): SelectorKey<T> {
    const e = this.#entry(i);
    return this.#pinned ? this.#keys[e]! : this.#host.keys.get(this.#words[READY_STRIDE * e + R_FD]!)!;
  }

  /** The fd of entry `i`. */
  fd(i: number): number {
    return this.#words[READY_STRIDE * this.#entry(i) + R_FD]!;
  }

  /** The ready events of entry `i`: a non-negative mask, as `select()` reports it. */
  events(i: number): number {
    return this.#words[READY_STRIDE * this.#entry(i) + R_EVENTS]! >>> 0;
  }

  /**
   * What the recv of entry `i` gave: bytes read (`> 0`), `0` for end of
   * stream, or a negative {@link BatchResult} (`NONE`, `AGAIN`, `ERROR`, `NO_ROOM`).
   */
  bytes(i: number): number {
    return this.#words[READY_STRIDE * this.#entry(i) + R_RESULT]!;
  }

  /** Where entry `i`'s bytes start in `buffer` (0 when `bytes(i) <= 0`). */
  offset(i: number): number {
    const at = READY_STRIDE * this.#entry(i);
    return this.#words[at + R_RESULT]! > 0 ? this.#words[at + R_AUX]! : 0;
  }

  /** Entry `i`'s bytes as a view of `buffer` (allocates the view; empty unless `bytes(i) > 0`). */
  data(i: number): Buffer {
    const at = READY_STRIDE * this.#entry(i);
    const n = this.#words[at + R_RESULT]!;
    if (n <= 0) return this.#buffer.subarray(0, 0);
    const off = this.#words[at + R_AUX]!;
    return this.#buffer.subarray(off, off + n);
  }

  /** The recv failure of entry `i` (`bytes(i) === ERROR`) as a {@link SystemError}, else `null`. */
  error(i: number): SystemError | null {
    const at = READY_STRIDE * this.#entry(i);
    if (this.#words[at + R_RESULT] !== BatchResult.ERROR) return null;
    return new SystemError(-this.#words[at + R_AUX]!, 'recv', this.#words[at + R_FD]);
  }

  /** How many queued sends the last `run()` flushed: the valid tickets for `sent()`. */
  get flushed(): number {
    return this.#flushed;
  }

  /**
   * What send `ticket` of the last flush gave: bytes taken (`>= 0`; fewer
   * than queued is a partial send: `resend(ticket)` queues the rest), or a
   * negative {@link BatchResult} (`AGAIN`, `ERROR`, `SKIPPED`, `CANCELLED`).
   * @throws `ERR_OUT_OF_RANGE` unless `0 <= ticket < flushed`
   */
  sent(ticket: number): number {
    return this.#words[this.#flushedRecord(ticket) + S_RESULT]!;
  }

  /** The failure of send `ticket` (`sent(ticket) === ERROR`) as a {@link SystemError}, else `null`. */
  sendError(ticket: number): SystemError | null {
    const at = this.#flushedRecord(ticket);
    if (this.#words[at + S_RESULT] !== BatchResult.ERROR) return null;
    return new SystemError(-this.#words[at + S_ERRNO]!, 'send', this.#words[at + S_FD]);
  }

  // -- internals ---------------------------------------------------------

  #entry(i: number): number {
    if (!(i >= 0 && i < this.#length)) throw outOfRange('index', i, this.#length);
    return i | 0;
  }

  // The word index of flushed send `t` (in the half the last run used).
  #flushedRecord(t: number): number {
    if (!(t >= 0 && t < this.#flushed)) throw outOfRange('ticket', t, this.#flushed);
    return READY_STRIDE * this.#readyCap + (this.#parity ^ 1) * SEND_STRIDE * this.#sendCap + SEND_STRIDE * (t | 0);
  }

  #sendStart(half: number): number {
    return 2 * this.#recvBytes + half * this.#sendBytes;
  }

  // The key of a registered fileobj, else its fd. An open Socket (its own
  // fileno(), a number >= 0) takes the short way; everything else, with its
  // argument errors, the selector's.
  #target(fileobj: FileLike): SelectorKey<T> | number {
    if (typeof fileobj === 'object' && fileobj !== null && (fileobj as { fileno?: unknown }).fileno === socketFileno) {
      const fd = (fileobj as Socket).fileno();
      if (fd >= 0) return this.#host.keys.get(fd) ?? fd;
    }
    return this.#host.target(fileobj);
  }

  // Room for n more bytes of send data in the current half; returns where they go.
  // (Small, so that the JIT inlines it into send().)
  #reserve(n: number): number {
    const at = this.#sendAt;
    if (at + n > this.#sendEnd) return this.#reserveGrown(n);
    this.#sendAt = at + n;
    return at;
  }

  #reserveGrown(n: number): number {
    const used = this.#sendAt - this.#sendStart(this.#parity);
    const want = Math.max(2 * this.#sendBytes, used + n);
    if (2 * this.#recvBytes + 2 * want > MAX_IO) throw outOfRange('data.byteLength', n, MAX_IO);
    this.#grow(this.#readyCap, this.#sendCap, want);
    return this.#reserve(n);
  }

  #copy(bytes: Uint8Array, n: number): number {
    const at = this.#reserve(n);
    const buffer = this.#buffer;
    if (n <= SMALL_COPY) for (let k = 0; k < n; k++) buffer[at + k] = bytes[k]!;
    else buffer.set(bytes, at);
    return at;
  }

  // Copies `n` bytes at `from` (an offset in buffer, which may move while
  // growing) into the current half's send data.
  #copyWithin(from: number, n: number): number {
    const sendStart = this.#sendStart(this.#parity ^ 1);
    const inOtherSendHalf = from >= sendStart && from < sendStart + this.#sendBytes;
    const rel = from - sendStart;
    const at = this.#reserve(n);
    // Growing moves the send halves (the recv windows stay put).
    const src = inOtherSendHalf ? this.#sendStart(this.#parity ^ 1) + rel : from;
    this.#buffer.copyWithin(at, src, src + n);
    return at;
  }

  #queue(target: SelectorKey<T> | number, fileobj: FileLike, offset: number, length: number): number {
    if (this.#queued === this.#sendCap) this.#grow(this.#readyCap, 2 * this.#sendCap, this.#sendBytes);
    const t = this.#queued++;
    const half = this.#parity;
    const at = READY_STRIDE * this.#readyCap + half * SEND_STRIDE * this.#sendCap + SEND_STRIDE * t;
    const registered = typeof target !== 'number';
    const fd = registered ? target.fd : target;
    // A registered target is checked against its key's object (which may be
    // the number it was registered as, even when `fileobj` is its Socket).
    const to = registered ? target.fileobj : fileobj;
    const w = this.#words;
    w[at + S_FD] = this.#stale(to, fd) ? -1 : fd | 0;
    w[at + S_OFFSET] = offset | 0;
    w[at + S_LENGTH] = length | 0;
    w[at + S_RESULT] = 0;
    w[at + S_ERRNO] = 0;
    const k = 4 * t + 2 * half;
    this.#targets[k] = to;
    this.#targets[k + 1] = registered;
    return t;
  }

  // An object target no longer owns `fd` (a closed Socket found among the
  // keys by identity): its send is cancelled, never sent to the number. A
  // plain Socket's number changes only when it lets go of it, which the
  // flush learns from releasedSockets(); any other object is checked again
  // at the flush.
  #stale(to: FileLike, fd: number): boolean {
    if (typeof to !== 'object') return false;
    if ((to as { fileno?: unknown }).fileno === socketFileno) return (to as Socket).fileno() !== fd;
    this.#recheck = true;
    return fdOrGone(to) !== fd;
  }

  // The check of every queued send just before the flush (when #recheck or
  // a released Socket says it may have changed): a registered target must
  // still be registered with the same object, and an object (a Socket, a
  // FileHandle) must still own its number; otherwise the number may now
  // name another connection.
  #cancelStale(half: number, n: number): void {
    const words = this.#words;
    const keys = this.#host.keys;
    const base = READY_STRIDE * this.#readyCap + half * SEND_STRIDE * this.#sendCap;
    const targets = this.#targets;
    for (let t = 0; t < n; t++) {
      const at = base + SEND_STRIDE * t;
      const fd = words[at + S_FD]!;
      const fileobj = targets[4 * t + 2 * half] as FileLike;
      if (targets[4 * t + 2 * half + 1] && keys.get(fd)?.fileobj !== fileobj) words[at + S_FD] = -1;
      else if (typeof fileobj === 'object' && fdOrGone(fileobj) !== fd) words[at + S_FD] = -1;
    }
  }

  // Called by the selector just before its keys change: the entries of the
  // last pass keep the keys they had (2.7), and a registration that goes
  // away makes the next flush check its queued sends.
  #keysChanging(removing: boolean): void {
    if (removing) this.#recheck = true;
    if (this.#pinned) return;
    this.#pinned = true;
    const keys = this.#host.keys;
    const ks = this.#keys;
    const words = this.#words;
    for (let i = 0; i < this.#length; i++) {
      const key = keys.get(words[READY_STRIDE * i + R_FD]!);
      if (i === ks.length) ks.push(key);
      else ks[i] = key;
    }
  }

  #layout(readyCap: number, sendCap: number, sendBytes: number): void {
    const words = READY_STRIDE * readyCap + 2 * SEND_STRIDE * sendCap;
    const ioOffset = 8 * Math.ceil((4 * words) / 8);
    const ioBytes = 2 * this.#recvBytes + 2 * sendBytes;
    if (ioBytes > MAX_IO) throw invalidValue('options', `needs more than ${MAX_IO} bytes of memory`, ioBytes);
    const memory = new ArrayBuffer(ioOffset + ioBytes);
    this.#host.native.batchMemory(memory, readyCap, sendCap, ioOffset, this.#recvBytes, ioBytes);
    this.#words = new Int32Array(memory, 0, words);
    this.#buffer = Buffer.from(memory, ioOffset, ioBytes);
    this.#readyCap = readyCap;
    this.#sendCap = sendCap;
    this.#sendBytes = sendBytes;
  }

  // A bigger memory with everything still needed copied over: the last
  // pass's ready records, both halves of send records (queued, and results
  // of the last flush), the recv windows and both halves of send data, whose
  // offsets in the records move with them.
  #grow(readyCap: number, sendCap: number, sendBytes: number): void {
    const old = { words: this.#words, buffer: this.#buffer, readyCap: this.#readyCap, sendCap: this.#sendCap, sendBytes: this.#sendBytes };
    const oldSendStart = [this.#sendStart(0), this.#sendStart(1)];
    const used = this.#sendAt - oldSendStart[this.#parity]!;
    this.#layout(readyCap, sendCap, sendBytes);
    this.#sendAt = this.#sendStart(this.#parity) + used;
    this.#sendEnd = this.#sendStart(this.#parity) + sendBytes;
    const w = this.#words;
    w.set(old.words.subarray(0, READY_STRIDE * Math.min(old.readyCap, readyCap)), 0);
    for (let h = 0; h < 2; h++) {
      const from = READY_STRIDE * old.readyCap + h * SEND_STRIDE * old.sendCap;
      const to = READY_STRIDE * readyCap + h * SEND_STRIDE * sendCap;
      w.set(old.words.subarray(from, from + SEND_STRIDE * old.sendCap), to);
      const records = h === this.#parity ? this.#queued : this.#flushed;
      for (let t = 0; t < records; t++) {
        const off = w[to + SEND_STRIDE * t + 1]!;
        for (let s = 0; s < 2; s++) {
          if (off >= oldSendStart[s]! && off <= oldSendStart[s]! + old.sendBytes) {
            w[to + SEND_STRIDE * t + 1] = off - oldSendStart[s]! + this.#sendStart(s);
          }
        }
      }
      this.#buffer.set(old.buffer.subarray(oldSendStart[h], oldSendStart[h]! + old.sendBytes), this.#sendStart(h));
    }
    this.#buffer.set(old.buffer.subarray(0, 2 * this.#recvBytes), 0);
  }
}
