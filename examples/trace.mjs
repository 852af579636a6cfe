#!/usr/bin/env node
// trace: watch the multiplexer work. A tiny HTTP responder that prints every
// non-empty select() result as a list of (fd, events) pairs, so you can see
// a connection's life as the kernel reports it:
//
//   [(3, IN)]        the listening socket: a connection to accept
//   [(5, IN)]        the new connection: the request arrived
//   [(5, OUT)]       we switched to OUT: the socket can take the response
//   [(5, IN|HUP)]    we shut down our side, the client closed its side: gone
//
// (HUP needs poll or epoll: select has no way to say it, and shows IN. The
// fd numbers are higher than the classic's 3 and 5: Node itself holds a
// dozen fds before our code runs.)
// Mirrors the classic walk-through of an epoll server in a debugger. This is
// the one example that prints on its hot path; that is its point.
//
//   node examples/trace.mjs --port 8080    then: curl http://127.0.0.1:8080/
import { Events, FD_SETSIZE, SystemError, createSelector, formatEvents } from '@iomux/core';
import { acceptGate, announce, listenTcp, serverArgs, stopOnSignals, turn, warnOnce } from './lib/args.mjs';

const NAME = 'trace';
const RESPONSE = Buffer.from(
  'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 18\r\nConnection: close\r\n\r\nHello from trace!\n',
);

const args = serverArgs(NAME);
const sel = createSelector(args.backend); // the only backend-specific line
const server = listenTcp(args.host, args.port);
sel.register(server, Events.IN);
const gate = acceptGate(sel, server, Events.IN, NAME); // see lib/args.mjs: EMFILE

const conns = new Map(); // fd -> { sock, request: string, response: Buffer }

function drop(fd) {
  const c = conns.get(fd);
  sel.unregister(c.sock);
  c.sock.close();
  gate.resume(); // an fd is free again
  conns.delete(fd);
}

function handle(fd, events) {
  const c = conns.get(fd);
  if (!c) return;
  if (events & Events.ERR) return drop(fd);
  if (events & Events.IN) {
    const data = c.sock.recv(16 * 1024);
    if (data === null) return;
    // EOF (the client closed), or HUP: both sides are shut now. Close.
    if (data.length === 0 || events & Events.HUP) return drop(fd);
    if (c.response) return; // already answered: ignore anything else sent
    c.request += data.toString('latin1');
    if (c.request.includes('\r\n\r\n')) {
      c.response = RESPONSE;
      sel.modify(c.sock, Events.OUT);
    } else if (c.request.length > 16 * 1024) drop(fd);
    return;
  }
  if (events & Events.HUP) return drop(fd);
  if (events & Events.OUT) {
    const n = c.sock.send(c.response);
    if (n === null) return;
    c.response = c.response.subarray(n);
    if (c.response.length > 0) return; // partial send: more on the next OUT
    // All sent: shut down our side (the client sees the end), then watch IN
    // again to learn when the client leaves.
    c.sock.shutdown('write');
    sel.modify(c.sock, Events.IN);
  }
}

const state = stopOnSignals();
announce(server, sel);
// A finite timeout plus `await turn()` lets Node run the SIGINT/SIGTERM
// handlers between calls (select() blocks the thread while it waits).
while (!state.stopping) {
  const ready = sel.select(250);
  if (ready.length > 0) console.log(`[${ready.map(([key, events]) => `(${key.fd}, ${formatEvents(events)})`).join(', ')}]`);
  for (const [key, events] of ready) {
    if (key.fileobj !== server) {
      try {
        handle(key.fd, events);
      } catch (err) {
        if (!(err instanceof SystemError)) throw err;
        drop(key.fd); // ECONNRESET, EPIPE: the client vanished
      }
      continue;
    }
    for (let a = safeAccept(); a !== null; a = safeAccept()) {
      const [sock] = a;
      sock.setBlocking(false);
      try {
        sel.register(sock, Events.IN);
      } catch (err) {
        if (err.code !== 'ERR_FD_SETSIZE') throw err;
        sock.close();
        warnOnce('fdsetsize', `${NAME}: refusing connections with fd >= FD_SETSIZE (${FD_SETSIZE}); the select backend cannot watch them`);
        continue;
      }
      conns.set(sock.fileno(), { sock, request: '', response: null });
    }
  }
  await turn();
}

function safeAccept() {
  try {
    return server.accept(); // null: no more connections waiting
  } catch (err) {
    if (!(err instanceof SystemError)) throw err;
    if (!gate.pauseOn(err)) warnOnce(err.code, `${NAME}: accept failed: ${err.message}`);
    return null;
  }
}

for (const fd of [...conns.keys()]) drop(fd);
sel.close();
server.close();
