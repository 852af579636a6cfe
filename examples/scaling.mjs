#!/usr/bin/env node
// scaling: O(n) versus O(ready), the classic articles' central claim, in a
// few seconds.
//
// select() and poll() hand the kernel the whole interest list on every call,
// and the kernel scans all of it (select: every fd up to the highest; poll:
// every entry), so a call costs O(n) in the number of registered fds even
// when only one of them is ready. epoll keeps the interest list in the
// kernel and hands back only the ready fds: O(ready). Here each backend
// watches N idle socket pairs plus one active one (a byte waiting, so the
// call returns at once), and one select() is timed: the median of a few
// calls after a warm-up, so the JIT and caches are settled.
//
// select() cannot watch fds >= FD_SETSIZE (1024), so its column stops where
// the fds no longer fit. This is a demonstration on whatever machine runs
// it, not a benchmark: for the real measurement, run `pnpm bench`.
//
//   node examples/scaling.mjs [--sizes 10,100,300,1000] [--calls 15]
import { Events, FD_SETSIZE, backends, capabilities, createSelector, raiseFdLimit, socketPair } from '@iomux/core';
import { fail, intFlag, parseFlags } from './lib/args.mjs';

const NAME = 'scaling';
const BASE = '[--sizes N,N,...] [--calls N]';
const args = parseFlags(NAME, { sizes: { type: 'string', default: '10,100,300,1000' }, calls: { type: 'string', default: '15' } }, '', BASE);
const SIZES = args.sizes.split(',').map((n) => intFlag(NAME, 'sizes', n, '', BASE));
if (Math.max(...SIZES) > 5000) fail(NAME, '--sizes: at most 5000 pairs', '', BASE);
const CALLS = intFlag(NAME, 'calls', args.calls, '', BASE);
const WARMUP = 200;

raiseFdLimit(2 * Math.max(...SIZES) + 256); // two fds per pair, plus Node's own

/** Median time of one select() (µs) with `n` idle pairs and one active one, or null if it cannot. */
function measure(backend, idle, active) {
  // select: fds past FD_SETSIZE - 1 do not fit its bitmaps.
  if (Math.max(...idle.map((s) => s.fileno()), active.fileno()) > capabilities(backend).maxFd) return null;
  const sel = createSelector(backend);
  try {
    for (const s of idle) sel.register(s, Events.IN);
    sel.register(active, Events.IN);
    for (let i = 0; i < WARMUP; i++) sel.select(0);
    const times = [];
    for (let i = 0; i < CALLS; i++) {
      const t0 = process.hrtime.bigint();
      const ready = sel.select(0);
      times.push(Number(process.hrtime.bigint() - t0) / 1000);
      if (ready.length !== 1) throw new Error(`${backend}: expected 1 ready fd, got ${ready.length}`);
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)];
  } finally {
    sel.close();
  }
}

const names = backends();
const rows = [];
for (const n of SIZES) {
  const pairs = Array.from({ length: n }, () => socketPair());
  const [active, activePeer] = socketPair();
  activePeer.send('x'); // the one ready fd
  try {
    const idle = pairs.map(([a]) => a);
    rows.push({ n, us: Object.fromEntries(names.map((b) => [b, measure(b, idle, active)])) });
  } finally {
    for (const [a, b] of pairs) {
      a.close();
      b.close();
    }
    active.close();
    activePeer.close();
  }
}

const cell = (v) => (v === null ? '—' : v.toFixed(1)).padStart(10);
console.log(`one select() with N idle socket pairs + 1 ready one: median of ${CALLS} calls, in µs`);
console.log(`${'N'.padStart(6)}${names.map((b) => b.padStart(10)).join('')}`);
for (const { n, us } of rows) console.log(`${String(n).padStart(6)}${names.map((b) => cell(us[b])).join('')}`);

const max = Math.max(...rows.flatMap(({ us }) => Object.values(us).filter((v) => v !== null)));
const WIDTH = 50;
console.log('');
for (const { n, us } of rows) {
  for (const [i, b] of names.entries()) {
    const label = i === 0 ? `N=${n}`.padEnd(8) : ' '.repeat(8);
    const v = us[b];
    const bar = v === null ? `(fds beyond FD_SETSIZE ${FD_SETSIZE})` : `${'#'.repeat(Math.max(1, Math.round((v / max) * WIDTH)))} ${v.toFixed(1)}`;
    console.log(`${label}${b.padEnd(Math.max(...names.map((x) => x.length)) + 1)}${bar}`);
  }
}
console.log('');
console.log('What to look for: select and poll grow with N (O(n): the whole list, every call); epoll stays flat (O(ready)).');
console.log('One machine, a handful of calls: for the real measurement, run `pnpm bench`.');
