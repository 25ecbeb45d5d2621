#!/bin/sh
# Measures what the BOOT_TRACE patch costs after the boot: the guest's init
# times 20,000 round trips over a pipe between two processes (40,000
# context switches, each through the scheduler's hook) once the boot has
# ended. Three kernels' worth of runs, interleaved A B C A B C ... so that
# the host's drift hits all alike:
#   on       CONFIG_BOOT_TRACE=y, recording during the boot (the hooks are
#            patched-out branches after it)
#   off      the same kernel booted with boottrace=off
#   without  the same source and config with CONFIG_BOOT_TRACE=n (no hook
#            compiled in: an unpatched kernel)
# Prints each run and the medians, and the ratios to "without".
# Usage: scripts/measure-after-boot.sh [VERSION] [RUNS]   (defaults 6.1, 7)
set -eu
version=${1:-6.1}
runs=${2:-7}
repo=$(cd "$(dirname "$0")/.." && pwd)
ex=$repo/examples
cfg=$repo/guestpatch/configs
patch=$repo/guestpatch/patches/boot-trace-$version.patch
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "CONFIG_BOOT_TRACE=n" > "$tmp/no-boottrace.config"
on=$("$ex/kernel/build.sh" "$version" --patch "$patch" "$cfg/microvm.config" "$cfg/smp.config" "$cfg/boottrace.config")
without=$("$ex/kernel/build.sh" "$version" --patch "$patch" "$cfg/microvm.config" "$cfg/smp.config" "$cfg/boottrace.config" "$tmp/no-boottrace.config")
grep -q '^CONFIG_BOOT_TRACE=y' "$on/.config" && ! grep -q '^CONFIG_BOOT_TRACE=y' "$without/.config" ||
	{ echo "measure-after-boot.sh: the two configs do not differ in CONFIG_BOOT_TRACE" >&2; exit 1; }
"$ex/init/mkinitramfs.sh" "$tmp/initramfs.cpio.gz"
one() { # KERNEL [ARGS...]: prints the round trips' ns
	k=$1
	shift
	MEM=128 BOOTTRACE= "$ex/boot.sh" "$k/arch/x86/boot/bzImage" "$tmp/initramfs.cpio.gz" "$tmp/log" "$@" switches
	sed -n 's/^boottrace-init: 20000 round trips in \([0-9]*\) ns.*/\1/p' "$tmp/log"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
: > "$tmp/on"; : > "$tmp/off"; : > "$tmp/without"
for i in $(seq "$runs"); do
	one "$on" >> "$tmp/on"
	one "$on" boottrace=off >> "$tmp/off"
	one "$without" >> "$tmp/without"
	echo "run $i of $runs: on $(tail -n1 "$tmp/on") ns, off $(tail -n1 "$tmp/off") ns, without $(tail -n1 "$tmp/without") ns" >&2
done
a=$(median < "$tmp/on"); b=$(median < "$tmp/off"); c=$(median < "$tmp/without")
echo "Linux $version, 20000 pipe round trips after the boot, median of $runs:"
echo "  on (recorded the boot): $a ns, ratio $(echo "$a $c" | awk '{printf "%.3f", $1/$2}')"
echo "  boottrace=off:          $b ns, ratio $(echo "$b $c" | awk '{printf "%.3f", $1/$2}')"
echo "  CONFIG_BOOT_TRACE=n:    $c ns"
