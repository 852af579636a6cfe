#!/usr/bin/env bash
# pnpm test:asan — rebuilds the addon with AddressSanitizer + UndefinedBehavior-
# Sanitizer (CMake option IOMUX_SANITIZE) into its own directory, and runs the
# native-facing test suite against it. Ends with "N passed, N failed".
#
#   pnpm test:asan                 every test file
#   pnpm test:asan selector        files whose path contains "selector"
#   IOMUX_ASAN_SKIP_BUILD=1 ...    reuse the last sanitizer build
#   IOMUX_VALGRIND=1 ...           also run a small suite under valgrind memcheck
#                                  (the normal build; slow, so CI does not)
#
# Why LD_PRELOAD: node itself is not built with ASan, so the ASan runtime is
# not the first library in the process; it must be preloaded before node's own
# allocator is used, or ASan refuses to start ("ASan runtime does not come
# first"). UBSan's runtime is preloaded too so that its handlers resolve.
# quarantine_size_mb=16: the default 256 MiB quarantine of freed memory makes
# RSS-flatness tests meaningless; 16 MiB still catches use-after-free of recent frees.
# Why detect_leaks=0: node and V8 keep memory until exit on purpose; LeakSanitizer
# would report that on every run. Leaks of ours are covered instead by the
# fd/RSS tests in test/reliability/resources.test.ts.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

out=packages/native/build/asan          # under packages/*/build/: git-ignored
addon="$root/$out/Release/iomux.node"

fail() {
  echo "test:asan: $*" >&2
  echo "0 passed, 1 failed"
  exit 1
}

if [ "${IOMUX_ASAN_SKIP_BUILD:-}" != 1 ] || [ ! -f "$addon" ]; then
  echo "test:asan: building the sanitizer addon into $out"
  pnpm exec cmake-js compile --out "$out" --CDIOMUX_SANITIZE=ON --CDCMAKE_CXX_FLAGS=-g >"$root/$out.log" 2>&1 ||
    { tail -n 40 "$root/$out.log" >&2; fail "the sanitizer build failed (log: $out.log)"; }
fi
[ -f "$addon" ] || fail "no addon at $addon"
[ "$(nm -D "$addon" 2>/dev/null | grep -c __asan_)" -gt 0 ] || fail "$addon is not instrumented (no __asan_ symbols)"

asan_rt=$(g++ -print-file-name=libasan.so)
ubsan_rt=$(g++ -print-file-name=libubsan.so)
[ -f "$asan_rt" ] || fail "libasan.so not found (g++ -print-file-name=libasan.so gave '$asan_rt')"
[ -f "$ubsan_rt" ] || fail "libubsan.so not found"

export IOMUX_ADDON="$addon"
export LD_PRELOAD="$asan_rt $ubsan_rt"
# halt on the first report, with a recognizable exit code; V8 reserves huge
# address ranges, so do not let ASan's allocator abort on big mappings.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode=86:detect_stack_use_after_return=0:allocator_may_return_null=1:print_summary=1:strict_string_checks=1:check_initialization_order=1:detect_odr_violation=0:quarantine_size_mb=16:malloc_context_size=20"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=87"
# Tests that loop a million times scale down under the sanitizer (see resources.test.ts).
export IOMUX_SANITIZER=1
# Each file runs longer under ASan.
export IOMUX_TEST_TIMEOUT_MS="${IOMUX_TEST_TIMEOUT_MS:-900000}"

# Preflight: the runtime and the instrumented addon are really in the process.
node -e '
  const core = require(process.env.IOMUX_ADDON);
  const maps = require("fs").readFileSync("/proc/self/maps", "utf8");
  if (!/libasan\.so/.test(maps)) { console.error("libasan is not mapped"); process.exit(1); }
  if (!maps.includes(process.env.IOMUX_ADDON)) { console.error("the asan addon is not mapped"); process.exit(1); }
  if (typeof core.NativeSelector !== "function") process.exit(1);
' || fail "preflight: the sanitizer runtime or addon did not load"

