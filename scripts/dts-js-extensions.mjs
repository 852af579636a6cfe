// Rewrites the relative import specifiers of emitted declarations from './x.ts' to './x.js'.
// The sources import './x.ts' (rewriteRelativeImportExtensions fixes the emitted .js, not the
// .d.ts); a published .d.ts that names .ts files fails consumers on TypeScript < 5.0 and
// depends on allowImportingTsExtensions-era resolution elsewhere. Idempotent.
// Usage: node scripts/dts-js-extensions.mjs DIR
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: dts-js-extensions.mjs DIR');
  process.exit(2);
}
const spec = /((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]+?)\.([mc]?)ts(['"])/g;
let changed = 0;
for (const entry of readdirSync(dir, { recursive: true })) {
  const file = join(dir, String(entry));
  if (!/\.d\.[mc]?ts$/.test(file)) continue;
  const text = readFileSync(file, 'utf8');
  const next = text.replace(spec, (_m, head, stem, kind, tail) => `${head}${stem}.${kind}js${tail}`);
  if (next !== text) {
    writeFileSync(file, next);
    changed++;
  }
}
console.log(`dts-js-extensions: ${changed} declaration file(s) rewritten in ${dir}`);
