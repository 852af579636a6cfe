#!/usr/bin/env node
// Where iomux's per-pass cost goes, on the dispatch method (epoll, N=100,
// A=1 by default): the C reference, the C reference with one idle thread,
// then the same loop in this process with fewer and fewer iomux layers — the
// raw addon (NativeSelector + native socket calls on fds), the Selector with
// raw socket calls, iomux as users write it (Selector + Socket), the same
// with selectInto() (no result arrays), and the batched mode (one native call
// per pass). The differences are the cost of each layer. A diagnostic, not
// part of `pnpm bench`.
//
//   node packages/bench/src/overhead.mjs [--backend epoll] [--n 100] [--runs 400]
import { createRequire } from 'node:module';
import { ReadyList, createSelector, Events, socketPair } from '@iomux/core';
import { binPath, runProgram } from './run.mjs';
import { opt } from './flags.mjs';
import { median } from './report.mjs';

// The addon itself, below the public API: @iomux/native, the package
// @iomux/core loads (resolved from there, as it is core's dependency).
const native = createRequire(import.meta.resolve('@iomux/core'))('@iomux/native');

const backend = opt('--backend', 'epoll');
const N = Number(opt('--n', 100));
const RUNS = Number(opt('--runs', 400));
const W = 100;

async function cRef(threads) {
  const r = await runProgram(binPath('iomux_dispatch_bench'), ['--backend', backend, '--n', String(N), '--runs', String(RUNS), '--threads', String(threads)]);
  const rec = JSON.parse(r.stdout);
  return median(rec.samples.map((s) => s.ns / s.passes / 1000));
}

const watched = [];
const peer = [];
for (let j = 0; j < N; j++) {
  const [a, b] = socketPair();
  a.setBlocking(false);
  b.setBlocking(false);
  watched.push(a);
  peer.push(b);
}
const wfd = watched.map((s) => s.fileno());
const pfd = peer.map((s) => s.fileno());
const fd2i = new Int32Array(Math.max(...wfd) + 1).fill(-1);
wfd.forEach((fd, i) => (fd2i[fd] = i));
const one = Buffer.from('e');
const r1 = Buffer.alloc(1);
/** @type {import('@iomux/core').Selector<number>} */
const sel = createSelector(backend);
watched.forEach((s, i) => sel.register(s, Events.IN, i));
const list = /** @type {ReadyList<number>} */ (new ReadyList());
const bsel = createSelector(backend);
watched.forEach((s, i) => bsel.register(s, Events.IN, i));
const batch = bsel.batch();
watched.forEach((s) => batch.setRecv(s, 1));
const raw = new native.NativeSelector(backend);
const rawBuf = new Int32Array(2 * N + 32);
raw.setBuffer(rawBuf);
wfd.forEach((fd) => raw.add(fd, Events.IN));

function measure(pass, runs, warm) {
  const per = [];
  for (let run = 0; run < runs + warm; run++) {
    peer[0].send(one);
    const st = { count: 0, fired: 1, writes: W };
    let passes = 0;
    const t = process.hrtime.bigint();
    do {
      pass(st);
      passes++;
    } while (st.count !== st.fired);
    if (run >= warm) per.push(Number(process.hrtime.bigint() - t) / passes / 1000);
  }
  return per;
}
const next = (i) => (i + 1 >= N ? 0 : i + 1);
const variants = {
  'raw addon: NativeSelector.select + native socket calls on fds': (st) => {
    const n = raw.select(0);
    for (let k = 0; k < n; k++) {
      const i = fd2i[rawBuf[2 * k]];
      if (native.socket.recvInto(wfd[i], r1) !== 1) continue;
      st.count++;
      if (st.writes > 0) native.socket.send(pfd[next(i)], one), st.writes--, st.fired++;
    }
  },
  'Selector.select + native socket calls on fds': (st) => {
    const ready = sel.select(0);
    for (let k = 0; k < ready.length; k++) {
      const i = ready[k][0].data;
      if (native.socket.recvInto(wfd[i], r1) !== 1) continue;
      st.count++;
      if (st.writes > 0) native.socket.send(pfd[next(i)], one), st.writes--, st.fired++;
    }
  },
  'iomux as users write it: Selector.select + Socket.recvInto/send': (st) => {
    const ready = sel.select(0);
    for (let k = 0; k < ready.length; k++) {
      const i = ready[k][0].data;
      if (watched[i].recvInto(r1) !== 1) continue;
      st.count++;
      if (st.writes > 0) peer[next(i)].send(one), st.writes--, st.fired++;
    }
  },
  'allocation-free: Selector.selectInto(ReadyList) + Socket.recvInto/send': (st) => {
    const n = sel.selectInto(list, 0);
    for (let k = 0; k < n; k++) {
      const i = list.key(k).data;
      if (watched[i].recvInto(r1) !== 1) continue;
      st.count++;
      if (st.writes > 0) peer[next(i)].send(one), st.writes--, st.fired++;
    }
  },
  'batched: Batch.run (sends, wait, recvs in one call) + Batch.send': (st) => {
    const n = batch.run(0);
    for (let k = 0; k < n; k++) {
      if (batch.bytes(k) !== 1) continue;
      st.count++;
      if (st.writes > 0) batch.send(peer[next(batch.key(k).data)], one), st.writes--, st.fired++;
    }
  },
};
const rows = [
  ['C, single-threaded', await cRef(0)],
  ['C + one idle thread', await cRef(1)],
];
// Rounds, each variant in turn, so drifting machine load hits all alike.
const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, /** @type {number[]} */ ([])]));
for (const fn of Object.values(variants)) measure(fn, 0, 100); // JIT warm-up
for (let round = 0; round < 8; round++) {
  for (const [name, fn] of Object.entries(variants)) samples[name].push(...measure(fn, Math.ceil(RUNS / 8), 5));
}
for (const name of Object.keys(variants)) rows.push([name, median(samples[name])]);
console.log(`${backend}, N=${N}, A=1, W=${W}: median µs per pass over ${RUNS} runs`);
for (const [name, us] of rows) console.log(`${us.toFixed(2).padStart(7)}  ${name}`);
sel.close();
bsel.close();
raw.close();
for (const s of [...watched, ...peer]) s.close();
