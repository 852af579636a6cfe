#!/usr/bin/env node
// wait() against select(), per backend: round trips per second of a
// one-byte ping-pong over a socket pair. The far end is a worker thread doing
// blocking read/write on its fd, so every round trip really waits: select()
// blocks the main thread in the system call, wait() goes through the event
// loop (select/poll: a helper thread in the system call; epoll: io_uring runs
// the epoll_wait, or a helper thread where it cannot).
//
// And what fairness costs (FAIR_BURST): a zero-delay ping-pong inside one
// thread (send on one end, wait on the other, which is ready at call time)
// with wait() as shipped (a loop turn every FAIR_BURST results), with a loop
// turn forced after every result (setImmediate: a burst of 1), and with
// select(0) (no loop turn at all: the ceiling).
//
//   node wait.mjs [--backend epoll] [--ms 500] [--reps 3]
// Prints one JSON line per backend: {backend, select: [rt/s...], wait: [rt/s...],
// fast: { wait: [...], turnEach: [...], select0: [...] }}.
import { Worker } from 'node:worker_threads';
import { backends, createSelector, Events, socketPair } from '@iomux/core';
import { opt } from './flags.mjs';

const only = opt('--backend', null);
const ms = Number(opt('--ms', 500));
const reps = Number(opt('--reps', 3));

const echoPeer = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const b = Buffer.alloc(1);
for (;;) {
  let n;
  try { n = fs.readSync(workerData.fd, b, 0, 1, null); } catch (e) { if (e.code === 'EAGAIN') continue; break; }
  if (n === 0) break;
  fs.writeSync(workerData.fd, b, 0, 1, null);
}
`;

async function measure(backend) {
  const [a, b] = socketPair();
  a.setBlocking(false);
  const worker = new Worker(echoPeer, { eval: true, workerData: { fd: b.fileno() } });
  const sel = createSelector(backend);
  sel.register(a, Events.IN);
  const ping = Buffer.from('p');
  const rbuf = Buffer.alloc(16);
  /** @type {{ backend: string, select: number[], wait: number[], fast: { wait: number[], turnEach: number[], select0: number[] } }} */
  const result = { backend, select: [], wait: [], fast: { wait: [], turnEach: [], select0: [] } };
  try {
    const roundTripsSync = (budgetMs) => {
      const end = performance.now() + budgetMs;
      let n = 0;
      while (performance.now() < end) {
        a.send(ping);
        while (sel.select(null).length === 0);
        if (a.recvInto(rbuf) !== 1) throw new Error('lost the ping-pong');
        n++;
      }
      return n;
    };
    const roundTripsAsync = async (budgetMs) => {
      const end = performance.now() + budgetMs;
      let n = 0;
      while (performance.now() < end) {
        a.send(ping);
        while ((await sel.wait()).length === 0);
        if (a.recvInto(rbuf) !== 1) throw new Error('lost the ping-pong');
        n++;
      }
      return n;
    };
    roundTripsSync(Math.min(100, ms / 2)); // warm-up: JIT and the peer thread
    await roundTripsAsync(Math.min(100, ms / 2));
    for (let r = 0; r < reps; r++) {
      // Alternate the two so drifting machine load hits both alike.
      let t = performance.now();
      let n = roundTripsSync(ms);
      result.select.push(Math.round(n / ((performance.now() - t) / 1000)));
      t = performance.now();
      n = await roundTripsAsync(ms);
      result.wait.push(Math.round(n / ((performance.now() - t) / 1000)));
    }
    await measureFast(backend, result.fast);
  } finally {
    sel.close();
    a.close(); // the peer reads EOF and ends
    await new Promise(/** @param {(v?: unknown) => void} resolve */ (resolve) => {
      const timer = setTimeout(() => void worker.terminate().then(resolve), 2000);
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    b.close();
  }
  return result;
}

/**
 * The zero-delay ping-pong of one thread, three ways, alternated per repetition.
 * @param {import('@iomux/core').BackendName} backend
 * @param {{ wait: number[], turnEach: number[], select0: number[] }} into
 */
async function measureFast(backend, into) {
  const [a, b] = socketPair();
  a.setBlocking(false);
  b.setBlocking(false);
  const sel = createSelector(backend);
  sel.register(b, Events.IN);
  const ping = Buffer.from('p');
  const rbuf = Buffer.alloc(16);
  const turn = () => new Promise((r) => setImmediate(r));
  /**
   * Round trips for `budgetMs`, each waited for by `wait` (then `after`, if any).
   * @param {() => unknown} wait
   * @param {(() => Promise<unknown>) | null} after
   */
  const loop = (wait, after) => async (/** @type {number} */ budgetMs) => {
    const end = performance.now() + budgetMs;
    let n = 0;
    for (; performance.now() < end; n++) {
      a.send(ping);
      await wait();
      b.recvInto(rbuf);
      if (after) await after();
    }
    return n;
  };
  /** @type {Record<string, (budgetMs: number) => Promise<number>>} */
  const ways = {
    wait: loop(() => sel.wait(), null),
    turnEach: loop(() => sel.wait(), turn),
    select0: loop(() => sel.select(0), null),
  };
  try {
    for (const way of Object.values(ways)) await way(Math.min(100, ms / 2)); // warm-up
    for (let r = 0; r < reps; r++) {
      for (const [name, way] of Object.entries(ways)) {
        const t = performance.now();
        const n = await way(ms / 2);
        into[/** @type {'wait' | 'turnEach' | 'select0'} */ (name)].push(Math.round(n / ((performance.now() - t) / 1000)));
      }
    }
  } finally {
    sel.close();
    a.close();
    b.close();
  }
}

for (const backend of only ? [only] : backends()) {
  process.stdout.write(JSON.stringify(await measure(backend)) + '\n');
}
