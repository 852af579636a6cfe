#!/usr/bin/env node
// echo-client: an interactive client for the echo servers. Type lines; each
// comes back from the server.
//
// The classic client sends a line, then calls recv(1024) once and prints
// the result, assuming the echo arrives whole and at once. It may arrive
// in pieces, or late, or be longer than 1024 bytes. This client instead
// multiplexes its two inputs with one selector, so neither can block the
// other:
//   - stdin (fd 0) readable  -> queue the bytes for the server;
//   - socket writable        -> send what the kernel takes (partial sends!);
//   - socket readable        -> print whatever echo has arrived.
// At the end of stdin it half-closes the connection (shutdown 'write'), then
// prints echoes until the server closes its side too: nothing is lost.
//
//   node examples/echo-client.mjs --port 10000 [--host 127.0.0.1] [--backend poll]
import { readSync, writeSync } from 'node:fs';
import { Events, Socket, createSelector } from '@iomux/core';
import { BACKEND_USAGE, backendFlag, exitOnSystemError, fail, parseFlags, portFlag } from './lib/args.mjs';

const NAME = 'echo-client';
const BASE = `--port N [--host H] ${BACKEND_USAGE}`;
// Flags are checked before anything touches the network.
const values = parseFlags(
  NAME,
  { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string' }, backend: { type: 'string', default: 'default' } },
  '',
  BASE,
);
if (values.port === undefined) fail(NAME, '--port is required', '', BASE);
const port = portFlag(NAME, values.port, '', BASE);
if (port === 0) fail(NAME, '--port must be 1..65535 for a client', '', BASE);
const backend = backendFlag(NAME, values.backend, '', BASE);

const sock = new Socket(values.host.includes(':') ? 'inet6' : 'inet', 'stream');
try {
  sock.connect({ host: values.host, port }); // blocking connect: simple, and we have nothing else to do yet
} catch (err) {
  exitOnSystemError(NAME, `cannot connect to ${values.host}:${port}`, err);
}
sock.setBlocking(false);
console.error(`connected to ${values.host}:${port}; type lines, end with Ctrl-D`);

let sel = createSelector(backend);
const STDIN = 0;
try {
  sel.register(STDIN, Events.IN);
} catch (err) {
  // epoll refuses regular files (EPERM): a file is always "ready" anyway.
  // poll accepts them and reports them readable every time.
  if (err.code !== 'EPERM') throw err;
  sel.close();
  sel = createSelector('poll');
  sel.register(STDIN, Events.IN);
}
sel.register(sock, Events.IN);

let outgoing = Buffer.alloc(0); // typed, not yet sent
let stdinOpen = true;
const buf = Buffer.alloc(64 * 1024);

function watchSocket() {
  // OUT only while there is something to send, or we would spin on it.
  sel.modify(sock, outgoing.length > 0 ? Events.IN | Events.OUT : Events.IN);
}

loop: for (;;) {
  for (const [key, events] of sel.select(null)) {
    if (key.fd === STDIN) {
      let n;
      try {
        n = readSync(STDIN, buf); // readable: this read will not block
      } catch (err) {
        if (err.code === 'EAGAIN') continue; // a non-blocking stdin with nothing after all
        throw err;
      }
      if (n === 0) {
        // End of input: stop watching stdin, and tell the server once all is sent.
        stdinOpen = false;
        sel.unregister(STDIN);
        if (outgoing.length === 0) sock.shutdown('write');
      } else {
        outgoing = Buffer.concat([outgoing, buf.subarray(0, n)]);
        watchSocket();
      }
      continue;
    }
    if (events & Events.IN || events & (Events.HUP | Events.ERR)) {
      let data;
      try {
        data = sock.recv(buf.length);
      } catch (err) {
        console.error(`connection lost: ${err.message}`);
        process.exitCode = 1;
        break loop;
      }
      if (data !== null && data.length === 0) break loop; // the server closed: done
      if (data !== null) writeSync(1, data);
    }
    if (events & Events.OUT && outgoing.length > 0) {
      const n = sock.send(outgoing);
      if (n !== null) outgoing = outgoing.subarray(n); // may be partial: the rest waits
      watchSocket();
      if (outgoing.length === 0 && !stdinOpen) sock.shutdown('write');
    }
  }
}

sel.close();
sock.close();
