// The C++ sources that clang-format checks (`pnpm lint`) and formats
// (`pnpm format`): the addon's, found on disk so that a new file is covered
// before it is committed. And which clang-format binary does it.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const dirs = ['packages/native/src'];

/** @param {string} root the repository root; paths come back relative to it */
export function cxxSources(root) {
  return dirs.flatMap((d) =>
    readdirSync(join(root, d))
      .filter((f) => /\.(cc|cpp|h|hpp)$/.test(f))
      .sort()
      .map((f) => `${d}/${f}`),
  );
}

/**
 * The clang-format binary: $IOMUX_CLANG_FORMAT if set, else the one the npm
 * package `clang-format` (a devDependency, so its version is pinned by the
 * lockfile) ships for linux-x64, else `clang-format` from PATH (Debian's
 * package, on a machine the npm package has no binary for). The npm
 * package's own wrapper script is bypassed: on a diff it prints a stack trace.
 */
export function clangFormat() {
  if (process.env.IOMUX_CLANG_FORMAT) return process.env.IOMUX_CLANG_FORMAT;
  if (process.platform === 'linux' && process.arch === 'x64') {
    const pkg = dirname(createRequire(import.meta.url).resolve('clang-format/package.json'));
    const exe = join(pkg, 'bin', 'linux_x64', 'clang-format');
    if (existsSync(exe)) return exe;
  }
  return 'clang-format';
}
