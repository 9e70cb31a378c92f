#!/usr/bin/env bash
# vm_kit_selftest.sh - the QEMU guest kit (tests/vm/kit.sh) works: a TCG guest
# boots from the kit's initramfs with a virtio-blk disk, reads a random 1 MiB
# pattern the host wrote (md5 matches), copies it 4 MiB further with
# conv=fsync, and powers off; the host finds the copy in the image.  Also the
# template for disk tests (swap the -drive for a vhost-user-blk device).
source "$(dirname "$0")/lib.sh"
source "$VP_SOURCE/tests/vm/kit.sh"
vp_init vks
vm_require
t0=$SECONDS
vm_kernel
vp_log "vm: kernel $VM_KERNEL ready in $((SECONDS - t0)) s"

IMG="$VP_TMP/disk.img"
truncate -s 8M "$IMG"
dd if=/dev/urandom of="$IMG" bs=1M count=1 conv=notrunc status=none
want=$(head -c 1M "$IMG" | md5sum | cut -d' ' -f1)

cat >"$VP_TMP/guest.sh" <<'EOF'
vm_say disk "$(cat /sys/block/vda/size 2>/dev/null)"
vm_say read-md5 "$(dd if=/dev/vda bs=1M count=1 2>/dev/null | md5sum | cut -d' ' -f1)"
dd if=/dev/vda of=/dev/vda bs=1M count=1 seek=4 conv=fsync 2>/dev/null
vm_say write-rc $?
EOF
vm_initramfs "$VP_TMP/guest.sh" "$VP_TMP/initrd.gz"
t1=$SECONDS
vm_run "$VP_TMP/console" 60 -initrd "$VP_TMP/initrd.gz" \
	-drive "file=$IMG,if=virtio,format=raw"
vp_log "vm: guest booted at $(vm_result "$VP_TMP/console" booted) s guest uptime, whole run $((SECONDS - t1)) s"

vm_assert_result "$VP_TMP/console" disk 16384
vm_assert_result "$VP_TMP/console" read-md5 "$want"
vp_ok "guest reads the host's pattern through virtio-blk"
vm_assert_result "$VP_TMP/console" write-rc 0
vm_assert_result "$VP_TMP/console" exit 0
got=$(dd if="$IMG" bs=1M skip=4 count=1 status=none | md5sum | cut -d' ' -f1)
vp_assert_eq "$got" "$want" "copy the guest wrote at 4 MiB"
vp_ok "guest's fsync'd write is in the image after poweroff"
