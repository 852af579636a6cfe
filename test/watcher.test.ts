// Watcher: one callback per ready fd, driven by a Selector's wait() loop, on
// every backend. What each test catches is named in it.
import { spawnSync } from 'node:child_process';
import { closeSync, readSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Events, Watcher, pipe } from '@iomux/core';
import { testBackends } from './helpers.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

type Pair = [readFd: number, writeFd: number];
type Call = [err: Error | null, fd: number, events: number];

/** Resolves when `pred` holds over the calls so far. */
function collector() {
  const calls: Call[] = [];
  let wake: (() => void) | null = null;
  const cb = (err: Error | null, fd: number, events: number) => {
    calls.push([err, fd, events]);
    wake?.();
  };
  const until = async (pred: () => boolean) => {
    while (!pred()) await new Promise<void>((r) => (wake = r));
    wake = null;
  };
  return { calls, cb, until };
}

function withPipes<R>(n: number, body: (pipes: Pair[]) => Promise<R>): Promise<R> {
  const pipes = Array.from({ length: n }, () => pipe());
  return body(pipes).finally(() => {
    for (const [r, w] of pipes) {
      closeSync(r);
      closeSync(w);
    }
  });
}

// A child process: does `body` (ESM, with Watcher, pipe and the backend in
// scope) and an unref'd timer that prints ALIVE. The timer fires only if
// something keeps the process alive; it then closes the watcher `w`.
function aliveAfter(backend: string, body: string): { alive: boolean; out: string; status: number | null } {
  const code = `import { Watcher, Events, pipe } from '@iomux/core';
    const backend = ${JSON.stringify(backend)};
    let w;
    setTimeout(() => { console.log('ALIVE'); w?.close(); }, 300).unref();
    ${body}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: root, encoding: 'utf8', timeout: 30_000 });
  return { alive: r.stdout.includes('ALIVE'), out: r.stdout + r.stderr, status: r.status };
}

for (const b of testBackends()) {
  test(`${b}: one callback per ready fd, (null, fd, events), never synchronously from add()`, () =>
    withPipes(2, async (p) => {
      const [[r1, w1], [r2, w2]] = p as [Pair, Pair];
      const { calls, cb, until } = collector();
      const w = new Watcher(cb, { backend: b });
      assert.is(w.backend, b);
      writeSync(w1, 'x');
      writeSync(w2, 'y');
      assert.is(w.add(r1, Events.IN).add(r2, Events.IN), w, 'add() chains');
      assert.is(calls.length, 0, 'no callback inside add()');
      await until(() => new Set(calls.map((c) => c[1])).size === 2);
      for (const [err, fd, events] of calls) {
        assert.is(err, null);
        assert.ok(fd === r1 || fd === r2, `fd ${fd}`);
        assert.is(events & Events.IN, Events.IN);
      }
      w.close();
    }));

  test(`${b}: level-triggered; ONESHOT fires once until modify()`, () =>
    withPipes(1, async (p) => {
      const [[r, wfd]] = p as [Pair];
      const { calls, cb, until } = collector();
      const w = new Watcher(cb, { backend: b });
      writeSync(wfd, 'x');
      w.add(r, Events.IN);
      await until(() => calls.length >= 3); // never drained: reported again and again
      w.modify(r, Events.IN | Events.ONESHOT);
      const before = calls.length;
      await until(() => calls.length > before);
      await new Promise((res) => setTimeout(res, 50));
      const fired = calls.length - before;
      assert.ok(fired <= 2, `ONESHOT: at most the pass in flight and one more, got ${fired}`);
      const after = calls.length;
      w.modify(r, Events.IN | Events.ONESHOT);
      await until(() => calls.length > after);
      w.close();
    }));

  test(`${b}: a never-drained fd does not starve the event loop (an immediate and a timer run)`, () =>
    withPipes(1, async (p) => {
      const [[r, wfd]] = p as [Pair];
      let count = 0;
      let immediateRan = false;
      let timerRan = false;
      const w = new Watcher(() => count++, { backend: b });
      writeSync(wfd, 'x');
      w.add(r, Events.IN);
      setImmediate(() => (immediateRan = true));
      await new Promise<void>((res) => setTimeout(() => ((timerRan = true), res()), 5));
      w.close();
      assert.ok(immediateRan && timerRan);
      assert.ok(count > 0, 'the fd was reported');
    }));

  test(`${b}: a callback that removes another ready fd stops its event in the same pass; close() in a callback stops the rest`, () =>
    withPipes(3, async (pipes) => {
      const reads = pipes.map(([r]) => r);
      for (const [, wfd] of pipes) writeSync(wfd, 'x');
      const seen: number[] = [];
      let done!: () => void;
      const finished = new Promise<void>((res) => (done = res));
      const w = new Watcher((_err, fd) => {
        seen.push(fd);
        if (seen.length === 1) {
          for (const other of reads) if (other !== fd) w.remove(other);
          setTimeout(done, 30);
        }
      }, { backend: b });
      for (const r of reads) w.add(r, Events.IN);
      await finished;
      assert.ok(seen.every((fd) => fd === seen[0]), `only the first fd after the removal: ${seen.join(',')}`);
      w.close();

      const seen2: number[] = [];
      const w2 = new Watcher((_err, fd) => {
        seen2.push(fd);
        w2.close();
      }, { backend: b });
      for (const r of reads) w2.add(r, Events.IN);
      await new Promise((res) => setTimeout(res, 30));
      assert.is(seen2.length, 1, 'nothing after close()');
      assert.is(w2.closed, true);
      assert.is(w2.size, 0);
    }));

  test(`${b}: a throwing callback reaches uncaughtException and the loop goes on`, () =>
    withPipes(1, async (p) => {
      const [[r, wfd]] = p as [Pair];
      const thrown: unknown[] = [];
      const onUncaught = (err: unknown) => thrown.push(err);
      process.on('uncaughtException', onUncaught);
      const boom = new Error('boom');
      let n = 0;
      let done!: () => void;
      const twice = new Promise<void>((res) => (done = res));
      const w = new Watcher(() => {
        if (++n === 2) done();
        throw boom;
      }, { backend: b });
      writeSync(wfd, 'x');
      w.add(r, Events.IN);
      try {
        await twice;
      } finally {
        w.close();
        // The last callback's throw is still queued (a tick): let it land here.
        await new Promise((res) => setImmediate(res));
        process.off('uncaughtException', onUncaught);
      }
      assert.ok(thrown.includes(boom));
    }));

  test(`${b}: errors: a closed watcher refuses add/modify/remove with ERR_SELECTOR_CLOSED; close() is idempotent; bad arguments throw at the call`, () => {
    assert.throws(() => new Watcher(undefined as never), (e: { code?: string }) => e.code === 'ERR_INVALID_ARG_TYPE');
    const w = new Watcher(() => {}, { backend: b });
    assert.throws(() => w.add(-1, Events.IN), (e: { code?: string }) => e.code === 'ERR_INVALID_ARG_VALUE');
    assert.throws(() => w.remove(0), (e: { code?: string }) => e.code === 'ERR_NOT_REGISTERED');
    w.close();
    w.close();
    for (const call of [() => w.add(0, Events.IN), () => w.modify(0, Events.IN), () => w.remove(0)]) {
      assert.throws(call, (e: { code?: string; message: string }) => e.code === 'ERR_SELECTOR_CLOSED' && /after close/.test(e.message));
    }
  });

  test(`${b}: keeps the process alive only while it has fds and is open`, () => {
    const cases: [string, boolean, string][] = [
      ['no fd', false, 'w = new Watcher(() => {}, { backend });'],
      ['an fd', true, 'const [r] = pipe(); w = new Watcher(() => {}, { backend }); w.add(r, Events.IN);'],
      ['an fd, removed', false, 'const [r] = pipe(); w = new Watcher(() => {}, { backend }); w.add(r, Events.IN).remove(r);'],
      ['an fd, then close()', false, 'const [r] = pipe(); w = new Watcher(() => {}, { backend }); w.add(r, Events.IN); w.close();'],
      [
        'an fd removed while its wait is pending',
        false,
        'const [r] = pipe(); w = new Watcher(() => {}, { backend }); w.add(r, Events.IN); setTimeout(() => w.remove(r), 20);',
      ],
      [
        'an fd closed while its wait is pending',
        false,
        'const [r] = pipe(); w = new Watcher(() => {}, { backend }); w.add(r, Events.IN); setTimeout(() => w.close(), 20);',
      ],
    ];
    for (const [what, alive, body] of cases) {
      const got = aliveAfter(b, body);
      assert.is(got.status, 0, `${what}: ${got.out}`);
      assert.is(got.alive, alive, `${what}: ${alive ? 'must keep' : 'must not keep'} the process alive`);
    }
  });

  test(`${b}: an unreferenced watcher with fds is not garbage-collected`, () => {
    const code = `import { Watcher, Events, pipe } from '@iomux/core';
      import { writeSync } from 'node:fs';
      const [r, w] = pipe();
      (() => { new Watcher((err, fd) => { console.log('called', fd === r); process.exit(0); }, { backend: ${JSON.stringify(b)} }).add(r, Events.IN); })();
      let n = 0;
      const t = setInterval(() => { globalThis.gc(); if (++n === 5) { clearInterval(t); writeSync(w, 'x'); } }, 10);`;
    const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', code], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    assert.is(r.stdout.trim(), 'called true', r.stdout + r.stderr);
  });
}

test('the read end is drained by the callback: a real echo of bytes', () =>
  withPipes(1, async (p) => {
      const [[r, wfd]] = p as [Pair];
    const got: string[] = [];
    let done!: () => void;
    const finished = new Promise<void>((res) => (done = res));
    const w = new Watcher((_err, fd) => {
      const buf = Buffer.alloc(16);
      got.push(buf.toString('utf8', 0, readSync(fd, buf)));
      if (got.join('') === 'abc') done();
    });
    w.add(r, Events.IN);
    writeSync(wfd, 'abc');
    await finished;
    w.close();
    assert.is(got.join(''), 'abc');
  }));

test.run();
