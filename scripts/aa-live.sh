#!/bin/sh
# Live A/A check of "boottrace bench --vs": REPEATS times, boot one kernel
# RUNS times on each side, interleaved, with the same command on both
# sides, and count how often the diff calls the boot's total a significant
# change. The test at level alpha = 0.05 should do so in about 5% of the
# comparisons (by construction: that is what the level means), and never
# much more; with 5 + 5 runs the Mann-Whitney test cannot go below
# p = 0.008, so fewer runs would never say anything. Not in make test: one
# comparison is ten boots (about a minute here), and the count is a rate
# that needs many of them. The test kernel is Linux 6.1 with the BOOT_TRACE
# patch (microvm.config + boottrace.config, one vCPU), as examples/aa-6.1.
# Usage: scripts/aa-live.sh [REPEATS] [RUNS]   (defaults 20, 5)
set -eu
repeats=${1:-20}
runs=${2:-5}
repo=$(cd "$(dirname "$0")/.." && pwd)
ex=$repo/examples
cfg=$repo/guestpatch/configs
k=$("$ex/kernel/build.sh" 6.1 --patch "$repo/guestpatch/patches/boot-trace-6.1.patch" "$cfg/microvm.config" "$cfg/boottrace.config")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$ex/init/mkinitramfs.sh" "$tmp/initramfs.cpio.gz"
(cd "$repo" && go build -o "$tmp/boottrace" ./cmd/boottrace)
boot="$ex/boot.sh $k/arch/x86/boot/bzImage $tmp/initramfs.cpio.gz -"
export MEM=128 MACHINE=microvm,acpi=off
significant=0
for i in $(seq "$repeats"); do
	rm -rf "$tmp/runs"
	"$tmp/boottrace" bench --runs "$runs" -o "$tmp/runs" --system-map "$k/System.map" --vs "$boot" -- /bin/sh -c "$boot" > "$tmp/diff" 2> "$tmp/progress"
	total=$(grep -m1 '^Boot: ' "$tmp/diff")
	case $total in
	*'*'*) significant=$((significant + 1)); verdict="SIGNIFICANT" ;;
	*) verdict="no change" ;;
	esac
	echo "A/A $i of $repeats: $verdict: $total"
done
echo "A/A: $significant of $repeats comparisons ($runs + $runs boots each) called the total a significant change (level 0.05: about $(awk -v r="$repeats" 'BEGIN {printf "%.1f", r * 0.05}') expected)"
