// Bad input matrix: every public function gets wrong types, NaN,
// Infinity, negative and huge numbers, closed fds, fds that are not sockets,
// detached and zero-length buffers, NULs in unix paths, and hosts that do not
// resolve or are malformed. Each call must throw (or reject with) the
// contract's error code, the process must survive, and the selector or
// socket must still work afterwards.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, openSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Events,
  FD_SETSIZE,
  Socket,
  SystemError,
  capabilities,
  createSelector,
  formatEvents,
  pipe,
  raiseFdLimit,
  socketPair,
  type Selector,
} from '@iomux/core';
import { expectEvents, mulberry32, testBackends, withScope, type Scope } from '../helpers.ts';

const TYPE = 'ERR_INVALID_ARG_TYPE';
const VALUE = 'ERR_INVALID_ARG_VALUE';
const BAD_PORT = 'ERR_SOCKET_BAD_PORT';
// Resolver failures: which one depends on the resolver (no network here).
const RESOLVE = ['EAI_NONAME', 'EAI_NODATA', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_ADDRFAMILY', 'EAI_SERVICE'];

function show(v: unknown): string {
  if (typeof v === 'symbol' || typeof v === 'bigint') return String(v) + (typeof v === 'bigint' ? 'n' : '');
  if (typeof v === 'function') return 'function';
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Calls fn, which must throw an Error whose code is one of `codes`. */
function throws(what: string, fn: () => unknown, codes: string | string[]): Error {
  const want = Array.isArray(codes) ? codes : [codes];
  let result: unknown;
  try {
    result = fn();
  } catch (err) {
    assert.instance(err, Error, `${what}: threw a non-Error`);
    const code = (err as { code?: unknown }).code;
    assert.ok(
      want.includes(code as string),
      `${what}: expected code ${want.join(' or ')}, got ${show(code)} (${(err as Error).name}: ${(err as Error).message})`,
    );
    if (typeof code === 'string' && /^E[A-Z]/.test(code) && !code.startsWith('ERR_')) {
      assert.instance(err, SystemError, `${what}: ${code} is a SystemError`);
    }
    return err as Error;
  }
  assert.unreachable(`${what}: expected ${want.join(' or ')}, returned ${show(result)}`);
  throw new Error('unreachable');
}

async function rejects(what: string, fn: () => Promise<unknown>, codes: string | string[]): Promise<void> {
  const want = Array.isArray(codes) ? codes : [codes];
  let p: Promise<unknown>;
  try {
    p = fn();
  } catch (err) {
    assert.unreachable(`${what}: threw synchronously (${(err as Error).message}); async methods must reject`);
    return;
  }
  assert.instance(p, Promise, `${what}: returns a promise`);
  try {
    await p;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    assert.ok(want.includes(code as string), `${what}: expected rejection ${want.join(' or ')}, got ${show(code)} (${(err as Error).message})`);
    return;
  }
  assert.unreachable(`${what}: expected a rejection with ${want.join(' or ')}`);
}

/** The selector still works: a fresh pair becomes readable after a send. */
function stillWorks(s: Scope, sel: Selector): void {
  const [a, b] = s.pair();
  sel.register(a, Events.IN);
  b.send('ok');
  expectEvents(sel, a.fileno(), Events.IN);
  sel.unregister(a);
}

/** A closed fd number (closed, and not reused while we hold nothing new). */
function closedFd(): number {
  const [r, w] = pipe();
  closeSync(r);
  closeSync(w);
  return r;
}

// Values that are not numbers at all.
const NOT_NUMBERS: unknown[] = [undefined, null, true, 'x', '3', '', {}, [], [3], Symbol('s'), 1n, () => 3, new Number(3)];
// Numbers that are not integers.
const NOT_INTEGERS = [NaN, Infinity, -Infinity, 1.5, -0.5, Number.EPSILON];

for (const b of testBackends()) {
  const cap = capabilities(b);
  test(`${b}: register() fileobj matrix`, () =>
    withScope((s) => {
      const sel = s.selector(b);
      // Not numbers, and (the objects among them) no fileno() either.
      for (const v of NOT_NUMBERS) throws(`register(${show(v)})`, () => sel.register(v as number, Events.IN), TYPE);
      for (const v of NOT_INTEGERS) throws(`register(${v})`, () => sel.register(v, Events.IN), TYPE);
      for (const v of [-1, -(2 ** 31), -(2 ** 53)]) throws(`register(${v})`, () => sel.register(v, Events.IN), VALUE);
      // Huge fds: out of int range, or merely not open.
      for (const v of [2 ** 31, 2 ** 32, 2 ** 53, Number.MAX_SAFE_INTEGER]) throws(`register(${v})`, () => sel.register(v, Events.IN), VALUE);
      throws('register(2**31-1)', () => sel.register(2 ** 31 - 1, Events.IN), cap.maxFd < 2 ** 31 - 1 ? 'ERR_FD_SETSIZE' : 'EBADF');
      throws('register(FD_SETSIZE)', () => sel.register(FD_SETSIZE, Events.IN), cap.maxFd < FD_SETSIZE ? 'ERR_FD_SETSIZE' : 'EBADF');
      // fileno() objects that misbehave.
      throws('fileno() -> "x"', () => sel.register({ fileno: () => 'x' as unknown as number }, Events.IN), TYPE);
      throws('fileno() -> NaN', () => sel.register({ fileno: () => NaN }, Events.IN), TYPE);
      throws('fileno() -> 1.5', () => sel.register({ fileno: () => 1.5 }, Events.IN), TYPE);
      throws('fileno() -> -1', () => sel.register({ fileno: () => -1 }, Events.IN), VALUE);
      throws('fileno not a function', () => sel.register({ fileno: 3 } as unknown as number, Events.IN), TYPE);
      const boom = new Error('boom');
      try {
        sel.register({ fileno: () => { throw boom; } }, Events.IN);
        assert.unreachable('fileno() that throws');
      } catch (err) {
        assert.is(err, boom, 'an error from fileno() propagates unchanged');
      }
      // Closed fds.
      const dead = closedFd();
      throws(`register(closed fd ${dead})`, () => sel.register(dead, Events.IN), 'EBADF');
      const [x, y] = socketPair();
      x.close();
      y.close();
      throws('register(closed Socket)', () => sel.register(x, Events.IN), VALUE);
      assert.is(sel.getMap().size, 0, 'no key left behind by any failed register()');
      stillWorks(s, sel);
    }));

  test(`${b}: register() of fds that are not sockets`, () =>
    withScope((s) => {
      const sel = s.selector(b);
      const dir = mkdtempSync(join(tmpdir(), 'iomux-bad-'));
      const file = openSync(join(dir, 'f'), 'w+');
      const dfd = openSync(dir, 'r');
      try {
        for (const [name, fd] of [['regular file', file], ['directory', dfd]] as const) {
          if (!cap.watchesRegularFiles) {
            // a kernel interest list (epoll) refuses files that cannot block
            throws(`epoll register(${name})`, () => sel.register(fd, Events.IN), 'EPERM');
            assert.not.ok(sel.getMap().has(fd), 'a refused register leaves no key');
          } else {
            // select, poll and io_uring accept any open fd; a regular file is always ready.
            sel.register(fd, Events.IN | Events.OUT);
            const got = expectEvents(sel, fd, Events.IN);
            assert.ok(got & Events.IN);
            sel.unregister(fd);
          }
        }
        // A pipe and an eventfd-like fd (the pipe) work everywhere.
        const [r, w] = pipe();
        s.add({ close: () => closeSync(r) });
        s.add({ close: () => closeSync(w) });
        sel.register(w, Events.OUT);
        expectEvents(sel, w, Events.OUT);
        sel.unregister(w);
        // stdin/stdout/stderr are 'ignore'/pipes under the runner: just must not crash.
      } finally {
        closeSync(file);
        closeSync(dfd);
        rmSync(dir, { recursive: true, force: true });
      }
      stillWorks(s, sel);
    }));

  test(`${b}: events matrix (register and modify)`, () =>
    withScope((s) => {
      const sel = s.selector(b);
      const [a] = s.pair();
      const [c] = s.pair();
      sel.register(c, Events.IN);
      for (const v of NOT_NUMBERS) {
        throws(`register(fd, ${show(v)})`, () => sel.register(a, v as number), TYPE);
        throws(`modify(fd, ${show(v)})`, () => sel.modify(c, v as number), TYPE);
      }
      const badValues = [NaN, Infinity, -Infinity, 1.5, -1, 2 ** 32, 2 ** 53, -(2 ** 31) - 1, 0x100, 0x8000];
      for (const v of badValues) {
        throws(`register(fd, ${v})`, () => sel.register(a, v), VALUE);
        throws(`modify(fd, ${v})`, () => sel.modify(c, v), VALUE);
      }
      // No interest bit is a valid mask: only ERR/HUP/NVAL are watched.
      for (const v of [0, Events.ERR, Events.HUP, Events.NVAL, Events.ONESHOT, Events.ERR | Events.HUP | Events.NVAL]) {
        assert.is(sel.register(a, v).events, v, `register(fd, ${formatEvents(v)})`);
        sel.unregister(a);
        assert.is(sel.modify(c, v).events, v, `modify(fd, ${formatEvents(v)})`);
      }
      sel.modify(c, Events.IN);
      if (!cap.edge) {
        throws('register(fd, IN|EDGE)', () => sel.register(a, Events.IN | Events.EDGE), 'ERR_UNSUPPORTED');
        throws('modify(fd, IN|EDGE)', () => sel.modify(c, Events.IN | Events.EDGE), 'ERR_UNSUPPORTED');
      } else {
        // EPOLLIN | EPOLLET is negative in JavaScript; it must be accepted.
        const k = sel.register(a, Events.IN | Events.EDGE);
        assert.ok(k.events >= 0, 'masks are reported non-negative');
        sel.unregister(a);
      }
      // select can watch RDHUP only together with IN (it cannot wait for a
      // shutdown alone without spinning); poll and epoll take it alone.
      for (const v of [Events.RDHUP, Events.RDHUP | Events.OUT, Events.RDHUP | Events.ONESHOT, Events.RDHUP | Events.PRI]) {
        if (cap.rdhupNeedsIn) {
          throws(`select register(fd, ${formatEvents(v)})`, () => sel.register(a, v), 'ERR_UNSUPPORTED');
          throws(`select modify(fd, ${formatEvents(v)})`, () => sel.modify(c, v), 'ERR_UNSUPPORTED');
        } else {
          sel.register(a, v);
          sel.unregister(a);
          sel.modify(c, v);
          sel.modify(c, Events.IN);
        }
      }
      sel.register(a, Events.RDHUP | Events.IN);
      sel.unregister(a);
      assert.not.ok(sel.getMap().has(a.fileno()), 'no key left behind');
      assert.is(sel.getKey(c).events, Events.IN, 'a failed modify() left the key as it was');
      // The key still reports as before.
      stillWorks(s, sel);
    }));

  test(`${b}: unregister/modify/getKey of unknown, closed and invalid fileobjs`, () =>
    withScope((s) => {
      const sel = s.selector(b);
      const [a, c] = s.pair();
      for (const fn of ['unregister', 'getKey'] as const) {
        for (const v of NOT_NUMBERS) {
          if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Number)) continue;
          throws(`${fn}(${show(v)})`, () => sel[fn](v as number), TYPE);
        }
        for (const v of NOT_INTEGERS) throws(`${fn}(${v})`, () => sel[fn](v), TYPE);
        for (const v of [-1, 2 ** 31, 2 ** 53]) throws(`${fn}(${v})`, () => sel[fn](v), VALUE);
        throws(`${fn}(unregistered)`, () => sel[fn](a), 'ERR_NOT_REGISTERED');
        throws(`${fn}(closed fd)`, () => sel[fn](closedFd()), 'ERR_NOT_REGISTERED');
        throws(`${fn}(2**31-1)`, () => sel[fn](2 ** 31 - 1), 'ERR_NOT_REGISTERED');
      }
      throws('modify(unregistered)', () => sel.modify(a, Events.IN), 'ERR_NOT_REGISTERED');
      // A registered fd closed behind the selector's back: unregister still works.
      const [p, q] = socketPair();
      sel.register(p, Events.IN);
      sel.register(q, Events.IN | Events.OUT);
      const qfd = q.fileno();
      p.close();
      closeSync(qfd); // closed as a raw fd: the Socket object does not know
      sel.select(0); // NVAL (select, poll) or nothing (epoll); must not throw
      sel.unregister(p);
      sel.unregister(qfd);
      try {
        q.close(); // its fd is already gone: EBADF at most, never a crash
      } catch (err) {
        assert.is((err as { code?: string }).code, 'EBADF');
      }
      assert.is(sel.getMap().size, 0);
      void c;
      stillWorks(s, sel);
    }));

  test(`${b}: select() and wait() timeout matrix`, async () => {
    await withScope(async (s) => {
      const sel = s.selector(b);
      const [a] = s.pair();
      sel.register(a, Events.OUT); // always ready: no call below blocks
      for (const v of [true, 'x', '5', {}, [], Symbol('t'), 1n, new Number(5)]) {
        throws(`select(${show(v)})`, () => sel.select(v as number), TYPE);
        await rejects(`wait({timeoutMs: ${show(v)}})`, () => sel.wait({ timeoutMs: v as number }), TYPE);
      }
      throws('select(NaN)', () => sel.select(NaN), VALUE);
      await rejects('wait({timeoutMs: NaN})', () => sel.wait({ timeoutMs: NaN }), VALUE);
      for (const v of [Infinity, -Infinity, -1, -(2 ** 53), 2 ** 31, 2 ** 53, 1e300, Number.MAX_VALUE, 1.5, 1e-300, -0]) {
        const r = sel.select(v);
        assert.is(r.length, 1, `select(${v}) with a ready fd returns it`);
        const w = await sel.wait({ timeoutMs: v });
        assert.is(w.length, 1, `wait({timeoutMs: ${v}}) with a ready fd resolves with it`);
      }
      for (const v of ['x', 5, true, Symbol('o')]) await rejects(`wait(${show(v)})`, () => sel.wait(v as never), TYPE);
      await rejects('wait(null)', () => sel.wait(null as never), TYPE);
      for (const v of [{}, 'x', 5, { aborted: true }]) {
        await rejects(`wait({signal: ${show(v)}})`, () => sel.wait({ signal: v as AbortSignal }), TYPE);
      }
      await rejects('wait(aborted signal)', () => sel.wait({ signal: AbortSignal.abort() }), 'ABORT_ERR');
      // Timeouts that must not block: nothing ready.
      sel.unregister(a);
      for (const v of [0, -1, -Infinity, 1e-300, 0.2]) assert.equal(sel.select(v), [], `select(${v}) with nothing ready`);
      stillWorks(s, sel);
    });
  });

  test(`${b}: every method after close()`, async () => {
    await withScope(async (s) => {
      const sel = s.selector(b);
      const [a] = s.pair();
      sel.register(a, Events.IN);
      sel.close();
      sel.close(); // idempotent
      const C = 'ERR_SELECTOR_CLOSED';
      throws('register', () => sel.register(a, Events.IN), C);
      throws('unregister', () => sel.unregister(a), C);
      throws('modify', () => sel.modify(a, Events.OUT), C);
      throws('select', () => sel.select(0), C);
      throws('getKey', () => sel.getKey(a), C);
      throws('getMap', () => sel.getMap(), C);
      await rejects('wait', () => sel.wait({ timeoutMs: 0 }), C);
      assert.ok(sel.closed);
      assert.is(sel.backend, b);
      // Bad arguments on a closed selector: an error, never a crash.
      for (const v of [NaN, -1, 'x', null]) {
        try {
          sel.register(v as number, Events.IN);
        } catch (err) {
          assert.ok(['ERR_SELECTOR_CLOSED', TYPE, VALUE].includes((err as { code: string }).code));
        }
      }
      const fresh = s.selector(b);
      stillWorks(s, fresh);
    });
  });

  test(`${b}: select backend refuses fd >= FD_SETSIZE, others take it`, () =>
    withScope((s) => {
      const limit = raiseFdLimit(FD_SETSIZE + 64);
      if (limit <= FD_SETSIZE + 8) return; // cannot open such an fd here
      const sel = s.selector(b);
      // Open fds until one is >= FD_SETSIZE.
      const opened: number[] = [];
      try {
        let big = -1;
        while (big < FD_SETSIZE) {
          const [r, w] = pipe();
          opened.push(r, w);
          big = w;
        }
        if (cap.maxFd < big) {
          throws(`select register(${big})`, () => sel.register(big, Events.OUT), 'ERR_FD_SETSIZE');
          assert.not.ok(sel.getMap().has(big));
        } else {
          sel.register(big, Events.OUT);
          expectEvents(sel, big, Events.OUT);
          sel.unregister(big);
        }
      } finally {
        for (const fd of opened) closeSync(fd);
      }
      stillWorks(s, sel);
    }));
}

