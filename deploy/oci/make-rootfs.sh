#!/usr/bin/env bash
# make-rootfs.sh BUILD_DIR CONTEXT_DIR - the build context of
# deploy/oci/Containerfile: CONTEXT_DIR/rootfs holds `cmake --install
# BUILD_DIR` with prefix /usr (the CNI plugins in /opt/cni/bin), every
# shared library those programs load (as ldd resolves them on this host),
# the filesystem tools vblk-csi runs on mount volumes (mkfs.ext4 and
# resize2fs from e2fsprogs, mkfs.xfs and xfs_growfs from xfsprogs, copied
# from this host into /usr/sbin, with /etc/mke2fs.conf), and /bin/busybox
# from busybox-static with a symlink per applet.
# Host-only files (systemd units, sysusers/tmpfiles/udev snippets) are
# left out: a container has no use for them.
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 BUILD_DIR CONTEXT_DIR" >&2; exit 2; }
build="$1" root="$2/rootfs"
busybox=/bin/busybox
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' ||
	{ echo "$0: $busybox is not a static busybox (install busybox-static)" >&2; exit 1; }

# vblk-csi formats and grows mount volumes with these (csi/node/fs.c, found
# on PATH).
fstools=(mkfs.ext4 resize2fs mkfs.xfs xfs_growfs)
for t in "${fstools[@]}"; do
	PATH=/usr/sbin:/sbin:$PATH command -v "$t" >/dev/null ||
		{ echo "$0: $t not found (install e2fsprogs and xfsprogs)" >&2; exit 1; }
done

rm -rf "$root"
mkdir -p "$root"
DESTDIR="$root" cmake --install "$build" --prefix /usr >/dev/null
rm -rf "$root"/usr/lib/systemd "$root"/usr/lib/sysusers.d "$root"/usr/lib/tmpfiles.d "$root"/usr/lib/udev

# Each tool under its own name (mke2fs picks ext4 from argv[0] mkfs.ext4).
mkdir -p "$root/usr/sbin" "$root/etc"
for t in "${fstools[@]}"; do
	cp -L "$(PATH=/usr/sbin:/sbin:$PATH command -v "$t")" "$root/usr/sbin/$t"
done
[[ ! -f /etc/mke2fs.conf ]] || cp /etc/mke2fs.conf "$root/etc/mke2fs.conf"

# Shared libraries and the dynamic loader, at the paths the programs ask for.
for bin in "$root"/usr/bin/* "$root"/usr/sbin/* "$root"/opt/cni/bin/vnet-cni; do
	ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
done | sort -u | while read -r lib; do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done

mkdir -p "$root/bin" "$root/tmp" "$root/run" "$root/var/lib/vplumb/images"
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
	[[ -e "$root/bin/$applet" ]] || ln -s busybox "$root/bin/$applet"
done
