// Shared test helpers: backends under test, fixtures that clean up after
// themselves, fd-leak checks, and readiness expectations that tolerate the
// kernel (events may take a moment to show; extra ERR/HUP bits are allowed
// where the contract allows them).
import * as assert from 'uvu/assert';
import { readdirSync } from 'node:fs';
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

/** The backends to test: all of them, or the one named by IOMUX_BACKEND. */
export function testBackends(): BackendName[] {
  const only = process.env.IOMUX_BACKEND;
  const all = backends();
  if (!only) return all;
  if (!all.includes(only as BackendName)) throw new Error(`IOMUX_BACKEND=${only} is not one of ${all.join(', ')}`);
  return [only as BackendName];
}

/** How many fds this process has open. */
export function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
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

/** Runs `body` with a Scope, closes it, and asserts no fd leaked. */
export async function withScope(body: (s: Scope) => void | Promise<void>): Promise<void> {
  const before = fdCount();
  const scope = new Scope();
  try {
    await body(scope);
  } finally {
    scope.close();
  }
  assert.is(fdCount(), before, 'fd count after the test equals the count before it');
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

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A small seeded PRNG (mulberry32): the same seed gives the same sequence, so a failing run replays. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
