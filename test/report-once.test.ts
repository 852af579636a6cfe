// wait() loses nothing: files whose readiness the kernel clears in the poll
// that sees it (/proc/self/mounts after a mount-table change, the hostname
// file after sethostname) reach a pending wait() and for await on every
// backend, as they reach select(). Each case runs in a child process inside
// fresh mount and UTS namespaces (unshare -m -u), so the machine's own mount
// table and hostname are never touched.
// The bug this catches: a wait that lets one poll see the event (the wait
// thread, or libuv polling the epoll fd) and then asks the kernel again.
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Events } from '@iomux/core';
import { testBackends } from './helpers.ts';

const fixture = fileURLToPath(new URL('./reliability/fixtures/report-once.mjs', import.meta.url));

// Why this machine cannot run the cases, or null. A case that cannot run
// fails with this reason: it never passes silently.
function missing(): string | null {
  if (process.getuid?.() !== 0) return 'needs root for unshare -m -u (mount and UTS namespaces)';
  try {
    execFileSync('unshare', ['-m', '-u', '--propagation', 'private', 'true'], { stdio: 'ignore' });
  } catch (err) {
    return `unshare -m -u failed here: ${String(err)}`;
  }
  return null;
}
const why = missing();

for (const b of testBackends()) {
  for (const file of ['mounts', 'hostname'] as const) {
    for (const how of ['wait', 'iterate', 'select'] as const) {
      const what = { wait: 'a pending wait()', iterate: 'for await', select: 'select() (the control)' }[how];
      test(`${b}: a ${file === 'mounts' ? 'mount' : 'sethostname'} reaches ${what} as PRI`, () => {
        if (why !== null) assert.unreachable(`cannot run: ${why}`);
        const r = spawnSync('unshare', ['-m', '-u', '--propagation', 'private', process.execPath, fixture, b, file, how], {
          encoding: 'utf8',
          timeout: 20_000,
        });
        const line = r.stdout.trim().split('\n').pop() ?? '';
        let out: { got?: number[]; error?: string };
        try {
          out = JSON.parse(line) as typeof out;
        } catch {
          assert.unreachable(`the child printed no result (status ${r.status}, signal ${r.signal}): ${r.stdout}${r.stderr}`);
          return;
        }
        assert.is(out.error, undefined);
        assert.is(out.got?.length, 1, `one ready fd, got ${JSON.stringify(out.got)}`);
        assert.ok((out.got![0]! & Events.PRI) !== 0, `PRI reported: ${out.got![0]}`);
      });
    }
  }
}

test.run();
