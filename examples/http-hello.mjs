#!/usr/bin/env node
// http-hello: the smallest HTTP server worth the name. GET and HEAD get
// "Hello from iomux!".
//
// Mirrors the classic epoll "Hello from Epoll server!" responder. Each
// connection moves between two interests:
//   IN  - collect bytes until the blank line that ends a request's headers;
//   OUT - send the response, as much as the socket takes per report;
// and back to IN once the response is out, ready for the next request on
// the same connection (keep-alive: Content-Length tells the client where a
// response ends, so the connection can stay open).
//
// Fixed from the classic: responses sent in pieces when send() is partial,
// EAGAIN, a cap on request size, resets, HUP/ERR, and it no longer shuts the
// connection down after each response. Also:
//   - a request body is skipped by its Content-Length, so a body is never
//     read as the next request (other methods than GET/HEAD get 405; a body
//     without a length, chunked, gets 411 and the connection closes);
//   - a malformed request gets a 400 with a 400's body, then the close;
//   - a line may end in "\n" alone (the classic's EOL1 "\n\n"), not only "\r\n";
//   - a connection idle for --idle-timeout ms is closed. That deadline is
//     what decides how long select() may wait (see nextTimeout()).
//
//   node examples/http-hello.mjs --port 8080    then open http://127.0.0.1:8080/
import { Events, FD_SETSIZE, Socket, SystemError, createSelector, raiseFdLimit } from '@iomux/core';
import { announce, exitOnSystemError, intFlag, serverArgs, warnOnce } from './lib/args.mjs';
import { SIGNAL_CHECK_MS, stopOnSignals, turn } from './lib/signals.mjs';

const NAME = 'http-hello';
const USAGE = '[--idle-timeout MS]';
const HELLO = Buffer.from('Hello from iomux!\n');
const MAX_HEAD = 16 * 1024; // bytes of request line + headers we are willing to hold
const MAX_BODY = 1024 * 1024; // request bodies we skip; larger ones get 413

const args = serverArgs(NAME, { 'idle-timeout': { type: 'string', default: '30000' } }, USAGE);
const IDLE_MS = intFlag(NAME, 'idle-timeout', args['idle-timeout'], USAGE);

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

const ep = createSelector(args.backend); // the only backend-specific line
ep.register(server, Events.IN);

// fd -> { fd, sock, request: Buffer (received, not yet answered), skip: body
// bytes still to discard, response: Buffer, close: boolean, deadline: ms }.
// Kept in order of last activity (touch() moves a connection to the end),
// so the first entry is always the next one to time out.
const connections = new Map();

function touch(c) {
  c.deadline = Date.now() + IDLE_MS;
  connections.delete(c.fd);
  connections.set(c.fd, c);
}

function drop(c) {
  ep.unregister(c.sock);
  c.sock.close();
  connections.delete(c.fd);
  if (acceptPaused) {
    ep.register(server, Events.IN); // an fd is free again: accept again
    acceptPaused = false;
  }
}

function acceptAll() {
  for (let a = tryAccept(); a !== null; a = tryAccept()) {
    const [sock] = a;
    sock.setBlocking(false);
    sock.setNoDelay(true); // send small responses at once (no Nagle delay)
    try {
      ep.register(sock, Events.IN);
    } catch (err) {
      if (err.code !== 'ERR_FD_SETSIZE') throw err; // select can only watch fds below FD_SETSIZE
      sock.close();
      warnOnce('fdsetsize', `${NAME}: refusing connections with fd >= FD_SETSIZE (${FD_SETSIZE}); the select backend cannot watch them`);
      continue;
    }
    touch({ fd: sock.fileno(), sock, request: Buffer.alloc(0), skip: 0, response: null, close: false, deadline: 0 });
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
      ep.unregister(server);
      acceptPaused = true;
    }
    return null;
  }
}

function respond(c, status, body, extra = '') {
  const header =
    `HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n${extra}` +
    (c.close ? 'Connection: close\r\n' : '') +
    '\r\n';
  c.response = Buffer.concat([Buffer.from(header, 'latin1'), c.head ? Buffer.alloc(0) : body]);
}

