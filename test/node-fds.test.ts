// iomux inside a Node application, at the fd level (README "Working with
// Node's own fds"): Node's { fd } objects as FileLike, the blocking mode of
// any fd, pipe({ blocking: false }), epoll's EPERM for files it cannot watch,
// handing fds to Node's net and child_process, borrowing vs owning, and the
// two things never to do. Selector tests run on every backend.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type StdioOptions } from 'node:child_process';
import { once } from 'node:events';
import {
  closeSync,
  constants as fsConstants,
  createReadStream,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BatchResult,
  Events,
  Socket,
  SystemError,
  capabilities,
  getBlocking,
  pipe,
  setBlocking,
  socketPair,
  type FileLike,
  type Selector,
} from '@iomux/core';
import { fdTarget, isCloexec, sleep, testBackends, throwsCode, withScope } from './helpers.ts';

const { IN, HUP, EDGE } = Events;
const root = fileURLToPath(new URL('..', import.meta.url));

const t = (name: string, body: Parameters<typeof withScope>[0]) => test(name, () => withScope(body));
const closing = (fd: number) => ({ close: () => closeSync(fd) });
// An object whose fd may turn null, as a ReadStream's does once closed: FileLike declares only numbers.
const asFileLike = (o: { fd: number | null }) => o as FileLike;

/** O_NONBLOCK as the kernel reports it (fdinfo's "flags:" is octal; O_NONBLOCK is 04000). */
function kernelNonBlocking(fd: number): boolean {
  const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  assert.ok(flags, `fdinfo of fd ${fd} has a flags field`);
  return (parseInt(flags[1]!, 8) & 0o4000) !== 0;
}

/** Reads `fd` until EAGAIN or end of file: the edge-triggered drain. */
function readUntilEagain(fd: number): { data: string; end: 'EAGAIN' | 'EOF' } {
  const buf = Buffer.alloc(4096);
  let data = '';
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return { data, end: 'EAGAIN' };
      throw err;
    }
    if (n === 0) return { data, end: 'EOF' };
    data += buf.toString('utf8', 0, n);
  }
}

/** A pending wait() that must report `fd` (a wait that times out fails the test). */
async function waitFor<T>(sel: Selector<T>, fd: number): Promise<number> {
  const ready = await sel.wait({ timeoutMs: 10_000 });
  const hit = ready.find(([key]) => key.fd === fd);
  assert.ok(hit, `wait() reported fd ${fd}`);
  return hit[1];
}

async function collectGarbage(until: () => boolean = () => false, rounds = 10): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  assert.ok(gc, 'run with --expose-gc (pnpm test does)');
  for (let i = 0; i < rounds && !until(); i++) {
    gc();
    await sleep(10); // finalizers run from the event loop, after the GC
  }
}

// --- the blocking mode of any fd --------------------------------------------

t('setBlocking/getBlocking set and read O_NONBLOCK of a pipe, a Socket and a FileHandle', async (s) => {
  const [r, w] = pipe();
  s.add(closing(r));
  s.add(closing(w));
  assert.is(getBlocking(r), true);
  setBlocking(r, false);
  assert.is(getBlocking(r), false);
  assert.ok(kernelNonBlocking(r), 'O_NONBLOCK is set in the kernel');
  throwsCode(() => readSync(r, Buffer.alloc(1)), 'EAGAIN'); // an empty pipe no longer blocks
  setBlocking(r, true);
  assert.is(getBlocking(r), true);
  assert.not.ok(kernelNonBlocking(r), 'O_NONBLOCK is cleared in the kernel');
  assert.is(getBlocking(w), true, 'the write end is another open file');

  // A Socket: the free function and the method are one, and sock.blocking follows.
  const [a] = s.pair();
  setBlocking(a, false);
  assert.is(a.blocking, false);
  assert.ok(kernelNonBlocking(a.fileno()));
  assert.is(getBlocking(a), false);
  setBlocking(a, true);
  assert.is(a.blocking, true);
  assert.not.ok(kernelNonBlocking(a.fileno()));

  // A FileHandle ({ fd }).
  const fh = await open(`/proc/self/fd/${r}`, 'r');
  try {
    assert.is(getBlocking(fh), true);
    setBlocking(fh, false);
    assert.ok(kernelNonBlocking(fh.fd));
    assert.is(getBlocking(fh.fd), false);
  } finally {
    await fh.close();
  }
});

