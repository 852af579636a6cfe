// trace, echo-client, the `pnpm example` runner, and the flags' error paths.
import { test } from 'uvu';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { testBackends } from '../helpers.ts';
import { startServer } from '../../scripts/lib/child.mjs';
import { ROOT, assert, echoOnce, eventually, killAll, liveCount, run, startExample, startScript } from './harness.ts';

test.after(killAll);

const PAIR = /\((\d+), ([A-Z|0-9x]+)\)/g;

for (const backend of testBackends()) {
  test(`trace on ${backend}: follows the classic step by step, [(L, IN)] -> [(C, IN)] -> [(C, OUT)] -> [(C, HUP)]`, async () => {
    const srv = await startExample('trace', ['--backend', backend, '--port', '0']);
    try {
      // A browser-like visit, with the classic's bare-LF request ("\n\n"):
      // request, read the whole response, see the server close.
      const reply = await new Promise<string>((resolve, reject) => {
        const s = net.connect({ host: '127.0.0.1', port: srv.port });
        let got = '';
        s.setEncoding('latin1');
        s.on('error', reject);
        s.on('data', (d: string) => (got += d));
        s.on('end', () => {
          s.end();
          resolve(got);
        });
        s.on('connect', () => s.write('GET / HTTP/1.1\nHost: localhost\n\n'));
      });
      assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
      assert.ok(reply.endsWith('Hello from trace!\n'));
      const lines = () => srv.stdout().split('\n').slice(1).filter(Boolean);
      const reports = () => lines().filter((l) => !l.startsWith('#') && l !== '[]');
      // select cannot report HUP (nor watch for it alone): it sees IN (EOF).
      const last = backend === 'select' ? 'IN' : 'HUP';
      assert.ok(await eventually(() => reports().length >= 4), `four reports: ${lines().join(' ')}`);
      for (const l of lines()) assert.match(l, /^(\[\]|# .*|\[\(\d+, [A-Z|0-9x]+\)(, \(\d+, [A-Z|0-9x]+\))*\])$/, `line format: ${l}`);
      const steps = reports().slice(0, 4).map((l) => {
        const m = [...l.matchAll(PAIR)];
        assert.is(m.length, 1, `one (fd, events) pair per step: ${l}`);
        return [Number(m[0]![1]), m[0]![2]!] as const;
      });
      const [L, C] = [steps[0]![0], steps[1]![0]];
      assert.ok(L >= 3 && C !== L, 'the listener, then a new fd for the connection');
      assert.equal(steps, [[L, 'IN'], [C, 'IN'], [C, 'OUT'], [C, last]], 'the classic\'s (3, 1) (5, 1) (5, 4) (5, 16)');
      if (backend === 'select') assert.ok(lines().some((l) => l.startsWith('# select')), 'a note where select differs');
      else assert.not.ok(lines().some((l) => l.startsWith('#')), 'no note on poll and epoll');
      // After the hang-up the connection is gone: the next timeout prints [].
      assert.ok(await eventually(() => lines().at(-1) === '[]', 5000), `[] after the close: ${lines().join(' ')}`);
      const { code } = await srv.stop('SIGTERM');
      assert.is(code, 0);
    } finally {
      await srv.stop('SIGKILL');
    }
  });

  test(`echo-client against echo-queue on ${backend}: every typed byte comes back`, async () => {
    const srv = await startExample('echo-queue', ['--backend', backend, '--port', '0']);
    try {
      const input = 'hello\nworld\n' + randomBytes(150_000).toString('base64') + '\nbye\n';
      const r = await run(['examples/echo-client.mjs', '--port', String(srv.port), '--backend', backend], input, 30_000);
      assert.is(r.code, 0, r.stderr);
      assert.is(r.stdout.length, input.length);
      assert.ok(r.stdout === input, 'echo equals input');
    } finally {
      await srv.stop('SIGKILL');
    }
  });
}

test('epoll-edge-echo --mode edge on select and poll exits non-zero with a clear message', async () => {
  for (const backend of ['select', 'poll']) {
    const r = await run(['examples/epoll-edge-echo.mjs', '--backend', backend, '--port', '0', '--mode', 'edge']);
    assert.is(r.code, 2, `${backend}: ${r.stderr}`);
    assert.match(r.stderr, /--mode edge needs the epoll backend/);
    assert.is(r.stdout, '', 'never announced itself');
  }
});

test('epoll-edge-echo without --mode: edge on epoll, level (and working) on select and poll', async () => {
  for (const backend of testBackends()) {
    const srv = await startExample('epoll-edge-echo', ['--backend', backend, '--port', '0']);
    try {
      await echoOnce(srv.port, 200_000);
      const { code } = await srv.stop('SIGTERM');
      assert.is(code, 0);
      assert.is(srv.stderr(), '');
    } finally {
      await srv.stop('SIGKILL');
    }
  }
});

test('bad flags: exit 2 with a usage line', async () => {
  for (const args of [['--backend', 'kqueue'], ['--port', 'x'], ['--nope'], ['--max-pending', '0']]) {
    const r = await run(['examples/echo-queue.mjs', ...args]);
    assert.is(r.code, 2, args.join(' '));
    assert.match(r.stderr, /usage:|must be/);
  }
  const r = await run(['examples/http-static.mjs', '--root', '/nonexistent/dir']);
  assert.is(r.code, 2);
});

test('scripts/example.mjs lists the examples and exits 1 without a known name', async () => {
  for (const args of [[], ['no-such-example']]) {
    const r = await run(['scripts/example.mjs', ...args]);
    assert.is(r.code, 1);
    for (const name of ['echo-queue', 'poll-flags', 'epoll-edge-echo', 'http-hello', 'http-static', 'echo-client', 'trace', 'level-vs-edge', 'skeleton', 'echo-async', 'scaling']) {
      assert.ok(r.stderr.includes(`  ${name}\n`), `lists ${name}`);
    }
  }
});

test('scripts/example.mjs runs an example with the remaining flags', async () => {
  const srv = await startScript('scripts/example.mjs', ['poll-flags', '--backend', 'poll', '--port', '0']);
  try {
    assert.is(srv.backend, 'poll');
    await echoOnce(srv.port, 5000);
    const { code, signal } = await srv.stop('SIGINT');
    assert.is(signal, null);
    assert.is(code, 0);
  } finally {
    await srv.stop('SIGKILL');
  }
});

test('pnpm example NAME --backend poll --port 0 prints the ready line on stdout', async () => {
  // pnpm runs the script through a shell: the supervisor starts it in its own
  // process group and stops the whole group.
  const srv = await startServer('pnpm', ['--silent', 'example', 'http-hello', '--backend', 'poll', '--port', '0'], {
    cwd: ROOT,
    detached: true,
    readyTimeoutMs: 30_000,
  });
  try {
    assert.is(srv.host, '127.0.0.1');
    assert.is(srv.backend, 'poll');
    assert.is(await (await fetch(`http://127.0.0.1:${srv.port}/`)).text(), 'Hello from iomux!\n');
  } finally {
    await srv.stop('SIGTERM');
  }
});

test('every child process started here has exited', () => {
  assert.is(liveCount(), 0);
});

test.run();
