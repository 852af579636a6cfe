#!/usr/bin/env node
// echo-queue: an echo server that keeps a queue of outgoing bytes per
// connection.
//
// Mirrors the classic select() echo server with its three lists: `inputs`
// (sockets to read), `outputs` (sockets with something to send) and
// `message_queues`. With a Selector those two lists become each socket's
// interest mask: EVENT_READ alone, or EVENT_READ | EVENT_WRITE while its
// queue holds bytes. Only the selector's construction names a backend, so
// this same file runs on select, poll and epoll.
//
// What the classic got wrong and this port fixes:
//   - send() may take only part of a message (a partial send), or nothing
//     (null, the EAGAIN case): we keep the rest queued and wait for EVENT_WRITE.
//   - the queue is capped (--max-pending): a peer that sends without ever
//     reading would otherwise make us buffer without bound. Past the cap we
//     drop it.
//   - a peer that half-closes (EOF) still gets its queued echo, then we close.
//   - a peer that resets (ECONNRESET, EPIPE) or reports HUP/ERR is dropped;
//     the others never notice.
//   - select() cannot watch an fd >= FD_SETSIZE (1024): such connections are
//     refused, with one line on stderr, instead of crashing the server.
//   - it passed `inputs` again as select()'s third list and handled what came
//     back as errors. That list is "exceptional conditions": out-of-band
//     (urgent, MSG_OOB) data, Events.PRI here, not errors. An error shows as
//     readable, and recv() then throws it; this server does not ask for PRI.
//
//   node examples/echo-queue.mjs --backend select --port 10000
import { EVENT_READ, EVENT_WRITE, Events, FD_SETSIZE, Socket, SystemError, createSelector, raiseFdLimit } from '@iomux/core';
import { announce, exitOnSystemError, intFlag, serverArgs, warnOnce } from './lib/args.mjs';
import { SIGNAL_CHECK_MS, stopOnSignals, turn } from './lib/signals.mjs';

const NAME = 'echo-queue';
const USAGE = '[--max-pending BYTES]';
const args = serverArgs(NAME, { 'max-pending': { type: 'string', default: String(4 * 1024 * 1024) } }, USAGE);
const MAX_PENDING = intFlag(NAME, 'max-pending', args['max-pending'], USAGE);

// The classic's first steps: socket, SO_REUSEADDR, bind, listen, non-blocking.
raiseFdLimit(Infinity); // serve more than the default 1024 fds (up to the hard limit)
const server = new Socket(args.host.includes(':') ? 'inet6' : 'inet', 'stream');
server.setReuseAddress(true); // restart at once even if old connections linger in TIME_WAIT
try {
  server.bind({ host: args.host, port: args.port });
} catch (err) {
  exitOnSystemError(NAME, `cannot listen on ${args.host}:${args.port}`, err);
}
server.listen(128);
server.setBlocking(false); // accept() returns null instead of blocking

const sel = createSelector(args.backend); // the only backend-specific line
sel.register(server, EVENT_READ);

// socket -> { chunks: Buffer[], bytes: number, eof: boolean }
const messageQueues = new Map();

function accept() {
  // Accept every connection waiting now (null: none left, the EAGAIN case).
  for (let a = tryAccept(); a !== null; a = tryAccept()) {
    const [conn] = a;
    conn.setBlocking(false);
    try {
      sel.register(conn, EVENT_READ);
    } catch (err) {
      // select() uses a fixed-size bitmap of FD_SETSIZE bits: it cannot watch
      // fd 1024 or above. Refuse this one; keep serving the others.
      if (err.code !== 'ERR_FD_SETSIZE') throw err;
      conn.close();
      warnOnce('fdsetsize', `${NAME}: refusing connections with fd >= FD_SETSIZE (${FD_SETSIZE}); the select backend cannot watch them`);
      continue;
    }
    messageQueues.set(conn, { chunks: [], bytes: 0, eof: false });
  }
}

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

function drop(conn) {
  sel.unregister(conn);
  conn.close();
  messageQueues.delete(conn);
  if (acceptPaused) {
    sel.register(server, EVENT_READ); // an fd is free again: accept again
    acceptPaused = false;
  }
}

// recv/send on a peer that vanished throws ECONNRESET or EPIPE: that is the
// peer's business, not a bug here, so it only ends that one connection.
function io(conn, fn) {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof SystemError)) throw err;
    drop(conn);
    return undefined;
  }
}

function onReadable(conn, q) {
  const data = io(conn, () => conn.recv(64 * 1024));
  if (data === undefined) return; // reset: dropped
  if (data === null) return; // spurious wake-up: nothing to read after all
  if (data.length === 0) {
    // EOF: the peer will send no more. Echo what is still queued, then close.
    q.eof = true;
    if (q.bytes === 0) drop(conn);
    else sel.modify(conn, EVENT_WRITE); // stop reading; keep writing
    return;
  }
  q.chunks.push(data);
  q.bytes += data.length;
  if (q.bytes > MAX_PENDING) {
    warnOnce('max-pending', `${NAME}: dropping a peer that does not read its echo (more than ${MAX_PENDING} bytes pending)`);
    drop(conn);
    return;
  }
  // "Add it to outputs": ask to hear about writability too.
  if (q.bytes === data.length) sel.modify(conn, EVENT_READ | EVENT_WRITE);
}

function onWritable(conn, q) {
  // Send as much as the kernel takes now. Unlike the classic, which sent one
  // message per wake-up and ignored send()'s return value, we keep whatever
  // was not taken.
  while (q.chunks.length > 0) {
    const n = io(conn, () => conn.send(q.chunks[0]));
    if (n === undefined) return; // reset: dropped
    if (n === null) return; // socket buffer full (EAGAIN): wait for the next EVENT_WRITE
    q.bytes -= n;
    if (n < q.chunks[0].length) {
      q.chunks[0] = q.chunks[0].subarray(n); // partial send: the buffer is full
      return;
    }
    q.chunks.shift();
  }
  // Queue empty: "remove it from outputs", or close after a half-close.
  if (q.eof) drop(conn);
  else sel.modify(conn, EVENT_READ);
}

// Signals: select() blocks this thread, and Node runs signal handlers only
// from its event loop, so we wait at most SIGNAL_CHECK_MS (250 ms) and let
// the loop turn between calls (lib/signals.mjs).
const state = stopOnSignals();
announce(server, sel);
while (!state.stopping) {
  for (const [key, events] of sel.select(SIGNAL_CHECK_MS)) {
    if (key.fileobj === server) {
      accept();
      continue;
    }
    const conn = key.fileobj;
    const q = messageQueues.get(conn);
    if (!q) continue; // closed earlier in this batch
    // HUP: the connection is gone both ways (a reset); ERR: it failed.
    // Either way nothing more can be echoed. (select never reports HUP; it
    // shows the same condition as readable, and recv() then says why.)
    if (events & (Events.ERR | Events.HUP | Events.NVAL)) {
      drop(conn);
      continue;
    }
    if (events & EVENT_READ) onReadable(conn, q);
    if (events & EVENT_WRITE && messageQueues.has(conn)) onWritable(conn, q);
  }
  await turn();
}

for (const conn of [...messageQueues.keys()]) drop(conn);
sel.close();
server.close();
