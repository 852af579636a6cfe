import { invalidValue } from './errors.ts';
import { native } from './native.ts';
import { BACKEND_NAMES, type BackendName } from './registry.ts';

/**
 * What one backend can do, as its native implementation describes itself.
 * Every layer that needs to know how the backends differ (argument checks,
 * error names, tests) reads this record instead of comparing backend names.
 */
export interface BackendCapabilities {
  /** The backend this record describes. */
  readonly backend: BackendName;
  /** The highest fd `register()` accepts (select: `FD_SETSIZE - 1`; others: 2**31 - 1). */
  readonly maxFd: number;
  /** `Events.EDGE` (edge-triggered) is supported. */
  readonly edge: boolean;
  /** `Events.EXCLUSIVE` is supported. */
  readonly exclusive: boolean;
  /** `ONESHOT` is done by the kernel (epoll) rather than emulated (select, poll). */
  readonly nativeOneshot: boolean;
  /** `RDHUP` can only be watched together with `IN` (select: its read set wakes for data too). */
  readonly rdhupNeedsIn: boolean;
  /** `HUP` and `ERR` are told apart from readiness (select cannot: a hung-up socket is readable). */
  readonly reportsHup: boolean;
  /** An fd closed while registered is reported as `NVAL` (select, poll) rather than dropped silently (epoll). */
  readonly reportsClosedFd: boolean;
  /**
   * An fd closed while registered is not closed at all (io_uring: the armed poll request holds its file, so a
   * socket stays connected and its peer sees no EOF) until `unregister()` or the selector's `close()`.
   */
  readonly keepsClosedFdOpen: boolean;
  /**
   * The backend has a pollable kernel object of its own, which `fileno()` returns (epoll's fd;
   * io_uring: the eventfd its ring signals, since a DEFER_TASKRUN ring's own fd never wakes a poller).
   */
  readonly pollableKernelFd: boolean;
  /**
   * `wait()` may block on a dedicated thread in the mechanism's own call, which hands over what
   * that one call saw, so files that report a change only to the first poll
   * (`/proc/self/mounts`) lose nothing. select and poll take the thread only while such a file
   * may be registered (anything but a socket, a pipe or FIFO, or a character device such as a
   * tty); epoll only where io_uring cannot run its `epoll_wait`. `false`: never a thread.
   */
  readonly waitOnThread: boolean;
  /**
   * `wait()` over sockets, pipes, FIFOs and ttys makes no thread: the event loop itself sleeps
   * (select and poll: on an epoll set of the selector's own that mirrors those fds, the result
   * then taken with the mechanism's own zero-timeout call; epoll: io_uring's `epoll_wait`;
   * io_uring: its ring's eventfd). One wake-up per event, as for any Node I/O.
   */
  readonly waitInLoop: boolean;
  /**
   * An fd registered with no interest bit (0, or only `ERR`/`HUP`/`NVAL`) is still watched for
   * the always-reported conditions (poll, epoll); select has no set for them and never reports it.
   */
  readonly watchesEmptyMask: boolean;
  /**
   * A regular file (or `/dev/null`) can be registered and is reported as always ready (select, poll,
   * io_uring); epoll refuses it with `EPERM`.
   */
  readonly watchesRegularFiles: boolean;
  /**
   * The system call each operation's errors name; `null` where the operation
   * makes none (select and poll keep their interest sets in user space).
   */
  readonly syscalls: {
    /** What `select()` and `wait()` failures name (`'select'`, `'poll'`, `'epoll_wait'`). */
    readonly wait: string;
    /** What `register()` failures name (`'fcntl'` for the open-fd check of select and poll, `'epoll_ctl'`). */
    readonly add: string;
    /** What `modify()` failures name; `null`: it makes no system call. */
    readonly modify: string | null;
    /** What `unregister()` failures name; `null`: it makes no system call. */
    readonly remove: string | null;
  };
}

const RECORDS = new Map<BackendName, BackendCapabilities>();
for (const [name, c] of Object.entries(native.capabilities) as [BackendName, BackendCapabilities][]) {
  RECORDS.set(name, Object.freeze({ ...c, syscalls: Object.freeze({ ...c.syscalls }) }));
}

/**
 * The capability record of `backend`: frozen, one per backend.
 * @throws `ERR_INVALID_ARG_VALUE` for a name that is not a backend
 * @example
 * ```ts
 * if (capabilities(sel.backend).edge) sel.register(sock, Events.IN | Events.EDGE);
 * ```
 */
export function capabilities(backend: BackendName): BackendCapabilities {
  const c = RECORDS.get(backend);
  if (c === undefined) throw invalidValue('backend', `must be one of ${BACKEND_NAMES.map((n) => `'${n}'`).join(', ')}`, backend);
  return c;
}
