#!/usr/bin/env bash
# oci_image.sh - deploy/oci: make-rootfs.sh lays out a build context from
# the build tree (DESTDIR install, the libraries the programs link, busybox
# from busybox-static), `podman build` of deploy/oci/Containerfile makes an
# image of one layer FROM scratch without pulling anything, and in it
# vblkd, vblkctl, vnetctl and vblk-csi (so libblkid, which it links) run,
# the CNI plugins answer VERSION and are symlinks to vnet-cni in
# /opt/cni/bin, a shell is there, and the filesystem tools vblk-csi needs
# for mount volumes work: mkfs.ext4 (with csi/node/fs.c's options) and
# resize2fs, mkfs.xfs, xfs_growfs, on image files the host then probes.
# podman runs
# with a store and config of this test's own (under $VP_TMP, as
# podman_cni.sh does), so the image goes with the test.
source "$(dirname "$0")/lib.sh"
vp_init oci
vp_require_cmd podman runc cmake file blkid dumpe2fs
[[ -x "$VP_BUILD/bin/vblkd" && -x "$VP_BUILD/bin/vnet-cni" ]] || vp_skip "not built ($VP_BUILD/bin)"
file -L /bin/busybox 2>/dev/null | grep -q 'statically linked' || vp_skip "no busybox-static (/bin/busybox)"

