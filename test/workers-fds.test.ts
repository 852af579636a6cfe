// fds across threads: Socket.fromFd()/detach() hand a socket from one
// thread to another, a borrowed Socket never closes its fd, and a Worker that
// exits with open Sockets registered in its selectors leaves no fd behind
// (its selectors are released by the addon's cleanup hook, its owned Sockets'
// fds are closed) while fds it merely borrowed stay open.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readlinkSync } from 'node:fs';
import * as net from 'node:net';
import { Worker } from 'node:worker_threads';
import { Events, Socket, createSelector, pipe, socketPair } from '@iomux/core';
import { closeSync } from 'node:fs';
import { assertNoNewFds, openFds, sleep, testBackends, throwsCode } from './helpers.ts';

const coreUrl = import.meta.resolve('@iomux/core');

const isOpen = (fd: number) => {
  try {
    readlinkSync(`/proc/self/fd/${fd}`);
    return true;
  } catch {
    return false;
  }
};

function worker(body: string, data: Record<string, unknown>): Worker {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.coreUrl).then(async (core) => { ${body} })
      .catch((err) => { parentPort.postMessage({ error: String(err && err.stack || err) }); });`;
  return new Worker(code, { eval: true, workerData: { coreUrl, ...data } });
}
const nextMessage = (w: Worker) =>
  new Promise<Record<string, unknown>>((resolve, reject) => {
    w.once('message', (m: Record<string, unknown>) => ('error' in m ? reject(new Error(String(m.error))) : resolve(m)));
    w.once('error', reject);
  });
const exited = (w: Worker) => new Promise<number>((resolve) => w.once('exit', resolve));

test('fromFd() reads family, type and blocking mode from the fd; detach() lets go without closing', () => {
  const [a, b] = socketPair();
  a.setBlocking(false);
  const fd = a.detach();
  assert.is(a.fileno(), -1);
  throwsCode(() => a.send('x'), 'ERR_SOCKET_CLOSED');
  assert.ok(isOpen(fd), 'detach() did not close it');
  a.close(); // a no-op now
  assert.ok(isOpen(fd));
  const c = Socket.fromFd(fd);
  try {
    assert.is(c.family, 'unix');
    assert.is(c.type, 'stream');
    assert.is(c.blocking, false);
    assert.ok(c.owned);
    assert.is(c.recv(10), null, 'non-blocking: would block');
    b.send('hi');
    c.setBlocking(true);
    assert.is(c.recv(10)?.toString(), 'hi');
  } finally {
    c.close();
    b.close();
  }
  assert.not.ok(isOpen(fd), 'the owning Socket closed it');
  const tcp = new Socket('inet6', 'dgram');
  const t = Socket.fromFd(tcp.detach());
  assert.is(t.family, 'inet6');
  assert.is(t.type, 'dgram');
  assert.is(t.blocking, true);
  t.close();
});

test('fromFd(fd, { owned: false }) borrows: close() forgets the fd, the owner still has it', () => {
  const [a, b] = socketPair();
  try {
    const borrowed = Socket.fromFd(a.fileno(), { owned: false });
    assert.not.ok(borrowed.owned);
    borrowed.send('via the borrower');
    borrowed.close();
    assert.is(borrowed.fileno(), -1);
    assert.ok(isOpen(a.fileno()), 'still open');
    a.send('!');
    assert.is(b.recv(100)?.toString(), 'via the borrower!');
  } finally {
    a.close();
    b.close();
  }
});

test('fromFd() refuses what is not an open socket', () => {
  const [r, w] = pipe();
  try {
    throwsCode(() => Socket.fromFd(r), 'ENOTSOCK');
  } finally {
    closeSync(r);
    closeSync(w);
  }
  throwsCode(() => Socket.fromFd(r), 'EBADF');
  throwsCode(() => Socket.fromFd(-1), 'ERR_INVALID_ARG_VALUE', RangeError);
  throwsCode(() => Socket.fromFd(1.5), 'ERR_INVALID_ARG_VALUE', RangeError);
  throwsCode(() => Socket.fromFd('3' as unknown as number), 'ERR_INVALID_ARG_TYPE', TypeError);
  const [a, b] = socketPair();
  try {
    throwsCode(() => Socket.fromFd(a.fileno(), { owned: 1 as unknown as boolean }), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => Socket.fromFd(a.fileno(), null as unknown as object), 'ERR_INVALID_ARG_TYPE', TypeError);
  } finally {
    a.close();
    b.close();
  }
});

for (const backend of testBackends()) {
  test(`${backend}: a connection accepted on the main thread, detach()ed and posted, is served by a Worker's selector`, async () => {
    const listener = new Socket('inet', 'stream');
    listener.bind({ host: '127.0.0.1', port: 0 });
    listener.listen();
    const { port } = listener.localAddress() as { port: number };
    const w = worker(
      `const sel = core.createSelector(workerData.backend);
       parentPort.on('message', ({ fd }) => {
         const conn = core.Socket.fromFd(fd);
         conn.setBlocking(false);
         sel.register(conn, core.Events.IN);
         for (;;) {
           const ready = sel.select(5000);
           if (ready.length === 0) break;
           const data = conn.recv(1000);
           if (data === null) continue;
           if (data.length === 0) break;
           conn.send(Buffer.from(data.toString().toUpperCase()));
         }
         sel.unregister(conn);
         conn.close();
         sel.close();
         parentPort.postMessage({ closed: fd });
       });`,
      { backend },
    );
    const client = net.connect({ host: '127.0.0.1', port });
    try {
      await new Promise((r) => client.once('connect', r));
      const [conn] = listener.accept()!;
      const fd = conn.detach();
      const exit = exited(w);
      const done = nextMessage(w);
      w.postMessage({ fd });
      client.write('hello');
      const echoed = await new Promise<string>((r) => client.once('data', (d) => r(d.toString())));
      assert.is(echoed, 'HELLO');
      client.end();
      assert.equal(await done, { closed: fd });
      assert.not.ok(isOpen(fd), 'closed by the Worker that owned it');
      await w.terminate();
      await exit;
    } finally {
      client.destroy();
      listener.close();
    }
  });

  test(`${backend}: a Worker that exits with registered Sockets open leaves no fd behind; borrowed fds stay open`, async () => {
    for (const how of ['returns', 'process.exit', 'terminate'] as const) {
      const [mine, peer] = socketPair(); // the main thread owns these; the Worker borrows `mine`
      try {
        const before = openFds();
        const w = worker(
          `const sel = core.createSelector(workerData.backend);
           const [a, b] = core.socketPair();                    // owned by the Worker
           const borrowed = core.Socket.fromFd(workerData.mine, { owned: false });
           sel.register(a, core.Events.IN);
           sel.register(borrowed, core.Events.IN);
           globalThis.keep = [a, b, borrowed, sel];             // nothing is closed
           if (workerData.how !== 'returns') void sel.wait();   // and a wait is pending
           parentPort.postMessage({ fds: [a.fileno(), b.fileno()] });
           if (workerData.how === 'process.exit') setTimeout(() => process.exit(0), 10);
           if (workerData.how === 'terminate') setInterval(() => {}, 1000);`,
          { backend, mine: mine.fileno(), how },
        );
        const exit = exited(w);
        const { fds } = (await nextMessage(w)) as { fds: number[] };
        if (how === 'terminate') for (const fd of fds) assert.ok(isOpen(fd), 'open while the Worker runs');
        if (how === 'terminate') await w.terminate();
        const code = await exit;
        assert.ok([0, 1].includes(code), `${how}: exit code ${code}`);
        // Worker teardown finishes asynchronously: a grace period.
        await assertNoNewFds(before, `${how}: the Worker (its sockets, selector, waker)`, 1000);
        for (const fd of fds) assert.not.ok(isOpen(fd), `${how}: fd ${fd} closed`);
        // The borrowed fd was left alone: the main thread still uses it.
        peer.send('still mine');
        assert.is(mine.recv(100)?.toString(), 'still mine', how);
      } finally {
        mine.close();
        peer.close();
      }
    }
  });
}

test('an owned Socket of the main thread dropped after detach() is not closed by the GC', async () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  assert.ok(gc, 'run with --expose-gc');
  const [a, b] = socketPair();
  let fd = -1;
  (() => {
    const s = Socket.fromFd(a.detach());
    fd = s.detach();
  })();
  for (let i = 0; i < 10; i++) {
    gc();
    await sleep(5);
  }
  assert.ok(isOpen(fd));
  closeSync(fd);
  b.close();
});

test('Events.IN registration of a borrowed Socket still works after the borrower closes (the fd is the owner\'s)', () => {
  const [a, b] = socketPair();
  const sel = createSelector('poll');
  try {
    const borrowed = Socket.fromFd(a.fileno(), { owned: false });
    sel.register(a, Events.IN);
    borrowed.close();
    b.send('x');
    assert.is(sel.select(1000).length, 1);
  } finally {
    sel.close();
    a.close();
    b.close();
  }
});

test.run();
