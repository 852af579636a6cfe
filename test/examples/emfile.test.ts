// Out of file descriptors: accept() fails with EMFILE while the connection
// stays queued, so the listener stays readable. The servers must stop
// watching it (no spinning), keep serving the connections they have, and
// accept the queued ones as soon as a connection closes.
import { test } from 'uvu';
import * as net from 'node:net';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { testBackends } from '../helpers.ts';
import { assert, eventually, killAll, startExample, type Server } from './harness.ts';

test.after(killAll);

let prlimit = true;
try {
  execFileSync('prlimit', ['--version'], { stdio: 'ignore' });
} catch {
  prlimit = false;
}

const CASES: [string, string[], string][] = [];
for (const b of testBackends()) CASES.push(['echo-queue', [], b]);
if (testBackends().includes('poll')) CASES.push(['poll-flags', [], 'poll']);
if (testBackends().includes('epoll')) CASES.push(['epoll-edge-echo', ['--mode', 'edge'], 'epoll']);
for (const b of testBackends()) CASES.push(['echo-async', [], b]);

/** CPU seconds (user + system) the process has used. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** A client that connects, sends `text` and collects what comes back. */
function client(port: number, text: string): { sock: net.Socket; got: () => string } {
  let got = '';
  const sock = net.connect({ host: '127.0.0.1', port }, () => sock.write(text));
  sock.on('data', (d) => (got += d.toString()));
  sock.on('error', () => {});
  return { sock, got: () => got };
}

// Not under the sanitizer build (pnpm test:asan): UBSan's own vptr check
// probes memory through a pipe, so in a process with fewer than two free fds
// it reports every C++ exception's vptr as invalid ("memory cannot be
// printed"), whatever the code. Measured: 0 or 1 free fds, a report; 2 or
// more, none. This test runs out of fds on purpose.
// eslint-disable-next-line @typescript-eslint/unbound-method -- uvu's test.skip is a plain function that never reads `this`
const maybe = process.env.IOMUX_SANITIZER === '1' ? test.skip : test;

for (const [name, extra, backend] of CASES) {
  maybe(`${name} on ${backend}: out of fds, it pauses accepting instead of spinning, then resumes`, async () => {
    if (!prlimit) return; // util-linux's prlimit sets another process's limit
    let server: Server | undefined;
    const clients: ReturnType<typeof client>[] = [];
    try {
      server = await startExample(name, [...extra, '--backend', backend, '--port', '0']);
      const pid = server.child.pid!;
      // Room for four more fds: new fds take the lowest free numbers, so the
      // limit sits just past the fourth free number (fds above it stay valid).
      const used = new Set(readdirSync(`/proc/${pid}/fd`).map(Number));
      let limit = 0;
      for (let free = 0; free < 4; limit++) if (!used.has(limit)) free++;
      execFileSync('prlimit', ['--pid', String(pid), `--nofile=${limit}:${limit}`]);
      for (let i = 0; i < 12; i++) clients.push(client(server.port, `hello ${i}\n`));
      assert.ok(await eventually(() => /out of file descriptors/.test(server!.stderr())), 'the server noticed EMFILE');
      const served = () => clients.filter((c, i) => c.got() === `hello ${i}\n`).length;
      assert.ok(await eventually(() => served() >= 3), `some clients were served (${served()})`);
      const waiting = clients.length - served();
      assert.ok(waiting > 0, 'the rest wait in the backlog');
      // Stalled on EMFILE for a second: a server spinning on its readable
      // listener would burn the whole second.
      const cpu0 = cpuSeconds(pid);
      await new Promise((r) => setTimeout(r, 1000));
      const cpu = cpuSeconds(pid) - cpu0;
      assert.ok(cpu < 0.5, `server used ${cpu.toFixed(2)} s of CPU while out of fds`);
      // Closing served connections frees fds: the queued clients get their turn.
      for (const [i, c] of clients.entries()) if (c.got() === `hello ${i}\n`) c.sock.destroy();
      for (let round = 0; round < 10 && served() < clients.length; round++) {
        await eventually(() => clients.some((c, i) => !c.sock.destroyed && c.got() === `hello ${i}\n`), 3000);
        for (const [i, c] of clients.entries()) if (!c.sock.destroyed && c.got() === `hello ${i}\n`) c.sock.destroy();
      }
      assert.is(served(), clients.length, 'every queued client was served in the end');
      assert.is(server.stderr().match(/out of file descriptors/g)!.length, 1, 'logged once');
      const { code } = await server.stop('SIGINT');
      assert.is(code, 0);
    } finally {
      for (const c of clients) c.sock.destroy();
      await server?.stop('SIGKILL');
    }
  });
}

test.run();
