// The echo servers' limits, which the reliability work relies on: a peer
// that never reads is dropped once its pending echo passes --max-pending,
// and on the select backend connections whose fd >= FD_SETSIZE are refused
// with one line on stderr while the others keep being served.
import { test } from 'uvu';
import * as net from 'node:net';
import { FD_SETSIZE, backends, capabilities, raiseFdLimit } from '@iomux/core';
import { testBackends } from '../helpers.ts';
import { assert, echoOnce, eventually, killAll, liveCount, startExample } from './harness.ts';

test.after(killAll);

const ECHO: [string, string[], string[]][] = [
  ['echo-queue', [], backends()],
  ['poll-flags', [], backends()],
  ['epoll-edge-echo', ['--mode', 'level'], backends()],
  ['epoll-edge-echo', ['--mode', 'edge'], backends().filter((b) => capabilities(b).edge)],
  ['echo-async', [], backends()],
];

/** Connects and resolves once connected. */
function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Writes `text` on an open connection and resolves with the echo. */
function roundTrip(s: net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (d: Buffer) => {
      got += d.toString();
      if (got.length >= text.length) {
        s.off('data', onData);
        resolve(got);
      }
    };
    s.on('data', onData);
    s.once('error', reject);
    s.write(text);
  });
}

for (const [name, extra, supported] of ECHO) {
  for (const backend of testBackends().filter((b) => supported.includes(b))) {
    const label = `${name}${extra.length ? ' ' + extra.join(' ') : ''} on ${backend}`;

    test(`${label}: a peer that never reads is dropped past --max-pending; others are served`, async () => {
      const srv = await startExample(name, ['--backend', backend, '--port', '0', '--max-pending', String(256 * 1024), ...extra]);
      try {
        const hog = await connect(srv.port);
        hog.pause(); // never read: the echo piles up in the kernel, then in the server
        hog.on('error', () => {});
        const closed = new Promise((r) => hog.once('close', r));
        const chunk = Buffer.alloc(1 << 20, 0x61);
        // Write until the server gives up on us (at most 64 MiB).
        let written = 0;
        let done = false;
        void closed.then(() => (done = true));
        while (!done && written < 64 << 20) {
          const ok = hog.write(chunk);
          written += chunk.length;
          if (!ok) await new Promise((r) => { hog.once('drain', r); hog.once('close', r); });
        }
        assert.ok(done || (await eventually(() => hog.destroyed, 20_000)), 'the server dropped the hog');
        await echoOnce(srv.port, 100_000); // everyone else is fine
        assert.match(srv.stderr(), /dropping a peer that does not read/);
        assert.is(srv.stderr().trim().split('\n').length, 1, 'one line on stderr');
        const { code } = await srv.stop('SIGINT');
        assert.is(code, 0);
      } finally {
        await srv.stop('SIGKILL');
      }
    });
  }
}

// select() cannot watch fd >= FD_SETSIZE. Fill the server's fd table past it.
const limit = raiseFdLimit(4 * FD_SETSIZE);
if (testBackends().includes('select') && limit >= 2 * FD_SETSIZE + 200) {
  for (const [name, extra, supported] of ECHO) {
    if (!supported.includes('select')) continue;
    test(`${name} on select: connections with fd >= FD_SETSIZE are refused, logged once, others served`, async () => {
      const srv = await startExample(name, ['--backend', 'select', '--port', '0', ...extra]);
      const crowd: net.Socket[] = [];
      try {
        const first = await connect(srv.port);
        crowd.push(first);
        assert.is(await roundTrip(first, 'first'), 'first');
        let refused = 0;
        // Enough connections to push the server's fds past FD_SETSIZE.
        const want = FD_SETSIZE + 50 - srv.fdCount();
        for (let i = 0; i < want; i += 100) {
          const batch = await Promise.all(Array.from({ length: Math.min(100, want - i) }, () => connect(srv.port)));
          for (const s of batch) {
            s.on('error', () => {});
            s.once('close', () => refused++);
            crowd.push(s);
          }
        }
        assert.ok(await eventually(() => refused > 0, 20_000), 'some connections were refused (closed by the server)');
        assert.is(await roundTrip(first, 'still here'), 'still here', 'an early connection is still served');
        const lines = srv.stderr().trim().split('\n');
        assert.is(lines.length, 1, `one line on stderr, not one per connection: ${srv.stderr()}`);
        assert.match(lines[0]!, /FD_SETSIZE/);
        // Free the fds: the server serves new connections again.
        for (const s of crowd) s.destroy();
        crowd.length = 0;
        await eventually(() => srv.fdCount() < 100, 20_000);
        await echoOnce(srv.port, 10_000);
        const { code } = await srv.stop('SIGINT');
        assert.is(code, 0);
      } finally {
        for (const s of crowd) s.destroy();
        await srv.stop('SIGKILL');
      }
    });
  }
}

test('every child process started here has exited', () => {
  assert.is(liveCount(), 0);
});

test.run();
