import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { fileURLToPath } from 'node:url';
import * as core from '@iomux/core';
import { Events, backends } from '@iomux/core';
import { testBackends, withScope, expectEvents } from './helpers.ts';

test('backends() lists select, poll and epoll on Linux, and io_uring where the kernel allows it', () => {
  const list = backends();
  assert.equal(list.slice(0, 3), ['select', 'poll', 'epoll']);
  // Where nothing refuses io_uring (the sysctl allows it, no seccomp filter,
  // a 5.13+ kernel), the probe must find it; where something does, the
  // refusal test (uring-refusal.test.ts) checks the other side.
  const sysctl = (() => {
    try {
      return readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim();
    } catch {
      return null;
    }
  })();
  const seccomp = /^Seccomp:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  const [major, minor] = release().split('.').map(Number) as [number, number];
  const allowed = sysctl === '0' && seccomp === '0' && (major > 5 || (major === 5 && minor >= 13));
  if (allowed) assert.equal(list, ['select', 'poll', 'epoll', 'io_uring']);
  else assert.ok(list.length === 3 || list[3] === 'io_uring');
});

test('CommonJS require() gives the same exports (Node >= 20.19 loads ES modules)', () => {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  if (major === 20 && minor < 19) return; // require(esm) arrived in 20.19
  // A plain node child: under this test runner's TypeScript loader, require()
  // would compile its own copy of the module.
  const out = execFileSync(
    process.execPath,
    ['-e', "const m = require('@iomux/core'); const s = m.createSelector('poll'); console.log(JSON.stringify([Object.keys(m).sort(), s.backend])); s.close()"],
    { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } },
  );
  assert.equal(JSON.parse(out), [Object.keys(core).sort(), 'poll']);
});

for (const b of testBackends()) {
  test(`${b}: a socket pair becomes readable after a send`, () =>
    withScope((s) => {
      const sel = s.selector(b);
      const [a, c] = s.pair();
      sel.register(a, Events.IN);
      c.send('x');
      expectEvents(sel, a.fileno(), Events.IN);
    }));
}

test.run();
