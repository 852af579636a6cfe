#!/usr/bin/env bash
# pnpm pack:all — the publishable packages, as npm would receive them:
# builds the prebuilt binaries (scripts/prebuild.sh: linux-x64 and linux-arm64, checked),
# the TypeScript, then writes one tarball per package into packages-dist/ (git-ignored)
# with a SHA256SUMS file. scripts/ci-packaging.sh installs and tests exactly these files.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dist="$root/packages-dist"

bash scripts/prebuild.sh
pnpm run build:ts >/dev/null

rm -rf "$dist"
mkdir -p "$dist"
# Every package that is not private, in dependency order (the addon before its users).
for pkg in native core; do
  (cd "packages/$pkg" && pnpm pack --pack-destination "$dist" >/dev/null)
done
for pkg in packages/*/package.json; do
  if node -e "process.exit(require('./$pkg').private ? 1 : 0)"; then
    name=$(node -p "require('./$pkg').name")
    case $name in @iomux/native | @iomux/core) ;; *) echo "pack:all: $name is publishable but not packed; add it to scripts/pack-all.sh" >&2; exit 1 ;; esac
  fi
done
(cd "$dist" && sha256sum ./*.tgz >SHA256SUMS)
for tgz in "$dist"/*.tgz; do
  echo "pack:all: $(basename "$tgz"): $(tar tzf "$tgz" | wc -l) files, $(stat -c %s "$tgz") bytes"
done
for arch in x64 arm64; do
  tar tzf "$dist"/iomux-native-*.tgz | grep -x "package/prebuilds/linux-$arch/iomux.napi.glibc.node" >/dev/null ||
    { echo "pack:all: the linux-$arch binary is missing from the native tarball" >&2; exit 1; }
done
