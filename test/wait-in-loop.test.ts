// wait() without a thread (capabilities().waitInLoop): over sockets, pipes
// and ttys, select and poll sleep in the event loop on an epoll set of the
// selector's own and harvest with their own zero-timeout call; a file whose
// poll may report once (/proc, sysfs) takes the thread. These tests hold the
// set to what it promises on every backend: the right fds in it, a switch to
// the thread when such a file arrives mid-wait, nothing left behind by an
// unregistered fd, and no spinning where the set and the mechanism disagree.
import { spawn } from 'node:child_process';
import { closeSync, readSync, writeSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Events, pipe } from '@iomux/core';
import { openFds, readyMap, sleep, testBackends, threadCount, withScope } from './helpers.ts';

const { IN, PRI } = Events;

for (const b of testBackends()) {
  const t = (name: string, body: Parameters<typeof withScope>[0]) => test(`${b}: ${name}`, () => withScope(body));

  t('a wait over a socket and a pipe reports each, with no thread where waitInLoop says so', async (s) => {
    const sel = s.selector<string>(b);
    const [a, c] = s.pair();
    const [r, w] = pipe({ blocking: false });
    s.add({ close: () => closeSync(r) });
    s.add({ close: () => closeSync(w) });
    sel.register(a, IN, 'socket');
    sel.register(r, IN, 'pipe');
    const before = threadCount();
    for (const [fire, want] of [
      [() => c.send('x'), 'socket'],
      [() => writeSync(w, 'y'), 'pipe'],
    ] as const) {
      const p = sel.wait({ timeoutMs: 5000 });
      await sleep(10);
      const during = threadCount();
      fire();
      const ready = await p;
      assert.equal(ready.map(([k]) => k.data), [want]);
      assert.is(during - before, sel.capabilities.waitInLoop ? 0 : 1, `threads ${before} -> ${during}`);
      if (want === 'socket') a.recv(10);
      else readSync(r, Buffer.alloc(10));
    }
  });

  // The set is made by the first wait() that sleeps, and closed with the
  // selector: a program that only calls select() pays nothing for it.
  t('select and poll make their epoll set at the first wait() that sleeps, and release it on close()', async (s) => {
    const epollFds = () => [...openFds().values()].filter((target) => target === 'anon_inode:[eventpoll]').length;
    const base = epollFds();
    const sel = s.selector(b);
    const own = sel.capabilities.backend === 'epoll' ? 1 : 0; // epoll's own set
    const [a, c] = s.pair();
    sel.register(a, IN);
    c.send('x');
    sel.select(1000);
    await sel.wait({ timeoutMs: 1000 }); // ready at once: resolves without sleeping
    a.recv(10);
    assert.is(epollFds() - base, own, 'after select() and a wait() that did not sleep');
    const p = sel.wait({ timeoutMs: 5000 });
    await sleep(10);
    c.send('y');
    await p;
    const mirrors = sel.capabilities.backend === 'select' || sel.capabilities.backend === 'poll' ? 1 : 0;
    assert.is(epollFds() - base, own + mirrors, 'after a wait() that slept');
    sel.close();
    assert.is(epollFds() - base, 0, 'after close()');
  });

  t('a report-once file registered during a pending wait moves that wait to a thread where waitOnThread says so, and the wait goes on', async (s) => {
    const sel = s.selector(b);
    const [a, c] = s.pair();
    sel.register(a, IN);
    const before = threadCount();
    const p = sel.wait({ timeoutMs: 5000 });
    await sleep(10);
    sel.register(s.reportOnceFile(), PRI);
    await sleep(20);
    const during = threadCount();
    c.send('x');
    assert.equal(readyMap(await p), new Map([[a.fileno(), IN]]));
    const expected = sel.capabilities.waitOnThread ? 1 : 0;
    assert.is(during - before, expected, `threads ${before} -> ${during}`);
  });

  // An unregistered fd leaves the set at once, before the caller closes it:
  // a copy of the file that lives on (here in a child) must not wake the
  // selector's later waits (which then found nothing, and took the thread).
  t('an fd unregistered and closed while a child holds a copy of it never wakes a later wait', async (s) => {
    const sel = s.selector(b);
    const [a, c] = s.pair();
    const [d, e] = s.pair();
    sel.register(a, IN);
    sel.register(d, IN);
    // One wait that sleeps first, so select and poll have made their set with a in it.
    const first = sel.wait({ timeoutMs: 5000 });
    await sleep(10);
    e.send('0');
    await first;
    d.recv(10);
    const child = spawn('sleep', ['30'], { stdio: ['ignore', 'ignore', 'ignore', a.fileno()] });
    try {
      await new Promise((resolve, reject) => child.once('spawn', resolve).once('error', reject));
      sel.unregister(a);
      a.close();
      const before = threadCount();
      const p = sel.wait({ timeoutMs: 400 });
      await sleep(10);
      c.send('x'); // the child's copy of a's socket is readable now
      await sleep(100);
      const during = threadCount();
      assert.equal(await p, [], 'only d is registered, and it stays quiet');
      if (sel.capabilities.waitInLoop) assert.is(during - before, 0, `threads ${before} -> ${during}: a wake-up that found nothing`);
    } finally {
      child.kill('SIGKILL');
    }
  });

  // select's except set does not hear a hang-up, which epoll reports to any
  // item: the set wakes the loop and select(2) finds nothing. The wait must
  // neither report what select() does not nor spin until its deadline.
  t('a hang-up that the mechanism does not report leaves a pending wait pending, without spinning', async (s) => {
    const sel = s.selector(b);
    const [a, c] = s.pair();
    sel.register(a, PRI);
    c.close();
    const now = sel.select(0);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const ready = await sel.wait({ timeoutMs: 500 });
    const cpu = process.cpuUsage(cpu0);
    assert.equal(readyMap(ready), readyMap(now), 'what select(0) reports');
    if (now.length === 0) {
      assert.ok(performance.now() - t0 >= 500, 'waited out its timeout');
      // A spinning wait burns its whole 500 ms; a sleeping one a few ms.
      const usedMs = (cpu.user + cpu.system) / 1000;
      assert.ok(usedMs < 150, `CPU used during a 500 ms wait: ${usedMs.toFixed(1)} ms`);
    }
  });
}

test.run();
