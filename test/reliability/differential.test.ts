// Differential test across backends.
//
// A seeded random driver opens unix socket pairs, pipes and unix listening
// sockets, and runs one sequence of operations (register / modify /
// unregister / write / read / shutdown / close / connect / accept, fd reuse,
// ONESHOT) against a select, a poll and an epoll selector that watch the
// SAME fds. After every step it asks all three for their ready sets
// (select(0)) and checks that they agree, allowing only the documented
// per-backend differences (ALLOWED below, also in docs/reliability.md).
// A model of every stream (bytes written, bytes read) also checks that no
// byte is lost, duplicated or corrupted.
//
//   IOMUX_DIFF_SEQS=2000 IOMUX_DIFF_STEPS=50   how much to run (defaults)
//   IOMUX_DIFF_BASE=1                          first seed (seeds are BASE..BASE+SEQS-1)
//   IOMUX_DIFF_SEED=1234                       replay one seed and print every op
//
// ALLOWED differences (P = poll's mask, E = epoll's, S = select's, I = interest).
// The code reads them from the capability records (reportsClosedFd,
// reportsHup), comparing each backend with poll:
//  1. epoll forgets an fd closed while registered: E = 0 for it. poll and
//     select report NVAL for it while the number stays closed; once the
//     number is reused by a new file, they watch that file with the old
//     interest (they only know numbers), and epoll still reports nothing.
//  2. select cannot report HUP or ERR: the kernel marks a hung-up fd
//     readable and an errored fd readable and writable. So, for a live fd:
//       S.IN  = I.IN  && P has any of IN, HUP, ERR
//       S.OUT = I.OUT && P has any of OUT, ERR
//       S.PRI = I.PRI && P.PRI;  S has no HUP, ERR, NVAL
//  3. select emulates RDHUP with a zero-timeout poll(2) of a readable fd, and
//     accepts RDHUP only together with IN: so S.RDHUP = P.RDHUP exactly.
//  4. epoll and poll otherwise agree exactly (same f_op->poll underneath).
//  5. Everything else agrees: the error code (or success) of every
//     register/modify/unregister call, the keys, and ONESHOT: a fired
//     ONESHOT key reports nothing until modify().
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, fstatSync, readSync, writeSync } from 'node:fs';
import {
  BatchResult,
  Events,
  backends,
  Socket,
  capabilities,
  createSelector,
  formatEvents,
  pipe,
  socketPair,
  type BackendCapabilities,
  type BackendName,
  type Selector,
} from '@iomux/core';
import { assertNoNewFds, mulberry32, newFds, openFds } from '../helpers.ts';

const { IN, OUT, PRI, RDHUP, ERR, HUP, NVAL, ONESHOT } = Events;
const SEQS = Number(process.env.IOMUX_DIFF_SEQS ?? 2000);
const STEPS = Number(process.env.IOMUX_DIFF_STEPS ?? 50);
const BASE = Number(process.env.IOMUX_DIFF_BASE ?? 1);
const REPLAY = process.env.IOMUX_DIFF_SEED;
// Every backend this machine runs (io_uring where the kernel allows it).
const BACKENDS: BackendName[] = ['poll', ...backends().filter((b) => b !== 'poll')];
// The allowed differences below read from the backends' capability records.
const CAPS = Object.fromEntries(BACKENDS.map((b) => [b, capabilities(b)])) as Record<BackendName, BackendCapabilities>;
// The reference every other backend is compared with: one that reports HUP,
// ERR and closed fds (poll).
const HOLDS_CLOSED = BACKENDS.some((b) => CAPS[b].keepsClosedFdOpen);
const allArmed = () => Object.fromEntries(BACKENDS.map((b) => [b, true])) as Record<BackendName, boolean>;
const REF = BACKENDS.find((b) => CAPS[b].reportsHup && CAPS[b].reportsClosedFd)!;

// ---------------------------------------------------------------- model

/** One direction of a byte stream: what was written and what was read. */
interface Stream {
  id: number;
  written: number;
  read: number;
  writerGone: boolean; // writer closed / shut down write: reader sees EOF after the data
}

type Kind = 'sock' | 'pipe-r' | 'pipe-w' | 'listener';

interface End {
  name: string; // e.g. "s3a", stable across the sequence, for the op log
  kind: Kind;
  fd: number;
  sock?: Socket; // sockets, and pipes wrapped to set O_NONBLOCK
  in?: Stream; // what this end reads
  out?: Stream; // what this end writes
  pending?: End[]; // listener: connected clients not yet accepted
  path?: string;
  closed: boolean;
  peerReset: boolean; // a socket error may be pending (peer closed with unread data, or listener gone)
}

interface KeyState {
  end: End;
  fd: number;
  fileobj: number | Socket; // what register() was given
  events: number;
  stale: boolean; // the end was closed while registered
  armed: Record<BackendName, boolean>;
}

const byte = (stream: number, off: number) => (off * 31 + stream * 7 + (off >> 8)) & 0xff;

class Failure extends Error {}

class Sequence {
  readonly rnd: () => number;
  readonly log: string[] = [];
  readonly sels: Record<BackendName, Selector>;
  readonly ends: End[] = [];
  readonly keys = new Map<number, KeyState>();
  step = 0;
  #streams = 0;
  #names = 0;
  #lastReports = '';
  /** A registered fd was closed while a backend that holds closed fds' files watched it. */
  heldClosed = false;

  /** Negative controls only: perturbs one backend's report before the comparison. */
  mutate: ((b: BackendName, m: Map<number, number>) => void) | undefined;

