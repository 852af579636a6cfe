#!/usr/bin/env node
// http-static: a small static web server with keep-alive.
//
// Mirrors the classic epoll "static web server" that keeps connections open
// by sending Content-Length: the client knows where each response ends, so
// it can send its next request on the same connection. A connection here
// is a little state machine driven by the selector:
//   IN  - collect the request head (up to the blank line);
//   OUT - send the status line, headers and the file, in pieces as the
//         socket takes them; then back to IN for the next request.
//
// What the classic got wrong and this port fixes:
//   - it served any path, "/../../etc/passwd" included. Here a request
//     never leaves --root: ".." segments (plain or %-encoded) get 403, and
//     the real path (symlinks resolved) must still lie inside the root.
//   - it assumed one recv() holds a whole request and one send() takes a
//     whole response. Neither is true.
//   - it read whole files into memory. Here files go out 64 KiB at a time,
//     read only when the socket has taken the previous piece.
//   - malformed requests get 400, other methods 405, missing files 404.
//   - a request body is skipped by its Content-Length (never read as the
//     next request); a chunked body gets 411 and the connection closes.
//   - a line may end in "\n" alone (the classic's EOL1 "\n\n"), not only "\r\n".
//   - a connection idle for --idle-timeout ms is closed; that deadline is
//     what decides how long select() may wait (see nextTimeout()).
//
//   node examples/http-static.mjs --port 8080 [--root DIR]
import { closeSync, fstatSync, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { extname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Events, FD_SETSIZE, Socket, SystemError, createSelector, raiseFdLimit } from '@iomux/core';
import { announce, exitOnSystemError, fail, intFlag, serverArgs, warnOnce } from './lib/args.mjs';
import { SIGNAL_CHECK_MS, stopOnSignals, turn } from './lib/signals.mjs';

const NAME = 'http-static';
const USAGE = '[--root DIR] [--idle-timeout MS]';
const args = serverArgs(
  NAME,
  { root: { type: 'string', default: fileURLToPath(new URL('www', import.meta.url)) }, 'idle-timeout': { type: 'string', default: '30000' } },
  USAGE,
);
const IDLE_MS = intFlag(NAME, 'idle-timeout', args['idle-timeout'], USAGE);
let ROOT;
try {
  ROOT = realpathSync(args.root); // compare real paths: symlinks resolved
  if (!statSync(ROOT).isDirectory()) throw new Error('not a directory');
} catch (err) {
  fail(NAME, `--root ${args.root}: ${err.message}`, USAGE);
}

const MAX_HEAD = 16 * 1024; // request line + headers
const MAX_BODY = 1024 * 1024; // request bodies we skip; larger ones get 413
const CHUNK = 64 * 1024;
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
};

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
sel.register(server, Events.IN);

// fd -> connection: { fd, sock, inbuf, skip: body bytes to discard, out:
// Buffer, file: fd|-1, left: bytes of the file still to send, head: answering
// a HEAD, close: close when sent, deadline: idle until }. Kept in order of
// last activity (touch()), so the first entry is the next to time out.
const conns = new Map();

function touch(c) {
  c.deadline = Date.now() + IDLE_MS;
  conns.delete(c.fd);
  conns.set(c.fd, c);
}

function drop(c) {
  sel.unregister(c.sock);
  c.sock.close();
  if (c.file >= 0) closeSync(c.file);
  conns.delete(c.fd);
  if (acceptPaused) {
    sel.register(server, Events.IN); // an fd is free again: accept again
    acceptPaused = false;
  }
}

// ---- HTTP: map a request head to a response ----------------------------

function status(c, code, reason, close = false) {
  const body = Buffer.from(`${code} ${reason}\n`);
  respond(c, code, reason, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length }, body, close);
}

