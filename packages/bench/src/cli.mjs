#!/usr/bin/env node
// pnpm bench: iomux's backend comparison benchmarks (dispatch, echo, and the
// wait() micro-benchmark). Everything is measured side by side in one
// run and reported as ratios; see docs/bench.md for the method.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { backends, FD_SETSIZE, raiseFdLimit } from '@iomux/core';
import { ROOT, SRC, binPath, killAll, runProgram, startServer } from './run.mjs';
import { chartMeta, dispatchSvg } from './svg.mjs';
import { dispatchReport, echoReport, fk, f, fx, median, waitReport } from './report.mjs';

// The backends come from the registry (backends(): the ones this machine can
// run, io_uring where its probe at load succeeded), never spelled here.
const BACKENDS = backends();

const USAGE = `usage: pnpm bench [options]

  (no option)       quick profile, about 3 minutes
  --full            the whole matrix (several minutes)
  --smoke           a few seconds, for CI: checks the harness, not the speed
  --only LIST       dispatch, echo, wait, workers and/or peers, comma-separated (default: all but workers
                    and peers; peers installs the npm epoll package into node_modules/.cache)
  --backend LIST    any of ${BACKENDS.join(', ')} (the backends this machine can run; default: all)
  --cpython         add CPython selectors everywhere (default: dispatch in quick and full, echo in full)
  --no-cpython      leave CPython out
  --packed          dispatch: pack the watched fds at the lowest numbers (select reaches N=1,000)
  --layout L        dispatch: pairs (default), packed, or both (the default of --full)
  --reps N          echo and wait: repetitions of each measurement (medians over them)
  --servers LIST    echo: which servers (c, c-io_uring, iomux-B, iomux-B-into, iomux-B-batch for B = a backend,
                    node-net, cpython-selectors)
  --json FILE       where to write every raw sample (default: bench-results/bench-<time>.json)
  --svg FILE        where to write the dispatch chart (default: bench-results/dispatch.svg)
  -h, --help        this text
`;

/** The last line of a driver's output: its JSON record. */
const lastLine = (/** @type {string} */ out) => /** @type {string} */ (out.trim().split('\n').pop());

// ---------------------------------------------------------------- options
const argv = process.argv.slice(2);
/** @type {{ profile: string, only: string[], backends: string[], layout: string | null, json: string | null, svg: string | null, cpython: boolean | null, reps: number | null, servers: string[] | null }} */
const opts = { profile: 'quick', only: ['dispatch', 'echo', 'wait'], backends: [...BACKENDS], layout: null, json: null, svg: null, cpython: null, reps: null, servers: null };
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => {
    if (i + 1 >= argv.length) fail(`${a} needs a value`);
    return argv[++i];
  };
  if (a === '--full') opts.profile = 'full';
  else if (a === '--smoke') opts.profile = 'smoke';
  else if (a === '--quick') opts.profile = 'quick';
  else if (a === '--only') opts.only = val().split(',');
  else if (a === '--backend') opts.backends = val().split(',');
  else if (a === '--packed') opts.layout = 'packed';
  else if (a === '--reps') opts.reps = Number(val());
  else if (a === '--servers') opts.servers = val().split(',');
  else if (a === '--cpython') opts.cpython = true;
  else if (a === '--no-cpython') opts.cpython = false;
  else if (a === '--layout') opts.layout = val();
  else if (a === '--json') opts.json = val();
  else if (a === '--svg') opts.svg = val();
  else if (a === '-h' || a === '--help') {
    process.stdout.write(USAGE);
    process.exit(0);
  } else fail(`unknown option ${a}`);
}
for (const o of opts.only) if (!['dispatch', 'echo', 'wait', 'workers', 'peers'].includes(o)) fail(`--only: unknown part ${o}`);
for (const b of opts.backends) if (!(/** @type {string[]} */ (BACKENDS)).includes(b)) fail(`--backend: ${b} is not one of the backends this machine can run (${BACKENDS.join(', ')})`);
if (opts.layout && !['pairs', 'packed', 'both'].includes(opts.layout)) fail(`--layout: pairs, packed or both`);
if (opts.reps !== null && !(Number.isInteger(opts.reps) && opts.reps >= 1)) fail('--reps: a positive integer');

