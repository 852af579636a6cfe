// Resource safety: long cycles leave the fd count and RSS flat, and
// objects dropped without close() give their fds back through the garbage
// collector (FinalizationRegistry for Socket, the addon's finalizer for
// selectors). Figures are printed for docs/reliability.md.
//
// RSS is judged by its slope, not by its total growth. After a warm-up, the
// cycles run in equal blocks and RSS is read (after a full GC) between them.
// A leak grows RSS in every block by about the same amount; V8 sizing its
// heap grows it in a few steps of several MiB, at a different point on each
// Node version (up to +49 MiB in the first million register cycles on Node
// 22 and 24, +16 MiB in one late block of another run). So the median
// block's growth is the leak rate: up to three steps in eight blocks never
// reach it, and a leak of B bytes per cycle puts it at about B plus malloc's
// overhead (any leak of 1 to 24 bytes takes a 32-byte chunk). The register
// bound, 16 bytes per cycle, sits between the two: 60 runs of this file on
// Node 20, 22 and 24 gave at most 7.2 (RSS moves by up to 1.5 MiB between
// two readings on its own), and a leak costs at least 32. The negative
// control is the mutation check's register-leaks-32-bytes mutant
// (scripts/mutation-check.mjs).
//
// Under the sanitizer build (IOMUX_SANITIZER=1, set by scripts/test-asan.sh)
// the cycle counts are divided by 10 and RSS is reported but not bounded
// (ASan's quarantine and shadow memory grow on their own).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Events, Socket, createSelector, raiseFdLimit, socketPair, type Selector } from '@iomux/core';
import { assertNoNewFds, fdTarget, newFds, openFds, sleep, testBackends } from '../helpers.ts';

const SAN = process.env.IOMUX_SANITIZER === '1';
const SCALE = SAN ? 10 : 1;
const REG_BLOCKS = 8;
const REG_CYCLES = 600_000 / SCALE; // in REG_BLOCKS blocks, after a 50,000-cycle warm-up
const SOCK_CYCLES = 100_000 / SCALE; // in 10 blocks

