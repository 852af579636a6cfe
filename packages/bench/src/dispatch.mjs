#!/usr/bin/env node
// The dispatch-scaling benchmark through @iomux/core: the same method, the
// same layouts and the same output as the C reference (c/dispatch_bench.c),
// so the two can be compared run for run. Run by cli.mjs as a child process,
// one per configuration:
//
//   node dispatch.mjs --backend epoll --n 1000 --active 1 --writes 100 --runs 9
//                     [--warmup 3] [--warmup-ms 200] [--packed] [--api percall|into|batch]
//
// --api: how the loop reads results: percall (select() -> Ready[], then
// Socket.recvInto/send per event; the default), into (selectInto() a reusable
// ReadyList, then the same Socket calls), batch (Batch.run(): the queued sends,
// the wait and one recv per ready fd in one native call; Batch.send queues).
//
// Warm-up: at least --warmup runs and at least --warmup-ms of them, so the JIT
// has optimised the loop even where one run takes a millisecond.
//
// Prints one JSON line: the parameters and one {ns, passes, events} per run.
import { createSelector, Events, FD_SETSIZE, ReadyList, raiseFdLimit, socketPair } from '@iomux/core';
import { has, opt } from './flags.mjs';

const backend = opt('--backend', 'epoll');
const N = Number(opt('--n', 100));
const A = Number(opt('--active', 1));
const W = Number(opt('--writes', 100));
const runs = Number(opt('--runs', 5));
const warmup = Number(opt('--warmup', 3));
const warmupMs = Number(opt('--warmup-ms', 200));
const packed = has('--packed');
const api = opt('--api', 'percall');
if (!['percall', 'into', 'batch'].includes(api)) {
  console.error('dispatch.mjs: --api percall, into or batch');
  process.exit(2);
}

if (!(N >= 2 && A >= 1 && A <= N) || (packed && N % 2)) {
  console.error('dispatch.mjs: bad N/A (packed needs an even N)');
  process.exit(2);
}
const limit = raiseFdLimit(2 * N + 64);
const need = (packed ? N : 2 * N) + 32;
if (limit < need) {
  console.error(`dispatch.mjs: needs about ${need} fds, RLIMIT_NOFILE allows ${limit}`);
  process.exit(3);
}

// watched[i]: the socket to read; peer[i]: where to write to make it readable.
const watched = new Array(N);
const peer = new Array(N);
const sockets = [];
if (packed) {
  for (let j = 0; j < N / 2; j++) {
    const [a, b] = socketPair();
    sockets.push(a, b);
    watched[2 * j] = a;
    watched[2 * j + 1] = b;
    peer[2 * j] = b;
    peer[2 * j + 1] = a;
  }
} else {
  for (let j = 0; j < N; j++) {
    const [a, b] = socketPair();
    sockets.push(a, b);
    watched[j] = a;
    peer[j] = b;
  }
}
let maxfd = 0;
for (const s of sockets) s.setBlocking(false);
for (const s of watched) maxfd = Math.max(maxfd, s.fileno());
if (backend === 'select' && maxfd >= FD_SETSIZE) {
  console.error(`dispatch.mjs: fd ${maxfd} >= FD_SETSIZE ${FD_SETSIZE}`);
  process.exit(3);
}

/** @type {import('@iomux/core').Selector<number>} */
const sel = createSelector(backend);
for (let i = 0; i < N; i++) sel.register(watched[i], Events.IN, i);

const one = Buffer.from('e');
const rbuf = Buffer.alloc(1);
let count = 0;
let writes = 0;
let fired = 0;
const space = Math.floor(N / A);
const maxPasses = 10 * (A + W) + 10_000;

// One pass each: the wait, then bench.c's read_cb for every event: read one
// byte, pass one on to the next socket.
function passPerCall() {
  const ready = sel.select(0);
  for (let k = 0; k < ready.length; k++) {
    const i = ready[k][0].data;
    if (watched[i].recvInto(rbuf) !== 1) continue;
    count++;
    if (writes > 0) {
      let w = i + 1;
      if (w >= N) w -= N;
      peer[w].send(one);
      writes--;
      fired++;
    }
  }
}

const list = /** @type {ReadyList<number>} */ (new ReadyList());
function passInto() {
  const n = sel.selectInto(list, 0);
  for (let k = 0; k < n; k++) {
    const i = list.key(k).data;
    if (watched[i].recvInto(rbuf) !== 1) continue;
    count++;
    if (writes > 0) {
      let w = i + 1;
      if (w >= N) w -= N;
      peer[w].send(one);
      writes--;
      fired++;
    }
  }
}

// The recv is the batch's (one byte per ready fd); the send is queued and
// goes out at the start of the next pass, before its wait.
const batch = sel.batch(); // unused (and idle) unless --api batch
if (api === 'batch') for (const s of watched) batch.setRecv(s, 1);
function passBatch() {
  const n = batch.run(0);
  for (let k = 0; k < n; k++) {
    if (batch.bytes(k) !== 1) continue;
    count++;
    if (writes > 0) {
      let w = batch.key(k).data + 1;
      if (w >= N) w -= N;
      batch.send(peer[w], one);
      writes--;
      fired++;
    }
  }
}

const pass = api === 'batch' ? passBatch : api === 'into' ? passInto : passPerCall;

function runOnce() {
  for (let j = 0; j < A; j++) peer[j * space].send(one);
  fired = A;
  count = 0;
  writes = W;
  let passes = 0;
  const t0 = process.hrtime.bigint();
  do {
    pass();
    if (++passes > maxPasses) throw new Error(`no progress after ${passes} passes (count ${count}, fired ${fired})`);
  } while (count !== fired);
  const ns = process.hrtime.bigint() - t0;
  return { ns: Number(ns), passes, events: count };
}

const warmEnd = performance.now() + warmupMs;
for (let r = 0; r < warmup || performance.now() < warmEnd; r++) runOnce();
const samples = [];
for (let r = 0; r < runs; r++) samples.push(runOnce());
sel.close();
for (const s of sockets) s.close();
process.stdout.write(
  JSON.stringify({ impl: 'iomux', api, backend, n: N, active: A, writes: W, layout: packed ? 'packed' : 'pairs', maxfd, samples }) + '\n',
);
