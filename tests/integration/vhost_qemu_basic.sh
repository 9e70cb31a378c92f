#!/usr/bin/env bash
# vhost_qemu_basic.sh - vblkd's vhost-user-blk export under real QEMU: a TCG
# guest (Debian cloud kernel, busybox initramfs) boots with a vblkd disk,
# reads a pattern the host wrote (md5), writes data with conv=fsync and reads
# it back with O_DIRECT, runs blkdiscard (the range reads back as zeroes, and
# is a hole in the image), issues flushes (the guest's flush counter moves,
# the write cache is "write back"), and sees the disk grow when the host
# grows the image.  A second boot with num-queues=2 on two vCPUs shows two
# hardware queues and does I/O on both.  After each poweroff the host checks
# what the guest wrote in the image file.
source "$(dirname "$0")/lib.sh"
source "$VP_SOURCE/tests/vm/kit.sh"
vp_init vqb
vm_require
VBLKD="$VP_BUILD/bin/vblkd"
[[ -x "$VBLKD" ]] || vp_skip "vblkd not built ($VBLKD)"
vm_kernel

# The image lives on tmpfs; the socket in the test dir.
SHM=$(mktemp -d /dev/shm/vpt-vqb.XXXXXX)
vp_on_exit "rm -rf '$SHM'"
IMG="$SHM/disk.img"
SOCK="$VP_TMP/vq.sock"
MiB=$((1 << 20))
truncate -s 64M "$IMG"
dd if=/dev/urandom of="$IMG" bs=1M count=1 conv=notrunc status=none
dd if=/dev/urandom of="$IMG" bs=1M count=4 seek=16 conv=notrunc status=none
host_md5() { dd if="$IMG" bs=1M skip="$1" count="$2" status=none | md5sum | cut -d' ' -f1; }
pattern_md5=$(host_md5 0 1)
zero4_md5=$(head -c $((4 * MiB)) /dev/zero | md5sum | cut -d' ' -f1)

start_vblkd() {
	VPLUMB_LOG=debug vp_start_vblkd "$VP_TMP/vblkd.$1.log" \
		--export "name=vq0,image=$IMG" --vhost-user "name=vq0,socket=$SOCK,queues=2"
	VBLKD_PID=$VP_PID
}

# qemu_disk NUMQ: the vhost-user-blk arguments (guest RAM shared with vblkd).
qemu_disk() {
	printf '%s\n' -object "memory-backend-memfd,id=mem,size=${VM_MEM:-256}M,share=on" \
		-numa node,memdev=mem -chardev "socket,id=c0,path=$SOCK,reconnect=1" \
		-device "vhost-user-blk-pci,chardev=c0,num-queues=$1"
}

