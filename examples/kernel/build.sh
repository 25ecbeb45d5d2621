#!/bin/sh
# Builds a microVM kernel from Debian's linux-source package and prints the
# path of its build directory (bzImage in arch/x86/boot/, plus vmlinux and
# System.map). Builds are cached outside the repository, keyed by source
# version, patch and config, so a second run returns at once.
#
# Usage: build.sh VERSION [--patch FILE] [FRAGMENT...]
#   VERSION   6.1 or 6.12 (needs: apt-get install linux-source-VERSION)
#   FRAGMENT  Kconfig fragments merged over tinyconfig; default
#             guestpatch/configs/microvm.config
# Env: BOOTTRACE_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/boottrace)
set -eu
version=$1
shift
patch=
if [ "${1:-}" = --patch ]; then
	patch=$(readlink -f "$2")
	shift 2
fi
repo=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -gt 0 ] || set -- "$repo/guestpatch/configs/microvm.config"
tarball=/usr/src/linux-source-$version.tar.xz
[ -r "$tarball" ] || { echo "build.sh: $tarball missing: apt-get install linux-source-$version" >&2; exit 1; }
cache=${BOOTTRACE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/boottrace}
srcver=$(dpkg-query -W -f '${Version}' "linux-source-$version" 2>/dev/null || stat -c %Y "$tarball")
key=$( { echo "$srcver"; [ -z "$patch" ] || cat "$patch"; cat "$@"; } | sha256sum | cut -c1-16)
out=$cache/kernels/$version-$key
if [ -f "$out/.done" ]; then
	echo "$out"
	exit 0
fi
mkdir -p "$cache"
# One build at a time: two builds of the same source would unpack into the
# same directory.
exec 9>"$cache/.lock"
flock 9
if [ -f "$out/.done" ]; then # built while we waited
	echo "$out"
	exit 0
fi
src=$cache/src/$version-$(echo "$srcver${patch:+-$(sha256sum < "$patch" | cut -c1-12)}" | tr -c 'A-Za-z0-9.\n-' _)
if [ ! -f "$src/.done" ]; then
	echo "build.sh: unpacking $tarball" >&2
	rm -rf "$src" && mkdir -p "$src"
	tar -xf "$tarball" -C "$src" --strip-components=1
	if [ -n "$patch" ]; then
		echo "build.sh: applying $patch" >&2
		(cd "$src" && patch -p1 -s < "$patch")
	fi
	touch "$src/.done"
fi
mkdir -p "$out"
make -s -C "$src" O="$out" tinyconfig >/dev/null
"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "$@" >/dev/null
make -s -C "$src" O="$out" olddefconfig >/dev/null
echo "build.sh: building Linux $version in $out (about 3-10 minutes on 2 cores; log in $out/build.log)" >&2
if ! make -C "$src" O="$out" -j"$(nproc)" bzImage > "$out/build.log" 2>&1; then
	tail -n 30 "$out/build.log" >&2
	echo "build.sh: build failed; full log: $out/build.log" >&2
	exit 1
fi
touch "$out/.done"
echo "$out"