function respond(c, code, reason, headers, body, close) {
  c.close ||= close;
  let head = `HTTP/1.1 ${code} ${reason}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  if (c.close) head += 'Connection: close\r\n';
  // A response to HEAD has the headers GET would have, and no body.
  c.out = Buffer.concat([Buffer.from(head + '\r\n', 'latin1'), (!c.head && body) || Buffer.alloc(0)]);
}

// Returns the real path of a regular file inside ROOT, or a status code.
function resolve(target) {
  if (!target.startsWith('/')) return 400; // only origin-form: "/path"
  let path;
  try {
    path = decodeURIComponent(target.split(/[?#]/, 1)[0]); // "%2e%2e" becomes ".." here
  } catch {
    return 400; // a broken %-escape
  }
  if (path.includes('\0')) return 400;
  // Any ".." segment could climb out of the root: refuse it outright,
  // after decoding, so "%2e%2e" and "..%2f" are caught as well.
  if (path.split('/').includes('..')) return 403;
  // join() keeps "//etc/passwd" under ROOT (it is not path.resolve()).
  let real;
  try {
    real = realpathSync(join(ROOT, path));
    if (statSync(real).isDirectory()) real = realpathSync(join(real, 'index.html'));
  } catch {
    return 404; // no such file (or a dangling symlink)
  }
  // A symlink inside the root may point outside it: check where we landed.
  if (real !== ROOT && !real.startsWith(ROOT + sep)) return 403;
  return statSync(real).isFile() ? real : 404;
}

// Parses one request head (without the blank line) and prepares the response.
function answer(c, head) {
  const [requestLine, ...headerLines] = head.split(/\r?\n/);
  c.head = false;
  const m = /^([A-Z]+) (\S+) HTTP\/1\.([01])$/.exec(requestLine);
  if (!m) return status(c, 400, 'Bad Request', true); // framing unknown: close after
  const [, method, target, minor] = m;
  const headers = new Map();
  for (const line of headerLines) {
    const i = line.indexOf(':');
    if (i <= 0) return status(c, 400, 'Bad Request', true);
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim().toLowerCase();
    // Two different lengths would let two parsers disagree where the body ends.
    if (name === 'content-length' && headers.has(name) && headers.get(name) !== value) return status(c, 400, 'Bad Request', true);
    headers.set(name, value);
  }
  c.head = method === 'HEAD';
  // Keep-alive is HTTP/1.1's default; HTTP/1.0 must ask for it.
  const conn = headers.get('connection') ?? '';
  c.close = minor === '0' ? conn !== 'keep-alive' : conn === 'close';
  // A body is skipped by its length, so it is never read as the next
  // request. A chunked one has no length up front: refuse it and close.
  if (headers.has('transfer-encoding')) return status(c, 411, 'Length Required', true);
  const length = headers.get('content-length') ?? '0';
  if (!/^\d+$/.test(length)) return status(c, 400, 'Bad Request', true);
  if (Number(length) > MAX_BODY) return status(c, 413, 'Content Too Large', true);
  c.skip = Number(length);
  if (method !== 'GET' && method !== 'HEAD') {
    const body = Buffer.from('405 Method Not Allowed\n');
    return respond(c, 405, 'Method Not Allowed', { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length }, body);
  }
  const found = resolve(target);
  if (found === 400) return status(c, 400, 'Bad Request', true);
  if (found === 403) return status(c, 403, 'Forbidden');
  if (found === 404) return status(c, 404, 'Not Found');
  let file;
  try {
    file = openSync(found, 'r');
  } catch {
    return status(c, 403, 'Forbidden'); // exists but unreadable
  }
  const size = fstatSync(file).size;
  const type = TYPES[extname(found).toLowerCase()] ?? 'application/octet-stream';
  respond(c, 200, 'OK', { 'Content-Type': type, 'Content-Length': size }, null, false);
  if (c.head || size === 0) closeSync(file);
  else {
    c.file = file;
    c.left = size;
  }
}

// ---- the multiplexing ----------------------------------------------------

// Discards body bytes, then, if a complete request head is buffered,
// answers it and switches to OUT.
function nextRequest(c) {
  if (c.skip > 0) {
    const n = Math.min(c.skip, c.inbuf.length);
    c.inbuf = c.inbuf.subarray(n);
    c.skip -= n;
    if (c.skip > 0) return false; // more body to come
  }
  // The blank line ends the head: "\r\n\r\n", or "\n\n" from a client
  // that ends lines with a bare LF.
  const m = /\r?\n\r?\n/.exec(c.inbuf.toString('latin1', 0, MAX_HEAD + 4));
  if (!m) {
    if (c.inbuf.length <= MAX_HEAD) return false; // wait for more
    c.head = false;
    status(c, 431, 'Request Header Fields Too Large', true);
  } else {
    const head = c.inbuf.toString('latin1', 0, m.index);
    c.inbuf = c.inbuf.subarray(m.index + m[0].length);
    answer(c, head);
  }
  sel.modify(c.sock, Events.OUT);
  return true;
}

function onReadable(c) {
  const data = c.sock.recv(CHUNK);
  if (data === null) return; // spurious wake-up (EAGAIN)
  if (data.length === 0) return drop(c); // the client closed: we owe it nothing
  touch(c);
  c.inbuf = c.inbuf.length ? Buffer.concat([c.inbuf, data]) : data;
  nextRequest(c);
}

function onWritable(c) {
  // Refill from the file only once the previous piece is gone: at most one
  // CHUNK of the file is in memory per connection.
  if (c.out.length === 0 && c.left > 0) {
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, c.left));
    const n = readSync(c.file, buf, 0, buf.length, null);
    if (n === 0) return drop(c); // the file shrank under us: the promised length cannot be met
    c.out = buf.subarray(0, n);
    c.left -= n;
  }
  const n = c.sock.send(c.out);
  if (n === null) return; // EAGAIN: wait for OUT again
  touch(c);
  c.out = c.out.subarray(n); // partial send: keep the rest
  if (c.out.length > 0 || c.left > 0) return;
  // Response complete.
  if (c.file >= 0) {
    closeSync(c.file);
    c.file = -1;
  }
  if (c.close) return drop(c);
  if (!nextRequest(c)) sel.modify(c.sock, Events.IN); // keep-alive: wait for the next request
}

function acceptAll() {
  for (let a = tryAccept(); a !== null; a = tryAccept()) {
    const [sock] = a;
    sock.setBlocking(false);
    try {
      sel.register(sock, Events.IN);
    } catch (err) {
      if (err.code !== 'ERR_FD_SETSIZE') throw err; // select: fds >= FD_SETSIZE do not fit an fd_set
      sock.close();
      warnOnce('fdsetsize', `${NAME}: refusing connections with fd >= FD_SETSIZE (${FD_SETSIZE}); the select backend cannot watch them`);
      continue;
    }
    const fd = sock.fileno();
    touch({ fd, sock, inbuf: Buffer.alloc(0), skip: 0, out: Buffer.alloc(0), file: -1, left: 0, head: false, close: false, deadline: 0 });
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

// select()'s timeout is the time until the next deadline: the oldest
// connection's idle timeout, or the signal check, whichever comes first.
function nextTimeout() {
  const oldest = conns.values().next().value;
  if (oldest === undefined) return SIGNAL_CHECK_MS;
  return Math.max(0, Math.min(SIGNAL_CHECK_MS, oldest.deadline - Date.now()));
}

function closeIdle() {
  const now = Date.now();
  for (const c of conns.values()) {
    if (c.deadline > now) break; // ordered by activity: the rest are younger
    drop(c);
  }
}

// select() blocks the thread and signal handlers run from Node's event
// loop: wait at most SIGNAL_CHECK_MS, then yield with `await turn()`.
const state = stopOnSignals();
announce(server, sel);
while (!state.stopping) {
  for (const [key, events] of sel.select(nextTimeout())) {
    if (key.fileobj === server) {
      acceptAll();
      continue;
    }
    const c = conns.get(key.fd);
    if (!c) continue;
    try {
      if (events & (Events.ERR | Events.HUP)) drop(c); // reset, or gone both ways
      else if (events & Events.OUT) onWritable(c);
      else if (events & Events.IN) onReadable(c);
    } catch (err) {
      if (!(err instanceof SystemError)) throw err;
      drop(c); // ECONNRESET, EPIPE: the client vanished mid-request
    }
  }
  closeIdle();
  await turn();
}

for (const c of [...conns.values()]) drop(c);
sel.close();
server.close();
