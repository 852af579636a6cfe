// echo-workers, run as a child process: the echo of echo-queue from N Worker
// threads on every backend (epoll with a shared EXCLUSIVE listener and with
// SO_REUSEPORT listeners; select and poll with SO_REUSEPORT), many
// connections, exit 0 on SIGINT/SIGTERM, and a Worker that crashes is
// reported while the others keep serving.
import { test } from 'uvu';
import * as net from 'node:net';
import { newFds, testBackends } from '../helpers.ts';
import { ROOT, assert, echoOnce, echoSizes, eventually, killAll, liveCount, run, vanishMidSend } from './harness.ts';
import { runChild, startServer } from '../../scripts/lib/child.mjs';

test.after(killAll);

const configs: { backend: string; balance: 'exclusive' | 'reuseport' }[] = [];
for (const backend of testBackends()) {
  if (backend === 'epoll') configs.push({ backend, balance: 'exclusive' });
  configs.push({ backend, balance: 'reuseport' });
}

function start(args: string[], env: Record<string, string> = {}) {
  return startServer(process.execPath, ['examples/echo-workers.mjs', ...args], {
    cwd: ROOT,
    env: { ...process.env, ECHO_WORKERS_STATS: '1', ...env },
  });
}

const stats = (stdout: string) => JSON.parse(/^stats (.*)$/m.exec(stdout)?.[1] ?? 'null') as { accepted: number[] } | null;

for (const { backend, balance } of configs) {
  const label = `echo-workers --backend ${backend} --balance ${balance}`;

  test(`${label}: one ready line; 100 concurrent clients get every byte back; every fd is closed again; SIGINT exits 0`, async () => {
    const srv = await start(['--workers', '2', '--backend', backend, '--balance', balance, '--port', '0']);
    try {
      assert.is(srv.backend, backend);
      assert.match(srv.stdout(), new RegExp(`^listening on 127\\.0\\.0\\.1:${srv.port} backend=${backend} workers=2\\n$`));
      const idle = srv.fds();
      const sizes = [...echoSizes(), ...echoSizes()]; // 100 clients
      const clients = sizes.map((size, i) =>
        echoOnce(srv.port, size, { halfClose: i % 3 === 0, piece: i % 4 === 1 ? 4096 : undefined }),
      );
      const vandals = [vanishMidSend(srv.port, 1 << 20, 'reset'), vanishMidSend(srv.port, 256 * 1024, 'close')];
      await Promise.all([...clients, ...vandals]);
      await echoOnce(srv.port, 1000);
      const left = () => [...newFds(idle, srv.fds()).values()];
      assert.ok(await eventually(() => left().length === 0), `server fds still open since it was idle: ${left().join(', ')}`);
      const { code, signal } = await srv.stop('SIGINT');
      assert.is(signal, null, 'exits by itself');
      assert.is(code, 0, `exit code (stderr: ${srv.stderr()})`);
      assert.is(srv.stderr(), '', 'nothing on stderr');
      const s = stats(srv.stdout());
      assert.ok(s, 'stats line');
      assert.is(s.accepted.length, 2);
      assert.is(s.accepted[0]! + s.accepted[1]!, sizes.length + 3, 'every connection accepted once');
      // SO_REUSEPORT hashes connections over both listeners (all 103 on one
      // side has odds of 2**-102). EXCLUSIVE wakes the first idle waiter, so
      // it may well give every connection to one Worker: not asserted.
      if (balance === 'reuseport') assert.ok(s.accepted.every((n) => n > 0), `spread: ${s.accepted.join('/')}`);
    } finally {
      await srv.stop('SIGKILL');
    }
  });

  test(`${label}: SIGTERM with connections open exits 0 and closes them`, async () => {
    const srv = await start(['--workers', '3', '--backend', backend, '--balance', balance, '--port', '0']);
    const socks = Array.from({ length: 6 }, () => net.connect({ host: '127.0.0.1', port: srv.port }));
    try {
      for (const s of socks) s.on('error', () => {});
      await Promise.all(socks.map((s) => new Promise((r) => s.once('connect', r))));
      await echoOnce(srv.port, 10);
      const ended = socks.map((s) => new Promise((r) => s.once('close', r)));
      for (const s of socks) s.resume();
      const { code, signal } = await srv.stop('SIGTERM');
      assert.is(signal, null);
      assert.is(code, 0, srv.stderr());
      await Promise.all(ended);
    } finally {
      for (const s of socks) s.destroy();
      await srv.stop('SIGKILL');
    }
  });

  test(`${label}: a Worker that crashes is reported; the others keep serving; SIGTERM still exits 0`, async () => {
    const srv = await start(['--workers', '2', '--backend', backend, '--balance', balance, '--port', '0'], { ECHO_WORKERS_CRASH: '1' });
    try {
      assert.ok(await eventually(() => /1 of 2 workers still serving/.test(srv.stderr())), `stderr: ${srv.stderr()}`);
      assert.match(srv.stderr(), /worker 1 died: worker 1: crash requested by ECHO_WORKERS_CRASH/);
      await Promise.all(Array.from({ length: 40 }, (_, i) => echoOnce(srv.port, 1 + i * 997)));
      const { code } = await srv.stop('SIGTERM');
      assert.is(code, 0, srv.stderr());
      const s = stats(srv.stdout());
      assert.is(s!.accepted[0], 40, `every connection went to the live Worker: ${s!.accepted.join('/')}`);
    } finally {
      await srv.stop('SIGKILL');
    }
  });
}

if (testBackends().includes('poll')) {
  test('echo-workers: --balance exclusive on poll is one clear line and exit 2; every worker dead is exit 1', async () => {
    const r = await run(['examples/echo-workers.mjs', '--backend', 'poll', '--balance', 'exclusive']);
    assert.is(r.code, 2);
    assert.match(r.stderr, /^echo-workers: --balance exclusive needs EPOLLEXCLUSIVE, which the poll backend lacks/);
    const onlyOne = await runChild(process.execPath, ['examples/echo-workers.mjs', '--workers', '1', '--backend', 'poll'], {
      cwd: ROOT,
      env: { ...process.env, ECHO_WORKERS_CRASH: '0' },
      timeoutMs: 15_000,
    });
    assert.is(onlyOne.code, 1, onlyOne.stderr);
    assert.match(onlyOne.stderr, /worker 0 died: .*\necho-workers: every worker has died\n$/);
    const bad = await run(['examples/echo-workers.mjs', '--workers', '0']);
    assert.is(bad.code, 2);
    assert.match(bad.stderr, /--workers must be a positive integer/);
  });
}

test('every child process started here has exited', () => {
  assert.is(liveCount(), 0);
});

test.run();
