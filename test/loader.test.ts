// The addon loader (packages/native/index.cjs) picks the prebuilt binary for
// the C library the process runs on: iomux.napi.glibc.node on glibc,
// iomux.napi.musl.node on musl. Only a packaging run would see a wrong pick,
// so it is tested here on a package laid out as npm installs it (no
// build/Release, both prebuilds present and loadable: copies of this
// build), in a child process that loads the loader under test.
//
// The C library is read from the process's own memory map (ld-musl or
// libc.so.6), not from the report the loader reads, so the expectation does
// not come from the code under test. No musl Node is at hand here, so musl's
// side runs this Node with the report header a musl build of Node makes
// (Node sets glibcVersionRuntime and glibcVersionCompiler only when built
// against glibc): the loader's input, as musl gives it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const nativeDir = fileURLToPath(new URL('../packages/native/', import.meta.url));
// The build under test (the mutation check and the sanitizer run name theirs).
const addon = process.env.IOMUX_ADDON ?? join(nativeDir, 'build', 'Release', 'iomux.node');

/** 'glibc' or 'musl', from the dynamic loader mapped into this process. */
function mappedLibc(): 'glibc' | 'musl' {
  const maps = readFileSync('/proc/self/maps', 'utf8');
  if (/\/ld-musl-[^/\s]*\.so/.test(maps)) return 'musl';
  assert.ok(/\/libc\.so\.6\b/.test(maps), 'neither musl nor glibc is mapped into this process');
  return 'glibc';
}

// Preloaded into the child on musl's side: the report header without the
// glibc fields, as Node reports on musl.
const AS_MUSL = `
const getReport = process.report.getReport.bind(process.report);
process.report.getReport = (...args) => {
  const report = getReport(...args);
  delete report.header.glibcVersionRuntime;
  delete report.header.glibcVersionCompiler;
  return report;
};`;

/** Loads a copy of index.cjs from an npm-like layout; returns the .node file it loaded. */
function loadFromPackage(asMusl: boolean): { loaded: string[]; dir: string; error?: string } {
  const dir = mkdtempSync(join(tmpdir(), 'iomux-loader-'));
  const pkg = join(dir, 'node_modules', '@iomux', 'native');
  const prebuilds = join(pkg, 'prebuilds', `linux-${process.arch}`);
  mkdirSync(prebuilds, { recursive: true });
  copyFileSync(join(nativeDir, 'index.cjs'), join(pkg, 'index.cjs'));
  copyFileSync(addon, join(prebuilds, 'iomux.napi.glibc.node'));
  copyFileSync(addon, join(prebuilds, 'iomux.napi.musl.node'));
  const preload = join(dir, 'as-musl.cjs');
  writeFileSync(preload, AS_MUSL);
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.IOMUX_ADDON; // the loader's override would skip the selection under test
  const script = `
    require(${JSON.stringify(join(pkg, 'index.cjs'))});
    console.log(JSON.stringify(Object.keys(require.cache).filter((f) => f.endsWith('.node'))));`;
  const r = spawnSync(process.execPath, [...(asMusl ? ['--require', preload] : []), '-e', script], { env, encoding: 'utf8' });
  if (r.status !== 0) return { loaded: [], dir, error: r.stderr };
  return { loaded: (JSON.parse(r.stdout) as string[]).map((f) => f.slice(pkg.length + 1)), dir };
}

test(`on this machine's C library (${mappedLibc()}), the loader takes that prebuild`, () => {
  const libc = mappedLibc();
  const { loaded, dir, error } = loadFromPackage(false);
  try {
    assert.is(error, undefined, `the loader failed: ${error}`);
    assert.equal(loaded, [`prebuilds/linux-${process.arch}/iomux.napi.${libc}.node`]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("on musl (a report header without glibc's fields), the loader takes the musl prebuild", () => {
  const { loaded, dir, error } = loadFromPackage(true);
  try {
    assert.is(error, undefined, `the loader failed: ${error}`);
    assert.equal(loaded, [`prebuilds/linux-${process.arch}/iomux.napi.musl.node`]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
