#!/usr/bin/env bash
# csi_nbd_guest.sh - vblk-csi's kernel NBD attach path (csi/node/nbd.h) in a
# Debian-kernel QEMU guest (TCG), against vblkd on the host over TCP on
# loopback (the guest reaches it as 10.0.2.2 through QEMU's user network).
# tests/tools/nbd_attach, built from the very code vblk-csi attaches with,
# runs in the guest: handshake (NBD_OPT_GO), genetlink NBD_CMD_CONNECT, the
# device found again by its backend identifier, then NBD_CMD_DISCONNECT.
# The guest mounts the mount volume's ext4 filesystem from /dev/nbdN, reads
# the file the host put in it, writes a second one, syncs, unmounts and
# detaches; the host then finds the guest's file in the image (debugfs).  A
# read-only export becomes a read-only device.
# Then vblk-csi's own node service (tests/tools/csi_node_drive: the gRPC
# handlers, called in-process, one driver process per call) with vblkd in
# the guest (--vblkd-control, --vblkd-nbd unix socket): the attach order
# picks nbd (logged, kept in the node record), Create -> Stage (mkfs.ext4
# on /dev/nbdN) -> Publish -> write -> Unpublish -> Unstage (device
# disconnected, export removed) -> Stage -> Publish -> the data read back;
# after a vblkd restart the start-up reconcile reconnects the device
# (NBD_CMD_RECONFIGURE) and writes go on; mounts removed behind the driver
# are repaired by the start-up reconcile over the same nbd device; Unpublish, Unstage, Delete leave no device,
# export, mount or record.  This machine's own kernel has no nbd, hence
# the guest.
source "$(dirname "$0")/lib.sh"
source "$VP_SOURCE/tests/vm/kit.sh"
vp_init cng
vm_require
vp_require_cmd mkfs.ext4 debugfs nbdinfo
TOOL="$VP_BUILD/tests/nbd_attach"
DRIVE="$VP_BUILD/tests/csi_node_drive"
[[ -x "$VP_BUILD/bin/vblkd" && -x "$VP_BUILD/bin/vblkctl" && -x "$TOOL" && -x "$DRIVE" ]] ||
	vp_skip "vblkd/vblkctl/nbd_attach/csi_node_drive not built"
MKFS=$(command -v mkfs.ext4)
vm_kernel
vm_module_file nbd >/dev/null || grep -q '/nbd\.ko$' "$VM_MODDIR/modules.builtin" 2>/dev/null ||
	vp_skip "the guest kernel ($VM_MODDIR) has no nbd client (neither nbd.ko nor built in)"

IMG="$VP_TMP/vol.img"
RO="$VP_TMP/ro.img"
mkdir "$VP_TMP/root"
echo "written by the host" >"$VP_TMP/root/f1"
mkfs.ext4 -q -F -d "$VP_TMP/root" "$IMG" 32M
truncate -s 8M "$RO"
PORT=$((20000 + RANDOM % 20000))
vp_start_daemon "$VP_TMP/vblkd.log" "$VP_BUILD/bin/vblkd" --nbd "tcp:127.0.0.1:$PORT" \
	--export "name=vol,image=$IMG" --export "name=ro,image=$RO,readonly=on" --workers 1
vp_wait_nbd "nbd://127.0.0.1:$PORT/vol" "$VP_TMP/vblkd.log"

cat >"$VP_TMP/guest.sh" <<'EOF'
port=$(vm_arg port)
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
nbd_attach available
vm_say available $?
out=$(nbd_attach connect "tcp:10.0.2.2:$port" vol vpt-cng:vol 2>&1)
vm_say connect-rc $?
echo "connect: $out"
dev=${out%% *}
vm_say device "$dev"
vm_say found "$(nbd_attach find vpt-cng:vol)"
vm_say backend "$(cat /sys/block/${dev#/dev/}/backend)"
mkdir -p /mnt
mount -t ext4 "$dev" /mnt
vm_say mount-rc $?
vm_say f1 "$(cat /mnt/f1)"
echo "written by the guest" >/mnt/f2
sync
umount /mnt
vm_say umount-rc $?
vm_say detach "$(nbd_attach detach vpt-cng:vol)"
nbd_attach find vpt-cng:vol
vm_say find-after-detach $?
out=$(nbd_attach connect "tcp:10.0.2.2:$port" ro vpt-cng:ro 2>&1)
echo "connect ro: $out"
ro=${out%% *}
vm_say ro "$(cat /sys/block/${ro#/dev/}/ro)"
dd if=/dev/zero of="$ro" bs=4096 count=1 conv=fsync 2>/dev/null
vm_say ro-write-rc $?
vm_say ro-detach "$(nbd_attach detach vpt-cng:ro)"
out=$(nbd_attach connect "tcp:10.0.2.2:$port" nosuch vpt-cng:x 2>&1)
vm_say unknown-rc $?
echo "connect nosuch: $out"

