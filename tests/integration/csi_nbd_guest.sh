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
# read-only export becomes a read-only device.  This machine's own kernel
# has no nbd, hence the guest.
source "$(dirname "$0")/lib.sh"
source "$VP_SOURCE/tests/vm/kit.sh"
vp_init cng
vm_require
vp_require_cmd mkfs.ext4 debugfs nbdinfo
TOOL="$VP_BUILD/tests/nbd_attach"
[[ -x "$VP_BUILD/bin/vblkd" && -x "$TOOL" ]] || vp_skip "vblkd/nbd_attach not built"
vm_kernel
vm_module_file nbd >/dev/null || vp_skip "the guest kernel ($VM_MODDIR) has no nbd module"

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
EOF
vm_initramfs --module nbd --bin "$TOOL:/bin/nbd_attach" "$VP_TMP/guest.sh" "$VP_TMP/initrd.gz"
VM_APPEND="vmkit.port=$PORT" vm_run "$VP_TMP/console" 300 -initrd "$VP_TMP/initrd.gz" \
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
vm_assert_result "$C" exit 0

got=$(debugfs -R 'cat /f2' "$IMG" 2>/dev/null)
vp_assert_eq "$got" "written by the guest" "the guest's file, read by the host from the image"
vp_ok "the guest's file is in the image after sync, umount and detach"
