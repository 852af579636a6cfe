import { constants as osConstants } from 'node:os';
import { codedError, invalidType, invalidValue, SystemError } from './errors.ts';
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

// A Socket dropped without close() gives its fd back when it is collected.
const fdRegistry = new FinalizationRegistry<number>((fd) => {
  try {
    native.closeFd(fd);
  } catch {
    // Already closed behind our back: nothing left to release.
  }
});

// An fd this module already owns (from accept(), socketPair()), handed to
// the constructor. The class is not exported, so no caller outside this
// module can make one: `instanceof` is the proof of origin.
class Adoption {
  constructor(
    readonly fd: number,
    readonly blocking: boolean,
  ) {}
}

/**
 * A raw BSD socket, in the spirit of CPython's `socket.socket`. Sockets start
 * blocking; call `setBlocking(false)` before driving one from a selector.
 * Would-block is a normal result (`null`), not an exception; every other
 * failure throws a {@link SystemError}. Sockets are close-on-exec.
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
    } else {
      this.#fd = sock.socket(FAMILIES[family], TYPES[type]);
    }
    fdRegistry.register(this, this.#fd, this);
  }

  /** @internal Wraps an fd this module already owns. */
  static adopt(fd: number, family: SocketFamily, type: SocketType, blocking = true): Socket {
    return new Socket(family, type, new Adoption(fd, blocking));
  }

  /** The file descriptor, or -1 once closed. */
  fileno(): number {
    return this.#fd;
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Whether calls block (true, the default) or return `null` on would-block. */
  get blocking(): boolean {
    return this.#blocking;
  }

  /** `true`: calls block; `false`: O_NONBLOCK, for use with a selector. */
  setBlocking(flag: boolean): void {
    const fd = this.#open();
    sock.setBlocking(fd, Boolean(flag));
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

  /** Closes the socket; idempotent. `fileno()` then returns -1. */
  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    fdRegistry.unregister(this);
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
