// wait(): the event loop keeps running while any backend waits.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Events, createSelector } from '@iomux/core';
import { readyMap, rejectsCode, sleep, testBackends, withScope } from './helpers.ts';

const { IN, OUT } = Events;

for (const b of testBackends()) {
  const t = (name: string, body: Parameters<typeof withScope>[0]) => test(`${b}: ${name}`, () => withScope(body));

  t('timers tick while a 300 ms wait is pending', async (s) => {
    const sel = s.selector(b);
    const [a] = s.pair();
    sel.register(a, IN);
    let ticks = 0;
    let immediates = 0;
    const iv = setInterval(() => ticks++, 10);
    setImmediate(() => immediates++);
    const t0 = performance.now();
    const ready = await sel.wait({ timeoutMs: 300 });
    clearInterval(iv);
    assert.equal(ready, []);
    assert.ok(performance.now() - t0 >= 300, 'the wait never ends early');
    assert.ok(ticks >= 5, `the interval ticked ${ticks} times during the wait`);
    assert.is(immediates, 1);
  });

  t('resolves with the ready fds when a peer writes later', async (s) => {
    const sel = s.selector<string>(b);
    const [a, c] = s.pair();
    sel.register(a, IN, 'a');
    setTimeout(() => c.send('x'), 20);
    const ready = await sel.wait();
    assert.is(ready.length, 1);
    assert.is(ready[0]![0].data, 'a');
    assert.is(ready[0]![1], IN);
  });

  t('a timeout beyond setTimeout range waits without warnings or early wake-ups', async (s) => {
    const sel = s.selector(b);
    const [a, c] = s.pair();
    sel.register(a, IN);
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const p = sel.wait({ timeoutMs: 2 ** 40 });
      let settled = false;
      void p.then(() => (settled = true));
      await sleep(50);
      assert.not.ok(settled, 'still waiting');
      c.send('x');
      assert.is((await p).length, 1);
      await sleep(1);
      assert.equal(warnings.map((w) => w.name), []);
    } finally {
      process.off('warning', onWarning);
    }
  });

  t('wait({timeoutMs: 0}) does not wait; ready fds resolve at once', async (s) => {
    const sel = s.selector(b);
    const [a] = s.pair();
    sel.register(a, OUT);
    assert.is(readyMap(await sel.wait({ timeoutMs: 0 })).get(a.fileno()), OUT);
    sel.modify(a, IN);
    assert.equal(await sel.wait({ timeoutMs: 0 }), []);
  });

  t('register, modify and unregister during a pending wait take effect in it', async (s) => {
    const sel = s.selector(b);
    const [a, c] = s.pair();
    const [d, e] = s.pair();
    // register: a new fd with data waiting is reported by the pending wait
    let p = sel.wait({ timeoutMs: 5000 });
    await sleep(20);
    c.send('x');
    await sleep(10);
    sel.register(a, IN);
    assert.is(readyMap(await p).get(a.fileno()), IN);
    a.recv(10);
    // modify: IN (idle) -> OUT (ready)
    p = sel.wait({ timeoutMs: 5000 });
    await sleep(20);
    sel.modify(a, OUT);
    assert.is(readyMap(await p).get(a.fileno()), OUT);
    // unregister: a removed fd is not reported, others are
    sel.modify(a, IN);
    sel.register(d, IN);
    p = sel.wait({ timeoutMs: 5000 });
    await sleep(20);
    sel.unregister(a);
    c.send('y');
    await sleep(20);
    e.send('z');
    const m = readyMap(await p);
    assert.not.ok(m.has(a.fileno()));
    assert.is(m.get(d.fileno()), IN);
  });

  // Two selectors whose waits become ready in the same loop turn, the other
  // one's callback first (libuv runs them in the order of their async
  // handles or eventfds); `meddle` runs in that callback, before ours. The
  // main thread sleeps before yielding so that both have seen the readiness.
  // Returns our wait (and whether it settled by the time it was checked).
  async function raceAfterOther(s: Parameters<Parameters<typeof withScope>[0]>[0], sel: ReturnType<typeof s.selector>, c: { send(d: string): unknown }, meddle: () => void) {
    const other = s.selector(b);
    const [x, y] = s.pair();
    other.register(x, IN);
    const otherDone = other.wait({ timeoutMs: 5000 }).then((r) => {
      meddle();
      return r;
    });
    const state = { early: null as string | null };
    const p = sel.wait({ timeoutMs: 5000 }).then((r) => {
      state.early ??= `settled with ${r.length} entries`;
      return r;
    });
    y.send('x');
    c.send('y');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    assert.is((await otherDone).length, 1);
    return { p, state };
  }

  // The wait thread hands over what its one kernel call saw (asking again
  // would lose a report-once file's event). A harvest whose every fd was
  // unregistered before its callback ran has nothing left to report: the
  // wait must carry on, not resolve with []. Made deterministic with a second
  // selector whose wait becomes ready first: libuv runs its callback first in
  // the same loop turn (the order of the threads' async handles), and the
  // microtask after it unregisters our fd. The main thread sleeps before
  // yielding so that both threads have seen the readiness.
  t('a harvest whose fds were all unregistered meanwhile keeps the wait pending', async (s) => {
    const sel = s.selector(b);
    const [a, c] = s.pair();
    const [d, e] = s.pair();
    sel.register(a, IN);
    let unregistered = false;
    const { p, state } = await raceAfterOther(s, sel, c, () => {
      sel.unregister(a);
      sel.register(d, IN);
      unregistered = true;
    });
    assert.ok(unregistered, 'our fd was unregistered before its own callback ran');
    await sleep(50);
    assert.is(state.early, null, 'a harvest with nothing registered left the wait pending');
    e.send('z');
    const m = readyMap(await p);
    assert.not.ok(m.has(a.fileno()), 'an unregistered fd is never reported');
    assert.is(m.get(d.fileno()), IN);
  });

  // Readiness is reported as the kernel saw it when the wait harvested it,
  // and asked only once. On a wait thread (select, poll; epoll without
  // io_uring) the harvest is done before the callback runs: an fd that other
  // code drained in between is still reported (a spurious wake-up, as with
  // select() and every event loop: recv() then returns null). Where io_uring
  // runs epoll's wait, the harvest happens in the callback itself: the
  // drained fd is not reported and the wait carries on until data returns.
  t('a wait reports what its one harvest saw, when the fd is drained before the callback runs', async (s) => {
    const sel = s.selector(b);
    const [a, c] = s.pair();
    a.setBlocking(false);
    sel.register(a, IN);
    let drained = 0;
    const { p, state } = await raceAfterOther(s, sel, c, () => {
      while (a.recv(100) !== null) drained++;
    });
    assert.is(drained, 1);
    // Sockets: the loop sleeps (waitInLoop) and the callback harvests after
    // the drain; a thread hands over what its call saw before it.
    if (!sel.capabilities.waitInLoop) {
      assert.is(readyMap(await p).get(a.fileno()), IN);
      assert.is(a.recv(100), null, 'the spurious report: recv() would block');
    } else {
      await sleep(50);
      assert.is(state.early, null, 'harvested in the callback, after the drain: nothing to report yet');
      c.send('z');
      assert.is(readyMap(await p).get(a.fileno()), IN);
    }
  });

  // A blocking select() while a wait() is pending: epoll with io_uring
  // cancels the ring's epoll_wait so the two never compete for an edge, and
  // must put it back for the pending wait afterwards.
  for (const timeout of [0, 1000]) {
  t(`a select(${timeout}) made while a wait() is pending leaves that wait working`, async (s) => {
    const sel = s.selector(b);
    const [a, c] = s.pair();
    const [d, e] = s.pair();
    sel.register(a, IN);
    sel.register(d, IN);
    const p = sel.wait({ timeoutMs: 60_000 });
    await sleep(10);
    e.send('x');
    assert.is(readyMap(sel.select(timeout)).get(d.fileno()), IN, 'the select() sees d');
    d.recv(10);
    await sleep(10);
    c.send('y');
    // It resolves with what it harvested: a (or d, seen before the select()
    // took it, or re-armed while d was still readable), and soon: a wait
    // that was left without its kernel request would sit out its timeout.
    const late = Symbol('late');
    const got = await Promise.race([p, sleep(3000).then(() => late)]);
    if (got === late) assert.unreachable('the pending wait() was still pending 3 s after a became ready');
    let m = readyMap(got as Awaited<typeof p>);
    assert.ok(m.size > 0, 'the pending wait() resolved with readiness');
    if (!m.has(a.fileno())) m = readyMap(await sel.wait({ timeoutMs: 2000 }));
    assert.is(m.get(a.fileno()), IN, 'a is heard');
  });
  }

  // What a wait's thread harvested but could not deliver (the wait was
  // aborted between the harvest and its callback) is the next wait's result:
  // a ONESHOT fd, disarmed by that harvest, would otherwise never be
  // reported again. Deterministic: the main thread sleeps while the thread
  // harvests, then aborts before yielding to the loop.
  // With a report-once file registered too, select and poll wait on their
  // thread (the path under test there); without, in the loop.
  for (const withFile of [false, true]) {
  t(`a harvest that an abort overtook is delivered by the next wait()${withFile ? ' (a report-once file registered too)' : ''}`, async (s) => {
    const sel = s.selector(b);
    const [a, c] = s.pair();
    sel.register(a, IN | Events.ONESHOT);
    if (withFile) {
      sel.register(s.reportOnceFile(), Events.PRI);
    }
    const ac = new AbortController();
    const p = sel.wait({ signal: ac.signal });
    c.send('x');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    ac.abort();
    await rejectsCode(p, 'ABORT_ERR');
    const ready = await sel.wait({ timeoutMs: 2000 });
    assert.is(readyMap(ready).get(a.fileno()), IN, 'the harvested ONESHOT report');
  });
  }

  t('close() during a pending wait resolves it with []', async (s) => {
    const sel = createSelector(b);
    const [a] = s.pair();
    sel.register(a, IN);
    const p = sel.wait();
    setTimeout(() => sel.close(), 20);
    assert.equal(await p, []);
    assert.ok(sel.closed);
  });

  t('close() from the code that handles a wait() result', async (s) => {
    const sel = createSelector(b);
    const [a, c] = s.pair();
    sel.register(a, IN);
    setTimeout(() => c.send('x'), 10);
    const ready = await sel.wait().then((r) => {
      sel.close(); // runs inside the native callback's microtask checkpoint
      return r;
    });
    assert.is(ready.length, 1);
    assert.ok(sel.closed);
    await sleep(5);
  });

  t('an aborted signal rejects with AbortError, before or during the wait', async (s) => {
    const sel = s.selector(b);
    const [a, c] = s.pair();
    sel.register(a, IN);
    const ac = new AbortController();
    const p = sel.wait({ signal: ac.signal });
    setTimeout(() => ac.abort(new Error('enough')), 20);
    const err = await rejectsCode(p, 'ABORT_ERR');
    assert.is(err.name, 'AbortError');
    assert.is((err.cause as Error).message, 'enough');
    await rejectsCode(sel.wait({ signal: AbortSignal.abort() }), 'ABORT_ERR');
    // the selector still works afterwards
    c.send('x');
    assert.is(readyMap(await sel.wait({ timeoutMs: 2000 })).get(a.fileno()), IN);
  });

  t('a second concurrent wait() rejects with ERR_WAIT_PENDING; the first carries on', async (s) => {
    const sel = s.selector(b);
    const [a, c] = s.pair();
    sel.register(a, IN);
    const first = sel.wait({ timeoutMs: 5000 });
    // Bounded, so that a selector that wrongly accepts it fails here instead of hanging.
    await rejectsCode(sel.wait({ timeoutMs: 1000 }), 'ERR_WAIT_PENDING');
    c.send('x');
    assert.is(readyMap(await first).get(a.fileno()), IN);
  });

  t('bad options reject, never throw synchronously', async (s) => {
    const sel = s.selector(b);
    await rejectsCode(sel.wait({ timeoutMs: 'soon' as never }), 'ERR_INVALID_ARG_TYPE');
    await rejectsCode(sel.wait({ timeoutMs: NaN }), 'ERR_INVALID_ARG_VALUE');
    await rejectsCode(sel.wait({ signal: {} as never }), 'ERR_INVALID_ARG_TYPE');
    await rejectsCode(sel.wait(42 as never), 'ERR_INVALID_ARG_TYPE');
  });

  t('for await: successive results, ended by close()', async (s) => {
    const sel = createSelector(b);
    const [a, c] = s.pair();
    sel.register(a, IN);
    a.setBlocking(false);
    let batches = 0;
    setTimeout(() => c.send('1'), 10);
    for await (const ready of sel) {
      assert.is(ready.length, 1);
      while (a.recv(100) !== null);
      if (++batches === 3) setTimeout(() => sel.close(), 10);
      else setTimeout(() => c.send('more'), 10);
    }
    assert.is(batches, 3);
  });

  t('ONESHOT under wait(): reported once; re-armed by modify()', async (s) => {
    const sel = s.selector(b);
    const [a, c] = s.pair();
    sel.register(a, IN | Events.ONESHOT);
    c.send('x');
    assert.is((await sel.wait({ timeoutMs: 2000 })).length, 1);
    assert.equal(await sel.wait({ timeoutMs: 50 }), []);
    sel.modify(a, IN | Events.ONESHOT);
    assert.is((await sel.wait({ timeoutMs: 2000 })).length, 1);
  });

  t('many round trips through wait() with a ping-pong', async (s) => {
    const sel = s.selector(b);
    const [a, c] = s.pair();
    a.setBlocking(false);
    sel.register(a, IN);
    for (let i = 0; i < 500; i++) {
      setImmediate(() => c.send('p'));
      const ready = await sel.wait({ timeoutMs: 5000 });
      assert.is(ready.length, 1);
      assert.is(a.recv(10)?.toString(), 'p');
    }
  });
}

test.run();