# ---- boot 1: one queue; data, discard, flush, resize ----
cat >"$VP_TMP/guest1.sh" <<'EOF'
set -u
vm_say disk "$(cat /sys/block/vda/size)"
vm_say queues "$(ls /sys/block/vda/mq | wc -l)"
vm_say wcache "$(cat /sys/block/vda/queue/write_cache)"
vm_say read-md5 "$(dd if=/dev/vda bs=1M count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
# 3 MiB of fresh random data at 8 MiB, fsync'd, read back around the cache.
dd if=/dev/urandom of=/tmp/data bs=1M count=3 2>/dev/null
vm_say data-md5 "$(md5sum </tmp/data | cut -d' ' -f1)"
dd if=/tmp/data of=/dev/vda bs=1M seek=8 conv=fsync 2>/dev/null
vm_say write-rc $?
vm_say readback-md5 "$(dd if=/dev/vda bs=1M skip=8 count=3 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
# Small O_DIRECT writes, odd sizes, then a flush through fsync.
dd if=/tmp/data of=/dev/vda bs=4k count=37 seek=3000 oflag=direct conv=fsync 2>/dev/null
vm_say small-md5 "$(dd if=/dev/vda bs=4k skip=3000 count=37 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
vm_say small-want "$(dd if=/tmp/data bs=4k count=37 2>/dev/null | md5sum | cut -d' ' -f1)"
# Discard 4 MiB at 16 MiB (the host filled it with random data).
vm_say discard-max "$(cat /sys/block/vda/queue/discard_max_bytes)"
blkdiscard -o $((16 << 20)) -l $((4 << 20)) /dev/vda
vm_say discard-rc $?
vm_say discard-md5 "$(dd if=/dev/vda bs=1M skip=16 count=4 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
sync
blockdev --flushbufs /dev/vda
# /sys/block/vda/stat field 16: flush requests completed.
vm_say flushes "$(awk '{print $16}' /sys/block/vda/stat)"
# Resize: ask the host to grow the image, then poll the capacity.
old=$(cat /sys/block/vda/size)
vm_say resize-ready "$old"
n=0
while [ "$(cat /sys/block/vda/size)" = "$old" ] && [ $n -lt 150 ]; do sleep 0.1; n=$((n + 1)); done
vm_say resized "$(cat /sys/block/vda/size)"
# The new tail is usable.
dd if=/tmp/data of=/dev/vda bs=1M count=1 seek=90 oflag=direct conv=fsync 2>/dev/null
vm_say tail-rc $?
EOF
vm_initramfs "$VP_TMP/guest1.sh" "$VP_TMP/initrd1.gz"
start_vblkd 1
mapfile -t disk1 < <(qemu_disk 1)
t0=$SECONDS
vm_start "$VP_TMP/console1" 90 -initrd "$VP_TMP/initrd1.gz" "${disk1[@]}"
if ! vm_wait_result "$VP_TMP/console1" resize-ready 60; then
	vm_dump "$VP_TMP/console1"
	cat "$VP_TMP/vblkd.1.log" >&2
	vp_fail "guest never reached the resize step"
fi
truncate -s 96M "$IMG"
rc=0
vm_wait || rc=$?
c=$VP_TMP/console1
if [[ $rc -ne 0 ]]; then
	vm_dump "$c"
	tail -30 "$VP_TMP/vblkd.1.log" >&2
	vp_fail "guest did not power off cleanly (QEMU status $rc)"
fi
vp_log "boot 1 (1 queue): guest script at $(vm_result "$c" booted) s, whole run $((SECONDS - t0)) s"
vm_assert_result "$c" disk $((64 * MiB / 512))
vm_assert_result "$c" queues 1
vm_assert_result "$c" read-md5 "$pattern_md5"
vp_ok "guest boots with a vblkd vhost-user-blk disk and reads the host's pattern"
data_md5=$(vm_result "$c" data-md5)
vm_assert_result "$c" write-rc 0
vm_assert_result "$c" readback-md5 "$data_md5"
vm_assert_result "$c" small-md5 "$(vm_result "$c" small-want)"
vp_assert_eq "$(host_md5 8 3)" "$data_md5" "guest's 3 MiB at 8 MiB, in the image"
vp_ok "guest writes (buffered+fsync, O_DIRECT 4k) read back in the guest and on the host"
[[ $(vm_result "$c" discard-max) -gt 0 ]] || vp_fail "guest sees no discard support"
vm_assert_result "$c" discard-rc 0
vm_assert_result "$c" discard-md5 "$zero4_md5"
vp_assert_eq "$(host_md5 16 4)" "$zero4_md5" "discarded range in the image"
vp_ok "blkdiscard: range reads as zeroes in the guest and in the image"
vm_assert_result "$c" wcache "write back"
[[ $(vm_result "$c" flushes) -gt 0 ]] || vp_fail "guest completed no flush requests"
vp_ok "flushes: $(vm_result "$c" flushes) completed by the guest's disk (write-back cache)"
vm_assert_result "$c" resized $((96 * MiB / 512))
vm_assert_result "$c" tail-rc 0
vp_assert_eq "$(host_md5 90 1)" "$(host_md5 8 1)" "guest's write past the old end, in the image"
grep -q "event=vhost.resize-notice" "$VP_TMP/vblkd.1.log" || vp_fail "vblkd sent no resize notice"
vp_ok "host grows the image: guest sees 96 MiB and writes past the old end"
vm_assert_result "$c" exit 0

