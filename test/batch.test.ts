// The batched mode (docs/batch.md): one native call per pass that flushes
// queued sends, waits like select() and makes one recv per ready fd that asked
// for it. Every test runs on every backend (EDGE: epoll only), over real
// socket pairs and TCP loopback connections.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createRequire } from 'node:module';
import { Batch, BatchResult, Events, Socket, SystemError, createSelector, socketPair, type BackendName } from '@iomux/core';
import { fillSendBuffer, newFds, openFds, readyMap, testBackends, throwsCode, withScope, type Scope } from './helpers.ts';

const { IN, OUT, HUP, ERR, ONESHOT, EDGE } = Events;
const gc = (globalThis as { gc?: () => void }).gc;

/** Runs passes until `fd` is reported (loopback delivery may take a moment); returns its entry index. */
function runUntil(batch: Batch, fd: number, timeoutMs = 2000): number {
  const end = Date.now() + timeoutMs;
  do {
    const n = batch.run(50);
    for (let i = 0; i < n; i++) if (batch.fd(i) === fd) return i;
  } while (Date.now() < end);
  assert.unreachable(`fd ${fd} was never reported`);
  return -1;
}

/** A socket pair, non-blocking both ways (a wrong expectation then fails instead of hanging). */
function pair(s: Scope): [Socket, Socket] {
  const [x, y] = s.pair();
  x.setBlocking(false);
  y.setBlocking(false);
  return [x, y];
}

/** A connected TCP pair over loopback: [client, server side]. */
function tcpPair(s: Scope): [Socket, Socket] {
  const l = s.add(new Socket('inet'));
  l.bind({ host: '127.0.0.1', port: 0 });
  l.listen();
  const c = s.add(new Socket('inet'));
  c.connect(l.localAddress());
  const r = l.accept();
  assert.ok(r);
  const srv = s.add(r[0]);
  c.setBlocking(false);
  srv.setBlocking(false);
  return [c, srv];
}

