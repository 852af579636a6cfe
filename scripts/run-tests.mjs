#!/usr/bin/env node
// Runs each test file (test/**/*.test.ts) in its own Node process under a
// time limit, reads uvu's summary from each, and ends with the one line CI
// reads: "N passed, N failed, N skipped".
//
//   pnpm test                 every file
//   pnpm test selector        files whose path contains "selector"
//   IOMUX_BACKEND=poll pnpm test   Selector tests on one backend only
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killChildrenOnSignals, runChild } from './lib/child.mjs';

killChildrenOnSignals('run-tests');

const root = fileURLToPath(new URL('..', import.meta.url));
const filters = process.argv.slice(2);
const perFileTimeoutMs = Number(process.env.IOMUX_TEST_TIMEOUT_MS ?? 300_000);

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const files = findTests(join(root, 'test')).filter(
  (f) => filters.length === 0 || filters.some((s) => relative(root, f).includes(s)),
);

async function runFile(file) {
  const r = await runChild(process.execPath, ['--import', 'tsx', '--expose-gc', file], {
    cwd: root,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
    timeoutMs: perFileTimeoutMs,
  });
  let out = r.stdout + r.stderr;
  if (r.timedOut) out += `\n[run-tests] timed out after ${perFileTimeoutMs} ms; killed\n`;
  return { out, code: r.code, signal: r.signal };
}

const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');
let passed = 0;
let failed = 0;
let skipped = 0;
for (const file of files) {
  const name = relative(root, file);
  const started = Date.now();
  const { out, code, signal } = await runFile(file);
  const text = stripAnsi(out);
  const total = Number(/Total:\s+(\d+)/.exec(text)?.[1] ?? NaN);
  const ok = Number(/Passed:\s+(\d+)/.exec(text)?.[1] ?? NaN);
  const skip = Number(/Skipped:\s+(\d+)/.exec(text)?.[1] ?? 0);
  let p = 0;
  let f = 0;
  if (Number.isNaN(total) || Number.isNaN(ok)) {
    f = 1; // crashed or hung before uvu could report: count the file as one failure
  } else {
    p = ok;
    f = total - ok;
    if (f === 0 && code !== 0) f = 1; // exited non-zero after a clean summary (a crash at exit)
  }
  passed += p;
  failed += f;
  skipped += skip;
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`${f ? 'FAIL' : 'ok  '} ${name}: ${p} passed, ${f} failed${skip ? `, ${skip} skipped` : ''} (${secs}s)`);
  if (f) console.log(text.split('\n').map((l) => `    ${l}`).join('\n') + (signal ? `\n    [signal ${signal}]` : ''));
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exitCode = failed > 0 || files.length === 0 ? 1 : 0;
