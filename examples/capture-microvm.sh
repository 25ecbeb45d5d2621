#!/bin/sh
# Captures the microvm-VERSION examples: Linux VERSION from Debian's
# linux-source-VERSION package, built with guestpatch/configs/microvm.config
# (examples/kernel/build.sh), booted under QEMU microvm with a one-line init,
# with and without initcall_debug. Needs:
#   apt-get install linux-source-VERSION qemu-system-x86 build-essential flex bison bc libelf-dev libssl-dev cpio
# Usage: capture-microvm.sh VERSION   (6.1 or 6.12)
set -eu
version=$1
here=$(cd "$(dirname "$0")" && pwd)
out=$here/microvm-$version
mkdir -p "$out"
build=$("$here/kernel/build.sh" "$version")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$here/init/mkinitramfs.sh" "$tmp/initramfs.cpio.gz"
MEM=128 "$here/boot.sh" "$build/arch/x86/boot/bzImage" "$tmp/initramfs.cpio.gz" "$out/initcall.log" initcall_debug loglevel=8
MEM=128 "$here/boot.sh" "$build/arch/x86/boot/bzImage" "$tmp/initramfs.cpio.gz" "$out/plain.log"
gzip -9n < "$build/System.map" > "$out/System.map.gz"
