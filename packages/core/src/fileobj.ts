/**
 * What iomux accepts as a file: an fd number, an object with `fileno()`
 * (iomux's own convention, from CPython) or an object with a numeric `fd`
 * (Node's: `fs.promises.FileHandle`, an open `fs.ReadStream`,
 * `process.stdin`). One resolver serves the selectors, the batch and the fd
 * helpers of os.ts.
 * @internal
 * @module
 */
import { invalidType, invalidValue, type CodedError } from './errors.ts';
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- only {@link}ed in doc comments; typedoc resolves the links through it
import type { Socket } from './socket.ts';

/**
 * An fd number, an object with a `fileno()` method (such as {@link Socket}),
 * or an object with a numeric `fd` property, Node's own convention
 * (`fs.promises.FileHandle`, an open `fs.ReadStream`, `process.stdin`).
 * When an object has both, `fileno()` wins. (A `fs.ReadStream` has its `fd`
 * at run time, `null` once closed, but @types/node does not declare it:
 * TypeScript code passes one as `stream as unknown as { fd: number }`.)
 */
export type FileLike =
  | number
  | {
      /** The object's file descriptor (-1 once closed, for a {@link Socket}). */
      fileno(): number;
    }
  | {
      /** The object's file descriptor (Node: -1 for a closed `FileHandle`). */
      readonly fd: number;
    };

const EXPECTED = 'an integer, an object with a fileno() method or an object with a numeric fd property';

/**
 * The fd of `fileobj`: a number from 0 up. For an object whose fd is gone (a
 * closed `Socket` or `FileHandle` answers -1, a closed `fs.ReadStream` has
 * `fd: null`) it returns, rather than throws, the error to report, so that a
 * caller can first look the object up by identity among its registrations.
 * Anything that is not a {@link FileLike} throws `ERR_INVALID_ARG_TYPE`; a
 * negative number or one above 2³¹-1, `ERR_INVALID_ARG_VALUE`.
 * @internal
 */
export function fdOrGone(fileobj: unknown, name = 'fileobj'): number | CodedError {
  if (typeof fileobj === 'number') return checkFd(fileobj, name, fileobj);
  if (typeof fileobj !== 'object' || fileobj === null) throw invalidType(name, EXPECTED, fileobj);
  const obj = fileobj as { fileno?: unknown; fd?: unknown };
  let fd: unknown;
  if (typeof obj.fileno === 'function') {
    fd = (obj as { fileno(): unknown }).fileno();
  } else if ('fd' in obj) {
    fd = obj.fd;
    // Node nulls a stream's fd once it is closed (and before it has opened).
    if (fd === null) return invalidType(name, `${EXPECTED} (its fd is null: not open yet, or closed)`, fileobj);
  } else {
    throw invalidType(name, EXPECTED, fileobj);
  }
  if (typeof fd !== 'number' || !Number.isInteger(fd)) throw invalidType(name, EXPECTED, fd);
  if (fd < 0) return invalidValue(name, 'must be a file descriptor >= 0 (the object is closed)', fd);
  return checkFd(fd, name, fd);
}

/**
 * The fd of `fileobj`, from 0 up; throws for anything else, a closed object
 * included (`ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE`).
 * @internal
 */
export function fdOf(fileobj: unknown, name = 'fileobj'): number {
  const fd = fdOrGone(fileobj, name);
  if (typeof fd !== 'number') throw fd;
  return fd;
}

function checkFd(fd: number, name: string, value: unknown): number {
  if (!Number.isInteger(fd)) throw invalidType(name, EXPECTED, value);
  if (fd < 0 || fd > 0x7fffffff) throw invalidValue(name, 'must be a file descriptor >= 0', value);
  return fd;
}