  constructor(readonly seed: number) {
    this.rnd = mulberry32(seed);
    this.sels = Object.fromEntries(BACKENDS.map((b) => [b, createSelector(b)])) as Partial<Record<BackendName, Selector>> as Record<BackendName, Selector>;
  }

  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  pick<X>(xs: X[]): X | undefined {
    return xs.length ? xs[this.int(xs.length)] : undefined;
  }
  chance(p: number): boolean {
    return this.rnd() < p;
  }
  note(s: string): void {
    this.log.push(`#${this.step} ${s}`);
    if (REPLAY) console.log(`  #${this.step} ${s}`);
  }
  fail(msg: string): never {
    throw new Failure(
      `seed ${this.seed}, step ${this.step}: ${msg}\n` +
        `  last reports: ${this.#lastReports}\n` +
        `  ops:\n    ${this.log.join('\n    ')}\n` +
        `  replay: IOMUX_DIFF_SEED=${this.seed} pnpm test differential`,
    );
  }
  stream(): Stream {
    return { id: ++this.#streams, written: 0, read: 0, writerGone: false };
  }
  name(prefix: string): string {
    return `${prefix}${++this.#names}`;
  }
  live(kinds?: Kind[]): End[] {
    return this.ends.filter((e) => !e.closed && (!kinds || kinds.includes(e.kind)));
  }

  // -- opening --------------------------------------------------------

  openPair(): void {
    const [a, b] = socketPair();
    a.setBlocking(false);
    b.setBlocking(false);
    const ab = this.stream();
    const ba = this.stream();
    const n = this.name('p');
    const ea: End = { name: `${n}a`, kind: 'sock', fd: a.fileno(), sock: a, in: ba, out: ab, closed: false, peerReset: false };
    const eb: End = { name: `${n}b`, kind: 'sock', fd: b.fileno(), sock: b, in: ab, out: ba, closed: false, peerReset: false };
    this.ends.push(ea, eb);
    this.note(`socketPair -> ${ea.name}=fd${ea.fd} ${eb.name}=fd${eb.fd}`);
  }

  openPipe(): void {
    const [r, w] = pipe();
    // Wrapped only to set O_NONBLOCK (so a model error cannot hang the test);
    // the wrapper owns and closes the fd.
    const rs = Socket.adopt(r, 'unix', 'stream');
    const ws = Socket.adopt(w, 'unix', 'stream');
    rs.setBlocking(false);
    ws.setBlocking(false);
    const st = this.stream();
    const n = this.name('f');
    const er: End = { name: `${n}r`, kind: 'pipe-r', fd: r, sock: rs, in: st, closed: false, peerReset: false };
    const ew: End = { name: `${n}w`, kind: 'pipe-w', fd: w, sock: ws, out: st, closed: false, peerReset: false };
    this.ends.push(er, ew);
    this.note(`pipe -> ${er.name}=fd${r} ${ew.name}=fd${w}`);
  }

  openListener(): void {
    const s = new Socket('unix');
    const path = `\0iomux-diff-${process.pid}-${this.seed}-${this.#names}`;
    s.bind({ path });
    s.listen(16);
    s.setBlocking(false);
    const e: End = { name: this.name('L'), kind: 'listener', fd: s.fileno(), sock: s, pending: [], path, closed: false, peerReset: false };
    this.ends.push(e);
    this.note(`listener -> ${e.name}=fd${e.fd}`);
  }

  connect(l: End): void {
    const c = new Socket('unix');
    c.setBlocking(false);
    let ok: boolean;
    try {
      ok = c.connect({ path: l.path! });
    } catch (err) {
      c.close();
      this.note(`connect ${l.name}: ${(err as { code?: string }).code}`);
      return;
    }
    if (!ok) this.fail('a non-blocking unix connect to a listener with room did not complete at once');
    const e: End = { name: this.name('c'), kind: 'sock', fd: c.fileno(), sock: c, in: this.stream(), out: this.stream(), closed: false, peerReset: false };
    l.pending!.push(e);
    this.ends.push(e);
    this.note(`connect ${l.name} -> ${e.name}=fd${e.fd}`);
  }

  accept(l: End): void {
    const r = l.sock!.accept();
    if (r === null) {
      if (l.pending!.length) this.fail(`accept on ${l.name} returned null with ${l.pending!.length} pending connection(s)`);
      this.note(`accept ${l.name} -> null`);
      return;
    }
    const client = l.pending!.shift();
    const s = r[0];
    if (!client) {
      s.close();
      this.fail(`accept on ${l.name} returned a connection the model does not know`);
    }
    s.setBlocking(false);
    const e: End = { name: `${client.name}s`, kind: 'sock', fd: s.fileno(), sock: s, in: client.out, out: client.in, closed: false, peerReset: false };
    this.ends.push(e);
    this.note(`accept ${l.name} -> ${e.name}=fd${e.fd} (peer ${client.name})`);
  }

  // -- selector ops: applied to all three, outcomes must agree ---------

  all(what: string, fn: (sel: Selector, b: BackendName) => unknown): string {
    const outcomes = BACKENDS.map((b) => {
      try {
        fn(this.sels[b], b);
        return 'ok';
      } catch (err) {
        return String((err as { code?: string }).code ?? (err as Error).message);
      }
    });
    if (outcomes.some((o) => o !== outcomes[0])) {
      this.fail(`${what}: backends disagree: ${BACKENDS.map((b, i) => `${b}=${outcomes[i]}`).join(' ')}`);
    }
    this.note(`${what} -> ${outcomes[0]}`);
    return outcomes[0]!;
  }

  randomInterest(): number {
    let ev = 0;
    while (ev === 0) {
      if (this.chance(0.6)) ev |= IN;
      if (this.chance(0.45)) ev |= OUT;
      if (this.chance(0.25)) ev |= RDHUP | IN; // select watches RDHUP only with IN
      if (this.chance(0.1)) ev |= PRI;
    }
    if (this.chance(0.25)) ev |= ONESHOT;
    return ev;
  }

  register(e: End): void {
    const ev = this.randomInterest();
    // By number or by object: a key registered with a Socket is found by
    // identity after the Socket is closed (its fileno() is then -1).
    const byObject = e.sock !== undefined && this.chance(0.5);
    const fileobj = byObject ? e.sock! : e.fd;
    const r = this.all(`register ${e.name}=fd${e.fd}${byObject ? ' (object)' : ''} ${formatEvents(ev)}`, (sel) => {
      const key = sel.register(fileobj, ev, e.name);
      if (key.fd !== e.fd || key.fileobj !== fileobj) throw new Error('register returned a wrong key');
    });
    if (r === 'ok') {
      this.keys.set(e.fd, { end: e, fd: e.fd, fileobj, events: ev, stale: false, armed: allArmed() });
    } else if (r !== 'ERR_ALREADY_REGISTERED' || !this.keys.has(e.fd)) {
      this.fail(`register ${e.name}: unexpected ${r}`);
    }
  }

  modify(k: KeyState): void {
    const ev = this.randomInterest();
    const r = this.all(`modify ${k.end.name}=fd${k.fd} ${formatEvents(ev)}`, (sel) => {
      const key = sel.modify(k.fd, ev, k.end.name);
      if (key.events !== ev >>> 0) throw new Error(`key.events ${key.events} != ${ev >>> 0}`);
    });
    if (r !== 'ok') this.fail(`modify: unexpected ${r}`);
    // A same-mask modify() without ONESHOT makes no system call and leaves
    // the armed state alone; any other modify() (re)arms.
    if (ev !== k.events || ev & ONESHOT) k.armed = allArmed();
    k.events = ev;
  }

  unregister(k: KeyState): void {
    // The object it was registered with (a closed Socket: by identity), or sometimes the number.
    const arg = this.chance(0.7) ? k.fileobj : k.fd;
    const r = this.all(`unregister ${k.end.name}=fd${k.fd}${k.stale ? ' (closed)' : ''}${typeof arg === 'number' ? '' : ' (object)'}`, (sel) => {
      const key = sel.unregister(arg);
      if (key.fd !== k.fd) throw new Error(`unregister returned fd ${key.fd}`);
    });
    if (r !== 'ok') this.fail(`unregister: unexpected ${r}`);
    this.keys.delete(k.fd);
  }

  // -- data ops (done once; the model checks them) ---------------------

  write(e: End): void {
    const st = e.out!;
    const n = 1 + this.int(this.chance(0.1) ? 300_000 : 4096);
    const buf = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) buf[i] = byte(st.id, st.written + i);
    let sent: number | null;
    try {
      if (e.kind === 'pipe-w') {
        sent = writeSync(e.fd, buf);
      } else {
        sent = e.sock!.send(buf);
      }
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (code === 'EAGAIN') sent = null;
      else if (['EPIPE', 'ECONNRESET', 'ENOTCONN'].includes(code)) {
        this.note(`write ${e.name} ${n} -> ${code}`);
        return;
      } else throw err;
    }
    if (sent !== null) st.written += sent;
    this.note(`write ${e.name} ${n} -> ${sent}`);
  }

