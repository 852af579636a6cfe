// The npm `epoll` package's own test suite (epoll@4.0.2, test/*.js) passes
// unchanged against @iomux/core/epoll. The suite is not in this repository:
// the registry tarball is fetched at test time (`npm pack epoll@4.0.2`) into
// node_modules/.cache/iomux-peer, and its epoll.js (the file that loads the
// peer's addon; its test files require '../epoll' and '../') is replaced by a
// one-line shim that requires '@iomux/core/epoll' of this checkout. Nothing of the peer is built.
// Each file runs in a child, from its test/ directory, as its run-tests script
// does (the `echo |` ones get a newline on stdin), with require(esm) turned
// off so the CommonJS build is what runs, as on Node < 20.19.
// A file passes if it exits 0 on its own (do-nothing and friends hang if an
// instance keeps the process alive for nothing) and prints no "*** Error".
// No network, no npm: every case fails, saying so; it never passes silently.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const VERSION = '4.0.2';
const root = fileURLToPath(new URL('..', import.meta.url));
const cache = join(root, 'node_modules', '.cache', 'iomux-peer');
const pkg = join(cache, `epoll-${VERSION}`, 'package');
// The checkout under test is named by IOMUX_DROPIN_ROOT (the cache may be shared through a
// symlink, as the mutation check's scratch copy does); '@iomux/core/epoll' resolves from
// there through the package's "exports", "require" condition.
const SHIM = `'use strict';
// iomux: the peer's addon loader, replaced by the drop-in under test.
module.exports = require(require.resolve('@iomux/core/epoll', { paths: [process.env.IOMUX_DROPIN_ROOT] }));
`;

// The files of the peer's run-tests, and whether it pipes `echo` into them.
const FILES: [name: string, echo: boolean][] = [
  ['closed', false],
  ['do-almost-nothing', false],
  ['do-nothing', false],
  ['no-gc-allowed', true],
  ['one-shot', true],
  ['performance-check', true],
  ['two-shot', true],
  ['verify-events', false],
];

/** Fetches and unpacks the tarball once; returns why it could not, or null. */
function fetchPeer(): string | null {
  if (existsSync(join(pkg, 'test', 'closed.js'))) return null;
  const tmp = join(cache, `tmp-${process.pid}`);
  try {
    mkdirSync(tmp, { recursive: true });
    execFileSync('npm', ['pack', `epoll@${VERSION}`, '--silent', '--pack-destination', tmp], {
      cwd: tmp,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
    });
    execFileSync('tar', ['xzf', join(tmp, `epoll-${VERSION}.tgz`), '-C', tmp]);
    for (const [name] of FILES) {
      if (!existsSync(join(tmp, 'package', 'test', `${name}.js`))) return `epoll@${VERSION}'s tarball has no test/${name}.js`;
    }
    mkdirSync(join(cache, `epoll-${VERSION}`), { recursive: true });
    rmSync(pkg, { recursive: true, force: true });
    renameSync(join(tmp, 'package'), pkg);
    return null;
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    return `could not fetch epoll@${VERSION} from the npm registry (network unavailable?): ${e.stderr?.toString().trim() || e.message}`;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const why = fetchPeer();
if (why === null) writeFileSync(join(pkg, 'epoll.js'), SHIM);

for (const [name, echo] of FILES) {
  test(`epoll@${VERSION} test/${name}.js passes unchanged against @iomux/core/epoll (CommonJS, no require(esm))`, () => {
    if (why !== null) assert.unreachable(`cannot run: ${why}`);
    const r = spawnSync(process.execPath, ['--no-experimental-require-module', name], {
      cwd: join(pkg, 'test'),
      env: { ...process.env, IOMUX_DROPIN_ROOT: root },
      input: echo ? '\n' : '',
      encoding: 'utf8',
      timeout: 60_000,
    });
    const out = `${r.stdout}${r.stderr}`;
    assert.is(r.signal, null, `killed by ${r.signal} (a hang: something kept the process alive): ${out}`);
    assert.is(r.status, 0, out);
    assert.not.match(out, /\*\*\* Error/);
    if (name === 'performance-check') assert.match(out, /\d+ events per second/);
  });
}

test('the shim is what the peer tests load (no addon of the peer anywhere)', () => {
  if (why !== null) assert.unreachable(`cannot run: ${why}`);
  assert.is(readFileSync(join(pkg, 'epoll.js'), 'utf8'), SHIM);
  assert.not.ok(existsSync(join(pkg, 'build')), 'the peer was never built');
});

test.run();