test('createSelector() and constructors with bad names', () => {
  for (const v of [5, null, true, {}, [], Symbol('b'), 1n]) throws(`createSelector(${show(v)})`, () => createSelector(v as never), TYPE);
  for (const v of ['', 'kqueue', 'EPOLL', 'select\0', 'constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    throws(`createSelector(${show(v)})`, () => createSelector(v as never), VALUE);
  }
  const sel = createSelector(undefined);
  assert.is(sel.backend, 'epoll');
  sel.close();
});

test('formatEvents() never throws on odd numbers', () => {
  for (const v of [0, -1, NaN, Infinity, -Infinity, 1.5, 2 ** 32, 2 ** 53, -(2 ** 31), 0xffffffff]) {
    assert.type(formatEvents(v), 'string', `formatEvents(${v})`);
  }
  assert.is(formatEvents(0x11), 'IN|HUP');
  // Fixed in 7c1ff7d: a Symbol or BigInt threw the engine's uncoded TypeError.
  for (const v of ['x', null, undefined, {}, Symbol('m'), 1n, true]) throws(`formatEvents(${show(v)})`, () => formatEvents(v as number), TYPE);
});

test('Socket constructor matrix', () => {
  for (const v of [5, null, true, {}, [], Symbol('f'), 1n]) {
    throws(`new Socket(${show(v)})`, () => new Socket(v as never), TYPE);
    throws(`new Socket('inet', ${show(v)})`, () => new Socket('inet', v as never), TYPE);
  }
  for (const v of ['', 'INET', 'ipx', 'constructor', '__proto__', 'inet\0']) throws(`new Socket(${show(v)})`, () => new Socket(v as never), VALUE);
  for (const v of ['', 'raw', 'seqpacket', 'constructor', 'toString']) throws(`new Socket('inet', ${show(v)})`, () => new Socket('inet', v as never), VALUE);
});

test('Socket address matrix: bind and connect', () =>
  withScope((s) => {
    const inet = s.add(new Socket('inet'));
    const unix = s.add(new Socket('unix'));
    for (const method of ['bind', 'connect'] as const) {
      for (const v of [undefined, null, 'x', 5, true, Symbol('a')]) throws(`${method}(${show(v)})`, () => inet[method](v as never), TYPE);
      throws(`${method}({})`, () => inet[method]({} as never), TYPE);
      for (const host of [5, null, undefined, {}, ['127.0.0.1']]) {
        throws(`${method}({host: ${show(host)}})`, () => inet[method]({ host: host as string, port: 1 }), TYPE);
      }
      for (const port of ['80', null, undefined, {}, 1n]) {
        throws(`${method}({port: ${show(port)}})`, () => inet[method]({ host: '127.0.0.1', port: port as number }), TYPE);
      }
      for (const port of [NaN, Infinity, -Infinity, -1, 65536, 2 ** 31, 2 ** 53, 1.5]) {
        throws(`${method}({port: ${port}})`, () => inet[method]({ host: '127.0.0.1', port }), BAD_PORT);
      }
      throws(`${method}(host with NUL)`, () => inet[method]({ host: '127.0.0.1\0evil', port: 1 }), VALUE);
      // Hosts that do not resolve or are malformed (all fail without network).
      for (const host of ['nonexistent.invalid', 'a..b', '999.999.999.999', '1.2.3.4.5', 'x'.repeat(64) + '.invalid', 'y'.repeat(300), '::1::2', '[127.0.0.1]', 'bad host', '-']) {
        throws(`${method}({host: ${show(host.length > 30 ? host.slice(0, 30) + '…' : host)}})`, () => inet[method]({ host, port: 1 }), RESOLVE);
      }
      // unix paths
      for (const path of [5, null, undefined, {}]) throws(`unix ${method}({path: ${show(path)}})`, () => unix[method]({ path: path as string }), TYPE);
      throws(`unix ${method}(host object)`, () => unix[method]({ host: 'x', port: 1 }), TYPE);
      for (const path of ['/tmp/a\0b', 'a\0', '/tmp/' + 'p'.repeat(200), 'é'.repeat(54)]) {
        throws(`unix ${method}({path: ${show(path.slice(0, 20))}})`, () => unix[method]({ path }), VALUE);
      }
    }
    throws('unix connect(missing path)', () => unix.connect({ path: '/nonexistent/iomux/sock' }), 'ENOENT');
    // The sockets still work: bind for real and connect.
    inet.bind({ host: '127.0.0.1', port: 0 });
    inet.listen();
    const port = (inet.localAddress() as { port: number }).port;
    const c = s.add(new Socket('inet'));
    assert.ok(c.connect({ host: '127.0.0.1', port }));
    const acc = inet.accept();
    assert.ok(acc);
    s.add(acc[0]);
  }));

test('Socket data matrix: recv, recvInto, recvFrom, send, sendTo', () =>
  withScope((s) => {
    const [a, b] = s.pair();
    a.setBlocking(false);
    b.setBlocking(false);
    for (const method of ['recv', 'recvFrom'] as const) {
      for (const v of [undefined, null, 'x', '5', {}, true, 1n]) throws(`${method}(${show(v)})`, () => a[method](v as number), TYPE);
      for (const v of [0, -1, NaN, Infinity, -Infinity, 1.5, 2 ** 30 + 1, 2 ** 31, 2 ** 32 + 1, 2 ** 53]) {
        throws(`${method}(${v})`, () => a[method](v), VALUE);
      }
    }
    for (const v of [undefined, null, 'x', 5, {}, [1, 2], new Int32Array(4), new DataView(new ArrayBuffer(4)), new ArrayBuffer(4)]) {
      throws(`recvInto(${show(v)})`, () => a.recvInto(v as Uint8Array), TYPE);
    }
    throws('recvInto(zero-length)', () => a.recvInto(new Uint8Array(0)), VALUE);
    const detached = new Uint8Array(16);
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    assert.is(detached.byteLength, 0, 'the buffer is detached');
    throws('recvInto(detached)', () => a.recvInto(detached), VALUE);
    for (const v of [undefined, null, 5, {}, [1, 2], true, new Int32Array(4), new ArrayBuffer(4), 1n]) {
      throws(`send(${show(v)})`, () => a.send(v as Uint8Array), TYPE);
      throws(`sendAll(${show(v)})`, () => a.sendAll(v as Uint8Array), TYPE);
    }
    // Zero-length and detached sends: 0 bytes, no crash.
    assert.is(a.send(new Uint8Array(0)), 0);
    assert.is(a.send(''), 0);
    assert.is(a.send(detached), 0);
    // A view with an offset sends exactly its own bytes.
    const big = Buffer.from('0123456789');
    assert.is(a.send(big.subarray(3, 7)), 4);
    assert.equal(b.recv(100)?.toString(), '3456');
    const into = Buffer.alloc(10, 0x2e);
    assert.is(a.send('xy'), 2);
    assert.is(b.recvInto(into.subarray(4, 6)), 2);
    assert.is(into.toString(), '....xy....', 'recvInto writes only inside its view');
    // Strings with NULs and lone surrogates are just bytes.
    assert.is(a.send('a\0b'), 3);
    assert.equal([...(b.recv(10) ?? [])], [0x61, 0, 0x62]);
    assert.ok((a.send('\ud800') ?? 0) > 0);
    b.recv(10);
    assert.is(b.recv(10), null, 'nothing left: would block');
    // sendTo on a connected stream: address errors first.
    throws('sendTo(bad address)', () => a.sendTo('x', null as never), TYPE);
    throws('sendTo(bad data)', () => a.sendTo(5 as never, { path: '/x' }), TYPE);
  }));

test('recv()/recvFrom() size boundaries: every byte, in order, never more than asked', () =>
  withScope((s) => {
    const [a, b] = s.pair();
    a.setBlocking(false);
    b.setBlocking(false);
    b.setBufferSizes({ send: 1 << 20 });
    a.setBufferSizes({ receive: 1 << 20 });
    let seq = 0;
    const make = (n: number) => {
      const buf = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) buf[i] = (seq + i) * 13 & 0xff;
      seq += n;
      return buf;
    };
    let checked = 0;
    const verify = (got: Buffer) => {
      for (let i = 0; i < got.length; i++) if (got[i] !== ((checked + i) * 13 & 0xff)) assert.unreachable(`byte ${checked + i} corrupted`);
      checked += got.length;
    };
    const sizes = [1, 2, 4095, 65535, 65536, 65537, 100_000, 1 << 20, 2 ** 30];
    for (const waiting of [0, 1, 65535, 65536, 65537, 200_000]) {
      for (const max of sizes) {
        for (const method of ['recv', 'recvFrom'] as const) {
          let sent = 0;
          while (sent < waiting) sent += b.send(make(Math.min(65536, waiting - sent))) ?? assert.unreachable('send blocked') ?? 0;
          let left = waiting;
          for (;;) {
            const r = method === 'recv' ? a.recv(max) : a.recvFrom(max)?.[0] ?? null;
            if (r === null) break;
            assert.ok(r.length > 0 && r.length <= max, `${method}(${max}) returned ${r.length} bytes`);
            verify(r);
            left -= r.length;
          }
          assert.is(left, 0, `${method}(${max}) with ${waiting} waiting: every byte read`);
        }
      }
    }
    assert.is(checked, seq);
    // EOF is an empty Buffer at every size.
    b.shutdown('write');
    for (const max of sizes) assert.is(a.recv(max)?.length, 0, `recv(${max}) at EOF`);
  }));

