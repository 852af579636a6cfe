#!/usr/bin/env node
// echo-workers: the echo-queue server spread over N Worker threads, each with
// its own selector and its own connections.
//
// How the connections get spread (--balance):
//   exclusive  one listening socket, watched by every Worker's epoll selector
//              with EPOLLEXCLUSIVE: a connection wakes one Worker instead of
//              all of them (epoll only; the default there).
//   reuseport  one listening socket per Worker, all bound to the same port
//              with SO_REUSEPORT: the kernel hashes each new connection to one
//              of them (every backend; the default on select and poll).
//
// The main thread only starts the Workers, prints the ready line and waits.
// The Workers block in select(null) for as long as there is nothing to do;
// to stop them, the main thread sets a flag in shared memory and wakes each
// one with its selector's Waker. A Worker that dies is reported on stderr;
// the others keep serving (with reuseport, its listener closes with it, and
// the kernel stops sending it connections).
//
//   node examples/echo-workers.mjs --workers 2 --backend epoll --port 10000
//
// Test hook: ECHO_WORKERS_CRASH=I makes Worker I throw (an uncaught error, as
// a bug would) once it is serving. ECHO_WORKERS_STATS=1 prints, at exit, one
// line `stats {"accepted":[...]}` with the connections each Worker accepted.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import {
  EVENT_READ,
  EVENT_WRITE,
  Events,
  Socket,
  SystemError,
  Waker,
  capabilities,
  createSelector,
  raiseFdLimit,
} from '@iomux/core';
import { exitOnSystemError, intFlag, serverArgs, warnOnce } from './lib/args.mjs';

const NAME = 'echo-workers';
const USAGE = '[--workers N] [--balance exclusive|reuseport] [--max-pending BYTES]';

if (isMainThread) await main();
else serve(workerData);

// ------------------------------------------------------------ main thread

