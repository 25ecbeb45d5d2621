#!/bin/sh
# Times boottrace against Brendan Gregg's flamegraph.pl on the same folded
# input, side by side in one run, at 200,000 and 1,000,000 lines (the
# input BenchmarkFoldedToSVG renders, and its first fifth), and prints the
# ratio of their wall times. boottrace runs three times (the median
# counts), flamegraph.pl once (it takes tens of seconds). Also checks that
# both draw the same number of frames.
# Usage: scripts/bench-flamegraph-pl.sh PATH/TO/flamegraph.pl
set -eu
pl=$1
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/boottrace" ./cmd/boottrace
go test ./flame -run TestWriteBenchInput -write-bench-input "$tmp/1000000.folded" >/dev/null
head -n 200000 "$tmp/1000000.folded" > "$tmp/200000.folded"

# secs CMD...: runs CMD, prints its wall time in seconds.
secs() {
	s=$(date +%s.%N)
	"$@"
	e=$(date +%s.%N)
	echo "$s $e" | awk '{printf "%.3f", $2 - $1}'
}
echo "cores: $(nproc)"
for n in 200000 1000000; do
	in=$tmp/$n.folded
	tpl=$(secs sh -c "perl '$pl' '$in' > '$tmp/pl.svg'")
	t1=$(secs "$tmp/boottrace" flame -o "$tmp/bt.svg" "$in")
	t2=$(secs "$tmp/boottrace" flame -o "$tmp/bt.svg" "$in")
	t3=$(secs "$tmp/boottrace" flame -o "$tmp/bt.svg" "$in")
	tbt=$(printf '%s\n' "$t1" "$t2" "$t3" | sort -n | sed -n 2p)
	fpl=$(grep -c '<g ' "$tmp/pl.svg")
	fbt=$(grep -c '<g class="f"' "$tmp/bt.svg")
	echo "$n lines ($(wc -c < "$in") bytes): flamegraph.pl ${tpl} s, boottrace ${tbt} s (runs $t1 $t2 $t3): $(echo "$tpl $tbt" | awk '{printf "%.0f", $1 / $2}')x; frames drawn: flamegraph.pl $fpl, boottrace $fbt"
done