function fail(msg) {
  process.stderr.write(`bench: ${msg}\n\n${USAGE}`);
  process.exit(2);
}

const PROFILES = {
  smoke: {
    dispatch: { ns: [10, 100], actives: [1], runs: 2, warmupC: 1, warmupJs: 1, warmupMs: 20, rounds: 1, layout: 'pairs' },
    echo: { conns: [2], sizes: [64], depths: [1], warmupMs: 100, durationMs: 200, reps: 1 },
    wait: { ms: 50, reps: 1 },
  },
  quick: {
    dispatch: { ns: [10, 100, 1000, 10000], actives: [1, 100], runs: 7, warmupC: 2, warmupJs: 4, warmupMs: 150, rounds: 2, layout: 'pairs' },
    echo: { conns: [100], sizes: [64], depths: [1, 16], warmupMs: 300, durationMs: 1500, reps: 2 },
    wait: { ms: 300, reps: 3 },
  },
  full: {
    dispatch: { ns: [10, 100, 1000, 10000, 50000], actives: [1, 100], runs: 11, warmupC: 2, warmupJs: 4, warmupMs: 300, rounds: 2, layout: 'both' },
    echo: { conns: [1, 100, 1000], sizes: [64, 16384], depths: [1, 16], warmupMs: 300, durationMs: 2000, reps: 3 },
    wait: { ms: 500, reps: 5 },
  },
};
const P = PROFILES[opts.profile];
if (opts.reps !== null) {
  P.echo.reps = opts.reps;
  P.wait.reps = opts.reps;
}
const layouts = (() => {
  const l = opts.layout ?? P.dispatch.layout;
  return l === 'both' ? ['pairs', 'packed'] : [l];
})();

