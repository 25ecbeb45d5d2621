#!/bin/sh
# Times boottrace against Brendan Gregg's flamegraph.pl on the same
# 1,000,000-line folded input (the one BenchmarkFoldedToSVG renders).
# Usage: scripts/bench-flamegraph-pl.sh PATH/TO/flamegraph.pl
set -eu
pl=$1
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/boottrace" ./cmd/boottrace
go test ./flame -run TestWriteBenchInput -write-bench-input "$tmp/in.folded" >/dev/null
echo "input: $(wc -l < "$tmp/in.folded") lines, $(wc -c < "$tmp/in.folded") bytes"
echo "flamegraph.pl:"; /usr/bin/time -f '  %e s wall, %M KB max RSS' perl "$pl" "$tmp/in.folded" > "$tmp/pl.svg"
echo "boottrace flame:"; /usr/bin/time -f '  %e s wall, %M KB max RSS' "$tmp/boottrace" flame -o "$tmp/bt.svg" "$tmp/in.folded"
echo "frames drawn: flamegraph.pl $(grep -c '<g ' "$tmp/pl.svg"), boottrace $(grep -c '<g class="f"' "$tmp/bt.svg")"
