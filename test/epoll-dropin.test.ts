// @iomux/core/epoll, the drop-in for the npm `epoll` package: its API and
// semantics (the peer's own suite is epoll-peer.test.ts), both module
// systems, Worker threads, and the process's lifetime.
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Epoll } from '@iomux/core/epoll';
import { SystemError, pipe } from '@iomux/core';

const root = fileURLToPath(new URL('..', import.meta.url));
const code = (c: string) => (e: { code?: string }) => e.code === c;

test('the constants are Linux epoll(7) values, read-only', () => {
  const want = { EPOLLIN: 0x1, EPOLLPRI: 0x2, EPOLLOUT: 0x4, EPOLLERR: 0x8, EPOLLHUP: 0x10, EPOLLRDHUP: 0x2000, EPOLLONESHOT: 0x40000000, EPOLLET: 0x80000000 };
  for (const [name, value] of Object.entries(want)) {
    assert.is(Epoll[name as keyof typeof want], value, name);
    assert.throws(() => {
      (Epoll as unknown as Record<string, number>)[name] = 0;
    }, TypeError);
  }
});

test('callback(null, fd, events) with this === globalThis; add/modify/remove chain; closed; close() idempotent', async () => {
  const [r, w] = pipe();
  try {
    let got: { self: unknown; args: unknown[] } | null = null;
    let done!: () => void;
    const called = new Promise<void>((res) => (done = res));
    const poller = new Epoll(function (this: unknown, ...args: unknown[]) {
      got ??= { self: this, args };
      done();
    });
    assert.is(poller.closed, false);
    assert.is(poller.add(r, Epoll.EPOLLOUT).modify(r, Epoll.EPOLLIN).remove(r).add(r, Epoll.EPOLLIN), poller);
    writeSync(w, 'x');
    await called;
    assert.ok(got !== null);
    const { self, args } = got as { self: unknown; args: unknown[] };
    assert.is(self, globalThis, 'the peer calls back with the global object as this');
    assert.equal(args, [null, r, Epoll.EPOLLIN]);
    assert.is(poller.remove(r), poller);
    poller.close();
    assert.is(poller.closed, true);
    poller.close();
  } finally {
    closeSync(r);
    closeSync(w);
  }
});

test("errors are iomux's: SystemError EPERM, ERR_ALREADY_REGISTERED, ERR_NOT_REGISTERED, ERR_SELECTOR_CLOSED, ERR_INVALID_ARG_TYPE", () => {
  assert.throws(() => new Epoll(undefined as never), code('ERR_INVALID_ARG_TYPE'));
  const poller = new Epoll(() => {});
  const file = openSync(fileURLToPath(import.meta.url), 'r');
  const [r, w] = pipe();
  try {
    assert.throws(
      () => poller.add(file, Epoll.EPOLLIN),
      (e: unknown) => e instanceof SystemError && e.code === 'EPERM' && e.syscall === 'epoll_ctl',
    );
    poller.add(r, Epoll.EPOLLIN);
    assert.throws(() => poller.add(r, Epoll.EPOLLIN), code('ERR_ALREADY_REGISTERED'));
    assert.throws(() => poller.modify(w, Epoll.EPOLLIN), code('ERR_NOT_REGISTERED'));
    assert.throws(() => poller.remove(w), code('ERR_NOT_REGISTERED'));
    assert.throws(() => poller.add('0' as never, Epoll.EPOLLIN), code('ERR_INVALID_ARG_TYPE'));
    poller.close();
    for (const call of [() => poller.add(r, 1), () => poller.modify(r, 1), () => poller.remove(r)]) {
      assert.throws(call, code('ERR_SELECTOR_CLOSED'));
    }
  } finally {
    poller.close();
    closeSync(file);
    closeSync(r);
    closeSync(w);
  }
});

