// examples/watch-mounts.mjs: a tmpfs mounted while it waits (in `for await`)
// is printed as a change, on every backend. Each case runs in a fresh private
// mount namespace (unshare -m --propagation private; root needed), so the
// machine's mount table is never touched and the mount dies with the
// namespace. The bug this catches: a wait that loses a report-once event
// (the mount table's PRI is cleared by the poll that sees it), or an example
// that watches the wrong bit (IN: always ready).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testBackends } from '../helpers.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

// Why the cases cannot run here, or null. They then fail with the reason.
function missing(): string | null {
  if (process.getuid?.() !== 0) return 'needs root for unshare -m (a private mount namespace) and mount';
  try {
    execFileSync('unshare', ['-m', '--propagation', 'private', 'true'], { stdio: 'ignore' });
  } catch (err) {
    return `unshare -m --propagation private is missing or refused here: ${String(err)}`;
  }
  return null;
}
const why = missing();

// Inside the namespace: start the example, wait for its ready line (it has
// read the table and is about to wait), mount, and let it print and exit.
const SCRIPT = `
  node examples/watch-mounts.mjs --backend "$1" --count 1 >"$2/out" 2>&1 & pid=$!
  i=0; while ! grep -q '^watching' "$2/out" && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
  mount -t tmpfs iomux-watch-mounts "$2/mnt" || { kill $pid; exit 3; }
  wait $pid; rc=$?; cat "$2/out"; exit $rc`;

for (const b of testBackends()) {
  test(`${b}: watch-mounts prints a tmpfs mounted while it waits, through for await`, () => {
    if (why !== null) assert.unreachable(`cannot run: ${why}`);
    const dir = mkdtempSync(join(tmpdir(), 'iomux-watch-mounts-'));
    try {
      execFileSync('mkdir', [join(dir, 'mnt')]);
      const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', SCRIPT, 'sh', b, dir], {
        cwd: root,
        encoding: 'utf8',
        timeout: 60_000,
      });
      const out = r.stdout + r.stderr;
      assert.is(r.signal, null, `killed by ${r.signal}: the change never came (${out})`);
      assert.is(r.status, 0, out);
      const lines = r.stdout.split('\n');
      assert.match(lines[0] ?? '', new RegExp(`^watching /proc/self/mounts \\(\\d+ mounts\\) backend=${b}$`));
      assert.match(lines[1] ?? '', /^change 1 \((.*\|)?PRI(\|.*)?\):$/);
      assert.ok(lines.some((l) => l.startsWith(`+ iomux-watch-mounts ${join(dir, 'mnt')} tmpfs rw`)), out);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('a bad --count is a usage error (exit 2)', () => {
  const r = spawnSync(process.execPath, ['examples/watch-mounts.mjs', '--count', 'x'], { cwd: root, encoding: 'utf8' });
  assert.is(r.status, 2);
  assert.match(r.stderr, /^watch-mounts: --count must be a positive integer/);
  assert.match(r.stderr, /usage: node examples\/watch-mounts\.mjs/);
});

test.run();