IMAGE=localhost/vpt-oci-vplumb:test
CGPARENT=/vpt-oci-cg
export CONTAINERS_CONF="$VP_TMP/containers.conf" CONTAINERS_STORAGE_CONF="$VP_TMP/storage.conf"
PM=(podman --root "$VP_TMP/root" --runroot "$VP_TMP/runroot" --storage-driver vfs)
RUN=("${PM[@]}" run --rm --network none --cgroup-parent "$CGPARENT")
mkdir -p "$VP_TMP/tmp"
cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "vfs"
graphroot = "$VP_TMP/root"
runroot = "$VP_TMP/runroot"
EOF
# Without CAP_SYS_RESOURCE podman's default rlimits cannot be set: ask for
# no more than this shell has.
nofile=$(ulimit -Hn) nproc=$(ulimit -Hu)
[[ $nofile == unlimited || $nofile -gt 1024 ]] && nofile=1024
[[ $nproc == unlimited || $nproc -gt 4096 ]] && nproc=4096
cat >"$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$VP_TMP/events.log"
lock_type = "file"
tmp_dir = "$VP_TMP/tmp"
EOF
# oci_cleanup: this store's containers and images, mounts below $VP_TMP
# (vfs layers), the cgroup parent.
oci_cleanup() {
	local d m
	"${PM[@]}" rm -fa -t 0
	"${PM[@]}" rmi -fa
	awk -v d="$VP_TMP/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m"; done
	for d in /sys/fs/cgroup/"$CGPARENT" /sys/fs/cgroup/*/"$CGPARENT"; do
		[[ -d "$d" ]] && find "$d" -depth -type d -exec rmdir {} \;
	done
}
vp_on_exit oci_cleanup

CTX="$VP_TMP/ctx"
bash "$VP_SOURCE/deploy/oci/make-rootfs.sh" "$VP_BUILD" "$CTX" >"$VP_TMP/rootfs.log" 2>&1 ||
	vp_fail "make-rootfs.sh: $(tail -5 "$VP_TMP/rootfs.log")"
for f in usr/bin/vblkd usr/bin/vblkctl usr/bin/vnetctl usr/bin/vblk-csi opt/cni/bin/vnet-cni bin/busybox bin/sh \
	lib64/ld-linux-x86-64.so.2 usr/sbin/mkfs.ext4 usr/sbin/resize2fs usr/sbin/mkfs.xfs usr/sbin/xfs_growfs etc/mke2fs.conf; do
	[[ -e "$CTX/rootfs/$f" ]] || vp_fail "rootfs lacks /$f"
done
[[ -n "$(find "$CTX/rootfs" -name 'libblkid.so.1' -type f)" ]] || vp_fail "rootfs lacks libblkid.so.1 (vblk-csi's probe)"
[[ ! -e "$CTX/rootfs/usr/lib/systemd" ]] || vp_fail "rootfs holds systemd units"
vp_ok "make-rootfs.sh: programs, plugins, $(find "$CTX/rootfs" -name '*.so*' -type f | wc -l) libraries, busybox"

version=$(sed -n 's/^project(vplumb VERSION \([0-9.]*\).*/\1/p' "$VP_SOURCE/CMakeLists.txt")
"${PM[@]}" build --pull=never -f "$VP_SOURCE/deploy/oci/Containerfile" --build-arg "VERSION=$version" \
	-t "$IMAGE" "$CTX" >"$VP_TMP/build.log" 2>&1 || vp_fail "podman build: $(tail -5 "$VP_TMP/build.log")"
vp_assert_eq "$("${PM[@]}" image inspect --format '{{len .RootFS.Layers}}' "$IMAGE")" 1 "layers (FROM scratch + one COPY)"
vp_assert_eq "$("${PM[@]}" image inspect --format '{{index .Labels "org.opencontainers.image.version"}}' "$IMAGE")" \
	"$version" "image version label"
vp_ok "podman build --pull=never: $IMAGE, one layer, version $version"

out=$("${RUN[@]}" "$IMAGE" 2>&1) || vp_fail "podman run (default command): $out"
vp_assert_match "$out" "^usage: vblkd" "default command: vblkd --help"
for prog in vblkd vblkctl vnetctl vblk-csi; do
	out=$("${RUN[@]}" "$IMAGE" "/usr/bin/$prog" --help 2>&1) || vp_fail "$prog --help in the image: $out"
	vp_assert_match "$out" "^usage: $prog" "$prog --help in the image"
done
for p in vnet-bridge vnet-ptp vnet-tap vnet-ipam; do
	out=$(printf '{"cniVersion":"1.1.0"}' | "${RUN[@]}" -i -e CNI_COMMAND=VERSION "$IMAGE" "/opt/cni/bin/$p" 2>&1) ||
		vp_fail "$p VERSION in the image: $out"
	vp_assert_eq "$(jq -r .cniVersion <<<"$out")" 1.1.0 "$p VERSION in the image"
done
out=$("${RUN[@]}" "$IMAGE" sh -c 'for p in /opt/cni/bin/vnet-*; do echo "${p##*/} $(readlink "$p")"; done' 2>&1) ||
	vp_fail "shell in the image: $out"
vp_assert_eq "$(tr '\n' ' ' <<<"$out")" "vnet-bridge vnet-cni vnet-cni  vnet-ipam vnet-cni vnet-ptp vnet-cni vnet-tap vnet-cni " \
	"/opt/cni/bin in the image"
vp_ok "in the image: vblkd/vblkctl/vnetctl/vblk-csi run, the four plugins answer VERSION and are symlinks to vnet-cni, sh works"

# The filesystem tools, found on the image's PATH as vblk-csi finds them, on
# files in a host directory: an ext4 made and grown from 64 to 96 MiB, an
# xfs made; the host's libblkid and dumpe2fs say what they hold.
mkdir "$VP_TMP/fs"
out=$("${RUN[@]}" -v "$VP_TMP/fs:/fs" "$IMAGE" sh -c 'set -e; cd /fs
	truncate -s 64M ext4.img
	mkfs.ext4 -q -E lazy_itable_init=1,lazy_journal_init=1 ext4.img
	truncate -s 96M ext4.img
	resize2fs ext4.img
	truncate -s 320M xfs.img
	mkfs.xfs -q xfs.img
	xfs_growfs -V' 2>&1) || vp_fail "filesystem tools in the image: $out"
vp_assert_match "$out" "xfs_growfs version" "xfs_growfs runs in the image"
vp_assert_eq "$(blkid -p -o value -s TYPE "$VP_TMP/fs/ext4.img")" ext4 "mkfs.ext4 in the image made an ext4"
vp_assert_eq "$(blkid -p -o value -s TYPE "$VP_TMP/fs/xfs.img")" xfs "mkfs.xfs in the image made an xfs"
geometry=$(dumpe2fs -h "$VP_TMP/fs/ext4.img" 2>/dev/null | awk -F: '/^Block count/ { c = $2 } /^Block size/ { s = $2 } END { print c * s }')
vp_assert_eq "$geometry" $((96 << 20)) "resize2fs in the image grew the ext4 to 96 MiB"
vp_ok "in the image: mkfs.ext4, resize2fs, mkfs.xfs, xfs_growfs work (on PATH: /usr/sbin)"

"${PM[@]}" rmi "$IMAGE" >/dev/null || vp_fail "podman rmi $IMAGE"
if "${PM[@]}" image exists "$IMAGE"; then vp_fail "$IMAGE still exists after rmi"; fi
vp_ok "image removed"
