#!/usr/bin/env node
// echo-async: the queue-per-connection echo server (echo-queue) written the
// Node way: `for await (const ready of sel)`, which is `await sel.wait()` in
// a loop, instead of a blocking `sel.select()`.
//
// What wait() buys: select() blocks the JavaScript thread, so while it waits
// nothing else in this process runs: no timers, no other I/O, no signal
// handlers (the other servers wait at most 250 ms and then yield, just to
// notice Ctrl-C). wait() never blocks the event loop (the loop itself sleeps
// until a socket is ready, on an epoll set; select and poll then take the
// result with their own call), and even when fds are ready at every call it
// lets the loop turn at least every 64 results, so here a timer prints a
// status line every --tick ms while the server serves busy clients, and a
// signal simply closes the selector, which ends the `for await` loop at once.
//
// The multiplexing is echo-queue's: EVENT_READ always, EVENT_WRITE only while
// a queue holds bytes, partial sends kept, queues capped (--max-pending).
//
//   node examples/echo-async.mjs --backend poll --port 10000 --tick 1000
import { EVENT_READ, EVENT_WRITE, Events, FD_SETSIZE, Socket, SystemError, createSelector, raiseFdLimit } from '@iomux/core';
import { announce, exitOnSystemError, intFlag, serverArgs, warnOnce } from './lib/args.mjs';

const NAME = 'echo-async';
const USAGE = '[--tick MS] [--max-pending BYTES]';
const args = serverArgs(NAME, { tick: { type: 'string', default: '1000' }, 'max-pending': { type: 'string', default: String(4 * 1024 * 1024) } }, USAGE);
const TICK_MS = intFlag(NAME, 'tick', args.tick, USAGE);
const MAX_PENDING = intFlag(NAME, 'max-pending', args['max-pending'], USAGE);

// socket, SO_REUSEADDR, bind, listen, setblocking(0): as in the classic.
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

const messageQueues = new Map(); // socket -> { chunks: Buffer[], bytes, eof }
let echoed = 0;

function drop(conn) {
  sel.unregister(conn);
  conn.close();
  messageQueues.delete(conn);
  if (acceptPaused) {
    sel.register(server, EVENT_READ); // an fd is free again: accept again
    acceptPaused = false;
  }
}

function accept() {
  for (let a = tryAccept(); a !== null; a = tryAccept()) {
    const [conn] = a;
    conn.setBlocking(false);
    try {
      sel.register(conn, EVENT_READ);
    } catch (err) {
      if (err.code !== 'ERR_FD_SETSIZE') throw err; // select: fds >= FD_SETSIZE do not fit an fd_set
      conn.close();
      warnOnce('fdsetsize', `${NAME}: refusing connections with fd >= FD_SETSIZE (${FD_SETSIZE}); the select backend cannot watch them`);
      continue;
    }
    messageQueues.set(conn, { chunks: [], bytes: 0, eof: false });
  }
}

// accept(), or null when no one is waiting (EAGAIN). Out of fds (EMFILE) the
// connection stays queued and the listener readable, so a level-triggered
// loop would spin: stop watching the listener until a connection closes.
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

function onReadable(conn, q) {
  const data = conn.recv(64 * 1024);
  if (data === null) return; // nothing after all (EAGAIN)
  if (data.length === 0) {
    // EOF: echo what is still queued, then close.
    q.eof = true;
    if (q.bytes === 0) drop(conn);
    else sel.modify(conn, EVENT_WRITE);
    return;
  }
  q.chunks.push(data);
  q.bytes += data.length;
  if (q.bytes > MAX_PENDING) {
    warnOnce('max-pending', `${NAME}: dropping a peer that does not read its echo (more than ${MAX_PENDING} bytes pending)`);
    drop(conn);
    return;
  }
  if (q.bytes === data.length) sel.modify(conn, EVENT_READ | EVENT_WRITE); // now there is output
}

function onWritable(conn, q) {
  while (q.chunks.length > 0) {
    const n = conn.send(q.chunks[0]);
    if (n === null) return; // socket buffer full (EAGAIN): wait for EVENT_WRITE
    q.bytes -= n;
    echoed += n;
    if (n < q.chunks[0].length) {
      q.chunks[0] = q.chunks[0].subarray(n); // partial send: keep the rest
      return;
    }
    q.chunks.shift();
  }
  if (q.eof) drop(conn);
  else sel.modify(conn, EVENT_READ); // nothing to send: stop asking for EVENT_WRITE
}

// The timer a blocking select() loop would freeze.
let ticks = 0;
const timer = setInterval(() => {
  ticks++;
  console.log(`tick ${ticks}: ${messageQueues.size} connection(s), ${echoed} bytes echoed`);
}, TICK_MS);

// close() resolves the pending wait() with [] and ends the loop below.
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => sel.close());

// The ready line once the first wait() is pending (it sets up what it waits
// with: an epoll set that libuv watches, or an io_uring eventfd).
setImmediate(() => announce(server, sel));
try {
  for await (const ready of sel) {
    for (const [key, events] of ready) {
      if (key.fileobj === server) {
        accept();
        continue;
      }
      const conn = key.fileobj;
      const q = messageQueues.get(conn);
      if (!q) continue; // closed earlier in this batch
      try {
        if (events & (Events.ERR | Events.HUP | Events.NVAL)) {
          drop(conn); // reset or failed: nothing more can be echoed
          continue;
        }
        if (events & EVENT_READ) onReadable(conn, q);
        if (events & EVENT_WRITE && messageQueues.has(conn)) onWritable(conn, q);
      } catch (err) {
        if (!(err instanceof SystemError)) throw err;
        drop(conn); // ECONNRESET, EPIPE: that peer vanished; the others carry on
      }
    }
  }
} finally {
  clearInterval(timer);
  for (const conn of messageQueues.keys()) conn.close();
  sel.close();
  server.close();
}
