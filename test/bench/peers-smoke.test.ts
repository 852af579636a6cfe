// `pnpm bench --only peers --smoke`: the peers harness runs every variant
// (the npm epoll package, iomux wait()/for await/Watcher per backend, net)
// on both echo delays and writes a row for each. It checks the harness, never
// the speed. The peer comes from the npm registry (npm install into
// node_modules/.cache/iomux-bench-peers, built with node-gyp): without the
// network or a compiler the bench exits 1 naming the cause, and so this fails.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'iomux-bench-peers-'));
const jsonPath = join(dir, 'out.json');
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('--only peers --smoke: every variant on both delays, a report, and the goals line', () => {
  const r = spawnSync(process.execPath, ['packages/bench/src/cli.mjs', '--only', 'peers', '--smoke', '--json', jsonPath], {
    cwd: root,
    encoding: 'utf8',
    timeout: 600_000,
  });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /## Against the npm epoll package \(epoll@4\.0\.2\)/);
  assert.match(r.stdout, /goals met|MISSED/);
  const json = JSON.parse(readFileSync(jsonPath, 'utf8')) as { peers: { summary: { variant: string; delayUs: number; rtPerS: number; cpuUsPerRt: number }[] } };
  const want = ['peer', 'net', ...['select', 'poll', 'epoll'].flatMap((b) => [`wait-${b}`, `iter-${b}`, `watcher-${b}`])];
  for (const delayUs of [0, 100]) {
    for (const variant of want) {
      const row = json.peers.summary.find((s) => s.variant === variant && s.delayUs === delayUs);
      assert.ok(row, `a row for ${variant} at ${delayUs} µs`);
      assert.ok(row.rtPerS > 0 && row.cpuUsPerRt > 0, `${variant}: ${JSON.stringify(row)}`);
    }
  }
});

test.run();
