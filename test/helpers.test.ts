// The test helpers' own checks must be able to fail: a leak check that cannot
// see a leak, or that sees one where there is none, makes every test that
// uses it meaningless.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, openSync } from 'node:fs';
import { pipe, socketPair } from '@iomux/core';
import { assertNoNewFds, assertNoNewFdsNow, mulberry32, newFds, openFds, withScope } from './helpers.ts';

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

test('withScope fails a test that leaks an fd, and names it', async () => {
  let leaked: number[] = [];
  const err = await rejection(
    withScope(() => {
      leaked = pipe();
    }),
  );
  for (const fd of leaked) closeSync(fd);
  assert.match(err.message, new RegExp(`fds the test left open: .*${leaked[0]} -> pipe:\\[\\d+\\]`));
});

test('withScope fails a test that leaks a socket it did not register with the scope', async () => {
  let pair: ReturnType<typeof socketPair> | undefined;
  const err = await rejection(
    withScope(() => {
      pair = socketPair();
    }),
  );
  for (const s of pair!) s.close();
  assert.match(err.message, /socket:\[\d+\]/);
});

test('withScope passes a test that closes everything, and one that closes an fd it did not open', async () => {
  await withScope((s) => {
    s.pair();
    const [r, w] = pipe();
    closeSync(r);
    closeSync(w);
  });
  const older = openSync('/dev/null', 'r');
  await withScope(() => closeSync(older)); // an fd that went away is no leak (Node closes its own, too)
});

test('a number reused by another file counts as new', () => {
  const fd = openSync('/dev/null', 'r');
  const before = openFds();
  closeSync(fd);
  const [a, b] = socketPair(); // takes the lowest free number: fd
  try {
    assert.is(a.fileno(), fd, 'the socket reuses the number');
    const added = newFds(before);
    assert.ok(added.has(fd), 'reported by number and target');
    let failed = false;
    try {
      assertNoNewFdsNow(before);
    } catch (err) {
      failed = /left open: .*socket:/.test((err as Error).message);
    }
    assert.ok(failed, 'the leak check fails on it');
  } finally {
    a.close();
    b.close();
  }
  assertNoNewFdsNow(before);
});

test('an fd that the runtime closes soon after the test is not a leak (grace period)', async () => {
  const before = openFds();
  const fd = openSync('/dev/null', 'r');
  setTimeout(() => closeSync(fd), 50);
  await assertNoNewFds(before, 'the test', 1000);
});

test('mulberry32: the same seed gives the same sequence, in [0, 1)', () => {
  const a = mulberry32(42);
  const b = mulberry32(42);
  const xs = Array.from({ length: 1000 }, () => a());
  assert.equal(
    xs,
    Array.from({ length: 1000 }, () => b()),
  );
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  assert.not.equal(xs.slice(0, 10), Array.from({ length: 10 }, mulberry32(43)));
});

test.run();
