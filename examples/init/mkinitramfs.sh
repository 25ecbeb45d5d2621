#!/bin/sh
# Builds a gzipped initramfs holding only a static /init.
# Usage: mkinitramfs.sh OUT.cpio.gz
set -eu
out=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/root/dev" "$tmp/root/proc" "$tmp/root/sys"
cc -static -Os -o "$tmp/root/init" "$here/init.c"
(cd "$tmp/root" && find . | cpio -o -H newc --quiet | gzip -9n) > "$out"
