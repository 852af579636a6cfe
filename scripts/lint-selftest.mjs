#!/usr/bin/env node
// `pnpm lint:selftest` — negative controls for `pnpm lint`: each check must
// fail on the defect it exists for. For every case a scratch copy of a real
// file is written next to the original, so that the same tsconfig and ESLint
// config apply to it (C++ copies go under packages/native/build, see below);
// first clean, then with one defect appended. The clean copies must pass, and
// every defect must be reported, at its own file, by the check that owns it.
// The scratch files are removed afterwards, also on Ctrl-C. Ends with
// "N passed, N failed" (one per case).
//
// The checks are run exactly as scripts/lint.mjs runs them, on the scratch
// files only (ESLint, clang-format) or on the project that holds them (tsc).
// The C++ warning cases compile the scratch file with the command that the
// warnings-as-errors build (scripts/lint-native.sh) uses for the file it was
// copied from, taken from that build's compile_commands.json.
import { spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clangFormat } from './cxx-sources.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = (name) => join(root, 'node_modules', '.bin', name);
const tag = `_lint-selftest-${process.pid}`;
const cxxBuild = 'packages/native/build/lint';
// C++ scratch copies go to a git-ignored directory, not next to the sources:
// the addon's CMakeLists globs src/*.cc, and a copy left there by a killed
// run would be built into the addon. The root .clang-format applies there
// too; the compile gets -iquote packages/native/src for the copies' includes.
const cxxScratch = 'packages/native/build/lint-selftest';

/**
 * @typedef {{ name: string, from: string, to: string, defect: string, check: 'eslint' | 'tsc' | 'clang-format' | 'cxx', expect: RegExp }} Case
 * `expect` must match a diagnostic line of the check's output that names the scratch file.
 */
/** @type {Case[]} */
const cases = [
  {
    name: 'a return in finally (in a test) fails ESLint',
    from: 'test/helpers.ts',
    to: `test/${tag}-finally.ts`,
    check: 'eslint',
    defect: `
export function lintSelftestFinally(): number {
  try {
    return 1;
  } finally {
    return 2;
  }
}
`,
    expect: /:\d+:\d+ no-unsafe-finally error/,
  },
  {
    name: 'a type error in a test fails tsc',
    from: 'test/helpers.ts',
    to: `test/${tag}-type.ts`,
    check: 'tsc',
    defect: `\nexport const lintSelftestTypeError: number = 'not a number';\n`,
    expect: /:\d+:\d+ TS2322 error/,
  },
  {
    name: 'an any leak in a test fails ESLint',
    from: 'test/helpers.ts',
    to: `test/${tag}-any.ts`,
    check: 'eslint',
    defect: `\nexport const lintSelftestLeak: string = JSON.parse('"x"');\n`,
    expect: /:\d+:\d+ @typescript-eslint\/no-unsafe-assignment error/,
  },
  {
    name: 'an unused variable in an example fails ESLint',
    from: 'examples/echo-client.mjs',
    to: `examples/${tag}-unused.mjs`,
    check: 'eslint',
    defect: `\nfunction lintSelftestUnused() {\n  const left = 1;\n}\nlintSelftestUnused();\n`,
    expect: /:\d+:\d+ @typescript-eslint\/no-unused-vars error: 'left'/,
  },
  {
    name: 'a floating promise in an example fails ESLint',
    from: 'examples/echo-client.mjs',
    to: `examples/${tag}-promise.mjs`,
    check: 'eslint',
    defect: `\nasync function lintSelftestLater() {}\nlintSelftestLater();\n`,
    expect: /:\d+:\d+ @typescript-eslint\/no-floating-promises error/,
  },
  {
    name: 'misformatted C++ fails clang-format',
    from: 'packages/native/src/backend_common.cc',
    to: `${cxxScratch}/${tag}-format.cc`,
    check: 'clang-format',
    defect: `\nint   LintSelftestMisformatted (  ) {return 0;}\n`,
    expect: /:\d+:\d+: error: code should be clang-formatted/,
  },
  {
    name: 'a shadowed variable in C++ fails the -Werror build (-Wshadow)',
    from: 'packages/native/src/backend_common.cc',
    to: `${cxxScratch}/${tag}-shadow.cc`,
    check: 'cxx',
    defect: `\nint LintSelftestShadow(int x) {\n  int r = 0;\n  {\n    int x = 2;\n    r = x;\n  }\n  return r + x;\n}\n`,
    expect: /:\d+:\d+: error: declaration of .(int )?x. shadows a parameter \[-Werror=shadow\]/,
  },
  {
    name: 'a narrowing conversion in C++ fails the -Werror build (-Wconversion)',
    from: 'packages/native/src/backend_common.cc',
    to: `${cxxScratch}/${tag}-conversion.cc`,
    check: 'cxx',
    defect: `\nint LintSelftestNarrow(long v) { return v; }\n`,
    expect: /:\d+:\d+: error: conversion from .long int. to .int. may change value \[-Werror=conversion\]/,
  },
];

const scratch = cases.map((c) => join(root, c.to));
const cleanup = () => {
  for (const f of scratch) rmSync(f, { force: true });
};
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});
process.on('SIGTERM', () => {
  cleanup();
  process.exit(143);
});

