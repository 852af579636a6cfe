// epoll's wait() has two ways to harvest without blocking the JS thread:
// io_uring runs the epoll_wait (IORING_OP_EPOLL_WAIT, Linux 6.15), or, where
// io_uring cannot (older kernels, kernel.io_uring_disabled, a seccomp
// profile), a thread blocks in epoll_wait. A machine that has io_uring runs
// the first in the main suite; this file runs the wait suites again on the
// second, in child processes with IOMUX_EPOLL_WAIT=thread (the documented
// opt-out), so both stay tested everywhere.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backends } from '@iomux/core';

const root = fileURLToPath(new URL('..', import.meta.url));
const FILES = ['test/wait.test.ts', 'test/wait-fair.test.ts', 'test/wait-in-loop.test.ts', 'test/report-once.test.ts', 'test/capabilities.test.ts', 'test/waker.test.ts', 'test/gc.test.ts'];

const env = { ...process.env, IOMUX_BACKEND: 'epoll', IOMUX_EPOLL_WAIT: 'thread', NO_COLOR: '1', FORCE_COLOR: '0' };

test('with IOMUX_EPOLL_WAIT=thread, epoll waits on a thread (capabilities say so)', () => {
  if (!backends().includes('epoll')) assert.unreachable('no epoll on this platform');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', "import { capabilities } from '@iomux/core'; console.log(capabilities('epoll').waitOnThread)"], { cwd: root, env, encoding: 'utf8' });
  assert.is(r.stdout.trim(), 'true', r.stderr);
});

for (const file of FILES) {
  test(`${file} passes on epoll with its wait on a thread`, () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', file], { cwd: root, env, encoding: 'utf8', timeout: 240_000 });
    const out = r.stdout + r.stderr;
    const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? NaN);
    const passed = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? NaN);
    assert.ok(total > 0 && passed === total, `${passed} of ${total} passed:\n${out.slice(-3000)}`);
  });
}

test.run();
