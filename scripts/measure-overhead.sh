#!/bin/sh
# Measures what the BOOT_TRACE patch costs, in guest instructions: QEMU's
# -icount (shift=0: the guest clock advances 1 ns per instruction, and not
# while the guest idles) makes a TCG boot's timestamps an instruction
# count, the same from run to run whatever the host is doing. Three
# variants of one source and config:
#   on       CONFIG_BOOT_TRACE=y, recording during the boot
#   off      the same kernel booted with boottrace=off
#   without  CONFIG_BOOT_TRACE=n (no hook compiled in: an unpatched kernel)
#   fp       "without" with frame pointers (framepointer.config), as a
#            guest profiled with record --sample-guest is built: what
#            frame pointers cost the kernel itself
# For each: the boot up to "Write protecting the kernel read-only data"
# (mark_readonly, the last step before init), and after the boot the
# guest init's 20,000 pipe round trips between two processes (40,000
# context switches through the scheduler's hook, which a static key has
# turned into a no-op by then). Prints the medians, the ratios to
# "without", and the boot's extra instructions per record.
# Usage: scripts/measure-overhead.sh [VERSION] [RUNS]   (defaults 6.1, 3)
set -eu
version=${1:-6.1}
runs=${2:-3}
repo=$(cd "$(dirname "$0")/.." && pwd)
ex=$repo/examples
cfg=$repo/guestpatch/configs
patch=$repo/guestpatch/patches/boot-trace-$version.patch
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "CONFIG_BOOT_TRACE=n" > "$tmp/no-boottrace.config"
on=$("$ex/kernel/build.sh" "$version" --patch "$patch" "$cfg/microvm.config" "$cfg/smp.config" "$cfg/boottrace.config")
without=$("$ex/kernel/build.sh" "$version" --patch "$patch" "$cfg/microvm.config" "$cfg/smp.config" "$cfg/boottrace.config" "$tmp/no-boottrace.config")
fp=$("$ex/kernel/build.sh" "$version" --patch "$patch" "$cfg/microvm.config" "$cfg/smp.config" "$cfg/boottrace.config" "$tmp/no-boottrace.config" "$cfg/framepointer.config")
grep -q '^CONFIG_FRAME_POINTER=y' "$fp/.config" && grep -q '^CONFIG_UNWINDER_FRAME_POINTER=y' "$fp/.config" ||
	{ echo "measure-overhead.sh: the fp kernel has no frame pointers" >&2; exit 1; }
grep -q '^CONFIG_BOOT_TRACE=y' "$on/.config" && ! grep -q '^CONFIG_BOOT_TRACE=y' "$without/.config" ||
	{ echo "measure-overhead.sh: the two configs do not differ in CONFIG_BOOT_TRACE" >&2; exit 1; }
"$ex/init/mkinitramfs.sh" "$tmp/initramfs.cpio.gz"
one() { # NAME KERNEL [ARGS...]: appends "boot_ns switches_ns records" to $tmp/NAME
	name=$1 k=$2
	shift 2
	MEM=128 QEMU_EXTRA="-icount shift=0,sleep=off" "$ex/boot.sh" "$k/arch/x86/boot/bzImage" "$tmp/initramfs.cpio.gz" "$tmp/log" "$@" switches
	boot=$(sed -n 's/^\[ *\([0-9]*\)\.\([0-9]*\)\] Write protecting the kernel read-only data.*/\1\2000/p' "$tmp/log" | awk '{printf "%d", $1}')
	sw=$(sed -n 's/^boottrace-init: 20000 round trips in \([0-9]*\) ns.*/\1/p' "$tmp/log")
	recs=$(sed -n 's/.*BOOT_TRACE H 2 [^ ]* [0-9]* [0-9]* \([0-9]*\) .*/\1/p' "$tmp/log" | head -n1)
	[ -n "$boot" ] && [ -n "$sw" ] || { tail -n 20 "$tmp/log" >&2; echo "measure-overhead.sh: $name: no measurement in the console" >&2; exit 1; }
	echo "$boot $sw ${recs:-0}" >> "$tmp/$name"
	echo "  $name: boot $boot ns, round trips $sw ns${recs:+, $recs records}" >&2
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
col() { awk -v c="$1" '{print $c}' "$tmp/$2" | median; }
for i in $(seq "$runs"); do
	echo "run $i of $runs" >&2
	one on "$on" boottrace=console
	one off "$on" boottrace=off
	one without "$without"
	one fp "$fp"
done
bw=$(col 1 without); sw=$(col 2 without)
echo "Linux $version under QEMU -icount (1 ns = 1 guest instruction), median of $runs:"
echo "  variant              boot to mark_readonly  ratio   20,000 round trips after it  ratio"
for v in on off without fp; do
	b=$(col 1 $v); s=$(col 2 $v)
	printf '  %-20s %14s ns  %6s %22s ns  %6s\n' "$v" "$b" "$(echo "$b $bw" | awk '{printf "%.4f", $1/$2}')" "$s" "$(echo "$s $sw" | awk '{printf "%.4f", $1/$2}')"
done
recs=$(col 3 on)
echo "  recording cost: $(echo "$(col 1 on) $bw $recs" | awk '{printf "%.0f", ($1-$2)/$3}') instructions per record ($recs records), stack walks and samples included"
