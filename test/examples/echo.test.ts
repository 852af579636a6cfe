// The echo examples, run as child processes on every backend they support:
// 50 concurrent clients (1 B .. 1 MiB) get every byte back in order, clients
// that vanish mid-send do not disturb the others, the server closes what it
// accepted, and it exits with code 0 on SIGINT/SIGTERM.
import { test } from 'uvu';
import { backends, capabilities } from '@iomux/core';
import * as net from 'node:net';
import { newFds, testBackends } from '../helpers.ts';
import { assert, echoOnce, echoSizes, eventually, killAll, liveCount, startExample, vanishMidSend } from './harness.ts';

const servers: { name: string; extra: string[]; backends: string[] }[] = [
  { name: 'echo-queue', extra: [], backends: backends() },
  { name: 'poll-flags', extra: [], backends: backends() },
  { name: 'epoll-edge-echo', extra: ['--mode', 'level'], backends: backends() },
  { name: 'epoll-edge-echo', extra: ['--mode', 'edge'], backends: backends().filter((b) => capabilities(b).edge) },
  { name: 'echo-async', extra: [], backends: backends() },
  { name: 'echo-batch', extra: [], backends: backends() },
];

test.after(killAll);

for (const { name, extra, backends } of servers) {
  for (const backend of testBackends().filter((b) => backends.includes(b))) {
    const label = `${name}${extra.length ? ' ' + extra.join(' ') : ''} on ${backend}`;

    test(`${label}: 50 concurrent clients get every byte back; vanishing clients disturb no one`, async () => {
      const srv = await startExample(name, ['--backend', backend, '--port', '0', ...extra]);
      try {
        assert.is(srv.backend, backend);
        assert.is(srv.host, '127.0.0.1');
        const idle = srv.fds();
        const sizes = echoSizes();
        const clients = sizes.map((size, i) =>
          echoOnce(srv.port, size, { halfClose: i % 3 === 0, piece: i % 4 === 1 ? 4096 : undefined }),
        );
        const vandals = [
          vanishMidSend(srv.port, 1 << 20, 'reset'),
          vanishMidSend(srv.port, 256 * 1024, 'close'),
          vanishMidSend(srv.port, 64 * 1024, 'reset'),
        ];
        await Promise.all([...clients, ...vandals]);
        await echoOnce(srv.port, 1000); // still serving afterwards
        // Every connection it accepted is closed again.
        const left = () => [...newFds(idle, srv.fds()).values()];
        const settled = await eventually(() => left().length === 0);
        assert.ok(settled, `server fds still open since it was idle: ${left().join(', ')}`);
        const { code, signal } = await srv.stop('SIGINT');
        assert.is(signal, null, 'exits by itself, not killed by the signal');
        assert.is(code, 0, `exit code (stderr: ${srv.stderr()})`);
        assert.is(srv.stderr(), '', 'nothing on stderr');
      } finally {
        await srv.stop('SIGKILL');
      }
    });

    test(`${label}: SIGTERM with connections open exits 0`, async () => {
      const srv = await startExample(name, ['--backend', backend, '--port', '0', ...extra]);
      const sock = net.connect({ host: '127.0.0.1', port: srv.port });
      sock.on('error', () => {});
      try {
        await new Promise((r) => sock.once('connect', r));
        await echoOnce(srv.port, 10);
        const ended = new Promise((r) => sock.once('close', r));
        const { code, signal } = await srv.stop('SIGTERM');
        assert.is(signal, null);
        assert.is(code, 0);
        await ended; // the server closed the connection it held
      } finally {
        sock.destroy();
        await srv.stop('SIGKILL');
      }
    });
  }
}

test('every child process started here has exited', () => {
  assert.is(liveCount(), 0);
});

test.run();
