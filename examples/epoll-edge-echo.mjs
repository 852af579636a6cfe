#!/usr/bin/env node
// epoll-edge-echo: an echo server in level- or edge-triggered mode.
//
// Level-triggered (--mode level; the default on select and poll): the
// selector reports a socket as long as it is readable/writable. Read once
// per report; if data is left, you will hear about it again.
//
// Edge-triggered (--mode edge; epoll only, where it is the default): EPOLLET
// reports a socket when it *becomes* readable/writable, once. So every
// report must be drained: read until recv() returns null (EAGAIN), accept
// until accept() returns null, write until send() returns null or the queue
// is empty. Stop early and the
// rest waits silently, possibly forever, because no new edge will come.
// In exchange, a socket is registered once, for IN and OUT, and never
// modified again. (EPOLLONESHOT, from the same family of flags, goes further:
// report once, then stay silent until modify() re-arms it, so that threads
// sharing one epoll set never get the same socket at once.)
//
// Mirrors the classic epoll echo servers (register with EPOLLIN | EPOLLET,
// read until EAGAIN, switch to EPOLLOUT to echo back), with their flaws
// fixed: a send loop that ignored EAGAIN, unbounded buffering, resets and
// half-closes.
//
//   node examples/epoll-edge-echo.mjs --mode edge --port 10000
import { FD_SETSIZE, Socket, SystemError, constants, createSelector, raiseFdLimit } from '@iomux/core';
import { announce, exitOnSystemError, fail, intFlag, serverArgs, warnOnce } from './lib/args.mjs';
import { SIGNAL_CHECK_MS, stopOnSignals, turn } from './lib/signals.mjs';

const { EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLET } = constants.epoll;

const NAME = 'epoll-edge-echo';
const USAGE = '[--mode level|edge] [--max-pending BYTES]';
const args = serverArgs(NAME, { mode: { type: 'string' }, 'max-pending': { type: 'string', default: String(4 * 1024 * 1024) } }, USAGE);
const MAX_PENDING = intFlag(NAME, 'max-pending', args['max-pending'], USAGE);
if (args.mode !== undefined && args.mode !== 'level' && args.mode !== 'edge') fail(NAME, `--mode must be level or edge, got '${args.mode}'`, USAGE);

const ep = createSelector(args.backend); // the only backend-specific line
// Without --mode: edge where the backend has it (epoll), level elsewhere.
const EDGE = (args.mode ?? (ep.capabilities.edge ? 'edge' : 'level')) === 'edge';
const LISTEN = EDGE ? EPOLLIN | EPOLLET : EPOLLIN;

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
server.setBlocking(false); // edge mode requires it: accept until null, never block
try {
  ep.register(server, LISTEN);
} catch (err) {
  if (err.code !== 'ERR_UNSUPPORTED') throw err;
  // select() and poll() have no edge-triggered mode: they report levels only.
  ep.close();
  server.close();
  fail(NAME, `--mode edge needs the epoll backend; ${ep.backend} is level-triggered only (use --backend epoll, or --mode level)`, USAGE);
}

// Interest masks. In edge mode a connection watches IN and OUT from the
// start: an OUT edge arrives only when a full send buffer drains, so it
// costs nothing while we have nothing to send.
const WATCH_READ = EDGE ? EPOLLIN | EPOLLOUT | EPOLLET : EPOLLIN;
const WATCH_BOTH = EDGE ? WATCH_READ : EPOLLIN | EPOLLOUT;
const WATCH_WRITE = EDGE ? WATCH_READ : EPOLLOUT;

const connections = new Map(); // fd -> { sock, chunks: Buffer[], bytes, eof }

function close(c) {
  ep.unregister(c.sock);
  c.sock.close();
  connections.delete(c.fd);
  if (acceptPaused) {
    ep.register(server, LISTEN); // an fd is free again: accept again
    acceptPaused = false;
  }
}

