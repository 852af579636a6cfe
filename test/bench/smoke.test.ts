// CI smoke run of the benchmark harness: `pnpm bench --smoke`
// finishes in seconds and writes JSON of the expected shape and an SVG chart.
// It checks that the harness works, never how fast anything is.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backends } from '@iomux/core';

// The bench measures every backend backends() lists (io_uring where its probe succeeds).
const testedBackends: string[] = backends();
const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'iomux-bench-'));
const jsonPath = join(dir, 'out.json');
const svgPath = join(dir, 'out.svg');

const run = spawnSync(process.execPath, ['packages/bench/src/cli.mjs', '--smoke', '--json', jsonPath, '--svg', svgPath], {
  cwd: root,
  encoding: 'utf8',
  timeout: 120_000,
});

// The parts of the bench JSON this file reads (JSON.parse gives `any`; the
// assertions below check that the values are really there).
interface BenchJson {
  meta: { profile: string; machine: { cores: unknown } } & Record<string, unknown>;
  notes: string[];
  dispatch: {
    raw: { impl: string; api?: string; active: number; writes: number; samples: { ns: number; passes: number; events: number }[] }[];
    summary: ({ backend: string; ratio: number } & Record<'c' | 'cMt' | 'iomux' | 'iomuxInto' | 'iomuxBatch', { perPassUs: number }>)[];
  };
  echo: {
    raw: { server: string; mismatches: number; failures: number; msgs: number; server_cpu_us_per_msg: number }[];
  };
  wait: { summary: { backend: string; selectRtPerS: number; waitRtPerS: number }[] };
}
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as BenchJson;

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('pnpm bench --smoke exits 0 and prints the three tables', () => {
  assert.is(run.status, 0, `exit ${run.status}\n${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, 'Dispatch scaling');
  assert.match(run.stdout, 'Echo throughput');
  assert.match(run.stdout, 'wait() vs select()');
  assert.match(run.stdout, /dispatch \[1\/\d+\]/); // a progress line per step
});

// The negative control of the exit status above: a preload that makes every
// iomux dispatch child die at start (as a stale build of @iomux/core did) must
// end the run with exit status 1, not only a line in its notes.
test('a measurement that cannot be made makes pnpm bench exit 1', () => {
  const preload = join(dir, 'break-dispatch.mjs');
  writeFileSync(preload, "if (process.argv[1]?.endsWith('dispatch.mjs')) throw new Error('planted: this dispatch child cannot start');\n");
  const broken = spawnSync(
    process.execPath,
    ['packages/bench/src/cli.mjs', '--smoke', '--only', 'dispatch', '--backend', 'epoll', '--json', join(dir, 'broken.json'), '--svg', join(dir, 'broken.svg')],
    { cwd: root, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NODE_OPTIONS: `--import=${preload}` } },
  );
  assert.is(broken.status, 1, `exit ${broken.status}\n${broken.stdout}\n${broken.stderr}`);
  assert.match(broken.stderr, /measurements? failed/);
  assert.match(broken.stdout, /planted: this dispatch child cannot start/);
});

test('the JSON records the machine and every raw sample', () => {
  const r = readJson(jsonPath);
  assert.is(r.meta.profile, 'smoke');
  for (const k of ['machine', 'kernel', 'node', 'fdLimit', 'FD_SETSIZE', 'date']) assert.ok(k in r.meta, `meta.${k}`);
  assert.type(r.meta.machine.cores, 'number');
  assert.equal(r.notes.filter((n) => /failed/.test(n)), [], 'no step failed');
  assert.not.ok('peers' in r, 'the peers comparison (npm install, node-gyp) is not in the default run');

  // dispatch: C, C+thread and iomux (per-call, into, batched) side by side for every backend
  assert.ok(r.dispatch.raw.length > 0);
  for (const rec of r.dispatch.raw) {
    assert.ok(['c', 'c-mt', 'iomux'].includes(rec.impl));
    if (rec.impl === 'iomux') assert.ok(['percall', 'into', 'batch'].includes(rec.api ?? ''), `api ${rec.api}`);
    assert.ok(rec.samples.length > 0);
    for (const s of rec.samples) {
      assert.ok(s.ns > 0 && s.passes > 0);
      assert.is(s.events, rec.active + rec.writes, 'every byte written was read');
    }
  }
  const backends = new Set(r.dispatch.summary.map((x) => x.backend));
  assert.equal([...backends].sort(), [...testedBackends].sort(), 'every backend this machine runs');
  for (const row of r.dispatch.summary) {
    for (const impl of ['c', 'cMt', 'iomux', 'iomuxInto', 'iomuxBatch'] as const) assert.ok(row[impl].perPassUs > 0, `${row.backend} ${impl}`);
    assert.ok(row.ratio > 0);
  }

  // echo: every server answered, every byte verified
  const servers = new Set(r.echo.raw.map((x) => x.server));
  const iomuxServers = testedBackends.flatMap((b) => [`iomux-${b}`, `iomux-${b}-into`, `iomux-${b}-batch`]);
  const cServers = testedBackends.includes('io_uring') ? ['c', 'c-io_uring'] : ['c'];
  assert.equal([...servers].sort(), [...cServers, ...iomuxServers, 'node-net'].sort());
  for (const x of r.echo.raw) {
    assert.is(x.mismatches, 0);
    assert.is(x.failures, 0);
    assert.ok(x.msgs > 0, `${x.server} echoed messages`);
    assert.ok(x.server_cpu_us_per_msg >= 0, `${x.server} CPU from /proc`);
  }

  // wait: both modes measured on every backend
  assert.is(r.wait.summary.length, testedBackends.length);
  for (const w of r.wait.summary) assert.ok(w.selectRtPerS > 0 && w.waitRtPerS > 0);
});

test('--only and --backend narrow the run', () => {
  const only = join(dir, 'only.json');
  const r = spawnSync(process.execPath, ['packages/bench/src/cli.mjs', '--smoke', '--only', 'wait', '--backend', 'epoll', '--json', only], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.is(r.status, 0, r.stdout + r.stderr);
  const j = readJson(only);
  assert.equal(j.dispatch.raw, []);
  assert.equal(j.echo.raw, []);
  assert.equal(j.wait.summary.map((w) => w.backend), ['epoll']);
});

// The quick and full profiles add CPython to dispatch; its selectors module
// has no io_uring selector, which once cost the io_uring rows of the main
// comparison (the CPython child failed, and with it the whole row).
test('--cpython: every backend keeps its dispatch rows; CPython only beside the mechanisms it has', () => {
  const py = spawnSync('python3', ['-c', 'import selectors'], { encoding: 'utf8' });
  if (py.status !== 0) {
    console.log('  (python3 with selectors is not installed here: this check runs without CPython, and --cpython must then be ignored)');
  }
  const out = join(dir, 'cpython.json');
  const r = spawnSync(process.execPath, ['packages/bench/src/cli.mjs', '--smoke', '--only', 'dispatch', '--cpython', '--json', out, '--svg', join(dir, 'cpython.svg')], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.is(r.status, 0, r.stdout + r.stderr);
  const j = readJson(out);
  assert.equal([...new Set(j.dispatch.summary.map((row) => row.backend))].sort(), [...testedBackends].sort());
  for (const row of j.dispatch.summary) {
    const hasPy = 'cpython' in row;
    assert.is(hasPy, py.status === 0 && row.backend !== 'io_uring', `${row.backend}: a CPython column ${hasPy ? 'present' : 'missing'}`);
  }
});

test('a bad option is refused with the usage text', () => {
  const r = spawnSync(process.execPath, ['packages/bench/src/cli.mjs', '--only', 'nope'], { cwd: root, encoding: 'utf8' });
  assert.is(r.status, 2);
  assert.match(r.stderr, 'usage: pnpm bench');
});

test('the SVG chart is written', () => {
  const svg = readFileSync(svgPath, 'utf8');
  assert.match(svg, /^<svg /);
  assert.match(svg, /stroke-dasharray/); // the dashed C reference
});

test.run();
