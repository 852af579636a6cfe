import { invalidType, invalidValue } from './errors.ts';
import { native } from './native.ts';
import { fdOf, type FileLike } from './fileobj.ts';
import { Socket } from './socket.ts';

/**
 * Raises the soft `RLIMIT_NOFILE` towards `want` (never above the hard limit,
 * never lowering it) and returns the soft limit now in force. Programs that
 * watch thousands of fds call this instead of relying on `ulimit -n`.
 * `raiseFdLimit()` with no argument just reads the limit.
 * @throws `ERR_INVALID_ARG_VALUE` for NaN or a negative number
 */
export function raiseFdLimit(want?: number): number {
  if (want === undefined) return native.raiseFdLimit();
  if (typeof want !== 'number') throw invalidType('want', 'of type number', want);
  if (Number.isNaN(want) || want < 0) throw invalidValue('want', 'must be a non-negative number', want);
  // Infinity asks for the hard limit; the addon caps every request there.
  return native.raiseFdLimit(want === Infinity ? Number.MAX_SAFE_INTEGER : Math.floor(want));
}

/** Options for {@link pipe}. */
export interface PipeOptions {
  /**
   * `true` (the default): both ends block, as `pipe(2)` makes them. `false`:
   * both ends are `O_NONBLOCK` from the start, so a read of an empty pipe
   * returns `EAGAIN` instead of blocking — what "read until EAGAIN" needs.
   */
  blocking?: boolean;
}

/**
 * `pipe2(O_CLOEXEC)`: returns `[readFd, writeFd]`, blocking unless
 * `{ blocking: false }` (then both ends are `O_NONBLOCK`, set by the same
 * call). Close them with `fs.closeSync`. A pipe's write end reports `ERR` once
 * the read end is closed, and its read end `HUP` once the write end is.
 *
 * A child given an end as its stdio (`spawn(cmd, [], { stdio: ['ignore', w,
 * 'inherit'] })`) gets a dup of the same open file: close your copy after
 * `spawn()`, or you never read the end of file. libuv makes a child's stdio
 * blocking, and the flag is shared, so the end you handed over is blocking
 * afterwards; the end you keep is another open file and keeps its mode.
 * @throws `ERR_INVALID_ARG_TYPE` for options that are not an object or a
 *   `blocking` that is not a boolean; a {@link SystemError} (`EMFILE`) from `pipe2`
 */
export function pipe(options?: PipeOptions): [readFd: number, writeFd: number] {
  if (options === undefined) return native.pipe(false);
  if (typeof options !== 'object' || options === null) throw invalidType('options', 'of type object', options);
  const blocking = options.blocking ?? true;
  if (typeof blocking !== 'boolean') throw invalidType('options.blocking', 'of type boolean', blocking);
  return native.pipe(!blocking);
}

/**
 * Sets the blocking mode of any fd: clears (`true`) or sets (`false`)
 * `O_NONBLOCK`, as CPython's `os.set_blocking`. For pipes, FIFOs, ttys and
 * fds made elsewhere; on a {@link Socket} it is `sock.setBlocking()`. The
 * flag belongs to the open file, not to the number: every dup of the fd (a
 * child's stdio, Node's stream over it) sees the change.
 * @param fileobj - an fd or any {@link FileLike}
 * @throws `ERR_INVALID_ARG_TYPE` (not a FileLike, or `blocking` not a
 *   boolean), `ERR_INVALID_ARG_VALUE` (a negative fd), a {@link SystemError}
 *   `EBADF` (`syscall: 'fcntl'`, with `fd`) for an fd that is not open
 */
export function setBlocking(fileobj: FileLike, blocking: boolean): void {
  const fd = fdOf(fileobj);
  if (typeof blocking !== 'boolean') throw invalidType('blocking', 'of type boolean', blocking);
  // Keeps a Socket's own idea of its mode (sock.blocking) in step.
  if (fileobj instanceof Socket) fileobj.setBlocking(blocking);
  else native.setBlocking(fd, blocking);
}

/**
 * Whether `fileobj` blocks: `false` once `O_NONBLOCK` is set, as CPython's
 * `os.get_blocking`. Asks the kernel every time.
 * @param fileobj - an fd or any {@link FileLike}
 * @throws as {@link setBlocking}
 */
export function getBlocking(fileobj: FileLike): boolean {
  return native.getBlocking(fdOf(fileobj));
}
