// The capability records are what every other layer trusts instead of
// comparing backend names, so each claim in them is checked here against
// what the backend really does, over real fds. A record that lies (say, a
// select record claiming EDGE, or epoll claiming it reports closed fds)
// fails one of these.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Events,
  FD_SETSIZE,
  Socket,
  backends,
  capabilities,
  createSelector,
  raiseFdLimit,
  type BackendCapabilities,
  type FileLike,
} from '@iomux/core';
import { Scope, expectEvents, readyMap, testBackends, threadCount, throwsCode, withScope } from './helpers.ts';

const { IN, OUT, HUP, NVAL, RDHUP, EDGE } = Events;

test('one frozen record per backend, the same object everywhere', () => {
  for (const b of backends()) {
    const c = capabilities(b);
    assert.is(c.backend, b);
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.syscalls), `${b}: frozen`);
    assert.is(capabilities(b), c, `${b}: one object`);
    const sel = createSelector(b);
    try {
      assert.is(sel.capabilities, c, `${b}: selector.capabilities is the record`);
    } finally {
      sel.close();
    }
  }
  throwsCode(() => capabilities('kqueue' as never), 'ERR_INVALID_ARG_VALUE', RangeError);
});

for (const backend of testBackends()) {
  const caps: BackendCapabilities = capabilities(backend);

  test(`${backend}: maxFd is the highest fd register() accepts`, () =>
    withScope((s) => {
      const sel = s.selector(backend);
      if (caps.maxFd >= FD_SETSIZE) {
        // No limit of its own: an fd past FD_SETSIZE registers.
        raiseFdLimit(FD_SETSIZE + 64);
        const socks: Socket[] = [];
        let high: Socket | undefined;
        while (!high) {
          const sock = s.add(new Socket());
          if (sock.fileno() >= FD_SETSIZE) high = sock;
          else socks.push(sock);
        }
        sel.register(high, IN);
        for (const sock of socks) sock.close();
        return;
      }
      assert.is(caps.maxFd, FD_SETSIZE - 1);
      throwsCode(() => sel.register(caps.maxFd + 1, IN), 'ERR_FD_SETSIZE', RangeError);
    }));

  test(`${backend}: edge says whether EDGE registers`, () =>
    withScope((s) => {
      const sel = s.selector(backend);
      const [a] = s.pair();
      if (caps.edge) sel.register(a, IN | EDGE);
      else throwsCode(() => sel.register(a, IN | EDGE), 'ERR_UNSUPPORTED');
    }));

  test(`${backend}: rdhupNeedsIn says whether RDHUP alone registers`, () =>
    withScope((s) => {
      const sel = s.selector(backend);
      const [a] = s.pair();
      if (caps.rdhupNeedsIn) throwsCode(() => sel.register(a, RDHUP), 'ERR_UNSUPPORTED');
      else sel.register(a, RDHUP);
    }));

  test(`${backend}: reportsHup says whether a hang-up is told apart from readiness`, () =>
    withScope((s) => {
      const sel = s.selector(backend);
      const [a, b] = s.pair();
      sel.register(a, IN);
      b.close();
      const got = expectEvents(sel, a.fileno(), IN);
      assert.is((got & HUP) !== 0, caps.reportsHup, `reported ${got}`);
    }));

  test(`${backend}: reportsClosedFd says whether a closed registered fd comes back as NVAL`, () =>
    withScope((s) => {
      const sel = s.selector(backend);
      const [a, b] = s.pair();
      const fd = a.fileno();
      sel.register(fd, IN | OUT);
      a.close();
      const ready = readyMap(sel.select(0));
      if (caps.reportsClosedFd) assert.is(ready.get(fd), NVAL);
      else assert.not.ok(ready.has(fd));
      sel.unregister(fd);
      b.close();
    }));

  test(`${backend}: keepsClosedFdOpen says whether close() of a registered socket waits for unregister()`, () =>
    withScope((s) => {
      const sel = s.selector(backend);
      const [a, b] = s.pair();
      b.setBlocking(false);
      const fd = a.fileno();
      sel.register(fd, IN);
      sel.select(0); // the registration has reached the kernel (io_uring queues it until a wait)
      a.close();
      // The peer's view: EOF (an empty Buffer) once the socket is really closed, null while it is open.
      const eof = () => b.recv(10)?.length === 0;
      assert.is(eof(), !caps.keepsClosedFdOpen, caps.keepsClosedFdOpen ? 'held open by the selector' : 'closed at once');
      sel.unregister(fd);
      assert.ok(eof(), 'closed once unregistered');
      if (caps.edge) {
        // The same with a wake-up not yet harvested (io_uring: its completion work is pending,
        // and a removal then finds a multishot poll busy: it must be sent again, at once).
        const [e, f] = s.pair();
        f.setBlocking(false);
        sel.register(e, IN | EDGE);
        sel.select(0);
        f.send('x');
        sel.unregister(e);
        e.close();
        // e had unread data, so its close resets the connection instead of a FIN.
        assert.throws(() => f.recv(10), (err: { code?: string }) => err.code === 'ECONNRESET', 'closed once unregistered, with a wake-up pending');
      }
      // The selector's close() lets go of such a file too.
      const [c, d] = s.pair();
      d.setBlocking(false);
      sel.register(c, IN);
      sel.select(0);
      c.close();
      sel.close();
      assert.is(d.recv(10)?.length, 0, 'closed once the selector is');
    }));

  test(`${backend}: pollableKernelFd says whether the selector has a kernel fd of its own`, () =>
    withScope((s) => {
      const sel = s.selector(backend);
      assert.is(sel.fileno() >= 0, caps.pollableKernelFd);
    }));

  // Threads made by a pending wait() on a fresh selector with `fd` registered
  // for `events`; the wait is then ended by `fire` (or the selector's waker).
  const threadsOfWait = async (s: Scope, fd: FileLike, events: number, fire?: () => void) => {
    const sel = s.selector(backend);
    sel.register(fd, events);
    const waker = sel.waker();
    const before = threadCount();
    const p = sel.wait({ timeoutMs: 2000 });
    await new Promise((r) => setTimeout(r, 20));
    const during = threadCount();
    if (fire) fire();
    else waker.wake(); // resolves the wait with what is ready (nothing)
    const ready = await p;
    if (fire) assert.ok(ready.length > 0, 'the wait reports the event');
    return during - before;
  };

  test(`${backend}: waitInLoop says whether wait() over sockets sleeps in the event loop (no thread)`, () =>
    withScope(async (s) => {
      const [a, c] = s.pair();
      const made = await threadsOfWait(s, a, Events.IN, () => c.send('x'));
      assert.is(made, caps.waitInLoop ? 0 : 1, `threads made: ${made}`);
    }));

  // /proc/sys/kernel/hostname reports a change to the first poll only: a
  // backend that may take a thread takes it for this file.
  test(`${backend}: waitOnThread says whether wait() over a report-once file blocks on a thread of its own`, () =>
    withScope(async (s) => {
      const made = await threadsOfWait(s, s.reportOnceFile(), Events.PRI);
      assert.is(made, caps.waitOnThread ? 1 : 0, `threads made: ${made}`);
    }));

  test(`${backend}: watchesEmptyMask says whether an fd with no interest bit hears its hang-up`, () =>
    withScope((s) => {
      const sel = s.selector(backend);
      const [a, b] = s.pair();
      sel.register(a, 0);
      b.close();
      if (caps.watchesEmptyMask) assert.is(expectEvents(sel, a.fileno(), HUP), HUP);
      else assert.not.ok(readyMap(sel.select(50)).has(a.fileno()));
    }));

  test(`${backend}: errors name the record's system calls`, () =>
    withScope((s) => {
      const sel = s.selector(backend);
      // A closed fd: every backend checks at register() (EBADF).
      const [a] = s.pair();
      const fd = a.fileno();
      a.close();
      const err = throwsCode(() => sel.register(fd, IN), 'EBADF') as Error & { syscall?: string };
      assert.is(err.syscall, caps.syscalls.add);
      assert.type(caps.syscalls.wait, 'string');
    }));
}

test.run();