  read(e: End): void {
    const st = e.in!;
    const unread = st.written - st.read;
    const n = 1 + this.int(this.chance(0.2) ? 400_000 : 4096);
    let got: Buffer | null;
    try {
      if (e.kind === 'pipe-r') {
        const b = Buffer.allocUnsafe(n);
        const k = readSync(e.fd, b, 0, n, null);
        got = b.subarray(0, k);
      } else {
        got = e.sock!.recv(n);
      }
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (code === 'EAGAIN') got = null;
      else if (code === 'ECONNRESET' || code === 'ENOTCONN') {
        if (unread > 0 && code === 'ECONNRESET') this.fail(`read ${e.name}: ECONNRESET with ${unread} unread bytes`);
        this.note(`read ${e.name} ${n} -> ${code}`);
        return;
      } else throw err;
    }
    if (got === null) {
      if (unread > 0 && !this.lostToReset(e)) this.fail(`read ${e.name}: would block, but ${unread} bytes are unread (data lost)`);
      this.note(`read ${e.name} ${n} -> null`);
      return;
    }
    if (got.length === 0) {
      if (unread > 0 && !this.lostToReset(e)) this.fail(`read ${e.name}: EOF, but ${unread} bytes are unread (data lost)`);
      this.note(`read ${e.name} ${n} -> EOF`);
      return;
    }
    if (got.length > unread) this.fail(`read ${e.name}: got ${got.length} bytes, only ${unread} were written (duplicated data)`);
    for (let i = 0; i < got.length; i++) {
      if (got[i] !== byte(st.id, st.read + i)) this.fail(`read ${e.name}: byte ${st.read + i} of stream ${st.id} is corrupted`);
    }
    st.read += got.length;
    this.note(`read ${e.name} ${n} -> ${got.length}`);
  }

  /** Data written to a connection the listener never accepted is gone with it. */
  lostToReset(e: End): boolean {
    return e.peerReset;
  }

