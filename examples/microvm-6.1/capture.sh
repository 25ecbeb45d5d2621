#!/bin/sh
# Captures the microvm-6.1 examples: Linux 6.1 from Debian's linux-source-6.1
# built with guestpatch/configs/microvm.config (examples/kernel/build.sh) and
# booted under QEMU microvm with a one-line init. Needs:
#   apt-get install linux-source-6.1 qemu-system-x86 build-essential flex bison bc libelf-dev libssl-dev cpio
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$("$here/../kernel/build.sh" 6.1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$here/../init/mkinitramfs.sh" "$tmp/initramfs.cpio.gz"
MEM=128 "$here/../boot.sh" "$build/arch/x86/boot/bzImage" "$tmp/initramfs.cpio.gz" "$here/initcall.log" initcall_debug loglevel=8
MEM=128 "$here/../boot.sh" "$build/arch/x86/boot/bzImage" "$tmp/initramfs.cpio.gz" "$here/plain.log"
gzip -9n < "$build/System.map" > "$here/System.map.gz"
