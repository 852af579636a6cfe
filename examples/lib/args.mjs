// Shared command-line plumbing for the examples, so that each example file
// holds only its multiplexing logic. Only acceptGate() touches a selector.
import { parseArgs } from 'node:util';
import { Socket, backends, raiseFdLimit } from '@iomux/core';

/**
 * Parses the flags every server understands (--backend, --host, --port) plus
 * `extra`, a `node:util` parseArgs option table. Exits with a usage message
 * on a bad flag.
 * @returns {Record<string, any> & { backend: import('@iomux/core').BackendName | 'default', host: string, port: number }}
 */
export function serverArgs(name, extra = {}, usage = '') {
  /** @type {Record<string, any>} */
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        backend: { type: 'string', default: 'default' },
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '0' },
        help: { type: 'boolean', short: 'h' },
        ...extra,
      },
      strict: true,
    }));
  } catch (err) {
    fail(name, err.message, usage);
  }
  if (values.help) {
    console.log(`usage: node examples/${name}.mjs [--backend select|poll|epoll] [--host H] [--port N]${usage ? ' ' + usage : ''}`);
    process.exit(0);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(name, `--port must be 0..65535, got ${values.port}`, usage);
  if (values.backend !== 'default' && !backends().includes(values.backend)) {
    fail(name, `--backend must be one of ${backends().join(', ')}, got ${values.backend}`, usage);
  }
  return { ...values, host: values.host, backend: values.backend, port };
}

/** Parses a positive integer flag value or exits. */
export function intFlag(name, flag, value) {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) fail(name, `--${flag} must be a positive integer, got ${value}`);
  return n;
}

/** @returns {never} */
function fail(name, message, usage = '') {
  console.error(`${name}: ${message}`);
  console.error(`usage: node examples/${name}.mjs [--backend select|poll|epoll] [--host H] [--port N]${usage ? ' ' + usage : ''}`);
  process.exit(2);
}

/**
 * A non-blocking listening TCP socket on host:port (port 0: the kernel picks
 * a free one). Also raises the process's open-file limit, so a server can
 * hold more than the usual 1024 connections (select still cannot: see
 * FD_SETSIZE in the echo servers).
 */
export function listenTcp(host, port) {
  raiseFdLimit(Infinity); // up to the hard limit
  const server = new Socket('inet', 'stream');
  server.setReuseAddress(true); // restart at once even if old connections linger in TIME_WAIT
  server.bind({ host, port });
  server.listen(128);
  server.setBlocking(false); // accept() returns null instead of blocking
  return server;
}

/** Prints the one ready line tests and scripts wait for. */
export function announce(server, sel) {
  const { host, port } = server.localAddress();
  console.log(`listening on ${host}:${port} backend=${sel.backend}`);
}

/**
 * Signals. select() blocks this thread, and Node runs signal handlers only
 * from its event loop, so a server loop must (1) wait with a finite timeout
 * and (2) give the event loop a turn between waits (`await turn()`).
 * Returns an object whose `stopping` becomes true on SIGINT or SIGTERM.
 */
export function stopOnSignals() {
  /** @type {{ stopping: boolean, signal: string | null }} */
  const state = { stopping: false, signal: null };
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      state.stopping = true;
      state.signal = sig;
    });
  }
  return state;
}

/** Lets Node's event loop run once (signal handlers, mostly). */
export const turn = () => new Promise((resolve) => setImmediate(resolve));

/** Prints a message to stderr only the first time `key` is seen. */
const warned = new Set();
export function warnOnce(key, message) {
  if (warned.has(key)) return;
  warned.add(key);
  console.error(message);
}

/**
 * Out of file descriptors (EMFILE, ENFILE), accept() fails and the waiting
 * connection stays queued, so the listener stays readable and a
 * level-triggered loop would spin on it at 100% CPU. The cure: stop watching
 * the listener until one of our connections closes and frees an fd.
 */
export function acceptGate(sel, server, events, name) {
  let paused = false;
  return {
    /** Give it accept()'s error; true if it was the out-of-fds case (now paused). */
    pauseOn(err) {
      if (err.code !== 'EMFILE' && err.code !== 'ENFILE') return false;
      warnOnce(err.code, `${name}: out of file descriptors (${err.code}); not accepting until a connection closes`);
      if (!paused) {
        sel.unregister(server);
        paused = true;
      }
      return true;
    },
    /** Call whenever a connection closes: an fd is free, so accept again. */
    resume() {
      if (!paused) return;
      sel.register(server, events);
      paused = false;
    },
  };
}