  shutdown(e: End): void {
    const how = this.pick(['read', 'write', 'both'] as const)!;
    try {
      e.sock!.shutdown(how);
    } catch (err) {
      this.note(`shutdown ${e.name} ${how} -> ${(err as { code?: string }).code}`);
      return;
    }
    if (how !== 'read') e.out!.writerGone = true;
    this.note(`shutdown ${e.name} ${how}`);
  }

  close(e: End): void {
    const k = this.keys.get(e.fd);
    if (k && k.end === e && this.chance(0.5)) this.unregister(k);
    e.closed = true;
    if (e.sock) e.sock.close();
    else closeSync(e.fd);
    if (e.out) e.out.writerGone = true;
    if (e.kind === 'listener') {
      // Pending connections die with the listener: their clients see a reset.
      for (const c of e.pending!) {
        c.peerReset = true;
        c.in!.writerGone = true;
      }
      e.pending!.length = 0;
    }
    if (e.kind === 'sock') {
      // The peer's unread-by-us data: if we close with unread data, the peer may get ECONNRESET.
      for (const p of this.ends) if (p !== e && p.out === e.in && e.in!.written > e.in!.read) p.peerReset = true;
      // A client closed while still in a listener's queue stays queued: the
      // server side of it is accepted later and reads its data, then EOF.
    }
    const kk = this.keys.get(e.fd);
    if (kk && kk.end === e) {
      kk.stale = true;
      this.heldClosed ||= HOLDS_CLOSED;
    }
    this.note(`close ${e.name}=fd${e.fd}${kk && kk.end === e ? ' (still registered)' : ''}`);
  }

  // -- the check --------------------------------------------------------

