'use strict';
// The package's install script. It builds the addon from source (cmake-js, into build/,
// which the loader then prefers) only when no shipped binary loads here, or when asked to
// (`npm install --build-from-source`, i.e. npm_config_build_from_source=true). The loader
// does not need this script to have run: with a prebuilt binary for this system, a skipped
// install script changes nothing.
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

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
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(__dirname)})`], { encoding: 'utf8' });
  return { ok: r.status === 0, message: (r.stderr || '').trim() };
}

const force = /^(true|1|yes)$/i.test(process.env.npm_config_build_from_source || '');
if (!force) {
  const first = loads();
  if (first.ok) process.exit(0);
  say('no prebuilt binary loads on this system; building from source with cmake-js.');
} else {
  say('building from source (npm_config_build_from_source is set).');
}

let cmakeJs;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js');
} catch {
  say('cmake-js, a dependency of this package, is not installed; cannot build from source.');
  process.exit(1);
}
const build = spawnSync(process.execPath, [cmakeJs, 'rebuild', '--directory', __dirname, '--out', path.join(__dirname, 'build')], {
  stdio: ['ignore', 'inherit', 'inherit'],
});
const after = loads();
if (build.status === 0 && after.ok) {
  say(`built ${path.join(__dirname, 'build', 'Release', 'iomux.node')}.`);
  process.exit(0);
}
say(build.status === 0 ? 'the source build finished but its binary does not load:' : 'the source build failed (output above).');
// The loader's own explanation: what was tried, for which platform, and what to do.
if (after.message) console.error(after.message.split('\n').filter((l) => !/^\s+at |^Node\.js v|^\S+:\d+$|^\s*(\^|throw err;)\s*$/.test(l)).join('\n'));
process.exit(1);
