// The cross-thread Waker, on every backend: a select() blocked in a Worker
// is ended from the main thread, a pending wait() on the main thread is ended
// from a Worker; wake-ups before a wait, and several of them, end exactly one
// wait; a waker that outlives its selector writes nowhere (least of all into
// the fd that took over its eventfd's number); select's waker stays below
// FD_SETSIZE.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, readdirSync, readlinkSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import {
  Events,
  FD_SETSIZE,
  ReadyList,
  Waker,
  createSelector,
  pipe,
  raiseFdLimit,
  socketPair,
  type Selector,
} from '@iomux/core';
import { rejectsCode, sleep, testBackends, throwsCode, withScope } from './helpers.ts';

const coreUrl = import.meta.resolve('@iomux/core');
const gc = (globalThis as { gc?: () => void }).gc;

function eventfds(): Set<number> {
  const out = new Set<number>();
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`) === 'anon_inode:[eventfd]') out.add(Number(name));
    } catch {
      // the fd of the directory listing itself, gone by now
    }
  }
  return out;
}

/** A Worker running `body` (an async function body) with `core` and `workerData` in scope. */
function worker(body: string, data: Record<string, unknown>): Worker {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.coreUrl).then(async (core) => { ${body} })
      .catch((err) => { parentPort.postMessage({ error: String(err && err.stack || err) }); });`;
  return new Worker(code, { eval: true, workerData: { coreUrl, ...data } });
}

const nextMessage = (w: Worker) =>
  new Promise<Record<string, unknown>>((resolve, reject) => {
    w.once('message', (m: Record<string, unknown>) => (m && typeof m === 'object' && 'error' in m ? reject(new Error(String(m.error))) : resolve(m)));
    w.once('error', reject);
  });
const exited = (w: Worker) => new Promise<number>((resolve) => w.once('exit', resolve));

/** Asserts that a pending wait() is NOT ended by a stale wake-up: it must still be pending when aborted. */
async function assertNotWoken(sel: Selector): Promise<void> {
  const ac = new AbortController();
  const p = sel.wait({ signal: ac.signal });
  setTimeout(() => ac.abort(), 30);
  await rejectsCode(p, 'ABORT_ERR');
}

test('Waker.from() takes a Waker, its structured clone { id } or the id, and nothing else', () => {
  const sel = createSelector('poll');
  try {
    const w = sel.waker();
    assert.is(sel.waker(), w, 'one waker per selector');
    assert.is(typeof w.id, 'bigint');
    assert.is(Waker.from(w).id, w.id);
    assert.is(Waker.from({ id: w.id }).id, w.id);
    assert.is(Waker.from(w.id).id, w.id);
    assert.is(structuredClone(w).id, w.id, 'survives postMessage');
    throwsCode(() => Waker.from(Number(w.id) as unknown as bigint), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => Waker.from({ id: 1 } as unknown as { id: bigint }), 'ERR_INVALID_ARG_TYPE', TypeError);
    assert.not.equal(createSelector('poll').waker().id, w.id, 'ids are distinct');
  } finally {
    sel.close();
  }
  throwsCode(() => sel.waker(), 'ERR_SELECTOR_CLOSED');
});

