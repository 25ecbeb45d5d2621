#!/bin/sh
# Measures how much the BOOT_TRACE patch slows a boot: the same microvm
# config with and without the patch (CONFIG_BOOT_TRACE=y), each booted RUNS
# times (default 5), comparing the kernel's own timestamp of
# "Write protecting the kernel read-only data" (mark_rodata_ro, the last
# step before init, before the flush). Prints the medians and their ratio.
# Usage: scripts/measure-overhead.sh [VERSION] [RUNS]
set -eu
version=${1:-6.1}
runs=${2:-5}
repo=$(cd "$(dirname "$0")/.." && pwd)
ex=$repo/examples
cfg=$repo/guestpatch/configs
plain=$("$ex/kernel/build.sh" "$version" "$cfg/microvm.config")
patched=$("$ex/kernel/build.sh" "$version" --patch "$repo/guestpatch/patches/boot-trace-$version.patch" "$cfg/microvm.config" "$cfg/boottrace.config")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$ex/init/mkinitramfs.sh" "$tmp/initramfs.cpio.gz"
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
measure() {
	for i in $(seq "$runs"); do
		MEM=128 "$ex/boot.sh" "$1/arch/x86/boot/bzImage" "$tmp/initramfs.cpio.gz" "$tmp/log"
		sed -n 's/^\[ *\([0-9.]*\)\] Write protecting the kernel read-only data.*/\1/p' "$tmp/log"
	done
}
echo "booting Linux $version $runs times without and $runs times with BOOT_TRACE..." >&2
a=$(measure "$plain" | median)
b=$(measure "$patched" | median)
echo "unpatched: $a s, patched: $b s (median of $runs), ratio $(echo "$b $a" | awk '{printf "%.3f", $1/$2}')"
