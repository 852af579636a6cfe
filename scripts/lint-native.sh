#!/usr/bin/env bash
# pnpm lint:native — builds the addon with IOMUX_WERROR=ON (every compiler
# warning an error; the warning flags themselves are in CMakeLists.txt) into
# a build directory of its own, so the normal build is left alone. Prints the
# compiler's diagnostics (file:line:col: error: ... [-Werror=flag]) and exits
# non-zero on any. Its compile_commands.json is what lint-selftest.mjs
# compiles its C++ negative controls with.
set -uo pipefail
cd "$(dirname "$0")/.."

out=packages/native/build/lint   # under packages/*/build/: git-ignored
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if pnpm exec cmake-js compile --out "$out" --CDIOMUX_WERROR=ON --CDCMAKE_EXPORT_COMPILE_COMMANDS=ON >"$log" 2>&1; then
  # A build that was up to date compiles nothing and so shows no warning;
  # ninja rebuilds only what changed, so this stays quick.
  exit 0
fi
# The diagnostics, without cmake-js's and ninja's progress lines.
grep -E '(error|warning|note):|^\s+[0-9]+ \||^\s+\| |^In file included|^FAILED:' "$log" || tail -n 40 "$log"
echo "lint:native: the warnings-as-errors build failed (command: pnpm exec cmake-js compile --out $out --CDIOMUX_WERROR=ON)"
exit 1
