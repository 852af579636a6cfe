// The thundering herd, counted: one listening socket watched by several
// EpollSelectors, one per Worker, each blocked in select(). Connections come
// one at a time, each only once every Worker is blocked again. Without
// EXCLUSIVE every waiter is woken for each connection; with it the kernel
// wakes one (it promises "one or more"), and every connection is still
// accepted. Counted: how often each thread was woken (its voluntary context
// switches), how often select() returned with the listener ready, and what
// accept() then got (a connection, or null: a wake-up for nothing).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as net from 'node:net';
import { Worker } from 'node:worker_threads';
import { Events, Socket, Waker } from '@iomux/core';
import { sleep, testBackends } from './helpers.ts';

const coreUrl = import.meta.resolve('@iomux/core');
const WORKERS = 4;
const CONNECTIONS = 40;

// Per worker, in an Int32Array: [blocked, wakeups, accepted, emptyAccepts,
// sleeps]; slot 0 of the array: stop. `sleeps` counts the thread's voluntary
// context switches (from /proc/thread-self/status) over the run: every time
// the kernel woke it, including wake-ups after which epoll_wait() found
// nothing and slept again without returning to JavaScript.
const STRIDE = 5;

interface HerdCounts {
  sleeps: number[];
  wakeups: number[];
  accepted: number[];
  empty: number[];
}

async function herd(exclusive: boolean, workers = WORKERS, connections = CONNECTIONS): Promise<HerdCounts> {
  const listener = new Socket('inet', 'stream');
  listener.bind({ host: '127.0.0.1', port: 0 });
  listener.listen(128);
  listener.setBlocking(false);
  const { port } = listener.localAddress() as { port: number };
  const shared = new Int32Array(new SharedArrayBuffer(4 * (1 + STRIDE * workers)));
  const threads: Worker[] = [];
  const wakers: Waker[] = [];
  try {
    for (let i = 0; i < workers; i++) {
      const w = new Worker(
        `const { parentPort, workerData } = require('node:worker_threads');
         const { readFileSync } = require('node:fs');
         const switches = () => Number(/voluntary_ctxt_switches:[ \t]+([0-9]+)/.exec(readFileSync('/proc/thread-self/status', 'utf8'))[1]);
         import(workerData.coreUrl).then(({ EpollSelector, Events, Socket }) => {
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
             if (ready.length === 0) continue;          // the waker (stop)
             Atomics.add(shared, base + 1, 1);          // woken for the listener
             const got = listener.accept();
             if (got === null) Atomics.add(shared, base + 3, 1);
             else { got[0].close(); Atomics.add(shared, base + 2, 1); }
           }
           Atomics.store(shared, base + 4, switches() - s0 - 1); // less the stop wake-up
           sel.close();
         });`,
        { eval: true, workerData: { coreUrl, fd: listener.fileno(), events: exclusive ? Events.IN | Events.EXCLUSIVE : Events.IN, shared, base: 1 + STRIDE * i } },
      );
      threads.push(w);
      wakers.push(Waker.from(await new Promise<Waker>((r, j) => (w.once('message', r), w.once('error', j)))));
    }
    const allBlocked = () => {
      for (let i = 0; i < workers; i++) if (Atomics.load(shared, 1 + STRIDE * i) !== 1) return false;
      return true;
    };
    const totalAccepted = () => {
      let n = 0;
      for (let i = 0; i < workers; i++) n += Atomics.load(shared, 1 + STRIDE * i + 2);
      return n;
    };
    const clients: net.Socket[] = [];
    for (let c = 0; c < connections; c++) {
      // Every Worker back in select() (and a moment more to be inside epoll_wait).
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
    const pick = (k: number) => Array.from({ length: workers }, (_, i) => shared[1 + STRIDE * i + k]!);
    return { wakeups: pick(1), accepted: pick(2), empty: pick(3), sleeps: pick(4) };
  } finally {
    Atomics.store(shared, 0, 1);
    for (const w of wakers) w.wake();
    await Promise.all(threads.map((w) => w.terminate()));
    listener.close();
  }
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

if (testBackends().includes('epoll')) {
  test(`epoll: ${WORKERS} Workers blocked on one listener, ${CONNECTIONS} connections: EXCLUSIVE cuts the wake-ups, every connection is accepted`, async () => {
    const plain = await herd(false);
    const excl = await herd(true);
    const line = (name: string, r: HerdCounts) =>
      `${name}: select() returns ${(sum(r.wakeups) / CONNECTIONS).toFixed(2)}/connection (per worker ${r.wakeups.join('/')}), ` +
      `thread wake-ups ${(sum(r.sleeps) / CONNECTIONS).toFixed(2)}/connection (${r.sleeps.join('/')}), accepted ${r.accepted.join('/')}, empty accepts ${sum(r.empty)}`;
    console.log(`  ${line('plain    ', plain)}\n  ${line('EXCLUSIVE', excl)}`);
    assert.is(sum(plain.accepted), CONNECTIONS, 'plain: every connection accepted');
    assert.is(sum(excl.accepted), CONNECTIONS, 'EXCLUSIVE: every connection accepted');
    // Without EXCLUSIVE the herd: the kernel wakes every blocked thread for
    // each connection (most then find it taken and sleep again inside
    // epoll_wait, so how many of them return to JavaScript is up to the
    // scheduler; the thread wake-ups are the herd itself).
    assert.ok(sum(plain.sleeps) >= 2 * CONNECTIONS, `plain: ${sum(plain.sleeps)} thread wake-ups for ${CONNECTIONS} connections`);
    // With it: fewer, about one per connection ("one or more", so not exactly).
    assert.ok(sum(excl.sleeps) < sum(plain.sleeps) / 2, `EXCLUSIVE ${sum(excl.sleeps)} vs plain ${sum(plain.sleeps)} thread wake-ups`);
    assert.ok(sum(excl.sleeps) <= 1.5 * CONNECTIONS, `EXCLUSIVE: ${sum(excl.sleeps)} thread wake-ups for ${CONNECTIONS} connections`);
    assert.ok(sum(excl.wakeups) <= sum(plain.wakeups), 'and no more returns from select()');
  });
}

test.run();
