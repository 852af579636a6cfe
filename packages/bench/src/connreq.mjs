#!/usr/bin/env node
// Connection per request: what a registration costs when every
// connection lives for one request. A server loop (one blocking select(),
// level-triggered) accepts, registers, reads one 64 B request, answers it,
// unregisters and closes; `--conns` clients each run `--requests` such
// connections back to back. The server runs in a child process and reports
// its own CPU time (user + system) per connection; the clients' time is not
// counted. io_uring's register() makes no system call (the request goes in
// with the next wait); epoll's is one epoll_ctl.
//
//   node packages/bench/src/connreq.mjs [--backends epoll,io_uring] [--conns 20] [--requests 500] [--rounds 3]
//
// One line per backend and round: JSON { backend, round, connections, serverCpuNsPerConn, wallMs }.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { backends, createSelector, Events, raiseFdLimit } from '@iomux/core';
import { opt } from './flags.mjs';
import { loopbackListener } from './listener.mjs';

if (process.argv[2] === '--serve') {
  const backend = /** @type {import('@iomux/core').BackendName} */ (process.argv[3]);
  raiseFdLimit(65536);
  const sel = createSelector(backend);
  const listener = loopbackListener();
  sel.register(listener, Events.IN, null);
  sel.register(0, Events.IN, 'stdin'); // EOF on stdin: report and exit
  console.log(`port ${/** @type {{ port: number }} */ (listener.localAddress()).port}`);
  const buf = new Uint8Array(4096);
  const start = process.cpuUsage();
  let served = 0;
  for (;;) {
    for (const [key] of sel.select(null)) {
      if (key.data === 'stdin') {
        const cpu = process.cpuUsage(start);
        console.log(JSON.stringify({ served, cpuNs: (cpu.user + cpu.system) * 1000 }));
        process.exit(0);
      }
      if (key.data === null) {
        for (let acc = listener.accept(); acc !== null; acc = listener.accept()) {
          acc[0].setBlocking(false);
          sel.register(acc[0], Events.IN, acc[0]);
        }
        continue;
      }
      const sock = /** @type {import('@iomux/core').Socket} */ (key.data);
      const n = sock.recvInto(buf);
      if (n === null) continue;
      if (n > 0) sock.send(buf.subarray(0, n));
      sel.unregister(sock);
      sock.close();
      served++;
    }
  }
}

const want = opt('--backends', 'epoll,io_uring').split(',');
const conns = Number(opt('--conns', '20'));
const requests = Number(opt('--requests', '500'));
const rounds = Number(opt('--rounds', '3'));
const msg = Buffer.alloc(64, 'x');

/** One client: `requests` connections in a row, each one request and its answer. */
function client(port) {
  return new Promise((resolve, reject) => {
    let left = requests;
    const next = () => {
      if (left-- === 0) return resolve(undefined);
      const c = net.connect(port, '127.0.0.1', () => c.write(msg));
      c.once('data', () => c.end());
      c.once('close', next);
      c.once('error', reject);
    };
    next();
  });
}

for (let round = 1; round <= rounds; round++) {
  for (const backend of want) {
    if (!backends().includes(/** @type {any} */ (backend))) {
      console.log(JSON.stringify({ backend, skipped: 'not available here' }));
      continue;
    }
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve', backend], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    const port = await new Promise((resolve) => {
      const check = () => {
        const m = /^port (\d+)$/m.exec(out);
        if (m) resolve(Number(m[1]));
        else setTimeout(check, 5);
      };
      check();
    });
    const t0 = performance.now();
    await Promise.all(Array.from({ length: conns }, () => client(port)));
    const wallMs = performance.now() - t0;
    child.stdin.end();
    await new Promise((r) => child.once('exit', r));
    const { served, cpuNs } = JSON.parse(/** @type {string} */ (/^\{.*\}$/m.exec(out)?.[0]));
    console.log(JSON.stringify({ backend, round, connections: served, serverCpuNsPerConn: Math.round(cpuNs / served), wallMs: Math.round(wallMs) }));
  }
}
