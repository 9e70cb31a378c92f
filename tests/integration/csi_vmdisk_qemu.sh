#!/usr/bin/env bash
# csi_vmdisk_qemu.sh - a vmDisk volume as Kubernetes' vblk-vm class hands it
# to a VM pod, opened by a real QEMU (TCG): vblk-csi and vblkd on the host,
# calls as kubelet makes them (demo/csi_client.py, kubelet's paths). A mount
# (ext4) publish first, where "the container" writes a file; then the same
# volume staged and published with the mount access type and fs_type
# vhost-user-blk: the target is a directory with vblkd's socket as disk.sock;
# a recursive bind of it stands in for the container runtime's bind of the
# volume into the pod, and QEMU's -chardev socket opens disk.sock there. The
# guest mounts the disk (ext4), reads the container's file and writes one
# back, which the next ext4 stage on the host finds. Nothing is left (mount,
# socket directory, export, record). No kubelet runs: its calls are made
# by hand, with the same capability and paths.
source "$(dirname "$0")/lib.sh"
source "$VP_SOURCE/tests/vm/kit.sh"
vp_init cvq
VP_PY=/usr/bin/python3
vm_require
[[ -x "$VP_BUILD/bin/vblk-csi" && -x "$VP_BUILD/bin/vblkd" && -x "$VP_BUILD/bin/vblkctl" ]] ||
	vp_skip "vblk-csi/vblkd/vblkctl not built"
"$VP_PY" -c 'import grpc, grpc_tools' 2>/dev/null || vp_skip "python3-grpcio/python3-grpc-tools missing"
vp_require_cmd mkfs.ext4 jq

# A failed run must not leave a mount over this test's files.
cvq_release() {
	local m
	for m in $(awk -v t="$VP_TMP/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
		umount "$m"
	done
}
vp_on_exit cvq_release
vm_kernel

POOL="$VP_TMP/pool"
K="$VP_TMP/kubelet"
CTL="$VP_TMP/control.sock"
SOCK="$VP_TMP/csi.sock"
mkdir -p "$POOL/volumes" "$K" "$VP_TMP/stubs"
vp_start_vblkd "$VP_TMP/vblkd.log" --control "$CTL" --image-root "$POOL/volumes"
vp_start_daemon "$VP_TMP/csi.log" "$VP_BUILD/bin/vblk-csi" --endpoint "unix://$SOCK" \
	--node-id vpt-cvq --pool "$POOL" --kubelet-dir "$K" --vblkd-control "$CTL"
csi() { "$VP_PY" -B "$VP_SOURCE/demo/csi_client.py" "$VP_SOURCE" "$SOCK" "$VP_TMP/stubs" "$@"; }
csi probe 10 || vp_fail "vblk-csi did not answer Probe ready: $(tail -3 "$VP_TMP/csi.log")"
exports() { "$VP_BUILD/bin/vblkctl" --control "$CTL" --json export list | jq '.exports | length'; }

VOL=$(csi create vpt-cvq-vm 64 fsType=ext4 vmDisk=true) || vp_fail "CreateVolume"
STAGING="$K/plugins/kubernetes.io/csi/vblk.vplumb.dev/$VOL/globalmount"
CTR="$K/pods/vpt-cvq-ctr/volumes/kubernetes.io~csi/$VOL/mount"
VM="$K/pods/vpt-cvq-vm/volumes/kubernetes.io~csi/$VOL/mount"
mkdir -p "$STAGING" "$(dirname "$CTR")" "$(dirname "$VM")"

# ext4_use WHAT: stage and publish as ext4, run WHAT on the target, release.
ext4_use() {
	csi stage "$VOL" "$STAGING" mount && csi publish "$VOL" "$STAGING" "$CTR" mount ||
		vp_fail "NodeStage/NodePublish (ext4)"
	"$@" "$CTR"
	csi unpublish "$VOL" "$CTR" && csi unstage "$VOL" "$STAGING" ||
		vp_fail "NodeUnpublish/NodeUnstage (ext4)"
}
NOTE="written by the container $RANDOM"
write_note() { echo "$NOTE" >"$1/hello.txt"; }
ext4_use write_note
vp_ok "mount (ext4) use: the container's file written, unpublished, unstaged"

csi stage "$VOL" "$STAGING" vhost-user-blk || vp_fail "NodeStage (vhost-user-blk)"
csi publish "$VOL" "$STAGING" "$VM" vhost-user-blk || vp_fail "NodePublish (vhost-user-blk)"
[[ -d $VM && -S $VM/disk.sock ]] || vp_fail "the target is not a directory with disk.sock"
POD="$VP_TMP/pod-vm/vm/disk0"
mkdir -p "$POD"
mount --rbind "$VM" "$POD" || vp_fail "the pod's bind of the target"
vp_ok "vhost-user-blk publish: $VM holds disk.sock; the pod's mountPath is a recursive bind of it"

cat >"$VP_TMP/guest.sh" <<'EOF'
mkdir -p /vol
mount -t ext4 /dev/vda /vol; vm_say mount $?
vm_say note "$(cat /vol/hello.txt)"
echo "written by the VM" >/vol/from-vm.txt; vm_say write $?
umount /vol; vm_say umount $?
EOF
vm_initramfs "$VP_TMP/guest.sh" "$VP_TMP/initrd.gz"
vm_run "$VP_TMP/console" 120 -initrd "$VP_TMP/initrd.gz" \
	-object "memory-backend-memfd,id=mem,size=${VM_MEM:-256}M,share=on" -numa node,memdev=mem \
	-chardev "socket,id=c0,path=$POD/disk.sock" -device vhost-user-blk-pci,chardev=c0
for key in mount write umount exit; do vm_assert_result "$VP_TMP/console" "$key" 0; done
vm_assert_result "$VP_TMP/console" note "$NOTE"
vp_ok "QEMU opened <mountPath>/disk.sock: the guest read the container's file and wrote one"

umount -R "$POD" || vp_fail "umount the pod's bind"
csi unpublish "$VOL" "$VM" && csi unstage "$VOL" "$STAGING" ||
	vp_fail "NodeUnpublish/NodeUnstage (vhost-user-blk)"
[[ ! -e $VM && ! -e $POOL/node/sockets/$VOL && $(exports) == 0 ]] ||
	vp_fail "left after unstage: $(ls -A "$POOL/node/sockets"), $(exports) exports"
read_vm_file() { vp_assert_eq "$(cat "$1/from-vm.txt")" "written by the VM" "the guest's file, on ext4"; }
ext4_use read_vm_file
vp_ok "ext4 again: the guest's file is there"

csi delete "$VOL" || vp_fail "DeleteVolume"
[[ -z $(awk -v k="$K/" 'index($5, k) == 1' /proc/self/mountinfo) ]] || vp_fail "mounts left under $K"
[[ -z $(find "$POOL/node" "$POOL/volumes" -type f -o -type s) && $(exports) == 0 ]] ||
	vp_fail "left in the pool: $(find "$POOL/node" "$POOL/volumes" -type f -o -type s)"
vp_ok "unpublished, unstaged, deleted: no mount, socket, export, record or image left"
