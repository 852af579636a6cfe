// The Selector contract, run over every backend from one shared body.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, openSync, writeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import {
  DefaultSelector,
  EVENT_READ,
  EVENT_WRITE,
  EpollSelector,
  Events,
  FD_SETSIZE,
  PollSelector,
  SelectSelector,
  Socket,
  SystemError,
  constants,
  createSelector,
  formatEvents,
  pipe,
  raiseFdLimit,
  socketPair,
  type BackendName,
} from '@iomux/core';
import {
  expectEvents,
  expectNoEvents,
  fdCount,
  readyMap,
  sleep,
  testBackends,
  throwsCode,
  withScope,
} from './helpers.ts';

const { IN, OUT, PRI, HUP, ERR, NVAL, RDHUP, ONESHOT, EDGE } = Events;
const nativeAddon = createRequire(import.meta.url)('../packages/native/index.cjs') as {
  interruptAfter(ms: number, signal: number): void;
};

test('Events carry the Linux poll/epoll bit values', () => {
  assert.equal(
    { ...Events },
    { IN: 1, PRI: 2, OUT: 4, ERR: 8, HUP: 0x10, NVAL: 0x20, RDHUP: 0x2000, ONESHOT: 0x40000000, EDGE: 0x80000000, EXCLUSIVE: 0x10000000 },
  );
  assert.ok(Object.isFrozen(Events));
  assert.is(EVENT_READ, IN);
  assert.is(EVENT_WRITE, OUT);
  assert.is(constants.poll.POLLIN, IN);
  assert.is(constants.poll.POLLRDHUP, RDHUP);
  assert.is(constants.epoll.EPOLLET, EDGE);
  assert.is(constants.epoll.EPOLLONESHOT, ONESHOT);
  assert.is(FD_SETSIZE, 1024);
});

test('formatEvents renders masks for humans', () => {
  assert.is(formatEvents(0x11), 'IN|HUP');
  assert.is(formatEvents(0), '0');
  assert.is(formatEvents(IN | 0x100), 'IN|0x100');
  assert.is(formatEvents(constants.epoll.EPOLLIN | constants.epoll.EPOLLET), 'IN|EDGE');
});

test('DefaultSelector is epoll; createSelector picks by name and refuses unknown ones', () => {
  const d = new DefaultSelector();
  assert.is(d.backend, 'epoll');
  assert.instance(d, EpollSelector);
  d.close();
  for (const [name, cls] of [['select', SelectSelector], ['poll', PollSelector], ['epoll', EpollSelector]] as const) {
    const s = createSelector(name);
    assert.instance(s, cls);
    assert.is(s.backend, name);
    s.close();
  }
  const s = createSelector();
  assert.is(s.backend, 'epoll');
  s.close();
  throwsCode(() => createSelector('kqueue' as BackendName), 'ERR_INVALID_ARG_VALUE', RangeError);
});

