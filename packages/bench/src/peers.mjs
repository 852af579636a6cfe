// `pnpm bench --only peers`: iomux against its closest npm peer, the `epoll`
// package (4.0.2, what `onoff` uses for GPIO interrupts), and against Node's
// own net.Socket({ fd }), on a one-byte ping-pong over pipes with an echo
// child that answers at once (delay 0) or after 100 µs of sleep (the Node
// process really sleeps between events: the GPIO and serial case).
// Every variant runs in a fresh process (peers-driver.mjs), JIT warmed, one
// after the other, the order reversed every other round; medians over rounds.
// The peer is installed with npm into a cache of its own (it builds with
// node-gyp; it is no dependency of the workspace). Its addon is bound to one
// Node ABI, so the cache is per ABI and node-gyp builds against the headers of
// the Node that runs the bench (npm on PATH may be another Node's).
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ROOT, SRC, runProgram } from './run.mjs';
import { f, median } from './report.mjs';

export const PEER = 'epoll@4.0.2';
const CACHE = join(ROOT, 'node_modules', '.cache', `iomux-bench-peers-abi${process.versions.modules}`);
const DELAYS = [0, 100];
const PROFILES = {
  smoke: { rounds: 1, warmMs: 50, ms: 150 },
  quick: { rounds: 5, warmMs: 300, ms: 1000 },
  full: { rounds: 9, warmMs: 500, ms: 2000 },
};

/** Installs the peer into the cache (once); returns why it could not, or null. */
async function installPeer() {
  if (existsSync(join(CACHE, 'node_modules', 'epoll', 'build', 'Release', 'epoll.node'))) return null;
  mkdirSync(CACHE, { recursive: true });
  // The running Node's own headers when its install has them (the official
  // tarballs do); otherwise node-gyp fetches the headers of this version.
  const prefix = dirname(dirname(process.execPath));
  /** @type {NodeJS.ProcessEnv} */
  const env = { ...process.env, npm_config_target: process.versions.node, npm_config_runtime: 'node' };
  if (existsSync(join(prefix, 'include', 'node', 'common.gypi'))) env.npm_config_nodedir = prefix;
  const r = await runProgram('npm', ['install', '--prefix', CACHE, '--no-audit', '--no-fund', '--no-save', '--loglevel=error', PEER], { timeoutMs: 600_000, env });
  if (r.code !== 0) return `npm install ${PEER} failed (network, or node-gyp without a compiler?): ${errorLine(r.stderr)}`;
  return null;
}

/** The telling line of a failed child's stderr (its first error line), not Node's trailer. */
function errorLine(/** @type {string} */ stderr) {
  const lines = stderr.trim().split('\n').map((l) => l.trim()).filter((l) => l !== '' && l !== '}' && !l.startsWith('Node.js v'));
  return lines.find((l) => /error/i.test(l)) ?? lines.slice(-3).join(' ');
}

/**
 * @param {{ profile: string, reps: number | null, backends: string[], progress: (m: string) => void, failure: (m: string) => void }} o
 */