function acceptAll() {
  // Edge mode: several connections may share one edge, so loop until null.
  // (Harmless and cheaper in level mode too.)
  for (let a = tryAccept(); a !== null; a = tryAccept()) {
    const [sock] = a;
    sock.setBlocking(false); // edge mode requires it: a blocking read would hang the loop
    try {
      ep.register(sock, WATCH_READ);
    } catch (err) {
      if (err.code !== 'ERR_FD_SETSIZE') throw err; // select's fd_set ends at FD_SETSIZE
      sock.close();
      warnOnce('fdsetsize', `${NAME}: refusing connections with fd >= FD_SETSIZE (${FD_SETSIZE}); the select backend cannot watch them`);
      continue;
    }
    connections.set(sock.fileno(), { fd: sock.fileno(), sock, chunks: [], bytes: 0, eof: false });
  }
}

// accept(), or null when no one is waiting (EAGAIN). Out of fds (EMFILE) the
// connection stays queued, so stop watching the listener until one of ours
// closes: level mode would spin on it, edge mode would never hear of it again.
let acceptPaused = false;
function tryAccept() {
  try {
    return server.accept();
  } catch (err) {
    if (!(err instanceof SystemError)) throw err;
    if (err.code !== 'EMFILE' && err.code !== 'ENFILE') warnOnce(err.code, `${NAME}: accept failed: ${err.message}`);
    else {
      warnOnce(err.code, `${NAME}: out of file descriptors (${err.code}); not accepting until a connection closes`);
      ep.unregister(server);
      acceptPaused = true;
    }
    return null;
  }
}

// Returns false if the connection was closed (a reset: ECONNRESET/EPIPE).
function guarded(c, fn) {
  try {
    fn();
    return true;
  } catch (err) {
    if (!(err instanceof SystemError)) throw err;
    close(c);
    return false;
  }
}

// Sends until the queue is empty or send() returns null (EAGAIN).
// Returns true if everything queued was sent.
function flush(c) {
  while (c.chunks.length > 0) {
    const n = c.sock.send(c.chunks[0]);
    if (n === null) return false;
    c.bytes -= n;
    if (n < c.chunks[0].length) c.chunks[0] = c.chunks[0].subarray(n);
    else c.chunks.shift();
  }
  return true;
}

function onReadable(c) {
  // Level: one recv per report. Edge: recv until null, echoing as we go so
  // the queue stays small.
  do {
    const data = c.sock.recv(64 * 1024);
    if (data === null) break; // EAGAIN: drained (the edge is consumed)
    if (data.length === 0) {
      c.eof = true; // EOF: no more input; echo the rest, then close
      break;
    }
    c.chunks.push(data);
    c.bytes += data.length;
    flush(c);
    if (c.bytes > MAX_PENDING) {
      warnOnce('max-pending', `${NAME}: dropping a peer that does not read its echo (more than ${MAX_PENDING} bytes pending)`);
      close(c);
      return;
    }
  } while (EDGE);
  afterIo(c);
}

function onWritable(c) {
  flush(c);
  afterIo(c);
}

// Decides what to watch next. In edge mode nothing changes: we are already
// watching everything, and an edge will come when there is something to do.
function afterIo(c) {
  const empty = c.chunks.length === 0;
  if (empty && c.eof) return close(c); // half-closed and fully echoed: done
  if (EDGE) return;
  // Level mode: ask for OUT only while something waits to be sent, or every
  // call would report the (almost always) writable socket and the loop spin.
  if (c.eof) ep.modify(c.sock, WATCH_WRITE);
  else ep.modify(c.sock, empty ? WATCH_READ : WATCH_BOTH); // same mask: no system call
}

const state = stopOnSignals();
announce(server, ep);
// select()/epoll_wait() block the thread; signal handlers run between calls,
// so wait at most SIGNAL_CHECK_MS and yield to Node's event loop after each.
while (!state.stopping) {
  for (const [key, events] of ep.select(SIGNAL_CHECK_MS)) {
    if (key.fileobj === server) {
      acceptAll();
      continue;
    }
    const c = connections.get(key.fd);
    if (!c) continue; // closed earlier in this batch
    if (events & (EPOLLERR | EPOLLHUP)) {
      close(c); // reset or failed: the peer is gone both ways
      continue;
    }
    if (events & EPOLLIN && !guarded(c, () => onReadable(c))) continue;
    if (events & EPOLLOUT && connections.has(c.fd)) guarded(c, () => onWritable(c));
  }
  await turn();
}

for (const c of [...connections.values()]) close(c);
ep.close();
server.close();
