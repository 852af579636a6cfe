import { native } from './native.ts';

/**
 * Raises the soft `RLIMIT_NOFILE` towards `want` (never above the hard limit,
 * never lowering it) and returns the soft limit now in force. Programs that
 * watch thousands of fds call this instead of relying on `ulimit -n`.
 */
export function raiseFdLimit(want?: number): number {
  return native.raiseFdLimit(want);
}

/**
 * `pipe2(O_CLOEXEC)`: returns `[readFd, writeFd]`, blocking. Close them with
 * `fs.closeSync`. Handy for course code and tests: a pipe's write end reports
 * `ERR` once the read end is closed, and its read end `HUP` once the write end is.
 */
export function pipe(): [readFd: number, writeFd: number] {
  return native.pipe();
}
