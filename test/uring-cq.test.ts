// Many ready fds in one round: every backend reports each exactly once.
// On io_uring this is where the completion queue (CQ) runs out: a burst of
// registrations of ready fds completes more polls than the CQ's initial
// 1024 entries before the first wait (the kernel keeps the rest in its
// overflow list, IORING_FEAT_NODROP), and wake-ups of many armed polls are
// completion work that one non-blocking enter runs only 20 of under
// DEFER_TASKRUN. Where the kernel can resize rings (6.13), the CQ grows to
// twice the registrations; where it cannot, every round drains the overflow
// list over several enters. That second case runs in a child under a seccomp
// filter that refuses IORING_REGISTER_RESIZE_RINGS with EINVAL, as older
// kernels do (test/fixtures/no-io-uring.c --no-resize): a real refusal.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { capabilities, raiseFdLimit } from '@iomux/core';
import { burst } from './fixtures/cq-burst.ts';
import { testBackends } from './helpers.ts';

const N = 3000; // ready fds: about 3x the io_uring CQ's initial size
const root = fileURLToPath(new URL('..', import.meta.url));
const clean = { reported: N, missing: 0, twice: 0, extra: 0, wrongMask: 0 };
const none = { reported: 0, missing: 0, twice: 0, extra: 0, wrongMask: 0 };
const expected = { burst: clean, again: clean, idle: none, wake: clean };

const enoughFds = raiseFdLimit(Infinity) >= 2 * N + 512;

for (const b of testBackends()) {
  // select: these fds are past FD_SETSIZE.
  if (capabilities(b).maxFd < 2 * N) continue;
  test(`${b}: ${N} ready fds, one select(0) round reports each exactly once (a registration burst, again, after wake-ups)`, () => {
    if (!enoughFds) return console.log(`  (skipped: RLIMIT_NOFILE's hard limit is below ${2 * N + 512})`);
    assert.equal(burst(b, N), expected);
  });
}

if (testBackends().includes('io_uring')) {
  test(`io_uring on a kernel that cannot resize rings (seccomp): the CQ stays at 1024, ${N} ready fds still reported once per round`, () => {
    if (!enoughFds) return console.log(`  (skipped: RLIMIT_NOFILE's hard limit is below ${2 * N + 512})`);
    const dir = mkdtempSync(join(tmpdir(), 'iomux-no-resize-'));
    try {
      const launcher = join(dir, 'no-io-uring');
      execFileSync('cc', ['-O2', '-Wall', '-o', launcher, join(root, 'test/fixtures/no-io-uring.c')]);
      const child = [process.execPath, '--import', 'tsx', join(root, 'test/fixtures/cq-burst.ts'), 'io_uring', String(N)];
      const r = spawnSync(launcher, ['--no-resize', ...child], { cwd: root, encoding: 'utf8' });
      assert.is(r.status, 0, `child failed: ${r.stderr}`);
      assert.equal(JSON.parse(r.stdout), expected);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.run();
