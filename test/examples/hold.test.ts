// Servers that hold: what a course reader found by hand with curl, nc and a
// raw socket. A bare-LF request is answered; a request body is skipped, not
// read as the next request; a malformed request gets a 400 with a 400's
// body; idle connections are closed; bad flags and bind/connect failures are
// one line and a non-zero exit, never a stack trace.
import { test } from 'uvu';
import * as net from 'node:net';
import { testBackends } from '../helpers.ts';
import { startServer } from '../../scripts/lib/child.mjs';
import { ROOT, assert, eventually, get, httpExchange, killAll, liveCount, run, startExample } from './harness.ts';
import { connectRaw, parseResponses, rawExchange, slowKeepAlive } from './raw.ts';

test.after(killAll);

const HTTP = ['http-hello', 'http-static'];
const SERVERS = ['echo-queue', 'poll-flags', 'epoll-edge-echo', 'http-hello', 'http-static', 'trace', 'skeleton', 'echo-async'];

// A request that looks like a request, hidden in a POST body.
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
const POST = `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`;
// The last request of an exchange: the server closes after answering it.
const LAST = 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';

for (const backend of testBackends()) {
  for (const name of HTTP) {
    test(`${name} on ${backend}: bare LF, bodies skipped by Content-Length, 400 with a 400's body, 411 for chunked`, async () => {
      const srv = await startExample(name, ['--backend', backend, '--port', '0']);
      try {
        // The classic's EOL1: lines ending in a bare "\n", the head in "\n\n".
        const lf = await httpExchange(srv.port, [{ text: 'GET / HTTP/1.1\nHost: x\n\n' }, get('/')], 10_000);
        assert.equal(lf.responses.map((r) => r.status), [200, 200], 'bare-LF request answered; keep-alive intact');
        assert.not.ok(lf.closed);
        // POST + body (which looks like a request) + a real GET, in one write,
        // the GET asking the server to close after it: exactly two answers,
        // 405 for the POST and 200 for the GET, then the close.
        const post = await rawExchange(srv.port, POST + LAST);
        const answers = parseResponses(post.data);
        assert.equal(answers.map((r) => r.status), [405, 200], `the body is not a request: ${JSON.stringify(post.data.slice(0, 300))}`);
        assert.is(answers[0]!.headers.get('allow'), 'GET, HEAD');
        assert.ok(post.closed);
        // The body in a later write than its head.
        const split = await rawExchange(srv.port, [POST.slice(0, -10), POST.slice(-10) + LAST]);
        assert.equal(parseResponses(split.data).map((r) => r.status), [405, 200]);
        // Garbage: a 400 whose body says 400, then the close.
        const garbage = await rawExchange(srv.port, 'GARBAGE\r\n\r\n');
        const bad = parseResponses(garbage.data);
        assert.is(bad.length, 1, garbage.data);
        assert.is(bad[0]!.status, 400);
        assert.is(bad[0]!.body, '400 Bad Request\n');
        assert.ok(garbage.closed, 'closed after a 400');
        // A body with no length up front: refused, then the close.
        const chunked = await rawExchange(srv.port, 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
        assert.equal(parseResponses(chunked.data).map((r) => r.status), [411]);
        assert.ok(chunked.closed);
        const { code } = await srv.stop('SIGINT');
        assert.is(code, 0);
        assert.is(srv.stderr(), '');
      } finally {
        await srv.stop('SIGKILL');
      }
    });
  }
}

for (const backend of testBackends()) {
  for (const name of [...HTTP, 'trace']) {
    test(`${name} on ${backend}: --idle-timeout closes idle connections; active ones stay`, async () => {
      const srv = await startExample(name, ['--backend', backend, '--port', '0', '--idle-timeout', '600']);
      try {
        const idleFds = srv.fdCount();
        const silent = await connectRaw(srv.port);
        const partial = await connectRaw(srv.port);
        partial.write('GET / HTTP/1.1\r\nHost: x\r\n'); // never finished
        const closed = (s: net.Socket) => new Promise<void>((r) => s.once('close', () => r()));
        const both = Promise.all([closed(silent), closed(partial)]);
        // Meanwhile a keep-alive client asks every 150 ms for twice the
        // timeout: each request resets its deadline, so it is never cut off.
        // (trace answers once per connection, as the classic does.)
        if (name !== 'trace') assert.is(await slowKeepAlive(srv.port, 8, 150), 8, 'the active connection was served throughout');
        assert.ok(await eventually(() => silent.destroyed && partial.destroyed, 10_000), 'the idle connections were closed by the server');
        await both;
        assert.ok(await eventually(() => srv.fdCount() === idleFds), 'their fds were released');
        const { code } = await srv.stop('SIGTERM');
        assert.is(code, 0);
      } finally {
        await srv.stop('SIGKILL');
      }
    });
  }
}

test('bad --port values exit 2 with the same usage line as --help, on every server', async () => {
  for (const name of SERVERS) {
    const help = await run([`examples/${name}.mjs`, '--help']);
    assert.is(help.code, 0, `${name} --help`);
    const usage = help.stdout.trim();
    assert.match(usage, /^usage: /);
    // Every server: hex, an empty value, an unknown flag. The shared parser's
    // other refusals once (they are the same code for all).
    const cases = [['--port', '0x50'], ['--port='], ['--nope']];
    if (name === 'echo-queue') cases.push(['--port', '1e3'], ['--port', '65536'], ['--port', '-1'], ['--port', ' 80'], ['--backend', 'kqueue']);
    for (const args of cases) {
      const r = await run([`examples/${name}.mjs`, ...args]);
      assert.is(r.code, 2, `${name} ${args.join(' ')}: ${r.stderr}`);
      assert.is(r.stdout, '', 'never started');
      const lines = r.stderr.trim().split('\n');
      assert.is(lines.length, 2, `${name} ${args.join(' ')}: the error and the usage line: ${r.stderr}`);
      assert.is(lines[1], usage, 'the usage line is the --help line');
    }
  }
});

/** A port something is listening on (EADDRINUSE for the examples). */
function occupied(): Promise<net.Server> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
}