  compare(): void {
    const reports = {} as Record<BackendName, Map<number, number>>;
    for (const b of BACKENDS) {
      const m = new Map<number, number>();
      for (const [key, ev] of this.sels[b].select(0)) {
        if (m.has(key.fd)) this.fail(`${b} reported fd ${key.fd} twice in one call`);
        if (ev < 0 || !Number.isInteger(ev)) this.fail(`${b} reported a bad mask ${ev}`);
        if (!this.keys.has(key.fd)) this.fail(`${b} reported fd ${key.fd}, which is not registered`);
        m.set(key.fd, ev);
      }
      this.mutate?.(b, m);
      reports[b] = m;
    }
    this.#lastReports = BACKENDS.map(
      (b) => `${b}{${[...reports[b]].map(([fd, ev]) => `${this.keys.get(fd)?.end.name}=fd${fd}:${formatEvents(ev)}`).join(' ')}}`,
    ).join(' ');
    if (REPLAY) console.log(`      ${this.#lastReports}`);
    for (const k of this.keys.values()) {
      this.check(k, Object.fromEntries(BACKENDS.map((b) => [b, reports[b].get(k.fd) ?? 0])) as Record<BackendName, number>);
    }
    // ONESHOT: what was reported is now disarmed.
    for (const k of this.keys.values()) {
      if (!(k.events & ONESHOT)) continue;
      for (const b of BACKENDS) if (reports[b].has(k.fd)) k.armed[b] = false;
    }
  }

  check(k: KeyState, got: Record<BackendName, number>): void {
    const I = k.events;
    const who = `${k.end.name}=fd${k.fd} interest ${formatEvents(I)}${k.stale ? ' (closed while registered)' : ''}`;
    const f = formatEvents;
    for (const b of BACKENDS) {
      if (got[b] && !k.armed[b]) this.fail(`${who}: ${b} reported ${f(got[b])} for a fired ONESHOT key (not re-armed)`);
      if (got[b] & ~(I | ERR | HUP | NVAL) & 0xffffffff) this.fail(`${who}: ${b} reported bits outside interest|ERR|HUP|NVAL: ${f(got[b])}`);
    }
    const R = got[REF];
    if (k.stale) {
      // ALLOWED 1: a backend that does not report closed fds forgets them, unless it keeps the
      // closed fd's file open (io_uring), whose readiness it may then still report (never NVAL).
      // While such a backend holds the file, epoll has not forgotten it either: it forgets a file, not a number.
      for (const b of BACKENDS) {
        if (CAPS[b].reportsClosedFd || got[b] === 0) continue;
        if (!HOLDS_CLOSED || got[b] & NVAL) this.fail(`${who}: ${b} reported ${f(got[b])} for a closed fd`);
      }
      let reused = true;
      try {
        fstatSync(k.fd);
      } catch {
        reused = false;
      }
      if (!reused) {
        for (const b of BACKENDS) {
          if (CAPS[b].reportsClosedFd && k.armed[b] && got[b] !== NVAL) this.fail(`${who}: ${b} reported ${f(got[b])}, expected NVAL`);
        }
        return;
      }
      // Reused number: the backends that only know numbers watch the new file; compare them.
      const reuser = this.live().find((e) => e.fd === k.fd);
      for (const b of BACKENDS) {
        if (b !== REF && CAPS[b].reportsClosedFd && k.armed[REF] && k.armed[b]) this.checkAgainstRef(b, who, I, R, got[b], reuser);
      }
      return;
    }
    for (const b of BACKENDS) if (b !== REF && k.armed[REF] && k.armed[b]) this.checkAgainstRef(b, who, I, R, got[b], k.end);
    // Model: unread data must show as IN on the reference.
    const e = k.end;
    if (k.armed[REF] && I & IN && e.in && e.in.written > e.in.read && !(R & IN) && !e.peerReset) {
      this.fail(`${who}: ${e.in.written - e.in.read} bytes unread but ${REF} reports ${f(R)}`);
    }
  }

  // ALLOWED 4: a backend that reports HUP agrees with the reference exactly.
  // ALLOWED 2 and 3: one that does not (select) reports its projection.
  checkAgainstRef(b: BackendName, who: string, I: number, R: number, G: number, e: End | undefined): void {
    // ALLOWED 6: a backend that holds a closed fd's file (io_uring) lets go of it during its own
    // wait, which comes after the reference's in a pass: it may see the consequences for the
    // file's peer (ERR, HUP, RDHUP, EOF as IN, EPIPE as OUT) one pass before the reference does.
    const loose = ERR | HUP | RDHUP | IN | OUT;
    if (this.heldClosed && CAPS[b].keepsClosedFdOpen && (G & ~loose) === (R & ~loose)) return;
    const f = formatEvents;
    if (CAPS[b].reportsHup) {
      if (G !== R) this.fail(`${who}: ${REF} ${f(R)} != ${b} ${f(G)}`);
      return;
    }
    if (R & NVAL) this.fail(`${who}: ${REF} reported NVAL for an open fd${e ? '' : ' (no live end)'}: ${f(R)}`);
    let want = 0;
    if (I & IN && R & (IN | HUP | ERR)) want |= IN;
    if (I & OUT && R & (OUT | ERR)) want |= OUT;
    if (I & PRI && R & PRI) want |= PRI;
    const mask = IN | OUT | PRI | ERR | HUP | NVAL;
    if ((G & mask) !== want) this.fail(`${who}: ${b} ${f(G)} does not match ${REF} ${f(R)} (expected ${f(want)} apart from RDHUP)`);
    if ((G & RDHUP) !== (R & RDHUP)) this.fail(`${who}: ${b} ${f(G)} and ${REF} ${f(R)} disagree on RDHUP`);
  }

  // -- the driver -------------------------------------------------------

  run(steps: number): void {
    this.openPair();
    this.openPipe();
    if (this.chance(0.6)) this.openListener();
    for (this.step = 1; this.step <= steps; this.step++) {
      this.op();
      this.compare();
    }
  }

  op(): void {
    const r = this.rnd();
    const live = this.live();
    const regs = [...this.keys.values()];
    const unregistered = live.filter((e) => !this.keys.has(e.fd));
    if (r < 0.05 && live.length < 14) return this.chance(0.6) ? this.openPair() : this.openPipe();
    if (r < 0.07 && this.live(['listener']).length < 2) return this.openListener();
    if (r < 0.12) {
      const l = this.pick(this.live(['listener']));
      if (l && live.length < 16) return this.connect(l);
    }
    if (r < 0.16) {
      const l = this.pick(this.live(['listener']));
      if (l) return this.accept(l);
    }
    if (r < 0.32) {
      const e = this.pick(unregistered);
      if (e) return this.register(e);
      // Everything live is registered: a stale key blocks its reused number.
      const stale = this.pick(regs.filter((k) => k.stale));
      if (stale) return this.unregister(stale);
    }
    if (r < 0.34) {
      const k = this.pick(regs.filter((x) => !x.stale));
      if (k) return this.register(k.end); // must be ERR_ALREADY_REGISTERED everywhere
    }
    if (r < 0.44) {
      const k = this.pick(regs.filter((x) => !x.stale));
      if (k) return this.modify(k);
    }
    if (r < 0.50) {
      const k = this.pick(regs);
      if (k) return this.unregister(k);
    }
    if (r < 0.68) {
      const e = this.pick(live.filter((x) => x.out));
      if (e) return this.write(e);
    }
    if (r < 0.84) {
      const e = this.pick(live.filter((x) => x.in));
      if (e) return this.read(e);
    }
    if (r < 0.89) {
      const e = this.pick(live.filter((x) => x.kind === 'sock'));
      if (e) return this.shutdown(e);
    }
    if (r < 0.97) {
      const e = this.pick(live);
      if (e) return this.close(e);
    }
    this.note('(no op)');
  }

  dispose(): void {
    for (const b of BACKENDS) this.sels[b].close();
    for (const e of this.ends) {
      if (e.closed) continue;
      e.closed = true;
      if (e.sock) e.sock.close();
      else closeSync(e.fd);
    }
  }
}

function runSeed(seed: number, mutate?: Sequence['mutate']): void {
  const seq = new Sequence(seed);
  seq.mutate = mutate;
  try {
    seq.run(STEPS);
  } finally {
    seq.dispose();
  }
}

if (REPLAY !== undefined) {
  test(`replay seed ${REPLAY}`, () => {
    console.log(`replaying seed ${REPLAY}, ${STEPS} steps`);
    runSeed(Number(REPLAY));
  });
} else {
  const CHUNK = 250;
  const fdsBefore = openFds();
  for (let start = 0; start < SEQS; start += CHUNK) {
    const n = Math.min(CHUNK, SEQS - start);
    test(`seeds ${BASE + start}..${BASE + start + n - 1}: select, poll and epoll agree on every step (${STEPS} steps each)`, () => {
      for (let i = 0; i < n; i++) runSeed(BASE + start + i);
    });
  }
  test('the driver closed every fd it opened', async () => {
    await assertNoNewFds(fdsBefore, 'the driver');
    console.log(`differential: ${SEQS} sequences x ${STEPS} steps`);
  });
}

