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
# configure + build, not `compile`: compile answers a failed build with a
# full clean rebuild, which would only fail again, twice as slowly. Configure
# runs every time so that the -D options always hold; the build is incremental.
flags=(--out "$out" --CDIOMUX_WERROR=ON --CDCMAKE_EXPORT_COMPILE_COMMANDS=ON)
if ! pnpm exec cmake-js configure "${flags[@]}" >"$log" 2>&1; then
  tail -n 40 "$log"
  echo "lint:native: cmake configure failed (command: pnpm exec cmake-js configure ${flags[*]})"
  exit 1
fi
if pnpm exec cmake-js build "${flags[@]}" >"$log" 2>&1; then
  exit 0
fi
# The diagnostics, without cmake-js's and ninja's progress lines.
grep -E '(error|warning|note):|^\s+[0-9]+ \||^\s+\| |^In file included|^FAILED:' "$log" || tail -n 40 "$log"
echo "lint:native: the warnings-as-errors build failed (command: pnpm exec cmake-js build ${flags[*]})"
exit 1
