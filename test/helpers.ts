// Shared test helpers: backends under test, fixtures that clean up after
// themselves, fd-leak checks, and readiness expectations that tolerate the
// kernel (events may take a moment to show; extra ERR/HUP bits are allowed
// where the contract allows them).
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { newFds as setDifference, procFds } from '../scripts/lib/child.mjs';
import {
  backends,
  createSelector,
  formatEvents,
  socketPair,
  type BackendName,
  type Ready,
  type Selector,
  type Socket,
} from '@iomux/core';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The backends to test: all of them, or the one named by IOMUX_BACKEND. */
export function testBackends(): BackendName[] {
  const only = process.env.IOMUX_BACKEND;
  const all = backends();
  if (!only) return all;
  if (!all.includes(only as BackendName)) throw new Error(`IOMUX_BACKEND=${only} is not one of ${all.join(', ')}`);
  return [only as BackendName];
}

/** The link target of one of our fds ("socket:[123]", "pipe:[45]", a path), or null once it is closed. */
export function fdTarget(fd: number): string | null {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}

/** This process's threads (its tasks in /proc). */
export const threadCount = (): number => readdirSync('/proc/self/task').length;

/** This process's open fds, each with its link target. */
export function openFds(): Map<number, string> {
  return procFds('self');
}

/**
 * The fds in `after` (default: now) that `before` did not hold: a new number,
 * or a number that now names another file. Fds that were closed meanwhile do
 * not count, so the runtime closing one of its own (a Worker's loop, a
 * child's stdio pipe) cannot hide a leak or fake one.
 */
export function newFds(before: ReadonlyMap<number, string>, after: ReadonlyMap<number, string> = openFds()): Map<number, string> {
  return setDifference(before, after);
}

const describeFds = (m: ReadonlyMap<number, string>) => [...m].map(([fd, t]) => `${fd} -> ${t}`).join(', ');

/**
 * Asserts that every fd opened since the `before` snapshot was closed. Node
 * opens fds of its own now and then (a child's stdio pipes until 'close', a
 * Worker's loop while it shuts down), so a new fd gets up to `graceMs` to go
 * away before it counts as leaked; an fd the test leaked stays, and fails it.
 */
export async function assertNoNewFds(before: ReadonlyMap<number, string>, what = 'the test', graceMs = 500): Promise<void> {
  const end = performance.now() + graceMs;
  let added = newFds(before);
  while (added.size > 0 && performance.now() < end) {
    await sleep(10);
    added = newFds(before);
  }
  assert.is(added.size, 0, `fds ${what} left open: ${describeFds(added)}`);
}

/** Like {@link assertNoNewFds}, for synchronous tests: no grace period, the runtime gets no turn to close anything. */
export function assertNoNewFdsNow(before: ReadonlyMap<number, string>, what = 'the test'): void {
  const added = newFds(before);
  assert.is(added.size, 0, `fds ${what} left open: ${describeFds(added)}`);
}

/**
 * Whether `fd` (of this process, or of process `pid`) has FD_CLOEXEC:
 * fdinfo's "flags:" field is octal, and O_CLOEXEC (02000000) stands for the bit.
 */
export function isCloexec(fd: number, pid: number | 'self' = 'self'): boolean {
  const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
  assert.ok(flags, `fdinfo of fd ${fd} has a flags field`);
  return (parseInt(flags[1]!, 8) & 0o2000000) !== 0;
}

/**
 * The link targets of the fds an exec()ed child holds: what this process
 * leaks into the programs it runs. `handOver` fds are passed on purpose, as
 * the child's fds 3, 4, … (the negative control).
 */
export async function childFdTargets(handOver: number[] = []): Promise<string[]> {
  const child = spawn('/bin/ls', ['-l', '/proc/self/fd'], { stdio: ['ignore', 'pipe', 'inherit', ...handOver] });
  let out = '';
  // stdio[1] is 'pipe'; the spread of handOver makes the type forget it.
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await new Promise<number | null>((r) => child.once('close', r));
  assert.is(code, 0, 'ls of the child fds');
  return out
    .split('\n')
    .map((l) => / \d+ -> (.*)$/.exec(l)?.[1])
    .filter((x): x is string => x !== undefined);
}

