import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as core from '@iomux/core';
import { Events, backends } from '@iomux/core';
import { testBackends, withScope, expectEvents } from './helpers.ts';

test('backends() lists select, poll and epoll on Linux', () => {
  assert.equal(backends(), ['select', 'poll', 'epoll']);
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
