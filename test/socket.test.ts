// Raw sockets over real fds: inet, inet6, unix; stream and dgram.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, rmSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Events, Socket, SystemError, backends, createSelector, pipe, socketPair } from '@iomux/core';
import {
  childFdTargets,
  expectEvents,
  fdTarget,
  fillSendBuffer,
  isCloexec,
  openFds,
  throwsCode,
  withScope,
} from './helpers.ts';

const t = (name: string, body: Parameters<typeof withScope>[0]) => test(name, () => withScope(body));

function listener(s: { add<X extends { close(): void }>(x: X): X }, family: 'inet' | 'inet6' = 'inet') {
  const srv = s.add(new Socket(family, 'stream'));
  srv.setReuseAddress(true);
  srv.bind({ host: family === 'inet' ? '127.0.0.1' : '::1', port: 0 });
  srv.listen();
  return srv;
}

t('bind to port 0 picks a free port; connect and accept on 127.0.0.1', (s) => {
  const srv = listener(s);
  const addr = srv.localAddress() as { host: string; port: number };
  assert.is(addr.host, '127.0.0.1');
  assert.ok(addr.port > 0);
  const cli = s.add(new Socket());
  assert.is(cli.connect(addr), true);
  const got = srv.accept();
  assert.ok(got);
  const [conn, peer] = got;
  s.add(conn);
  assert.equal(peer, cli.localAddress());
  assert.equal(cli.remoteAddress(), addr);
  cli.sendAll('ping');
  assert.is(conn.recv(10)?.toString(), 'ping');
});

t('inet6 on ::1', (s) => {
  const srv = listener(s, 'inet6');
  const addr = srv.localAddress() as { host: string; port: number };
  assert.is(addr.host, '::1');
  const cli = s.add(new Socket('inet6'));
  cli.connect(addr);
  const [conn] = srv.accept()!;
  s.add(conn);
  conn.sendAll('v6');
  assert.is(cli.recv(10)?.toString(), 'v6');
});

t('unix stream sockets bind to a path', (s) => {
  const dir = mkdtempSync(join(tmpdir(), 'iomux-'));
  s.add({ close: () => rmSync(dir, { recursive: true, force: true }) });
  const path = join(dir, 'sock');
  const srv = s.add(new Socket('unix'));
  srv.bind({ path });
  srv.listen();
  assert.equal(srv.localAddress(), { path });
  const cli = s.add(new Socket('unix'));
  assert.is(cli.connect({ path }), true);
  const [conn] = srv.accept()!;
  s.add(conn);
  conn.sendAll('unix');
  assert.is(cli.recv(10)?.toString(), 'unix');
});

t('dgram: sendTo / recvFrom on 127.0.0.1, and connected send / recv', (s) => {
  const a = s.add(new Socket('inet', 'dgram'));
  const b = s.add(new Socket('inet', 'dgram'));
  a.bind({ host: '127.0.0.1', port: 0 });
  b.bind({ host: '127.0.0.1', port: 0 });
  assert.is(a.sendTo('hello', b.localAddress()), 5);
  const [data, from] = b.recvFrom(100)!;
  assert.is(data.toString(), 'hello');
  assert.equal(from, a.localAddress());
  b.connect(a.localAddress());
  b.send('back');
  assert.is(a.recv(100)?.toString(), 'back');
});

t('accept returns null when no connection waits (non-blocking)', (s) => {
  const srv = listener(s);
  srv.setBlocking(false);
  assert.is(srv.blocking, false);
  assert.is(srv.accept(), null);
});

t('non-blocking connect: false, then OUT, then socketError() 0', (s) => {
  const srv = listener(s);
  const cli = s.add(new Socket());
  cli.setBlocking(false);
  const done = cli.connect(srv.localAddress());
  const sel = s.add(createSelector('poll'));
  if (!done) {
    sel.register(cli, Events.OUT);
    expectEvents(sel, cli.fileno(), Events.OUT);
  }
  assert.is(cli.socketError(), 0);
  const [conn] = srv.accept()!;
  s.add(conn);
});

t('connect to a closed port: ECONNREFUSED SystemError', (s) => {
  const probe = new Socket();
  probe.bind({ host: '127.0.0.1', port: 0 });
  const { port } = probe.localAddress() as { port: number };
  probe.close();
  const cli = s.add(new Socket());
  const err = throwsCode(() => cli.connect({ host: '127.0.0.1', port }), 'ECONNREFUSED', SystemError) as SystemError;
  assert.is(err.errno, -111);
  assert.is(err.syscall, 'connect');
  assert.match(err.message, /ECONNREFUSED/);
});