# Canary: prove that this harness (preload, options, exit code) really catches
# a memory error in an addon: a tiny instrumented addon with a heap overflow
# must die with ASan's report (exit 86), and a signed overflow with UBSan's
# (exit 87). Counts as one test.
canary_dir="$root/$out/canary"
mkdir -p "$canary_dir"
cat >"$canary_dir/canary.c" <<'CANARY'
#include <node_api.h>
#include <stdlib.h>
#include <limits.h>
static napi_value Overflow(napi_env env, napi_callback_info info) {
  volatile char* p = malloc(8);
  p[8] = 1; /* one past the end: AddressSanitizer */
  free((void*)p);
  return NULL;
}
static napi_value IntOverflow(napi_env env, napi_callback_info info) {
  volatile int x = INT_MAX;
  x = x + 1; /* signed overflow: UndefinedBehaviorSanitizer */
  return NULL;
}
NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "overflow", NAPI_AUTO_LENGTH, Overflow, NULL, &fn);
  napi_set_named_property(env, exports, "overflow", fn);
  napi_create_function(env, "intOverflow", NAPI_AUTO_LENGTH, IntOverflow, NULL, &fn);
  napi_set_named_property(env, exports, "intOverflow", fn);
  return exports;
}
CANARY
node_inc=$(node -p "require('path').resolve(process.execPath, '../../include/node')")
canary_ok=0
# -fno-sanitize=object-size: let the heap overflow reach ASan rather than UBSan.
if gcc -shared -fPIC -O1 -g -fsanitize=address,undefined -fno-sanitize=object-size -fno-sanitize-recover=undefined \
  -fno-omit-frame-pointer -I"$node_inc" -o "$canary_dir/canary.node" "$canary_dir/canary.c" 2>"$canary_dir/build.log"; then
  canary_ok=1
  while IFS=: read -r fn want_rc want_msg; do
    node -e "require('$canary_dir/canary.node').$fn(); console.log('canary: survived')" >"$canary_dir/$fn.log" 2>&1
    rc=$?
    if [ "$rc" = "$want_rc" ] && grep -q "$want_msg" "$canary_dir/$fn.log"; then
      echo "ok   sanitizer canary: $want_msg in an addon is caught (exit $rc)"
    else
      canary_ok=0
      echo "FAIL sanitizer canary: $want_msg not caught (exit $rc); the harness would miss real errors"
      tail -n 5 "$canary_dir/$fn.log"
    fi
  done <<'CASES'
overflow:86:heap-buffer-overflow
intOverflow:87:signed integer overflow
CASES
else
  echo "FAIL sanitizer canary: could not build it (log: $canary_dir/build.log)"
fi

pnpm run build:ts >/dev/null || fail "TypeScript build failed"

log=$(mktemp)
status=0
node scripts/run-tests.mjs "$@" 2>&1 | tee "$log" || status=1
# A sanitizer report anywhere (even in a file that otherwise passed) fails the run.
if grep -qE 'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|SUMMARY: UndefinedBehaviorSanitizer' "$log"; then
  echo "test:asan: sanitizer reports found:" >&2
  grep -nE 'ERROR: AddressSanitizer|runtime error:|SUMMARY: ' "$log" | head -n 20 >&2
  status=1
fi
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
rm -f "$log"
[ -n "$summary" ] || summary="0 passed, 1 failed"
passed=$(echo "$summary" | sed -E 's/^([0-9]+) passed.*/\1/')
failed=$(echo "$summary" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')

if [ "${IOMUX_VALGRIND:-}" = 1 ] && command -v valgrind >/dev/null 2>&1; then
  echo "test:asan: valgrind memcheck on the smoke and bad-input tests (normal build)"
  for f in test/smoke.test.ts test/reliability/bad-input.test.ts; do
    if env -u LD_PRELOAD -u IOMUX_ADDON valgrind --error-exitcode=88 --leak-check=no --track-origins=no \
      --suppressions=/dev/null -q node --import tsx --expose-gc "$f" >/dev/null 2>"$root/$out.valgrind.log"; then
      passed=$((passed + 1)); echo "ok   valgrind $f"
    else
      failed=$((failed + 1)); echo "FAIL valgrind $f (log: $out.valgrind.log)"; status=1
    fi
  done
fi

if [ "$canary_ok" = 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
[ "$failed" -gt 0 ] && status=1
echo "$passed passed, $failed failed"
exit $status