test('Socket option matrix', () =>
  withScope((s) => {
    const sock = s.add(new Socket('inet'));
    for (const v of [-1, NaN, Infinity, 1.5, 2 ** 31, 2 ** 53]) throws(`setLinger(${v})`, () => sock.setLinger(v), VALUE);
    for (const v of ['x', {}, true, undefined]) throws(`setLinger(${show(v)})`, () => sock.setLinger(v as number), [TYPE, VALUE]);
    sock.setLinger(0);
    sock.setLinger(null);
    for (const v of [-1, 0, NaN, Infinity, 1.5, 2 ** 31, 2 ** 53]) {
      throws(`setBufferSizes({send: ${v}})`, () => sock.setBufferSizes({ send: v }), VALUE);
      throws(`setBufferSizes({receive: ${v}})`, () => sock.setBufferSizes({ receive: v }), VALUE);
    }
    for (const v of ['x', {}, true, null]) throws(`setBufferSizes({send: ${show(v)}})`, () => sock.setBufferSizes({ send: v as number }), [TYPE, VALUE]);
    sock.setBufferSizes({});
    sock.setBufferSizes({ send: 4096, receive: 4096 });
    for (const v of ['x', null, undefined, 1.5, NaN, Infinity, {}]) {
      if (v === undefined) continue; // listen() defaults the backlog
      throws(`listen(${show(v)})`, () => sock.listen(v as number), TYPE);
    }
    for (const v of ['READ', 'x', '', 0, 1, null, undefined, {}, 'constructor', '__proto__']) {
      throws(`shutdown(${show(v)})`, () => sock.shutdown(v as never), [TYPE, VALUE]);
    }
    throws('shutdown(unconnected)', () => sock.shutdown('both'), 'ENOTCONN');
    throws('accept(not listening)', () => sock.accept(), 'EINVAL');
    throws('remoteAddress(unconnected)', () => sock.remoteAddress(), 'ENOTCONN');
    // Coercing flags never throw.
    for (const v of [0, 1, 'x', null, undefined, {}, NaN]) {
      sock.setReuseAddress(v as boolean);
      sock.setNoDelay(v as boolean);
    }
    sock.setBlocking(false);
    assert.is(sock.blocking, false);
    sock.listen(-5); // clamped to 0, as listen(2) allows
    sock.listen(2 ** 40);
    assert.is(sock.accept(), null, 'bad backlogs left a working listener');
  }));