t('recv: null when it would block, an empty Buffer at EOF', (s) => {
  const [a, b] = s.pair();
  a.setBlocking(false);
  assert.is(a.recv(10), null);
  assert.is(a.recvInto(new Uint8Array(4)), null);
  b.send('abc');
  const buf = new Uint8Array(8);
  assert.is(a.recvInto(buf), 3);
  assert.is(Buffer.from(buf.subarray(0, 3)).toString(), 'abc');
  b.close();
  const eof = a.recv(10);
  assert.instance(eof, Buffer);
  assert.is(eof!.length, 0);
  assert.is(a.recvInto(buf), 0);
});

t('send on a full buffer: null, and a partial count once some room frees up', (s) => {
  const [a, b] = s.pair();
  a.setBlocking(false);
  b.setBlocking(false);
  a.setBufferSizes({ send: 4096 });
  const filled = fillSendBuffer(a);
  assert.ok(filled > 0);
  assert.is(a.send('x'), null, 'would block');
  // Drain a little on the other side; a big send then takes only part.
  let drained = 0;
  while (drained < 8192) {
    const got = b.recv(8192);
    if (got === null) break;
    drained += got.length;
  }
  const big = Buffer.alloc(4 * 1024 * 1024, 1);
  const n = a.send(big);
  assert.ok(n !== null && n > 0 && n < big.length, `partial send: ${n} of ${big.length}`);
});

t('sendAll on a non-blocking socket that would block throws EAGAIN with bytesSent', (s) => {
  const [a] = s.pair();
  a.setBlocking(false);
  const err = throwsCode(() => a.sendAll(Buffer.alloc(16 * 1024 * 1024)), 'EAGAIN', SystemError) as SystemError & { bytesSent: number };
  assert.ok(err.bytesSent > 0);
});

t('shutdown("write") gives the peer EOF; the other direction still works', (s) => {
  const [a, b] = s.pair();
  a.shutdown('write');
  assert.is(b.recv(10)?.length, 0);
  b.sendAll('still');
  assert.is(a.recv(10)?.toString(), 'still');
  throwsCode(() => a.shutdown('sideways' as never), 'ERR_INVALID_ARG_VALUE');
});

// The contract: every fd the library creates is close-on-exec. Checked two
// ways: the FD_CLOEXEC bit (fdinfo "flags:", O_CLOEXEC = 02000000), and what
// an exec()ed child really inherits (libuv's spawn closes nothing but what is
// marked close-on-exec), compared by link target, which names the socket or
// pipe inode and so cannot be confused with the child's own fds.
t('every fd the library creates is close-on-exec, and an exec()ed child inherits none of them', async (s) => {
  const [a, b] = s.pair();
  const srv = listener(s);
  const cli = s.add(new Socket());
  cli.connect(srv.localAddress());
  const got = srv.accept();
  assert.ok(got, 'a connection to accept');
  const conn = s.add(got[0]);
  const udp = s.add(new Socket('inet', 'dgram'));
  const unix = s.add(new Socket('unix'));
  const [pr, pw] = pipe();
  s.add({ close: () => closeSync(pr) });
  s.add({ close: () => closeSync(pw) });
  const ours = new Map<string, number>([
    ['socketPair()[0]', a.fileno()],
    ['socketPair()[1]', b.fileno()],
    ['listening socket()', srv.fileno()],
    ['connecting socket()', cli.fileno()],
    ['accept()ed', conn.fileno()],
    ['dgram socket()', udp.fileno()],
    ['unix socket()', unix.fileno()],
    ['pipe() read end', pr],
    ['pipe() write end', pw],
  ]);
  // The selectors' own fds: the epoll fds (epoll's own; the set that select
  // and poll sleep on in the loop), and the eventfd that a pending wait() on
  // select or poll wakes its thread with (which a report-once file needs).
  const hostname = s.reportOnceFile();
  const before = new Set(openFds().keys());
  const waits: Promise<unknown>[] = [];
  for (const backend of backends()) {
    const sel = s.selector(backend);
    sel.register(a, Events.IN);
    waits.push(sel.wait({ timeoutMs: 5000 }));
    const threaded = s.selector(backend);
    threaded.register(hostname, Events.PRI);
    waits.push(threaded.wait({ timeoutMs: 5000 }));
  }
  for (const [fd, target] of openFds()) {
    if (!before.has(fd) && /^anon_inode:\[(eventpoll|eventfd)\]$/.test(target)) ours.set(`selector ${target}`, fd);
  }
  assert.ok([...ours.keys()].some((k) => k.includes('eventpoll')), 'found the epoll fd');
  assert.ok([...ours.keys()].some((k) => k.includes('eventfd')), 'found a wait thread eventfd');

  for (const [what, fd] of ours) assert.ok(isCloexec(fd), `${what} (fd ${fd}) has FD_CLOEXEC`);

  const targets = new Map([...ours].map(([what, fd]) => [fdTarget(fd)!, what]));
  const inherited = await childFdTargets();
  const leaked = inherited.filter((x) => targets.has(x)).map((x) => targets.get(x));
  assert.equal(leaked, [], 'fds an exec()ed child inherited');
  s.close(); // resolves the waits
  await Promise.all(waits);
});

