// Raw-socket clients for the course tests: send exact bytes (bare LF, bodies,
// garbage) and see exactly what comes back, and whether the server closed.
import * as net from 'node:net';

export interface RawResult {
  /** Everything received, as latin1. */
  data: string;
  /** True if the server closed the connection before `waitMs` ran out. */
  closed: boolean;
}

/**
 * Connects to 127.0.0.1:port, writes `text` (in one write, or the pieces
 * given), and collects what comes back until the server closes or `waitMs`
 * passes without it closing.
 */
export function rawExchange(port: number, text: string | string[], waitMs = 10_000): Promise<RawResult> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let data = '';
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ data, closed });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => (data += d));
    sock.on('end', () => finish(true));
    sock.on('error', () => finish(true));
    sock.on('connect', () => {
      const pieces = Array.isArray(text) ? text : [text];
      // Each piece in its own write, after the previous one reached the kernel.
      const next = (i: number) => {
        if (i < pieces.length) sock.write(pieces[i]!, () => setTimeout(() => next(i + 1), 20));
      };
      next(0);
    });
  });
}

export interface ParsedResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** Splits a byte stream of HTTP/1.1 responses framed by Content-Length. */
export function parseResponses(data: string): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let rest = data;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) return out;
    const lines = rest.slice(0, end).split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3}) /.exec(lines[0]!)?.[1] ?? NaN);
    const headers = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const k = l.indexOf(':');
      headers.set(l.slice(0, k).trim().toLowerCase(), l.slice(k + 1).trim());
    }
    const len = Number(headers.get('content-length') ?? 0);
    out.push({ status, headers, body: rest.slice(end + 4, end + 4 + len) });
    rest = rest.slice(end + 4 + len);
  }
}

/** Connects and resolves with the socket once connected (errors ignored afterwards). */
export function connectRaw(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.on('error', () => {});
      resolve(s);
    });
    s.once('error', reject);
  });
}

/**
 * One keep-alive connection that sends `count` GET requests, each `gapMs`
 * after the previous response arrived. Resolves with how many responses
 * came back before the server closed (or all of them).
 */
export function slowKeepAlive(port: number, count: number, gapMs: number, timeoutMs = 20_000): Promise<number> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    let answered = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(answered);
    };
    const timer = setTimeout(finish, timeoutMs);
    const ask = () => sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    sock.setEncoding('latin1');
    sock.on('connect', ask);
    sock.on('data', (d: string) => {
      buf += d;
      const got = parseResponses(buf);
      const complete = got.filter((r) => r.body.length === Number(r.headers.get('content-length') ?? 0)).length;
      while (answered < complete) {
        answered++;
        if (answered === count) return finish();
        setTimeout(ask, gapMs);
      }
    });
    sock.on('end', finish);
    sock.on('error', finish);
  });
}
