// Command-line plumbing for the examples: flags, the usage line, and the one
// way every example fails (one line on stderr, a non-zero exit). Nothing here
// touches a socket or a selector; that is each example's own business.
import { parseArgs } from 'node:util';
import { backends } from '@iomux/core';

/** @typedef {import('@iomux/core').BackendName} BackendName */

/** The --backend part of the usage lines: the backends this machine can run (io_uring where its probe succeeds). */
export const BACKEND_USAGE = `[--backend ${backends().join('|')}]`;
const BASE_USAGE = `${BACKEND_USAGE} [--host H] [--port N]`;

/** The one usage line an example prints for --help and after every flag error. */
export function usageLine(name, usage = '', base = BASE_USAGE) {
  return `usage: node examples/${name}.mjs ${base}${usage ? ' ' + usage : ''}`;
}

/**
 * A flag error: the message, the usage line, exit 2.
 * @returns {never}
 */
export function fail(name, message, usage = '', base = BASE_USAGE) {
  console.error(`${name}: ${message}`);
  console.error(usageLine(name, usage, base));
  process.exit(2);
}

/**
 * Parses `options` (a `node:util` parseArgs table) strictly: --help prints
 * the usage line and exits 0; an unknown flag, a missing value or a stray
 * argument prints the error and the usage line and exits 2.
 * @returns {Record<string, any>} flag name -> value (string, or boolean for a boolean flag)
 */
export function parseFlags(name, options, usage = '', base = BASE_USAGE) {
  /** @type {Record<string, any>} */
  let values = {};
  try {
    ({ values } = parseArgs({ options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (err) {
    fail(name, err.message.split('\n')[0], usage, base); // parseArgs may add hints on more lines
  }
  if (values.help) {
    console.log(usageLine(name, usage, base));
    process.exit(0);
  }
  return values;
}

/**
 * Parses the flags every server understands (--backend, --host, --port) plus
 * `extra`. `--port` takes decimal digits only, 0..65535 (0: the kernel picks
 * a free port), so `0x50`, `1e3` and an empty `--port=` are errors, not
 * ports 80, 1000 and "random".
 * @returns {Record<string, any> & { backend: BackendName | 'default', host: string, port: number }}
 */
export function serverArgs(name, extra = {}, usage = '') {
  const values = parseFlags(
    name,
    {
      backend: { type: 'string', default: 'default' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      ...extra,
    },
    usage,
  );
  return { ...values, host: String(values.host), backend: backendFlag(name, values.backend, usage), port: portFlag(name, values.port, usage) };
}

/** `--port`: decimal digits, 0..65535. */
export function portFlag(name, value, usage = '', base = BASE_USAGE) {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) fail(name, `--port must be a decimal number 0..65535, got '${value}'`, usage, base);
  return Number(value);
}

/**
 * `--backend`: one this platform has, or 'default'.
 * @returns {BackendName | 'default'}
 */
export function backendFlag(name, value, usage = '', base = BASE_USAGE) {
  if (value !== 'default' && !backends().includes(value)) {
    fail(name, `--backend must be one of ${backends().join(', ')}, got '${value}'`, usage, base);
  }
  return value;
}

/** A positive integer flag (decimal digits), or exit 2. */
export function intFlag(name, flag, value, usage = '', base = BASE_USAGE) {
  if (!/^\d+$/.test(value) || Number(value) <= 0 || !Number.isSafeInteger(Number(value))) {
    fail(name, `--${flag} must be a positive integer, got '${value}'`, usage, base);
  }
  return Number(value);
}

const WHY = {
  EADDRINUSE: 'address already in use (another server on that port?)',
  EADDRNOTAVAIL: 'address not available (not an address of this machine)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  ECONNREFUSED: 'connection refused (is the server running?)',
  EAI_NONAME: 'host not found',
  EAI_AGAIN: 'host name lookup failed (temporary)',
  ENOTFOUND: 'host not found',
  EAFNOSUPPORT: 'address family not supported',
};

/**
 * A system call failed at start-up (bind, connect): one line saying what was
 * attempted and why it failed, then exit 1. Anything that is not a system
 * error is a bug, and keeps its stack trace.
 * @returns {never}
 */
export function exitOnSystemError(name, what, err) {
  if (typeof err?.syscall !== 'string') throw err;
  console.error(`${name}: ${what}: ${WHY[err.code] ?? err.message} [${err.code}]`);
  process.exit(1);
}

/** Prints the one ready line tests and scripts wait for. */
export function announce(server, sel) {
  const { host, port } = server.localAddress();
  console.log(`listening on ${host}:${port} backend=${sel.backend}`);
}

/** Prints a message to stderr only the first time `key` is seen. */
const warned = new Set();
export function warnOnce(key, message) {
  if (warned.has(key)) return;
  warned.add(key);
  console.error(message);
}
