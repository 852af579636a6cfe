#!/usr/bin/env node
// `pnpm format` — rewrites the C++ sources in place with the checked-in
// .clang-format (the check that `pnpm lint` runs is the same, with --dry-run).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { clangFormat, cxxSources } from './cxx-sources.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const r = spawnSync(clangFormat(), ['-i', ...cxxSources(root)], { cwd: root, stdio: 'inherit' });
if (r.error) console.error(`format: ${r.error.message}`);
process.exitCode = r.status ?? 1;
