#!/bin/sh
# Captures the Debian 6.1 examples: Debian's own kernel package booted
# under QEMU microvm with a one-line init. Needs:
#   apt-get install qemu-system-x86 linux-image-amd64 gcc cpio
# and, for System.map (the distribution's full symbol map), the -dbg package:
#   apt-get download linux-image-$(uname -r)-dbg   (858 MB)
#   dpkg-deb --fsys-tarfile linux-image-*-dbg_*.deb | tar x --wildcards './usr/lib/debug/boot/System.map*'
#   gzip -9n < usr/lib/debug/boot/System.map-* > System.map.gz
set -eu
here=$(cd "$(dirname "$0")" && pwd)
kernel=${KERNEL:-$(ls /boot/vmlinuz-*-amd64 | sort -V | tail -n 1)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$here/../init/mkinitramfs.sh" "$tmp/initramfs.cpio.gz"
"$here/../boot.sh" "$kernel" "$tmp/initramfs.cpio.gz" "$here/initcall.log" initcall_debug loglevel=8
"$here/../boot.sh" "$kernel" "$tmp/initramfs.cpio.gz" "$here/plain.log"
