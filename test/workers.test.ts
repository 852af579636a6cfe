// worker_threads: every Worker loads the addon for itself, and a Worker that
// exits mid-wait releases its kernel objects and threads.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { backends, socketPair } from '@iomux/core';
import { assertNoNewFds, newFds, openFds } from './helpers.ts';

const coreUrl = import.meta.resolve('@iomux/core');

// A Worker that waits on `fds` with every backend, reports 'waiting', and
// then either ping-pongs (mode 'work') or just waits forever.
function startWorker(mode: 'work' | 'wait-forever' | 'exit-while-waiting', fds: number[]): Worker {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.coreUrl).then(async ({ createSelector, backends, Events }) => {
      const { fds, mode } = workerData;
      const sels = backends().map((b) => createSelector(b));
      for (const sel of sels) for (const fd of fds) sel.register(fd, Events.IN);
      if (mode === 'work') {
        const results = [];
        for (const sel of sels) {
          const ready = await sel.wait({ timeoutMs: 5000 });
          results.push([sel.backend, ready.map(([k, e]) => [k.fd, e])]);
          sel.close();
        }
        parentPort.postMessage({ results });
        return;
      }
      const pending = sels.map((sel) => sel.wait());
      parentPort.postMessage('waiting');
      if (mode === 'exit-while-waiting') setTimeout(() => process.exit(0), 20);
      await Promise.all(pending);
    });`;
  return new Worker(code, { eval: true, workerData: { coreUrl, fds, mode } });
}

const message = (w: Worker) => new Promise<unknown>((resolve, reject) => {
  w.once('message', resolve);
  w.once('error', reject);
});
const exited = (w: Worker) => new Promise<number>((resolve) => w.once('exit', resolve));

test('two Workers each load the addon and wait on every backend', async () => {
  const [a, b] = socketPair();
  try {
    b.send('x'); // a stays readable: every backend in every worker reports it
    const workers = [startWorker('work', [a.fileno()]), startWorker('work', [a.fileno()])];
    const exits = workers.map(exited); // listen now: a Worker may exit before we get to it
    const got = (await Promise.all(workers.map(message))) as { results: [string, [number, number][]][] }[];
    assert.equal(await Promise.all(exits), [0, 0]);
    for (const { results } of got) {
      assert.equal(results.map(([name]) => name), backends());
      for (const [, ready] of results) assert.equal(ready, [[a.fileno(), 1]]);
    }
  } finally {
    a.close();
    b.close();
  }
});

for (const how of ['terminate', 'process.exit'] as const) {
  test(`a Worker that ends (${how}) during pending waits does not crash and releases its fds`, async () => {
    const [a, b] = socketPair();
    try {
      const before = openFds();
      const w = startWorker(how === 'terminate' ? 'wait-forever' : 'exit-while-waiting', [a.fileno()]);
      const exit = exited(w);
      assert.is(await message(w), 'waiting');
      assert.ok(newFds(before).size > 0, 'the worker holds kernel objects while waiting');
      if (how === 'terminate') await w.terminate();
      else assert.is(await exit, 0);
      // Worker teardown is asynchronous; give it a moment to finish.
      await assertNoNewFds(before, 'the worker (epoll fds, eventfds)', 1000);
      b.send('still alive');
      assert.is(a.recv(100)?.toString(), 'still alive');
    } finally {
      a.close();
      b.close();
    }
  });
}

test.run();
