#!/usr/bin/env node
// pnpm soak — holds many concurrent connections on an example echo server
// and checks that not one byte is lost or corrupted.
//
//   pnpm soak                                   10,000 connections, 30 s, epoll-edge-echo on epoll
//   pnpm soak --connections 2000 --duration 5   the CI version
//   pnpm soak --backend poll --example echo-queue
//   pnpm soak --no-select-check                 skip the select FD_SETSIZE check
//
// Phase 1 (soak): starts `node examples/<example>.mjs --backend B --port 0`,
// opens --connections TCP connections to 127.0.0.1 (at most --ramp connects
// in flight), and has every connection exchange messages of random size
// (1..--max-message bytes; one message in flight per connection, ping-pong)
// for --duration seconds once all are connected. Each connection's bytes are
// a distinct pseudo-random stream, so a byte echoed on the wrong connection,
// out of order, twice or not at all is caught. At the end every connection
// must have got back exactly what it sent; then the server is stopped with
// SIGINT and must exit 0.
//
// Phase 2 (select check): starts the same example with --backend select and
// opens --select-connections (default 1,100) connections. Connections whose
// server-side fd would be >= FD_SETSIZE (1024) must be refused cleanly (closed
// by the server), the refusal logged once on stderr, and every accepted
// connection must keep echoing correctly.
//
// The client is Node's own `net` module: independent of the library under
// test. The last line is "N passed, N failed" (one per check), as CI reads it.
import * as net from 'node:net';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { raiseFdLimit } from '@iomux/core';
import { killChildrenOnSignals, newFds, startServer } from './lib/child.mjs';
import { patternBytes } from './lib/random.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
killChildrenOnSignals('soak');
const { values: opt } = parseArgs({
  options: {
    connections: { type: 'string', default: '10000' },
    duration: { type: 'string', default: '30' },
    backend: { type: 'string', default: 'epoll' },
    example: { type: 'string', default: 'epoll-edge-echo' },
    'max-message': { type: 'string', default: '4096' },
    ramp: { type: 'string', default: '200' },
    'select-connections': { type: 'string', default: '1100' },
    'no-select-check': { type: 'boolean', default: false },
    'drain-timeout': { type: 'string', default: '60' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (opt.help) {
  console.log(
    'usage: node scripts/soak.mjs [--connections N] [--duration S] [--backend select|poll|epoll|io_uring] [--example NAME]\n' +
      '                             [--max-message BYTES] [--ramp N] [--select-connections N] [--no-select-check]',
  );
  process.exit(0);
}
const CONNS = posInt('connections');
const DURATION_S = Number(opt.duration);
const MAX_MSG = posInt('max-message');
const RAMP = posInt('ramp');
const SELECT_CONNS = posInt('select-connections');
const DRAIN_S = Number(opt['drain-timeout']);
if (!(DURATION_S >= 0)) die('--duration must be a number of seconds');

function posInt(name) {
  const n = Number(opt[name]);
  if (!Number.isInteger(n) || n <= 0) die(`--${name} must be a positive integer, got ${opt[name]}`);
  return n;
}
function die(msg) {
  console.error(`soak: ${msg}`);
  console.log('0 passed, 1 failed');
  process.exit(2);
}

let passed = 0;
let failed = 0;
function check(ok, what) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
}

// One pseudo-random 1 MiB pattern; connection i's stream starts at offset
// i * 7919 in it (mod its length), so neighbouring streams differ.
const PATTERN = patternBytes(1, 1 << 20);
function streamBytes(conn, offset, n) {
  const out = Buffer.allocUnsafe(n);
  let pos = (offset + conn * 7919) % PATTERN.length;
  let done = 0;
  while (done < n) {
    const k = Math.min(n - done, PATTERN.length - pos);
    PATTERN.copy(out, done, pos, pos + k);
    done += k;
    pos = 0;
  }
  return out;
}

function startSoakServer(example, backend) {
  return startServer(process.execPath, [`examples/${example}.mjs`, '--backend', backend, '--port', '0'], { cwd: ROOT });
}

/** A client connection that sends one random message at a time and checks the echo. */
class Conn {
  constructor(id, host, port, onReady) {
    this.id = id;
    this.sent = 0;
    this.received = 0;
    this.messages = 0;
    this.corrupt = false;
    this.closedEarly = false;
    this.connected = false;
    this.error = null;
    this.sending = true;
    this.seed = (id * 2654435761) >>> 0 || 1;
    this.sock = net.connect({ host, port });
    this.sock.setNoDelay(true);
    this.sock.on('connect', () => {
      this.connected = true;
      onReady(this, null);
      this.next();
    });
    this.sock.on('data', (d) => this.onData(d));
    this.sock.on('error', (/** @type {NodeJS.ErrnoException} */ e) => {
      this.error = e.code ?? e.message;
      if (!this.connected) onReady(this, e);
    });
    this.sock.on('close', () => {
      if (!this.finished) this.closedEarly = true;
    });
  }
  rand() {
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x >>> 0;
    return this.seed / 4294967296;
  }
  next() {
    if (!this.sending || this.closedEarly || this.sent !== this.received) return;
    const n = 1 + Math.floor(this.rand() * MAX_MSG);
    this.sock.write(streamBytes(this.id, this.sent, n));
    this.sent += n;
  }
  onData(d) {
    if (this.received + d.length > this.sent) this.corrupt = true; // more than was sent
    else if (!streamBytes(this.id, this.received, d.length).equals(d)) this.corrupt = true;
    this.received += d.length;
    if (this.received === this.sent) {
      this.messages++;
      this.next();
    }
  }
  close() {
    this.finished = true;
    this.sock.destroy();
  }
}

/** Opens n connections, at most RAMP connecting at once. */
async function openAll(n, host, port, id0 = 0) {
  const conns = [];
  const errors = [];
  let next = 0;
  await new Promise(/** @param {(v?: unknown) => void} resolve */ (resolve) => {
    let inFlight = 0;
    let done = 0;
    const launch = () => {
      while (inFlight < RAMP && next < n) {
        inFlight++;
        const c = new Conn(id0 + next++, host, port, (cc, err) => {
          inFlight--;
          done++;
          if (err) errors.push(err.code ?? err.message);
          if (done === n) resolve();
          else launch();
        });
        conns.push(c);
      }
    };
    launch();
  });
  return { conns, errors };
}

/** Stops new messages and waits until every live connection has its echo back. */
async function drain(conns, timeoutS) {
  for (const c of conns) c.sending = false;
  const end = Date.now() + timeoutS * 1000;
  while (Date.now() < end) {
    if (conns.every((c) => c.closedEarly || c.sent === c.received)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

function totals(conns) {
  let sent = 0;
  let received = 0;
  let messages = 0;
  for (const c of conns) {
    sent += c.sent;
    received += c.received;
    messages += c.messages;
  }
  return { sent, received, messages };
}

async function soak() {
  console.log(`soak: ${CONNS} connections for ${DURATION_S} s on examples/${opt.example}.mjs --backend ${opt.backend}`);
  const srv = await startSoakServer(opt.example, opt.backend);
  const fds0 = srv.fds();
  const rss0 = srv.rssMiB();
  const t0 = Date.now();
  const { conns, errors } = await openAll(CONNS, srv.host, srv.port);
  const connected = conns.filter((c) => c.connected && !c.closedEarly).length;
  const rampS = (Date.now() - t0) / 1000;
  const fdsPeak = srv.fdCount();
  console.log(`soak: ${connected}/${CONNS} connected in ${rampS.toFixed(1)} s; server fds ${fds0.size} -> ${fdsPeak}`);
  check(connected === CONNS && errors.length === 0, `all ${CONNS} connections established (errors: ${errors.length ? [...new Set(errors)].join(',') : 'none'})`);
  const cpu0 = srv.cpuSec();
  const msgs0 = totals(conns).messages;
  let rssPeak = srv.rssMiB();
  const tick = setInterval(() => (rssPeak = Math.max(rssPeak, srv.rssMiB())), 500);
  await new Promise((r) => setTimeout(r, DURATION_S * 1000));
  const live = conns.filter((c) => c.connected && !c.closedEarly).length;
  check(live === CONNS, `all ${CONNS} connections held for ${DURATION_S} s (${CONNS - live} dropped)`);
  const drained = await drain(conns, DRAIN_S);
  clearInterval(tick);
  const cpuS = srv.cpuSec() - cpu0;
  const t = totals(conns);
  const lost = conns.reduce((a, c) => a + (c.sent - c.received), 0);
  const corrupt = conns.filter((c) => c.corrupt).length;
  const dropped = conns.filter((c) => c.closedEarly).length;
  check(drained && lost === 0, `zero lost bytes (${lost} bytes sent but not echoed)`);
  check(corrupt === 0, `zero corrupted streams (${corrupt})`);
  check(dropped === 0, `zero connections closed by the server (${dropped})`);
  for (const c of conns) c.close();
  // The server notices every close and gives its fds back.
  const end = Date.now() + 30_000;
  while (newFds(fds0, srv.fds()).size > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  const left = newFds(fds0, srv.fds());
  const fds1 = srv.fdCount();
  check(left.size === 0, `server closed every fd it opened for the clients (${left.size} still open; ${fds0.size} -> ${fds1})`);
  const rss1 = srv.rssMiB();
  const { code, signal } = await srv.stop('SIGINT', 20_000);
  check(code === 0, `server exits 0 on SIGINT (code ${code}, signal ${signal})`);
  const summary = {
    phase: 'soak',
    example: opt.example,
    backend: srv.backend,
    connections: CONNS,
    durationS: DURATION_S,
    rampS: +rampS.toFixed(1),
    messages: t.messages,
    messagesDuringSoak: t.messages - msgs0,
    bytesEachWay: t.sent,
    lostBytes: lost,
    corruptStreams: corrupt,
    droppedConnections: dropped,
    serverFds: { before: fds0.size, peak: fdsPeak, after: fds1 },
    serverRssMiB: { before: +rss0.toFixed(1), peak: +rssPeak.toFixed(1), end: +rss1.toFixed(1) },
    serverCpuS: +cpuS.toFixed(1),
    stderr: srv.stderr().trim().split('\n').filter(Boolean).slice(0, 5),
  };
  console.log(`soak-result ${JSON.stringify(summary)}`);
}

async function selectCheck() {
  console.log(`select check: ${SELECT_CONNS} connections on examples/${opt.example}.mjs --backend select`);
  const srv = await startSoakServer(opt.example, 'select');
  const { conns } = await openAll(SELECT_CONNS, srv.host, srv.port, 1_000_000);
  // Let the server accept everything and refuse what it must: a refused
  // connection is closed by the server (our side sees 'close').
  const settle = Date.now() + 20_000;
  let lastClosed = -1;
  let stableSince = Date.now();
  while (Date.now() < settle) {
    // Every connection has either echoed at least one message or been closed.
    const pending = conns.filter((c) => !c.closedEarly && c.messages === 0).length;
    const closed = conns.filter((c) => c.closedEarly).length;
    if (closed !== lastClosed) {
      lastClosed = closed;
      stableSince = Date.now();
    }
    if (pending === 0 && Date.now() - stableSince > 500) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const refused = conns.filter((c) => c.closedEarly);
  const served = conns.filter((c) => !c.closedEarly);
  const warnings = srv.stderr().split('\n').filter((l) => /FD_SETSIZE/.test(l));
  console.log(`select check: ${served.length} served, ${refused.length} refused; stderr lines about FD_SETSIZE: ${warnings.length}`);
  check(refused.length > 0 && refused.length < SELECT_CONNS, `select refuses connections beyond FD_SETSIZE (${refused.length} of ${SELECT_CONNS} refused)`);
  check(refused.every((c) => c.received === 0 && !c.corrupt), 'a refused connection got no data, just a close');
  check(warnings.length === 1, `the refusal is logged exactly once (${warnings.length} lines)`);
  check(srv.child.exitCode === null, 'the select server is still running');
  // The accepted ones keep working: a few more rounds each, then drain.
  await new Promise((r) => setTimeout(r, 1000));
  const drained = await drain(served, 30);
  const lost = served.reduce((a, c) => a + (c.sent - c.received), 0);
  check(drained && lost === 0 && served.every((c) => !c.corrupt && !c.closedEarly && c.messages > 1), `all ${served.length} accepted connections keep echoing intact (lost ${lost})`);
  // Freed fds below FD_SETSIZE are served again.
  for (const c of served.slice(0, 50)) c.close();
  await new Promise((r) => setTimeout(r, 500));
  const { conns: again } = await openAll(20, srv.host, srv.port, 2_000_000);
  const end = Date.now() + 10_000;
  while (Date.now() < end && !again.every((c) => c.closedEarly || c.messages > 0)) await new Promise((r) => setTimeout(r, 50));
  check(again.every((c) => !c.closedEarly && c.messages > 0), 'after connections close, new ones below FD_SETSIZE are served again');
  for (const c of [...conns, ...again]) c.close();
  const { code } = await srv.stop('SIGINT', 20_000);
  check(code === 0, `select server exits 0 on SIGINT (code ${code})`);
  console.log(
    `soak-result ${JSON.stringify({ phase: 'select-check', example: opt.example, connections: SELECT_CONNS, served: served.length, refused: refused.length, warnings })}`,
  );
}

const limit = raiseFdLimit(Math.max(CONNS, SELECT_CONNS) * 2 + 512); // the server inherits it
if (limit < CONNS + 256) die(`RLIMIT_NOFILE is ${limit} (hard limit): too low for ${CONNS} connections`);
const started = Date.now();
try {
  await soak();
  if (!opt['no-select-check']) await selectCheck();
} catch (err) {
  console.error(err);
  failed++;
}
console.log(`soak: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
