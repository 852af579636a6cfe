// The io_uring backend where the kernel refuses io_uring: a real refusal, not
// a flag that pretends. A small launcher (test/fixtures/no-io-uring.c, built
// here with the system's cc) installs a seccomp filter that fails
// io_uring_setup(2) with EPERM, as container runtimes' default profiles do,
// and runs a Node child under it. The child must not list io_uring, must get
// ERR_UNSUPPORTED naming the seccomp filter, and must keep the other three.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backends } from '@iomux/core';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'iomux-no-uring-'));
const launcher = join(dir, 'no-io-uring');

const CHILD = `
const core = require('@iomux/core');
const out = { backends: core.backends(), caps: core.capabilities('io_uring').backend };
try { core.createSelector('io_uring'); out.created = true; }
catch (e) { out.code = e.code; out.message = e.message; }
try { new core.IoUringSelector(); out.classCreated = true; }
catch (e) { out.classCode = e.code; }
out.others = core.backends().map((b) => { const s = core.createSelector(b); const [a, c] = core.socketPair(); s.register(a, core.Events.IN); c.send('x'); const n = s.select(1000).length; s.close(); a.close(); c.close(); return n; });
console.log(JSON.stringify(out));`;

function runChild(withFilter: boolean): Record<string, unknown> {
  const argv = [process.execPath, '-e', CHILD];
  const r = withFilter ? spawnSync(launcher, argv, { cwd: root, encoding: 'utf8' }) : spawnSync(argv[0]!, argv.slice(1), { cwd: root, encoding: 'utf8' });
  assert.is(r.status, 0, `child failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

test.before(() => {
  execFileSync('cc', ['-O2', '-Wall', '-o', launcher, join(root, 'test/fixtures/no-io-uring.c')]);
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('under a seccomp filter that refuses io_uring_setup: no io_uring, ERR_UNSUPPORTED names seccomp, the rest works', () => {
  const out = runChild(true);
  assert.equal(out.backends, ['select', 'poll', 'epoll']);
  assert.is(out.caps, 'io_uring', 'its capability record still answers');
  assert.is(out.created, undefined);
  assert.is(out.code, 'ERR_UNSUPPORTED');
  assert.match(String(out.message), /seccomp/);
  assert.match(String(out.message), /EPERM/);
  assert.is(out.classCode, 'ERR_UNSUPPORTED', 'new IoUringSelector() refuses too');
  assert.equal(out.others, [1, 1, 1]);
});

// The negative control: the same child without the filter, where this
// machine allows io_uring, lists it and creates one.
test('the same child without the filter has io_uring where this process has it', () => {
  const out = runChild(false);
  assert.equal(out.backends, backends());
  if (backends().includes('io_uring')) {
    assert.is(out.created, true);
    assert.equal(out.others, [1, 1, 1, 1]);
  }
});

test.run();