const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.error ? -1 : r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}` };
};

// tsc prints `file(line,col): error TS2322: ...`; bring it to the lint format.
const tscLine = (l) => l.replace(/^(.+?)\((\d+),(\d+)\): (error|warning) (TS\d+): /, '$1:$2:$3 $5 $4: ');

/** The compile command of `from` in the -Werror build, pointed at `to`, syntax check only. */
function cxxCommand(from, to) {
  const db = join(root, cxxBuild, 'compile_commands.json');
  if (!existsSync(db)) return null;
  /** @type {{ file: string, command?: string, arguments?: string[], directory: string }[]} */
  const entries = JSON.parse(readFileSync(db, 'utf8'));
  const e = entries.find((x) => relative(root, x.file) === from);
  if (!e) return null;
  const argv = e.arguments ?? (e.command ?? '').split(/\s+/).filter(Boolean);
  const out = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '-o' || argv[i] === '-c') i++; // drop the object file and the source
    else out.push(argv[i]);
  }
  return { cmd: out[0], args: [...out.slice(1), '-iquote', join(root, dirname(from)), '-fsyntax-only', join(root, to)], cwd: e.directory };
}

/** Runs each case's check over the given cases; returns output per case. */
function runChecks(list) {
  /** @type {Map<Case, { status: number | null, out: string }>} */
  const res = new Map();
  const eslint = list.filter((c) => c.check === 'eslint');
  if (eslint.length > 0) {
    const r = run(bin('eslint'), ['--max-warnings', '0', '--format', './scripts/eslint-formatter.mjs', ...eslint.map((c) => c.to)]);
    for (const c of eslint) res.set(c, r);
  }
  // tsc checks a whole project; one run per project that holds a case.
  const tscProjects = new Set(list.filter((c) => c.check === 'tsc').map((c) => c.to.split('/')[0]));
  for (const p of tscProjects) {
    const r = run(bin('tsc'), ['--noEmit', '--pretty', 'false', '-p', `${p}/tsconfig.json`]);
    r.out = r.out.split('\n').map(tscLine).join('\n');
    for (const c of list) if (c.check === 'tsc' && c.to.startsWith(`${p}/`)) res.set(c, r);
  }
  for (const c of list.filter((x) => x.check === 'clang-format')) {
    res.set(c, run(clangFormat(), ['--dry-run', '--Werror', c.to]));
  }
  for (const c of list.filter((x) => x.check === 'cxx')) {
    const cc = cxxCommand(c.from, c.to);
    if (!cc) {
      res.set(c, { status: -1, out: `no compile command for ${c.from} in ${cxxBuild}/compile_commands.json (run pnpm lint:native first)` });
      continue;
    }
    const r = spawnSync(cc.cmd, cc.args, { cwd: cc.cwd, encoding: 'utf8' });
    res.set(c, { status: r.error ? -1 : r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}` });
  }
  return res;
}

// At most 20 lines of a check's output, for a failure message.
const head = (s) => {
  const lines = s.trim().split('\n');
  return lines.length > 20 ? [...lines.slice(0, 20), `... (${lines.length - 20} more lines)`].join('\n') : lines.join('\n');
};
// The lines of a check's output that are about this case's scratch file.
const about = (c, out) => out.split('\n').filter((l) => l.includes(c.to));

let passed = 0;
let failed = 0;
try {
  if (cases.some((c) => c.check === 'cxx') && !existsSync(join(root, cxxBuild, 'compile_commands.json'))) {
    // The warnings-as-errors build writes the compile commands the C++ cases reuse.
    const r = run('bash', ['scripts/lint-native.sh']);
    if (r.status !== 0) console.log(`lint-selftest: pnpm lint:native failed, the C++ cases will too:\n${r.out}`);
  }
  mkdirSync(join(root, cxxScratch), { recursive: true });
  for (const c of cases) copyFileSync(join(root, c.from), join(root, c.to));
  const clean = runChecks(cases);
  for (const c of cases) appendFileSync(join(root, c.to), c.defect);
  const dirty = runChecks(cases);
  for (const c of cases) {
    const before = clean.get(c);
    const after = dirty.get(c);
    const problems = [];
    // The clean copy passes: else the failure below could have another cause.
    if (!before || about(c, before.out).length > 0 || (c.check !== 'tsc' && before.status !== 0)) {
      problems.push(`the clean copy did not pass:\n${head(before?.out ?? '')}`);
    }
    if (!after || after.status === 0) problems.push('the check exited 0 with the defect in place');
    else if (!about(c, after.out).some((l) => c.expect.test(l))) {
      problems.push(`no diagnostic matching ${c.expect} for ${c.to}:\n${head(after.out)}`);
    }
    if (problems.length === 0) {
      passed++;
      console.log(`ok   ${c.name}`);
      for (const l of about(c, after?.out ?? '').filter((x) => c.expect.test(x)).slice(0, 1)) console.log(`     ${l.trim()}`);
    } else {
      failed++;
      console.log(`FAIL ${c.name}: ${problems.join('\n')}`);
    }
  }
} finally {
  cleanup();
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
