// `pnpm bench --only workers`: the echo spread over cores, side by side in one
// run. At C = 200 connections (64 B messages, one in flight each):
//
//   iomux-exclusive-N  examples/echo-workers.mjs --balance exclusive, N Workers (epoll)
//   iomux-reuseport-N  examples/echo-workers.mjs --balance reuseport, N Workers (epoll)
//   cluster-N          Node's cluster: a primary and N processes running echo-net.mjs
//
// for N = 1 and 2. Reported: messages/s (from the load generator), server CPU
// per message, and how the connections were spread over the Workers or
// processes. Then the thundering herd, counted (herd.mjs): thread wake-ups
// per connection for 2, 4 and 8 blocked Workers, with and without EXCLUSIVE.
//
// CPU is the whole server's: every thread of the iomux process, the cluster
// primary plus its children, read from /proc/PID/stat (utime + stime) at the
// start and end of a window inside the load generator's measurement, and
// divided by the messages of that window (its rate times its length).
//
// Run as `node workers.mjs --cluster-primary N` it is the cluster server.
import cluster from 'node:cluster';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '../../../scripts/lib/child.mjs';
import { herd } from './herd.mjs';
import { ROOT, SRC, binPath, runProgram } from './run.mjs';
import { f, fk, median } from './report.mjs';

if (process.argv[2] === '--cluster-primary') await clusterPrimary(Number(process.argv[3]));

// ---------------------------------------------------------------- cluster server

async function clusterPrimary(n) {
  cluster.setupPrimary({ exec: join(SRC, 'echo-net.mjs'), silent: true });
  let port = 0;
  const listening = [];
  for (let i = 0; i < n; i++) {
    const w = cluster.fork();
    w.process.stdout?.resume();
    listening.push(new Promise((r) => w.once('listening', (addr) => r((port = addr.port)))));
  }
  await Promise.all(listening);
  process.stdout.write(`listening on 127.0.0.1:${port} backend=node-cluster workers=${n}\n`);
  const stop = () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    process.exit(0);
  };
  process.stdin.on('end', stop);
  process.stdin.resume();
  process.on('SIGTERM', stop);
}

// ---------------------------------------------------------------- measuring

const CLK_TCK = 100; // Linux's USER_HZ, which /proc/PID/stat counts in

/** utime + stime of `pid` (all its threads), in seconds; 0 once it is gone. */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** The pids of `pid`'s children. */
function childrenOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** How many TCP/unix sockets `pid` holds. */
function socketCount(pid) {
  let n = 0;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // gone
  }
  return n;
}

const treeCpu = (pids) => pids.reduce((s, p) => s + cpuSeconds(p), 0);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function measureOne(name, cmd, args, env, W, loadgen) {
  const srv = await startServer(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdin: 'pipe', readyTimeoutMs: 15_000 });
  try {
    const pids = [srv.pid, ...childrenOf(srv.pid)];
    const idleSockets = pids.map(socketCount);
    const gen = runProgram(loadgen, [
      '--port', String(srv.port), '--conns', String(W.conns), '--depth', '1', '--size', '64',
      '--warmup-ms', String(W.warmupMs), '--duration-ms', String(W.durationMs), '--server-pid', String(srv.pid),
    ], { timeoutMs: W.warmupMs + W.durationMs + 60_000 });
    // Our window sits inside the load generator's: it starts measuring at
    // warmupMs (its connections are up well before), and stops at warmupMs + durationMs.
    await sleep(W.warmupMs + W.marginMs);
    const spread = pids.map((p, i) => socketCount(p) - idleSockets[i]);
    const c0 = treeCpu(pids);
    const t0 = performance.now();
    await sleep(W.durationMs - 2 * W.marginMs);
    const c1 = treeCpu(pids);
    const t1 = performance.now();
    // Cluster's primary hands connections over one by one: count again, keep the larger.
    const spreadEnd = pids.map((p, i) => socketCount(p) - idleSockets[i]);
    for (let i = 0; i < spread.length; i++) spread[i] = Math.max(spread[i], spreadEnd[i]);
    const r = await gen;
    const rec = r.stdout.trim() ? JSON.parse(r.stdout.trim().split('\n').pop() ?? '') : null;
    if (r.code !== 0 || !rec) throw new Error(`load generator failed (exit ${r.code}): ${r.stderr.trim()}`);
    const windowS = (t1 - t0) / 1000;
    const cpuUsPerMsg = ((c1 - c0) * 1e6) / (rec.msgs_per_s * windowS);
    srv.child.stdin?.end();
    await srv.stop('SIGTERM', 5000);
    // iomux: the example counts what each Worker accepted; cluster: each
    // child's sockets during the run (its connections; the primary's are its
    // listener and IPC).
    const stats = /^stats (.*)$/m.exec(srv.stdout());
    const perWorker = stats ? JSON.parse(stats[1]).accepted : spread.slice(1);
    return { name, msgsPerS: rec.msgs_per_s, cpuUsPerMsg, loadgenCpuUsPerMsg: rec.loadgen_cpu_us_per_msg, p99Us: rec.p99_us, perWorker, cpuS: c1 - c0, windowS };
  } finally {
    await srv.stop('SIGKILL');
  }
}

const PROFILES = {
  smoke: { conns: 20, warmupMs: 200, durationMs: 600, marginMs: 100, reps: 1, herd: { workers: [2], connections: 10 } },
  quick: { conns: 200, warmupMs: 500, durationMs: 3000, marginMs: 250, reps: 3, herd: { workers: [2, 4, 8], connections: 100 } },
  full: { conns: 200, warmupMs: 500, durationMs: 5000, marginMs: 250, reps: 5, herd: { workers: [2, 4, 8], connections: 200 } },
};

