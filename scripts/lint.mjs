#!/usr/bin/env node
// `pnpm lint` — every static check of the repository, one after the other:
// ESLint (type-aware) over all JS/TS, `tsc --noEmit` over each TypeScript and
// checkJs project (packages/core's first, and emitting, as `pnpm build:ts`
// does), clang-format over the C++, and a warnings-as-errors build of the
// addon. Runs them all even when one fails, prints each problem as
// `file:line:col rule message`, and ends with "N passed, N failed" (one per
// check); exits 1 if any failed.
//
//   pnpm lint                every check
//   pnpm lint eslint tsc     the checks whose name contains one of the words
//   pnpm lint --list         the check names
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clangFormat, cxxSources } from './cxx-sources.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = (name) => join(root, 'node_modules', '.bin', name);

// Every tsconfig.json in the tree is a project to check, found on disk so a
// new one is checked from the start. packages/core's is its build config and
// runs first, emitting dist/ as `pnpm build:ts` does: every other project (and
// ESLint's type information) sees @iomux/core through dist/*.d.ts, which would
// otherwise be as old as the last build.
function tsProjects(dir = '.') {
  const out = [];
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    if (e.isDirectory()) {
      if (e.name.startsWith('.') || ['node_modules', 'build', 'dist'].includes(e.name)) continue;
      out.push(...tsProjects(dir === '.' ? e.name : `${dir}/${e.name}`));
    } else if (e.name === 'tsconfig.json' && dir !== '.') out.push(dir);
  }
  return out.sort((a, b) => (a === CORE ? -1 : b === CORE ? 1 : a.localeCompare(b)));
}
const CORE = 'packages/core';

// tsc prints `file(line,col): error TS2322: ...`; the lint format is file:line:col.
const tscLine = (l) => l.replace(/^(.+?)\((\d+),(\d+)\): (error|warning) (TS\d+): /, '$1:$2:$3 $5 $4: ');

const projects = tsProjects();
const tscCheck = (p) => ({
  name: `tsc:${p}`,
  cmd: bin('tsc'),
  args: [...(p === CORE ? [] : ['--noEmit']), '--pretty', 'false', '-p', `${p}/tsconfig.json`],
  filter: (/** @type {string} */ out) => out.split('\n').map(tscLine).join('\n'),
});
/** @type {{ name: string, cmd: string, args: string[], filter?: (out: string) => string }[]} */
const checks = [
  ...projects.filter((p) => p === CORE).map(tscCheck),
  // The core's CommonJS build (dist/cjs/, for require() without require(esm)): its own config.
  { ...tscCheck(CORE), name: `tsc:${CORE} (CommonJS)`, args: ['--pretty', 'false', '-p', `${CORE}/tsconfig.cjs.json`] },
  {
    name: 'eslint',
    cmd: bin('eslint'),
    args: ['--max-warnings', '0', '--format', './scripts/eslint-formatter.mjs', '.'],
  },
  ...projects.filter((p) => p !== CORE).map(tscCheck),
  {
    name: 'clang-format',
    cmd: clangFormat(),
    args: ['--dry-run', '--Werror', ...cxxSources(root)],
  },
  {
    // The addon and the bench's C programs with every warning an error
    // (CMake option IOMUX_WERROR), in a build directory of its own so the
    // normal build stays as it is.
    name: 'cxx-warnings',
    cmd: 'bash',
    args: ['scripts/lint-native.sh'],
  },
];

const args = process.argv.slice(2);
if (args.includes('--list')) {
  for (const c of checks) console.log(c.name);
  process.exit(0);
}
const selected = checks.filter((c) => args.length === 0 || args.some((a) => c.name.includes(a)));
if (selected.length === 0) {
  console.error(`lint: no check matches ${args.join(' ')} (see pnpm lint --list)`);
  process.exit(2);
}

let passed = 0;
let failed = 0;
const failures = [];
for (const c of selected) {
  const t0 = Date.now();
  const r = spawnSync(c.cmd, c.args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  let out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  if (c.filter) out = c.filter(out);
  const ok = r.status === 0 && !r.error;
  if (!ok) {
    if (r.error) out = `${out}\n${c.cmd}: ${r.error.message}`.trim();
    console.log(`FAIL ${c.name} (${secs} s)`);
    if (out) console.log(out);
    failed++;
    failures.push(c.name);
  } else {
    console.log(`ok   ${c.name} (${secs} s)`);
    passed++;
  }
}
if (failures.length > 0) console.log(`lint: failed: ${failures.join(', ')}`);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0; // not process.exit(): it would cut off output still queued for a pipe
