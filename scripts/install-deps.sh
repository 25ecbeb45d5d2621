#!/bin/sh
# Installs what boottrace's tests need on Debian: Go modules always; with
# root, the Debian packages the end-to-end tests use (QEMU, a kernel source
# and its build tools) and clang, which regenerates the BPF objects to check
# them against their source, and Chromium, in which the browser tests open
# the HTML report and the SVGs; then speedscope (from npm, into the cache),
# in which a test opens the exports. Without root it says what is missing
# and the tests that need it skip.
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
# speedscope, pinned, where TestSpeedscopeLoads looks for it; npm from
# Debian if there is none (a failure here only makes that test skip).
if ! command -v npm >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null 2>&1 ||
		echo "install-deps: could not install npm; TestSpeedscopeLoads will skip" >&2
fi
cache=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/boottrace/npm
if command -v npm >/dev/null && [ ! -f "$cache/node_modules/speedscope/dist/release/index.html" ]; then
	npm install --silent --no-audit --no-fund --prefix "$cache" speedscope@1.25.0 >/dev/null ||
		echo "install-deps: npm install speedscope failed; TestSpeedscopeLoads will skip" >&2
fi
