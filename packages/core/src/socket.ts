import { constants as osConstants } from 'node:os';
import { codedError, invalidType, invalidValue, SystemError } from './errors.ts';
import { isMainThread } from 'node:worker_threads';
import { native } from './native.ts';

const sock = native.socket;
const C = native.constants;
const SC = sock.constants;

/** An internet address (`host` may be a name; it is resolved) or a unix socket path. */
export type Address =
  | {
      /** An IPv4/IPv6 address or a name to resolve; `''` binds to every address. */
      host: string;
      /** A TCP/UDP port, 0 to 65535 (0: let the kernel pick, for `bind()`). */
      port: number;
    }
  | {
      /** A filesystem path; a leading NUL names Linux's abstract namespace. */
      path: string;
    };
/** Socket address families. */
export type SocketFamily = 'inet' | 'inet6' | 'unix';
/** Socket types. */
export type SocketType = 'stream' | 'dgram';

const FAMILIES: Record<SocketFamily, number> = { inet: C.AF_INET, inet6: C.AF_INET6, unix: C.AF_UNIX };
const TYPES: Record<SocketType, number> = { stream: C.SOCK_STREAM, dgram: C.SOCK_DGRAM };
const SHUT = { read: SC.SHUT_RD, write: SC.SHUT_WR, both: SC.SHUT_RDWR } as const;

// A Worker's objects are not finalized when it exits: the addon closes the
// fds its owned Sockets still hold then. (The main thread's exit ends the
// process, which closes everything anyway.)
const inWorker = !isMainThread;

// A Socket dropped without close() gives its fd back when it is collected.
const fdRegistry = new FinalizationRegistry<number>((fd) => {
  if (inWorker) native.untrackFd(fd);
  try {
    native.closeFd(fd);
  } catch {
    // Already closed behind our back: nothing left to release.
  }
});

// How many Sockets have let go of their number (close(), detach()): a batch
// that saw no change here since its last flush knows that every Socket it
// queued a send to still owns the number it had when the send was queued.
let released = 0;

/** @internal The count of Sockets that gave up their fd so far (close or detach). */
export function releasedSockets(): number {
  return released;
}

// An fd this module already owns (from accept(), socketPair(), fromFd()),
// handed to the constructor. The class is not exported, so no caller outside
// this module can make one: `instanceof` is the proof of origin.
class Adoption {
  constructor(
    readonly fd: number,
    readonly blocking: boolean,
    readonly owned: boolean = true,
  ) {}
}

/** Options for {@link Socket.fromFd}. */
export interface FromFdOptions {
  /**
   * `true` (the default): the new Socket owns the fd and closes it on
   * `close()`, or when it is garbage-collected unclosed. `false`: it only
   * borrows it; `close()` forgets the number without closing the fd.
   */
  owned?: boolean;
}

const FAMILY_OF = new Map<number, SocketFamily>([
  [C.AF_INET, 'inet'],
  [C.AF_INET6, 'inet6'],
  [C.AF_UNIX, 'unix'],
]);
const TYPE_OF = new Map<number, SocketType>([
  [C.SOCK_STREAM, 'stream'],
  [C.SOCK_DGRAM, 'dgram'],
]);

/**
 * A raw BSD socket, in the spirit of CPython's `socket.socket`. Sockets start
 * blocking; call `setBlocking(false)` before driving one from a selector.
 * Would-block is a normal result (`null`), not an exception; every other
 * failure throws a {@link SystemError}. Sockets are close-on-exec.
 *
 * A Socket owns its fd (see {@link Socket.fromFd} for borrowing one, and
 * {@link Socket.detach} for handing one to another thread). An owned Socket
 * dropped unclosed closes its fd when it is garbage-collected; in a Worker,
 * the fds of owned Sockets still open when the Worker exits are closed then
 * (a Worker's objects are not finalized at exit).
 *
 * @example
 * ```ts
 * const srv = new Socket('inet', 'stream');
 * srv.setReuseAddress(true);
 * srv.bind({ host: '127.0.0.1', port: 0 });
 * srv.listen();
 * srv.setBlocking(false);
 * ```
 */
export class Socket {
  /** The address family. */
  readonly family: SocketFamily;
  /** The socket type. */
  readonly type: SocketType;
  #fd: number;
  #blocking = true;
  #owned = true;

