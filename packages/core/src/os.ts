import { invalidType, invalidValue } from './errors.ts';
import { native } from './native.ts';

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

/**
 * `pipe2(O_CLOEXEC)`: returns `[readFd, writeFd]`, blocking. Close them with
 * `fs.closeSync`. Handy for course code and tests: a pipe's write end reports
 * `ERR` once the read end is closed, and its read end `HUP` once the write end is.
 */
export function pipe(): [readFd: number, writeFd: number] {
  return native.pipe();
}
