// Marks @iomux/core's CommonJS build (dist/cjs/, from tsconfig.cjs.json) as CommonJS: the
// package itself is "type": "module", so without this Node would read those .js files as ESM.
// Usage: node scripts/cjs-package.mjs DIR
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: cjs-package.mjs DIR');
  process.exit(2);
}
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'package.json'), '{ "type": "commonjs" }\n');
