// The second edition's new examples, over real sockets on every backend they
// apply to: level-vs-edge strands bytes under EPOLLET and none when level-
// triggered; skeleton releases its selector fd and listener however it ends;
// echo-async keeps a timer ticking while it serves; scaling prints its table
// and chart (its timings are never checked).
import { test } from 'uvu';
import { readlinkSync } from 'node:fs';
import * as net from 'node:net';
import { capabilities } from '@iomux/core';
import { testBackends } from '../helpers.ts';
import { assert, echoOnce, eventually, killAll, liveCount, run, startExample } from './harness.ts';
import { connectRaw } from './raw.ts';

test.after(killAll);

for (const backend of testBackends()) {
  test(`level-vs-edge on ${backend}: level drains everything; edge strands bytes (epoll) or is refused`, async () => {
    for (const [bytes, read] of [[4096, 1024], [10_000, 3000]] as const) {
      const r = await run(['examples/level-vs-edge.mjs', '--backend', backend, '--bytes', String(bytes), '--read', String(read)]);
      assert.is(r.code, 0, r.stderr);
      assert.is(r.stderr, '');
      const out = r.stdout;
      assert.match(out, new RegExp(`^backend=${backend}$`, 'm'));
      const reports = (mode: string) => [...out.matchAll(new RegExp(`^${mode}: select\\(\\) #\\d+ -> \\[\\(\\d+, IN\\)\\]  read (\\d+) bytes$`, 'gm'))].map((m) => Number(m[1]));
      // Level: reported again and again until every byte is read.
      const level = reports('level');
      assert.is(level.length, Math.ceil(bytes / read), `one report per small read: ${out}`);
      assert.is(level.reduce((a, b) => a + b, 0), bytes);
      assert.match(out, new RegExp(`^level: ${bytes} bytes read, 0 bytes left unread$`, 'm'));
      if (capabilities(backend).edge) {
        // Edge: one report, one read, and the rest never announced.
        assert.equal(reports('edge'), [read], `exactly one edge: ${out}`);
        assert.match(out, /^edge: select\(\) #2 -> \[\]/m, 'the second select() reports nothing');
        assert.match(out, new RegExp(`^edge: ${read} bytes read, ${bytes - read} bytes left unread: stranded`, 'm'));
      } else {
        assert.match(out, new RegExp(`^edge: not available on ${backend}: .*epoll`, 'm'));
        assert.is(reports('edge').length, 0);
      }
    }
  });

  test(`skeleton on ${backend}: serves, prints its selector fd, and releases it and the listener on SIGINT and SIGTERM`, async () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const srv = await startExample('skeleton', ['--backend', backend, '--port', '0']);
      try {
        const pid = srv.child.pid!;
        const m = /^selector fd: (\d+|none) /m.exec(srv.stdout());
        assert.ok(m, `prints its selector fd: ${srv.stdout()}`);
        if (backend === 'epoll') {
          assert.is(readlinkSync(`/proc/${pid}/fd/${m[1]}`), 'anon_inode:[eventpoll]', "the printed fd is the epoll object's");
        } else if (capabilities(backend).pollableKernelFd) {
          assert.is(readlinkSync(`/proc/${pid}/fd/${m[1]}`), 'anon_inode:[eventfd]', 'io_uring prints the eventfd its ring signals');
        } else {
          assert.is(m[1], 'none', `${backend} has no kernel object`);
        }
        // It serves: a client's bytes are read and its connection closed at EOF.
        const idle = srv.fdCount();
        const c = await connectRaw(srv.port);
        c.end('discard me');
        await new Promise((r) => c.once('close', r));
        assert.ok(await eventually(() => srv.fdCount() === idle), 'the connection was closed');
        const open = await connectRaw(srv.port); // one still open at the signal
        const { code, signal: sig } = await srv.stop(signal);
        open.destroy();
        assert.is(sig, null);
        assert.is(code, 0, srv.stderr());
        const released = /^released: selector fd (\d+|none), listener fd (\d+)$/m.exec(srv.stdout());
        assert.ok(released, `checked its own fds after the finally: ${srv.stdout()}`);
        assert.is(released[1], m[1]);
        // The port is free again.
        await new Promise<void>((resolve, reject) => {
          const probe = net.createServer().once('error', reject);
          probe.listen(srv.port, '127.0.0.1', () => probe.close(() => resolve()));
        });
      } finally {
        await srv.stop('SIGKILL');
      }
    }
  });

  test(`skeleton on ${backend}: an exception in the loop still runs the finally (--throw-after 1)`, async () => {
    const srv = await startExample('skeleton', ['--backend', backend, '--port', '0', '--throw-after', '1']);
    try {
      const c = await connectRaw(srv.port);
      await new Promise((r) => c.once('close', r)); // the server's finally closed it
      assert.ok(await eventually(() => srv.child.exitCode !== null), 'it exits by itself');
      const { code } = await srv.stop();
      assert.is(code, 1);
      assert.match(srv.stdout(), /^released: selector fd \S+, listener fd \d+$/m);
      const lines = srv.stderr().trim().split('\n');
      assert.is(lines.length, 1, `one line, no stack trace: ${srv.stderr()}`);
      assert.match(lines[0]!, /^skeleton: thrown after 1 connection/);
    } finally {
      await srv.stop('SIGKILL');
    }
  });

  test(`echo-async on ${backend}: the timer keeps ticking while a client is being served`, async () => {
    const srv = await startExample('echo-async', ['--backend', backend, '--port', '0', '--tick', '50']);
    try {
      const held = await connectRaw(srv.port);
      const echo = (text: string) =>
        new Promise<string>((resolve) => {
          let got = '';
          const onData = (d: Buffer) => {
            got += d.toString();
            if (got.length >= text.length) {
              held.off('data', onData);
              resolve(got);
            }
          };
          held.on('data', onData);
          held.write(text);
        });
      assert.is(await echo('first'), 'first');
      // While this connection is open and served, ticks report it.
      const ticksWith = () => [...srv.stdout().matchAll(/^tick (\d+): (\d+) connection\(s\)/gm)].filter((m) => Number(m[2]) >= 1).length;
      assert.ok(await eventually(() => ticksWith() >= 1, 10_000), `a tick while serving: ${srv.stdout()}`);
      assert.is(await echo('second'), 'second', 'still served after the tick');
      await echoOnce(srv.port, 300_000); // and others alongside
      held.destroy();
      const { code, signal } = await srv.stop('SIGINT');
      assert.is(signal, null);
      assert.is(code, 0, srv.stderr());
      assert.is(srv.stderr(), '');
    } finally {
      await srv.stop('SIGKILL');
    }
  });

  // Fairness under load: 8 clients that stream as fast as it echoes keep the server's fds ready at every wait(); its ticks must still
  // come (before wait() was fair: 1 to 3 of 10), and SIGINT must stop it at
  // once (before: 2 s). The bounds are loose: a tick every 100 ms, at least
  // half of them seen; the exit well inside a second.
  test(`echo-async on ${backend}: under 8 busy clients the ticks stay on time and SIGINT stops it at once`, async () => {
    const srv = await startExample('echo-async', ['--backend', backend, '--port', '0', '--tick', '100', '--max-pending', String(1 << 30)]);
    const clients: net.Socket[] = [];
    try {
      // Each client streams 64 KiB chunks as fast as the server takes them
      // and reads its echo: the server's fds are ready at every wait(). (The
      // queue cap is raised: a client that reads a little behind must not be
      // dropped.)
      let echoes = 0;
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      let streaming = true;
      for (let i = 0; i < 8; i++) {
        const c = await connectRaw(srv.port);
        const pump = () => {
          while (streaming && c.write(chunk));
        };
        c.on('data', (d: Buffer) => (echoes += d.length));
        c.on('drain', pump);
        c.on('error', () => {});
        pump();
        clients.push(c);
      }
      await new Promise((r) => setTimeout(r, 300));
      const ticks = () => [...srv.stdout().matchAll(/^tick (\d+):/gm)].length;
      const before = ticks();
      const busyFrom = echoes;
      await new Promise((r) => setTimeout(r, 1000));
      const during = ticks() - before;
      streaming = false;
      assert.ok(echoes - busyFrom > 1_000_000, `the clients were busy: ${echoes - busyFrom} bytes echoed in 1 s`);
      assert.ok(during >= 5, `${during} ticks in 1 s at one per 100 ms`);
      const t0 = performance.now();
      const { code, signal } = await srv.stop('SIGINT');
      const took = performance.now() - t0;
      assert.is(signal, null);
      assert.is(code, 0, srv.stderr());
      assert.ok(took < 1000, `SIGINT took ${took.toFixed(0)} ms to stop it`);
    } finally {
      for (const c of clients) c.destroy();
      await srv.stop('SIGKILL');
    }
  });
}

