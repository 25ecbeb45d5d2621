#!/bin/sh
# Captures the boottrace-VERSION examples: Linux VERSION with the BOOT_TRACE
# patch (guestpatch/patches), built with microvm.config + boottrace.config
# (one vCPU) and with smp.config added (booted with two vCPUs), each booted
# under QEMU microvm with and without "ip=" (a virtio NIC on QEMU's isolated
# user network, so ip_auto_config runs). Needs what capture-microvm.sh needs.
# Usage: capture-boottrace.sh VERSION   (6.1 or 6.12)
set -eu
version=$1
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out=$here/boottrace-$version
mkdir -p "$out"
patch=$repo/guestpatch/patches/boot-trace-$version.patch
cfg=$repo/guestpatch/configs
up=$("$here/kernel/build.sh" "$version" --patch "$patch" "$cfg/microvm.config" "$cfg/boottrace.config")
smp=$("$here/kernel/build.sh" "$version" --patch "$patch" "$cfg/microvm.config" "$cfg/smp.config" "$cfg/boottrace.config")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$here/init/mkinitramfs.sh" "$tmp/initramfs.cpio.gz"
ip="ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off"
nic="-netdev user,id=n0,restrict=on -device virtio-net-device,netdev=n0"
export MEM=128 MACHINE=microvm,acpi=off
SMP=1 "$here/boot.sh" "$up/arch/x86/boot/bzImage" "$tmp/initramfs.cpio.gz" "$out/up.log"
SMP=1 QEMU_EXTRA="$nic" "$here/boot.sh" "$up/arch/x86/boot/bzImage" "$tmp/initramfs.cpio.gz" "$out/up-ip.log" "$ip"
SMP=2 "$here/boot.sh" "$smp/arch/x86/boot/bzImage" "$tmp/initramfs.cpio.gz" "$out/smp.log"
SMP=2 QEMU_EXTRA="$nic" "$here/boot.sh" "$smp/arch/x86/boot/bzImage" "$tmp/initramfs.cpio.gz" "$out/smp-ip.log" "$ip"
gzip -9n < "$up/System.map" > "$out/System.map-up.gz"
gzip -9n < "$smp/System.map" > "$out/System.map-smp.gz"
