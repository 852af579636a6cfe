// Helpers for the examples tests: start an example as a child process, read
// its ready line, drive it with real clients over 127.0.0.1, and make sure
// every child is gone when the test file ends.
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { killAll, liveCount, runChild, startServer, type Server } from '../../scripts/lib/child.mjs';
import { patternBytes } from '../../scripts/lib/random.mjs';

// Seeded payloads: a failing run sends the same bytes again.
let payloadSeed = 0;
const randomBytes = (n: number) => patternBytes(++payloadSeed, n);

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// The project's one supervisor (scripts/lib/child.mjs) tracks every child and
// kills what is left when this process exits.
export { killAll, liveCount, type Server };

/** Runs `node <script> ...args` and resolves once it prints its ready line ("listening on HOST:PORT backend=B"). */
export function startScript(script: string, args: string[], readyTimeoutMs = 15_000): Promise<Server> {
  return startServer(process.execPath, [script, ...args], { cwd: ROOT, readyTimeoutMs });
}

/** Starts examples/NAME.mjs. */
export function startExample(name: string, args: string[]): Promise<Server> {
  return startScript(`examples/${name}.mjs`, args);
}

/** Runs `node ...args` to completion (bounded), capturing its output. */
export async function run(args: string[], input = '', timeoutMs = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await runChild(process.execPath, args, { cwd: ROOT, input, timeoutMs });
  return { code, stdout, stderr };
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