// Negative control: both checks see an fd that is not close-on-exec. Node
// marks even its stdio close-on-exec, so the inheritable fd lives in a child,
// which gets one of our pipes as its fd 3 (spawn dup2()s it there).
t('negative control: the close-on-exec checks see an inheritable fd', async (s) => {
  const [pr, pw] = pipe();
  s.add({ close: () => closeSync(pr) });
  s.add({ close: () => closeSync(pw) });
  const sleeper = spawn('/bin/sleep', ['10'], { stdio: ['ignore', 'ignore', 'ignore', pw] });
  try {
    // spawn() returns once the child has exec()ed, so its fd table is final.
    assert.not.ok(isCloexec(3, sleeper.pid), "the child's fd 3 is inheritable");
    assert.ok(isCloexec(pw), 'while ours is close-on-exec');
  } finally {
    sleeper.kill('SIGKILL');
    await new Promise((r) => sleeper.once('close', r));
  }
  assert.ok((await childFdTargets([pw])).includes(fdTarget(pw)!), 'a child lists the fd it was handed');
  assert.not.ok((await childFdTargets()).includes(fdTarget(pw)!), 'and not when it was not handed over');
});

t('a closed socket: fileno() -1, ERR_SOCKET_CLOSED, close() idempotent', () => {
  const [a, b] = socketPair();
  a.close();
  a.close();
  b.close();
  assert.is(a.fileno(), -1);
  assert.ok(a.closed);
  throwsCode(() => a.send('x'), 'ERR_SOCKET_CLOSED');
  throwsCode(() => a.recv(1), 'ERR_SOCKET_CLOSED');
  throwsCode(() => a.setBlocking(false), 'ERR_SOCKET_CLOSED');
  throwsCode(() => a.localAddress(), 'ERR_SOCKET_CLOSED');
});

t('argument errors: bad family, port, sizes, data; unix paths with NUL', (s) => {
  throwsCode(() => new Socket('ipx' as never), 'ERR_INVALID_ARG_VALUE');
  throwsCode(() => new Socket('inet', 'raw' as never), 'ERR_INVALID_ARG_VALUE');
  const a = s.add(new Socket());
  throwsCode(() => a.bind({ host: '127.0.0.1', port: 70000 }), 'ERR_SOCKET_BAD_PORT', RangeError);
  throwsCode(() => a.bind({ host: '127.0.0.1', port: -1 }), 'ERR_SOCKET_BAD_PORT', RangeError);
  throwsCode(() => a.bind({ host: 1 } as never), 'ERR_INVALID_ARG_TYPE', TypeError);
  throwsCode(() => a.recv(0), 'ERR_INVALID_ARG_VALUE', RangeError);
  throwsCode(() => a.recv('1' as never), 'ERR_INVALID_ARG_TYPE', TypeError);
  throwsCode(() => a.send(42 as never), 'ERR_INVALID_ARG_TYPE', TypeError);
  throwsCode(() => a.recvInto(new Uint8Array(0)), 'ERR_INVALID_ARG_VALUE', RangeError);
  const u = s.add(new Socket('unix'));
  throwsCode(() => u.bind({ path: '/tmp/a\0b' }), 'ERR_INVALID_ARG_VALUE');
  throwsCode(() => u.bind({ path: 'x'.repeat(200) }), 'ERR_INVALID_ARG_VALUE');
});

t('Symbol.dispose closes a socket', () => {
  const [a, b] = socketPair();
  {
    using x = a;
    using y = b;
    assert.ok(x.fileno() >= 0 && y.fileno() >= 0);
  }
  assert.is(a.fileno(), -1);
  assert.is(b.fileno(), -1);
});

