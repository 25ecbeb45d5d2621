#!/bin/sh
# Measures the peak memory (max RSS) of every reading command on each
# input shape that once grew faster than its input (the shapes of
# TestLinearGrowth, about MB megabytes each), and prints it per byte of
# input: the figures behind the memory budget (--max-memory) and the
# bytes of memory per input byte it assumes for each format.
# Usage: scripts/measure-memory.sh [MB] [boottrace flags, e.g. --max-memory 0]
set -eu
mb=${1:-20}
[ $# -gt 0 ] && shift
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/boottrace" ./cmd/boottrace
mkdir "$tmp/shapes"
go test ./cmd/boottrace -run TestWriteShapes -write-shapes "$tmp/shapes" -shape-mb "$mb" >/dev/null
for f in "$tmp"/shapes/*; do
	size=$(wc -c < "$f")
	echo "$(basename "$f") ($size bytes):"
	for c in "summary" "pprof -o /dev/null" "flame -o /dev/null" "flame --chart -o /dev/null" \
		"flame --folded -o /dev/null" "export -o /dev/null" "report -o /dev/null"; do
		# shellcheck disable=SC2086
		/usr/bin/time -f "%M %e" -o "$tmp/time" "$tmp/boottrace" $c "$@" "$f" >/dev/null 2>"$tmp/err" || echo "  $c: failed: $(tail -1 "$tmp/err")"
		read -r kb secs <<-END
		$(tail -n 1 "$tmp/time")
		END
		echo "  $c: $((kb / 1024)) MB max RSS, $(echo "$kb $size" | awk '{printf "%.1f", $1 * 1024 / $2}') bytes per input byte, $secs s"
	done
done
