import { invalidType } from './errors.ts';
import { native } from './native.ts';

/**
 * Event bits, one vocabulary for every backend. The values are Linux's
 * `poll(2)`/`epoll(7)` bits, so a flag set written for one backend means the
 * same on all of them.
 *
 * - Interest bits (pass them to `register()`/`modify()`): `IN`, `PRI`, `OUT`, `RDHUP`.
 * - Always reported, never needed in the interest mask: `ERR`, `HUP`, `NVAL`
 *   (accepted there and ignored, so poll-style flag sets work unchanged).
 * - Modifiers: `ONESHOT` (report once, then disarm until `modify()`),
 *   `EDGE` (edge-triggered; epoll only), `EXCLUSIVE` (of the selectors
 *   watching one file, wake one instead of all; epoll only, from `register()`).
 *
 * Masks are unsigned 32-bit: `IN | EDGE` is negative in JavaScript and still
 * accepted; reported masks are always non-negative.
 */
export const Events = Object.freeze({
  /** Readable, or a listening socket has a connection to accept. */
  IN: 0x001,
  /** Urgent / out-of-band data (select: the exceptfds set). */
  PRI: 0x002,
  /** Writable. */
  OUT: 0x004,
  /** Error condition (always reported). */
  ERR: 0x008,
  /** Hang-up (always reported). */
  HUP: 0x010,
  /** The fd is not open (always reported). */
  NVAL: 0x020,
  /** The peer shut down its write side. */
  RDHUP: 0x2000,
  /** Report once, then disarm until `modify()`. */
  ONESHOT: 0x40000000,
  /** Edge-triggered (epoll only). */
  EDGE: 0x80000000,
  /**
   * `EPOLLEXCLUSIVE` (epoll only, set at `register()`): when several selectors
   * (typically one per Worker) watch the same file, an event wakes one or more
   * of them instead of all. Combines with `IN`, `OUT` and `EDGE` only.
   */
  EXCLUSIVE: 0x10000000,
} as const);

/** The name of one bit of {@link Events}. */
export type EventName = keyof typeof Events;

/** Readable: CPython's `selectors.EVENT_READ`, equal to `Events.IN`. */
export const EVENT_READ = Events.IN;
/** Writable: CPython's `selectors.EVENT_WRITE`, equal to `Events.OUT`. */
export const EVENT_WRITE = Events.OUT;

/** @internal Bits that express interest. */
export const INTEREST_BITS = Events.IN | Events.PRI | Events.OUT | Events.RDHUP;
/** @internal Every bit an interest mask may carry. */
export const KNOWN_BITS =
  (INTEREST_BITS | Events.ERR | Events.HUP | Events.NVAL | Events.ONESHOT | Events.EDGE | Events.EXCLUSIVE) >>> 0;

/**
 * The kernel's own constant names, for course code that reads like the
 * classic C and Python programs. `constants.poll.POLLIN === Events.IN`, and so on.
 */
export const constants = Object.freeze({
  /** `poll(2)` names. */
  poll: Object.freeze({
    /** Readable. */
    POLLIN: native.constants.POLLIN,
    /** Urgent data. */
    POLLPRI: native.constants.POLLPRI,
    /** Writable. */
    POLLOUT: native.constants.POLLOUT,
    /** Error (always reported). */
    POLLERR: native.constants.POLLERR,
    /** Hang-up (always reported). */
    POLLHUP: native.constants.POLLHUP,
    /** fd not open (always reported). */
    POLLNVAL: native.constants.POLLNVAL,
    /** Peer shut down writing. */
    POLLRDHUP: native.constants.POLLRDHUP,
  }),
  /** `epoll(7)` names. */
  epoll: Object.freeze({
    /** Readable. */
    EPOLLIN: native.constants.EPOLLIN,
    /** Urgent data. */
    EPOLLPRI: native.constants.EPOLLPRI,
    /** Writable. */
    EPOLLOUT: native.constants.EPOLLOUT,
    /** Error (always reported). */
    EPOLLERR: native.constants.EPOLLERR,
    /** Hang-up (always reported). */
    EPOLLHUP: native.constants.EPOLLHUP,
    /** Peer shut down writing. */
    EPOLLRDHUP: native.constants.EPOLLRDHUP,
    /** Report once, then disarm. */
    EPOLLONESHOT: native.constants.EPOLLONESHOT,
    /** Edge-triggered. */
    EPOLLET: native.constants.EPOLLET,
    /** Wake one of the epoll instances watching the file, not all (`Events.EXCLUSIVE`). */
    EPOLLEXCLUSIVE: native.constants.EPOLLEXCLUSIVE,
  }),
});

/** The number of fds a `select(2)` fd_set can hold (1024 on Linux). */
export const FD_SETSIZE: number = native.constants.FD_SETSIZE;

const NAMES = Object.entries(Events) as [EventName, number][];

/**
 * Renders an event mask for humans.
 *
 * @example
 * ```ts
 * formatEvents(0x11)                    // 'IN|HUP'
 * formatEvents(0)                       // '0'
 * formatEvents(Events.IN | 0x100)       // 'IN|0x100'
 * ```
 * @throws `ERR_INVALID_ARG_TYPE` if `mask` is not a number
 */
export function formatEvents(mask: number): string {
  if (typeof mask !== 'number') throw invalidType('mask', 'of type number', mask);
  let rest = mask >>> 0;
  if (rest === 0) return '0';
  const parts: string[] = [];
  for (const [name, bit] of NAMES) {
    if ((rest & bit) >>> 0 === bit) {
      parts.push(name);
      rest = (rest & ~bit) >>> 0;
    }
  }
  if (rest !== 0) parts.push(`0x${rest.toString(16)}`);
  return parts.join('|');
}
