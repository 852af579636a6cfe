/**
 * The only module that loads the addon. Every native export is typed here;
 * the rest of the package imports from this file, never from the addon.
 * @internal
 * @module
 */
import addon from '@iomux/native';
import type { BackendName } from './registry.ts';

/**
 * What a native wait reports: an errno (0: fine), whether its deadline passed, and how many
 * (fd, events) pairs it wrote to the result buffer (-1: none; collect them with `select(0)`).
 */
export type WaitCallback = (errno: number, timedOut: boolean, count: number) => void;

/** One backend's capability record, as the addon describes it. */
export interface NativeCapabilities {
  backend: BackendName;
  maxFd: number;
  edge: boolean;
  exclusive: boolean;
  nativeOneshot: boolean;
  rdhupNeedsIn: boolean;
  reportsHup: boolean;
  reportsClosedFd: boolean;
  keepsClosedFdOpen: boolean;
  pollableKernelFd: boolean;
  waitOnThread: boolean;
  waitInLoop: boolean;
  watchesEmptyMask: boolean;
  watchesRegularFiles: boolean;
  syscalls: { wait: string; add: string; modify: string | null; remove: string | null };
}

/** (fd, events) pairs are written into an Int32Array owned by JS. */
export interface NativeSelector {
  add(fd: number, events: number): void;
  modify(fd: number, events: number): void;
  remove(fd: number): void;
  /** Waits (timeoutMs < 0: forever) and returns how many pairs it wrote. */
  select(timeoutMs: number): number;
  setBuffer(buffer: Int32Array): void;
  /**
   * Starts a wait until `timeoutMs` from now (< 0: forever): calls
   * `callback(errno, timedOut, count)` once, on the JS thread, when something is
   * ready, the deadline passed, or the wait failed.
   */
  arm(callback: WaitCallback, timeoutMs: number): void;
  /** Continues the current wait (same deadline) after a wake-up that found nothing. */
  rearm(callback: WaitCallback): void;
  disarm(): void;
  close(): void;
  /** The cross-thread waker's id (created on first call). */
  waker(): bigint;
  readonly kernelFd: number;
  /** The batch pass's memory and its layout (see batch.ts). */
  batchMemory(memory: ArrayBuffer, readyCap: number, sendCap: number, ioOffset: number, recvBytes: number, ioBytes: number): void;
  /** Bytes to recv when `fd` is reported (0: none). */
  batchRecv(fd: number, maxBytes: number): void;
  /** One pass on half `parity`: flush `nSends` send records, wait, recv; returns the ready records written. */
  batchRun(timeoutMs: number, nSends: number, parity: number): number;
}

export type NativeAddress = { host: string; port: number } | { path: string };

export interface NativeSocketApi {
  socket(family: number, type: number): number;
  socketPair(type?: number): [number, number];
  setIntOption(fd: number, level: number, name: number, value: number): void;
  getIntOption(fd: number, level: number, name: number): number;
  setLinger(fd: number, seconds: number): void;
  bind(fd: number, family: number, hostOrPath: string, port: number): void;
  listen(fd: number, backlog: number): void;
  connect(fd: number, family: number, hostOrPath: string, port: number): boolean;
  accept(fd: number): [number, NativeAddress] | null;
  recv(fd: number, maxBytes: number): Buffer | null;
  recvInto(fd: number, buf: Uint8Array): number | null;
  recvFrom(fd: number, maxBytes: number): [Buffer, NativeAddress] | null;
  send(fd: number, data: Uint8Array): number | null;
  sendTo(fd: number, data: Uint8Array, family: number, hostOrPath: string, port: number): number | null;
  shutdown(fd: number, how: number): void;
  localAddress(fd: number): NativeAddress;
  remoteAddress(fd: number): NativeAddress;
  constants: Record<
    | 'SOL_SOCKET' | 'SO_REUSEADDR' | 'SO_REUSEPORT' | 'SO_ERROR' | 'SO_SNDBUF' | 'SO_RCVBUF'
    | 'IPPROTO_TCP' | 'TCP_NODELAY' | 'SHUT_RD' | 'SHUT_WR' | 'SHUT_RDWR',
    number
  >;
}

/** The batch memory's layout, declared once in packages/native/src/batch.h. */
export interface NativeBatchLayout {
  readyStride: number;
  readyFd: number;
  readyEvents: number;
  readyResult: number;
  readyAux: number;
  sendStride: number;
  sendFd: number;
  sendOffset: number;
  sendLength: number;
  sendResult: number;
  sendErrno: number;
  results: Record<'NONE' | 'AGAIN' | 'ERROR' | 'NO_ROOM' | 'SKIPPED' | 'CANCELLED', number>;
}

export interface NativeAddon {
  batchLayout: NativeBatchLayout;
  NativeSelector: new (backend: string) => NativeSelector;
  capabilities: Record<BackendName, NativeCapabilities>;
  /** The backend registry, in order: each name, and why it cannot run here (null: it can). */
  backends: { name: BackendName; available: boolean; reason: string | null }[];
  setErrorFactory(
    factory: (errno: number, syscall: string, fd?: number, hostname?: string) => Error,
  ): void;
  raiseFdLimit(want?: number): number;
  /** pipe2(O_CLOEXEC), with O_NONBLOCK on both ends if `nonBlocking`. */
  pipe(nonBlocking?: boolean): [number, number];
  /** Sets or clears O_NONBLOCK (fcntl F_GETFL/F_SETFL). */
  setBlocking(fd: number, blocking: boolean): void;
  /** Whether O_NONBLOCK is clear. */
  getBlocking(fd: number): boolean;
  closeFd(fd: number): void;
  /** Wakes the selector whose waker has this id; false if it is closed. */
  wake(id: bigint): boolean;
  /** [SO_DOMAIN, SO_TYPE, O_NONBLOCK set] of a socket fd. */
  socketInfo(fd: number): [domain: number, type: number, nonBlocking: boolean];
  /** Worker threads: the fd of an owned Socket, closed if the Worker exits first. */
  trackFd(fd: number): void;
  untrackFd(fd: number): void;
  constants: Record<
    | 'POLLIN' | 'POLLPRI' | 'POLLOUT' | 'POLLERR' | 'POLLHUP' | 'POLLNVAL' | 'POLLRDHUP'
    | 'EPOLLIN' | 'EPOLLPRI' | 'EPOLLOUT' | 'EPOLLERR' | 'EPOLLHUP' | 'EPOLLRDHUP'
    | 'EPOLLONESHOT' | 'EPOLLET' | 'EPOLLEXCLUSIVE' | 'FD_SETSIZE'
    | 'AF_INET' | 'AF_INET6' | 'AF_UNIX' | 'SOCK_STREAM' | 'SOCK_DGRAM',
    number
  >;
  socket: NativeSocketApi;
}

/**
 * The loaded addon. A default import of the CommonJS package, so the same
 * source compiles to the ESM build (dist/) and the CommonJS one (dist/cjs/).
 */
export const native = addon as NativeAddon;