// Parses one request head and prepares its response; sets c.skip to the
// length of a body to discard before the next request.
function answer(c, head) {
  const [requestLine, ...lines] = head.split(/\r?\n/);
  const m = /^([A-Z]+) \S+ HTTP\/1\.([01])$/.exec(requestLine);
  const headers = new Map();
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i <= 0) return badRequest(c);
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    // Two different lengths would let two parsers disagree where the body ends.
    if (name === 'content-length' && headers.has(name) && headers.get(name) !== value) return badRequest(c);
    headers.set(name, value);
  }
  if (!m) return badRequest(c);
  const [, method, minor] = m;
  c.head = method === 'HEAD';
  // HTTP/1.1 keeps the connection open unless told otherwise; HTTP/1.0 closes.
  const conn = (headers.get('connection') ?? '').toLowerCase();
  c.close = minor === '0' ? conn !== 'keep-alive' : conn === 'close';
  if (headers.has('transfer-encoding')) {
    // A chunked body has no length up front; we do not parse it.
    c.close = true;
    return respond(c, '411 Length Required', Buffer.from('411 Length Required\n'));
  }
  const length = headers.get('content-length') ?? '0';
  if (!/^\d+$/.test(length)) return badRequest(c);
  if (Number(length) > MAX_BODY) {
    c.close = true;
    return respond(c, '413 Content Too Large', Buffer.from('413 Content Too Large\n'));
  }
  c.skip = Number(length); // the body is not for us, but it must not be read as a request
  if (method !== 'GET' && method !== 'HEAD') {
    return respond(c, '405 Method Not Allowed', Buffer.from('405 Method Not Allowed\n'), 'Allow: GET, HEAD\r\n');
  }
  respond(c, '200 OK', HELLO);
}

function badRequest(c) {
  c.head = false;
  c.close = true; // we cannot tell where the next request would start
  respond(c, '400 Bad Request', Buffer.from('400 Bad Request\n'));
}

// Discards body bytes, then, if a whole request head has arrived, prepares
// its response and switches the connection to OUT. Returns true if it did.
function answerIfComplete(c) {
  if (c.skip > 0) {
    const n = Math.min(c.skip, c.request.length);
    c.request = c.request.subarray(n);
    c.skip -= n;
    if (c.skip > 0) return false; // more body to come
  }
  // The blank line ends the head: "\r\n\r\n", or "\n\n" from a client
  // that ends lines with a bare LF.
  const m = /\r?\n\r?\n/.exec(c.request.toString('latin1', 0, MAX_HEAD + 4));
  if (!m) {
    if (c.request.length <= MAX_HEAD) return false; // wait for more
    c.head = false;
    c.close = true;
    respond(c, '431 Request Header Fields Too Large', Buffer.from('431 Request Header Fields Too Large\n'));
  } else {
    const head = c.request.toString('latin1', 0, m.index);
    c.request = c.request.subarray(m.index + m[0].length); // a pipelined next request may follow
    answer(c, head);
  }
  ep.modify(c.sock, Events.OUT); // (fd, IN) -> (fd, OUT), as in the classic
  return true;
}

function onReadable(c) {
  const data = c.sock.recv(64 * 1024);
  if (data === null) return; // nothing after all (EAGAIN)
  if (data.length === 0) return drop(c); // the client closed the connection
  touch(c);
  c.request = c.request.length > 0 ? Buffer.concat([c.request, data]) : data;
  answerIfComplete(c);
}

function onWritable(c) {
  const n = c.sock.send(c.response);
  if (n === null) return; // EAGAIN: wait for the next OUT
  touch(c);
  c.response = c.response.subarray(n); // a partial send leaves the rest for later
  if (c.response.length > 0) return;
  if (c.close) return drop(c);
  // Response complete: back to IN for the next request (keep-alive), unless
  // one is already waiting in the buffer.
  if (!answerIfComplete(c)) ep.modify(c.sock, Events.IN);
}

// select()'s timeout is the time until the next deadline: the oldest
// connection's idle timeout, or the signal check, whichever comes first.
function nextTimeout() {
  const oldest = connections.values().next().value;
  if (oldest === undefined) return SIGNAL_CHECK_MS;
  return Math.max(0, Math.min(SIGNAL_CHECK_MS, oldest.deadline - Date.now()));
}

function closeIdle() {
  const now = Date.now();
  for (const c of connections.values()) {
    if (c.deadline > now) break; // ordered by activity: the rest are younger
    drop(c);
  }
}

// Wait at most SIGNAL_CHECK_MS, then let Node's event loop run: that is
// where SIGINT and SIGTERM handlers run, and select() would otherwise hold
// the thread.
const state = stopOnSignals();
announce(server, ep);
while (!state.stopping) {
  for (const [key, events] of ep.select(nextTimeout())) {
    if (key.fileobj === server) {
      acceptAll();
      continue;
    }
    const c = connections.get(key.fd);
    if (!c) continue;
    try {
      if (events & (Events.ERR | Events.HUP)) drop(c); // reset, or gone both ways
      else if (events & Events.IN) onReadable(c);
      else if (events & Events.OUT) onWritable(c);
    } catch (err) {
      if (!(err instanceof SystemError)) throw err;
      drop(c); // ECONNRESET / EPIPE: the client vanished
    }
  }
  closeIdle();
  await turn();
}

for (const c of [...connections.values()]) drop(c);
ep.close();
server.close();
