#!/usr/bin/env node
// http-hello: the smallest HTTP server worth the name. Every request gets
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
// connection down after each response.
//
//   node examples/http-hello.mjs --port 8080    then open http://127.0.0.1:8080/
import { Events, FD_SETSIZE, SystemError, createSelector } from '@iomux/core';
import { acceptGate, announce, listenTcp, serverArgs, stopOnSignals, turn, warnOnce } from './lib/args.mjs';

const NAME = 'http-hello';
const BODY = Buffer.from('Hello from iomux!\n');
const MAX_REQUEST = 16 * 1024; // bytes of headers we are willing to hold for one request

const args = serverArgs(NAME);
const ep = createSelector(args.backend); // the only backend-specific line
const server = listenTcp(args.host, args.port);
ep.register(server, Events.IN);
const gate = acceptGate(ep, server, Events.IN, NAME); // see lib/args.mjs: EMFILE

// fd -> { sock, request: Buffer (bytes received, not yet answered), response: Buffer, close: boolean }
const connections = new Map();

function drop(c) {
  ep.unregister(c.sock);
  c.sock.close();
  gate.resume(); // an fd is free again
  connections.delete(c.fd);
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
    if (accepted === null) return;
    const [sock] = accepted;
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
    connections.set(sock.fileno(), { fd: sock.fileno(), sock, request: Buffer.alloc(0), response: null, close: false });
  }
}

// If a whole request (headers up to the blank line) has arrived, prepares
// its response and switches the connection to OUT. Returns true if it did.
function answerIfComplete(c) {
  const end = c.request.indexOf('\r\n\r\n');
  if (end === -1) {
    if (c.request.length > MAX_REQUEST) drop(c); // headers that never end: not HTTP
    return false;
  }
  const head = c.request.subarray(0, end).toString('latin1');
  c.request = c.request.subarray(end + 4); // a pipelined next request may follow
  const [, method, version] = /^(\S+) \S+ (HTTP\/1\.[01])$/.exec(head.split('\r\n', 1)[0]) ?? [];
  // HTTP/1.1 keeps the connection open unless told otherwise; HTTP/1.0 closes.
  c.close = !version || /^connection:\s*close\s*$/im.test(head) || (version === 'HTTP/1.0' && !/^connection:\s*keep-alive\s*$/im.test(head));
  const status = version ? '200 OK' : '400 Bad Request';
  const header =
    `HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${BODY.length}\r\n` +
    (c.close ? 'Connection: close\r\n' : '') +
    '\r\n';
  c.response = Buffer.concat([Buffer.from(header, 'latin1'), method === 'HEAD' ? Buffer.alloc(0) : BODY]);
  ep.modify(c.sock, Events.OUT); // (fd, IN) -> (fd, OUT), as in the classic
  return true;
}

function onReadable(c) {
  const data = c.sock.recv(64 * 1024);
  if (data === null) return; // nothing after all (EAGAIN)
  if (data.length === 0) return drop(c); // the client closed the connection
  c.request = Buffer.concat([c.request, data]);
  answerIfComplete(c);
}

function onWritable(c) {
  const n = c.sock.send(c.response);
  if (n === null) return; // EAGAIN: wait for the next OUT
  c.response = c.response.subarray(n); // a partial send leaves the rest for later
  if (c.response.length > 0) return;
  if (c.close) return drop(c);
  // Response complete: back to IN for the next request (keep-alive), unless
  // one is already waiting in the buffer.
  if (!answerIfComplete(c) && connections.has(c.fd)) ep.modify(c.sock, Events.IN);
}

// Wait at most 250 ms, then let Node's event loop run: that is where SIGINT
// and SIGTERM handlers run, and select() would otherwise hold the thread.
const state = stopOnSignals();
announce(server, ep);
while (!state.stopping) {
  for (const [key, events] of ep.select(250)) {
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
  await turn();
}

for (const c of [...connections.values()]) drop(c);
ep.close();
server.close();
