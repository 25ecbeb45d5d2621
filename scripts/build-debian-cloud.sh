#!/bin/sh
# Builds Debian's own cloud kernel configuration (the config-*-cloud-amd64
# file of the linux-image package that matches linux-source-6.1) with the
# BOOT_TRACE patch, boots it to init under QEMU and prints the boot's
# summary: the configuration users actually run, not the project's tiny
# test configs. Outside CI: 20 minutes here on 2 cores (bzImage only; the
# modules are not needed to reach an initramfs init).
#
# What differs from the stock config, and why: CONFIG_BOOT_TRACE=y; the
# module signing keys (Debian's certificates are not in the source
# package); debug info off (it changes no code, and BTF would need pahole).
#
# Usage: scripts/build-debian-cloud.sh [WORKDIR]   (default: a new
# directory under ${TMPDIR:-/tmp}; the build tree stays there)
# Needs: apt-get install linux-source-6.1 qemu-system-x86 build-essential
# flex bison bc libelf-dev libssl-dev cpio (as for the test kernels).
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
mkdir -p "$work"
cd "$work"
srcver=$(dpkg-query -W -f '${Version}' linux-source-6.1)
# The cloud image of that version: linux-image-cloud-amd64 names it.
image=$(apt-cache show "linux-image-cloud-amd64=$srcver" 2>/dev/null | sed -n 's/^Depends: \(linux-image-[^ ]*-cloud-amd64\).*/\1/p' | head -n1)
[ -n "$image" ] || { echo "build-debian-cloud.sh: no linux-image-cloud-amd64 $srcver in the package lists (apt-get update)" >&2; exit 1; }
echo "build-debian-cloud.sh: config of $image ($srcver), in $work" >&2
if [ ! -f config ]; then
	apt-get download "$image" >&2
	dpkg-deb --fsys-tarfile "$image"_*.deb | tar -xO --wildcards './boot/config-*' > config
fi
if [ ! -f src/.done ]; then
	rm -rf src && mkdir src
	tar -xf /usr/src/linux-source-6.1.tar.xz -C src --strip-components=1
	(cd src && patch -p1 -s < "$repo/guestpatch/patches/boot-trace-6.1.patch")
	touch src/.done
fi
mkdir -p out
cp config out/.config
src/scripts/config --file out/.config -e BOOT_TRACE \
	--set-str SYSTEM_TRUSTED_KEYS "" --set-str SYSTEM_REVOCATION_KEYS "" \
	-d MODULE_SIG_ALL --set-str MODULE_SIG_KEY "" \
	-d DEBUG_INFO_DWARF5 -d DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT -d DEBUG_INFO_BTF -e DEBUG_INFO_NONE
make -s -C src O="$work/out" olddefconfig
grep -q '^CONFIG_BOOT_TRACE=y' out/.config || { echo "build-debian-cloud.sh: CONFIG_BOOT_TRACE did not stay on" >&2; exit 1; }
grep -q '^CONFIG_RANDOMIZE_BASE=y' out/.config && echo "build-debian-cloud.sh: KASLR on, as Debian ships it" >&2
start=$(date +%s)
echo "build-debian-cloud.sh: building bzImage (20 minutes or more on 2 cores; log in $work/build.log)" >&2
make -C src O="$work/out" -j"$(nproc)" bzImage > build.log 2>&1 || { tail -n 30 build.log >&2; exit 1; }
echo "build-debian-cloud.sh: built in $(( $(date +%s) - start )) s" >&2
"$repo/examples/init/mkinitramfs.sh" initramfs.cpio.gz
MEM=512 TIMEOUT=600 MACHINE=q35 "$repo/examples/boot.sh" out/arch/x86/boot/bzImage initramfs.cpio.gz console.log
grep -q "boottrace-init: reached userspace" console.log || { tail -n 30 console.log >&2; echo "build-debian-cloud.sh: did not reach init" >&2; exit 1; }
(cd "$repo" && go run ./cmd/boottrace summary --system-map "$work/out/System.map" "$work/console.log") | head -n 40
echo "build-debian-cloud.sh: reached init; console in $work/console.log"