t('setBlocking/getBlocking: EBADF for an fd that is not open; argument errors', (s) => {
  const [r, w] = pipe();
  closeSync(r);
  closeSync(w);
  for (const call of [() => getBlocking(r), () => setBlocking(r, false)]) {
    const err = throwsCode(call, 'EBADF', SystemError) as SystemError;
    assert.is(err.syscall, 'fcntl');
    assert.is(err.fd, r);
  }
  throwsCode(() => setBlocking(-1, false), 'ERR_INVALID_ARG_VALUE', RangeError);
  throwsCode(() => getBlocking(-1), 'ERR_INVALID_ARG_VALUE', RangeError);
  throwsCode(() => getBlocking('0' as never), 'ERR_INVALID_ARG_TYPE', TypeError);
  throwsCode(() => getBlocking({} as never), 'ERR_INVALID_ARG_TYPE', TypeError);
  throwsCode(() => getBlocking({ fd: '0' } as never), 'ERR_INVALID_ARG_TYPE', TypeError);
  throwsCode(() => getBlocking({ fd: null } as never), 'ERR_INVALID_ARG_TYPE', TypeError);
  throwsCode(() => setBlocking(0, 'no' as never), 'ERR_INVALID_ARG_TYPE', TypeError);
  throwsCode(() => setBlocking(0, undefined as never), 'ERR_INVALID_ARG_TYPE', TypeError);
  const [a] = s.pair();
  a.close();
  throwsCode(() => getBlocking(a), 'ERR_INVALID_ARG_VALUE', RangeError); // closed: fileno() is -1
});

t('pipe({ blocking: false }): both ends O_NONBLOCK and close-on-exec; the default stays blocking', (s) => {
  const [r, w] = pipe({ blocking: false });
  s.add(closing(r));
  s.add(closing(w));
  for (const fd of [r, w]) {
    assert.ok(kernelNonBlocking(fd), `fd ${fd} is O_NONBLOCK`);
    assert.is(getBlocking(fd), false);
    assert.ok(isCloexec(fd), `fd ${fd} is close-on-exec`);
  }
  throwsCode(() => readSync(r, Buffer.alloc(1)), 'EAGAIN');
  for (const options of [undefined, {}, { blocking: true }]) {
    const [br, bw] = pipe(options);
    s.add(closing(br));
    s.add(closing(bw));
    assert.not.ok(kernelNonBlocking(br) || kernelNonBlocking(bw), `pipe(${JSON.stringify(options)}) is blocking`);
  }
  throwsCode(() => pipe(null as never), 'ERR_INVALID_ARG_TYPE', TypeError);
  throwsCode(() => pipe(1 as never), 'ERR_INVALID_ARG_TYPE', TypeError);
  throwsCode(() => pipe({ blocking: 0 } as never), 'ERR_INVALID_ARG_TYPE', TypeError);
});

t('never: an owning Socket.fromFd dropped unclosed closes the fd when collected (the negative control of the borrow test)', async () => {
  const [a, peer] = socketPair();
  const fd = a.detach();
  try {
    (() => {
      Socket.fromFd(fd); // owns the fd, and is dropped
    })();
    await collectGarbage(() => fdTarget(fd) === null, 40);
    assert.is(fdTarget(fd), null, 'the collected owner closed the fd');
  } finally {
    if (fdTarget(fd) !== null) closeSync(fd);
    peer.close();
  }
});

