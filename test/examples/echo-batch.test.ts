// examples/echo-batch.mjs (the batched mode) as a child process on every
// backend: the echo tests of echo.test.ts (50 concurrent clients 1 B .. 1 MiB
// get every byte back, vanishing clients disturb no one, every accepted fd is
// closed, SIGINT/SIGTERM exit 0), plus a client that reads nothing until it
// has sent 4 MiB, which forces the server through partial sends and AGAIN.
import { test } from 'uvu';
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import { testBackends } from '../helpers.ts';
import { assert, echoOnce, echoSizes, eventually, killAll, liveCount, startExample, vanishMidSend } from './harness.ts';

test.after(killAll);

/** Sends `size` bytes without reading, then reads the echo; resolves when it all came back intact. */
function lateReader(port: number, size: number): Promise<void> {
  const payload = randomBytes(size);
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const got: Buffer[] = [];
    let n = 0;
    const timer = setTimeout(() => done(new Error(`late reader: ${n} of ${size} bytes back in time`)), 60_000);
    function done(err?: Error) {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve();
    }
    sock.on('error', (err) => done(err));
    sock.pause(); // read nothing yet: the server's sends to us fall short
    sock.on('connect', () => {
      sock.write(payload, () => setTimeout(() => sock.resume(), 200));
    });
    sock.on('data', (d: Buffer) => {
      got.push(d);
      n += d.length;
      if (n > size) done(new Error(`late reader: got ${n} of ${size}`));
      else if (n === size) done(Buffer.concat(got).equals(payload) ? undefined : new Error('late reader: the echo came back different'));
    });
  });
}

for (const backend of testBackends()) {
  test(`echo-batch on ${backend}: 50 concurrent clients get every byte back; vanishing clients disturb no one`, async () => {
    const srv = await startExample('echo-batch', ['--backend', backend, '--port', '0']);
    try {
      assert.is(srv.backend, backend);
      assert.is(srv.host, '127.0.0.1');
      const idle = srv.fdCount();
      const clients = echoSizes().map((size, i) => echoOnce(srv.port, size, { halfClose: i % 3 === 0, piece: i % 4 === 1 ? 4096 : undefined }));
      const vandals = [
        vanishMidSend(srv.port, 1 << 20, 'reset'),
        vanishMidSend(srv.port, 256 * 1024, 'close'),
        vanishMidSend(srv.port, 64 * 1024, 'reset'),
      ];
      await Promise.all([...clients, ...vandals]);
      await echoOnce(srv.port, 1000); // still serving afterwards
      const settled = await eventually(() => srv.fdCount() === idle);
      assert.ok(settled, `server fds: ${srv.fdCount()}, idle: ${idle}`);
      const { code, signal } = await srv.stop('SIGINT');
      assert.is(signal, null, 'exits by itself, not killed by the signal');
      assert.is(code, 0, `exit code (stderr: ${srv.stderr()})`);
      assert.is(srv.stderr(), '', 'nothing on stderr');
    } finally {
      await srv.stop('SIGKILL');
    }
  });

  test(`echo-batch on ${backend}: a client that reads late gets its 4 MiB back intact (partial sends, AGAIN)`, async () => {
    const srv = await startExample('echo-batch', ['--backend', backend, '--port', '0']);
    try {
      await Promise.all([lateReader(srv.port, 4 << 20), echoOnce(srv.port, 5000), lateReader(srv.port, 1 << 20)]);
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