const PYTHON = process.env.PYTHON ?? 'python3';
const pythonVersion = (() => {
  if (opts.cpython === false) return null;
  const r = spawnSync(PYTHON, ['-c', 'import sys; print(sys.version.split()[0])'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
})();
/** The mechanisms CPython's selectors module offers (dispatch.py maps each to its class). */
const CPYTHON_SELECTORS = ['select', 'poll', 'epoll'];
const cpythonIn = {
  dispatch: pythonVersion !== null && (opts.cpython ?? opts.profile !== 'smoke'),
  echo: pythonVersion !== null && (opts.cpython ?? opts.profile === 'full'),
};
const PY = join(SRC, '..', 'py');

// ---------------------------------------------------------------- helpers
const t0 = performance.now();
const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(0).padStart(3)}s`;
const progress = (msg) => process.stdout.write(`[${elapsed()}] ${msg}\n`);
const notes = [];
const note = (msg) => {
  if (notes.includes(msg)) return;
  notes.push(msg);
  progress(`note: ${msg}`);
};
// A measurement that could not be made: noted like the rest, and the run ends
// with exit status 1, so a broken build is never mistaken for a finished run.
let failures = 0;
/** @param {string} msg */
const failure = (msg) => {
  failures++;
  note(msg);
};
// ---------------------------------------------------------------- machine
const fdLimit = raiseFdLimit(1 << 20); // children inherit it
const meta = {
  date: new Date().toISOString(),
  profile: opts.profile,
  argv,
  machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memGiB: +(os.totalmem() / 2 ** 30).toFixed(1), loadavg: os.loadavg() },
  kernel: `${os.type()} ${os.release()}`,
  node: process.version,
  python: pythonVersion,
  v8: process.versions.v8,
  fdLimit,
  FD_SETSIZE,
  clkTck: null,
};
// Raw records are the drivers' JSON lines; summary rows are built below.
/** @type {{ meta: typeof meta, notes: typeof notes, dispatch: { config: object, raw: any[], summary: any[] }, echo: { config: object, raw: any[], summary: any[] }, wait: { config: object, raw: any[], summary: any[] } }} */
const results = { meta, notes, dispatch: { config: { ...P.dispatch, layouts }, raw: [], summary: [] }, echo: { config: P.echo, raw: [], summary: [] }, wait: { config: P.wait, raw: [], summary: [] } };

progress(`iomux bench, ${opts.profile} profile: ${opts.only.join(', ')} on ${opts.backends.join(', ')}; ${meta.machine.cores} cores (${meta.machine.cpu}), ${meta.kernel}, node ${meta.node}, RLIMIT_NOFILE ${fdLimit}`);

// ---------------------------------------------------------------- dispatch
function writesFor(A) {
  return A === 1 ? 100 : 10 * A; // A=1: ~101 passes of one event; A=100: ~11 passes of ~100
}

function fdsNeeded(n, layout) {
  return (layout === 'packed' ? n : 2 * n) + 64;
}

async function runDispatch() {
  const cBin = binPath('iomux_dispatch_bench');
  const D = P.dispatch;
  const plan = [];
  for (const layout of layouts) {
    for (const A of D.actives) {
      for (const n of D.ns) {
        if (A > n) continue;
        for (const backend of opts.backends) plan.push({ layout, A, n, backend });
      }
    }
  }
  let step = 0;
  for (const { layout, A, n, backend } of plan) {
    step++;
    const tag = `dispatch [${step}/${plan.length}] ${backend.padEnd(6)} N=${String(n).padEnd(5)} A=${String(A).padEnd(3)} ${layout}`;
    let use = layout;
    if (fdsNeeded(n, use) > fdLimit) {
      if (layouts.includes('packed') || fdsNeeded(n, 'packed') > fdLimit) {
        note(`N=${n} ${layout}: needs ~${fdsNeeded(n, layout)} fds, RLIMIT_NOFILE allows ${fdLimit} (hard limit); skipped`);
        continue;
      }
      use = 'packed';
      if (backend === opts.backends[0] && A === D.actives[0]) {
        note(`N=${n}: the pairs layout needs ~${fdsNeeded(n, 'pairs')} fds but RLIMIT_NOFILE allows ${fdLimit} (the hard limit here), so N=${n} runs in the packed layout (N fds)`);
      }
    }
    const highFd = (use === 'packed' ? n : 2 * n) + 20;
    if (backend === 'select' && highFd >= FD_SETSIZE) {
      // select's fds must stay below FD_SETSIZE. Where the pairs layout
      // crosses it but the packed one does not (N = 1,000), and no packed
      // run of this N is planned anyway, measure it packed rather than not
      // at all: otherwise the A = 100 panel of the chart would hold a single
      // select point (N = 100; A > N is never run).
      if (use === 'pairs' && n + 20 < FD_SETSIZE && !layouts.includes('packed')) {
        use = 'packed';
        if (A === D.actives[0]) note(`select N=${n}: the pairs layout would reach fd ~${highFd} >= FD_SETSIZE (${FD_SETSIZE}), so select N=${n} runs in the packed layout (N fds)`);
      } else {
        if (A === D.actives[0]) note(`select N=${n} ${use}: watched fds reach ~${highFd} >= FD_SETSIZE (${FD_SETSIZE}); select stops here`);
        continue;
      }
    }
    const runs = n >= 10000 ? Math.max(3, Math.ceil(D.runs / 2)) : D.runs; // big N: each run is long already
    const common = ['--backend', backend, '--n', String(n), '--active', String(A), '--writes', String(writesFor(A)), '--runs', String(runs)];
    if (use === 'packed') common.push('--packed');
    // iomux three ways: per-call (select() -> Ready[]), allocation-free
    // (selectInto()), batched (one native call per pass).
    /** @type {Record<'c' | 'iomux' | 'iomux-into' | 'iomux-batch' | 'c-mt' | 'cpython', any[]>} */
    const samples = { c: [], iomux: [], 'iomux-into': [], 'iomux-batch': [], 'c-mt': [], cpython: [] };
    // CPython's selectors module has no io_uring selector: its column stays empty there.
    const withPy = cpythonIn.dispatch && CPYTHON_SELECTORS.includes(backend);
    /** @type {(keyof typeof samples)[]} */
    const impls = ['c', 'iomux', 'iomux-into', 'iomux-batch', 'c-mt', ...(withPy ? /** @type {const} */ (['cpython']) : [])];
    /** @type {Record<string, string>} */
    const API = { iomux: 'percall', 'iomux-into': 'into', 'iomux-batch': 'batch' };
    let failed = null;
    for (let round = 0; round < D.rounds && !failed; round++) {
      // Alternate the order, so drifting load hits every implementation alike.
      const order = round % 2 === 0 ? impls : [...impls].reverse();
      for (const impl of order) {
        const warm = String(n >= 10000 ? Math.min(2, D.warmupJs) : API[impl] ? D.warmupJs : D.warmupC);
        const r = impl === 'cpython'
          ? await runProgram(PYTHON, [join(PY, 'dispatch.py'), ...common, '--warmup', warm])
          : API[impl]
          ? await runProgram(process.execPath, [join(SRC, 'dispatch.mjs'), ...common, '--api', API[impl], '--warmup', warm, '--warmup-ms', String(D.warmupMs)])
          : await runProgram(cBin, [...common, '--warmup', warm, ...(impl === 'c-mt' ? ['--threads', '1'] : [])]);
        if (r.code !== 0) {
          failed = `${impl}: exit ${r.code}: ${r.stderr.trim()}`;
          break;
        }
        const rec = JSON.parse(lastLine(r.stdout));
        results.dispatch.raw.push({ ...rec, impl: API[impl] ? 'iomux' : impl, round });
        samples[impl].push(...rec.samples);
      }
    }
    if (failed) {
      failure(`dispatch ${backend} N=${n} A=${A} ${use} failed: ${failed}`);
      continue;
    }
    const stat = (xs) => ({
      perPassUs: median(xs.map((s) => s.ns / s.passes / 1000)),
      perEventNs: median(xs.map((s) => s.ns / s.events)),
      passes: median(xs.map((s) => s.passes)),
      events: median(xs.map((s) => s.events)),
      runs: xs.length,
    });
    const row = {
      backend, n, active: A, writes: writesFor(A), layout: use,
      c: stat(samples.c), cMt: stat(samples['c-mt']),
      iomux: stat(samples.iomux), iomuxInto: stat(samples['iomux-into']), iomuxBatch: stat(samples['iomux-batch']),
    };
    if (samples.cpython.length) {
      row.cpython = stat(samples.cpython);
      row.ratioPy = row.cpython.perPassUs / row.c.perPassUs;
    }
    row.ratio = row.iomux.perPassUs / row.c.perPassUs;
    row.ratioMt = row.iomux.perPassUs / row.cMt.perPassUs;
    row.ratioIntoMt = row.iomuxInto.perPassUs / row.cMt.perPassUs;
    row.ratioBatchMt = row.iomuxBatch.perPassUs / row.cMt.perPassUs;
    results.dispatch.summary.push(row);
    progress(`${tag}${use !== layout ? '→packed' : ''}: C ${f(row.c.perPassUs)}, C+thread ${f(row.cMt.perPassUs)} µs/pass; iomux per-call ${f(row.iomux.perPassUs)} (${fx(row.ratioMt)}), into ${f(row.iomuxInto.perPassUs)} (${fx(row.ratioIntoMt)}), batched ${f(row.iomuxBatch.perPassUs)} (${fx(row.ratioBatchMt)}) vs C+thread${row.cpython ? `; CPython ${f(row.cpython.perPassUs)}` : ''}`);
  }
}

// ---------------------------------------------------------------- echo
const SERVERS = {
  c: () => [binPath('iomux_echo_c'), []],
  // echo_server.c on io_uring readiness (one-shot POLL_ADD re-armed in the next enter).
  'c-io_uring': () => [binPath('iomux_echo_c_uring'), []],
  'node-net': () => [process.execPath, [join(SRC, 'echo-net.mjs')]],
  'cpython-selectors': () => [PYTHON, [join(PY, 'echo_selectors.py')]],
};
// iomux-B: per-call (select()); -into: selectInto(); -batch: Batch.run().
for (const b of BACKENDS) {
  for (const [suffix, api] of [['', 'percall'], ['-into', 'into'], ['-batch', 'batch']]) {
    SERVERS[`iomux-${b}${suffix}`] = () => [process.execPath, [join(SRC, 'echo-iomux.mjs'), '--backend', b, '--api', api]];
  }
}

async function runEcho() {
  const loadgen = binPath('iomux_loadgen');
  const E = P.echo;
  const servers = opts.servers ?? [
    'c',
    ...(opts.backends.includes('io_uring') ? ['c-io_uring'] : []),
    ...opts.backends.flatMap((b) => [`iomux-${b}`, `iomux-${b}-into`, `iomux-${b}-batch`]),
    'node-net',
    ...(cpythonIn.echo ? ['cpython-selectors'] : []),
  ];
  for (const name of servers) if (!Object.hasOwn(SERVERS, name)) throw new Error(`--servers: unknown server ${name}`);
  const plan = [];
  for (const conns of E.conns) for (const size of E.sizes) for (const depth of E.depths) plan.push({ conns, size, depth });
  let step = 0;
  const total = plan.length * E.reps;
  for (const sc of plan) {
    const runs = Object.fromEntries(servers.map((s) => [s, /** @type {any[]} */ ([])]));
    for (let rep = 0; rep < E.reps; rep++) {
      step++;
      // Rotate the order each repetition so no server always runs first.
      const order = servers.map((_, i) => servers[(i + rep) % servers.length]);
      const line = [];
      for (const name of order) {
        if (name.startsWith('iomux-select') && sc.conns + 30 >= FD_SETSIZE) {
          if (rep === 0) note(`echo C=${sc.conns}: ${name} skipped (C+listener+stdio fds reach FD_SETSIZE ${FD_SETSIZE})`);
          continue;
        }
        const [cmd, args] = SERVERS[name]();
        let srv;
        try {
          srv = await startServer(cmd, args);
          const r = await runProgram(loadgen, [
            '--port', String(srv.port), '--conns', String(sc.conns), '--depth', String(sc.depth), '--size', String(sc.size),
            '--warmup-ms', String(E.warmupMs), '--duration-ms', String(E.durationMs), '--server-pid', String(srv.pid),
          ], { timeoutMs: E.warmupMs + E.durationMs + 60_000 });
          const rec = r.stdout.trim() ? JSON.parse(lastLine(r.stdout)) : null;
          if (r.code !== 0 || !rec) {
            failure(`echo ${name} C=${sc.conns} ${sc.size}B D=${sc.depth}: load generator failed (exit ${r.code}) ${r.stderr.trim()} ${rec ? `mismatches ${rec.mismatches}, failures ${rec.failures}` : ''}`);
            continue;
          }
          meta.clkTck = rec.clk_tck;
          results.echo.raw.push({ server: name, rep, ...rec });
          runs[name].push(rec);
          line.push(`${name} ${fk(rec.msgs_per_s)}/s ${f(rec.server_cpu_us_per_msg)}µs`);
        } catch (err) {
          note(`echo ${name} C=${sc.conns} ${sc.size}B D=${sc.depth}: ${err.message}`);
        } finally {
          await srv?.stop();
        }
      }
      progress(`echo [${step}/${total}] C=${sc.conns} ${sc.size}B D=${sc.depth}: ${line.join(', ')}`);
    }
    const sum = {};
    for (const name of servers) {
      const xs = runs[name];
      if (xs.length === 0) continue;
      sum[name] = {
        msgsPerS: median(xs.map((x) => x.msgs_per_s)),
        p50Us: median(xs.map((x) => x.p50_us)),
        p99Us: median(xs.map((x) => x.p99_us)),
        cpuUsPerMsg: median(xs.map((x) => x.server_cpu_us_per_msg)),
        loadgenCpuUsPerMsg: median(xs.map((x) => x.loadgen_cpu_us_per_msg)),
        runs: xs.length,
      };
    }
    results.echo.summary.push({ ...sc, servers: sum });
  }
}

// ---------------------------------------------------------------- wait
async function runWait() {
  const W = P.wait;
  let step = 0;
  for (const backend of opts.backends) {
    step++;
    const r = await runProgram(process.execPath, [join(SRC, 'wait.mjs'), '--backend', backend, '--ms', String(W.ms), '--reps', String(W.reps)]);
    if (r.code !== 0) {
      failure(`wait ${backend} failed: ${r.stderr.trim()}`);
      continue;
    }
    const rec = JSON.parse(lastLine(r.stdout));
    results.wait.raw.push(rec);
    const row = { backend, selectRtPerS: median(rec.select), waitRtPerS: median(rec.wait), fastWait: median(rec.fast.wait), fastTurnEach: median(rec.fast.turnEach), fastSelect0: median(rec.fast.select0) };
    row.slowdown = row.selectRtPerS / row.waitRtPerS;
    row.goal = backend === 'epoll' || backend === 'io_uring' ? 2 : 3; // the kernel-fd waiters: no helper thread
    results.wait.summary.push(row);
    progress(`wait [${step}/${opts.backends.length}] ${backend}: select() ${fk(row.selectRtPerS)} rt/s, wait() ${fk(row.waitRtPerS)} rt/s (select/wait ${fx(row.slowdown)})`);
  }
}

// ---------------------------------------------------------------- main
let exitCode = 0;
/** @type {Awaited<ReturnType<typeof import('./workers.mjs').runWorkers>> | null} */
let workersPart = null;
/** @type {Awaited<ReturnType<typeof import('./peers.mjs').runPeers>> | null} */
let peersPart = null;
try {
  if (opts.only.includes('dispatch')) await runDispatch();
  if (opts.only.includes('echo')) await runEcho();
  if (opts.only.includes('wait')) await runWait();
  if (opts.only.includes('workers')) workersPart = await (await import('./workers.mjs')).runWorkers({ profile: opts.profile, reps: opts.reps, progress, note });
  if (opts.only.includes('peers')) {
    peersPart = await (await import('./peers.mjs')).runPeers({ profile: opts.profile, reps: opts.reps, backends: opts.backends, progress, failure });
  }
} catch (err) {
  process.stderr.write(`bench: ${err.stack ?? err}\n`);
  exitCode = 1;
} finally {
  killAll();
}
meta.seconds = +((performance.now() - t0) / 1000).toFixed(1);

const stamp = meta.date.replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
const jsonPath = resolve(opts.json ?? join(ROOT, 'bench-results', `bench-${stamp}.json`));
mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(jsonPath, JSON.stringify({ ...results, ...(workersPart ? { workers: workersPart } : {}), ...(peersPart ? { peers: peersPart } : {}) }, null, 1) + '\n');
let svgPath = null;
if (results.dispatch.summary.length) {
  svgPath = resolve(opts.svg ?? join(ROOT, 'bench-results', 'dispatch.svg'));
  mkdirSync(dirname(svgPath), { recursive: true });
  writeFileSync(
    svgPath,
    dispatchSvg(results.dispatch.summary, chartMeta(meta)),
  );
}

process.stdout.write(dispatchReport(results) + echoReport(results) + waitReport(results) + (workersPart?.report ?? '') + (peersPart?.report ?? ''));
if (notes.length) process.stdout.write(`\nNotes:\n${notes.map((n) => `- ${n}`).join('\n')}\n`);
process.stdout.write(`\nraw samples: ${jsonPath}${svgPath ? `\nchart: ${svgPath}` : ''}\ndone in ${meta.seconds}s\n`);
if (failures > 0) {
  process.stderr.write(`bench: ${failures} measurement${failures === 1 ? '' : 's'} failed (see Notes)\n`);
  exitCode = 1;
}
process.exitCode = exitCode;