export async function runPeers({ profile, reps, backends, progress, failure }) {
  const P = PROFILES[/** @type {keyof typeof PROFILES} */ (profile)] ?? PROFILES.quick;
  const rounds = reps ?? P.rounds;
  const why = await installPeer();
  if (why !== null) failure(`peers: ${why}; the peer's rows are missing`);
  const variants = [
    ...(why === null ? ['peer'] : []),
    ...backends.map((b) => `wait-${b}`),
    ...backends.map((b) => `iter-${b}`),
    ...backends.map((b) => `watcher-${b}`),
    'net',
  ];
  /** @type {{ variant: string, delayUs: number, roundTrips: number, wallMs: number, cpuUs: number }[]} */
  const samples = [];
  for (const delayUs of DELAYS) {
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? variants : [...variants].reverse();
      progress(`peers: delay ${delayUs} µs, round ${round + 1}/${rounds}`);
      for (const variant of order) {
        const args = [join(SRC, 'peers-driver.mjs'), variant, '--delay-us', String(delayUs), '--warm-ms', String(P.warmMs), '--ms', String(P.ms), '--peer-dir', CACHE];
        const r = await runProgram(process.execPath, args, { timeoutMs: 60_000 + 4 * P.ms });
        const line = r.stdout.trim().split('\n').pop() ?? '';
        try {
          if (r.code !== 0) throw new Error(`exit ${r.code}`);
          samples.push(JSON.parse(line));
        } catch {
          failure(`peers: ${variant} (delay ${delayUs} µs) failed: ${errorLine(r.stderr)}`);
        }
      }
    }
  }
  /** @type {{ variant: string, delayUs: number, rtPerS: number, cpuUsPerRt: number, vsPeerCpu: number | null }[]} */
  const summary = [];
  for (const delayUs of DELAYS) {
    const row = (/** @type {string} */ variant) => {
      const xs = samples.filter((s) => s.variant === variant && s.delayUs === delayUs);
      if (xs.length === 0) return null;
      return {
        variant,
        delayUs,
        rtPerS: median(xs.map((s) => (s.roundTrips / s.wallMs) * 1000)),
        cpuUsPerRt: median(xs.map((s) => s.cpuUs / s.roundTrips)),
      };
    };
    const peer = row('peer');
    for (const v of variants) {
      const r = row(v);
      if (r) summary.push({ ...r, vsPeerCpu: peer ? r.cpuUsPerRt / peer.cpuUsPerRt : null });
    }
  }
  return { rounds, warmMs: P.warmMs, ms: P.ms, peer: PEER, samples, summary, report: peersReport(summary, rounds) };
}

/** @param {{ variant: string, delayUs: number, rtPerS: number, cpuUsPerRt: number, vsPeerCpu: number | null }[]} summary */
function peersReport(summary, rounds) {
  if (summary.length === 0) return '';
  let out = `\n## Against the npm epoll package (${PEER}) and net.Socket({ fd }): one-byte ping-pong over pipes\n`;
  out += `medians of ${rounds} rounds; CPU = user + system time of the Node process per round trip\n`;
  for (const delayUs of DELAYS) {
    out += `\necho answers ${delayUs === 0 ? 'at once' : `after ${delayUs} µs of sleep`}:\n`;
    out += `${'variant'.padEnd(16)}${'rt/s'.padStart(10)}${'CPU µs/rt'.padStart(12)}${'CPU vs peer'.padStart(13)}\n`;
    for (const r of summary.filter((s) => s.delayUs === delayUs)) {
      out += `${r.variant.padEnd(16)}${f(r.rtPerS, 0).padStart(10)}${f(r.cpuUsPerRt, 1).padStart(12)}${(r.vsPeerCpu === null ? '-' : `${f(r.vsPeerCpu)}x`).padStart(13)}\n`;
    }
  }
  const goals = [];
  for (const r of summary) {
    if (r.variant === 'peer' || r.variant === 'net' || r.vsPeerCpu === null) continue;
    if (r.vsPeerCpu >= 1) goals.push(`MISSED: ${r.variant} at delay ${r.delayUs} µs uses ${f(r.vsPeerCpu)}x the peer's CPU per round trip (goal: < 1x)`);
    if (r.delayUs > 0 && /^wait-(poll|select)$/.test(r.variant) && r.vsPeerCpu > 1.1) {
      goals.push(`MISSED: ${r.variant} in the sleeping case: ${f(r.vsPeerCpu)}x the peer's CPU per wake-up (goal: ≤ 1.1x)`);
    }
  }
  out += goals.length ? `\n${goals.join('\n')}\n` : `\ngoals met: every iomux row below the peer's CPU per round trip; poll/select wait() ≤ 1.1x when sleeping\n`;
  return out;
}
