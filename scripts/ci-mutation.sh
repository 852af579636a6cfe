#!/usr/bin/env bash
# CI stage: the mutation check. Plants each known bug in a scratch copy of
# the tree (the checkout is never modified), rebuilds, runs the relevant test
# files, and expects them to fail. Ends with "N passed, N failed" (passed =
# mutants caught).
set -uo pipefail
cd "$(dirname "$0")/.."
exec node scripts/mutation-check.mjs "$@"
