#!/bin/sh
# Captures the recording examples (needs root, QEMU, /dev/kvm for minivmm):
#   qemu-tcg.trace.gz  boottrace record of QEMU microvm (TCG) booting the
#                      BOOT_TRACE 6.1 kernel (examples/boottrace-6.1's build)
#   minivmm.trace.gz   boottrace record of ebpf/testdata/minivmm: real KVM
#                      ioctls and a long-mode guest on /dev/kvm
#   minivmm-2vcpu.trace.gz  the same guest on two vCPUs, one thread each
# Paths in the trace headers are relative: everything runs from a scratch
# directory holding copies of the kernel, initramfs and boot.sh.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cfg=$repo/guestpatch/configs
build=$("$repo/examples/kernel/build.sh" 6.1 --patch "$repo/guestpatch/patches/boot-trace-6.1.patch" "$cfg/microvm.config" "$cfg/boottrace.config")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$repo" && go build -o "$tmp/boottrace" ./cmd/boottrace && go build -o "$tmp/minivmm" ./ebpf/testdata/minivmm)
cp "$build/arch/x86/boot/bzImage" "$repo/examples/boot.sh" "$tmp/"
"$repo/examples/init/mkinitramfs.sh" "$tmp/initramfs.cpio.gz"
cd "$tmp"
MEM=128 ./boottrace record -o qemu-tcg.trace -- ./boot.sh bzImage initramfs.cpio.gz - > /dev/null
./boottrace record -o minivmm.trace -- ./minivmm > /dev/null
./boottrace record -o minivmm-2vcpu.trace -- ./minivmm -vcpus 2 > /dev/null
gzip -9n < qemu-tcg.trace > "$here/qemu-tcg.trace.gz"
gzip -9n < minivmm.trace > "$here/minivmm.trace.gz"
gzip -9n < minivmm-2vcpu.trace > "$here/minivmm-2vcpu.trace.gz"
gzip -9n < "$build/System.map" > "$here/System.map.gz"
