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
//
//   node examples/http-static.mjs --port 8080 [--root DIR]
import { closeSync, fstatSync, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { extname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Events, FD_SETSIZE, SystemError, createSelector } from '@iomux/core';
import { acceptGate, announce, listenTcp, serverArgs, stopOnSignals, turn, warnOnce } from './lib/args.mjs';

const NAME = 'http-static';
const args = serverArgs(NAME, { root: { type: 'string', default: fileURLToPath(new URL('www', import.meta.url)) } }, '[--root DIR]');
let ROOT;
try {
  ROOT = realpathSync(args.root); // compare real paths: symlinks resolved
  if (!statSync(ROOT).isDirectory()) throw new Error('not a directory');
} catch (err) {
  console.error(`${NAME}: --root ${args.root}: ${err.message}`);
  process.exit(2);
}

const MAX_HEAD = 16 * 1024; // request line + headers
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

const sel = createSelector(args.backend); // the only backend-specific line
const server = listenTcp(args.host, args.port);
sel.register(server, Events.IN);
const gate = acceptGate(sel, server, Events.IN, NAME); // see lib/args.mjs: EMFILE

// fd -> connection: { fd, sock, inbuf, out: Buffer, file: fd|-1, left: bytes of
// the file still to send, head: answering a HEAD, close: close when sent }
const conns = new Map();

function drop(c) {
  sel.unregister(c.sock);
  c.sock.close();
  gate.resume(); // an fd is free again
  if (c.file >= 0) closeSync(c.file);
  conns.delete(c.fd);
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
  const [requestLine, ...headerLines] = head.split('\r\n');
  c.head = false;
  const m = /^([A-Z]+) (\S+) HTTP\/1\.([01])$/.exec(requestLine);
  if (!m) return status(c, 400, 'Bad Request', true); // framing unknown: close after
  const [, method, target, minor] = m;
  c.head = method === 'HEAD';
  const headers = new Map();
  for (const line of headerLines) {
    const i = line.indexOf(':');
    if (i <= 0) return status(c, 400, 'Bad Request', true);
    headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim().toLowerCase());
  }
  // Keep-alive is HTTP/1.1's default; HTTP/1.0 must ask for it.
  const conn = headers.get('connection') ?? '';
  c.close = minor === '0' ? conn !== 'keep-alive' : conn === 'close';
  // A request body would have to be skipped to find the next request; GET
  // and HEAD have none, so we close instead of parsing one.
  if (headers.has('transfer-encoding') || Number(headers.get('content-length') ?? 0) > 0) c.close = true;
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

// If a complete request head is buffered, answers it and switches to OUT.
function nextRequest(c) {
  const end = c.inbuf.indexOf('\r\n\r\n');
  if (end === -1) {
    if (c.inbuf.length <= MAX_HEAD) return false; // wait for more
    c.head = false;
    status(c, 431, 'Request Header Fields Too Large', true);
  } else {
    const head = c.inbuf.subarray(0, end).toString('latin1');
    c.inbuf = c.inbuf.subarray(end + 4);
    answer(c, head);
  }
  sel.modify(c.sock, Events.OUT);
  return true;
}

function onReadable(c) {
  const data = c.sock.recv(CHUNK);
  if (data === null) return; // spurious wake-up (EAGAIN)
  if (data.length === 0) return drop(c); // the client closed: we owe it nothing
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
  for (;;) {
    let accepted;
    try {
      accepted = server.accept();
    } catch (err) {
      if (!(err instanceof SystemError)) throw err;
      if (!gate.pauseOn(err)) warnOnce(err.code, `${NAME}: accept failed: ${err.message}`);
      return;
    }
    if (accepted === null) return; // no one else waiting (EAGAIN)
    const [sock] = accepted;
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
    conns.set(fd, { fd, sock, inbuf: Buffer.alloc(0), out: Buffer.alloc(0), file: -1, left: 0, head: false, close: false });
  }
}

// select() blocks the thread and signal handlers run from Node's event
// loop: wait at most 250 ms, then yield with `await turn()`.
const state = stopOnSignals();
announce(server, sel);
while (!state.stopping) {
  for (const [key, events] of sel.select(250)) {
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
  await turn();
}

for (const c of [...conns.values()]) drop(c);
sel.close();
server.close();
