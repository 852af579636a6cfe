#!/usr/bin/env node
// A lean iomux echo server for the echo benchmark, written for speed: one
// blocking select() loop, recvInto() a reusable 64 KiB buffer and send() a
// cached view of it (no per-message allocation once every length was seen);
// a short write parks the rest and waits for OUT. Prints "listening on 127.0.0.1:<port> backend=B"; exits
// when stdin reaches EOF (the harness closes it) or on SIGTERM.
//
//   node echo-iomux.mjs --backend epoll|poll|select [--api percall|into|batch]
//
// --api percall: select() -> Ready[]; into: selectInto() a reusable
// ReadyList; batch: Batch.run() receives every ready connection in the same
// native call, and each echo is queued with sendRange() (no copy) to go out
// at the start of the next pass.
import { BatchResult, createSelector, Events, raiseFdLimit, ReadyList } from '@iomux/core';
import { opt } from './flags.mjs';
import { loopbackListener } from './listener.mjs';

const backend = /** @type {import('@iomux/core').BackendName} */ (opt('--backend', 'epoll'));
const api = opt('--api', 'percall');
if (!['percall', 'into', 'batch'].includes(api)) {
  console.error('echo-iomux.mjs: --api percall, into or batch');
  process.exit(2);
}
raiseFdLimit(65536);

/** @type {import('@iomux/core').Selector<any>} */ // data: LISTENER, STDIN or a connection
const sel = createSelector(backend);
const listener = loopbackListener();
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

function acceptAll(onConn) {
  for (let r = listener.accept(); r !== null; r = listener.accept()) {
    const s = r[0];
    s.setBlocking(false);
    s.setNoDelay(true);
    const conn = { sock: s, pending: null, ticket: -1, length: 0 };
    sel.register(s, Events.IN, conn);
    onConn?.(conn);
  }
}

// The rare path of every variant: the rest of a short send, once OUT says so.
function flushPending(conn) {
  try {
    const m = conn.sock.send(conn.pending);
    if (m === null) return;
    if (m < conn.pending.length) conn.pending = conn.pending.subarray(m);
    else {
      conn.pending = null;
      sel.modify(conn.sock, Events.IN, conn);
    }
  } catch {
    drop(conn); // ECONNRESET, EPIPE: the peer went away
  }
}

function serveOne(conn) {
  if (conn === LISTENER) return acceptAll();
  if (conn === STDIN) process.exit(0);
  if (conn.pending !== null) return flushPending(conn);
  try {
    const n = conn.sock.recvInto(buf);
    if (n === null) return;
    if (n === 0) return drop(conn);
    const view = views[n] ?? (views[n] = buf.subarray(0, n));
    const m = conn.sock.send(view);
    if (m === null || m < n) {
      conn.pending = Buffer.from(buf.subarray(m ?? 0, n)); // rare: the socket buffer is full
      sel.modify(conn.sock, Events.OUT, conn);
    }
  } catch {
    drop(conn);
  }
}

function loopBatch() {
  const batch = sel.batch({ recvBytes: 1 << 20 });
  let flushing = []; // connections with an echo in the last flush
  let queued = []; // ... and in the next one
  const onConn = (conn) => batch.setRecv(conn.sock, 65536);
  for (;;) {
    const n = batch.run(null);
    const swap = flushing;
    flushing = queued;
    queued = swap;
    queued.length = 0;
    for (let k = 0; k < flushing.length; k++) {
      const conn = flushing[k];
      const r = batch.sent(conn.ticket);
      if (r !== conn.length && r !== BatchResult.CANCELLED /* dropped meanwhile */) {
        if (r === BatchResult.ERROR) drop(conn); // EPIPE, ECONNRESET
        else {
          conn.pending = Buffer.from(batch.unsent(conn.ticket)); // rare: the socket buffer is full
          sel.modify(conn.sock, Events.OUT, conn);
        }
      }
      conn.ticket = -1;
    }
    for (let k = 0; k < n; k++) {
      const conn = batch.key(k).data;
      if (conn === LISTENER) acceptAll(onConn);
      else if (conn === STDIN) process.exit(0);
      else if (conn.pending !== null) flushPending(conn);
      else {
        const got = batch.bytes(k);
        if (got > 0) {
          conn.ticket = batch.sendRange(conn.sock, batch.offset(k), got);
          conn.length = got;
          queued.push(conn);
        } else if (got === 0 || got === BatchResult.ERROR) drop(conn); // EOF, ECONNRESET
      }
    }
  }
}

if (api === 'percall') {
  for (;;) {
    const ready = sel.select(null);
    for (let k = 0; k < ready.length; k++) serveOne(ready[k][0].data);
  }
} else if (api === 'into') {
  const list = new ReadyList();
  for (;;) {
    const n = sel.selectInto(list, null);
    for (let k = 0; k < n; k++) serveOne(list.key(k).data);
  }
} else {
  loopBatch();
}