// Negative controls: each perturbs one backend the way a plausible bug would;
// the driver must fail within a few seeds, with a replayable message.
const MUTANTS: [string, NonNullable<Sequence['mutate']>][] = [
  ['select drops OUT', (b, m) => b === 'select' && m.forEach((ev, fd) => ev & OUT && m.set(fd, ev & ~OUT))],
  ['epoll loses an event', (b, m) => { if (b === 'epoll' && m.size) m.delete(m.keys().next().value!); }],
  ['poll adds HUP', (b, m) => b === 'poll' && m.forEach((ev, fd) => m.set(fd, ev | HUP))],
  ['ONESHOT not disarmed on poll', (() => {
    const seen = new Map<number, number>();
    return (b: BackendName, m: Map<number, number>) => {
      if (b !== 'poll') return;
      for (const [fd, ev] of seen) if (!m.has(fd)) m.set(fd, ev); // keeps reporting what it reported once
      for (const [fd, ev] of m) seen.set(fd, ev);
    };
  })()],
];
if (REPLAY === undefined) {
  for (const [name, mutate] of MUTANTS) {
    test(`control: the driver catches a mutant backend (${name})`, () => {
      let caught: Error | undefined;
      for (let seed = 1; seed <= 20 && !caught; seed++) {
        try {
          runSeed(seed, mutate);
        } catch (err) {
          caught = err as Error;
        }
      }
      assert.ok(caught instanceof Failure, `mutant "${name}" went unnoticed for 20 seeds`);
      assert.match(caught.message, /replay: IOMUX_DIFF_SEED=\d+/);
    });
  }
}

// =====================================================================
// BATCHED MODE — Batch.run() against select() + recvInto()/send()
// (this section is the hot-path work's; the driver above is untouched)
//
// Two worlds of N socket pairs, the same seeded operation sequence applied
// to both: world P does each pass by hand (the queued sends with
// Socket.send, in order, stopping at the first short send per fd as the
// batch does; then select(0); then one recvInto per reported fd that asked
// for it), world B with one batch.run(0). After every pass the two must
// agree exactly: which pairs were reported with which events, what each
// recv gave (bytes and their content, EOF, would-block, the error code),
// and what each queued send gave. On every backend.
//
//   IOMUX_DIFF_BATCH_SEQS=150 IOMUX_DIFF_BATCH_STEPS=40   how much to run
//   IOMUX_DIFF_BATCH_SEED=7                              replay one seed (all backends) and print every op
// =====================================================================

const BATCH_SEQS = Number(process.env.IOMUX_DIFF_BATCH_SEQS ?? 150);
const BATCH_STEPS = Number(process.env.IOMUX_DIFF_BATCH_STEPS ?? 40);
const BATCH_REPLAY = process.env.IOMUX_DIFF_BATCH_SEED;

interface PassRecord {
  ready: Map<number, string>; // pair index -> "events recv-result [data digest]"
  sends: string[]; // per queued send, in order
}

interface BatchWorld {
  sel: Selector<number>;
  watched: Socket[]; // the ends registered (or not) in the selector
  peers: Socket[];
  registered: (number | null)[]; // interest, or null
  recvSize: number[]; // 0: no recv
  live: boolean[]; // the watched end is still open
}

// What the sequences reached (printed per backend): every kind of result must show up.
const batchTally = new Map<string, number>();
const tally = (k: string) => batchTally.set(k, (batchTally.get(k) ?? 0) + 1);

const digest = (b: Uint8Array) => {
  let h = 2166136261;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 16777619);
  return `${b.length}:${(h >>> 0).toString(16)}`;
};

class BatchSequence {
  readonly rnd: () => number;
  readonly log: string[] = [];
  readonly p: BatchWorld;
  readonly b: BatchWorld;
  readonly batch;
  readonly pairs = 4;
  queue: { i: number; data: Buffer; ticket: number }[] = []; // sends for the next pass (ticket: world B's)
  written = 0;
  step = 0;
  /** Negative controls only: perturbs world B's record before the comparison. */
  mutate: ((r: PassRecord) => void) | undefined;

  constructor(readonly backend: BackendName, readonly seed: number) {
    this.rnd = mulberry32(seed * 7919 + backend.length);
    this.p = this.world();
    this.b = this.world();
    this.batch = this.b.sel.batch({ recvBytes: 64 * 1024 });
  }

  world(): BatchWorld {
    const w: BatchWorld = { sel: createSelector<number>(this.backend), watched: [], peers: [], registered: [], recvSize: [], live: [] };
    for (let i = 0; i < this.pairs; i++) {
      const [x, y] = socketPair();
      x.setBlocking(false);
      y.setBlocking(false);
      w.watched.push(x);
      w.peers.push(y);
      w.registered.push(null);
      w.recvSize.push(0);
      w.live.push(true);
    }
    return w;
  }

  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  note(s: string): void {
    this.log.push(`#${this.step} ${s}`);
    if (BATCH_REPLAY) console.log(`  ${this.backend} #${this.step} ${s}`);
  }
  fail(msg: string): never {
    throw new Failure(
      `batched mode, ${this.backend}, seed ${this.seed}, step ${this.step}: ${msg}\n` +
        `  ops:\n    ${this.log.join('\n    ')}\n` +
        `  replay: IOMUX_DIFF_BATCH_SEED=${this.seed} pnpm test differential`,
    );
  }

