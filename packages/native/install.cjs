'use strict';
// The package's install script. It builds the addon from source (cmake-js, into build/,
// which the loader then prefers) only when no shipped binary loads here, or when asked to
// (`npm install --build-from-source`, i.e. npm_config_build_from_source=true). The loader
// does not need this script to have run: with a prebuilt binary for this system, a skipped
// install script changes nothing.
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

/** @param {string} line */
function say(line) {
  console.error(`@iomux/native: ${line}`);
}

if (process.platform !== 'linux') {
  say(`runs on Linux only (this is ${process.platform}): it wraps epoll(7) and Linux's select/poll and raw sockets.`);
  process.exit(1);
}

// In the iomux repository the root postinstall (`pnpm run build`) builds the addon for development.
const workspaceRoot = path.join(__dirname, '..', '..');
if (fs.existsSync(path.join(workspaceRoot, 'pnpm-workspace.yaml')) && fs.existsSync(path.join(workspaceRoot, 'CMakeLists.txt'))) {
  process.exit(0);
}

// A child process, so that a binary that crashes on load cannot take the install down with it.
function loads() {
  const probe = `try { require(${JSON.stringify(__dirname)}) } catch (e) { process.stderr.write(String(e && e.message)); process.exit(1) }`;
  const r = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' });
  return { ok: r.status === 0, message: (r.stderr || '').trim() };
}

function works(tool) {
  return spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * @param {string} line
 * @param {string} [loaderMessage]
 * @returns {never}
 */
function fail(line, loaderMessage) {
  say(line);
  if (loaderMessage) console.error(loaderMessage);
  process.exit(1);
}

const force = /^(true|1|yes)$/i.test(process.env.npm_config_build_from_source || '');
if (!force) {
  const first = loads();
  if (first.ok) process.exit(0);
  say('no prebuilt binary loads on this system; building from source with cmake-js.');
} else {
  say('building from source (npm_config_build_from_source is set).');
}

// Name the missing tool rather than let CMake fail on it halfway.
const missing = [
  ['cmake'],
  process.env.CXX ? [process.env.CXX] : ['c++', 'g++', 'clang++'],
  ['make', 'ninja'],
].filter((alternatives) => !alternatives.some(works)).map((alternatives) => alternatives.join(' or '));
if (missing.length > 0) {
  fail(`cannot build from source: no working ${missing.join(', ')} on PATH.`, loads().message);
}

let cmakeJs;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js');
} catch {
  fail('cmake-js, a dependency of this package, is not installed; cannot build from source.', loads().message);
}
const build = spawnSync(process.execPath, [cmakeJs, 'rebuild', '--directory', __dirname, '--out', path.join(__dirname, 'build')], {
  stdio: ['ignore', 'inherit', 'inherit'],
});
const after = loads();
if (build.status === 0 && after.ok) {
  say(`built ${path.join(__dirname, 'build', 'Release', 'iomux.node')}.`);
  process.exit(0);
}
// The loader's own explanation: what was tried, for which platform, and what to do.
fail(build.status === 0 ? 'the source build finished but its binary does not load:' : 'the source build failed (output above).', after.message);
