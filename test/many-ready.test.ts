// A zero-timeout select() reports every fd that is ready when it is called,
// however many: 200 sockets made readable after they were armed. On io_uring
// under DEFER_TASKRUN one enter runs only about 20 completions' work unless
// asked for more; the rest must not wait for a later call. Every backend.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Events } from '@iomux/core';
import { testBackends, withScope } from './helpers.ts';

const { IN } = Events;
const N = 200;

for (const b of testBackends()) {
  test(`${b}: select(0) reports all ${N} fds that became ready since the last call`, () =>
    withScope((s) => {
      const sel = s.selector<number>(b);
      const peers = [];
      for (let i = 0; i < N; i++) {
        const [a, p] = s.pair();
        sel.register(a, IN, i);
        peers.push(p);
      }
      assert.is(sel.select(0).length, 0, 'nothing ready yet (and every registration armed)');
      for (const p of peers) p.send('x');
      const got = new Set(sel.select(0).map(([key]) => key.data));
      assert.is(got.size, N, `one select(0) saw ${got.size} of ${N}`);
    }),
  );
}

test.run();
