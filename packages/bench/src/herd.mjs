// The thundering herd, counted (the herd test and `pnpm bench --only workers`
// share this): one listening socket watched by `workers` EpollSelectors, one
// per Worker, each blocked in select(). Connections arrive one at a time, each
// only once every Worker is blocked again, so each one meets a full herd.
//
// Counted per Worker: `sleeps`, its thread's voluntary context switches (from
// /proc/thread-self/status), i.e. every time the kernel woke it, including
// wake-ups after which epoll_wait() found the connection taken and slept again
// without returning to JavaScript; `wakeups`, how often select() returned with
// the listener ready; `accepted`; `empty`, accept() calls that found nothing.
import * as net from 'node:net';
import { Worker } from 'node:worker_threads';
import { Events, Socket, Waker } from '@iomux/core';

const coreUrl = import.meta.resolve('@iomux/core');
const STRIDE = 5; // [blocked, wakeups, accepted, empty, sleeps]
const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/**
 * @param {{ exclusive: boolean, workers: number, connections: number }} opts
 * @returns {Promise<{ sleeps: number[], wakeups: number[], accepted: number[], empty: number[] }>}
 */
export async function herd({ exclusive, workers, connections }) {
  const listener = new Socket('inet', 'stream');
  listener.bind({ host: '127.0.0.1', port: 0 });
  listener.listen(128);
  listener.setBlocking(false);
  const { port } = /** @type {{ port: number }} */ (listener.localAddress());
  // slot 0: stop; then STRIDE slots per Worker
  const shared = new Int32Array(new SharedArrayBuffer(4 * (1 + STRIDE * workers)));
  /** @type {Worker[]} */
  const threads = [];
  /** @type {Waker[]} */
  const wakers = [];
  const slot = (/** @type {number} */ i, /** @type {number} */ k) => 1 + STRIDE * i + k;
  try {
    for (let i = 0; i < workers; i++) {
      const w = new Worker(
        `const { parentPort, workerData } = require('node:worker_threads');
         const { readFileSync } = require('node:fs');
         const switches = () => Number(/voluntary_ctxt_switches:[ \\t]+([0-9]+)/.exec(readFileSync('/proc/thread-self/status', 'utf8'))[1]);
         import(workerData.coreUrl).then(({ EpollSelector, Socket }) => {
           const { fd, events, shared, base } = workerData;
           const sel = new EpollSelector();
           const listener = Socket.fromFd(fd, { owned: false });
           sel.register(listener, events);
           parentPort.postMessage(sel.waker());
           const s0 = switches();
           while (Atomics.load(shared, 0) === 0) {
             Atomics.store(shared, base, 1);            // about to block
             const ready = sel.select(null);
             Atomics.store(shared, base, 0);
             if (ready.length === 0) continue;          // the Waker: stop
             Atomics.add(shared, base + 1, 1);
             const got = listener.accept();
             if (got === null) Atomics.add(shared, base + 3, 1);
             else { got[0].close(); Atomics.add(shared, base + 2, 1); }
           }
           Atomics.store(shared, base + 4, switches() - s0 - 1); // less the stop wake-up
           sel.close();
         });`,
        {
          eval: true,
          workerData: { coreUrl, fd: listener.fileno(), events: exclusive ? Events.IN | Events.EXCLUSIVE : Events.IN, shared, base: slot(i, 0) },
        },
      );
      threads.push(w);
      const handle = await new Promise((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      });
      wakers.push(Waker.from(/** @type {{ id: bigint }} */ (handle)));
    }
    const allBlocked = () => {
      for (let i = 0; i < workers; i++) if (Atomics.load(shared, slot(i, 0)) !== 1) return false;
      return true;
    };
    const totalAccepted = () => {
      let n = 0;
      for (let i = 0; i < workers; i++) n += Atomics.load(shared, slot(i, 2));
      return n;
    };
    /** @type {net.Socket[]} */
    const clients = [];
    for (let c = 0; c < connections; c++) {
      // Every Worker back in select(), and a moment more to be inside epoll_wait().
      for (let k = 0; k < 2000 && !allBlocked(); k++) await sleep(1);
      await sleep(5);
      const sock = net.connect({ host: '127.0.0.1', port });
      sock.on('error', () => {});
      clients.push(sock);
      for (let k = 0; k < 5000 && totalAccepted() <= c; k++) await sleep(1);
    }
    for (const s of clients) s.destroy();
    Atomics.store(shared, 0, 1);
    for (const w of wakers) w.wake();
    await Promise.all(threads.map((w) => new Promise((r) => w.once('exit', r))));
    const pick = (/** @type {number} */ k) => Array.from({ length: workers }, (_, i) => /** @type {number} */ (shared[slot(i, k)]));
    return { wakeups: pick(1), accepted: pick(2), empty: pick(3), sleeps: pick(4) };
  } finally {
    Atomics.store(shared, 0, 1);
    for (const w of wakers) w.wake();
    await Promise.all(threads.map((w) => w.terminate()));
    listener.close();
  }
}