for (const backend of testBackends()) {
  const t = (name: string, body: () => void | Promise<void>) => test(`${backend}: ${name}`, body);

  t('a select(null) blocked in a Worker returns [] when the main thread wakes it', async () => {
    const [a, b] = socketPair();
    const w = worker(
      `const sel = core.createSelector(workerData.backend);
       sel.register(workerData.fd, core.Events.IN);
       parentPort.postMessage({ waker: sel.waker() });
       const first = sel.select(null);             // blocks this thread until woken
       parentPort.postMessage({ first: first.length });
       const second = sel.select(null);            // woken again, with the fd ready this time
       parentPort.postMessage({ second: second.map(([k, e]) => [k.fd, e]) });
       sel.close();`,
      { backend, fd: a.fileno() },
    );
    try {
      const exit = exited(w);
      const { waker } = (await nextMessage(w)) as { waker: { id: bigint } };
      await sleep(20); // let it block (a wake before it blocks is fine too: it returns at once)
      const first = nextMessage(w);
      assert.ok(Waker.from(waker).wake(), 'the selector is alive');
      assert.equal(await first, { first: 0 });
      const second = nextMessage(w);
      b.send('x');
      Waker.from(waker).wake(); // true or false: the Worker may have woken for the data and closed already
      const got = (await second).second as [number, number][];
      // Woken or readable, whichever it saw first: never a phantom key.
      for (const [fd] of got) assert.is(fd, a.fileno());
      assert.is(await exit, 0);
      assert.not.ok(Waker.from(waker).wake(), 'closed in the Worker: wake() is a no-op');
    } finally {
      await w.terminate();
      a.close();
      b.close();
    }
  });

  // With a report-once file registered too, select and poll wait on their
  // thread, which watches the waker itself; without, the loop's set does.
  for (const withFile of [false, true]) {
  t(`a pending wait() on the main thread resolves with [] when a Worker wakes it${withFile ? ' (a report-once file registered too)' : ''}`, () =>
    withScope(async (s) => {
      const sel = s.selector(backend);
      const [a] = s.pair();
      sel.register(a, Events.IN);
      if (withFile) {
        sel.register(s.reportOnceFile(), Events.PRI);
      }
      // A timeout far beyond the wake-up, so a wait that is never woken fails fast.
      const t0 = performance.now();
      const pending = sel.wait({ timeoutMs: 10_000 });
      const w = worker(`parentPort.postMessage({ woke: core.Waker.from(workerData.waker).wake() });`, { waker: sel.waker() });
      const exit = exited(w);
      assert.equal(await nextMessage(w), { woke: true });
      assert.equal(await pending, []);
      assert.ok(performance.now() - t0 < 9000, 'ended by the wake-up, not by its timeout');
      assert.is(await exit, 0);
      await assertNotWoken(sel); // the wake-up was consumed
    }));
  }

  t('a wake-up before the wait ends the next one at once; several coalesce into one', () =>
    withScope(async (s) => {
      const sel = s.selector(backend);
      const [a, b] = s.pair();
      sel.register(a, Events.IN);
      const w = sel.waker();
      w.wake();
      assert.equal(sel.select(null), [], 'select() returns at once');
      await assertNotWoken(sel);
      w.wake();
      w.wake();
      w.wake();
      assert.equal(await sel.wait(), []);
      await assertNotWoken(sel);
      // With an fd ready too, the result is that fd (the waker is never a key).
      b.send('x');
      w.wake();
      const ready = sel.select(null);
      assert.is(ready.length, 1);
      assert.is(ready[0]![0].fd, a.fileno());
      assert.is(sel.getMap().size, 1);
    }));

  t('after close(), wake() returns false and writes nothing into the fd that reused the eventfd number', () => {
    const sel = createSelector(backend);
    const before = eventfds(); // after the selector's own (io_uring's ring signals one)
    const waker = sel.waker();
    const mine = [...eventfds()].filter((fd) => !before.has(fd));
    assert.is(mine.length, 1, 'the waker is one eventfd');
    const efd = mine[0]!;
    sel.close();
    assert.not.ok(eventfds().has(efd), 'close() closed it');
    // Take the number back with a socket pair (both ends writable: a write
    // into either one makes the other readable).
    const held: number[][] = [];
    let pair = socketPair();
    while (pair[0].fileno() !== efd && pair[1].fileno() !== efd && held.length < 64) {
      held.push([pair[0].fileno(), pair[1].fileno()]);
      pair = socketPair();
    }
    const [x, y] = pair;
    const probe = createSelector('poll');
    try {
      assert.ok(x.fileno() === efd || y.fileno() === efd, 'the eventfd number was reused');
      probe.register(x, Events.IN);
      probe.register(y, Events.IN);
      assert.not.ok(waker.wake(), 'wake() after close');
      assert.equal(probe.select(0), [], 'nothing was written into the reused fd');
      // Negative control: a write through the bare number would have shown.
      (x.fileno() === efd ? x : y).send('8 bytes!');
      assert.is(probe.select(1000).length, 1);
    } finally {
      probe.close();
      x.close();
      y.close();
      for (const [p, q] of held) {
        closeSync(p!);
        closeSync(q!);
      }
    }
  });

  t('a Worker that exits with an open selector: its waker becomes a no-op', async () => {
    const w = worker(
      `const sel = core.createSelector(workerData.backend);
       parentPort.postMessage({ waker: sel.waker() });
       setTimeout(() => process.exit(0), 10); /* exits without close() */`,
      { backend },
    );
    const exit = exited(w);
    const { waker } = (await nextMessage(w)) as { waker: { id: bigint } };
    assert.is(await exit, 0);
    assert.not.ok(Waker.from(waker).wake(), 'the cleanup hook destroyed it');
  });

  t('a selector dropped unclosed: the GC releases its waker, which then wakes nothing', async () => {
    assert.ok(gc, 'run with --expose-gc (pnpm test does)');
    let before = eventfds();
    const waker = (() => {
      const sel = createSelector(backend);
      before = eventfds(); // after the selector's own (io_uring's ring signals one)
      return sel.waker();
    })();
    const mine = [...eventfds()].filter((fd) => !before.has(fd));
    assert.is(mine.length, 1);
    assert.ok(waker.wake());
    for (let i = 0; i < 40 && waker.wake(); i++) {
      gc();
      await sleep(10);
    }
    assert.not.ok(waker.wake());
    assert.not.ok(eventfds().has(mine[0]!), 'its eventfd was closed');
  });

  t('wake() from a Worker in a tight loop while the main thread closes selectors: no crash, no stray writes', async () => {
    const ids = new SharedArrayBuffer(8 * 3); // [current id, stop, wake() calls so far]
    const slot = new BigInt64Array(ids);
    const w = worker(
      `const slot = new BigInt64Array(workerData.ids);
       let calls = 0;
       parentPort.postMessage({ started: true });
       while (Atomics.load(slot, 1) === 0n) { core.Waker.from(Atomics.load(slot, 0) || 1n).wake(); Atomics.store(slot, 2, BigInt(++calls)); }
       parentPort.postMessage({ calls });`,
      { ids },
    );
    try {
      assert.equal(await nextMessage(w), { started: true });
      const [a, b] = socketPair();
      try {
        // At least 200 selectors, and until the Worker has really been at it.
        for (let i = 0; (i < 200 || Atomics.load(slot, 2) < 2000n) && i < 200_000; i++) {
          const sel = createSelector(backend);
          sel.register(a, Events.IN);
          Atomics.store(slot, 0, BigInt.asIntN(64, sel.waker().id));
          if (i % 2 === 0) sel.select(0);
          sel.close();
        }
        Atomics.store(slot, 1, 1n);
        const { calls } = (await nextMessage(w)) as { calls: number };
        assert.ok(calls >= 2000, `the Worker woke ${calls} times`);
        // The sockets were never written to by a stray wake.
        const probe = createSelector('poll');
        probe.register(a, Events.IN);
        probe.register(b, Events.IN);
        assert.equal(probe.select(0), []);
        probe.close();
      } finally {
        a.close();
        b.close();
      }
    } finally {
      await w.terminate();
    }
  });

  t('every registered fd ready and a wake-up in the same call: select() and selectInto() report every fd (the result buffer has room for the waker too)', () =>
    withScope((s) => {
      const sel = s.selector(backend);
      const w = sel.waker();
      const list = new ReadyList();
      // Past each size at which the result buffer grows (16 pairs, then 32).
      for (let n = 1; n <= 40; n++) {
        const [a, b] = s.pair();
        b.send('x');
        sel.register(a, Events.IN);
        w.wake();
        const got = sel.select(0);
        assert.is(got.length, n, `${n} ready fds and a wake-up: ${got.length} reported`);
        w.wake();
        assert.is(sel.selectInto(list, 0), n, `selectInto: ${n} ready fds and a wake-up`);
      }
    }));

  t('a Waker of a closed selector wakes no later selector (ids are never reused), and wake() says false', async () => {
    const old = createSelector(backend);
    const stale = old.waker();
    old.close();
    const later: Selector[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const sel = createSelector(backend);
        assert.is.not(sel.waker().id, stale.id, 'a new waker takes a fresh id');
        later.push(sel);
      }
      assert.not.ok(stale.wake(), 'wake() of a closed selector is a no-op');
      for (const sel of later) await assertNotWoken(sel);
    } finally {
      for (const sel of later) sel.close();
    }
  });
}