test('Socket whose fd is not a socket, or was closed behind its back', () =>
  withScope((s) => {
    // A pipe fd wrapped as a Socket: every socket call is ENOTSOCK, not a crash.
    const [r, w] = pipe();
    const fake = Socket.adopt(r, 'inet', 'stream');
    s.add(fake);
    s.add({ close: () => closeSync(w) });
    throws('setNoDelay on a pipe', () => fake.setNoDelay(true), 'ENOTSOCK');
    throws('bind on a pipe', () => fake.bind({ host: '127.0.0.1', port: 0 }), 'ENOTSOCK');
    throws('listen on a pipe', () => fake.listen(), 'ENOTSOCK');
    throws('accept on a pipe', () => fake.accept(), 'ENOTSOCK');
    throws('connect on a pipe', () => fake.connect({ host: '127.0.0.1', port: 1 }), 'ENOTSOCK');
    throws('recv on a pipe', () => fake.recv(10), 'ENOTSOCK');
    throws('send on a pipe', () => fake.send('x'), 'ENOTSOCK');
    throws('shutdown on a pipe', () => fake.shutdown('both'), 'ENOTSOCK');
    throws('localAddress on a pipe', () => fake.localAddress(), 'ENOTSOCK');
    throws('socketError on a pipe', () => fake.socketError(), 'ENOTSOCK');
    fake.setBlocking(false); // fcntl works on any fd

    // A socket whose fd was closed with close(2) directly.
    const [x, y] = socketPair();
    s.add(y);
    closeSync(x.fileno());
    for (const [name, fn] of [
      ['recv', () => x.recv(1)],
      ['send', () => x.send('x')],
      ['setBlocking', () => x.setBlocking(false)],
      ['setNoDelay', () => x.setNoDelay(true)],
      ['shutdown', () => x.shutdown('both')],
      ['localAddress', () => x.localAddress()],
      ['socketError', () => x.socketError()],
    ] as const) {
      throws(`${name} on an fd closed behind its back`, fn, 'EBADF');
    }
    try {
      x.close();
    } catch (err) {
      assert.is((err as { code?: string }).code, 'EBADF');
    }
    assert.is(x.fileno(), -1);
  }));