  /**
   * @param family - `'inet'` (default), `'inet6'` or `'unix'`
   * @param type - `'stream'` (default) or `'dgram'`
   */
  constructor(family?: SocketFamily, type?: SocketType);
  /** @internal */
  constructor(family: SocketFamily, type: SocketType, adopt: Adoption);
  constructor(family: SocketFamily = 'inet', type: SocketType = 'stream', adopt?: Adoption) {
    if (typeof family !== 'string') throw invalidType('family', 'of type string', family);
    if (!Object.hasOwn(FAMILIES, family)) throw invalidValue('family', "must be 'inet', 'inet6' or 'unix'", family);
    if (typeof type !== 'string') throw invalidType('type', 'of type string', type);
    if (!Object.hasOwn(TYPES, type)) throw invalidValue('type', "must be 'stream' or 'dgram'", type);
    this.family = family;
    this.type = type;
    if (adopt instanceof Adoption) {
      this.#fd = adopt.fd;
      this.#blocking = adopt.blocking;
      this.#owned = adopt.owned;
    } else {
      this.#fd = sock.socket(FAMILIES[family], TYPES[type]);
    }
    if (this.#owned) {
      fdRegistry.register(this, this.#fd, this);
      if (inWorker) native.trackFd(this.#fd);
    }
  }

  /** @internal Wraps an fd this module already owns. */
  static adopt(fd: number, family: SocketFamily, type: SocketType, blocking = true): Socket {
    return new Socket(family, type, new Adoption(fd, blocking));
  }

  /**
   * Wraps a socket fd made elsewhere: typically one another thread
   * `detach()`ed and posted here, since an fd number means the same socket in
   * every thread of the process. Family, type and blocking mode are read from
   * the fd itself.
   *
   * Ownership: exactly one Socket should own an fd. With `owned: true` (the
   * default) this one closes it, so whoever handed it over must not use or
   * close it any more (`detach()` is how to let go). With `owned: false` the
   * fd is borrowed: `close()` only forgets it, the owner closes it, and the
   * borrower must stop using it first, because once closed the number may
   * name another file. Two owning Sockets for one fd are a bug: the second
   * `close()` closes whatever file has taken the number by then.
   *
   * @throws `ERR_INVALID_ARG_TYPE`/`ERR_INVALID_ARG_VALUE` for a bad fd, a
   *   family other than inet/inet6/unix or a type other than stream/dgram; a
   *   {@link SystemError} `EBADF` (not open) or `ENOTSOCK` (not a socket)
   */
  static fromFd(fd: number, options: FromFdOptions = {}): Socket {
    if (typeof fd !== 'number') throw invalidType('fd', 'of type number', fd);
    if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw invalidValue('fd', 'must be a file descriptor >= 0', fd);
    if (typeof options !== 'object' || options === null) throw invalidType('options', 'of type object', options);
    const owned = options.owned ?? true;
    if (typeof owned !== 'boolean') throw invalidType('options.owned', 'of type boolean', owned);
    const [domain, type, nonBlocking] = native.socketInfo(fd);
    const family = FAMILY_OF.get(domain);
    if (family === undefined) throw invalidValue('fd', `is a socket of an unsupported family (${domain})`, fd);
    const kind = TYPE_OF.get(type);
    if (kind === undefined) throw invalidValue('fd', `is a socket of an unsupported type (${type})`, fd);
    return new Socket(family, kind, new Adoption(fd, !nonBlocking, owned));
  }

  /**
   * Gives up the fd without closing it and returns it; the Socket is then
   * closed (`fileno()` is -1). Use it to hand the fd to another thread, which
   * wraps it with {@link Socket.fromFd} and owns it from then on.
   */
  detach(): number {
    const fd = this.#open();
    this.#fd = -1;
    released++;
    if (this.#owned) {
      fdRegistry.unregister(this);
      if (inWorker) native.untrackFd(fd);
    }
    return fd;
  }

  /** False for a Socket that borrows its fd (`fromFd(fd, { owned: false })`). */
  get owned(): boolean {
    return this.#owned;
  }

  /** The file descriptor, or -1 once closed. */
  fileno(): number {
    return this.#fd;
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /**
   * Whether calls block (true, the default) or return `null` on would-block,
   * as last set through iomux ({@link setBlocking}, or the free function
   * `setBlocking(sock, flag)`). The flag belongs to the open file: a change
   * made through another fd of it (Node's stream, a child's dup) shows in
   * `getBlocking(sock)`, which asks the kernel, not here.
   */
  get blocking(): boolean {
    return this.#blocking;
  }

  /** `true`: calls block; `false`: O_NONBLOCK, for use with a selector. */
  setBlocking(flag: boolean): void {
    const fd = this.#open();
    native.setBlocking(fd, Boolean(flag));
    this.#blocking = Boolean(flag);
  }

  /** SO_REUSEADDR: rebind a port whose old connections linger in TIME_WAIT. */
  setReuseAddress(flag: boolean): void {
    sock.setIntOption(this.#open(), SC.SOL_SOCKET, SC.SO_REUSEADDR, flag ? 1 : 0);
  }

  /** SO_REUSEPORT: several sockets may bind the same port (the kernel spreads connections). */
  setReusePort(flag: boolean): void {
    sock.setIntOption(this.#open(), SC.SOL_SOCKET, SC.SO_REUSEPORT, flag ? 1 : 0);
  }

  /** TCP_NODELAY: send small segments at once instead of waiting (Nagle's algorithm off). */
  setNoDelay(flag: boolean): void {
    sock.setIntOption(this.#open(), SC.IPPROTO_TCP, SC.TCP_NODELAY, flag ? 1 : 0);
  }

  /**
   * SO_LINGER. `seconds: 0` makes `close()` reset the connection (RST)
   * instead of a graceful FIN; `null` restores the default.
   */
  setLinger(seconds: number | null): void {
    const fd = this.#open();
    if (seconds !== null && (!Number.isInteger(seconds) || seconds < 0 || seconds > 0x7fffffff)) {
      throw invalidValue('seconds', 'must be a non-negative integer or null', seconds);
    }
    sock.setLinger(fd, seconds === null ? -1 : seconds);
  }

  /** SO_SNDBUF / SO_RCVBUF sizes (the kernel doubles what it is given). */
  setBufferSizes(sizes: { send?: number; receive?: number }): void {
    const fd = this.#open();
    if (typeof sizes !== 'object' || sizes === null) throw invalidType('sizes', 'an object', sizes);
    for (const [name, opt] of [['send', SC.SO_SNDBUF], ['receive', SC.SO_RCVBUF]] as const) {
      const v = sizes[name];
      if (v === undefined) continue;
      if (!Number.isInteger(v) || v <= 0 || v > 0x7fffffff) throw invalidValue(`sizes.${name}`, 'must be a positive integer', v);
      sock.setIntOption(fd, SC.SOL_SOCKET, opt, v);
    }
  }

  /** Binds to an address; port 0 picks a free port (read it back with `localAddress()`). */
  bind(address: Address): void {
    const fd = this.#open();
    const [family, where, port] = this.#address(address);
    sock.bind(fd, family, where, port);
  }

  /** Starts listening; `backlog` defaults to 511, like Node's `net`. */
  listen(backlog = 511): void {
    const fd = this.#open();
    if (!Number.isInteger(backlog)) throw invalidType('backlog', 'an integer', backlog);
    sock.listen(fd, Math.max(0, Math.min(backlog, 0x7fffffff)));
  }

  /**
   * Accepts a connection. The new socket is blocking, as in CPython.
   * @returns the connection and its peer's address, or `null` if none is waiting
   */
  accept(): [Socket, Address] | null {
    const r = sock.accept(this.#open());
    if (r === null) return null;
    return [Socket.adopt(r[0], this.family, this.type), r[1]];
  }

  /**
   * Connects. On a non-blocking socket returns `false` while the connection
   * is in progress: wait for `OUT`, then check `socketError()`.
   * @returns `true` when connected
   */
  connect(address: Address): boolean {
    const fd = this.#open();
    const [family, where, port] = this.#address(address);
    return sock.connect(fd, family, where, port);
  }

  /**
   * Receives up to `maxBytes`.
   * @returns the bytes; an empty Buffer at end of stream; `null` if it would block
   */
  recv(maxBytes: number): Buffer | null {
    const fd = this.#open();
    return sock.recv(fd, checkSize('maxBytes', maxBytes));
  }

  /**
   * Receives into `buf` (no allocation).
   * @returns bytes read; `0` at end of stream; `null` if it would block
   */
  recvInto(buf: Uint8Array): number | null {
    const fd = this.#open();
    if (!(buf instanceof Uint8Array)) throw invalidType('buf', 'an instance of Uint8Array', buf);
    if (buf.byteLength === 0) throw invalidValue('buf', 'must not be empty (0 bytes read would read as end of stream)', buf);
    return sock.recvInto(fd, buf);
  }

  /**
   * Receives one datagram (or up to `maxBytes` of a stream) with its sender.
   * @returns `[bytes, address]`, or `null` if it would block
   */
  recvFrom(maxBytes: number): [Buffer, Address] | null {
    const fd = this.#open();
    return sock.recvFrom(fd, checkSize('maxBytes', maxBytes));
  }

  /**
   * Sends what the kernel will take now.
   * @returns bytes sent, possibly fewer than given (a partial send); `null` if it would block
   */
  send(data: Uint8Array | string): number | null {
    const fd = this.#open();
    return sock.send(fd, toBytes(data));
  }

  /** Sends a datagram to `address`. @returns bytes sent, or `null` if it would block */
  sendTo(data: Uint8Array | string, address: Address): number | null {
    const fd = this.#open();
    const [family, where, port] = this.#address(address);
    return sock.sendTo(fd, toBytes(data), family, where, port);
  }

  /**
   * Sends everything, looping over partial sends. For blocking sockets: on a
   * non-blocking one that would block it throws a {@link SystemError} `EAGAIN`
   * (like CPython's `BlockingIOError`), with `bytesSent` set.
   */
  sendAll(data: Uint8Array | string): void {
    const fd = this.#open();
    const bytes = toBytes(data);
    let off = 0;
    while (off < bytes.length) {
      const n = sock.send(fd, off === 0 ? bytes : bytes.subarray(off));
      if (n === null) {
        const err = new SystemError(-osConstants.errno.EAGAIN, 'send', fd) as SystemError & { bytesSent: number };
        err.bytesSent = off;
        throw err;
      }
      off += n;
    }
  }

  /** Shuts down one or both directions; the peer reads end of stream after `'write'`. */
  shutdown(how: 'read' | 'write' | 'both'): void {
    const fd = this.#open();
    if (typeof how !== 'string' || !Object.hasOwn(SHUT, how)) {
      throw invalidValue('how', "must be 'read', 'write' or 'both'", how);
    }
    sock.shutdown(fd, SHUT[how]);
  }

  /** The address this socket is bound to. */
  localAddress(): Address {
    return sock.localAddress(this.#open());
  }

  /** The address of the connected peer. */
  remoteAddress(): Address {
    return sock.remoteAddress(this.#open());
  }

  /** SO_ERROR (an errno number, 0 for none): how a non-blocking `connect()` ended. */
  socketError(): number {
    return sock.getIntOption(this.#open(), SC.SOL_SOCKET, SC.SO_ERROR);
  }

  /**
   * Closes the socket; idempotent. `fileno()` then returns -1. A borrowed
   * Socket (`owned: false`) only forgets the fd; its owner closes it.
   */
  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    released++;
    if (!this.#owned) return;
    fdRegistry.unregister(this);
    if (inWorker) native.untrackFd(fd);
    native.closeFd(fd);
  }

  /** Same as {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #open(): number {
    if (this.#fd < 0) throw codedError(Error, 'ERR_SOCKET_CLOSED', 'The socket is closed');
    return this.#fd;
  }

  #address(address: unknown): [family: number, where: string, port: number] {
    if (typeof address !== 'object' || address === null) throw invalidType('address', 'an address object', address);
    if (this.family === 'unix') {
      const path = (address as { path?: unknown }).path;
      if (typeof path !== 'string') throw invalidType('address.path', 'of type string', path);
      // A leading NUL names Linux's abstract namespace; one inside a path
      // would silently cut it short.
      if (path.indexOf('\0', 1) !== -1) throw invalidValue('address.path', 'must not contain NUL bytes', path);
      if (Buffer.byteLength(path) > 107) throw invalidValue('address.path', 'is longer than 107 bytes', path);
      return [C.AF_UNIX, path, 0];
    }
    const { host, port } = address as { host?: unknown; port?: unknown };
    if (typeof host !== 'string') throw invalidType('address.host', 'of type string', host);
    if (host.includes('\0')) throw invalidValue('address.host', 'must not contain NUL bytes', host);
    if (typeof port !== 'number') throw invalidType('address.port', 'of type number', port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw codedError(RangeError, 'ERR_SOCKET_BAD_PORT', `address.port should be >= 0 and < 65536. Received ${String(port)}.`);
    }
    return [FAMILIES[this.family], host, port];
  }
}

function checkSize(name: string, n: unknown): number {
  if (typeof n !== 'number') throw invalidType(name, 'of type number', n);
  if (!Number.isInteger(n) || n < 1 || n > 0x40000000) throw invalidValue(name, 'must be an integer from 1 to 2**30', n);
  return n;
}

function toBytes(data: unknown): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof Uint8Array) return data;
  throw invalidType('data', 'of type string or an instance of Uint8Array', data);
}

/** A connected pair of unix stream sockets (both blocking), as `socketpair(2)` makes. */
export function socketPair(): [Socket, Socket] {
  const [a, b] = sock.socketPair();
  return [Socket.adopt(a, 'unix', 'stream'), Socket.adopt(b, 'unix', 'stream')];
}