async function main() {
  const args = serverArgs(
    NAME,
    {
      workers: { type: 'string', default: '2' },
      balance: { type: 'string' },
      'max-pending': { type: 'string', default: String(4 * 1024 * 1024) },
    },
    USAGE,
  );
  const workers = intFlag(NAME, 'workers', args.workers, USAGE);
  const maxPending = intFlag(NAME, 'max-pending', args['max-pending'], USAGE);
  const backend = createSelector(args.backend).backend; // resolves 'default'
  const caps = capabilities(backend);
  const balance = args.balance ?? (caps.exclusive ? 'exclusive' : 'reuseport');
  if (balance !== 'exclusive' && balance !== 'reuseport') die(`--balance must be exclusive or reuseport, got ${balance}`, 2);
  if (balance === 'exclusive' && !caps.exclusive) die(`--balance exclusive needs EPOLLEXCLUSIVE, which the ${backend} backend lacks; use --balance reuseport`, 2);

  // The listening sockets, all made here so the port is known (and held)
  // before any Worker starts. reuseport: one per Worker on the same port,
  // each handed over (detach) to its Worker, which owns it from then on.
  // exclusive: one, owned by this thread, borrowed by every Worker.
  raiseFdLimit(Infinity); // for every Worker's connections (up to the hard limit)
  const listeners = [];
  let port = args.port;
  for (let i = 0; i < (balance === 'exclusive' ? 1 : workers); i++) {
    const s = new Socket(args.host.includes(':') ? 'inet6' : 'inet', 'stream');
    s.setReuseAddress(true);
    if (balance === 'reuseport') s.setReusePort(true);
    try {
      s.bind({ host: args.host, port });
    } catch (err) {
      exitOnSystemError(NAME, `cannot listen on ${args.host}:${port}`, err);
    }
    port = /** @type {{ port: number }} */ (s.localAddress()).port; // the others bind the port the first one got
    s.listen(128);
    s.setBlocking(false);
    listeners.push(s);
  }
  const { host } = /** @type {{ host: string }} */ (listeners[0].localAddress());

  // [stop, accepted by worker 0, accepted by worker 1, ...]
  const shared = new Int32Array(new SharedArrayBuffer(4 * (1 + workers)));
  const crash = process.env.ECHO_WORKERS_CRASH === undefined ? -1 : Number(process.env.ECHO_WORKERS_CRASH);
  const live = new Map(); // index -> { worker, waker }
  const ready = [];
  let stopping = false;
  for (let i = 0; i < workers; i++) {
    const fd = balance === 'exclusive' ? listeners[0].fileno() : listeners[i].detach();
    const worker = new Worker(new URL(import.meta.url), {
      workerData: { index: i, backend, fd, owned: balance !== 'exclusive', exclusive: balance === 'exclusive', shared, maxPending, crash: crash === i },
    });
    /** @type {{ worker: Worker, waker: Waker | null, failed: boolean }} */
    const entry = { worker, waker: null, failed: false };
    live.set(i, entry);
    ready.push(
      new Promise((/** @type {(v?: unknown) => void} */ resolve) => {
        worker.once('message', (w) => {
          entry.waker = Waker.from(w);
          resolve();
        });
        worker.once('exit', () => resolve()); // died before it was ready: reported below
      }),
    );
    worker.on('error', (err) => {
      entry.failed = true;
      console.error(`${NAME}: worker ${i} died: ${err?.message ?? err}`);
    });
    worker.on('exit', (code) => {
      live.delete(i);
      if (stopping) return;
      if (!entry.failed) console.error(`${NAME}: worker ${i} exited (code ${code})`);
      if (live.size === 0) die('every worker has died', 1);
      console.error(`${NAME}: ${live.size} of ${workers} workers still serving`);
    });
  }
  await Promise.all(ready);

  const stop = async () => {
    if (stopping) return;
    stopping = true;
    Atomics.store(shared, 0, 1);
    const exits = [...live.values()].map(({ worker, waker }) => {
      const exited = new Promise((r) => worker.once('exit', r));
      waker?.wake();
      // A Worker stuck in a long computation would never see the flag.
      const guard = setTimeout(() => void worker.terminate(), 5000);
      return exited.finally(() => clearTimeout(guard));
    });
    await Promise.all(exits);
    for (const s of listeners) s.close();
    if (process.env.ECHO_WORKERS_STATS) {
      console.log(`stats ${JSON.stringify({ accepted: Array.from(shared.subarray(1)) })}`);
    }
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  // Only now: the Workers serve on their own, so a client (or a test) may be
  // done and signal us before this thread would otherwise have run again.
  console.log(`listening on ${host}:${port} backend=${backend} workers=${workers}`);
}

function die(message, code) {
  console.error(`${NAME}: ${message}`);
  process.exit(code);
}

// ------------------------------------------------------------ one Worker

/**
 * @param {{ index: number, backend: import('@iomux/core').BackendName, fd: number, owned: boolean,
 *   exclusive: boolean, shared: Int32Array, maxPending: number, crash: boolean }} config
 */
function serve({ index, backend, fd, owned, exclusive, shared, maxPending, crash }) {
  const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);
  const sel = createSelector(backend);
  const server = Socket.fromFd(fd, { owned });
  const LISTEN = exclusive ? EVENT_READ | Events.EXCLUSIVE : EVENT_READ;
  sel.register(server, LISTEN);
  const maxFd = sel.capabilities.maxFd;
  const queues = new Map(); // socket -> { chunks, bytes, eof }
  port.postMessage(sel.waker());

  // Out of fds (EMFILE), accept() fails but the connection stays queued and
  // the listener readable: stop watching it until a connection closes.
  let acceptPaused = false;
  const drop = (conn) => {
    sel.unregister(conn);
    conn.close();
    queues.delete(conn);
    if (acceptPaused) {
      sel.register(server, LISTEN);
      acceptPaused = false;
    }
  };
  const io = (conn, fn) => {
    try {
      return fn();
    } catch (err) {
      if (!(err instanceof SystemError)) throw err;
      drop(conn); // ECONNRESET, EPIPE: that peer's business
      return undefined;
    }
  };

  function accept() {
    for (;;) {
      let got;
      try {
        got = server.accept();
      } catch (err) {
        if (!(err instanceof SystemError)) throw err;
        if (err.code !== 'EMFILE' && err.code !== 'ENFILE') warnOnce(err.code, `${NAME} worker ${index}: accept failed: ${err.message}`);
        else {
          warnOnce(err.code, `${NAME} worker ${index}: out of file descriptors (${err.code}); not accepting until a connection closes`);
          sel.unregister(server);
          acceptPaused = true;
        }
        return;
      }
      if (got === null) return; // none left, or another Worker took it
      const [conn] = got;
      if (conn.fileno() > maxFd) {
        conn.close();
        warnOnce('maxfd', `${NAME} worker ${index}: refusing connections with fd > ${maxFd}; the ${backend} backend cannot watch them`);
        continue;
      }
      conn.setBlocking(false);
      sel.register(conn, EVENT_READ);
      queues.set(conn, { chunks: [], bytes: 0, eof: false });
      Atomics.add(shared, 1 + index, 1);
    }
  }

  function onReadable(conn, q) {
    const data = io(conn, () => conn.recv(64 * 1024));
    if (data === undefined || data === null) return;
    if (data.length === 0) {
      q.eof = true;
      if (q.bytes === 0) drop(conn);
      else sel.modify(conn, EVENT_WRITE);
      return;
    }
    let rest = data;
    if (q.bytes === 0) {
      // Nothing queued: send at once, and ask for EVENT_WRITE only if the
      // kernel did not take it all. (echo-queue always queues first, which
      // costs two modify() calls per message; a server past one core wants
      // the system calls it can avoid.)
      const n = io(conn, () => conn.send(data));
      if (n === undefined) return; // reset: dropped
      if (n === data.length) return;
      rest = n === null ? data : data.subarray(n);
    }
    q.chunks.push(rest);
    q.bytes += rest.length;
    if (q.bytes > maxPending) {
      warnOnce('max-pending', `${NAME}: dropping a peer that does not read its echo (more than ${maxPending} bytes pending)`);
      drop(conn);
      return;
    }
    if (q.bytes === rest.length) sel.modify(conn, EVENT_READ | EVENT_WRITE);
  }

  function onWritable(conn, q) {
    while (q.chunks.length > 0) {
      const n = io(conn, () => conn.send(q.chunks[0]));
      if (n === undefined || n === null) return;
      q.bytes -= n;
      if (n < q.chunks[0].length) {
        q.chunks[0] = q.chunks[0].subarray(n);
        return;
      }
      q.chunks.shift();
    }
    if (q.eof) drop(conn);
    else sel.modify(conn, EVENT_READ);
  }

  if (crash) setTimeout(() => { throw new Error(`worker ${index}: crash requested by ECHO_WORKERS_CRASH`); }, 50);

  // Block until something happens: a connection, data, or the main thread's
  // Waker (stop). While select() blocks, this Worker's event loop does not
  // run, so the crash timer above fires between two waits; that is why the
  // loop yields to the event loop while a crash is pending.
  const loop = () => {
    while (Atomics.load(shared, 0) === 0) {
      for (const [key, events] of sel.select(crash ? 10 : null)) {
        if (key.fileobj === server) {
          accept();
          continue;
        }
        const conn = key.fileobj;
        const q = queues.get(conn);
        if (!q) continue;
        if (events & (Events.ERR | Events.HUP | Events.NVAL)) {
          drop(conn);
          continue;
        }
        if (events & EVENT_READ) onReadable(conn, q);
        if (events & EVENT_WRITE && queues.has(conn)) onWritable(conn, q);
      }
      if (crash) return void setImmediate(loop);
    }
    for (const conn of [...queues.keys()]) drop(conn);
    sel.close();
    server.close(); // closes the fd only if this Worker owns it (reuseport)
  };
  loop();
}
