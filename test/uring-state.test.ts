// select(0) reports what an fd is at the call, not what woke it. On io_uring
// a poll completion carries the mask of the wake-up that ended the poll (a
// socket's "data arrived" wake-up says IN), and under DEFER_TASKRUN that
// completion waits for the next enter: data read meanwhile, or a hang-up
// that came after the data, must not be reported from it. The backend polls
// the fds that completed once more (backend_uring.cc, Settle()); these tests
// fail if that poll is skipped, even only for sockets watched for IN/OUT,
// which the differential test (one operation, then a select, per step) does
// not catch. Runs on every backend: epoll re-polls its ready items the same
// way, and select and poll look at the fd itself.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Events, capabilities, createSelector, formatEvents, socketPair } from '@iomux/core';
import { readyMap, testBackends } from './helpers.ts';

const { IN, HUP } = Events;

for (const b of testBackends()) {
  test(`${b}: data that arrived and was read before select(0) is not reported`, () => {
    const sel = createSelector(b);
    const [a, c] = socketPair();
    try {
      sel.register(a, IN);
      assert.is(sel.select(0).length, 0, 'idle: the poll is armed');
      c.send('x'); // the wake-up: IN
      assert.ok(a.recv(16), 'the byte is read before the harvest');
      assert.is(readyMap(sel.select(0)).get(a.fileno()), undefined, 'nothing to read now');
      c.send('y');
      assert.is(readyMap(sel.select(0)).get(a.fileno()), IN, 'and new data is reported');
    } finally {
      sel.close();
      a.close();
      c.close();
    }
  });

  test(`${b}: a hang-up after the data that woke the fd is reported with it`, () => {
    const sel = createSelector(b);
    const [a, c] = socketPair();
    try {
      sel.register(a, IN);
      assert.is(sel.select(0).length, 0, 'idle: the poll is armed');
      c.send('x'); // the wake-up that ends the one-shot poll: IN
      c.close(); // the hang-up comes after it
      const want = capabilities(b).reportsHup ? IN | HUP : IN;
      const got = readyMap(sel.select(0)).get(a.fileno());
      assert.is(got, want, `${formatEvents(got ?? 0)} != ${formatEvents(want)}`);
    } finally {
      sel.close();
      a.close();
    }
  });
}

test.run();
