#!/bin/sh
# Captures examples/aa-6.1: ten boots of one kernel (Linux 6.1 with the
# BOOT_TRACE patch, microvm.config + boottrace.config, one vCPU) under
# QEMU microvm, taken by "boottrace bench" as two interleaved groups of
# five with the same command on both sides (a-001..a-005, b-001..b-005):
# an A/A comparison, whose diff must call nothing a change. Needs what
# capture-microvm.sh needs.
# Usage: capture-aa.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out=$here/aa-6.1
cfg=$repo/guestpatch/configs
k=$("$here/kernel/build.sh" 6.1 --patch "$repo/guestpatch/patches/boot-trace-6.1.patch" "$cfg/microvm.config" "$cfg/boottrace.config")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$here/init/mkinitramfs.sh" "$tmp/initramfs.cpio.gz"
(cd "$repo" && go build -o "$tmp/boottrace" ./cmd/boottrace)
boot="$here/boot.sh $k/arch/x86/boot/bzImage $tmp/initramfs.cpio.gz -"
export MEM=128 MACHINE=microvm,acpi=off
"$tmp/boottrace" bench --runs 5 -o "$tmp/runs" --system-map "$k/System.map" --vs "$boot" -- /bin/sh -c "$boot"
mkdir -p "$out"
for f in "$tmp"/runs/*.log; do gzip -9n < "$f" > "$out/$(basename "$f").gz"; done
gzip -9n < "$k/System.map" > "$out/System.map.gz"