test('scaling prints a table and a bar chart per backend and points to pnpm bench (timings unchecked)', async () => {
  const backends = testBackends();
  const r = await run(['examples/scaling.mjs', '--sizes', '10,50,600', '--calls', '3']);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stderr, '');
  const lines = r.stdout.split('\n');
  assert.match(lines[0]!, /^one select\(\) with N idle socket pairs \+ 1 ready one: median of 3 calls, in µs$/);
  const header = lines[1]!.trim().split(/\s+/);
  assert.ok(header[0] === 'N' && header.length >= 2, lines[1]);
  const names = header.slice(1);
  for (const b of backends) assert.ok(names.includes(b), `a column for ${b}`);
  for (const [i, n] of [10, 50, 600].entries()) {
    const cells = lines[2 + i]!.trim().split(/\s+/);
    assert.is(cells[0], String(n));
    assert.is(cells.length, names.length + 1);
    for (const [j, v] of cells.slice(1).entries()) {
      // 600 pairs need fds past 1023: select cannot take part.
      if (names[j] === 'select' && n === 600) assert.is(v, '—');
      else assert.match(v, /^\d+\.\d$/, `${names[j]} at N=${n}: ${v}`);
    }
  }
  const bars = lines.filter((l) => /^(N=\d+)?\s+(select|poll|epoll|io_uring)\s+(#+ \d+\.\d|\(fds beyond FD_SETSIZE \d+\))$/.test(l));
  assert.is(bars.length, 3 * names.length, `one bar per size and backend:\n${r.stdout}`);
  assert.match(r.stdout, /pnpm bench/);
  const bad = await run(['examples/scaling.mjs', '--sizes', '10,x']);
  assert.is(bad.code, 2);
});

test('every child process started here has exited', () => {
  assert.is(liveCount(), 0);
});

test.run();
