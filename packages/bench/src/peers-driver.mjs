#!/usr/bin/env node
// One measurement of `pnpm bench --only peers`, in a process of its own: a
// one-byte ping-pong over two pipes with iomux_pipe_echo (which answers at
// once, or after --delay-us of sleep), driven by one VARIANT:
//   peer          the npm `epoll` package (4.0.2, from --peer-dir)
//   wait-B        iomux: write; await sel.wait(); read   (B: select, poll, epoll)
//   iter-B        iomux: for await (const ready of sel)
//   watcher-B     iomux's callback Watcher
//   net           Node: new net.Socket({ fd }) and its 'data' events
// Every variant writes with fs.writeSync and (but net) reads with
// fs.readSync, so they differ only in how they learn the pipe is readable.
// --warm-ms of the same loop first (JIT), then --ms measured.
// Prints one JSON line: { variant, delayUs, roundTrips, wallMs, cpuUs }
// (cpuUs: user + system time of this Node process, process.cpuUsage()).
//
//   node peers-driver.mjs VARIANT [--delay-us 0] [--warm-ms 300] [--ms 1000] [--peer-dir DIR]
import { spawn } from 'node:child_process';
import { closeSync, readSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { join, resolve } from 'node:path';
import { Events, Watcher, backends, createSelector, pipe } from '@iomux/core';
import { opt } from './flags.mjs';
import { binPath } from './run.mjs';

const variant = process.argv[2] ?? '';
const delayUs = Number(opt('--delay-us', 0));
const warmMs = Number(opt('--warm-ms', 300));
const ms = Number(opt('--ms', 1000));
const peerDir = opt('--peer-dir', '');

const [toChild, toChildW] = pipe();
const [fromChild, fromChildW] = pipe();
const child = spawn(binPath('iomux_pipe_echo'), [String(delayUs)], { stdio: [toChild, fromChildW, 'inherit'] });
closeSync(toChild);
closeSync(fromChildW);
const ping = Buffer.from('p');
const rbuf = Buffer.alloc(16);
const send = () => writeSync(toChildW, ping);
const recv = () => {
  if (readSync(fromChild, rbuf, 0, 16, null) !== 1) throw new Error('lost the ping-pong');
};

/**
 * A callback-driven ping-pong: `onReadable` is wired to the mechanism and
 * `read()` takes the answer (returns the round trips it completes); each
 * phase resolves with the round trips it made.
 */
function callbackPhases(read = () => (recv(), 1)) {
  let n = 0;
  let end = 0;
  /** @type {(n: number) => void} */
  let done = () => {};
  const onReadable = () => {
    n += read();
    if (performance.now() >= end) done(n);
    else send();
  };
  /** @param {number} budget */
  const phase = (budget) =>
    new Promise((resolve) => {
      n = 0;
      end = performance.now() + budget;
      done = resolve;
      send();
    });
  return { onReadable, phase };
}

/**
 * A variant that drives a selector of `backend` with `run(sel, end)`, which
 * returns the round trips made before `end`.
 * @param {string} backend
 * @param {(sel: import('@iomux/core').BaseSelector, end: number) => Promise<number>} run
 */
const selectorVariant = (backend, run) => () => {
  const sel = createSelector(/** @type {import('@iomux/core').BackendName} */ (backend));
  sel.register(fromChild, Events.IN);
  return { phase: (/** @type {number} */ budget) => run(sel, performance.now() + budget), stop: () => sel.close() };
};

/** @type {Record<string, () => { phase: (budget: number) => Promise<number>, stop: () => void }>} */
const VARIANTS = {
  peer() {
    const { Epoll } = createRequire(join(resolve(peerDir), 'noop.js'))('epoll');
    const { onReadable, phase } = callbackPhases();
    const poller = new Epoll((/** @type {Error | null} */ err) => {
      if (err) throw err;
      onReadable();
    });
    poller.add(fromChild, Epoll.EPOLLIN);
    return { phase, stop: () => poller.remove(fromChild).close() };
  },
  net() {
    let got = 0;
    const { onReadable, phase } = callbackPhases(() => got);
    const sock = new net.Socket({ fd: fromChild, readable: true, writable: false });
    sock.on('data', (/** @type {Buffer} */ d) => {
      got = d.length;
      onReadable();
    });
    return { phase, stop: () => sock.destroy() };
  },
};
for (const backend of backends()) { // every backend this machine runs, as cli.mjs's --backend
  VARIANTS[`wait-${backend}`] = selectorVariant(backend, async (sel, end) => {
    let n = 0;
    while (performance.now() < end) {
      send();
      while ((await sel.wait()).length === 0);
      recv();
      n++;
    }
    return n;
  });
  VARIANTS[`iter-${backend}`] = selectorVariant(backend, async (sel, end) => {
    let n = 0;
    send();
    for await (const ready of sel) {
      if (ready.length === 0) continue;
      recv();
      n++;
      if (performance.now() >= end) break;
      send();
    }
    return n;
  });
  VARIANTS[`watcher-${backend}`] = () => {
    const { onReadable, phase } = callbackPhases();
    const w = new Watcher(
      (err) => {
        if (err) throw err;
        onReadable();
      },
      { backend: /** @type {import('@iomux/core').BackendName} */ (backend) },
    );
    w.add(fromChild, Events.IN);
    return { phase, stop: () => w.close() };
  };
}

const make = VARIANTS[variant];
if (!make) {
  console.error(`peers-driver: unknown variant '${variant}' (one of ${Object.keys(VARIANTS).join(', ')})`);
  process.exit(2);
}
const v = make();
await v.phase(warmMs);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const roundTrips = await v.phase(ms);
const wallMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
v.stop();
closeSync(toChildW); // the echo exits at EOF
child.on('exit', () => {
  if (variant !== 'net') closeSync(fromChild); // net's socket owns and closed it
  console.log(JSON.stringify({ variant, delayUs, roundTrips, wallMs, cpuUs: cpu.user + cpu.system }));
});
