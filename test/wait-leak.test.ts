// 100,000 wait() calls leave the fd count and RSS flat, on every backend.
// The figures are printed for the record; the bounds are generous on purpose
// (RSS moves with the GC's mood), but a leak per call would blow through them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Events, createSelector, socketPair } from '@iomux/core';
import { newFds, openFds, testBackends } from './helpers.ts';

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const rssMiB = () => {
  gc();
  return process.memoryUsage().rss / 2 ** 20;
};

for (const b of testBackends()) {
  test(`${b}: 100,000 waits on a ready fd, then 20,000 armed waits, leak no fds or memory`, async () => {
    const sel = createSelector(b);
    const [a, c] = socketPair();
    try {
      a.setBlocking(false);
      sel.register(a, Events.IN);
      c.send('x');
      // Warm up both paths (the first armed wait creates the waker eventfd
      // and thread of select/poll, which then live as long as the selector).
      for (let i = 0; i < 2000; i++) await sel.wait();
      a.recv(10);
      for (let i = 0; i < 100; i++) {
        setImmediate(() => c.send('y'));
        await sel.wait();
        a.recv(10);
      }
      c.send('x');
      const fds0 = openFds();
      const rss0 = rssMiB();
      for (let i = 0; i < 100_000; i++) {
        const ready = await sel.wait();
        if (ready.length !== 1) assert.unreachable(`wait ${i} returned ${ready.length} results`);
      }
      const fds1 = newFds(fds0);
      const rss1 = rssMiB();
      // Armed waits: the fd becomes ready only after the wait is pending,
      // so each goes through libuv (epoll) or the wait thread (select, poll).
      a.recv(10);
      for (let i = 0; i < 20_000; i++) {
        setImmediate(() => c.send('y'));
        const ready = await sel.wait();
        if (ready.length !== 1) assert.unreachable(`armed wait ${i} returned ${ready.length} results`);
        a.recv(10);
      }
      const fds2 = newFds(fds0);
      const rss2 = rssMiB();
      console.log(
        `${b}: fds ${fds0.size}, new after the waits: ${fds1.size}, ${fds2.size}; RSS ${rss0.toFixed(1)} -> ${rss1.toFixed(1)} -> ${rss2.toFixed(1)} MiB`,
      );
      assert.equal([...fds1.values()], [], 'no fd left open by 100,000 waits');
      assert.equal([...fds2.values()], [], 'no fd left open by 20,000 armed waits');
      assert.ok(rss1 - rss0 < 48, `RSS grew ${(rss1 - rss0).toFixed(1)} MiB over 100,000 waits`);
      assert.ok(rss2 - rss0 < 48, `RSS grew ${(rss2 - rss0).toFixed(1)} MiB over the armed waits`);
    } finally {
      sel.close();
      a.close();
      c.close();
    }
  });
}

test.run();
