'use strict';
// Finds the addon binary for this process, in this order:
//   1. IOMUX_ADDON, if set, and nothing else: a documented development switch (docs/packaging.md)
//      that runs the same code on another build (the sanitizer build, a mutant, a debug build);
//   2. build/Release/iomux.node, a local source build (the workspace's, or one made at install);
//   3. prebuilds/<platform>-<arch>/iomux.napi.<libc>.node, shipped in the package.
// Nothing here depends on the install script having run: pnpm 10 and newer npm skip
// dependencies' install scripts unless the user allows them, and the prebuilt binaries
// need none.
const fs = require('node:fs');
const path = require('node:path');

const HOW_TO_BUILD =
  'To build it from source: install a C++17 compiler, make and CMake >= 3.15; allow the ' +
  "package's install script (npm >= 11: `npm install-scripts approve @iomux/native`; pnpm: " +
  '`pnpm approve-builds`); then run `npm rebuild @iomux/native --build-from-source` ' +
  '(pnpm: `npm_config_build_from_source=true pnpm rebuild @iomux/native`).';

function unsupportedPlatform(platform) {
  const err = /** @type {NodeJS.ErrnoException} */ (new Error(
    `@iomux/native runs on Linux only (this is ${platform}): it wraps epoll(7) and Linux's select/poll and raw sockets.`,
  ));
  err.code = 'ERR_IOMUX_UNSUPPORTED_PLATFORM';
  return err;
}

/** 'glibc' or 'musl', from what Node itself reports about the running C library. */
function detectLibc() {
  // excludeNetwork is newer than the @types/node this repository uses.
  const report = /** @type {NodeJS.ProcessReport & { excludeNetwork?: boolean }} */ (process.report);
  // Newer Node can skip the network-interface part of the report, which is the slow part.
  const canExclude = typeof report.excludeNetwork === 'boolean';
  const before = canExclude ? report.excludeNetwork : undefined;
  if (canExclude) report.excludeNetwork = true;
  try {
    const header = /** @type {{ header: { glibcVersionRuntime?: string } }} */ (report.getReport()).header;
    return header.glibcVersionRuntime ? 'glibc' : 'musl';
  } finally {
    if (canExclude) report.excludeNetwork = before;
  }
}

const ELF_MACHINES = { 3: 'ia32', 40: 'arm', 62: 'x64', 183: 'arm64', 243: 'riscv64' };

// glibc reports a binary for another CPU as "No such file or directory"; say what it is instead.
function machineNote(file, arch) {
  try {
    const head = Buffer.alloc(20);
    const fd = fs.openSync(file, 'r');
    try {
      fs.readSync(fd, head, 0, 20, 0);
    } finally {
      fs.closeSync(fd);
    }
    if (head.readUInt32BE(0) !== 0x7f454c46) return ' (not an ELF file)';
    const machine = ELF_MACHINES[head.readUInt16LE(18)] || `ELF machine ${head.readUInt16LE(18)}`;
    return machine === arch ? '' : ` (the file is built for ${machine}, this process is ${arch})`;
  } catch {
    return '';
  }
}

function candidates(platform, arch, libc) {
  if (process.env.IOMUX_ADDON) return [process.env.IOMUX_ADDON];
  return [
    path.join(__dirname, 'build', 'Release', 'iomux.node'),
    path.join(__dirname, 'prebuilds', `${platform}-${arch}`, `iomux.napi.${libc}.node`),
  ];
}

function load() {
  const { platform, arch } = process;
  if (platform !== 'linux') throw unsupportedPlatform(platform);
  const libc = detectLibc();
  const tried = [];
  for (const file of candidates(platform, arch, libc)) {
    if (!fs.existsSync(file)) {
      tried.push({ file, reason: 'missing' });
      continue;
    }
    try {
      return require(file);
    } catch (err) {
      const message = err && err.message ? err.message.split('\n')[0] : String(err);
      tried.push({ file, reason: `failed to load: ${message}${machineNote(file, arch)}` });
    }
  }
  /** @type {Error & { code?: string, platform?: string, arch?: string, libc?: string, tried?: typeof tried }} */
  const err = new Error(
    `@iomux/native: no addon binary loads on ${platform}-${arch} (${libc}).\n` +
      `Tried:\n${tried.map((t) => `  ${t.file}: ${t.reason}`).join('\n')}\n` +
      'Prebuilt binaries ship for linux-x64 and linux-arm64 with glibc >= 2.28; anything else ' +
      'is built from source when the package is installed. ' +
      HOW_TO_BUILD,
  );
  err.code = 'ERR_IOMUX_NO_BINARY';
  err.platform = platform;
  err.arch = arch;
  err.libc = libc;
  err.tried = tried;
  throw err;
}

module.exports = load();