test('every Socket method after close()', () => {
  const [a, b] = socketPair();
  b.close();
  a.close();
  a.close(); // idempotent
  assert.is(a.fileno(), -1);
  assert.ok(a.closed);
  const C = 'ERR_SOCKET_CLOSED';
  const calls: [string, () => unknown][] = [
    ['setBlocking', () => a.setBlocking(false)],
    ['setReuseAddress', () => a.setReuseAddress(true)],
    ['setReusePort', () => a.setReusePort(true)],
    ['setNoDelay', () => a.setNoDelay(true)],
    ['setLinger', () => a.setLinger(0)],
    ['setBufferSizes', () => a.setBufferSizes({ send: 1024 })],
    ['bind', () => a.bind({ path: '' })],
    ['listen', () => a.listen()],
    ['accept', () => a.accept()],
    ['connect', () => a.connect({ path: '/x' })],
    ['recv', () => a.recv(1)],
    ['recvInto', () => a.recvInto(new Uint8Array(1))],
    ['recvFrom', () => a.recvFrom(1)],
    ['send', () => a.send('x')],
    ['sendTo', () => a.sendTo('x', { path: '/x' })],
    ['sendAll', () => a.sendAll('x')],
    ['shutdown', () => a.shutdown('both')],
    ['localAddress', () => a.localAddress()],
    ['remoteAddress', () => a.remoteAddress()],
    ['socketError', () => a.socketError()],
  ];
  for (const [name, fn] of calls) throws(`${name} after close`, fn, C);
  // Bad arguments to a closed socket: still an error with a code, never a crash.
  for (const fn of [() => a.recv(NaN), () => a.send(5 as never), () => a.bind(null as never), () => a.shutdown('x' as never)]) {
    try {
      fn();
      assert.unreachable('must throw');
    } catch (err) {
      assert.ok([C, TYPE, VALUE].includes((err as { code: string }).code), (err as Error).message);
    }
  }
});