for (const b of testBackends()) {
  test(`${b}: one pass receives every ready fd into its own slice of one buffer`, () =>
    withScope((s) => {
      const sel = s.selector<string>(b);
      const batch = sel.batch({ recvBytes: 4096 });
      const [a1, a2] = pair(s);
      const [c1, c2] = pair(s);
      const [d1, d2] = pair(s);
      sel.register(a1, IN, 'a');
      sel.register(c1, IN, 'c');
      sel.register(d1, IN, 'd'); // no setRecv: reported, not read
      batch.setRecv(a1, 100);
      batch.setRecv(c1, 3);
      a2.send('alpha');
      c2.send('charlie');
      d2.send('delta');
      const n = batch.run(1000);
      assert.is(n, batch.length);
      const seen = new Map<string, { ev: number; bytes: number; off: number; text: string }>();
      for (let i = 0; i < n; i++) {
        assert.is(batch.key(i), sel.getKey(batch.fd(i)), 'the registered key itself');
        seen.set(batch.key(i).data, { ev: batch.events(i), bytes: batch.bytes(i), off: batch.offset(i), text: batch.data(i).toString() });
      }
      assert.equal([...seen.keys()].sort(), ['a', 'c', 'd'], 'everything ready in one pass');
      assert.equal(seen.get('a')!.text, 'alpha');
      assert.is(seen.get('a')!.bytes, 5);
      assert.equal(seen.get('c')!.text, 'cha', 'at most the fd\'s recv size');
      assert.is(seen.get('d')!.bytes, BatchResult.NONE);
      assert.is(seen.get('d')!.text, '');
      for (const v of seen.values()) assert.is(v.ev & IN, IN);
      // Slices do not overlap, and are views of batch.buffer.
      const a = seen.get('a')!;
      const c = seen.get('c')!;
      assert.ok(a.off + a.bytes <= c.off || c.off + c.bytes <= a.off, 'slices overlap');
      assert.is(batch.buffer.subarray(a.off, a.off + a.bytes).toString(), 'alpha');
      // What was not read stays in the kernel, and level-triggered fds report it again.
      assert.is(d1.recv(100)!.toString(), 'delta');
      const m = batch.run(0);
      const again = new Map<string, string>();
      for (let i = 0; i < m; i++) again.set(batch.key(i).data, batch.data(i).toString());
      assert.equal(Object.fromEntries(again), { c: 'rli' });
    }));

  test(`${b}: EOF, NO_ROOM, and the recv setting across modify() and unregister()`, () =>
    withScope((s) => {
      const sel = s.selector(b);
      const batch = sel.batch({ recvBytes: 8 });
      const [a1, a2] = pair(s);
      const [c1, c2] = pair(s);
      sel.register(a1, IN);
      sel.register(c1, IN);
      batch.setRecv(a1, 64);
      batch.setRecv(c1, 64);
      a2.send('0123456789');
      c2.send('abcdefghij');
      const n = batch.run(1000);
      assert.is(n, 2);
      const results = [0, 1].map((i) => batch.bytes(i)).sort((x, y) => x - y);
      assert.equal(results, [BatchResult.NO_ROOM, 8], 'the first fd fills the 8-byte region, the second gets NO_ROOM');
      assert.is(batch.offset(results.indexOf(BatchResult.NO_ROOM) === 0 ? 0 : 1), 0);
      // Both are still readable: the second one's bytes were never taken.
      let got = '';
      for (let pass = 0; pass < 6 && got.length < 12; pass++) {
        const m = batch.run(0);
        for (let i = 0; i < m; i++) if (batch.bytes(i) > 0) got += batch.data(i).toString();
      }
      assert.is(got.length, 12, `the rest arrived over later passes (${got})`);
      // EOF: a closed peer reads as 0 bytes.
      a2.close();
      const i = runUntil(batch, a1.fileno());
      assert.is(batch.bytes(i), 0);
      assert.ok(batch.events(i) & (IN | HUP));
      // modify() keeps the recv setting; unregister() drops it.
      sel.modify(c1, IN | OUT);
      c2.send('z');
      const j = runUntil(batch, c1.fileno());
      assert.is(batch.data(j).toString(), 'z');
      sel.unregister(c1);
      sel.register(c1, IN);
      c2.send('y');
      const k = runUntil(batch, c1.fileno());
      assert.is(batch.bytes(k), BatchResult.NONE, 'a new registration of the number starts without recv');
      assert.is(c1.recv(10)!.toString(), 'y');
      // 0 stops it.
      batch.setRecv(c1, 5);
      batch.setRecv(c1, 0);
      c2.send('x');
      assert.is(batch.bytes(runUntil(batch, c1.fileno())), BatchResult.NONE);
    }));

  test(`${b}: no recv for a report without IN, HUP or ERR, nor for NVAL (a closed fd)`, () =>
    withScope((s) => {
      const sel = s.selector(b);
      const batch = sel.batch();
      const [a, c] = pair(s);
      sel.register(a, OUT);
      batch.setRecv(a, 64);
      c.send('waiting');
      const i = runUntil(batch, a.fileno());
      assert.is(batch.events(i), OUT);
      assert.is(batch.bytes(i), BatchResult.NONE, 'writable only: nothing read');
      assert.is(a.recv(64)!.toString(), 'waiting');
      // Closed while registered: poll and select report NVAL, epoll forgets it.
      const [x, y] = socketPair();
      s.add(y);
      sel.register(x.fileno(), IN);
      batch.setRecv(x.fileno(), 64);
      const fd = x.fileno();
      x.close();
      const n = batch.run(0);
      for (let k = 0; k < n; k++) {
        if (batch.fd(k) !== fd) continue;
        assert.is(batch.events(k) & Events.NVAL, Events.NVAL);
        assert.is(batch.bytes(k), BatchResult.NONE, 'no recv on a closed fd');
      }
      sel.unregister(fd);
    }));

  test(`${b}: ECONNRESET and ECONNREFUSED arrive as ERROR with code, errno, syscall and fd`, () =>
    withScope((s) => {
      const sel = s.selector(b);
      const batch = sel.batch();
      const [c, srv] = tcpPair(s);
      sel.register(srv, IN);
      batch.setRecv(srv, 1024);
      c.setLinger(0);
      c.close(); // RST
      const i = runUntil(batch, srv.fileno());
      assert.is(batch.bytes(i), BatchResult.ERROR);
      const err = batch.error(i);
      assert.instance(err, SystemError);
      assert.is(err!.code, 'ECONNRESET');
      assert.is(err!.errno, -104);
      assert.is(err!.syscall, 'recv');
      assert.is(err!.fd, srv.fileno());
      assert.is(batch.offset(i), 0);
      assert.is(batch.data(i).length, 0);
      // ERR on a failed non-blocking connect: the recv names the error.
      const l = s.add(new Socket('inet'));
      l.bind({ host: '127.0.0.1', port: 0 });
      const port = (l.localAddress() as { port: number }).port;
      l.close(); // nothing listens there now
      const k = s.add(new Socket('inet'));
      k.setBlocking(false);
      k.connect({ host: '127.0.0.1', port });
      sel.register(k, IN | OUT);
      batch.setRecv(k, 16);
      const j = runUntil(batch, k.fileno());
      if (b !== 'select') assert.ok(batch.events(j) & ERR, 'poll and epoll report ERR');
      assert.is(batch.bytes(j), BatchResult.ERROR);
      assert.is(batch.error(j)!.code, 'ECONNREFUSED');
      assert.is(batch.error(0 === j ? j : j)!.syscall, 'recv');
    }));

  test(`${b}: partial sends, SKIPPED and AGAIN are reported; resending the rest keeps the stream intact`, () =>
    withScope((s) => {
      const sel = s.selector(b);
      const batch = sel.batch({ sendBytes: 16 }); // the send region grows as needed
      const [a, c] = pair(s);
      sel.register(a, IN);
      sel.register(c, IN);
      const big = Buffer.alloc(3 << 20);
      for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 10)) & 0xff;
      const t0 = batch.send(a, big);
      const t1 = batch.send(a, 'tail');
      assert.equal([t0, t1], [0, 1]);
      assert.is(batch.queued, 2);
      batch.run(0);
      assert.is(batch.flushed, 2);
      assert.is(batch.queued, 0);
      const first = batch.sent(t0);
      assert.ok(first > 0 && first < big.length, `a partial send (${first} of ${big.length})`);
      assert.is(batch.sent(t1), BatchResult.SKIPPED, 'nothing goes out behind a short send');
      // Now full: the next send would block.
      fillSendBuffer(a);
      const t2 = batch.send(a, 'x');
      batch.run(0);
      assert.is(batch.sent(t2), BatchResult.AGAIN);
      assert.is(batch.sendError(t2), null);
      // Drain at the peer while resending the rest through the batch.
      const received: Buffer[] = [];
      const drain = () => {
        for (let r = c.recv(1 << 20); r !== null && r.length > 0; r = c.recv(1 << 20)) received.push(r);
      };
      drain();
      const filler = Buffer.concat(received).length - first;
      received.length = 0;
      let off = first;
      let rounds = 0;
      // Half by copying the rest anew, half by resend() of the last ticket.
      let last = -1;
      while (off < big.length) {
        assert.ok(++rounds < 10_000, 'no progress');
        const t = last >= 0 && rounds % 2 === 0 ? batch.resend(last) : batch.send(a, big.subarray(off));
        batch.run(0);
        const r = batch.sent(t);
        if (r > 0) off += r;
        else assert.is(r, BatchResult.AGAIN);
        last = t;
        drain();
      }
      drain();
      const all = Buffer.concat(received);
      assert.is(all.length, big.length - first, `every resent byte arrived once (filler was ${filler} B)`);
      assert.ok(all.equals(big.subarray(first)), 'in order, uncorrupted');
    }));

  test(`${b}: the rest of a short send of a recv slice survives the next pass; resend() queues it`, () =>
    withScope((s) => {
      const sel = s.selector(b);
      const batch = sel.batch({ recvBytes: 1 << 20 });
      const [a, c] = pair(s); // a echoes what it receives back to c
      const [x, y] = pair(s); // busy traffic: its recvs reuse the recv region
      sel.register(a, IN);
      sel.register(x, IN);
      batch.setRecv(a, 1 << 20);
      batch.setRecv(x, 1 << 20);
      const filled = fillSendBuffer(a); // a's way back to c is full
      const msg = Buffer.alloc(100_000);
      for (let i = 0; i < msg.length; i++) msg[i] = (i * 13) & 0xff;
      assert.is(c.send(msg), msg.length);
      const i = runUntil(batch, a.fileno());
      const got = batch.bytes(i);
      assert.ok(got > 0);
      const t = batch.sendRange(a, batch.offset(i), got);
      y.send(Buffer.alloc(50_000, 0x55)); // the next pass receives 50 kB over the region
      batch.run(1000);
      assert.is(batch.sent(t), BatchResult.AGAIN);
      assert.ok(batch.unsent(t).equals(msg.subarray(0, got)), 'the unsent bytes are intact after that pass\'s recvs');
      // Drain c, then resend until everything is through; the stream is the message, in order.
      let back = Buffer.alloc(0);
      const drain = () => {
        for (let r = c.recv(1 << 20); r !== null && r.length > 0; r = c.recv(1 << 20)) back = Buffer.concat([back, r]);
      };
      drain();
      assert.is(back.length, filled);
      back = Buffer.alloc(0);
      let ticket = t;
      for (let rounds = 0; ticket !== -1; rounds++) {
        assert.ok(rounds < 1000, 'no progress');
        ticket = batch.resend(ticket);
        y.send('z'); // keep the other fd busy
        batch.run(0);
        drain();
      }
      drain();
      assert.is(back.length, got);
      assert.ok(back.equals(msg.subarray(0, got)));
      // A fully sent ticket leaves nothing to resend.
      const u = batch.send(a, 'ok');
      batch.run(0);
      assert.is(batch.sent(u), 2);
      assert.is(batch.unsent(u).length, 0);
      assert.is(batch.resend(u), -1);
      throwsCode(() => batch.resend(5), 'ERR_OUT_OF_RANGE', RangeError);
    }));

  test(`${b}: a failed send is ERROR with code, errno, syscall and fd; sends to other fds still go out`, () =>
    withScope((s) => {
      const sel = s.selector(b);
      const batch = sel.batch();
      const [a, c] = pair(s);
      const [d, e] = pair(s);
      sel.register(a, IN);
      sel.register(d, IN);
      c.close();
      const t0 = batch.send(a, 'lost');
      const t1 = batch.send(d, 'fine');
      batch.run(0);
      assert.is(batch.sent(t0), BatchResult.ERROR);
      const err = batch.sendError(t0)!;
      assert.instance(err, SystemError);
      assert.is(err.code, 'EPIPE');
      assert.is(err.errno, -32);
      assert.is(err.syscall, 'send');
      assert.is(err.fd, a.fileno());
      assert.is(batch.sent(t1), 4);
      assert.is(batch.sendError(t1), null);
      assert.is(e.recv(10)!.toString(), 'fine');
      throwsCode(() => batch.sent(2), 'ERR_OUT_OF_RANGE', RangeError);
      throwsCode(() => batch.sent(-1), 'ERR_OUT_OF_RANGE', RangeError);
    }));

  test(`${b}: a send queued for a registration that went away is CANCELLED, never sent to a reused fd`, () =>
    withScope((s) => {
      const sel = s.selector(b);
      const batch = sel.batch();
      const [a, c] = pair(s);
      sel.register(a, IN);
      const t0 = batch.send(a, 'one');
      sel.unregister(a);
      batch.run(0);
      assert.is(batch.sent(t0), BatchResult.CANCELLED);
      assert.is(c.recv(10), null, 'nothing was sent');
      // Closed and the number reused by a new socket, registered anew.
      sel.register(a, IN);
      const fd = a.fileno();
      const t1 = batch.send(a, 'two');
      sel.unregister(a);
      a.close();
      c.close();
      const [x, y] = socketPair();
      s.add(x);
      s.add(y);
      x.setBlocking(false);
      y.setBlocking(false);
      const reused = x.fileno() === fd ? x : y.fileno() === fd ? y : null;
      if (reused) sel.register(reused, IN);
      batch.run(0);
      assert.is(batch.sent(t1), BatchResult.CANCELLED);
      if (reused) {
        const other = reused === x ? y : x;
        assert.is(other.recv(10), null, 'the new connection on the old number got nothing');
      }
      // A Socket closed without unregistering (fileno() is -1 now): cancelled too.
      const [p, q] = pair(s);
      sel.register(p, IN);
      const t2 = batch.send(p, 'three');
      p.close();
      batch.run(0);
      assert.is(batch.sent(t2), BatchResult.CANCELLED);
      sel.unregister(p);
      void q;
    }));

  test(`${b}: a send is cancelled when its target changes after it was queued: a detached Socket, an object whose fileno() moved`, () =>
    withScope((s) => {
      const sel = s.selector(b);
      const batch = sel.batch();
      // Queued, then detached (not closed): the Socket no longer owns the number.
      const [a, c] = pair(s);
      const t0 = batch.send(a, 'one');
      const fd = a.detach();
      s.add(Socket.fromFd(fd));
      batch.run(0);
      assert.is(batch.sent(t0), BatchResult.CANCELLED);
      assert.is(c.recv(10), null, 'nothing was sent to the number the Socket let go of');
      // An object (not a Socket) whose fileno() changes between the queueing
      // and the flush, with no Socket closed and no registration changed.
      const [p, q] = pair(s);
      const obj = { n: p.fileno(), fileno() { return this.n; } };
      const t1 = batch.send(obj, 'two');
      obj.n = -1;
      batch.run(0);
      assert.is(batch.sent(t1), BatchResult.CANCELLED);
      assert.is(q.recv(10), null);
      // The same object, unchanged: sent.
      obj.n = p.fileno();
      const t2 = batch.send(obj, 'three');
      batch.run(0);
      assert.is(batch.sent(t2), 5);
      assert.is(q.recv(10)?.toString(), 'three');
      // A pass with nothing changed after one that re-checked: a send to a
      // registered Socket still goes out, and one closed after queueing does not.
      sel.register(p, IN);
      const t3 = batch.send(p, 'four');
      batch.run(0);
      assert.is(batch.sent(t3), 4);
      assert.is(q.recv(10)?.toString(), 'four');
      const t4 = batch.send(q, 'five');
      q.close();
      batch.run(0);
      assert.is(batch.sent(t4), BatchResult.CANCELLED);
      assert.is(p.recv(10)?.length, 0, 'p reads the end of the stream, not the bytes queued for the closed peer');
      // Queued after a pass that already saw the close: a registered Socket
      // closed without unregistering is found by identity, and its send is
      // cancelled, not sent to whatever now has its number.
      const old = p.fileno();
      p.close();
      batch.run(0);
      const [u, v] = pair(s);
      const reused = u.fileno() === old ? u : v.fileno() === old ? v : null;
      const t5 = batch.send(p, 'six');
      batch.run(0);
      assert.is(batch.sent(t5), BatchResult.CANCELLED);
      if (reused) assert.is((reused === u ? v : u).recv(10), null, 'the socket on the reused number got nothing');
      sel.unregister(p);
    }));

  test(`${b}: entries keep the keys they had when run() returned through modify(), re-registration and close()`, () =>
    withScope((s) => {
      const sel = s.selector<string>(b);
      const batch = sel.batch();
      const [x, xp] = pair(s);
      const [y, yp] = pair(s);
      sel.register(x, IN, 'x');
      sel.register(y, IN, 'y');
      xp.send('1');
      yp.send('2');
      let n = 0;
      for (let tries = 0; tries < 20 && n < 2; tries++) n = batch.run(50);
      assert.is(n, 2);
      const ix = batch.fd(0) === x.fileno() ? 0 : 1;
      const iy = 1 - ix;
      const kx = batch.key(ix);
      const ky = batch.key(iy);
      assert.is(kx, sel.getKey(x), 'before any change an entry answers the registered key');
      assert.is(ky.data, 'y');
      sel.modify(x, IN, 'x2');
      assert.is(batch.key(ix), kx, 'modify() does not change an entry of the pass');
      assert.is(batch.key(ix).data, 'x');
      sel.unregister(y);
      sel.register(y, IN, 'y2');
      assert.is(batch.key(iy), ky, 'nor does re-registering its fd');
      // The next pass reads the keys as they are now.
      n = 0;
      for (let tries = 0; tries < 20 && n < 2; tries++) n = batch.run(50);
      assert.is(n, 2);
      const now = new Set([batch.key(0).data, batch.key(1).data]);
      assert.equal(now, new Set(['x2', 'y2']));
      const k0 = batch.key(0);
      sel.close();
      assert.is(batch.key(0), k0, 'entries answer after close()');
      assert.ok(['x2', 'y2'].includes(batch.key(1).data));
    }));

  test(`${b}: a handler may unregister or close fds mid-batch`, () =>
    withScope((s) => {
      const sel = s.selector<number>(b);
      const batch = sel.batch();
      const pairs = [pair(s), pair(s), pair(s), pair(s)];
      pairs.forEach(([x, y], i) => {
        sel.register(x, IN, i);
        batch.setRecv(x, 64);
        y.send(`m${i}`);
      });
      let n = 0;
      for (let tries = 0; tries < 20 && n < 4; tries++) n = batch.run(50);
      assert.is(n, 4);
      const texts: string[] = [];
      for (let i = 0; i < n; i++) {
        const idx = batch.key(i).data;
        texts.push(batch.data(i).toString());
        // Close and unregister every other fd, including ones later in this pass.
        for (const j of [0, 1, 2, 3]) {
          const [x] = pairs[j]!;
          if (j % 2 === 1 && !x.closed) {
            sel.unregister(x);
            x.close();
          }
        }
        assert.is(batch.key(i).data, idx, 'entries keep their key');
      }
      assert.equal(texts.sort(), ['m0', 'm1', 'm2', 'm3'], 'data already received stays readable');
      pairs[0]![1].send('again');
      pairs[2]![1].send('two');
      const m = batch.run(200);
      const keys = new Set<number>();
      for (let i = 0; i < m; i++) keys.add(batch.key(i).data);
      assert.ok(keys.has(0) && keys.has(2), 'the fds still registered are reported');
      assert.not.ok(keys.has(1), 'an unregistered fd is not reported');
      assert.not.ok(keys.has(3));
    }));

  test(`${b}: ONESHOT: reported and received once, then silent until modify()`, () =>
    withScope((s) => {
      const sel = s.selector(b);
      const batch = sel.batch();
      const [a, c] = pair(s);
      sel.register(a, IN | ONESHOT);
      batch.setRecv(a, 2);
      c.send('abcd');
      const i = runUntil(batch, a.fileno());
      assert.is(batch.data(i).toString(), 'ab');
      assert.is(batch.run(30), 0, 'disarmed: the rest waits');
      sel.modify(a, IN | ONESHOT);
      assert.is(batch.data(runUntil(batch, a.fileno())).toString(), 'cd');
      assert.is(batch.run(0), 0);
    }));

  test(`${b}: batch results agree with select() on the same fds, mixed in one loop`, () =>
    withScope((s) => {
      const sel = s.selector(b);
      const batch = sel.batch();
      const [a, c] = pair(s);
      const [d, e] = pair(s);
      sel.register(a, IN);
      sel.register(d, OUT);
      c.send('q');
      const viaSelect = readyMap(sel.select(1000));
      const n = batch.run(0);
      const viaBatch = new Map<number, number>();
      for (let i = 0; i < n; i++) viaBatch.set(batch.fd(i), batch.events(i));
      assert.equal(viaBatch, viaSelect);
      void e;
    }));

  test(`${b}: grows past its initial capacities with queued sends intact`, () =>
    withScope((s) => {
      const sel = s.selector<number>(b);
      const batch = sel.batch({ sendCapacity: 1, sendBytes: 1, recvBytes: 64 * 1024 });
      const pairs = Array.from({ length: 40 }, () => pair(s));
      const tickets: number[] = [];
      pairs.forEach(([x], i) => {
        sel.register(x, IN, i);
        batch.setRecv(x, 64);
        tickets.push(batch.send(x, `to-${i}`));
      });
      // ... and to an unregistered socket too.
      const t = batch.send(pairs[0]![1], 'unwatched');
      const n0 = batch.run(0);
      assert.is(batch.flushed, 41);
      // The one unwatched send landed on a watched fd and was read in the same pass.
      assert.is(n0, 1);
      assert.is(batch.data(0).toString(), 'unwatched');
      for (let i = 0; i < 40; i++) assert.is(batch.sent(tickets[i]!), `to-${i}`.length);
      assert.is(batch.sent(t), 9);
      for (let i = 0; i < 40; i++) assert.is(pairs[i]![1].recv(64)!.toString(), `to-${i}`);
      for (const [, y] of pairs) y.send('back');
      let got = 0;
      for (let tries = 0; tries < 20 && got < 40; tries++) {
        const n = batch.run(50);
        for (let i = 0; i < n; i++) if (batch.data(i).toString() === 'back') got++;
      }
      assert.is(got, 40, 'more ready fds than the initial record capacity (16)');
    }));

  test(`${b}: sendRange() sends a received slice without copying (an echo)`, () =>
    withScope((s) => {
      const sel = s.selector(b);
      const batch = sel.batch();
      const [a, c] = pair(s);
      sel.register(a, IN);
      batch.setRecv(a, 1024);
      c.send('echo me');
      const i = runUntil(batch, a.fileno());
      const t = batch.sendRange(a, batch.offset(i), batch.bytes(i));
      assert.is(batch.run(0), 0);
      assert.is(batch.sent(t), 7);
      assert.is(c.recv(100)!.toString(), 'echo me');
      const end = batch.buffer.length;
      throwsCode(() => batch.sendRange(a, end, 1), 'ERR_OUT_OF_RANGE', RangeError);
      throwsCode(() => batch.sendRange(a, -1, 1), 'ERR_OUT_OF_RANGE', RangeError);
      throwsCode(() => batch.sendRange(a, 0, end + 1), 'ERR_OUT_OF_RANGE', RangeError);
      throwsCode(() => batch.sendRange(a, 0.5, 1), 'ERR_OUT_OF_RANGE', RangeError);
      assert.is(batch.queued, 0, 'a refused sendRange queues nothing');
    }));

  test(`${b}: argument, state and index errors`, () =>
    withScope((s) => {
      const sel = s.selector(b);
      const [a] = pair(s);
      throwsCode(() => sel.batch(null as never), 'ERR_INVALID_ARG_TYPE', TypeError);
      throwsCode(() => sel.batch({ recvBytes: 0 }), 'ERR_INVALID_ARG_VALUE', RangeError);
      throwsCode(() => sel.batch({ recvBytes: 'x' as never }), 'ERR_INVALID_ARG_TYPE', TypeError);
      const batch = sel.batch({ recvBytes: 1024 });
      assert.is(sel.batch(), batch, 'one batch per selector');
      throwsCode(() => sel.batch({ recvBytes: 1 }), 'ERR_INVALID_STATE');
      throwsCode(() => batch.setRecv(a, 10), 'ERR_NOT_REGISTERED');
      sel.register(a, IN);
      throwsCode(() => batch.setRecv(a, -1), 'ERR_INVALID_ARG_VALUE', RangeError);
      throwsCode(() => batch.setRecv(a, 1.5), 'ERR_INVALID_ARG_VALUE', RangeError);
      throwsCode(() => batch.send(a, 5 as never), 'ERR_INVALID_ARG_TYPE', TypeError);
      throwsCode(() => batch.run('x' as never), 'ERR_INVALID_ARG_TYPE', TypeError);
      throwsCode(() => batch.run(NaN), 'ERR_INVALID_ARG_VALUE', RangeError);
      assert.is(batch.run(0), 0);
      throwsCode(() => batch.key(0), 'ERR_OUT_OF_RANGE', RangeError);
      throwsCode(() => batch.bytes(0), 'ERR_OUT_OF_RANGE', RangeError);
      throwsCode(() => batch.sent(0), 'ERR_OUT_OF_RANGE', RangeError);
      batch.send(a, 'x');
      sel.close();
      throwsCode(() => batch.run(0), 'ERR_SELECTOR_CLOSED');
      throwsCode(() => batch.send(a, 'x'), 'ERR_SELECTOR_CLOSED');
      throwsCode(() => batch.setRecv(a, 1), 'ERR_SELECTOR_CLOSED');
      throwsCode(() => sel.batch(), 'ERR_SELECTOR_CLOSED');
    }));

  test(`${b}: a warm pass loop allocates nothing per pass or per fd`, () =>
    withScope((s) => {
      assert.ok(gc, 'run with --expose-gc (pnpm test does)');
      const sel = s.selector<number>(b);
      const batch = sel.batch();
      const pairs = [pair(s), pair(s), pair(s)];
      pairs.forEach(([x], i) => {
        sel.register(x, IN, i);
        batch.setRecv(x, 16);
      });
      const one = Buffer.from('p');
      let sum = 0;
      // Each pass: one byte written per fd through the batch's own sends
      // (queued from the other ends, which are registered for OUT), read back.
      pairs.forEach(([, y], i) => sel.register(y, OUT, 100 + i));
      const pass = () => {
        for (const [, y] of pairs) batch.send(y, one);
        const n = batch.run(0);
        for (let i = 0; i < n; i++) sum += batch.key(i).data + batch.events(i) + batch.bytes(i);
      };
      for (let i = 0; i < 2000; i++) pass();
      const deltas: number[] = [];
      for (let r = 0; r < 15; r++) {
        gc();
        const before = process.memoryUsage().heapUsed;
        for (let i = 0; i < 2000; i++) pass();
        deltas.push(process.memoryUsage().heapUsed - before);
      }
      deltas.sort((x, y) => x - y);
      assert.ok(sum > 0);
      assert.ok(deltas[7]! < 16_384, `2000 passes grew the heap by ${deltas[7]} B (median)`);
    }));
}

