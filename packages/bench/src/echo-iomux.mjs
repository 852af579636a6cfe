#!/usr/bin/env node
// A lean iomux echo server for the echo benchmark, written for speed: one
// blocking select() loop, recvInto() a reusable 64 KiB buffer and send() a
// cached view of it (no per-message allocation once every length was seen);
// a short write parks the rest and waits for OUT. Prints "listening on 127.0.0.1:<port> backend=B"; exits
// when stdin reaches EOF (the harness closes it) or on SIGTERM.
//
//   node echo-iomux.mjs --backend epoll|poll|select
import { createSelector, Events, raiseFdLimit, Socket } from '@iomux/core';

const i = process.argv.indexOf('--backend');
const backend = /** @type {import('@iomux/core').BackendName} */ (i >= 0 ? process.argv[i + 1] : 'epoll');
raiseFdLimit(65536);

/** @type {import('@iomux/core').Selector<any>} */ // data: LISTENER, STDIN or a connection
const sel = createSelector(backend);
const listener = new Socket('inet', 'stream');
listener.setReuseAddress(true);
listener.bind({ host: '127.0.0.1', port: 0 });
listener.listen(4096);
listener.setBlocking(false);
const LISTENER = { kind: 'listener' };
const STDIN = { kind: 'stdin' };
sel.register(listener, Events.IN, LISTENER);
try {
  sel.register(0, Events.IN, STDIN); // a pipe from the harness; not when stdin is a file
} catch {}
process.stdout.write(`listening on 127.0.0.1:${/** @type {{ port: number }} */ (listener.localAddress()).port} backend=${backend}\n`);

const buf = Buffer.allocUnsafe(65536);
const views = new Array(buf.length + 1); // views[n] = buf.subarray(0, n), made once

function drop(conn) {
  sel.unregister(conn.sock);
  conn.sock.close();
}

for (;;) {
  const ready = sel.select(null);
  for (let k = 0; k < ready.length; k++) {
    const conn = ready[k][0].data;
    if (conn === LISTENER) {
      for (let r = listener.accept(); r !== null; r = listener.accept()) {
        const s = r[0];
        s.setBlocking(false);
        s.setNoDelay(true);
        sel.register(s, Events.IN, { sock: s, pending: null });
      }
    } else if (conn === STDIN) {
      process.exit(0);
    } else {
      try {
        if (conn.pending !== null) {
          const m = conn.sock.send(conn.pending);
          if (m === null) continue;
          if (m < conn.pending.length) conn.pending = conn.pending.subarray(m);
          else {
            conn.pending = null;
            sel.modify(conn.sock, Events.IN, conn);
          }
          continue;
        }
        const n = conn.sock.recvInto(buf);
        if (n === null) continue;
        if (n === 0) {
          drop(conn);
          continue;
        }
        const view = views[n] ?? (views[n] = buf.subarray(0, n));
        const m = conn.sock.send(view);
        if (m === null || m < n) {
          conn.pending = Buffer.from(buf.subarray(m ?? 0, n)); // rare: the socket buffer is full
          sel.modify(conn.sock, Events.OUT, conn);
        }
      } catch {
        drop(conn); // ECONNRESET, EPIPE: the peer went away
      }
    }
  }
}
