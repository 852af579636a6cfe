#!/usr/bin/env node
// wait() against select(), per backend (issue 3): round trips per second of a
// one-byte ping-pong over a socket pair. The far end is a worker thread doing
// blocking read/write on its fd, so every round trip really waits: select()
// blocks the main thread in the system call, wait() goes through the event
// loop (epoll: libuv watches the epoll fd; select/poll: a helper thread).
//
//   node wait.mjs [--backend epoll] [--ms 500] [--reps 3]
// Prints one JSON line per backend: {backend, select: [rt/s...], wait: [rt/s...]}.
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
  /** @type {{ backend: string, select: number[], wait: number[] }} */
  const result = { backend, select: [], wait: [] };
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

for (const backend of only ? [only] : backends()) {
  process.stdout.write(JSON.stringify(await measure(backend)) + '\n');
}