const gc = (globalThis as { gc?: () => void }).gc;
function rssMiB(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().rss / 2 ** 20;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/**
 * Runs `cycle` `warmup` times, then `cycles` times in `blocks` equal blocks,
 * and checks that no fd is left over and that RSS has no slope: the median
 * block's growth must stay under `boundBytesPerCycle` per cycle (see the
 * comment at the top of the file).
 */
async function checkFlat(
  what: string,
  { cycles, blocks, warmup, boundBytesPerCycle }: { cycles: number; blocks: number; warmup: number; boundBytesPerCycle: number },
  cycle: (i: number) => void,
): Promise<void> {
  for (let i = 0; i < warmup; i++) cycle(i);
  const fds0 = openFds();
  const perBlock = cycles / blocks;
  const rss0 = rssMiB();
  const growth: number[] = [];
  let last = rss0;
  for (let blk = 0; blk < blocks; blk++) {
    for (let i = 0; i < perBlock; i++) cycle(warmup + blk * perBlock + i);
    const now = rssMiB();
    growth.push(now - last);
    last = now;
  }
  const slope = (median(growth) * 2 ** 20) / perBlock; // bytes per cycle
  const signed = (x: number, digits: number) => (x >= 0 ? '+' : '') + x.toFixed(digits);
  console.log(
    `  ${what}: fds ${fds0.size}, ${newFds(fds0).size} new; RSS ${rss0.toFixed(1)} -> ${last.toFixed(1)} MiB (${signed(last - rss0, 1)}); ` +
      `per ${perBlock.toLocaleString('en')} cycles: ${growth.map((g) => signed(g, 1)).join(' ')} MiB; slope ${signed(slope, 1)} B/cycle (bound ${boundBytesPerCycle})`,
  );
  await assertNoNewFds(fds0, what);
  if (!SAN) {
    assert.ok(
      slope < boundBytesPerCycle,
      `${what}: RSS grows ${slope.toFixed(1)} bytes per cycle (median of ${blocks} blocks; bound ${boundBytesPerCycle}): a leak`,
    );
  }
}

/** Lets finalizers run: they are queued after a GC and run from the event loop. */
async function collectUntil(ok: () => boolean): Promise<boolean> {
  for (let i = 0; i < 100 && !ok(); i++) {
    gc!();
    await sleep(10);
  }
  return ok();
}

for (const b of testBackends()) {
  test(`${b}: ${REG_CYCLES.toLocaleString('en')} register/unregister cycles keep fds and RSS flat`, async () => {
    const sel = createSelector(b);
    const pairs = [socketPair(), socketPair()];
    try {
      const fds = pairs.flat().map((s) => s.fileno());
      pairs[0]![1].send('x'); // one of them is readable: select() has work to do
      const cycle = (i: number) => {
        const fd = fds[i & 3]!;
        sel.register(fd, i & 1 ? Events.IN : Events.IN | Events.OUT, i);
        if ((i & 15) === 0) sel.modify(fd, Events.IN | Events.OUT | Events.RDHUP, 'm');
        if ((i & 255) === 0) sel.select(0);
        sel.unregister(fd);
      };
      const warmup = 50_000 / SCALE; // the JIT and the allocator
      await checkFlat(`${b} register/unregister x${REG_CYCLES}`, { cycles: REG_CYCLES, blocks: REG_BLOCKS, warmup, boundBytesPerCycle: 16 }, cycle);
      assert.is(sel.getMap().size, 0);
      // Still works.
      sel.register(fds[1]!, Events.IN); // the end that sent: nothing to read
      assert.is(sel.select(0).length, 0);
      sel.register(fds[0]!, Events.IN); // the end with 'x' waiting
      assert.is(sel.select(0).length, 1);
    } finally {
      sel.close();
      for (const s of pairs.flat()) s.close();
    }
  });
}

test(`${SOCK_CYCLES.toLocaleString('en')} socket open/close cycles keep fds and RSS flat`, async () => {
  const kinds = [
    () => [new Socket('inet', 'stream')],
    () => [new Socket('inet', 'dgram')],
    () => [new Socket('unix', 'stream')],
    () => [new Socket('inet6', 'stream')],
    () => socketPair(),
  ];
  const cycle = (i: number) => {
    const socks = kinds[i % kinds.length]!();
    if (i % 7 === 0) socks[0]!.setBlocking(false);
    for (const s of socks) s.close();
  };
  let opened = 0;
  await checkFlat(`socket open/close x${SOCK_CYCLES}`, { cycles: SOCK_CYCLES, blocks: 10, warmup: 5_000, boundBytesPerCycle: 100 }, (i) => {
    cycle(i);
    opened++;
  });
  assert.is(opened, SOCK_CYCLES + 5_000);
});

test(`${(SOCK_CYCLES / 20).toLocaleString('en')} loopback connect/accept/echo/close cycles (RST close) keep fds and RSS flat`, async () => {
  const n = SOCK_CYCLES / 20;
  const srv = new Socket('inet');
  srv.setReuseAddress(true);
  srv.bind({ host: '127.0.0.1', port: 0 });
  srv.listen(64);
  const port = (srv.localAddress() as { port: number }).port;
  const cycle = (i: number) => {
    const c = new Socket('inet');
    c.connect({ host: '127.0.0.1', port });
    const acc = srv.accept();
    assert.ok(acc, 'accepted');
    const [s] = acc;
    c.sendAll(`ping ${i}`);
    const got = s.recv(64)?.toString();
    if (got !== `ping ${i}`) assert.unreachable(`cycle ${i}: got ${got}`);
    // RST instead of FIN: no TIME_WAIT, so the ephemeral ports do not run out.
    c.setLinger(0);
    c.close();
    s.close();
  };
  try {
    await checkFlat(`loopback connect/accept x${n}`, { cycles: n, blocks: 10, warmup: 500, boundBytesPerCycle: 1000 }, cycle);
  } finally {
    srv.close();
  }
});

test('sockets dropped without close() are closed by the garbage collector', async () => {
  assert.ok(gc, 'run with --expose-gc (pnpm test does)');
  raiseFdLimit(4096);
  const before = openFds();
  const N = 1000;
  let firstFd = -1;
  (() => {
    for (let i = 0; i < N / 2; i++) {
      const s = new Socket(i & 1 ? 'inet' : 'unix');
      if (i === 0) firstFd = s.fileno();
      socketPair(); // both ends dropped
    }
  })();
  assert.ok(newFds(before).size >= N, `opened ${newFds(before).size} fds`);
  assert.ok(await collectUntil(() => newFds(before).size === 0), `fds still open after GC: ${newFds(before).size}`);
  console.log(`  GC: ${N * 1.5} dropped sockets -> all closed (${before.size} fds, as before)`);
  // Their fd numbers are free again and the next socket takes one of them.
  const s = new Socket();
  assert.ok(s.fileno() <= firstFd + N * 1.5, 'fd numbers were recycled');
  s.close();
});

test('a closed Socket is never closed again by the GC (no double close of a reused fd)', async () => {
  assert.ok(gc);
  // Close 200 sockets explicitly, then hold fds that reuse their numbers,
  // then collect the Socket objects: the reused fds must stay open.
  const holders: Socket[] = [];
  (() => {
    for (let i = 0; i < 200; i++) new Socket().close();
  })();
  for (let i = 0; i < 200; i++) holders.push(new Socket());
  const held = holders.map((h) => [h.fileno(), fdTarget(h.fileno())] as const);
  for (let i = 0; i < 20; i++) {
    gc();
    await sleep(5);
  }
  for (const [fd, target] of held) assert.is(fdTarget(fd), target, `fd ${fd} still names its socket (no stale finalizer closed it)`);
  for (const h of holders) h.setBlocking(false); // each fd is still ours (EBADF otherwise)
  for (const h of holders) h.close();
});

for (const b of testBackends()) {
  test(`${b}: selectors dropped without close() (registered sockets, armed waits) are released by the GC`, async () => {
    assert.ok(gc);
    const before = openFds();
    await (async () => {
      const live: Selector[] = [];
      for (let i = 0; i < 50; i++) {
        const sel = createSelector(b);
        const [x, y] = socketPair();
        sel.register(x, Events.IN, { y });
        if (i % 5 === 0) {
          // An armed, then settled wait: select/poll start their waker thread.
          y.send('z');
          assert.is((await sel.wait({ timeoutMs: 2000 })).length, 1);
        }
        live.push(sel);
      }
      assert.ok(newFds(before).size > 0, 'the selectors and sockets hold fds');
    })();
    assert.ok(await collectUntil(() => newFds(before).size === 0), `${b}: fds still open after GC: ${newFds(before).size}`);
    console.log(`  GC: 50 dropped ${b} selectors with registered socket pairs -> all their fds closed`);
  });
}

test.run();