test('sendAll() on a full non-blocking socket: EAGAIN with bytesSent', () =>
  withScope((s) => {
    const [a] = s.pair();
    a.setBlocking(false);
    const err = throws('sendAll(8 MiB)', () => a.sendAll(Buffer.alloc(8 << 20)), 'EAGAIN') as Error & { bytesSent?: number };
    assert.type(err.bytesSent, 'number');
    assert.ok(err.bytesSent! > 0 && err.bytesSent! < 8 << 20);
  }));

test('pipe() and raiseFdLimit() odd arguments', () => {
  const before = raiseFdLimit();
  assert.type(before, 'number');
  for (const v of ['x', null, {}, true, 1n, Symbol('w')]) throws(`raiseFdLimit(${show(v)})`, () => raiseFdLimit(v as never), TYPE);
  // Fixed in ccba359 (found by this matrix): NaN and negatives were cast to rlim_t.
  for (const v of [-1, NaN, -Infinity, -(2 ** 53), -0.5]) throws(`raiseFdLimit(${v})`, () => raiseFdLimit(v), VALUE);
  assert.is(raiseFdLimit(), before, 'refused calls changed nothing');
  assert.ok(raiseFdLimit(Infinity) >= before, 'Infinity: up to the hard limit');
  assert.ok(raiseFdLimit(0) >= before, 'never lowers');
  assert.ok(raiseFdLimit(2 ** 64) >= before, 'huge: capped at the hard limit');
  assert.ok(raiseFdLimit(1.5) >= before);
  const [r, w] = pipe();
  closeSync(r);
  closeSync(w);
});