/**
 * Runs the workers part; returns { config, raw, summary, herd, report }.
 * @param {{ profile: string, reps?: number | null, progress: (msg: string) => void, note: (msg: string) => void }} ctx
 */
export async function runWorkers({ profile, reps, progress, note }) {
  const W = { ...(PROFILES[profile] ?? PROFILES.quick) };
  if (reps) W.reps = reps;
  const loadgen = binPath('iomux_loadgen');
  const example = join(ROOT, 'examples', 'echo-workers.mjs');
  const servers = [];
  for (const n of [1, 2]) {
    servers.push({ name: `iomux-exclusive-${n}`, cmd: process.execPath, args: [example, '--backend', 'epoll', '--balance', 'exclusive', '--workers', String(n), '--port', '0'], env: { ECHO_WORKERS_STATS: '1' } });
    servers.push({ name: `iomux-reuseport-${n}`, cmd: process.execPath, args: [example, '--backend', 'epoll', '--balance', 'reuseport', '--workers', String(n), '--port', '0'], env: { ECHO_WORKERS_STATS: '1' } });
    servers.push({ name: `cluster-${n}`, cmd: process.execPath, args: [join(SRC, 'workers.mjs'), '--cluster-primary', String(n)], env: {} });
  }
  const raw = [];
  for (let rep = 0; rep < W.reps; rep++) {
    // Rotate the order each repetition so no server always runs first.
    const order = servers.map((_, i) => servers[(i + rep) % servers.length]);
    const line = [];
    for (const s of order) {
      try {
        const r = await measureOne(s.name, s.cmd, s.args, s.env, W, loadgen);
        raw.push({ ...r, rep });
        line.push(`${s.name} ${fk(r.msgsPerS)}/s ${f(r.cpuUsPerMsg)}µs [${r.perWorker.join('/')}]`);
      } catch (err) {
        note(`workers ${s.name}: ${err.message}`);
      }
    }
    progress(`workers [${rep + 1}/${W.reps}] C=${W.conns}: ${line.join(', ')}`);
  }
  const summary = servers
    .map((s) => {
      const xs = raw.filter((r) => r.name === s.name);
      if (xs.length === 0) return null;
      // The spread of the median run (by rate); the shares, min/max over runs.
      const shares = xs.map((x) => Math.max(...x.perWorker) / Math.max(1, x.perWorker.reduce((a, b) => a + b, 0)));
      return {
        name: s.name,
        msgsPerS: median(xs.map((x) => x.msgsPerS)),
        cpuUsPerMsg: median(xs.map((x) => x.cpuUsPerMsg)),
        loadgenCpuUsPerMsg: median(xs.map((x) => x.loadgenCpuUsPerMsg)),
        p99Us: median(xs.map((x) => x.p99Us)),
        spreads: xs.map((x) => x.perWorker),
        busiestShare: { min: Math.min(...shares), max: Math.max(...shares) },
        runs: xs.length,
      };
    })
    .filter(Boolean);

  const herdRows = [];
  for (const workers of W.herd.workers) {
    const row = { workers, connections: W.herd.connections };
    for (const exclusive of [false, true]) {
      const h = await herd({ exclusive, workers, connections: W.herd.connections });
      const sum = (xs) => xs.reduce((a, b) => a + b, 0);
      row[exclusive ? 'exclusive' : 'plain'] = {
        threadWakeupsPerConn: sum(h.sleeps) / W.herd.connections,
        selectReturnsPerConn: sum(h.wakeups) / W.herd.connections,
        emptyAccepts: sum(h.empty),
        accepted: sum(h.accepted),
        perWorker: h.accepted,
      };
    }
    herdRows.push(row);
    progress(`workers herd: ${workers} Workers, ${W.herd.connections} connections: thread wake-ups/connection plain ${f(row.plain.threadWakeupsPerConn)}, EXCLUSIVE ${f(row.exclusive.threadWakeupsPerConn)}`);
  }
  return { config: W, raw, summary, herd: herdRows, report: workersReport(summary, herdRows, W) };
}

function workersReport(summary, herdRows, W) {
  let out = `\nWorkers: echo at C=${W.conns}, 64 B, one message in flight per connection; the load generator shares the 2 cores\n`;
  out += `${'server'.padEnd(20)} ${'msgs/s'.padStart(9)} ${'CPU µs/msg'.padStart(11)} ${'loadgen µs/msg'.padStart(15)} ${'p99 µs'.padStart(8)}  connections per worker (each run)\n`;
  for (const s of summary) {
    out += `${s.name.padEnd(20)} ${fk(s.msgsPerS).padStart(9)} ${f(s.cpuUsPerMsg).padStart(11)} ${f(s.loadgenCpuUsPerMsg).padStart(15)} ${f(s.p99Us, 0).padStart(8)}  ${s.spreads.map((x) => x.join('/')).join('  ')}\n`;
  }
  out += `\nThundering herd: one listener, N Workers blocked in select(), connections one at a time\n`;
  out += `${'workers'.padEnd(8)} ${'plain: thread wake-ups/conn'.padStart(28)} ${'EXCLUSIVE'.padStart(10)}   accepted (plain / EXCLUSIVE)\n`;
  for (const r of herdRows) {
    out += `${String(r.workers).padEnd(8)} ${f(r.plain.threadWakeupsPerConn).padStart(28)} ${f(r.exclusive.threadWakeupsPerConn).padStart(10)}   ${r.plain.accepted}/${r.connections} / ${r.exclusive.accepted}/${r.connections}\n`;
  }
  return out;
}
