// examples/echo-batch.mjs (the batched mode) as a child process on every
// backend: the echo tests of echo.test.ts (50 concurrent clients 1 B .. 1 MiB
// get every byte back, vanishing clients disturb no one, every accepted fd is
// closed, SIGINT/SIGTERM exit 0), plus a client that reads nothing until it
// has sent 12 MiB (through a 4 KiB receive buffer), which forces the server through partial sends and AGAIN.
import { test } from 'uvu';
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import { Socket } from '@iomux/core';
import { newFds, sleep, testBackends } from '../helpers.ts';
import { assert, echoOnce, echoSizes, eventually, killAll, liveCount, startExample, vanishMidSend } from './harness.ts';

test.after(killAll);

/**
 * Sends `size` bytes without reading, through a 4 KiB receive buffer, then
 * reads the echo: the server's sends to it must fall short and wait.
 */
async function lateReader(port: number, size: number): Promise<void> {
  const payload = randomBytes(size);
  const sock = new Socket('inet');
  try {
    sock.setBufferSizes({ receive: 4096 });
    sock.connect({ host: '127.0.0.1', port });
    sock.setBlocking(false);
    const end = Date.now() + 60_000;
    for (let off = 0; off < size; ) {
      const n = sock.send(payload.subarray(off));
      if (n === null) await sleep(2);
      else off += n;
      assert.ok(Date.now() < end, `late reader: sent only ${off} of ${size}`);
    }
    await sleep(100);
    const got: Buffer[] = [];
    let n = 0;
    let quietSince = Date.now();
    while (n < size) {
      const d = sock.recv(1 << 20);
      if (d === null) await sleep(1);
      else if (d.length === 0) break;
      else {
        got.push(d);
        n += d.length;
        quietSince = Date.now();
      }
      assert.ok(Date.now() < end && Date.now() - quietSince < 5000, `late reader: ${n} of ${size} bytes back (the echo stalled)`);
    }
    assert.is(n, size);
    assert.ok(Buffer.concat(got).equals(payload), 'the echo came back intact, in order');
  } finally {
    sock.close();
  }
}

for (const backend of testBackends()) {
  test(`echo-batch on ${backend}: 50 concurrent clients get every byte back; vanishing clients disturb no one`, async () => {
    const srv = await startExample('echo-batch', ['--backend', backend, '--port', '0']);
    try {
      assert.is(srv.backend, backend);
      assert.is(srv.host, '127.0.0.1');
      const idle = srv.fds();
      const clients = echoSizes().map((size, i) => echoOnce(srv.port, size, { halfClose: i % 3 === 0, piece: i % 4 === 1 ? 4096 : undefined }));
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

  test(`echo-batch on ${backend}: a client that reads late gets its 12 MiB back intact (partial sends, AGAIN)`, async () => {
    // More than the server's send buffer can hold (tcp_wmem tops out at 4 MiB).
    const srv = await startExample('echo-batch', ['--backend', backend, '--port', '0', '--max-pending', String(64 << 20)]);
    try {
      await Promise.all([lateReader(srv.port, 12 << 20), echoOnce(srv.port, 5000), lateReader(srv.port, 1 << 20)]);
      const { code } = await srv.stop('SIGTERM');
      assert.is(code, 0, `exit code (stderr: ${srv.stderr()})`);
    } finally {
      await srv.stop('SIGKILL');
    }
  });

  test(`echo-batch on ${backend}: SIGTERM with connections open exits 0`, async () => {
    const srv = await startExample('echo-batch', ['--backend', backend, '--port', '0']);
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

test('every child process started here has exited', () => {
  assert.is(liveCount(), 0);
});

test.run();
