#!/bin/sh
# Installs what boottrace's tests need on Debian: Go modules always; with
# root, the Debian packages the end-to-end tests use (QEMU, a kernel source
# and its build tools) and clang, which regenerates the BPF objects to check
# them against their source, and Chromium, in which the browser tests open
# the HTML report and the SVGs. Without root it says what is missing and the tests
# that need it skip.
set -eu
pkgs="qemu-system-x86 linux-source-6.1 linux-source-6.12 build-essential flex bison bc libelf-dev libssl-dev cpio xz-utils patch util-linux clang llvm libbpf-dev chromium"
missing=
for p in $pkgs; do
	dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "install-deps: apt-get install$missing" >&2
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
	else
		echo "install-deps: missing Debian packages:$missing (run as root: apt-get install$missing); tests that need them will skip" >&2
	fi
fi
go mod download
