#!/usr/bin/env node
// level-vs-edge: why an edge-triggered loop must drain, shown on one socket
// pair, no server needed.
//
// The classic "simple epoll model" registers with EPOLLIN | EPOLLET and
// calls recv(1024) once per event. Here the same thing happens twice: a few
// KiB are written into one end of a socket pair, and the other end is
// watched, first level-triggered, then edge-triggered, reading one small
// piece per reported event. Each select() result is printed.
//
//   level: the fd is reported as long as bytes are waiting, so one read per
//          report still gets everything, just in more rounds.
//   edge:  the fd is reported when it *becomes* readable, once. One read
//          takes 1 KiB; the rest is still there, but no new edge comes, so
//          select() never mentions the fd again: those bytes are stranded
//          (until the peer happens to send more). Hence: read until null.
//
// Edge triggering is an epoll feature (EPOLLET); select() and poll() only
// know levels, so on those backends only the level half runs.
//
//   node examples/level-vs-edge.mjs [--backend select|poll|epoll|io_uring] [--bytes N] [--read N]
import { Events, createSelector, formatEvents, socketPair } from '@iomux/core';
import { BACKEND_USAGE, backendFlag, fail, intFlag, parseFlags } from './lib/args.mjs';

const NAME = 'level-vs-edge';
const BASE = `${BACKEND_USAGE} [--bytes N] [--read N]`;
const args = parseFlags(
  NAME,
  { backend: { type: 'string', default: 'default' }, bytes: { type: 'string', default: '4096' }, read: { type: 'string', default: '1024' } },
  '',
  BASE,
);
const backend = backendFlag(NAME, args.backend, '', BASE);
const BYTES = intFlag(NAME, 'bytes', args.bytes, '', BASE);
const READ = intFlag(NAME, 'read', args.read, '', BASE); // the classic's recv(1024)
// The writer is blocking and nobody reads while it writes: stay well within
// the socket buffer, or sendAll() would wait forever.
if (BYTES > 64 * 1024) fail(NAME, `--bytes must be at most 65536, got ${BYTES}`, '', BASE);
const WAIT_MS = 100; // how long a select() waits before we call it "never again"
const MAX_ROUNDS = Math.ceil(BYTES / READ) + 2;

/** Watches one end of a fresh pair with `mode`; returns the bytes left unread, or null if unsupported. */
function run(mode) {
  const sel = createSelector(backend);
  const [reader, writer] = socketPair();
  try {
    reader.setBlocking(false);
    try {
      sel.register(reader, mode === 'edge' ? Events.IN | Events.EDGE : Events.IN);
    } catch (err) {
      if (err.code !== 'ERR_UNSUPPORTED') throw err;
      console.log(`${mode}: not available on ${sel.backend}: edge triggering (EPOLLET) is an epoll feature; select() and poll() only report levels`);
      return null;
    }
    writer.sendAll(Buffer.alloc(BYTES, 0x61));
    console.log(`${mode}: wrote ${BYTES} bytes; one recv(${READ}) per reported event`);
    let read = 0;
    for (let round = 1; round <= MAX_ROUNDS; round++) {
      const ready = sel.select(WAIT_MS);
      const shown = `[${ready.map(([key, events]) => `(${key.fd}, ${formatEvents(events)})`).join(', ')}]`;
      if (ready.length === 0) {
        console.log(`${mode}: select() #${round} -> []  (nothing reported within ${WAIT_MS} ms)`);
        break;
      }
      const data = reader.recv(READ); // one small read per event, as the classic does
      read += data?.length ?? 0;
      console.log(`${mode}: select() #${round} -> ${shown}  read ${data?.length ?? 0} bytes`);
    }
    // What did we miss? Drain what is left (without waiting for a report).
    let left = 0;
    for (let chunk = reader.recv(64 * 1024); chunk !== null && chunk.length > 0; chunk = reader.recv(64 * 1024)) left += chunk.length;
    console.log(
      left === 0
        ? `${mode}: ${read} bytes read, 0 bytes left unread`
        : `${mode}: ${read} bytes read, ${left} bytes left unread: stranded, because no new edge will announce them`,
    );
    return left;
  } finally {
    sel.close();
    reader.close();
    writer.close();
  }
}

const probe = createSelector(backend);
console.log(`backend=${probe.backend}`);
probe.close();
run('level');
run('edge');
