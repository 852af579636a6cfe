// wait() never starves the event loop: while an fd is ready at call time and
// never drained, consecutive wait() resolutions (and for await iterations)
// still let the loop turn: at most FAIR_BURST results between two turns, so
// an immediate queued at any point runs before the (FAIR_BURST + 1)th later
// result, and a due timer fires.
// The bug this catches: a wait() that resolves every call as a microtask
// when something is ready (850,000 wake-ups in 500 ms, a 5 ms timer never
// firing).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Events, FAIR_BURST } from '@iomux/core';
import { testBackends, withScope } from './helpers.ts';

const { IN } = Events;

for (const b of testBackends()) {
  const t = (name: string, body: Parameters<typeof withScope>[0]) => test(`${b}: ${name}`, () => withScope(body));

  for (const how of ['wait()', 'for await'] as const) {
    t(`${how} over a never-drained fd: an immediate queued at any point runs within ${FAIR_BURST} results`, async (s) => {
      const sel = s.selector(b);
      const [a, c] = s.pair();
      sel.register(a, IN);
      c.send('never read');
      let results = 0;
      const lags: number[] = [];
      const queue = () => {
        const at = results;
        setImmediate(() => lags.push(results - at));
      };
      const each = () => {
        results++;
        // Immediates queued at different phases of a burst.
        if (results % 37 === 0) queue();
      };
      if (how === 'wait()') {
        while (results < 3000) {
          const ready = await sel.wait();
          assert.is(ready.length, 1);
          each();
        }
      } else {
        for await (const ready of sel) {
          assert.is(ready.length, 1);
          each();
          if (results >= 3000) break;
        }
      }
      await new Promise((r) => setImmediate(r));
      assert.ok(lags.length >= 50, `${lags.length} immediates ran`);
      const worst = Math.max(...lags);
      assert.ok(worst <= FAIR_BURST, `an immediate waited for ${worst} results (at most ${FAIR_BURST})`);
    });
  }

  t('a due timer fires while wait() loops over a never-drained fd', async (s) => {
    const sel = s.selector(b);
    const [a, c] = s.pair();
    sel.register(a, IN);
    c.send('never read');
    let fired = false;
    setTimeout(() => (fired = true), 5);
    let results = 0;
    // Without fairness the loop never yields and ends by the count alone.
    while (!fired && results < 1_000_000) {
      await sel.wait();
      results++;
    }
    assert.ok(fired, `the 5 ms timer had not fired after ${results} results`);
  });

  t('bursts are at most FAIR_BURST long, but they do happen (no needless trip through the loop)', async (s) => {
    const sel = s.selector(b);
    const [a, c] = s.pair();
    sel.register(a, IN);
    c.send('never read');
    let results = 0;
    let turns = 0;
    let longest = 0;
    let run = 0;
    let stop = false;
    const turn = () => {
      turns++;
      longest = Math.max(longest, run);
      run = 0;
      if (!stop) setImmediate(turn);
    };
    setImmediate(turn);
    while (results < 2000) {
      await sel.wait();
      results++;
      run++;
    }
    stop = true;
    longest = Math.max(longest, run);
    assert.ok(longest <= FAIR_BURST, `a run of ${longest} results without a loop turn`);
    assert.ok(longest >= FAIR_BURST / 2, `runs of ${longest} results at most: the fast path is not used`);
    assert.ok(turns >= 2000 / FAIR_BURST - 1, `${turns} loop turns for 2000 results`);
  });
}

test.run();