test('bind failures are one line and exit 1: EADDRINUSE, EADDRNOTAVAIL, host not found', async () => {
  const busy = await occupied();
  const port = (busy.address() as net.AddressInfo).port;
  try {
    for (const name of SERVERS) {
      for (const [args, why] of [
        [['--port', String(port)], /EADDRINUSE/],
        [['--host', '192.0.2.1'], /EADDRNOTAVAIL/], // TEST-NET-1: never an address of this machine
        [['--host', 'nonexistent.invalid'], /host not found/],
      ] as const) {
        const r = await run([`examples/${name}.mjs`, ...args]);
        assert.is(r.code, 1, `${name} ${args.join(' ')}: ${r.stderr}`);
        assert.is(r.stdout, '');
        const lines = r.stderr.trim().split('\n');
        assert.is(lines.length, 1, `one line, no stack trace: ${r.stderr}`);
        assert.match(lines[0]!, new RegExp(`^${name}: cannot listen on `));
        assert.match(lines[0]!, why);
      }
    }
  } finally {
    busy.close();
  }
});

test('echo-client parses flags like the servers, before connecting; ECONNREFUSED is one line', async () => {
  // A port with nothing listening: connecting there is refused.
  const gone = await occupied();
  const port = String((gone.address() as net.AddressInfo).port);
  await new Promise((r) => gone.close(r));
  const help = await run(['examples/echo-client.mjs', '--help']);
  assert.is(help.code, 0);
  const usage = help.stdout.trim();
  assert.match(usage, /^usage: node examples\/echo-client\.mjs /);
  for (const args of [['--nope'], ['--port', port, '--backend', 'kqueue'], ['--port', '0x50'], [], ['--port', port, 'extra']]) {
    const r = await run(['examples/echo-client.mjs', ...args]);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.is(lines.length, 2, r.stderr);
    assert.is(lines[1], usage);
    assert.not.match(r.stderr, /ECONNREFUSED|connected/, 'flags are checked before connecting');
  }
  for (const [args, why] of [
    [['--port', port], /ECONNREFUSED/],
    [['--port', port, '--host', 'nonexistent.invalid'], /host not found/],
  ] as const) {
    const r = await run(['examples/echo-client.mjs', ...args]);
    assert.is(r.code, 1, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.is(lines.length, 1, `one line, no stack trace: ${r.stderr}`);
    assert.match(lines[0]!, /^echo-client: cannot connect to /);
    assert.match(lines[0]!, why);
  }
});

test("pnpm example NAME -- --port 0 works, and Ctrl-C (SIGINT to the group) exits 0 without pnpm's ELIFECYCLE", async () => {
  // Detached: pnpm, its shell and the example form their own process group,
  // as a terminal's foreground job, and every signal goes to the whole group.
  const srv = await startServer('pnpm', ['example', 'http-hello', '--', '--backend', 'poll', '--port', '0'], {
    cwd: ROOT,
    detached: true,
    readyTimeoutMs: 30_000,
  });
  try {
    assert.is(srv.backend, 'poll', 'the flags after -- reached the example');
    assert.is(await (await fetch(`http://127.0.0.1:${srv.port}/`)).text(), 'Hello from iomux!\n');
    const { code, signal } = await srv.stop('SIGINT'); // what Ctrl-C does
    assert.is(signal, null);
    assert.is(code, 0, `pnpm's exit code (stderr: ${srv.stderr()})`);
    assert.not.match(srv.stderr(), /ELIFECYCLE/);
  } finally {
    await srv.stop('SIGKILL');
  }
});

test('every child process started here has exited', () => {
  assert.is(liveCount(), 0);
});

test.run();