/** Things to close at the end of a test. */
export class Scope {
  #items: { close(): void }[] = [];
  add<X extends { close(): void }>(x: X): X {
    this.#items.push(x);
    return x;
  }
  selector<T = unknown>(backend: BackendName): ReturnType<typeof createSelector<T>> {
    return this.add(createSelector<T>(backend));
  }
  /**
   * An fd of /proc/sys/kernel/hostname, closed with the scope: a file whose
   * poll reports a change to the first poll only, so select and poll wait
   * for it on their thread (not in the loop).
   */
  reportOnceFile(): number {
    const fd = openSync('/proc/sys/kernel/hostname', 'r');
    this.add({ close: () => closeSync(fd) });
    return fd;
  }
  pair(): [Socket, Socket] {
    const [a, b] = socketPair();
    this.add(a);
    this.add(b);
    return [a, b];
  }
  close(): void {
    for (const x of this.#items.splice(0).reverse()) {
      try {
        x.close();
      } catch {
        // best effort: the test already failed or closed it itself
      }
    }
  }
}

/** Runs `body` with a Scope, closes it, and asserts that every fd the test opened was closed. */
export async function withScope(body: (s: Scope) => void | Promise<void>): Promise<void> {
  const before = openFds();
  const scope = new Scope();
  try {
    await body(scope);
  } finally {
    scope.close();
  }
  await assertNoNewFds(before);
}

/** fd → events for one select() call. */
export function readyMap<T>(ready: Ready<T>[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const [key, ev] of ready) {
    assert.not.ok(m.has(key.fd), `fd ${key.fd} reported twice in one call`);
    m.set(key.fd, ev);
  }
  return m;
}

/**
 * Selects until `fd` reports all of `want` (retrying briefly: loopback
 * delivery is not instantaneous) and returns the events it reported.
 * Bits outside `want` are allowed unless listed in `forbid`.
 */
export function expectEvents<T>(sel: Selector<T>, fd: number, want: number, forbid = 0, timeoutMs = 2000): number {
  const end = Date.now() + timeoutMs;
  let last: number | undefined;
  do {
    const got = readyMap(sel.select(50)).get(fd);
    if (got !== undefined) {
      last = got;
      if ((got & want) === want) {
        assert.is(got & forbid, 0, `fd ${fd} reported forbidden bits: ${formatEvents(got)}`);
        return got;
      }
    }
  } while (Date.now() < end);
  assert.unreachable(`fd ${fd}: wanted ${formatEvents(want)}, last saw ${last === undefined ? 'nothing' : formatEvents(last)}`);
  return 0;
}

/** Asserts that a short select() reports nothing for `fd` (or nothing at all). */
export function expectNoEvents<T>(sel: Selector<T>, fd?: number, timeoutMs = 30): void {
  const ready = readyMap(sel.select(timeoutMs));
  if (fd === undefined) assert.is(ready.size, 0, `expected no events, got ${[...ready].map(([f, e]) => `(${f}, ${formatEvents(e)})`).join(' ')}`);
  else assert.not.ok(ready.has(fd), `expected no events for fd ${fd}, got ${formatEvents(ready.get(fd) ?? 0)}`);
}

/** Asserts `fn` throws an error with `code` (and of class `cls`, if given). */
export function throwsCode(fn: () => unknown, code: string, cls?: new (...a: never[]) => Error): Error {
  try {
    fn();
  } catch (err) {
    assert.instance(err, Error);
    assert.is((err as { code?: unknown }).code, code, `error code (message: ${(err as Error).message})`);
    if (cls) assert.instance(err, cls);
    return err as Error;
  }
  assert.unreachable(`expected an error with code ${code}`);
  throw new Error('unreachable');
}

/** Asserts a promise rejects with `code`. */
export async function rejectsCode(p: Promise<unknown>, code: string): Promise<Error> {
  try {
    await p;
  } catch (err) {
    assert.is((err as { code?: unknown }).code, code, `rejection code (message: ${(err as Error).message})`);
    return err as Error;
  }
  assert.unreachable(`expected a rejection with code ${code}`);
  throw new Error('unreachable');
}

/** Fills a non-blocking socket's send buffer; returns how many bytes it took. */
export function fillSendBuffer(sock: Socket): number {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let total = 0;
  for (;;) {
    const n = sock.send(chunk);
    if (n === null) return total;
    total += n;
  }
}


/** The seeded PRNG and byte pattern live with the scripts, which use them too. */
export { mulberry32, patternBytes } from '../scripts/lib/random.mjs';
