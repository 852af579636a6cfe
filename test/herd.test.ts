// The thundering herd, counted (packages/bench/src/herd.mjs counts; `pnpm
// bench --only workers` runs it larger): one listening socket watched by
// several EpollSelectors, one per Worker, each blocked in select(). Connections come
// one at a time, each only once every Worker is blocked again. Without
// EXCLUSIVE every waiter is woken for each connection; with it the kernel
// wakes one (it promises "one or more"), and every connection is still
// accepted. Counted: how often each thread was woken (its voluntary context
// switches), how often select() returned with the listener ready, and what
// accept() then got (a connection, or null: a wake-up for nothing).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { herd } from '../packages/bench/src/herd.mjs';
import { testBackends } from './helpers.ts';

const WORKERS = 4;
const CONNECTIONS = 40;

type HerdCounts = Awaited<ReturnType<typeof herd>>;

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

if (testBackends().includes('epoll')) {
  test(`epoll: ${WORKERS} Workers blocked on one listener, ${CONNECTIONS} connections: EXCLUSIVE cuts the wake-ups, every connection is accepted`, async () => {
    const plain = await herd({ exclusive: false, workers: WORKERS, connections: CONNECTIONS });
    const excl = await herd({ exclusive: true, workers: WORKERS, connections: CONNECTIONS });
    const line = (name: string, r: HerdCounts) =>
      `${name}: select() returns ${(sum(r.wakeups) / CONNECTIONS).toFixed(2)}/connection (per worker ${r.wakeups.join('/')}), ` +
      `thread wake-ups ${(sum(r.sleeps) / CONNECTIONS).toFixed(2)}/connection (${r.sleeps.join('/')}), accepted ${r.accepted.join('/')}, empty accepts ${sum(r.empty)}`;
    console.log(`  ${line('plain    ', plain)}\n  ${line('EXCLUSIVE', excl)}`);
    assert.is(sum(plain.accepted), CONNECTIONS, 'plain: every connection accepted');
    assert.is(sum(excl.accepted), CONNECTIONS, 'EXCLUSIVE: every connection accepted');
    // Without EXCLUSIVE the herd: the kernel wakes every blocked thread for
    // each connection (most then find it taken and sleep again inside
    // epoll_wait, so how many of them return to JavaScript is up to the
    // scheduler; the thread wake-ups are the herd itself).
    assert.ok(sum(plain.sleeps) >= 2 * CONNECTIONS, `plain: ${sum(plain.sleeps)} thread wake-ups for ${CONNECTIONS} connections`);
    // With it: fewer, about one per connection ("one or more", so not exactly).
    assert.ok(sum(excl.sleeps) < sum(plain.sleeps) / 2, `EXCLUSIVE ${sum(excl.sleeps)} vs plain ${sum(plain.sleeps)} thread wake-ups`);
    assert.ok(sum(excl.sleeps) <= 1.5 * CONNECTIONS, `EXCLUSIVE: ${sum(excl.sleeps)} thread wake-ups for ${CONNECTIONS} connections`);
    assert.ok(sum(excl.wakeups) <= sum(plain.wakeups), 'and no more returns from select()');
  });
}

test.run();