  // Applies one operation to both worlds (the same way, the same bytes).
  op(): void {
    const i = this.int(this.pairs);
    const r = this.rnd();
    const both = (fn: (w: BatchWorld) => void) => {
      fn(this.p);
      fn(this.b);
    };
    const live = this.p.live[i]!;
    if (r < 0.25 && live) {
      const n = 1 + this.int(this.rnd() < 0.1 ? 300_000 : 3000);
      const data = Buffer.alloc(n);
      for (let k = 0; k < n; k++) data[k] = (this.written + k) * 31 & 0xff;
      this.written += n;
      const got = [this.p, this.b].map((w) => {
        try {
          return String(w.peers[i]!.send(data));
        } catch (err) {
          return (err as { code?: string }).code ?? 'error';
        }
      });
      if (got[0] !== got[1]) this.fail(`peer write of ${n} to pair ${i} differs: ${got[0]} vs ${got[1]}`);
      this.note(`peer ${i} writes ${n} -> ${got[0]}`);
    } else if (r < 0.45 && live) {
      const ev = [Events.IN, Events.IN | Events.OUT, Events.OUT, Events.IN | Events.ONESHOT, Events.IN | Events.RDHUP][this.int(5)]!;
      const reg = this.p.registered[i];
      const what = reg === null ? 'register' : this.rnd() < 0.3 ? 'unregister' : 'modify';
      both((w) => {
        if (what === 'register') w.sel.register(w.watched[i]!, ev, i);
        else if (what === 'unregister') w.sel.unregister(w.watched[i]!);
        else w.sel.modify(w.watched[i]!, ev, i);
      });
      this.note(`pair ${i}: ${what} ${what === 'unregister' ? '' : formatEvents(ev)}`);
      const stillRegistered = this.p.sel.getMap().has(this.p.watched[i]!.fileno());
      if (stillRegistered !== this.b.sel.getMap().has(this.b.watched[i]!.fileno())) this.fail('registration state diverged');
      for (const w of [this.p, this.b]) w.registered[i] = stillRegistered ? ev : null;
      if (!stillRegistered) for (const w of [this.p, this.b]) w.recvSize[i] = 0;
    } else if (r < 0.6 && this.p.registered[i] !== null) {
      const size = [0, 1, 7, 512, 4096][this.int(5)]!;
      this.batch.setRecv(this.b.watched[i]!, size);
      this.p.recvSize[i] = size;
      this.b.recvSize[i] = size;
      this.note(`pair ${i}: recv size ${size}`);
    } else if (r < 0.8 && this.p.registered[i] !== null) {
      const n = 1 + this.int(this.rnd() < 0.15 ? 400_000 : 2000);
      const data = Buffer.alloc(n, 0x40 + this.int(26));
      // World B queues now, world P at its next pass: a registration change
      // in between must cancel both.
      this.queue.push({ i, data, ticket: this.batch.send(this.b.watched[i]!, data) });
      this.note(`pair ${i}: queue send of ${n}`);
    } else if (r < 0.85) {
      const k = this.int(this.pairs);
      const got = [this.p, this.b].map((w) => {
        try {
          const d = w.peers[k]!.recv(1 << 20);
          return d === null ? 'null' : digest(d);
        } catch (err) {
          return (err as { code?: string }).code ?? 'error';
        }
      });
      if (got[0] !== got[1]) this.fail(`peer ${k} read differs: ${got[0]} vs ${got[1]}`);
      this.note(`peer ${k} reads -> ${got[0]}`);
    } else if (r < 0.9 && live) {
      both((w) => w.peers[i]!.shutdown('write'));
      this.note(`peer ${i} shuts down writing`);
    } else if (r < 0.95 && live) {
      // Closing the peer: EOF for the watched end, or ECONNRESET when the
      // peer had unread data.
      both((w) => w.peers[i]!.close());
      for (const w of [this.p, this.b]) w.live[i] = false;
      this.note(`peer ${i} closed`);
    } else {
      this.note('(no op)');
    }
  }

  // World P: the pass by hand.
  passByHand(): PassRecord {
    const w = this.p;
    const sends: string[] = [];
    const blocked = new Set<number>();
    for (const { i, data } of this.queue) {
      if (w.registered[i] === null) {
        sends.push('cancelled');
        continue;
      }
      if (blocked.has(i)) {
        sends.push('skipped');
        continue;
      }
      try {
        const n = w.watched[i]!.send(data);
        sends.push(n === null ? 'again' : String(n));
        if (n === null || n < data.length) blocked.add(i);
      } catch (err) {
        sends.push((err as { code?: string }).code ?? 'error');
        blocked.add(i);
      }
    }
    const ready = new Map<number, string>();
    for (const [key, ev] of w.sel.select(0)) {
      const i = key.data;
      let res = 'none';
      const size = w.recvSize[i]!;
      if (size > 0 && ev & (Events.IN | Events.HUP | Events.ERR) && !(ev & Events.NVAL)) {
        try {
          const buf = Buffer.alloc(size);
          const n = w.watched[i]!.recvInto(buf);
          res = n === null ? 'again' : n === 0 ? 'eof' : digest(buf.subarray(0, n));
        } catch (err) {
          res = (err as { code?: string }).code ?? 'error';
        }
      }
      ready.set(i, `${formatEvents(ev)} ${res}`);
    }
    return { ready, sends };
  }