for (const b of testBackends()) {
  test(`${b}: a waker's wake() ends run() and is never an entry`, () =>
    withScope((s) => {
      const sel = s.selector(b);
      const batch = sel.batch();
      const [a, c] = pair(s);
      sel.register(a, IN);
      batch.setRecv(a, 16);
      // Every key and the waker's pair at once: the records must hold both.
      for (let i = 0; i < 20; i++) {
        const [x] = pair(s);
        sel.register(x, OUT);
      }
      c.send('x');
      sel.waker().wake();
      const n = batch.run(null);
      assert.is(n, 21, 'the 21 fds, and no entry for the waker');
      for (let i = 0; i < n; i++) assert.ok(batch.key(i) !== undefined && batch.fd(i) >= 0);
      // Woken and nothing ready: run() returns 0 before its timeout.
      sel.unregister(a);
      for (const [fd] of sel.getMap()) sel.unregister(fd);
      sel.waker().wake();
      assert.is(batch.run(null), 0, 'woken with nothing ready: returns (a missed wake would hang here)');
    }));
}

test('epoll EDGE: one recv per edge; the rest is the handler\'s to drain', () =>
  withScope((s) => {
    if (!testBackends().includes('epoll')) return;
    const sel = s.selector('epoll');
    const batch = sel.batch();
    const [a, c] = pair(s);
    sel.register(a, IN | EDGE);
    batch.setRecv(a, 4);
    c.send('0123456789');
    const i = runUntil(batch, a.fileno());
    assert.is(batch.data(i).toString(), '0123', 'a full slice: more may be waiting');
    assert.is(batch.run(30), 0, 'no new edge, no report, although bytes are waiting');
    assert.is(a.recv(100)!.toString(), '456789');
    c.send('x');
    assert.is(batch.data(runUntil(batch, a.fileno())).toString(), 'x', 'a new edge');
  }));

test('a batch\'s selector dropped unclosed is still released by the GC', async () => {
  assert.ok(gc);
  const before = openFds();
  (() => {
    const sel = createSelector('epoll');
    const batch = sel.batch();
    const [a, c] = socketPair();
    sel.register(a, IN);
    batch.setRecv(a, 8);
    c.send('x');
    batch.run(100);
    a.close();
    c.close();
  })();
  for (let i = 0; i < 40 && newFds(before).size > 0; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal([...newFds(before).values()], [], 'the selector\'s kernel object was released');
});

test('a native method kept after its selector object is dropped stays safe to call', async () => {
  assert.ok(gc);
  const native = createRequire(import.meta.url)('../packages/native/index.cjs') as {
    NativeSelector: new (b: string) => { select(this: void, ms: number): number; setBuffer(a: Int32Array): void; close(): void };
  };
  let obj: { select(this: void, ms: number): number; setBuffer(a: Int32Array): void } | null = new native.NativeSelector('poll');
  obj.setBuffer(new Int32Array(8));
  const select = obj.select;
  obj = null;
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.is(select(0), 0, 'the state lives as long as any of its functions');
});

void (null as unknown as BackendName);
test.run();
