#!/bin/sh
# Boots KERNEL with INITRAMFS under QEMU's microvm machine and writes the
# serial console to OUT. KVM is used when /dev/kvm can run it, TCG
# otherwise (ACCEL=tcg forces it). Extra arguments go on the kernel command
# line after "console=ttyS0 reboot=t boottrace=console". BOOTTRACE replaces
# "console" there ("" leaves the parameter out: the trace is then read from
# debugfs or guest memory); SERIAL=off boots with the guest's serial port
# disabled (8250.nr_uarts=0: not a byte printed). QEMU_EXTRA adds QEMU options (such as
# a network device); MACHINE replaces "microvm" (e.g. microvm,acpi=off so that
# QEMU lists virtio-mmio devices on the command line for kernels without ACPI).
# Usage: boot.sh KERNEL INITRAMFS OUT [KERNEL ARGS...]   (OUT "-": stdout)
set -eu
kernel=$1 initramfs=$2 out=$3
shift 3
accel=${ACCEL:-tcg}
if [ -z "${ACCEL:-}" ] && [ -w /dev/kvm ] && grep -qE 'vmx|svm' /proc/cpuinfo; then
	accel=kvm
fi
# Under TCG the guest's TSC ticks with the host's, but a guest on a busy
# host can fail to calibrate it against the emulated PIT (and then has no
# TSC clock at all): tell it the host's frequency.
tsc=
if [ "$accel" = tcg ]; then
	mhz=$(awk -F: '/^cpu MHz/ {print $2; exit}' /proc/cpuinfo)
	[ -n "$mhz" ] && tsc="tsc_early_khz=$(awk -v m="$mhz" 'BEGIN {printf "%d", m * 1000}')"
fi
console=console=ttyS0
[ "${SERIAL:-on}" = off ] && console=8250.nr_uarts=0
bt=${BOOTTRACE-console}
# exec: a SIGTERM to this script reaches timeout, which passes it to QEMU
# (timeout runs QEMU in a process group of its own).
exec timeout "${TIMEOUT:-120}" qemu-system-x86_64 -accel "$accel" -M "${MACHINE:-microvm}" \
	-m "${MEM:-256}" -smp "${SMP:-1}" -nodefaults -no-user-config -nographic \
	-serial stdio -no-reboot \
	-kernel "$kernel" -initrd "$initramfs" ${QEMU_EXTRA:-} \
	-append "$console reboot=t ${bt:+boottrace=$bt} $tsc $*" > "$([ "$out" = - ] && echo /dev/stdout || echo "$out")"
