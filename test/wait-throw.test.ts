// A JS exception thrown while the addon calls back into JS (a wait() settling
// from the native side runs the microtasks and ticks queued by its callers)
// reaches 'uncaughtException', as from any I/O callback in Node. The bug this
// catches: node-addon-api turns the pending exception into a C++ exception
// that unwinds into libuv: std::terminate, SIGABRT, no handler ever runs.
// Each case runs in a child process, since a failure kills the process.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testBackends } from './helpers.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

const child = (backend: string, handler: boolean) => `
  import { createSelector, pipe, Events } from '@iomux/core';
  import { writeSync } from 'node:fs';
  ${handler ? "process.on('uncaughtException', (e) => { console.log('handled ' + e.message); process.exit(0); });" : ''}
  const sel = createSelector(${JSON.stringify(backend)});
  const [r, w] = pipe();
  sel.register(r, Events.IN);
  setTimeout(() => writeSync(w, 'x'), 20);
  await sel.wait(); // settles from the addon's callback: nothing was ready at the call
  process.nextTick(() => { throw new Error('boom'); });`;

for (const b of testBackends()) {
  test(`${b}: a throwing process.nextTick after await wait() reaches uncaughtException (no SIGABRT)`, () => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', child(b, true)], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    assert.is(r.signal, null, r.stderr);
    assert.is(r.stdout.trim(), 'handled boom', r.stdout + r.stderr);
    assert.is(r.status, 0);
  });

  test(`${b}: ... and with no handler, Node's usual exit: status 1 and the error printed`, () => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', child(b, false)], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    assert.is(r.signal, null, r.stderr);
    assert.is(r.status, 1, r.stderr);
    assert.match(r.stderr, /Error: boom/);
  });
}

test.run();
