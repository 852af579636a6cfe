// A selector dropped without close() gives its kernel object back when it is
// garbage-collected, even after it was used for wait().
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Events, createSelector, socketPair } from '@iomux/core';
import { newFds, openFds, sleep, testBackends } from './helpers.ts';

const gc = (globalThis as { gc?: () => void }).gc;

async function collect(until: () => boolean): Promise<boolean> {
  for (let i = 0; i < 40 && !until(); i++) {
    gc!();
    await sleep(10); // N-API finalizers run after the GC, from the event loop
  }
  return until();
}

for (const b of testBackends()) {
  test(`${b}: an unclosed selector that did wait() is released by the GC`, async () => {
    assert.ok(gc, 'run with --expose-gc (pnpm test does)');
    const [a, c] = socketPair();
    try {
      const before = openFds();
      await (async () => {
        const sel = createSelector(b);
        sel.register(a, Events.IN);
        setTimeout(() => c.send('x'), 5);
        assert.is((await sel.wait({ timeoutMs: 2000 })).length, 1); // an armed wait
        assert.is((await sel.wait({ timeoutMs: 10 })).length, 1);
        a.recv(10);
        assert.equal(await sel.wait({ timeoutMs: 10 }), []); // armed, then timed out
      })();
      assert.ok(newFds(before).size > 0, 'the selector holds a kernel object or waker');
      assert.ok(await collect(() => newFds(before).size === 0), `fds still open: ${[...newFds(before).values()].join(', ')}`);
    } finally {
      a.close();
      c.close();
    }
  });
}

test.run();