# ---- boot 2: num-queues=2 on two vCPUs, I/O pinned to each CPU ----
cat >"$VP_TMP/guest2.sh" <<'EOF'
vm_say cpus "$(nproc)"
vm_say queues "$(ls /sys/block/vda/mq | sort | tr '\n' ,)"
vm_say read-md5 "$(dd if=/dev/vda bs=1M count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
dd if=/dev/urandom of=/tmp/a bs=1M count=2 2>/dev/null
dd if=/dev/urandom of=/tmp/b bs=1M count=2 2>/dev/null
taskset 1 dd if=/tmp/a of=/dev/vda bs=64k seek=640 oflag=direct 2>/dev/null &
taskset 2 dd if=/tmp/b of=/dev/vda bs=64k seek=704 oflag=direct 2>/dev/null &
wait
vm_say a-md5 "$(md5sum </tmp/a | cut -d' ' -f1)"
vm_say b-md5 "$(md5sum </tmp/b | cut -d' ' -f1)"
vm_say a-read "$(taskset 2 dd if=/dev/vda bs=64k skip=640 count=32 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
vm_say b-read "$(taskset 1 dd if=/dev/vda bs=64k skip=704 count=32 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
# How often each hardware queue ran, when debugfs is there.
if mount -t debugfs none /sys/kernel/debug 2>/dev/null; then
	for h in 0 1; do
		vm_say hctx$h "$(cat /sys/kernel/debug/block/vda/hctx$h/run 2>/dev/null)"
	done
fi
sync
EOF
vm_initramfs "$VP_TMP/guest2.sh" "$VP_TMP/initrd2.gz"
mapfile -t disk2 < <(qemu_disk 2)
t0=$SECONDS
c=$VP_TMP/console2
vm_run "$c" 90 -smp 2 -initrd "$VP_TMP/initrd2.gz" "${disk2[@]}"
vp_log "boot 2 (2 queues): guest script at $(vm_result "$c" booted) s, whole run $((SECONDS - t0)) s"
vm_assert_result "$c" cpus 2
vm_assert_result "$c" queues "0,1,"
vm_assert_result "$c" read-md5 "$pattern_md5"
vm_assert_result "$c" a-read "$(vm_result "$c" a-md5)"
vm_assert_result "$c" b-read "$(vm_result "$c" b-md5)"
vp_assert_eq "$(host_md5 40 2)" "$(vm_result "$c" a-md5)" "CPU 0's write in the image"
vp_assert_eq "$(host_md5 44 2)" "$(vm_result "$c" b-md5)" "CPU 1's write in the image"
grep -q "event=vhost.queue-started export=vq0 queue=1" "$VP_TMP/vblkd.1.log" ||
	vp_fail "vblkd never started queue 1"
if h1=$(vm_result "$c" hctx1) && [[ -n "$h1" ]]; then
	[[ $h1 -gt 0 && $(vm_result "$c" hctx0) -gt 0 ]] ||
		vp_fail "I/O did not use both hardware queues (hctx0 $(vm_result "$c" hctx0), hctx1 $h1)"
	vp_log "runs per hardware queue: hctx0 $(vm_result "$c" hctx0), hctx1 $h1"
fi
vm_assert_result "$c" exit 0
vp_ok "num-queues=2: two hardware queues, I/O from each vCPU lands in the image"

# SIGTERM: vblkd drains and exits 0 (under -DVP_SANITIZE=ON, also no report).
rc=0
vp_stop_vblkd "$VBLKD_PID" || rc=$?
if [[ $rc -ne 0 ]] || grep -q "Sanitizer" "$VP_TMP/vblkd.1.log"; then
	tail -30 "$VP_TMP/vblkd.1.log" >&2
	vp_fail "vblkd exited with status $rc on SIGTERM"
fi
vp_ok "vblkd stops cleanly"
