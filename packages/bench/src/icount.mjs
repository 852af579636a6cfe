#!/usr/bin/env node
// User-space instructions per dispatch pass, counted by valgrind's callgrind:
// the same dispatch method as `pnpm bench` (dispatch.mjs and the C
// reference), but a count instead of a time. Instruction counts are
// repeatable on a loaded machine, where wall-clock times move by 2x; they
// leave out the kernel (the system calls themselves), which is the same work
// for every program here. A diagnostic for changing the hot path, not part
// of `pnpm bench`.
//
//   node packages/bench/src/icount.mjs [--backend epoll] [--n 100] [--active 1]
//        [--programs c,c-mt,percall,into,batch]
//
// Each program runs twice under callgrind, with 10 and 310 timed runs after
// the same warm-up; the difference over the extra runs' passes is the
// cost of a pass, start-up and JIT compilation cancelled out. Node runs with
// --predictable (V8 compiles on the main thread, with fixed seeds), which
// makes its counts repeat to within ~0.1%. Needs valgrind; about a minute per
// program.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binPath, SRC } from './run.mjs';
import { opt } from './flags.mjs';

const backend = opt('--backend', 'epoll');
const N = opt('--n', '100');
const A = Number(opt('--active', 1));
const W = A === 1 ? 100 : 10 * A; // as cli.mjs: ~101 passes of one event, or ~11 of ~A
const programs = opt('--programs', 'c,c-mt,percall,into,batch').split(',');
const NODE_FLAGS = ['--predictable', '--random-seed=1', '--hash-seed=1'];
const dir = mkdtempSync(join(tmpdir(), 'iomux-icount-'));

/** Instructions of one callgrind run of `cmd args` (its whole life), and the passes its timed runs made. */
function count(cmd, args) {
  const out = join(dir, 'callgrind.out');
  const r = spawnSync('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, cmd, ...args], { encoding: 'utf8' });
  if (r.error) throw new Error(`valgrind: ${r.error.message} (is valgrind installed?)`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}\n${r.stderr.slice(-2000)}`);
  const m = /^summary: (\d+)$/m.exec(readFileSync(out, 'utf8'));
  if (!m) throw new Error('callgrind wrote no summary');
  const rec = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
  return { instructions: Number(m[1]), passes: rec.samples.reduce((sum, s) => sum + s.passes, 0) };
}

function commandFor(program, runs) {
  const common = ['--backend', backend, '--n', N, '--active', String(A), '--writes', String(W), '--runs', String(runs)];
  if (program === 'c' || program === 'c-mt') {
    return [binPath('iomux_dispatch_bench'), [...common, '--warmup', '1', ...(program === 'c-mt' ? ['--threads', '1'] : [])]];
  }
  return [process.execPath, [...NODE_FLAGS, join(SRC, 'dispatch.mjs'), ...common, '--api', program, '--warmup', '100', '--warmup-ms', '0']];
}

try {
  console.log(`user-space instructions per pass: ${backend}, N=${N}, A=${A} (callgrind; the kernel's work is not counted)`);
  for (const program of programs) {
    const [lo, hi] = [10, 310].map((runs) => count(...commandFor(program, runs)));
    console.log(`${program.padEnd(8)} ${Math.round((hi.instructions - lo.instructions) / (hi.passes - lo.passes))}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