  // World B: one batch.run(0).
  passBatched(): PassRecord {
    const w = this.b;
    const tickets = this.queue.map((q) => q.ticket);
    const n = this.batch.run(0);
    const sends = tickets.map((t) => {
      const r = this.batch.sent(t);
      if (r >= 0) return String(r);
      if (r === BatchResult.AGAIN) return 'again';
      if (r === BatchResult.SKIPPED) return 'skipped';
      if (r === BatchResult.CANCELLED) return 'cancelled';
      const err = this.batch.sendError(t)!;
      if (err.syscall !== 'send' || err.fd !== w.watched[this.queue[t]!.i]!.fileno()) this.fail(`send error ${err.code} names ${err.syscall} fd ${err.fd}`);
      return err.code;
    });
    const ready = new Map<number, string>();
    for (let k = 0; k < n; k++) {
      const i = this.batch.key(k).data;
      const r = this.batch.bytes(k);
      let res: string;
      if (r > 0) res = digest(this.batch.data(k));
      else if (r === 0) res = 'eof';
      else if (r === BatchResult.NONE) res = 'none';
      else if (r === BatchResult.AGAIN) res = 'again';
      else if (r === BatchResult.ERROR) {
        const err = this.batch.error(k)!;
        if (err.syscall !== 'recv' || err.fd !== this.batch.fd(k)) this.fail(`recv error ${err.code} names ${err.syscall} fd ${err.fd}`);
        res = err.code;
      } else res = `result ${r}`;
      if (ready.has(i)) this.fail(`pair ${i} reported twice in one pass`);
      ready.set(i, `${formatEvents(this.batch.events(k))} ${res}`);
    }
    return { ready, sends };
  }

  pass(): void {
    const a = this.passByHand();
    const b = this.passBatched();
    const queuedLengths = this.queue.map((q) => q.data.length);
    this.queue = [];
    this.mutate?.(b);
    const show = (r: PassRecord) => `ready {${[...r.ready].sort((x, y) => x[0] - y[0]).map(([i, v]) => `${i}: ${v}`).join(', ')}} sends [${r.sends.join(', ')}]`;
    const sa = show(a);
    const sb = show(b);
    if (sa !== sb) this.fail(`select()+recvInto and Batch.run() disagree:\n    by hand: ${sa}\n    batched: ${sb}`);
    for (const v of a.ready.values()) tally(`recv ${/ \d+:/.test(v) ? 'data' : v.split(' ')[1]}`);
    a.sends.forEach((x, k) => tally(`send ${/^\d+$/.test(x) ? (Number(x) < queuedLengths[k]! ? 'partial' : 'full') : x}`));
    this.note(`pass: ${sa}`);
  }

  run(steps: number): void {
    for (this.step = 1; this.step <= steps; this.step++) {
      this.op();
      // Not after every op: sends pile up, and registrations change under them.
      if (this.rnd() < 0.6 || this.step === steps) this.pass();
    }
  }

  dispose(): void {
    for (const w of [this.p, this.b]) {
      w.sel.close();
      for (const s of [...w.watched, ...w.peers]) s.close();
    }
  }
}

function runBatchSeed(backend: BackendName, seed: number, mutate?: BatchSequence['mutate']): void {
  const seq = new BatchSequence(backend, seed);
  seq.mutate = mutate;
  try {
    seq.run(BATCH_STEPS);
  } finally {
    seq.dispose();
  }
}

if (BATCH_REPLAY !== undefined) {
  test(`batched mode: replay seed ${BATCH_REPLAY}`, () => {
    for (const backend of BACKENDS) runBatchSeed(backend, Number(BATCH_REPLAY));
  });
} else if (REPLAY === undefined) {
  for (const backend of BACKENDS) {
    test(`batched mode on ${backend}: Batch.run() agrees with select() + recvInto/send on ${BATCH_SEQS} sequences (${BATCH_STEPS} steps)`, () => {
      const before = openFds();
      batchTally.clear();
      for (let seed = 1; seed <= BATCH_SEQS; seed++) runBatchSeed(backend, seed);
      assert.equal([...newFds(before).keys()], [], 'the batched driver closed every fd it opened');
      console.log(`batched mode on ${backend}: ${[...batchTally].sort().map(([k, n]) => `${k} ${n}`).join(', ')}`);
      for (const kind of ['recv data', 'recv eof', 'recv none', 'recv ECONNRESET', 'send full', 'send partial', 'send again', 'send skipped', 'send cancelled', 'send EPIPE']) {
        assert.ok(batchTally.has(kind), `the sequences never reached "${kind}"`);
      }
    });
  }
  // Negative controls: plausible batch bugs the comparison must catch.
  const BATCH_MUTANTS: [string, NonNullable<BatchSequence['mutate']>][] = [
    ['a recv loses its last byte', (r) => r.ready.forEach((v, i) => r.ready.set(i, v.replace(/ (\d+):/, (_, n) => ` ${Number(n) - 1}:`)))],
    ['a send that would block reported as taken', (r) => { r.sends = r.sends.map((x) => (x === 'again' ? '1' : x)); }],
    ['a send skipped after a short one goes out anyway', (r) => { r.sends = r.sends.map((x) => (x === 'skipped' ? '7' : x)); }],
    ['an EOF reported as would-block', (r) => r.ready.forEach((v, i) => r.ready.set(i, v.replace(' eof', ' again')))],
  ];
  for (const [name, mutate] of BATCH_MUTANTS) {
    test(`control: the batched comparison catches a mutant (${name})`, () => {
      let caught: Error | undefined;
      for (let seed = 1; seed <= BATCH_SEQS && !caught; seed++) {
        try {
          runBatchSeed('epoll', seed, mutate);
        } catch (err) {
          caught = err as Error;
        }
      }
      assert.ok(caught instanceof Failure, `mutant "${name}" went unnoticed for ${BATCH_SEQS} seeds`);
      assert.match(caught.message, /replay: IOMUX_DIFF_BATCH_SEED=\d+/);
    });
  }
}
// ===================================================== end of BATCHED MODE

test.run();
