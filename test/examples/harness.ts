// Helpers for the examples tests: start an example as a child process, read
// its ready line, drive it with real clients over 127.0.0.1, and make sure
// every child is gone when the test file ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const live = new Set<ChildProcess>();

// Last resort: never leave a server running after this test process.
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export interface Server {
  child: ChildProcess;
  host: string;
  port: number;
  backend: string;
  stdout(): string;
  stderr(): string;
  /** Sends `signal` and resolves with how the child ended. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** How many fds the server process has open now. */
  fdCount(): number;
}

const READY = /^listening on (\S+):(\d+) backend=(\w+)$/m;

/** Runs `node <script> ...args` and resolves once it prints its ready line. */
export function startScript(script: string, args: string[], readyTimeoutMs = 15_000): Promise<Server> {
  const child = spawn(process.execPath, [script, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let out = '';
  let err = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(`no ready line within ${readyTimeoutMs} ms`), readyTimeoutMs);
    function fail(why: string) {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${script} ${args.join(' ')}: ${why}\nstdout: ${out}\nstderr: ${err}`));
    }
    const onData = () => {
      const m = READY.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      resolve({
        child,
        host: m[1]!,
        port: Number(m[2]),
        backend: m[3]!,
        stdout: () => out,
        stderr: () => err,
        fdCount: () => readdirSync(`/proc/${child.pid}/fd`).length,
        async stop(signal = 'SIGINT') {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          const guard = setTimeout(() => child.kill('SIGKILL'), 10_000);
          try {
            return await exited;
          } finally {
            clearTimeout(guard);
          }
        },
      });
    };
    child.stdout.on('data', onData);
    void exited.then(({ code, signal }) => fail(`exited early (code ${code}, signal ${signal})`));
  });
}

/** Starts examples/NAME.mjs. */
export function startExample(name: string, args: string[]): Promise<Server> {
  return startScript(`examples/${name}.mjs`, args);
}

/** Runs a command to completion (bounded), capturing its output. */
export function run(args: string[], input = '', timeoutMs = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => {}); // the child may exit before reading it all
    child.stdin.end(input);
  });
}

/** How many child processes started here are still running. */
export function liveCount(): number {
  return live.size;
}

/** Kills whatever is still running (for after-hooks). */
export function killAll(): void {
  for (const c of live) c.kill('SIGKILL');
}

/** Retries `check` until it returns true or `timeoutMs` passes; returns the last result. */
export async function eventually(check: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface EchoOptions {
  /** Half-close (end()) right after writing, then read the echo. */
  halfClose?: boolean;
  /** Write in pieces of this size (default: all at once). */
  piece?: number;
  timeoutMs?: number;
}

/** Sends `size` random bytes and resolves once the same bytes came back, in order. */
export function echoOnce(port: number, size: number, opts: EchoOptions = {}): Promise<void> {
  const payload = randomBytes(size);
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const got: Buffer[] = [];
    let n = 0;
    let done = false;
    const timer = setTimeout(() => finish(new Error(`echo of ${size} bytes: only ${n} came back in time`)), opts.timeoutMs ?? 60_000);
    function finish(err?: Error) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve();
    }
    sock.on('error', (err) => finish(new Error(`echo of ${size} bytes after ${n} back: ${err.message}`)));
    sock.on('connect', () => {
      const piece = opts.piece ?? size;
      for (let off = 0; off < size; off += piece) sock.write(payload.subarray(off, off + piece));
      if (opts.halfClose) sock.end();
    });
    sock.on('data', (d: Buffer) => {
      got.push(d);
      n += d.length;
      if (n > size) finish(new Error(`echo of ${size} bytes: got ${n}`));
      else if (n === size) {
        const back = Buffer.concat(got);
        if (!back.equals(payload)) return finish(new Error(`echo of ${size} bytes came back different`));
        if (!opts.halfClose) return finish();
        // Half-closed: the server must close after flushing.
        sock.once('end', () => finish());
      }
    });
    sock.on('end', () => {
      if (n < size) finish(new Error(`echo of ${size} bytes: EOF after ${n}`));
    });
  });
}

/**
 * A client that starts sending `size` bytes and vanishes midway: by reset
 * (RST) or by a plain close without reading the echo.
 */
export function vanishMidSend(port: number, size: number, how: 'reset' | 'close'): Promise<void> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.on('error', () => {});
    sock.on('close', () => resolve());
    sock.on('connect', () => {
      sock.write(randomBytes(size >> 1), () => {
        if (how === 'reset') sock.resetAndDestroy();
        else sock.destroy();
      });
    });
  });
}

/** 50 sizes from 1 B to 1 MiB, about 2 MiB in all. */
export function echoSizes(): number[] {
  const sizes = [1, 1 << 20, 512 * 1024];
  for (let i = 0; sizes.length < 50; i++) sizes.push(2 ** (i % 17) + i); // 1 B .. 64 KiB, with odd sizes
  return sizes;
}

export { assert };

export interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

/**
 * Sends `requests` one after another on ONE connection, reading each
 * response (framed by Content-Length; HEAD responses have no body) before
 * sending the next. Stops early if the server closes. `raw` holds what came
 * back beyond the parsed responses.
 */
export function httpExchange(
  port: number,
  requests: { text: string; head?: boolean }[],
  timeoutMs = 30_000,
): Promise<{ responses: RawResponse[]; closed: boolean; raw: Buffer }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const responses: RawResponse[] = [];
    let buf = Buffer.alloc(0);
    let closed = false;
    let i = 0;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`HTTP exchange timed out after ${responses.length} responses; have ${buf.length} bytes`));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ responses, closed, raw: buf });
    };
    const sendNext = () => {
      if (i < requests.length) sock.write(requests[i]!.text);
      else finish();
    };
    const parse = () => {
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1 || i >= requests.length) return;
        const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
        const status = Number(/^HTTP\/1\.[01] (\d{3}) /.exec(lines[0]!)?.[1] ?? NaN);
        const headers = new Map<string, string>();
        for (const l of lines.slice(1)) {
          const k = l.indexOf(':');
          headers.set(l.slice(0, k).trim().toLowerCase(), l.slice(k + 1).trim());
        }
        const len = requests[i]!.head ? 0 : Number(headers.get('content-length') ?? NaN);
        if (Number.isNaN(len)) return finish(); // unframed: leave it in raw
        if (buf.length < end + 4 + len) return;
        responses.push({ status, headers, body: buf.subarray(end + 4, end + 4 + len) });
        buf = buf.subarray(end + 4 + len);
        i++;
        sendNext();
      }
    };
    sock.on('connect', sendNext);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      parse();
    });
    sock.on('end', () => {
      closed = true;
      finish();
    });
    sock.on('error', () => {
      closed = true;
      finish();
    });
  });
}

/** A GET request line and headers. */
export const get = (target: string, extra = '') => ({ text: `GET ${target} HTTP/1.1\r\nHost: localhost\r\n${extra}\r\n` });
/** A HEAD request (its response has headers only). */
export const head = (target: string) => ({ text: `HEAD ${target} HTTP/1.1\r\nHost: localhost\r\n\r\n`, head: true });
