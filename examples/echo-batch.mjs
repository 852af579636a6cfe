#!/usr/bin/env node
// echo-batch: the echo-queue server (same protocol, same guarantees) written
// on the batched mode: one native call per loop pass.
//
// batch.run() does, in one call into the addon: the sends queued during the
// last pass (in order), the wait (like select()), and one recv for every
// ready connection, into slices of one reusable buffer. JS only decides what
// to send. An echo of a fresh slice is queued with sendRange(), which points
// at the received bytes instead of copying them.
//
// What the batch reports, and what this server does with it:
//   - per connection: the events and what the recv gave: bytes (echo them),
//     0 (EOF: echo what is still queued, then close), ERROR (ECONNRESET and
//     friends: drop that connection; the others never notice).
//   - per queued send: the bytes the kernel took. A partial send or AGAIN is
//     a normal result: the rest (batch.unsent(t)) goes back to the head of
//     that connection's queue, and EVENT_WRITE is switched on until it drains.
//     Nothing is ever dropped silently.
//   - the queue is capped (--max-pending), as in echo-queue.
//   - select() cannot watch an fd >= FD_SETSIZE: such connections are refused.
//
//   pnpm example echo-batch --backend epoll --port 10000
import { BatchResult, EVENT_READ, EVENT_WRITE, Events, FD_SETSIZE, Socket, SystemError, createSelector, raiseFdLimit } from '@iomux/core';
import { announce, exitOnSystemError, intFlag, serverArgs, warnOnce } from './lib/args.mjs';
import { SIGNAL_CHECK_MS, stopOnSignals, turn } from './lib/signals.mjs';

const NAME = 'echo-batch';
const USAGE = '[--max-pending BYTES]';
const args = serverArgs(NAME, { 'max-pending': { type: 'string', default: String(4 * 1024 * 1024) } }, USAGE);
const MAX_PENDING = intFlag(NAME, 'max-pending', args['max-pending'], USAGE);
const RECV_BYTES = 64 * 1024; // per connection and pass

raiseFdLimit(Infinity); // serve more than the default 1024 fds (up to the hard limit)
const server = new Socket(args.host.includes(':') ? 'inet6' : 'inet', 'stream');
server.setReuseAddress(true);
try {
  server.bind({ host: args.host, port: args.port });
} catch (err) {
  exitOnSystemError(NAME, `cannot listen on ${args.host}:${args.port}`, err);
}
server.listen(128);
server.setBlocking(false);

/** @type {import('@iomux/core').Selector<any>} */ // data: LISTENER or a connection
const sel = createSelector(args.backend); // the only backend-specific line
const batch = sel.batch({ recvBytes: 1024 * 1024 }); // what one pass may receive in total
const LISTENER = { listener: true };
sel.register(server, EVENT_READ, LISTENER);

// A connection: bytes waiting to be queued (chunks), the one send in flight
// (ticket, length), whether the peer half-closed, and its interest mask.
const conns = new Set();
let flushing = []; // connections whose send went out in the last run()
let queued = []; // connections with a send queued for the next one

// Out of fds (EMFILE), accept() fails but the connection stays queued, so the
// listener stays readable and a level-triggered loop would spin on it. Stop
// watching the listener until one of our connections closes (drop()).
let acceptPaused = false;
function tryAccept() {
  try {
    return server.accept();
  } catch (err) {
    if (!(err instanceof SystemError)) throw err;
    if (err.code !== 'EMFILE' && err.code !== 'ENFILE') warnOnce(err.code, `${NAME}: accept failed: ${err.message}`);
    else {
      warnOnce(err.code, `${NAME}: out of file descriptors (${err.code}); not accepting until a connection closes`);
      sel.unregister(server);
      acceptPaused = true;
    }
    return null;
  }
}

function accept() {
  for (let a = tryAccept(); a !== null; a = tryAccept()) {
    const [sock] = a;
    sock.setBlocking(false);
    const conn = { sock, chunks: [], bytes: 0, ticket: -1, inFlight: 0, eof: false, interest: EVENT_READ, closed: false };
    try {
      sel.register(sock, EVENT_READ, conn);
    } catch (err) {
      if (err.code !== 'ERR_FD_SETSIZE') throw err;
      sock.close();
      warnOnce('fdsetsize', `${NAME}: refusing connections with fd >= FD_SETSIZE (${FD_SETSIZE}); the select backend cannot watch them`);
      continue;
    }
    batch.setRecv(sock, RECV_BYTES);
    conns.add(conn);
  }
}

