import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Events, backends } from '@iomux/core';
import { testBackends, withScope, expectEvents } from './helpers.ts';

test('backends() lists select, poll and epoll on Linux', () => {
  assert.equal(backends(), ['select', 'poll', 'epoll']);
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