test('socketPair() and Socket after a flood of bad calls still exchange data', () =>
  withScope((s) => {
    const [a, b] = s.pair();
    for (let i = 0; i < 1000; i++) {
      try {
        a.recv(i % 2 ? NaN : -i);
      } catch {
        /* expected */
      }
      try {
        a.send(i as never);
      } catch {
        /* expected */
      }
    }
    a.sendAll('still here');
    assert.is(b.recv(100)?.toString(), 'still here');
  }));

// Fixed in 7c1ff7d (found by the fuzzer below): setBufferSizes(null) threw an
// uncoded TypeError and setBufferSizes(5 | 'x') silently did nothing.
test('setBufferSizes(non-object) throws ERR_INVALID_ARG_TYPE', () =>
  withScope((s) => {
    const sock = s.add(new Socket());
    for (const v of [null, undefined, 5, 'x', true, Symbol('z'), 1n]) throws(`setBufferSizes(${show(v)})`, () => sock.setBufferSizes(v as never), TYPE);
  }));

// Random calls: a seeded fuzzer calls random public methods with random values
// from a pool of hostile ones. Every call must return or throw an Error with a
// string code; afterwards the selector and a socket pair still work.

for (const b of testBackends()) {
  test(`${b}: 20,000 random hostile calls: always a coded Error or a result, never a crash`, () =>
    withScope((s) => {
      const rnd = mulberry32(0x5eed + b.length);
      const sel = s.selector(b);
      const [p, q] = s.pair();
      p.setBlocking(false);
      q.setBlocking(false);
      const fuzzSock = s.add(new Socket('inet'));
      const fuzzUnix = s.add(new Socket('unix'));
      const detached = new Uint8Array(8);
      structuredClone(detached.buffer, { transfer: [detached.buffer] });
      const dead = closedFd();
      const pool: unknown[] = [
        undefined, null, true, false, 0, -0, 1, -1, 0.5, NaN, Infinity, -Infinity, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53),
        1023, 1024, 0x7fffffff, 'x', '', '\0', '127.0.0.1', {}, [], [1], Symbol('s'), 1n, () => 1,
        { fileno: () => 5 }, { fileno: () => -1 }, { fileno: () => NaN }, { fileno: () => p.fileno() }, p, q, p.fileno(), dead,
        new Uint8Array(0), Buffer.from('abc'), detached, new Int32Array(2), new ArrayBuffer(4),
        Events.IN, Events.OUT, Events.IN | Events.ONESHOT, Events.RDHUP, Events.EDGE | Events.IN, Events.ERR, 0xffffffff,
        { host: '127.0.0.1', port: 1 }, { host: 'nonexistent.invalid', port: 1 }, { host: '::1', port: 70000 }, { path: '\0iomux-fuzz-nowhere' },
        { path: 'a\0b' }, { send: 4096 }, { receive: -1 }, 'read', 'write', 'both', { timeoutMs: 0 }, { timeoutMs: NaN }, { signal: {} },
      ];
      const any = () => pool[Math.floor(rnd() * pool.length)];
      // select() may only get values that cannot block: nothing may be ready.
      const nonBlocking = pool.filter((v) => typeof v !== 'number' ? v !== undefined && v !== null : v <= 0 || Number.isNaN(v));
      const calls: [string, () => unknown][] = [
        ['register', () => sel.register(any() as number, any() as number, any())],
        ['unregister', () => sel.unregister(any() as number)],
        ['modify', () => sel.modify(any() as number, any() as number, any())],
        ['getKey', () => sel.getKey(any() as number)],
        ['select', () => sel.select(nonBlocking[Math.floor(rnd() * nonBlocking.length)] as number)],
        ['getMap.get', () => sel.getMap().get(any() as number)],
        ['send', () => p.send(any() as Uint8Array)],
        ['recv', () => q.recv(any() as number)],
        ['recvInto', () => q.recvInto(any() as Uint8Array)],
        ['recvFrom', () => q.recvFrom(any() as number)],
        ['setLinger', () => fuzzSock.setLinger(any() as number)],
        ['setBufferSizes', () => fuzzSock.setBufferSizes({ send: any() as number, receive: any() as number })],
        ['setNoDelay', () => fuzzSock.setNoDelay(any() as boolean)],
        ['bind', () => fuzzUnix.bind(any() as never)],
        ['connect', () => fuzzSock.connect(any() as never)],
        ['sendTo', () => fuzzUnix.sendTo(any() as Uint8Array, any() as never)],
        ['listen', () => fuzzUnix.listen(any() as number)],
        ['shutdown', () => fuzzUnix.shutdown(any() as never)],
        ['formatEvents', () => formatEvents(any() as number)],
        ['setBufferSizes(any)', () => fuzzSock.setBufferSizes(any() as never)],
        ['createSelector', () => createSelector(any() as never).close()],
        ['new Socket', () => new Socket(any() as never, any() as never).close()],
      ];
      const codes = new Map<string, number>();
      for (let i = 0; i < 20_000; i++) {
        const [name, fn] = calls[Math.floor(rnd() * calls.length)]!;
        try {
          fn();
        } catch (err) {
          assert.ok(err instanceof Error, `call ${i} ${name}: threw a non-Error ${show(err)}`);
          const code = (err as { code?: unknown }).code;
          assert.ok(typeof code === 'string', `call ${i} ${name}: ${err.name} without a code: ${err.message}`);
          codes.set(code, (codes.get(code) ?? 0) + 1);
        }
        // Keep the data path bounded: drain what the fuzzer sent.
        if ((i & 63) === 0) while (q.recv(65536)) { /* drain */ }
      }
      // Clean up whatever the fuzzer registered; then the selector still works.
      for (const fd of [...sel.getMap().keys()]) sel.unregister(fd);
      while (q.recv(65536)) { /* drain */ }
      console.log(`  ${b} fuzz: ${[...codes].sort((x, y) => y[1] - x[1]).map(([c, n]) => `${c}=${n}`).join(' ')}`);
      stillWorks(s, sel);
    }));
}

test.run();
