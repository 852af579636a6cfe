// CI smoke run of `pnpm bench --only workers --smoke`: every server of the
// workers part ran, each run's connections add up to C over the right number
// of workers, and the herd rows are there. It checks the harness, never how
// fast anything is.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'iomux-bench-workers-'));
const jsonPath = join(dir, 'out.json');

interface WorkersJson {
  notes: string[];
  workers: {
    config: { conns: number };
    raw: { name: string; msgsPerS: number; cpuUsPerMsg: number; perWorker: number[] }[];
    summary: { name: string; spreads: number[][] }[];
    herd: { workers: number; connections: number; plain: { accepted: number; threadWakeupsPerConn: number }; exclusive: { accepted: number } }[];
    report: string;
  };
}

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('pnpm bench --only workers --smoke: six servers, connections spread over their workers, the herd counted', () => {
  const run = spawnSync(process.execPath, ['packages/bench/src/cli.mjs', '--only', 'workers', '--smoke', '--json', jsonPath], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.is(run.status, 0, run.stderr);
  assert.match(run.stdout, /Workers: echo at C=\d+/);
  assert.match(run.stdout, /Thundering herd/);
  const out = JSON.parse(readFileSync(jsonPath, 'utf8')) as WorkersJson;
  assert.equal(out.notes, [], 'no step failed');
  const W = out.workers;
  const names = ['iomux-exclusive-1', 'iomux-reuseport-1', 'cluster-1', 'iomux-exclusive-2', 'iomux-reuseport-2', 'cluster-2'];
  assert.equal(W.summary.map((s) => s.name).sort(), [...names].sort());
  for (const r of W.raw) {
    assert.ok(r.msgsPerS > 0 && r.cpuUsPerMsg > 0, `${r.name}: a rate and a cost`);
    assert.is(r.perWorker.length, Number(r.name.slice(-1)), `${r.name}: one count per worker`);
    const total = r.perWorker.reduce((a, b) => a + b, 0);
    // iomux counts what each Worker accepted; for cluster the driver counts
    // the sockets each child holds, sampled twice, which may miss a few.
    if (r.name.startsWith('iomux')) assert.is(total, W.config.conns, `${r.name}: every connection counted once`);
    else assert.ok(total <= W.config.conns && total >= 0.9 * W.config.conns, `${r.name}: ${total} of ${W.config.conns} connections seen`);
  }
  assert.ok(W.herd.length > 0);
  for (const h of W.herd) {
    assert.is(h.plain.accepted, h.connections);
    assert.is(h.exclusive.accepted, h.connections);
    assert.ok(h.plain.threadWakeupsPerConn > 0);
  }
});

test.run();
