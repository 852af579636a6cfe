#!/usr/bin/env node
// trace: watch the multiplexer work. The classic "Hello from Epoll server!"
// responder, walked through step by step as in the debugger session: every
// select() result is printed as a list of (fd, events) pairs, and a timeout
// as [] (once, not on every empty second), so a connection's life reads as
// the kernel reports it:
//
//   []              nothing yet: select(1000) timed out
//   [(L, IN)]       the listening socket: a connection to accept     (3, 1)
//   [(C, IN)]       the new connection: the request arrived          (5, 1)
//   [(C, OUT)]      we switched to OUT: the socket takes the response (5, 4)
//   [(C, HUP)]      we sent it, called modify(C, 0) and shut down both
//                   directions: with no interest bit left, only the
//                   hang-up is reported, a pure HUP                  (5, 16)
//   []              closed and forgotten
//
// The classic's fds were 3 and 5; under Node they are higher, since Node
// holds a dozen fds before our code runs. select differs at the last step:
// its three sets have no place for an fd with no interest bit (and no way
// to say HUP), so there the connection watches IN instead, and the
// hang-up shows as readable, [(C, IN)], where recv() returns end-of-file.
// A connection that stays silent for --idle-timeout ms is closed (a note
// line says so). This is the one example that prints on its hot path; that
// is its point.
//
//   node examples/trace.mjs --port 8080    then: curl http://127.0.0.1:8080/
import { Events, FD_SETSIZE, Socket, SystemError, createSelector, formatEvents, raiseFdLimit } from '@iomux/core';
import { announce, exitOnSystemError, intFlag, serverArgs, warnOnce } from './lib/args.mjs';
import { stopOnSignals, turn } from './lib/signals.mjs';

const NAME = 'trace';
const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n\r\nHello from trace!\n');
const TIMEOUT_MS = 1000; // the classic's epoll.poll(1): one second
const MAX_REQUEST = 16 * 1024;

const USAGE = '[--idle-timeout MS]';
const args = serverArgs(NAME, { 'idle-timeout': { type: 'string', default: '30000' } }, USAGE);
const IDLE_MS = intFlag(NAME, 'idle-timeout', args['idle-timeout'], USAGE);

// socket, SO_REUSEADDR, bind, listen, setblocking(0): as in the classic.
raiseFdLimit(Infinity);
const server = new Socket(args.host.includes(':') ? 'inet6' : 'inet', 'stream');
server.setReuseAddress(true); // restart at once even if old connections linger in TIME_WAIT
try {
  server.bind({ host: args.host, port: args.port });
} catch (err) {
  exitOnSystemError(NAME, `cannot listen on ${args.host}:${args.port}`, err);
}
server.listen(128);
server.setBlocking(false);

const sel = createSelector(args.backend); // the only backend-specific line
sel.register(server, Events.IN);
// select(2) has no set for an fd with no interest bit, so it cannot watch
// for the hang-up alone (see the header): there, IN is what shows the end.
const HANGUP_INTEREST = sel.capabilities.watchesEmptyMask ? 0 : Events.IN;

// fd -> { sock, request: string, response: Buffer, done: boolean, deadline: ms },
// in order of last activity: the first entry is the next to time out.
const conns = new Map();

function touch(fd, c) {
  c.deadline = Date.now() + IDLE_MS;
  conns.delete(fd);
  conns.set(fd, c);
}

function drop(fd) {
  const c = conns.get(fd);
  sel.unregister(c.sock);
  c.sock.close();
  conns.delete(fd);
  if (acceptPaused) {
    sel.register(server, Events.IN); // an fd is free again: accept again
    acceptPaused = false;
  }
}

function handle(fd, events) {
  const c = conns.get(fd);
  if (!c) return;
  if (c.done || events & (Events.ERR | Events.HUP)) {
    // The classic's last step: (fd, HUP). Unregister and close. (On select,
    // IN after the shutdown: recv() would return end-of-file.)
    return drop(fd);
  }
  if (events & Events.IN) {
    const data = c.sock.recv(16 * 1024);
    if (data === null) return; // nothing after all (EAGAIN)
    if (data.length === 0) return drop(fd); // the client left before asking
    touch(fd, c);
    c.request += data.toString('latin1');
    // The classic's EOL1 "\n\n" or EOL2 "\n\r\n": a bare LF ends lines too.
    if (/\r?\n\r?\n/.test(c.request)) {
      c.response = RESPONSE;
      sel.modify(c.sock, Events.OUT);
    } else if (c.request.length > MAX_REQUEST) drop(fd);
    return;
  }
  if (events & Events.OUT) {
    const n = c.sock.send(c.response);
    if (n === null) return; // EAGAIN
    touch(fd, c);
    c.response = c.response.subarray(n);
    if (c.response.length > 0) return; // partial send: more on the next OUT
    // All sent: as in the classic, modify(fd, 0) and shut down both ways.
    c.done = true;
    sel.modify(c.sock, HANGUP_INTEREST);
    c.sock.shutdown('both');
    if (HANGUP_INTEREST !== 0) console.log(`# select cannot watch fd ${fd} for the hang-up alone: watching IN instead`);
  }
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
    touch(sock.fileno(), { sock, request: '', response: null, done: false, deadline: 0 });
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

const state = stopOnSignals();
announce(server, sel);
let lastLine = '';
// A finite timeout plus `await turn()` lets Node run the SIGINT/SIGTERM
// handlers between calls (select() blocks the thread while it waits).
while (!state.stopping) {
  // The classic's one second, or less if a connection's idle deadline comes first.
  const oldest = conns.values().next().value;
  const ready = sel.select(oldest === undefined ? TIMEOUT_MS : Math.max(0, Math.min(TIMEOUT_MS, oldest.deadline - Date.now())));
  const line = `[${ready.map(([key, events]) => `(${key.fd}, ${formatEvents(events)})`).join(', ')}]`;
  if (line !== '[]' || lastLine !== '[]') console.log(line);
  lastLine = line;
  for (const [key, events] of ready) {
    if (key.fileobj === server) {
      acceptAll();
      continue;
    }
    try {
      handle(key.fd, events);
    } catch (err) {
      if (!(err instanceof SystemError)) throw err;
      drop(key.fd); // ECONNRESET, EPIPE: the client vanished
    }
  }
  const now = Date.now();
  for (const [fd, c] of conns) {
    if (c.deadline > now) break; // ordered by activity: the rest are younger
    console.log(`# fd ${fd} idle for ${IDLE_MS} ms: closing it`);
    drop(fd);
  }
  await turn();
}

for (const fd of [...conns.keys()]) drop(fd);
sel.close();
server.close();
