// The one child-process supervisor for tests, the benchmark and the soak:
// it spawns, waits for the ready line (with a time limit), collects output,
// and always stops and reaps what it started — on success, on failure, and
// (for a parent that calls killChildrenOnSignals()) on Ctrl-C.
//
// The ready-line protocol: a server prints, on stdout, once it accepts
// connections,
//
//     listening on HOST:PORT backend=BACKEND
//
// (the example servers, the benchmark's echo servers and the fixtures all do),
// optionally followed by more NAME=VALUE fields (echo-workers adds workers=N).
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Matches the ready line; groups: host, port, backend. */
export const READY_LINE = /^listening on (\S+):(\d+) backend=(\S+)(?: \w+=\S+)*$/m;

/**
 * Every child still running, with how to signal it (its whole process group
 * when it was started detached, e.g. through a shell or pnpm).
 * @type {Map<import('node:child_process').ChildProcess, (sig: NodeJS.Signals) => void>}
 */
const live = new Map();

// Last resort: nothing started here outlives this process.
process.on('exit', () => killAll());

/** SIGKILLs every child still running (they are reaped by their 'exit' handlers, or by init once we are gone). */
export function killAll() {
  for (const kill of live.values()) kill('SIGKILL');
}

/** How many children started here are still running. */
export function liveCount() {
  return live.size;
}

/**
 * For command-line parents (bench, soak): on SIGINT, SIGTERM or SIGHUP, kill
 * every child, say so on stderr, and exit 130.
 * @param {string} who - the program's name, for the message
 */
export function killChildrenOnSignals(who) {
  for (const sig of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) {
    process.on(sig, () => {
      killAll();
      process.stderr.write(`\n${who}: stopped by ${sig}; every child process was killed\n`);
      process.exit(130);
    });
  }
}

/**
 * @typedef {{ code: number | null, signal: NodeJS.Signals | null }} Exit
 * @typedef {{
 *   cwd?: string,
 *   env?: NodeJS.ProcessEnv,
 *   stdin?: 'ignore' | 'pipe',
 *   readyTimeoutMs?: number,
 *   detached?: boolean,
 * }} StartOptions
 * `detached`: the child leads a process group of its own, and every signal
 * goes to the whole group (for a child that runs the real server through a
 * shell or pnpm).
 */

/**
 * A running child: its output so far, how it ended, and /proc views of it.
 * @typedef {{
 *   child: import('node:child_process').ChildProcess,
 *   pid: number,
 *   stdout(): string,
 *   stderr(): string,
 *   exited: Promise<Exit>,
 *   running(): boolean,
 *   kill(signal: NodeJS.Signals): void,
 *   stop(signal?: NodeJS.Signals, graceMs?: number): Promise<Exit>,
 *   fds(): Map<number, string>,
 *   fdCount(): number,
 *   rssMiB(): number,
 *   cpuSec(): number,
 * }} Child
 * @typedef {Child & { host: string, port: number, backend: string }} Server
 */

/**
 * Spawns `cmd args` with piped stdout/stderr and tracks it until it exits.
 * @param {string} cmd
 * @param {string[]} args
 * @param {StartOptions} [opts]
 * @returns {Child}
 */
