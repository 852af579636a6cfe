#!/usr/bin/env node
// skeleton: the smallest correct non-blocking server, the shape every other
// example fills in. It accepts connections, reads and discards what they
// send (the "discard" service), and closes each one at end of stream.
//
// Mirrors the classic epoll server skeleton: register the listener, loop on
// poll(), accept and register new connections, dispatch IN and OUT, and a
// `try`/`finally` that unregisters, closes the epoll object and closes the
// listener. The `finally` is the lesson: however the loop ends (a signal, or
// an exception: try --throw-after 1), everything is released. And the epoll
// object is itself an fd (it shows in /proc/PID/fd): a program that forgets
// close() on its selectors runs out of fds, so this one prints its
// selector's fd, and checks at the end that it is gone.
// Left out here and shown in the other examples: sending (echo-queue), the
// EMFILE pause (an accept() error simply ends this server, cleanly).
//
//   node examples/skeleton.mjs --backend epoll --port 9000    then: echo hi | nc 127.0.0.1 9000
import { fstatSync } from 'node:fs';
import { Events, Socket, SystemError, createSelector } from '@iomux/core';
import { announce, exitOnSystemError, intFlag, serverArgs } from './lib/args.mjs';
import { SIGNAL_CHECK_MS, stopOnSignals, turn } from './lib/signals.mjs';

const NAME = 'skeleton';
const USAGE = '[--throw-after N]';
const args = serverArgs(NAME, { 'throw-after': { type: 'string' } }, USAGE);
const THROW_AFTER = args['throw-after'] === undefined ? Infinity : intFlag(NAME, 'throw-after', args['throw-after'], USAGE);

const server = new Socket(args.host.includes(':') ? 'inet6' : 'inet', 'stream');
server.setReuseAddress(true);
try {
  server.bind({ host: args.host, port: args.port });
} catch (err) {
  server.close();
  exitOnSystemError(NAME, `cannot listen on ${args.host}:${args.port}`, err);
}
server.listen(128);
server.setBlocking(false);

const sel = createSelector(args.backend); // the only backend-specific line
const selectorFd = sel.fileno(); // epoll: its own fd; select and poll keep no kernel object (-1)
const listenerFd = server.fileno();
console.log(
  selectorFd >= 0
    ? `selector fd: ${selectorFd} (${sel.backend}'s own kernel object: an fd like any other, until close())`
    : `selector fd: none (${sel.backend} keeps its interest list in our memory: no kernel object to close)`,
);

const connections = new Map(); // fd -> Socket
const state = stopOnSignals();
let accepted = 0;
try {
  sel.register(server, Events.IN);
  announce(server, sel);
  while (!state.stopping) {
    for (const [key, events] of sel.select(SIGNAL_CHECK_MS)) {
      if (key.fileobj === server) {
        // A connection to accept, maybe several: accept until null (EAGAIN).
        for (let a = server.accept(); a !== null; a = server.accept()) {
          const [conn] = a;
          conn.setBlocking(false);
          try {
            sel.register(conn, Events.IN);
          } catch (err) {
            if (err.code !== 'ERR_FD_SETSIZE') throw err;
            conn.close(); // select() cannot watch fds >= FD_SETSIZE (1024): refuse this one
            continue;
          }
          connections.set(conn.fileno(), conn);
          if (++accepted >= THROW_AFTER) throw new Error(`thrown after ${accepted} connection(s) (--throw-after): finally still releases everything`);
        }
        continue;
      }
      const conn = connections.get(key.fd);
      if (conn === undefined) continue; // closed earlier in this batch
      let data = null;
      if (events & (Events.IN | Events.ERR | Events.HUP)) {
        try {
          data = conn.recv(64 * 1024); // null: nothing after all (EAGAIN)
        } catch (err) {
          if (!(err instanceof SystemError)) throw err;
          data = Buffer.alloc(0); // ECONNRESET: as good as the end of stream
        }
      }
      if (data !== null && data.length === 0) {
        // End of stream: unregister before close, as the classic does.
        sel.unregister(conn);
        conn.close();
        connections.delete(key.fd);
      }
      // Events.OUT would be dispatched here; the discard service never asks for it.
    }
    await turn(); // let Node run the SIGINT/SIGTERM handlers
  }
} catch (err) {
  // Not a system error at start-up but the end of the server: one line, exit 1.
  console.error(`${NAME}: ${err.message}`);
  process.exitCode = 1;
} finally {
  for (const conn of connections.values()) {
    sel.unregister(conn);
    conn.close();
  }
  if (sel.getMap().has(listenerFd)) sel.unregister(server);
  sel.close(); // releases the epoll fd
  server.close();
  const open = [selectorFd, listenerFd].filter((fd) => fd >= 0 && isOpen(fd));
  console.log(open.length === 0 ? `released: selector fd ${selectorFd >= 0 ? selectorFd : 'none'}, listener fd ${listenerFd}` : `still open: ${open.join(', ')}`);
}

function isOpen(fd) {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}