t('recvFrom() gives the whole sender address: unix paths and IPv6 (plus v4-mapped), not an IPv4-sized prefix', (s) => {
  // Two senders whose addresses agree in their first 16 bytes (sockaddr_in's
  // size) and differ after: a cut-short address would have to come out
  // right for both from whatever the stack held.
  const dir = mkdtempSync(join(tmpdir(), 'iomux-recvfrom-'));
  try {
    const rx = s.add(new Socket('unix', 'dgram'));
    rx.bind({ path: join(dir, 'rx') });
    for (const name of ['sender-with-a-long-shared-name-A', 'sender-with-a-long-shared-name-B']) {
      const tx = s.add(new Socket('unix', 'dgram'));
      tx.bind({ path: join(dir, name) });
      tx.sendTo(name, { path: join(dir, 'rx') });
    }
    for (const name of ['sender-with-a-long-shared-name-A', 'sender-with-a-long-shared-name-B']) {
      const [data, from] = rx.recvFrom(100)!;
      assert.is(data.toString(), name);
      assert.equal(from, { path: join(dir, name) });
    }
    // A dual-stack IPv6 socket hears ::1 and, from IPv4, ::ffff:127.0.0.1.
    const rx6 = s.add(new Socket('inet6', 'dgram'));
    rx6.bind({ host: '::', port: 0 });
    const port = (rx6.localAddress() as { port: number }).port;
    const senders = [s.add(new Socket('inet6', 'dgram')), s.add(new Socket('inet', 'dgram'))];
    senders[0]!.bind({ host: '::1', port: 0 });
    senders[1]!.bind({ host: '127.0.0.1', port: 0 });
    senders[0]!.sendTo('six', { host: '::1', port });
    senders[1]!.sendTo('four', { host: '127.0.0.1', port });
    const expected = [
      ['six', { host: '::1', port: (senders[0]!.localAddress() as { port: number }).port }],
      ['four', { host: '::ffff:127.0.0.1', port: (senders[1]!.localAddress() as { port: number }).port }],
    ] as const;
    for (const [text, addr] of expected) {
      const [data, from] = rx6.recvFrom(100)!;
      assert.is(data.toString(), text);
      assert.equal(from, addr);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t('non-blocking connect() to a port nobody listens on: false, then OUT, then socketError() ECONNREFUSED', (s) => {
  // Bound, never listening: the port answers a SYN with a RST.
  const closed = s.add(new Socket());
  closed.bind({ host: '127.0.0.1', port: 0 });
  const cli = s.add(new Socket());
  cli.setBlocking(false);
  // Linux reports a TCP connect in progress even when the refusal is
  // already in (the RST is read after the call returns EINPROGRESS).
  assert.is(cli.connect(closed.localAddress()), false);
  const sel = s.add(createSelector('poll'));
  sel.register(cli, Events.OUT);
  expectEvents(sel, cli.fileno(), Events.OUT);
  assert.is(cli.socketError(), osConstants.errno.ECONNREFUSED, 'the refusal, not a success');
  assert.is(cli.socketError(), 0, 'reading SO_ERROR clears it');
});

// Node ignores SIGPIPE; a listener for it makes the signal visible instead
// (a 'SIGPIPE' event) without ending the process. The child checks its own
// control first: fs.writeSync to a pipe nobody reads raises a real SIGPIPE.
const SIGPIPE_CHILD = `
  const { closeSync, writeSync } = require('node:fs');
  const turn = () => new Promise((r) => setImmediate(r));
  (async () => {
    const core = await import(process.argv[1]);
    let signals = 0;
    process.on('SIGPIPE', () => signals++);
    // One immediate may run before the loop next polls; after two, the
    // loop has polled and the signal's event has been emitted.
    const settle = async () => { await turn(); await turn(); const n = signals; signals = 0; return n; };
    const out = {};
    const [r, w] = core.pipe();
    closeSync(r);
    try { writeSync(w, 'x'); } catch (err) { out.control = err.code; }
    closeSync(w);
    out.controlSignals = await settle();
    for (const how of ['send', 'sendAll']) {
      const [a, b] = core.socketPair();
      b.close();
      try { a[how]('x'); out[how] = 'sent'; } catch (err) { out[how] = err.code; }
      a.close();
      out[how + 'Signals'] = await settle();
    }
    console.log(JSON.stringify(out));
  })();`;

test('send() and sendAll() to a closed peer: EPIPE and no SIGPIPE (the control, a pipe write, does raise one)', () => {
  const r = spawnSync(process.execPath, ['-e', SIGPIPE_CHILD, import.meta.resolve('@iomux/core')], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout), {
    control: 'EPIPE',
    controlSignals: 1,
    send: 'EPIPE',
    sendSignals: 0,
    sendAll: 'EPIPE',
    sendAllSignals: 0,
  });
});

test.run();