function drop(conn) {
  if (conn.closed) return;
  conn.closed = true;
  sel.unregister(conn.sock); // also cancels a send still queued for it
  conn.sock.close();
  conns.delete(conn);
  if (acceptPaused) {
    sel.register(server, EVENT_READ, LISTENER); // an fd is free again: accept again
    acceptPaused = false;
  }
}

// The interest mask follows the state: read until EOF, write while bytes
// wait; a half-closed connection with nothing left closes.
function settle(conn) {
  if (conn.closed) return;
  const pending = conn.bytes > 0 || conn.ticket >= 0;
  if (conn.eof && !pending) return drop(conn);
  if (conn.bytes + conn.inFlight > MAX_PENDING) {
    warnOnce('max-pending', `${NAME}: dropping a peer that does not read its echo (more than ${MAX_PENDING} bytes pending)`);
    return drop(conn);
  }
  const want = (conn.eof ? 0 : EVENT_READ) | (conn.bytes > 0 ? EVENT_WRITE : 0);
  if (want !== 0 && want !== conn.interest) {
    sel.modify(conn.sock, want, conn);
    conn.interest = want;
  }
}

function queue(conn, ticket, length) {
  conn.ticket = ticket;
  conn.inFlight = length;
  queued.push(conn);
}

// What the last flush did with each connection's send.
function collectSends() {
  const swap = flushing;
  flushing = queued;
  queued = swap;
  queued.length = 0;
  for (const conn of flushing) {
    const t = conn.ticket;
    conn.ticket = -1;
    conn.inFlight = 0;
    if (conn.closed) continue; // CANCELLED: dropped meanwhile
    const r = batch.sent(t);
    if (r === BatchResult.ERROR) {
      drop(conn); // EPIPE, ECONNRESET: the peer went away
      continue;
    }
    const rest = batch.unsent(t); // empty when r took it all
    if (rest.length > 0) {
      // Partial, AGAIN (or SKIPPED): the rest goes first, before newer bytes.
      conn.chunks.unshift(Buffer.from(rest));
      conn.bytes += rest.length;
    }
    settle(conn);
  }
}

function onReady(conn, i) {
  const events = batch.events(i);
  // HUP: gone both ways (a reset); ERR: failed. Nothing more can be echoed.
  // (select never reports HUP; it shows the condition as readable, and the
  // recv then says why.)
  if (events & (Events.ERR | Events.HUP | Events.NVAL)) return drop(conn);
  const got = batch.bytes(i);
  if (got > 0) {
    if (conn.bytes === 0 && conn.ticket < 0) {
      // The fast path: echo the slice where it lies.
      queue(conn, batch.sendRange(conn.sock, batch.offset(i), got), got);
    } else {
      conn.chunks.push(Buffer.from(batch.data(i))); // behind what is still waiting
      conn.bytes += got;
    }
  } else if (got === 0) {
    conn.eof = true; // EOF: echo what is still queued, then close
  } else if (got === BatchResult.ERROR) {
    return drop(conn); // ECONNRESET and friends
  }
  if (events & EVENT_WRITE && conn.bytes > 0 && conn.ticket < 0) {
    const data = conn.chunks.length === 1 ? conn.chunks[0] : Buffer.concat(conn.chunks);
    conn.chunks = [];
    conn.bytes = 0;
    queue(conn, batch.send(conn.sock, data), data.length);
  }
  settle(conn);
}

// Signals: run() blocks this thread like select(), so wait at most
// SIGNAL_CHECK_MS and let Node's event loop turn between passes.
const state = stopOnSignals();
announce(server, sel);
while (!state.stopping) {
  const n = batch.run(SIGNAL_CHECK_MS);
  collectSends();
  for (let i = 0; i < n; i++) {
    const conn = batch.key(i).data;
    if (conn === LISTENER) accept();
    else if (!conn.closed) onReady(conn, i);
  }
  await turn();
}

for (const conn of [...conns]) drop(conn);
sel.close();
server.close();
