// The Selector contract, run over every backend from one shared body.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, openSync, writeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { spawn } from 'node:child_process';
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
  capabilities,
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
  fdTarget,
  newFds,
  openFds,
  readyMap,
  sleep,
  testBackends,
  throwsCode,
  withScope,
} from './helpers.ts';

const { IN, OUT, PRI, HUP, ERR, NVAL, RDHUP, ONESHOT, EDGE } = Events;

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
  // What differs between backends is read from the capability record, never from the name.
  const cap = capabilities(b);

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

  if (!cap.watchesRegularFiles) {
    t('epoll refuses a regular file with EPERM and keeps no key', (s) => {
      const sel = s.selector(b);
      const fd = openSync('/proc/self/status', 'r');
      s.add({ close: () => closeSync(fd) });
      const err = throwsCode(() => sel.register(fd, IN), 'EPERM', SystemError) as SystemError;
      assert.is(err.syscall, cap.syscalls.add);
      throwsCode(() => sel.getKey(fd), 'ERR_NOT_REGISTERED');
    });
  } else {
    t('a regular file is accepted and reported always ready', (s) => {
      const sel = s.selector(b);
      const fd = openSync('/proc/self/status', 'r');
      s.add({ close: () => closeSync(fd) });
      sel.register(fd, IN);
      assert.is(readyMap(sel.select(0)).get(fd), IN);
      assert.is(readyMap(sel.select(0)).get(fd), IN, 'and again: it never stops being ready');
      sel.unregister(fd);
    });
  }

  if (cap.edge) {
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
    assert.is(ck[0].data, 'c');
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

  // A lower bound only (never an upper one): truncating 2.9 ms to 2 ms ends
  // every one of these waits 0.9 ms early, which no scheduling delay hides ten times over.
  t('fractional timeouts round up: ten 2.9 ms waits each last 2.9 ms', (s) => {
    const sel = s.selector(b);
    const [a] = s.pair();
    sel.register(a, IN);
    const short: string[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      sel.select(2.9);
      const took = performance.now() - t0;
      if (took < 2.9) short.push(took.toFixed(3));
    }
    assert.equal(short, [], 'waits that ended early (ms)');
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

  // A signal with a handler makes epoll_wait, poll and select fail with EINTR
  // (none of them is restarted by SA_RESTART); the wait must resume with the
  // time left. The signals come from outside, as they would in production: a
  // process-directed signal goes to the main thread when it does not block
  // it, and the main thread is the one blocked in select().
  t('a signal during select() does not end the wait early (EINTR is retried)', async (s) => {
    const sel = s.selector(b);
    const [a] = s.pair();
    sel.register(a, IN);
    let signals = 0;
    const onSignal = () => signals++;
    process.on('SIGUSR2', onSignal);
    try {
      const killer = spawn('/bin/sh', ['-c', `for i in 1 2 3; do sleep 0.1; kill -USR2 ${process.pid}; done`], {
        stdio: 'ignore',
      });
      const exited = new Promise<number | null>((r) => killer.once('exit', (code) => r(code)));
      const t0 = performance.now();
      let ready: unknown;
      try {
        ready = sel.select(800);
      } finally {
        // Reap the child before the handler goes: SIGUSR2 without one ends the process.
        assert.is(await exited, 0, 'the signalling child ran');
      }
      const elapsed = performance.now() - t0;
      assert.equal(ready, []);
      assert.ok(elapsed >= 800, `returned after ${elapsed.toFixed(1)} ms, before its timeout`);
      await sleep(20);
      assert.is(signals, 3, 'the signals were delivered');
    } finally {
      process.off('SIGUSR2', onSignal);
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
    if (!cap.reportsClosedFd) assert.not.ok(m.has(afd));
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
    sel.register(reused, IN);
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
    if (!cap.reportsHup) {
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
    expectEvents(sel, a.fileno(), IN | RDHUP, cap.reportsHup ? 0 : HUP);
    if (cap.rdhupNeedsIn) throwsCode(() => sel.modify(a, RDHUP), 'ERR_UNSUPPORTED');
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
    if (!cap.reportsClosedFd) assert.not.ok(first.has(fd));
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
    if (cap.reportsHup) expectEvents(sel, r, HUP);
    sel.unregister(r);
    const [r2, w2] = pipe();
    Object.assign(files, { r2, w2 });
    sel.register(w2, OUT);
    closeSync(r2);
    if (!cap.reportsHup) expectEvents(sel, w2, OUT);
    else expectEvents(sel, w2, ERR);
  });

  // The empty interest mask: no interest bit, so only the
  // always-reported conditions. poll and epoll report a pure hang-up as
  // exactly HUP; select has no set for them and never reports the fd
  // (capabilities.watchesEmptyMask).
  t('empty interest mask: modify(fd, 0) hears only the hang-up, exactly HUP (nothing where the backend cannot watch for it)', (s) => {
    const sel = s.selector(b);
    const [a, c] = s.pair();
    sel.register(a, IN);
    c.send('unread');
    expectEvents(sel, a.fileno(), IN);
    assert.is(sel.modify(a, 0).events, 0);
    expectNoEvents(sel, a.fileno()); // readable, but no one asked
    c.close();
    if (!cap.watchesEmptyMask) expectNoEvents(sel, a.fileno(), 100);
    else assert.is(expectEvents(sel, a.fileno(), HUP), HUP, 'exactly HUP (0x10): no IN, since IN was not asked for');
  });

  t("empty interest mask: the classic's modify(fd, 0) then our own shutdown('both') reports (fd, HUP)", (s) => {
    const sel = s.selector(b);
    const srv = s.add(new Socket());
    srv.bind({ host: '127.0.0.1', port: 0 });
    srv.listen();
    const cl = s.add(new Socket());
    cl.connect(srv.localAddress());
    const conn = s.add(srv.accept()![0]);
    sel.register(conn, OUT);
    expectEvents(sel, conn.fileno(), OUT);
    sel.modify(conn, 0);
    expectNoEvents(sel, conn.fileno()); // writable, but no one asked
    conn.shutdown('both');
    if (!cap.watchesEmptyMask) expectNoEvents(sel, conn.fileno(), 100);
    else assert.is(expectEvents(sel, conn.fileno(), HUP), HUP, 'the walk-through\'s [(5, 16)]');
  });

  t('empty interest mask at register(): 0 and ERR|HUP|NVAL are accepted and report only hang-ups', (s) => {
    const sel = s.selector(b);
    const [a, c] = s.pair();
    const [d, e] = s.pair();
    assert.is(sel.register(a, 0).events, 0);
    assert.is(sel.register(d, ERR | HUP | NVAL).events, ERR | HUP | NVAL);
    c.send('x');
    e.send('x');
    expectNoEvents(sel);
    c.close();
    e.close();
    const got = new Map<number, number>();
    const end = Date.now() + (cap.watchesEmptyMask ? 2000 : 100);
    while (got.size < 2 && Date.now() < end) for (const [fd, ev] of readyMap(sel.select(20))) got.set(fd, ev);
    if (!cap.watchesEmptyMask) assert.is(got.size, 0, 'select never reports an fd with no interest bit');
    else assert.equal([got.get(a.fileno()), got.get(d.fileno())], [HUP, HUP]);
  });

  t('empty interest mask with ONESHOT: the hang-up is reported once, then disarmed until modify()', (s) => {
    const sel = s.selector(b);
    const [a, c] = s.pair();
    sel.register(a, ONESHOT);
    c.close();
    if (!cap.watchesEmptyMask) {
      expectNoEvents(sel, a.fileno(), 100);
      return;
    }
    assert.is(expectEvents(sel, a.fileno(), HUP), HUP);
    expectNoEvents(sel, a.fileno());
    sel.modify(a, ONESHOT); // re-arm
    assert.is(expectEvents(sel, a.fileno(), HUP), HUP);
    expectNoEvents(sel, a.fileno());
  });

  t('empty interest mask: a closed fd is NVAL on poll, forgotten on epoll, and never breaks select', (s) => {
    const sel = s.selector(b);
    const [a] = s.pair();
    const [d] = s.pair();
    const fa = a.fileno();
    const fd = d.fileno();
    sel.register(a, 0);
    sel.register(d, IN);
    a.close();
    const first = readyMap(sel.select(0));
    assert.is(first.get(fa), cap.watchesEmptyMask && cap.reportsClosedFd ? NVAL : undefined);
    // select: the culprit search after EBADF must still find the armed fd.
    d.close();
    const second = readyMap(sel.select(0));
    assert.is(second.get(fd), cap.reportsClosedFd ? NVAL : undefined);
    if (!cap.watchesEmptyMask) assert.not.ok(second.has(fa), 'the empty-mask fd is in no set: never reported');
    sel.unregister(fa);
    sel.unregister(fd);
  });

  t('empty interest mask: wait() resolves with the hang-up (times out where the backend cannot watch for it)', async (s) => {
    const sel = s.selector(b);
    const [a, c] = s.pair();
    sel.register(a, 0);
    c.send('x');
    setTimeout(() => c.close(), 20);
    const ready = await sel.wait({ timeoutMs: cap.watchesEmptyMask ? 5000 : 200 });
    if (!cap.watchesEmptyMask) assert.equal(ready, []);
    else assert.equal(ready.map(([k, ev]) => [k.fd, ev]), [[a.fileno(), HUP]]);
  });

  if (cap.maxFd < FD_SETSIZE) {
    t('fds >= FD_SETSIZE are refused at register() with ERR_FD_SETSIZE', (s) => {
      raiseFdLimit(4096);
      const sel = s.selector(b);
      const filler: number[] = [];
      s.add({ close: () => filler.forEach((fd) => closeSync(fd)) });
      // Fds are allocated lowest-free: once one lands above FD_SETSIZE, so do the pair's.
      while ((filler.at(-1) ?? 0) < FD_SETSIZE + 8) filler.push(openSync('/dev/null', 'r'));
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
      while ((filler.at(-1) ?? 0) < 1500) filler.push(openSync('/dev/null', 'r'));
      const [a, c] = s.pair();
      assert.ok(a.fileno() > 1024);
      sel.register(a, IN);
      c.send('x');
      expectEvents(sel, a.fileno(), IN);
    });
  }

  t('close(): idempotent; later use throws ERR_SELECTOR_CLOSED; backend still answers', async (s) => {
    const before = openFds();
    const sel = createSelector(b);
    const [a, c] = s.pair();
    sel.register(a, IN);
    // Counted by kind: other new fds (the runtime's, the loader's) do not matter here.
    const held = (kind: string) => [...newFds(before).values()].filter((t) => t === kind).length;
    const pair = [fdTarget(a.fileno())!, fdTarget(c.fileno())!];
    // epoll: its epoll fd; io_uring: the ring and the eventfd it signals.
    const kernelObjects = () => ['anon_inode:[eventpoll]', 'anon_inode:[io_uring]', 'anon_inode:[eventfd]'].reduce((n, k) => n + held(k), 0);
    if (cap.pollableKernelFd) assert.ok(kernelObjects() >= 1, 'the kernel object');
    else assert.is(kernelObjects(), 0, 'select and poll hold no kernel object before a wait');
    sel.close();
    sel.close();
    assert.ok(sel.closed);
    assert.is(sel.backend, b);
    assert.is(kernelObjects(), 0, 'the kernel object is released');
    for (const t of pair) assert.is(held(t), 1, 'registered fds stay open');
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
