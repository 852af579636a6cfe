#!/usr/bin/env node
// poll-flags: the echo server again, written the way the classic poll()
// program is: named flag sets, an fd -> socket map, and modify() to switch a
// connection between "read only" and "read and write".
//
// The flag values are poll(2)'s, and iomux uses those same bits on every
// backend, so this file runs unchanged on select, poll and epoll.
//
// Fixed from the classic: partial sends and EAGAIN, a capped queue
// (--max-pending), half-close (EOF: flush, then close), resets, HUP/ERR, and
// an `elif` chain that let a busy reader starve its own writes.
//
//   node examples/poll-flags.mjs --backend poll --port 10000
import { FD_SETSIZE, Socket, SystemError, constants, createSelector, raiseFdLimit } from '@iomux/core';
import { announce, exitOnSystemError, intFlag, serverArgs, warnOnce } from './lib/args.mjs';
import { stopOnSignals, turn } from './lib/signals.mjs';

const { POLLIN, POLLPRI, POLLOUT, POLLHUP, POLLERR, POLLNVAL } = constants.poll;

// The classic's flag sets. POLLHUP and POLLERR are "always reported" bits:
// poll(2) ignores them in a request and reports them anyway. Listing them
// documents what we are prepared to handle. POLLPRI (EPOLLPRI on epoll, the
// same bit) asks about urgent, out-of-band (MSG_OOB) data: what select()'s
// third list reports. Not errors; see the loop below.
const READ_ONLY = POLLIN | POLLPRI | POLLHUP | POLLERR;
const READ_WRITE = READ_ONLY | POLLOUT;
const TIMEOUT = 250; // milliseconds (Python's poll() takes milliseconds too)

const NAME = 'poll-flags';
const USAGE = '[--max-pending BYTES]';
const args = serverArgs(NAME, { 'max-pending': { type: 'string', default: String(4 * 1024 * 1024) } }, USAGE);
const MAX_PENDING = intFlag(NAME, 'max-pending', args['max-pending'], USAGE);

// socket, SO_REUSEADDR, bind, listen, setblocking(0): the classic's order.
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

const poller = createSelector(args.backend); // the only backend-specific line
poller.register(server, READ_ONLY);

const fdToSocket = new Map([[server.fileno(), server]]);
const messageQueues = new Map(); // fd -> { chunks: Buffer[], bytes, eof }

function close(fd) {
  poller.unregister(fd);
  fdToSocket.get(fd)?.close();
  fdToSocket.delete(fd);
  messageQueues.delete(fd);
  if (acceptPaused) {
    poller.register(server, READ_ONLY); // an fd is free again: accept again
    acceptPaused = false;
  }
}

// A failed recv/send (ECONNRESET, EPIPE: the peer vanished) ends that connection only.
function attempt(fd, fn) {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof SystemError)) throw err;
    close(fd);
    return undefined;
  }
}

function acceptAll() {
  for (let a = tryAccept(); a !== null; a = tryAccept()) {
    const [connection] = a;
    connection.setBlocking(false);
    try {
      poller.register(connection, READ_ONLY);
    } catch (err) {
      // select's fd_set holds fds 0..FD_SETSIZE-1 only.
      if (err.code !== 'ERR_FD_SETSIZE') throw err;
      connection.close();
      warnOnce('fdsetsize', `${NAME}: refusing connections with fd >= FD_SETSIZE (${FD_SETSIZE}); the select backend cannot watch them`);
      continue;
    }
    fdToSocket.set(connection.fileno(), connection);
    messageQueues.set(connection.fileno(), { chunks: [], bytes: 0, eof: false });
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
      poller.unregister(server);
      acceptPaused = true;
    }
    return null;
  }
}

function receive(fd, s, q) {
  const data = attempt(fd, () => s.recv(64 * 1024));
  if (data === undefined || data === null) return; // reset (closed) / nothing after all
  if (data.length === 0) {
    // Empty read: the client closed its side. Flush what is queued, then close.
    q.eof = true;
    if (q.bytes === 0) close(fd);
    else poller.modify(fd, POLLOUT);
    return;
  }
  q.chunks.push(data);
  q.bytes += data.length;
  if (q.bytes > MAX_PENDING) {
    warnOnce('max-pending', `${NAME}: dropping a peer that does not read its echo (more than ${MAX_PENDING} bytes pending)`);
    close(fd);
    return;
  }
  if (q.bytes === data.length) poller.modify(fd, READ_WRITE); // we now have output
}

function transmit(fd, s, q) {
  while (q.chunks.length > 0) {
    const sent = attempt(fd, () => s.send(q.chunks[0]));
    if (sent === undefined) return; // reset (closed)
    if (sent === null) return; // would block (EAGAIN): POLLOUT will tell us when
    q.bytes -= sent;
    if (sent < q.chunks[0].length) {
      q.chunks[0] = q.chunks[0].subarray(sent); // partial send: keep the rest
      return;
    }
    q.chunks.shift();
  }
  // Nothing left: stop asking about POLLOUT, or it would be reported on
  // every call (level-triggered) and the loop would spin.
  if (q.eof) close(fd);
  else poller.modify(fd, READ_ONLY);
}

// Signals run from Node's event loop, not during a blocking poll(), hence the
// finite TIMEOUT and the `await turn()` between calls.
const state = stopOnSignals();
announce(server, poller);
while (!state.stopping) {
  for (const [key, flag] of poller.select(TIMEOUT)) {
    const fd = key.fd;
    const s = fdToSocket.get(fd);
    if (!s) continue; // closed earlier in this batch
    if (s === server) {
      acceptAll();
      continue;
    }
    const q = messageQueues.get(fd);
    if (flag & (POLLERR | POLLNVAL)) {
      close(fd); // an error on the socket: nothing more to do with it
    } else if (flag & POLLPRI) {
      // Urgent (out-of-band) data: TCP's MSG_OOB byte, select()'s third
      // ("exceptional") list; not an error. We have no way to read it, and
      // POLLPRI would be reported again on every call: drop the connection.
      close(fd);
    } else if (flag & POLLIN) {
      // Readable: data, or EOF (recv returns an empty buffer), or a reset
      // (recv throws). POLLHUP may come with it; recv tells us which.
      receive(fd, s, q);
      if (flag & POLLOUT && fdToSocket.has(fd)) transmit(fd, s, q);
    } else if (flag & POLLHUP) {
      close(fd); // hung up with nothing left to read: the client is gone
    } else if (flag & POLLOUT) {
      transmit(fd, s, q);
    }
  }
  await turn();
}

for (const fd of [...messageQueues.keys()]) close(fd);
poller.close();
server.close();
