// examples/echo-batch.mjs (the batched mode) as a child process on every
// backend, beyond the echo battery it shares with the other echo servers in
// echo.test.ts: a client that reads nothing until it has sent 12 MiB (through
// a 4 KiB receive buffer), which forces the server through partial sends and
// AGAIN, and must still get every byte back in order.
import { test } from 'uvu';
import { randomBytes } from 'node:crypto';
import { Socket } from '@iomux/core';
import { sleep, testBackends } from '../helpers.ts';
import { assert, echoOnce, killAll, liveCount, startExample } from './harness.ts';

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
}

test('every child process started here has exited', () => {
  assert.is(liveCount(), 0);
});

test.run();