export function spawnChild(cmd, args, opts = {}) {
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: opts.env,
    detached: opts.detached,
    stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid ?? -1;
  const kill = (/** @type {NodeJS.Signals} */ sig) => {
    try {
      if (opts.detached && pid > 0) process.kill(-pid, sig);
      else child.kill(sig);
    } catch {
      // already gone
    }
  };
  live.set(child, kill);
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (/** @type {string} */ d) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (/** @type {string} */ d) => (err += d));
  /** @type {Promise<Exit>} */
  const exited = new Promise((resolve) => {
    // 'close' comes after 'exit' once stdout and stderr are drained too.
    child.on('close', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
    child.on('error', (e) => {
      live.delete(child);
      err += `\n[child] ${e.message}\n`;
      resolve({ code: null, signal: null });
    });
  });
  const running = () => child.exitCode === null && child.signalCode === null && live.has(child);
  return {
    child,
    pid,
    stdout: () => out,
    stderr: () => err,
    exited,
    running,
    kill,
    async stop(signal = 'SIGINT', graceMs = 10_000) {
      if (running()) kill(signal);
      const guard = setTimeout(() => kill('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(guard);
      }
    },
    fds: () => procFds(pid),
    fdCount: () => procFds(pid).size,
    rssMiB: () => {
      try {
        return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
      } catch {
        return -1;
      }
    },
    cpuSec: () => {
      try {
        const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
        return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks (100 Hz)
      } catch {
        return -1;
      }
    },
  };
}

/**
 * The open fds of process `pid`, each with its link target ("socket:[…]").
 * Empty once the process is gone.
 * @param {number | 'self'} pid
 * @returns {Map<number, string>}
 */
export function procFds(pid) {
  /** @type {Map<number, string>} */
  const m = new Map();
  let names;
  try {
    names = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return m;
  }
  for (const name of names) {
    try {
      m.set(Number(name), readlinkSync(`/proc/${pid}/fd/${name}`));
    } catch {
      // closed meanwhile
    }
  }
  return m;
}

/**
 * The fds in `after` that `before` did not hold: a new number, or a number
 * that now names another file. Fds closed meanwhile do not count. Leak checks
 * compare these sets, never totals, which the runtime's own fds disturb.
 * @param {ReadonlyMap<number, string>} before
 * @param {ReadonlyMap<number, string>} after
 * @returns {Map<number, string>}
 */
export function newFds(before, after) {
  /** @type {Map<number, string>} */
  const added = new Map();
  for (const [fd, target] of after) if (before.get(fd) !== target) added.set(fd, target);
  return added;
}

/**
 * Starts a server and resolves once it prints the ready line; rejects (after
 * killing it) if it exits first or says nothing within `readyTimeoutMs`.
 * @param {string} cmd
 * @param {string[]} args
 * @param {StartOptions} [opts]
 * @returns {Promise<Server>}
 */
export function startServer(cmd, args, opts = {}) {
  const c = spawnChild(cmd, args, opts);
  const limit = opts.readyTimeoutMs ?? 15_000;
  const what = [cmd, ...args].join(' ');
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (/** @type {string} */ why) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      c.kill('SIGKILL');
      // Reap it before reporting, so the caller never sees a live child after a rejection.
      void c.exited.then(() =>
        reject(new Error(`${what}: ${why}\nstdout: ${c.stdout().trim()}\nstderr: ${c.stderr().trim()}`)),
      );
    };
    const timer = setTimeout(() => fail(`no ready line ("listening on HOST:PORT backend=B") within ${limit} ms`), limit);
    const onData = () => {
      const m = READY_LINE.exec(c.stdout());
      if (!m || settled) return;
      settled = true;
      clearTimeout(timer);
      c.child.stdout?.off('data', onData);
      resolve({ ...c, host: /** @type {string} */ (m[1]), port: Number(m[2]), backend: /** @type {string} */ (m[3]) });
    };
    // Registered after spawnChild's own listener, so stdout() already has the chunk.
    c.child.stdout?.on('data', onData);
    void c.exited.then(({ code, signal }) => fail(`exited before its ready line (code ${code}, signal ${signal})`));
  });
}

/**
 * Runs a program to completion, capturing its output; SIGKILLed after
 * `timeoutMs` (then `timedOut` is true).
 * @param {string} cmd
 * @param {string[]} args
 * @param {{ cwd?: string, env?: NodeJS.ProcessEnv, input?: string, timeoutMs?: number }} [opts]
 * @returns {Promise<{ code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string, timedOut: boolean }>}
 */
export async function runChild(cmd, args, opts = {}) {
  const c = spawnChild(cmd, args, { cwd: opts.cwd, env: opts.env, stdin: opts.input === undefined ? 'ignore' : 'pipe' });
  if (opts.input !== undefined && c.child.stdin) {
    c.child.stdin.on('error', () => {}); // the child may exit before reading it all
    c.child.stdin.end(opts.input);
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    c.kill('SIGKILL');
  }, opts.timeoutMs ?? 120_000);
  const { code, signal } = await c.exited;
  clearTimeout(timer);
  return { code, signal, stdout: c.stdout(), stderr: c.stderr(), timedOut };
}
