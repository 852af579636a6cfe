import { getSystemErrorMap } from 'node:util';
import { native } from './native.ts';

/**
 * A failed system call, shaped like Node's own system errors: `code` is the
 * errno name (`'EBADF'`), `errno` the negative errno number (as libuv and
 * Node report it), `syscall` the call that failed, and `fd` the descriptor
 * involved, where there was one.
 *
 * @example
 * ```ts
 * try { sock.connect({ host: '127.0.0.1', port: 1 }) }
 * catch (err) { if (err instanceof SystemError && err.code === 'ECONNREFUSED') … }
 * ```
 */
export class SystemError extends Error {
  /**
   * `instanceof SystemError` holds for errors made by any copy of this
   * class in the process: the package's ESM build and its CommonJS build
   * (`require()`) are two module instances that share one addon.
   */
  static [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    // A subclass keeps plain instanceof; only the base class is shared.
    return Object.hasOwn(this, BRAND) && typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }

  /** The errno name, e.g. `'ECONNREFUSED'`. */
  readonly code: string;
  /** The negative errno number, e.g. `-111`. */
  readonly errno: number;
  /** The system call that failed, e.g. `'connect'`. */
  readonly syscall: string;
  /** The file descriptor involved, when there was one. */
  readonly fd?: number;
  /** The host name that failed to resolve (getaddrinfo errors only). */
  readonly hostname?: string;

  /**
   * @param errno - a negative errno (or libuv error) number
   * @param syscall - the failing system call
   * @param fd - the file descriptor involved, if any
   * @param hostname - for resolver errors, the name looked up
   */
  constructor(errno: number, syscall: string, fd?: number, hostname?: string) {
    const [code, description] = getSystemErrorMap().get(errno) ?? [`Unknown system error ${errno}`, 'unknown error'];
    super(
      hostname !== undefined
        ? `${syscall} ${code} ${hostname}`
        : `${code}: ${description}, ${syscall}${hint(code, syscall, fd)}`,
    );
    this.name = 'SystemError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
    if (fd !== undefined) this.fd = fd;
    if (hostname !== undefined) this.hostname = hostname;
  }
}

/**
 * What a bare errno would leave the reader guessing: why the call failed and
 * what to do instead, appended to the message (code, errno and syscall stay
 * Node's).
 */
function hint(code: string, syscall: string, fd: number | undefined): string {
  // epoll_ctl(2) says EPERM only for a file without a poll method: a regular
  // file, a directory, or a device such as /dev/null, which are always ready
  // (stdin under cron or systemd is often one of them).
  if (code === 'EPERM' && syscall === 'epoll_ctl') {
    const what = fd === undefined ? 'the fd' : `fd ${fd}`;
    return (
      ` (${what} is a regular file, a directory or a device such as /dev/null: epoll cannot watch files that are` +
      ' always ready. Use a PollSelector or SelectSelector, which report such files as always ready, or read the' +
      ' file directly without a selector)'
    );
  }
  return '';
}

// The brand both copies recognise: on the class (the base, not subclasses) and on its instances.
const BRAND = Symbol.for('iomux.SystemError');
Object.defineProperty(SystemError, BRAND, { value: true });
Object.defineProperty(SystemError.prototype, BRAND, { value: true });

native.setErrorFactory((errno, syscall, fd, hostname) => new SystemError(errno, syscall, fd, hostname));

/**
 * The `ERR_*` codes that iomux's argument and state errors carry, and the
 * two native failures that are not system calls: `ERR_MEMORY_ALLOCATION_FAILED`
 * (the addon could not allocate memory) and `ERR_IOMUX_INTERNAL` (a C++
 * exception that should not happen: a bug to report).
 */
export type ErrorCode =
  | 'ERR_INVALID_ARG_TYPE'
  | 'ERR_INVALID_ARG_VALUE'
  | 'ERR_ALREADY_REGISTERED'
  | 'ERR_NOT_REGISTERED'
  | 'ERR_SELECTOR_CLOSED'
  | 'ERR_FD_SETSIZE'
  | 'ERR_UNSUPPORTED'
  | 'ERR_WAIT_PENDING'
  | 'ERR_SOCKET_CLOSED'
  | 'ERR_SOCKET_BAD_PORT'
  | 'ERR_OUT_OF_RANGE'
  | 'ERR_INVALID_STATE'
  | 'ERR_MEMORY_ALLOCATION_FAILED'
  | 'ERR_IOMUX_INTERNAL';

/** An Error (or TypeError / RangeError) carrying one of the {@link ErrorCode}s. */
export type CodedError<E extends Error = Error> = E & {
  /** Which error this is; stable across releases. */
  readonly code: ErrorCode;
};

/** @internal */
export function codedError<E extends Error>(
  Base: new (message: string) => E,
  code: ErrorCode,
  message: string,
): CodedError<E> {
  const err = new Base(message) as E & { code: ErrorCode };
  Object.defineProperty(err, 'code', { value: code, enumerable: true, writable: false, configurable: true });
  return err;
}

/** @internal A short, safe description of a value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`;
  if (typeof value === 'string') return `type string (${JSON.stringify(value.length > 28 ? `${value.slice(0, 25)}...` : value)})`;
  const primitive = value as number | bigint | boolean | symbol | undefined; // all that is left
  return `type ${typeof value} (${String(primitive)})`;
}

/** @internal `The "name" argument must be of type X. Received …` (ERR_INVALID_ARG_TYPE). */
export function invalidType(name: string, expected: string, value: unknown): CodedError<TypeError> {
  return codedError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "${name}" argument must be ${expected}. Received ${describe(value)}`);
}

/** @internal `The argument 'name' is invalid …` (ERR_INVALID_ARG_VALUE). */
export function invalidValue(name: string, reason: string, value: unknown): CodedError<RangeError> {
  return codedError(RangeError, 'ERR_INVALID_ARG_VALUE', `The argument '${name}' ${reason}. Received ${describe(value)}`);
}

/** @internal An AbortError like the ones Node's own APIs reject with. */
export function abortError(signal: AbortSignal): Error {
  const err = new Error('The operation was aborted', { cause: signal.reason });
  err.name = 'AbortError';
  Object.defineProperty(err, 'code', { value: 'ABORT_ERR', enumerable: true });
  return err;
}
