'use strict';
// Loads the addon that the root CMakeLists.txt builds (`pnpm build:native`).
// IOMUX_ADDON may name another build of it, e.g. the sanitizer build.
const path = require('node:path');

const file = process.env.IOMUX_ADDON || path.join(__dirname, 'build', 'Release', 'iomux.node');
try {
  module.exports = require(file);
} catch (e) {
  const err = /** @type {NodeJS.ErrnoException} */ (e);
  if (err && err.code === 'MODULE_NOT_FOUND') {
    err.message = `iomux: the native addon is not built (${file}). Run \`pnpm install\` or \`pnpm build:native\` at the repository root.`;
  }
  throw err;
}