t("borrowing Node's fd: a Socket.fromFd(fd, { owned: false }) that is collected leaves Node's socket open and working", async (s) => {
  const [a, peer] = s.pair();
  const fd = a.detach();
  const ns = new net.Socket({ fd, readable: true, writable: true }); // Node owns the fd now
  try {
    const target = fdTarget(fd);
    (() => {
      const borrowed = Socket.fromFd(fd, { owned: false });
      assert.not.ok(borrowed.owned);
      assert.is(borrowed.send('via iomux'), 9);
    })();
    await collectGarbage();
    assert.is(fdTarget(fd), target, "Node's fd is still open");
    const got = once(ns, 'data');
    peer.sendAll('still there');
    assert.is(String((await got)[0]), 'still there');
    assert.is(peer.recv(64)?.toString(), 'via iomux');
  } finally {
    ns.destroy();
    await once(ns, 'close');
  }
});

// --- Selector tests, on every backend ----------------------------------------

for (const b of testBackends()) {
  const cap = capabilities(b);
  // epoll's EPERM is epoll_ctl's: the backends that add with it refuse files without a poll method.
  const refusesFiles = cap.syscalls.add === 'epoll_ctl';

  t(`${b}: a FileHandle ({ fd }) is a FileLike: register, getKey, modify, select; unregister by identity after close`, async (s) => {
    const sel = s.selector<string>(b);
    const [r, w] = pipe();
    s.add(closing(r));
    s.add(closing(w));
    const fh = await open(`/proc/self/fd/${r}`, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK); // the same pipe
    try {
      const fd = fh.fd;
      const key = sel.register(fh, IN, 'fh');
      assert.is(key.fd, fd);
      assert.is(key.fileobj, fh, "the key's fileobj is the object passed");
      assert.is(sel.getKey(fh), key);
      assert.is(sel.getKey(fd), key, 'keys are looked up by fd');
      throwsCode(() => sel.register(fh, IN), 'ERR_ALREADY_REGISTERED');
      writeSync(w, 'x');
      const ready = sel.select(10_000);
      assert.is(ready.length, 1);
      assert.is(ready[0]![0], key);
      assert.ok(ready[0]![1] & IN);
      const modified = sel.modify(fh, IN, 'again');
      assert.is(modified.data, 'again');
      assert.is(modified.fileobj, fh);
      await fh.close();
      assert.is(fh.fd, -1, 'a closed FileHandle answers -1');
      assert.is(sel.getKey(fh), modified, 'found by identity');
      assert.is(sel.unregister(fh), modified);
      assert.is(sel.getMap().size, 0);
      throwsCode(() => sel.register(fh, IN), 'ERR_INVALID_ARG_VALUE', RangeError);
      throwsCode(() => sel.getKey(fh), 'ERR_INVALID_ARG_VALUE', RangeError);
    } finally {
      if (fh.fd >= 0) await fh.close();
    }
  });

  t(`${b}: an fs.ReadStream ({ fd }, null once closed) is registered, then unregistered by identity`, async (s) => {
    const sel = s.selector(b);
    const [r, w] = pipe();
    s.add(closing(r));
    s.add(closing(w));
    // Never read from: a stream and a selector must not share an fd (see the race test).
    const rs = createReadStream(`/proc/self/fd/${r}`);
    await once(rs, 'open');
    // Node sets a ReadStream's fd (null once closed); @types/node does not declare it.
    const stream = rs as unknown as { fd: number | null };
    const key = sel.register(asFileLike(stream), IN);
    assert.is(key.fd, stream.fd);
    rs.destroy();
    await once(rs, 'close');
    assert.is(stream.fd, null);
    assert.is(sel.unregister(asFileLike(stream)), key);
    throwsCode(() => sel.register(asFileLike(stream), IN), 'ERR_INVALID_ARG_TYPE', TypeError);
  });

  t(`${b}: { fd } objects: fileno() wins over fd; a plain { fd } works; batch targets; argument errors`, (s) => {
    const sel = s.selector(b);
    const [a, c] = s.pair();
    const [x, y] = s.pair();
    const both = { fileno: () => a.fileno(), fd: x.fileno() };
    const key = sel.register(both, IN);
    assert.is(key.fd, a.fileno(), 'fileno() wins');
    assert.is(sel.getKey(a.fileno()), key);
    throwsCode(() => sel.getKey(x), 'ERR_NOT_REGISTERED');
    setBlocking(both, false);
    assert.is(getBlocking(a), false, 'the helpers resolve the same fd');
    assert.is(getBlocking(x), true);

    // Objects whose fd may turn null, as a ReadStream's does once closed.
    const plain = { fd: x.fileno() as number | null };
    const pkey = sel.register(asFileLike(plain), IN);
    assert.is(pkey.fileobj, plain);
    y.sendAll('y');
    c.sendAll('c');
    const ready = new Map(sel.select(10_000).map(([k, ev]) => [k.fileobj, ev]));
    assert.ok(((ready.get(both) ?? 0) & IN) !== 0 && ((ready.get(asFileLike(plain)) ?? 0) & IN) !== 0, 'both reported, by their own objects');

    // Batch targets resolve { fd } objects the same way; one whose fd is gone is cancelled.
    const batch = sel.batch();
    const other = { fd: c.fileno() as number | null };
    const t0 = batch.send(asFileLike(other), 'hi');
    const t1 = batch.send(asFileLike(other), 'no');
    batch.run(0);
    assert.is(batch.sent(t0), 2);
    assert.is(batch.sent(t1), 2);
    const t2 = batch.send(asFileLike(other), 'gone');
    other.fd = null; // as a ReadStream's once closed
    batch.run(0);
    assert.is(batch.sent(t2), BatchResult.CANCELLED);
    assert.is(a.recv(64)?.toString(), 'chino');

    plain.fd = null;
    assert.is(sel.getKey(asFileLike(plain)), pkey, 'a { fd } object whose fd is gone is found by identity');
    assert.is(sel.unregister(asFileLike(plain)), pkey);
    for (const bad of [{ fd: '3' }, { fd: 1.5 }, { fd: undefined }, { fd: null }, { fd: 2 ** 31 }, { fileno: 3 }]) {
      const code = (bad as { fd?: unknown }).fd === 2 ** 31 ? 'ERR_INVALID_ARG_VALUE' : 'ERR_INVALID_ARG_TYPE';
      throwsCode(() => sel.register(bad as never, IN), code);
    }
    throwsCode(() => sel.register({ fd: -2 }, IN), 'ERR_INVALID_ARG_VALUE', RangeError);
  });

  t(`${b}: read until EAGAIN works on a pipe({ blocking: false }) end${cap.edge ? ' (EDGE)' : ''}`, async (s) => {
    const sel = s.selector(b);
    const [r, w] = pipe({ blocking: false });
    s.add(closing(r));
    let writerOpen = true;
    s.add({ close: () => writerOpen && closeSync(w) });
    assert.is(getBlocking(r), false, 'or the drain below would block for good');
    sel.register(r, cap.edge ? IN | EDGE : IN);
    writeSync(w, 'one');
    writeSync(w, 'two');
    await waitFor(sel, r);
    assert.equal(readUntilEagain(r), { data: 'onetwo', end: 'EAGAIN' });
    closeSync(w);
    writerOpen = false;
    const ev = await waitFor(sel, r);
    if (cap.reportsHup) assert.ok(ev & HUP, 'the writer left');
    assert.equal(readUntilEagain(r), { data: '', end: 'EOF' });
  });

  t(`${b}: epoll refuses a regular file and /dev/null with an EPERM that says why; select and poll report them ready`, async (s) => {
    const sel = s.selector(b);
    const dir = mkdtempSync(join(tmpdir(), 'iomux-'));
    s.add({ close: () => rmSync(dir, { recursive: true, force: true }) });
    writeFileSync(join(dir, 'file'), 'data');
    for (const path of [join(dir, 'file'), '/dev/null']) {
      const fd = openSync(path, 'r');
      s.add(closing(fd));
      if (refusesFiles) {
        const err = throwsCode(() => sel.register(fd, IN), 'EPERM', SystemError) as SystemError;
        assert.is(err.syscall, 'epoll_ctl');
        assert.is(err.fd, fd);
        assert.match(err.message, /^EPERM: operation not permitted, epoll_ctl/);
        assert.match(err.message, /regular file.*\/dev\/null/, 'names the cause');
        assert.match(err.message, /PollSelector or SelectSelector.*always ready/, 'names the fix');
        assert.is(sel.getMap().size, 0, 'no key left');
        throwsCode(() => sel.getKey(fd), 'ERR_NOT_REGISTERED');
      } else {
        const key = sel.register(fd, IN);
        const ready = await sel.wait({ timeoutMs: 10_000 });
        assert.is(ready.length, 1, `${path} is ready at once`);
        assert.is(ready[0]![0], key);
        assert.ok(ready[0]![1] & IN);
        sel.unregister(fd);
      }
    }
  });

  // process.stdin in a child: a pipe (a net.Socket), and /dev/null (an
  // fs.ReadStream), which is what a service's stdin is under cron or systemd.
  const CHILD = `
    const { createSelector } = await import('@iomux/core');
    const sel = createSelector(process.argv[1]);
    let out;
    try {
      const key = sel.register(process.stdin, 1);
      const ready = sel.select(10000);
      out = { kind: process.stdin.constructor.name, same: key.fileobj === process.stdin,
              ready: ready.map(([k, ev]) => [k.fd, ev]) };
    } catch (e) {
      out = { kind: process.stdin.constructor.name, code: e.code, syscall: e.syscall, fd: e.fd, message: e.message, keys: sel.getMap().size };
    }
    sel.close();
    process.stdout.write(JSON.stringify(out));
    process.exit(0);
  `;
  async function childStdin(stdin: 'pipe' | 'ignore'): Promise<Record<string, unknown>> {
    const stdio: StdioOptions = [stdin, 'pipe', 'inherit'];
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, b], { cwd: root, stdio });
    if (stdin === 'pipe') child.stdin!.end('x');
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const [code] = (await once(child, 'close')) as [number | null];
    assert.is(code, 0, `child exit (output: ${out})`);
    return JSON.parse(out) as Record<string, unknown>;
  }

  test(`${b}: process.stdin is a FileLike: a pipe is watched; /dev/null is ready at once or refused with the hint`, async () => {
    const piped = await childStdin('pipe');
    assert.is(piped.kind, 'Socket');
    assert.is(piped.same, true, "the key's fileobj is process.stdin");
    assert.equal((piped.ready as number[][]).map(([fd, ev]) => [fd, ev! & IN]), [[0, IN]]);
    const devNull = await childStdin('ignore');
    assert.is(devNull.kind, 'ReadStream');
    if (refusesFiles) {
      assert.is(devNull.code, 'EPERM');
      assert.is(devNull.syscall, 'epoll_ctl');
      assert.is(devNull.fd, 0);
      assert.is(devNull.keys, 0);
      assert.match(devNull.message as string, /PollSelector or SelectSelector/);
    } else {
      assert.equal((devNull.ready as number[][]).map(([fd, ev]) => [fd, ev! & IN]), [[0, IN]]);
    }
  });

  t(`${b}: an iomux Socket handed to Node: new net.Socket({ fd: s.detach() }) reads, writes and closes it`, async (s) => {
    const sel = s.selector(b);
    const [a, peer] = s.pair();
    peer.setBlocking(false);
    sel.register(peer, IN);
    const fd = a.detach();
    assert.is(a.fileno(), -1, 'detached: no longer ours');
    const ns = new net.Socket({ fd, readable: true, writable: true });
    try {
      const got = once(ns, 'data');
      peer.sendAll('ping');
      assert.is(String((await got)[0]), 'ping');
      ns.write('pong');
      await waitFor(sel, peer.fileno());
      assert.is(peer.recv(64)?.toString(), 'pong');
    } finally {
      ns.destroy();
      await once(ns, 'close');
    }
    assert.is(fdTarget(fd), null, 'Node closed the fd it was given');
  });

  t(`${b}: a listening iomux Socket handed to Node: server.listen({ fd })`, async (s) => {
    const srv = s.add(new Socket('inet', 'stream'));
    srv.setReuseAddress(true);
    srv.bind({ host: '127.0.0.1', port: 0 });
    srv.listen();
    const addr = srv.localAddress();
    const fd = srv.detach();
    const server = net.createServer((conn) => conn.end('hello'));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd }, resolve);
    });
    const cli = s.add(new Socket('inet', 'stream'));
    try {
      const sel = s.selector(b);
      cli.connect(addr);
      cli.setBlocking(false);
      sel.register(cli, IN);
      let data = '';
      for (;;) {
        await waitFor(sel, cli.fileno());
        const got = cli.recv(64);
        if (got === null) continue;
        if (got.length === 0) break;
        data += got.toString();
      }
      assert.is(data, 'hello');
    } finally {
      cli.close(); // server.close() waits for its connections to end
      await new Promise((resolve) => server.close(resolve));
    }
    assert.is(fdTarget(fd), null, "Node's server closed the listening fd");
  });

  t(`${b}: a pipe() end as a child's stdout: libuv hands it over blocking; the parent watches its own end`, async (s) => {
    const sel = s.selector(b);
    const [r, w] = pipe({ blocking: false });
    s.add(closing(r));
    const child = spawn('/bin/sh', ['-c', 'echo hello'], { stdio: ['ignore', w, 'inherit'] });
    const closed = once(child, 'close'); // listen now: it may close before we read the end of file
    // The child holds a dup of w (made blocking by libuv, for the child's
    // sake: the flag belongs to the open file, so ours is blocking too).
    // Keeping ours open would hide the end of file: close it now.
    assert.is(getBlocking(w), true, 'the handed-over end came back blocking');
    closeSync(w);
    assert.is(getBlocking(r), false, 'our end is another open file: still non-blocking');
    sel.register(r, IN);
    let data = '';
    for (;;) {
      await waitFor(sel, r);
      const { data: got, end } = readUntilEagain(r);
      data += got;
      if (end === 'EOF') break;
    }
    assert.is(data, 'hello\n');
    const [code] = (await closed) as [number | null];
    assert.is(code, 0);
  });

  t(`${b}: never watch an fd a Node stream reads: each byte goes to whichever reader comes first`, async (s) => {
    const sel = s.selector(b);
    const [a, peer] = s.pair();
    const fd = a.detach();
    const ns = new net.Socket({ fd, readable: true, writable: true });
    let nodeGot = '';
    ns.on('data', (d: Buffer) => (nodeGot += d.toString()));
    try {
      sel.register(fd, IN);
      const borrowed = Socket.fromFd(fd, { owned: false });
      // The selector sees the bytes and reads them before Node's loop turns:
      // Node's stream never gets them.
      peer.sendAll('one');
      assert.ok(sel.select(10_000).length === 1);
      assert.is(borrowed.recv(64)?.toString(), 'one');
      await sleep(50);
      assert.is(nodeGot, '', "the stream lost 'one'");
      // Node reads first: the selector's readiness was for bytes now gone.
      const got = once(ns, 'data');
      peer.sendAll('two');
      await got;
      assert.is(nodeGot, 'two');
      assert.equal(sel.select(0), [], 'nothing left for the selector');
      assert.is(borrowed.recv(64), null, 'the borrower reads EAGAIN');
      borrowed.close();
      sel.unregister(fd);
    } finally {
      ns.destroy();
      await once(ns, 'close');
    }
  });
}

test.run();