if (testBackends().includes('select')) {
  test('select: the waker must sit below FD_SETSIZE; with no such fd free, ERR_FD_SETSIZE; with one free, it works', () => {
    const limit = raiseFdLimit(FD_SETSIZE + 256);
    if (limit < FD_SETSIZE + 64) {
      console.log(`  (skipped: RLIMIT_NOFILE ${limit} too low)`);
      return;
    }
    const held: number[] = [];
    try {
      // Occupy every fd below FD_SETSIZE.
      for (;;) {
        const [r, wr] = pipe();
        held.push(r, wr);
        if (r >= FD_SETSIZE && wr >= FD_SETSIZE) break;
      }
      const sel = createSelector('select');
      const other = createSelector('epoll');
      try {
        throwsCode(() => sel.waker(), 'ERR_FD_SETSIZE', RangeError);
        assert.ok(other.waker().wake(), 'epoll has no such limit');
        assert.equal(other.select(null), []);
        // Free one low fd: the waker takes it.
        const low = held.find((fd) => fd < FD_SETSIZE)!;
        closeSync(low);
        held.splice(held.indexOf(low), 1);
        const w = sel.waker();
        assert.ok(w.wake());
        assert.equal(sel.select(null), []);
      } finally {
        sel.close();
        other.close();
      }
    } finally {
      for (const fd of held) closeSync(fd);
    }
  });
}

test.run();