test('two instances may watch the same fd (each has an epoll fd of its own)', async () => {
  const [r, w] = pipe();
  const seen = new Set<number>();
  let done!: () => void;
  const both = new Promise<void>((res) => (done = res));
  const mk = (id: number) =>
    new Epoll(() => {
      seen.add(id);
      if (seen.size === 2) done();
    });
  const a = mk(1).add(r, Epoll.EPOLLIN);
  const b = mk(2).add(r, Epoll.EPOLLIN);
  writeSync(w, 'x');
  await both;
  a.close();
  b.close();
  closeSync(r);
  closeSync(w);
});

// The same check, as a CommonJS program with require(esm) off (Node < 20.19),
// and as ESM: the subpath resolves in both module systems.
const PROGRAM = `
  const [r, w] = pipe();
  const poller = new Epoll((err, fd, events) => {
    if (err) throw err;
    console.log(fd === r && events === Epoll.EPOLLIN ? 'ok' : 'bad ' + fd + ' ' + events);
    poller.remove(fd).close();
  });
  poller.add(r, Epoll.EPOLLIN);
  require_fs.writeSync(w, 'x');`;

test('require("@iomux/core/epoll").Epoll works without require(esm)', () => {
  const src = `const { Epoll } = require('@iomux/core/epoll'); const { pipe } = require('@iomux/core'); const require_fs = require('node:fs');${PROGRAM}`;
  const r = spawnSync(process.execPath, ['--no-experimental-require-module', '-e', src], { cwd: root, encoding: 'utf8', timeout: 30_000 });
  assert.is(r.stdout.trim(), 'ok', r.stdout + r.stderr);
  assert.is(r.status, 0);
});

test("import { Epoll } from '@iomux/core/epoll' works (ESM)", () => {
  const src = `import { Epoll } from '@iomux/core/epoll'; import { pipe } from '@iomux/core'; import * as require_fs from 'node:fs';${PROGRAM}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', src], { cwd: root, encoding: 'utf8', timeout: 30_000 });
  assert.is(r.stdout.trim(), 'ok', r.stdout + r.stderr);
  assert.is(r.status, 0);
});

test('works inside a Worker thread (CommonJS there), and the Worker then exits on its own', async () => {
  const src = `const { parentPort } = require('node:worker_threads'); const { Epoll } = require('@iomux/core/epoll');
    const { pipe } = require('@iomux/core'); const require_fs = require('node:fs');
    const console = { log: (m) => parentPort.postMessage(m) };${PROGRAM}`;
  const worker = new Worker(src, { eval: true });
  const messages: unknown[] = [];
  worker.on('message', (m) => messages.push(m));
  const exitCode = await new Promise<number>((res, rej) => {
    worker.once('exit', res);
    worker.once('error', rej);
  });
  assert.equal(messages, ['ok']);
  assert.is(exitCode, 0, 'the Worker ended by itself once its instance was closed');
});

test('an instance keeps the process alive only while it has fds and is open', () => {
  const cases: [string, boolean, string][] = [
    ['no fd', false, 'p = new Epoll(() => {});'],
    ['an fd', true, 'const [r] = pipe(); p = new Epoll(() => {}).add(r, Epoll.EPOLLIN);'],
    ['an fd, removed', false, 'const [r] = pipe(); p = new Epoll(() => {}).add(r, Epoll.EPOLLIN).remove(r);'],
    ['an fd, then close()', false, 'const [r] = pipe(); p = new Epoll(() => {}).add(r, Epoll.EPOLLIN); p.close();'],
    ['an fd removed later', false, 'const [r] = pipe(); p = new Epoll(() => {}).add(r, Epoll.EPOLLIN); setTimeout(() => p.remove(r), 20);'],
  ];
  for (const [what, alive, body] of cases) {
    const src = `const { Epoll } = require('@iomux/core/epoll'); const { pipe } = require('@iomux/core'); let p;
      setTimeout(() => { console.log('ALIVE'); p.close(); }, 300).unref(); ${body}`;
    const r = spawnSync(process.execPath, ['--no-experimental-require-module', '-e', src], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    assert.is(r.status, 0, `${what}: ${r.stdout}${r.stderr}`);
    assert.is(r.stdout.includes('ALIVE'), alive, `${what}: ${alive ? 'must keep' : 'must not keep'} the process alive`);
  }
});

test.run();
