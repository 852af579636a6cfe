import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createRequire } from 'node:module';
import * as core from '@iomux/core';
import { Events, backends } from '@iomux/core';
import { testBackends, withScope, expectEvents } from './helpers.ts';

test('backends() lists select, poll and epoll on Linux', () => {
  assert.equal(backends(), ['select', 'poll', 'epoll']);
});

test('CommonJS require() gives the same exports (Node >= 20.19 loads ES modules)', () => {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  if (major === 20 && minor < 19) return; // require(esm) arrived in 20.19
  const cjs = createRequire(import.meta.url)('@iomux/core') as typeof core;
  assert.equal(Object.keys(cjs).sort(), Object.keys(core).sort());
  assert.is(cjs.createSelector, core.createSelector);
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
