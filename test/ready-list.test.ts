// selectInto() and ReadyList: the same results as select(), read by index,
// with no allocation per call once warm. Every test runs on every backend.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Events, ReadyList, createSelector, type Selector } from '@iomux/core';
import { readyMap, testBackends, throwsCode, withScope } from './helpers.ts';

const { IN, OUT, ONESHOT } = Events;
const gc = (globalThis as { gc?: () => void }).gc;

/** Median heap growth (bytes) over `rounds` rounds of `calls` calls of `fn`, after a full GC. */
function heapGrowth(fn: () => void, calls = 2000, rounds = 15): number {
  for (let i = 0; i < calls; i++) fn(); // warm: the JIT and any storage growth
  const deltas: number[] = [];
  for (let r = 0; r < rounds; r++) {
    gc!();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < calls; i++) fn();
    deltas.push(process.memoryUsage().heapUsed - before);
  }
  deltas.sort((a, b) => a - b);
  return deltas[rounds >> 1]!;
}

for (const b of testBackends()) {
  test(`${b}: selectInto() reports what select() reports, by index`, () =>
    withScope((s) => {
      const sel = s.selector<string>(b);
      const [a1, a2] = s.pair();
      const [c1, c2] = s.pair();
      sel.register(a1, IN, 'a1');
      sel.register(c1, IN | OUT, 'c1');
      sel.register(a2, OUT, 'a2');
      c2.send('x');
      const list = new ReadyList<string>();
      assert.is(list.length, 0);
      const n = sel.selectInto(list, 0);
      const want = readyMap(sel.select(0));
      assert.is(n, list.length);
      assert.is(n, want.size);
      const got = new Map<number, number>();
      for (let i = 0; i < n; i++) {
        assert.is(list.key(i), sel.getKey(list.fd(i)), 'the registered key itself');
        assert.is(list.fd(i), list.key(i).fd);
        got.set(list.fd(i), list.events(i));
      }
      assert.equal(got, want);
      assert.equal(new Map(list.toArray().map(([k, e]) => [k.fd, e])), want);
      assert.equal(new Map([...list].map(([k, e]) => [k.fd, e])), want);
      // A refill replaces the entries: nothing ready now for a1 once drained.
      sel.unregister(c1);
      sel.unregister(a2);
      assert.is(sel.selectInto(list, 0), 0);
      assert.is(list.length, 0);
      throwsCode(() => list.key(0), 'ERR_OUT_OF_RANGE', RangeError);
    }));

  test(`${b}: selectInto() keeps ONESHOT, timeouts and errors as select() does`, () =>
    withScope((s) => {
      const sel = s.selector(b);
      const [a, c] = s.pair();
      sel.register(a, IN | ONESHOT);
      c.send('x');
      const list = new ReadyList();
      assert.is(sel.selectInto(list, 1000), 1);
      assert.is(list.events(0) & IN, IN);
      assert.is(sel.selectInto(list, 20), 0, 'a fired ONESHOT key reports nothing until modify()');
      sel.modify(a, IN | ONESHOT);
      assert.is(sel.selectInto(list, 0), 1);
      throwsCode(() => list.events(1), 'ERR_OUT_OF_RANGE');
      throwsCode(() => list.key(-1), 'ERR_OUT_OF_RANGE');
      throwsCode(() => sel.selectInto([] as never, 0), 'ERR_INVALID_ARG_TYPE', TypeError);
      throwsCode(() => sel.selectInto(list, 'x' as never), 'ERR_INVALID_ARG_TYPE', TypeError);
      throwsCode(() => sel.selectInto(list, NaN), 'ERR_INVALID_ARG_VALUE', RangeError);
      sel.close();
      throwsCode(() => sel.selectInto(list, 0), 'ERR_SELECTOR_CLOSED');
    }));

  test(`${b}: a warm selectInto() loop allocates nothing per call; select() does (control)`, () =>
    withScope((s) => {
      assert.ok(gc, 'run with --expose-gc (pnpm test does)');
      const sel: Selector<number> = s.selector<number>(b);
      const ends = [s.pair(), s.pair(), s.pair()];
      ends.forEach(([x, y], i) => {
        sel.register(x, IN, i);
        y.send('ready');
      });
      const list = new ReadyList<number>();
      let sum = 0;
      const into = heapGrowth(() => {
        const n = sel.selectInto(list, 0);
        for (let i = 0; i < n; i++) sum += list.key(i).data + list.events(i);
      });
      const plain = heapGrowth(() => {
        for (const [key, ev] of sel.select(0)) sum += key.data + ev;
      });
      assert.ok(sum > 0);
      // 2000 calls x 3 fds: select() makes an array and 3 tuples per call (well
      // over 100 KB); any per-call or per-fd object in selectInto() would show.
      assert.ok(plain > 100_000, `control: select() grew the heap by ${plain} B over 2000 calls`);
      assert.ok(into < 16_384, `selectInto() grew the heap by ${into} B over 2000 calls (select(): ${plain} B)`);
    }));
}

test('a list can be filled by selectors of different backends in turn', () =>
  withScope((s) => {
    const list = new ReadyList();
    const [a, c] = s.pair();
    c.send('x');
    for (const b of testBackends()) {
      const sel = createSelector(b);
      try {
        sel.register(a, IN, b);
        assert.is(sel.selectInto(list, 0), 1);
        assert.is(list.key(0).data, b);
      } finally {
        sel.close();
      }
    }
  }));

test.run();
