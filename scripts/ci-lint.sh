#!/usr/bin/env bash
# CI stage "lint": `pnpm lint` (ESLint, tsc over every project, clang-format,
# the warnings-as-errors build; one count per check), then its negative
# controls (`pnpm lint:selftest`: a return in finally, a type error in a test,
# an unused variable in an example, ... must each fail their check; one count
# per case), then the API reference (typedoc, warnings as errors). Ends with
# the combined "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
status=0
stage() { # command...
  local log rc line
  log=$(mktemp)
  "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  rm -f "$log"
  if [ -z "$line" ]; then
    echo "ci-lint: '$*' printed no summary (exit $rc)"
    line="0 passed, 1 failed"
  fi
  local p f
  p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
  f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  passed=$((passed + p))
  failed=$((failed + f))
  [ "$f" -eq 0 ] || status=1
}

echo "--- pnpm lint"
stage pnpm -s lint
echo "--- pnpm lint:selftest"
stage pnpm -s lint:selftest
# The API reference: typedoc with warnings as errors (every export documented,
# every link resolves). It prints no count of its own.
echo "--- pnpm run docs"
stage bash -c 'if pnpm -s run docs; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; exit 1; fi'
echo "$passed passed, $failed failed"
exit $status