# vblk-csi's node service over nbd, vblkd in the guest.
mkdir -p /pool/volumes /kubelet/stage /kubelet/pub
start_vblkd() {
	vblkd --control /run/ctl.sock --nbd unix:/run/nbd.sock --image-root /pool/volumes \
		--workers 1 >>/tmp/vblkd.log 2>&1 &
	vblkd_pid=$!
	for i in $(seq 100); do [ -S /run/ctl.sock ] && [ -S /run/nbd.sock ] && break; sleep 0.1; done
}
start_vblkd
drive() {
	csi_node_drive --vblkd-control /run/ctl.sock --vblkd-nbd /run/nbd.sock /pool /kubelet \
		"$@" 2>>/tmp/drive.log
}
exports() { vblkctl --control /run/ctl.sock export list 2>&1 | grep -c "$1"; }
id=$(drive create vpt-cng 32)
vm_say create-rc $?
img=/pool/volumes/$id.img
drive stage "$id" /kubelet/stage
vm_say stage-rc $?
vm_say attach-log "$(grep -o 'attach=nbd export=[^ ]* readonly=0 why="[^"]*"' /tmp/drive.log | head -1)"
vm_say record-attach "$(grep -o '"attach":"[a-z]*"' /pool/node/$id.json)"
vm_say staged-on "$(awk '$2 == "/kubelet/stage" {print $1}' /proc/mounts)"
vm_say staged-dev "$(nbd_attach find $img)"
drive publish "$id" /kubelet/stage /kubelet/pub/t
vm_say publish-rc $?
echo "cycle one" >/kubelet/pub/t/data && sync
vm_say write-rc $?
drive unpublish "$id" /kubelet/pub/t && drive unstage "$id" /kubelet/stage
vm_say unstage-rc $?
nbd_attach find $img
vm_say device-after-unstage $?
vm_say exports-after-unstage "$(exports "$id")"
drive stage "$id" /kubelet/stage && drive publish "$id" /kubelet/stage /kubelet/pub/t
vm_say restage-rc $?
vm_say read-back "$(cat /kubelet/pub/t/data)"
kill $vblkd_pid
wait $vblkd_pid
start_vblkd
drive reconcile
vm_say reconnects "$(grep -c "event=csi.node.reconnect volume=$id device=" /tmp/drive.log)"
echo "after vblkd restart" >/kubelet/pub/t/data2 && sync
vm_say write-after-restart-rc $?
umount /kubelet/pub/t && umount /kubelet/stage
drive reconcile
vm_say reconciled "$(cat /kubelet/pub/t/data) / $(cat /kubelet/pub/t/data2)"
drive unpublish "$id" /kubelet/pub/t && drive unstage "$id" /kubelet/stage && drive delete "$id"
vm_say end-rc $?
nbd_attach find $img
vm_say device-at-end $?
vm_say records-at-end "$(ls /pool/node | grep -c json)"
vm_say mounts-at-end "$(grep -c /kubelet /proc/mounts)"
vm_say exports-at-end "$(exports "$id")"
echo "--- drive.log"
cat /tmp/drive.log
echo "--- vblkd.log"
tail -20 /tmp/vblkd.log
true
EOF
vm_initramfs --module nbd --bin "$TOOL:/bin/nbd_attach" --bin "$DRIVE:/bin/csi_node_drive" \
	--bin "$VP_BUILD/bin/vblkd:/bin/vblkd" --bin "$VP_BUILD/bin/vblkctl:/bin/vblkctl" \
	--bin "$MKFS:/sbin/mkfs.ext4" "$VP_TMP/guest.sh" "$VP_TMP/initrd.gz"
VM_MEM=512 VM_APPEND="vmkit.port=$PORT" vm_run "$VP_TMP/console" 300 -initrd "$VP_TMP/initrd.gz" \
	-netdev user,id=n0 -device virtio-net-pci,netdev=n0
C="$VP_TMP/console"

vm_assert_result "$C" available 0
vm_assert_result "$C" connect-rc 0
dev=$(vm_result "$C" device)
vp_assert_match "$dev" '^/dev/nbd[0-9]+$' "the kernel picked a device"
vm_assert_result "$C" found "$dev"
vm_assert_result "$C" backend vpt-cng:vol
vp_ok "handshake + NBD_CMD_CONNECT give $dev, found again by its backend identifier"
vm_assert_result "$C" mount-rc 0
vm_assert_result "$C" f1 "written by the host"
vm_assert_result "$C" umount-rc 0
vp_ok "the guest mounts the volume's ext4 over nbd and reads the host's file"
vm_assert_result "$C" detach "$dev"
vm_assert_result "$C" find-after-detach 3
vp_ok "NBD_CMD_DISCONNECT detaches it (no device under the backend afterwards)"
vm_assert_result "$C" ro 1
vp_assert_match "$(vm_result "$C" ro-detach)" '^/dev/nbd[0-9]+$' "the read-only device detached"
[[ "$(vm_result "$C" ro-write-rc)" != 0 ]] || { vm_dump "$C"; vp_fail "a write to the read-only device succeeded"; }
vp_ok "a read-only export is a read-only device"
[[ "$(vm_result "$C" unknown-rc)" == 1 ]] || { vm_dump "$C"; vp_fail "an unknown export attached"; }
grep -aq "the server refused" "$C" || { vm_dump "$C"; vp_fail "no refusal message for an unknown export"; }
vp_ok "an unknown export is refused with the server's error"

vm_assert_result "$C" create-rc 0
vm_assert_result "$C" stage-rc 0
vp_assert_match "$(vm_result "$C" attach-log)" '^attach=nbd export=vol-[0-9a-f]+ readonly=0 why="ublk: no /dev/ublk-control"$' \
	"the attach log line"
vm_assert_result "$C" record-attach '"attach":"nbd"'
dev=$(vm_result "$C" staged-dev)
vp_assert_match "$dev" '^/dev/nbd[0-9]+$' "vblk-csi staged the volume on an nbd device"
vm_assert_result "$C" staged-on "$dev"
vp_ok "vblk-csi's attach order picks nbd (logged with ublk's reason, kept in the record): $dev"
vm_assert_result "$C" publish-rc 0
vm_assert_result "$C" write-rc 0
vm_assert_result "$C" unstage-rc 0
vm_assert_result "$C" device-after-unstage 3
vm_assert_result "$C" exports-after-unstage 0
vp_ok "unstage disconnects the nbd device and removes vblkd's export"
vm_assert_result "$C" restage-rc 0
vm_assert_result "$C" read-back "cycle one"
vp_ok "a mount volume's file written over nbd is read back after unstage and stage"
vm_assert_result "$C" reconnects 1
vm_assert_result "$C" write-after-restart-rc 0
vp_ok "after a vblkd restart the start-up reconcile reconnects the nbd device (NBD_CMD_RECONFIGURE): writes go on"
vm_assert_result "$C" reconciled "cycle one / after vblkd restart"
vp_ok "mounts removed behind the driver are repaired at start over the same nbd device"
vm_assert_result "$C" end-rc 0
vm_assert_result "$C" device-at-end 3
vm_assert_result "$C" records-at-end 0
vm_assert_result "$C" mounts-at-end 0
vm_assert_result "$C" exports-at-end 0
vp_ok "unpublish, unstage, delete: no nbd device, mount, export or record left"
vm_assert_result "$C" exit 0

got=$(debugfs -R 'cat /f2' "$IMG" 2>/dev/null)
vp_assert_eq "$got" "written by the guest" "the guest's file, read by the host from the image"
vp_ok "the guest's file is in the image after sync, umount and detach"