for (const b of testBackends()) {
  const t = (name: string, body: Parameters<typeof withScope>[0]) => test(`${b}: ${name}`, () => withScope(body));

  t('register returns a key; getKey and getMap find it by fd or object', (s) => {
    const sel = s.selector<string>(b);
    const [a] = s.pair();
    const key = sel.register(a, IN, 'hello');
    assert.is(key.fileobj, a);
    assert.is(key.fd, a.fileno());
    assert.is(key.events, IN);
    assert.is(key.data, 'hello');
    assert.is(sel.getKey(a), key);
    assert.is(sel.getKey(a.fileno()), key);
    const map = sel.getMap();
    assert.is(map.size, 1);
    assert.is(map.get(a.fileno()), key);
    assert.equal([...map.keys()], [a.fileno()]);
    sel.unregister(a);
    assert.is(map.size, 0, 'the map is a live view');
  });

  t('register accepts plain fd numbers and poll-style flag sets', (s) => {
    const sel = s.selector(b);
    const [a] = s.pair();
    const READ_ONLY = constants.poll.POLLIN | constants.poll.POLLPRI | constants.poll.POLLHUP | constants.poll.POLLERR;
    const key = sel.register(a.fileno(), READ_ONLY);
    assert.is(key.fileobj, a.fileno());
    assert.is(key.events, READ_ONLY);
  });

  t('argument errors carry ERR_* codes and leave nothing registered', (s) => {
    const sel = s.selector(b);
    const [a] = s.pair();
    throwsCode(() => sel.register('3' as never, IN), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => sel.register(1.5, IN), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => sel.register({} as never, IN), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => sel.register(null as never, IN), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => sel.register({ fileno: () => 'x' } as never, IN), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => sel.register(-1, IN), 'ERR_INVALID_ARG_VALUE', RangeError);
    throwsCode(() => sel.register(a, 'IN' as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => sel.register(a, 0), 'ERR_INVALID_ARG_VALUE', RangeError);
    throwsCode(() => sel.register(a, HUP | ERR), 'ERR_INVALID_ARG_VALUE', RangeError);
    throwsCode(() => sel.register(a, IN | 0x100), 'ERR_INVALID_ARG_VALUE', RangeError);
    throwsCode(() => sel.register(a, NaN), 'ERR_INVALID_ARG_VALUE', RangeError);
    throwsCode(() => sel.register(a, 2 ** 40), 'ERR_INVALID_ARG_VALUE', RangeError);
    throwsCode(() => sel.select('1' as never), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => sel.select(NaN), 'ERR_INVALID_ARG_VALUE', RangeError);
    assert.is(sel.getMap().size, 0);
    sel.register(a, IN);
    throwsCode(() => sel.register(a, OUT), 'ERR_ALREADY_REGISTERED');
    throwsCode(() => sel.register(a.fileno(), OUT), 'ERR_ALREADY_REGISTERED');
    assert.is(sel.getKey(a).events, IN, 'the failed register changed nothing');
  });

  t('unknown fds: ERR_NOT_REGISTERED from unregister, modify and getKey', (s) => {
    const sel = s.selector(b);
    const [a] = s.pair();
    throwsCode(() => sel.unregister(a), 'ERR_NOT_REGISTERED');
    throwsCode(() => sel.modify(a, IN), 'ERR_NOT_REGISTERED');
    throwsCode(() => sel.getKey(a), 'ERR_NOT_REGISTERED');
  });

  t('register of a closed fd throws EBADF as a SystemError and leaves no key', (s) => {
    const sel = s.selector(b);
    const [a] = s.pair();
    const fd = a.fileno();
    a.close();
    const err = throwsCode(() => sel.register(fd, IN), 'EBADF', SystemError) as SystemError;
    assert.is(err.errno, -9);
    assert.type(err.syscall, 'string');
    assert.is(err.fd, fd);
    assert.is(sel.getMap().size, 0);
  });

  if (b === 'epoll') {
    t('epoll refuses a regular file with EPERM and keeps no key', (s) => {
      const sel = s.selector(b);
      const fd = openSync('/proc/self/status', 'r');
      s.add({ close: () => closeSync(fd) });
      const err = throwsCode(() => sel.register(fd, IN), 'EPERM', SystemError) as SystemError;
      assert.is(err.syscall, 'epoll_ctl');
      throwsCode(() => sel.getKey(fd), 'ERR_NOT_REGISTERED');
    });

    t('EDGE: a second select without draining reports nothing; new data reports again', (s) => {
      const sel = s.selector(b);
      const [a, c] = s.pair();
      const key = sel.register(a, constants.epoll.EPOLLIN | constants.epoll.EPOLLET);
      assert.is(key.events, (IN | EDGE) >>> 0, 'masks are reported unsigned');
      c.send('one');
      expectEvents(sel, a.fileno(), IN);
      expectNoEvents(sel, a.fileno());
      c.send('two');
      expectEvents(sel, a.fileno(), IN);
      expectNoEvents(sel, a.fileno());
      a.setBlocking(false);
      assert.is(a.recv(100)?.toString(), 'onetwo');
    });
  } else {
    t('EDGE is refused with ERR_UNSUPPORTED', (s) => {
      const sel = s.selector(b);
      const [a] = s.pair();
      throwsCode(() => sel.register(a, IN | EDGE), 'ERR_UNSUPPORTED');
      sel.register(a, IN);
      throwsCode(() => sel.modify(a, IN | EDGE), 'ERR_UNSUPPORTED');
    });
  }

  t('a writable pair reports OUT; a sent byte makes the peer IN', (s) => {
    const sel = s.selector<string>(b);
    const [a, c] = s.pair();
    sel.register(a, IN | OUT, 'a');
    sel.register(c, IN, 'c');
    const first = readyMap(sel.select(0));
    assert.is(first.get(a.fileno()), OUT);
    assert.not.ok(first.has(c.fileno()));
    a.send('x');
    const got = expectEvents(sel, c.fileno(), IN);
    assert.is(got, IN);
    const ready = sel.select(0);
    const ck = ready.find(([k]) => k.fd === c.fileno());
    assert.ok(ck);
    assert.is(ck![0].data, 'c');
  });

  t('every fd appears at most once per call, beyond the initial buffer size', (s) => {
    const sel = s.selector(b);
    const fds: number[] = [];
    for (let i = 0; i < 40; i++) {
      const [a, c] = s.pair();
      c.send('x');
      sel.register(a, IN | OUT | PRI);
      fds.push(a.fileno());
    }
    const m = readyMap(sel.select(1000));
    assert.is(m.size, 40);
    for (const fd of fds) assert.is(m.get(fd), IN | OUT);
  });

  t('timeout 0 and negative do not block; a positive timeout expires with []', (s) => {
    const sel = s.selector(b);
    const [a] = s.pair();
    sel.register(a, IN);
    assert.equal(sel.select(0), []);
    assert.equal(sel.select(-5), []);
    const t0 = performance.now();
    assert.equal(sel.select(30.2), []);
    assert.ok(performance.now() - t0 >= 30.2, 'a wait never ends early');
  });

  t('select(null) waits until another thread writes', async (s) => {
    const sel = s.selector(b);
    const [a, c] = s.pair();
    sel.register(a, IN);
    const w = new Worker(
      `const { workerData } = require('node:worker_threads');
       setTimeout(() => require('node:fs').writeSync(workerData.fd, 'wake'), 50);`,
      { eval: true, workerData: { fd: c.fileno() } },
    );
    await new Promise((r) => w.once('online', r));
    const ready = sel.select(null);
    await new Promise((r) => w.once('exit', r));
    assert.is(readyMap(ready).get(a.fileno()), IN);
  });

  // epoll_wait and select fail with EINTR when a handler runs (Node installs
  // its handlers with SA_RESTART, which poll(2) honours by restarting itself
  // in the kernel with the time left); either way the wait must last.
  t('a signal during select() does not end the wait early (EINTR is retried)', (s) => {
    const sel = s.selector(b);
    const [a] = s.pair();
    sel.register(a, IN);
    let signals = 0;
    const onSignal = () => signals++;
    process.on('SIGUSR2', onSignal);
    try {
      nativeAddon.interruptAfter(40, 12 /* SIGUSR2 */);
      const t0 = performance.now();
      const ready = sel.select(250);
      const elapsed = performance.now() - t0;
      assert.equal(ready, []);
      assert.ok(elapsed >= 250, `returned after ${elapsed.toFixed(1)} ms, before its timeout`);
    } finally {
      return sleep(20).then(() => {
        process.off('SIGUSR2', onSignal);
        assert.is(signals, 1, 'the signal was delivered during the wait');
      });
    }
  });

  t('ONESHOT reports once, then stays silent until modify() re-arms it', (s) => {
    const sel = s.selector(b);
    const [a, c] = s.pair();
    sel.register(a, IN | ONESHOT);
    c.send('x');
    expectEvents(sel, a.fileno(), IN);
    expectNoEvents(sel, a.fileno());
    c.send('y');
    expectNoEvents(sel, a.fileno());
    sel.modify(a, IN | ONESHOT);
    expectEvents(sel, a.fileno(), IN);
    expectNoEvents(sel, a.fileno());
  });

  t('modify changes interest and data; same events change only the data', (s) => {
    const sel = s.selector<string>(b);
    const [a, c] = s.pair();
    sel.register(a, IN, 'one');
    expectNoEvents(sel, a.fileno());
    const k2 = sel.modify(a, OUT, 'two');
    assert.is(k2.events, OUT);
    assert.is(k2.data, 'two');
    assert.is(sel.getKey(a), k2);
    expectEvents(sel, a.fileno(), OUT);
    const k3 = sel.modify(a, OUT);
    assert.is(k3.data, undefined, 'omitted data becomes undefined, as in CPython');
    // With the same events no system call is made: it works even after the
    // fd is closed, where epoll_ctl would fail.
    const fd = a.fileno();
    c.close();
    a.close();
    const k4 = sel.modify(fd, OUT, 'four');
    assert.is(k4.data, 'four');
    sel.unregister(fd);
  });

  t('unregister works after the fd was closed, by object or by number', (s) => {
    const sel = s.selector(b);
    const [a] = s.pair();
    const [c] = s.pair();
    const ka = sel.register(a, IN);
    const kc = sel.register(c, IN);
    const cfd = c.fileno();
    a.close();
    c.close();
    assert.is(a.fileno(), -1);
    assert.is(sel.unregister(a), ka, 'a closed Socket is found by identity');
    assert.is(sel.unregister(cfd), kc);
    assert.is(sel.getMap().size, 0);
  });

  t('an fd closed while registered: NVAL on poll/select, forgotten by epoll; others still reported', (s) => {
    const sel = s.selector(b);
    const [a] = s.pair();
    const [c, d] = s.pair();
    sel.register(a, IN);
    sel.register(c, IN);
    d.send('x');
    const afd = a.fileno();
    a.close();
    const m = readyMap(sel.select(1000));
    assert.is(m.get(c.fileno()), IN);
    if (b === 'epoll') assert.not.ok(m.has(afd));
    else assert.is(m.get(afd), NVAL);
    sel.unregister(afd);
    const m2 = readyMap(sel.select(0));
    assert.is(m2.get(c.fileno()), IN);
    assert.not.ok(m2.has(afd));
  });

  t('fd reuse after close: the number can be registered again for the new file', (s) => {
    const sel = s.selector(b);
    const [a, x] = socketPair();
    const fd = a.fileno();
    sel.register(a, IN);
    a.close();
    x.close();
    sel.unregister(fd);
    const [c, d] = s.pair();
    const reused = c.fileno() === fd ? c : d.fileno() === fd ? d : null;
    assert.ok(reused, 'the kernel hands out the lowest free fd again');
    const peer = reused === c ? d : c;
    sel.register(reused!, IN);
    peer.send('new');
    expectEvents(sel, fd, IN);
  });

  t('peer close reports HUP (IN on select); OUT-only interest still hears HUP', (s) => {
    const sel = s.selector(b);
    const [a, c] = s.pair();
    const [e, f] = s.pair();
    sel.register(a, IN);
    sel.register(e, OUT);
    c.close();
    f.close();
    if (b === 'select') {
      expectEvents(sel, a.fileno(), IN);
    } else {
      expectEvents(sel, a.fileno(), IN | HUP);
      expectEvents(sel, e.fileno(), HUP);
    }
  });

  t('RDHUP: the peer shutting down its write side is reported, unread data or not', (s) => {
    const sel = s.selector(b);
    const [a, c] = s.pair();
    sel.register(a, IN | RDHUP);
    expectNoEvents(sel, a.fileno());
    c.send('last words');
    expectEvents(sel, a.fileno(), IN, RDHUP);
    c.shutdown('write');
    expectEvents(sel, a.fileno(), IN | RDHUP, b === 'select' ? HUP : 0);
    if (b === 'select') throwsCode(() => sel.modify(a, RDHUP), 'ERR_UNSUPPORTED');
    else assert.is(sel.modify(a, RDHUP).events, RDHUP);
  });

  t('a peer reset surfaces as ECONNRESET from recv(), RDHUP interest or not', (s) => {
    const srv = s.add(new Socket());
    srv.bind({ host: '127.0.0.1', port: 0 });
    srv.listen();
    const cl = s.add(new Socket());
    cl.connect(srv.localAddress());
    const [conn] = srv.accept()!;
    conn.setLinger(0);
    conn.close(); // RST
    const sel = s.selector(b);
    sel.register(cl, IN | RDHUP);
    expectEvents(sel, cl.fileno(), IN, 0);
    throwsCode(() => cl.recv(10), 'ECONNRESET', SystemError);
  });

  t('a closed ONESHOT fd is reported once, then stays disarmed', (s) => {
    const sel = s.selector(b);
    const [a] = s.pair();
    sel.register(a, IN | ONESHOT);
    const fd = a.fileno();
    a.close();
    const first = readyMap(sel.select(0));
    if (b === 'epoll') assert.not.ok(first.has(fd));
    else assert.is(first.get(fd), NVAL);
    expectNoEvents(sel, fd);
    sel.unregister(fd);
  });

  t('a pipe: read end sees IN then HUP; write end sees ERR when the reader leaves', (s) => {
    const sel = s.selector(b);
    const [r, w] = pipe();
    const files = { r, w };
    s.add({ close: () => { for (const fd of Object.values(files)) try { closeSync(fd); } catch { /* closed */ } } });
    sel.register(r, IN);
    writeSync(w, 'x');
    expectEvents(sel, r, IN);
    closeSync(w);
    if (b !== 'select') expectEvents(sel, r, HUP);
    sel.unregister(r);
    const [r2, w2] = pipe();
    Object.assign(files, { r2, w2 });
    sel.register(w2, OUT);
    closeSync(r2);
    if (b === 'select') expectEvents(sel, w2, OUT);
    else expectEvents(sel, w2, ERR);
  });

  if (b === 'select') {
    t('fds >= FD_SETSIZE are refused at register() with ERR_FD_SETSIZE', (s) => {
      raiseFdLimit(4096);
      const sel = s.selector(b);
      const filler: number[] = [];
      s.add({ close: () => filler.forEach((fd) => closeSync(fd)) });
      while (fdCount() < FD_SETSIZE + 8) filler.push(openSync('/dev/null', 'r'));
      const [a] = s.pair();
      assert.ok(a.fileno() >= FD_SETSIZE);
      throwsCode(() => sel.register(a, IN), 'ERR_FD_SETSIZE', RangeError);
      assert.is(sel.getMap().size, 0);
    });
  } else {
    t('fds above 1024 work (RLIMIT_NOFILE raised by the test)', (s) => {
      assert.ok(raiseFdLimit(4096) >= 2048, 'the hard limit allows 2048 fds');
      const sel = s.selector(b);
      const filler: number[] = [];
      s.add({ close: () => filler.forEach((fd) => closeSync(fd)) });
      while (fdCount() < 1500) filler.push(openSync('/dev/null', 'r'));
      const [a, c] = s.pair();
      assert.ok(a.fileno() > 1024);
      sel.register(a, IN);
      c.send('x');
      expectEvents(sel, a.fileno(), IN);
    });
  }

  t('close(): idempotent; later use throws ERR_SELECTOR_CLOSED; backend still answers', async (s) => {
    const before = fdCount();
    const sel = createSelector(b);
    const [a] = s.pair();
    sel.register(a, IN);
    if (b === 'epoll') assert.is(fdCount(), before + 3, 'the epoll fd');
    sel.close();
    sel.close();
    assert.ok(sel.closed);
    assert.is(sel.backend, b);
    assert.is(fdCount(), before + 2, 'the kernel object is released; registered fds stay open');
    throwsCode(() => sel.register(a, IN), 'ERR_SELECTOR_CLOSED');
    throwsCode(() => sel.unregister(a), 'ERR_SELECTOR_CLOSED');
    throwsCode(() => sel.modify(a, IN), 'ERR_SELECTOR_CLOSED');
    throwsCode(() => sel.select(0), 'ERR_SELECTOR_CLOSED');
    throwsCode(() => sel.getKey(a), 'ERR_SELECTOR_CLOSED');
    throwsCode(() => sel.getMap(), 'ERR_SELECTOR_CLOSED');
    const p = sel.wait();
    assert.instance(p, Promise, 'wait() rejects rather than throws');
    try {
      await p;
      assert.unreachable();
    } catch (err) {
      assert.is((err as { code?: string }).code, 'ERR_SELECTOR_CLOSED');
    }
  });

  t('Symbol.dispose closes (using)', (s) => {
    const [a] = s.pair();
    let escaped: ReturnType<typeof createSelector> | undefined;
    {
      using sel = createSelector(b);
      sel.register(a, IN);
      escaped = sel;
      assert.not.ok(sel.closed);
    }
    assert.ok(escaped.closed);
  });
}

test.run();
