#!/usr/bin/env bash
# vhost_qemu_reconnect.sh - vblkd killed with SIGKILL while a QEMU guest
# writes to its vhost-user-blk disk, restarted on the same socket: QEMU
# (chardev reconnect=1) reconnects, hands back the inflight region
# (INFLIGHT_SHMFD), vblkd resubmits what was in flight, the guest's writes
# all complete without errors, and every byte the guest wrote (checked by
# md5 in the guest after the writes, and in the image after poweroff) is
# there.  Two queues on two vCPUs, one writer on each.  The kill comes at a
# moment known to have requests in flight: vblkd is stopped (SIGSTOP) and its
# inflight region read until heads are marked there, then killed as it
# stands; the restarted vblkd must resubmit exactly those on each queue.  So
# that the first look already finds some, the first vblkd runs in a blkio
# cgroup throttling its writes to the image's disk (cgroup v1 blkio or v2 io,
# when the machine has one); without a throttle the looks may all find
# nothing in flight, and then only the data checks apply.
source "$(dirname "$0")/lib.sh"
source "$VP_SOURCE/tests/vm/kit.sh"
vp_init vqr
vm_require
VBLKD="$VP_BUILD/bin/vblkd"
[[ -x "$VBLKD" ]] || vp_skip "vblkd not built ($VBLKD)"
vm_kernel

# The image is on the test dir's disk, opened with O_DIRECT (cache=none), so
# that requests take real time and some are in flight when vblkd dies.
IMG="$VP_TMP/disk.img"
SOCK="$VP_TMP/vq.sock"
CHUNKS=24   # MiB per writer
truncate -s 96M "$IMG"
host_md5() { dd if="$IMG" bs=1M skip="$1" count="$2" status=none | md5sum | cut -d' ' -f1; }

# throttle_pid PID: put PID in a cgroup limiting writes to the disk under
# $VP_TMP to 2 MiB/s; prints the cgroup dir, or returns 1 when impossible.
throttle_pid() {
	local dev cg
	dev=$(findmnt -no MAJ:MIN -T "$VP_TMP" | tr -d ' ') || return 1
	[[ -e /sys/dev/block/$dev && ! -e /sys/dev/block/$dev/partition ]] || return 1
	if [[ -w /sys/fs/cgroup/blkio/cgroup.procs ]]; then
		cg=/sys/fs/cgroup/blkio/vpt-vqr-$$
		mkdir "$cg" && echo "$dev $((2 << 20))" >"$cg/blkio.throttle.write_bps_device" || return 1
	elif [[ -w /sys/fs/cgroup/cgroup.subtree_control ]] && grep -qw io /sys/fs/cgroup/cgroup.controllers; then
		cg=/sys/fs/cgroup/vpt-vqr-$$
		mkdir "$cg" && echo "$dev wbps=$((2 << 20))" >"$cg/io.max" || return 1
	else
		return 1
	fi
	echo "$1" >"$cg/cgroup.procs" || return 1
	printf '%s\n' "$cg"
}

# stopped PID: every thread of PID is stopped (SIGSTOP), io_uring's workers
# (iou-*) aside: they never touch the inflight region.
stopped() {
	local t st
	for t in /proc/"$1"/task/*; do
		[[ $(cat "$t/comm" 2>/dev/null) == iou-* ]] && continue
		st=$(cat "$t/stat" 2>/dev/null) || continue # gone meanwhile
		st=${st##*) }
		[[ ${st%% *} == T ]] || return 1
	done
}

# held_heads PID: for each queue of PID's inflight region (the memfd laid out
# as vblk/vhost/inflight.h says), "QUEUE SURE MAYBE": SURE heads marked in
# flight, and MAYBE 1 when the head completed last (last_batch_head) is
# marked too: a restarted vblkd resubmits that one only if its mark is not
# left over from a completion cut short.  Returns 1 without a region.
held_heads() {
	local f
	for f in /proc/"$1"/fd/*; do
		[[ $(readlink "$f") == /memfd:vblkd-inflight* ]] || continue
		od -An -v -tu1 -w16 "$f" | awk '
			BEGIN { hdr = 0 }
			NR - 1 == hdr { # a queue header: desc_num, last_batch_head; 16-byte descs follow
				num = $11 + 256 * $12; last = $13 + 256 * $14; first = NR; q++
				hdr += int((16 + 16 * num + 63) / 64) * 4
				next
			}
			NR - first < num && $1 == 1 { if (NR - first == last) maybe[q] = 1; else sure[q]++ }
			END { for (i = 1; i <= q; i++) print i - 1, sure[i] + 0, maybe[i] + 0 }'
		return
	done
	return 1
}

start_vblkd() {
	VPLUMB_LOG=debug vp_start_vblkd "$VP_TMP/vblkd.$1.log" \
		--export "name=vqr,image=$IMG,cache=none" --vhost-user "name=vqr,socket=$SOCK,queues=2"
	VBLKD_PID=$VP_PID
}

# Writer A (CPU 0) fills 8..32 MiB with O_DIRECT 64 KiB writes, writer B
# (CPU 1) fills 40..64 MiB with buffered 1 MiB writes fsync'd per chunk
# (page cache writeback: several requests in flight).  Each reports its
# progress; at the end the guest reads both ranges back around its cache.
cat >"$VP_TMP/guest.sh" <<EOF
CHUNKS=$CHUNKS
EOF
cat >>"$VP_TMP/guest.sh" <<'EOF'
dd if=/dev/urandom of=/tmp/a bs=1M count=$CHUNKS 2>/dev/null
dd if=/dev/urandom of=/tmp/b bs=1M count=$CHUNKS 2>/dev/null
vm_say a-md5 "$(md5sum </tmp/a | cut -d' ' -f1)"
vm_say b-md5 "$(md5sum </tmp/b | cut -d' ' -f1)"
writer() { # NAME CPU SEEK_MIB DD_FLAGS...
	name=$1 cpu=$2 seek=$3 i=0 rc=0
	shift 3
	while [ $i -lt $CHUNKS ]; do
		taskset $cpu dd if=/tmp/$name of=/dev/vda bs=1M count=1 skip=$i seek=$((seek + i)) \
			"$@" 2>/dev/null || rc=$((rc + 1))
		i=$((i + 1))
		vm_say $name-progress $i
	done
	vm_say $name-errors $rc
}
vm_say writing 1
writer a 1 8 oflag=direct &
writer b 2 40 conv=fsync &
wait
vm_say a-read "$(dd if=/dev/vda bs=1M skip=8 count=$CHUNKS iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
vm_say b-read "$(dd if=/dev/vda bs=1M skip=40 count=$CHUNKS iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
vm_say io-errors "$(dmesg | grep -c -i 'I/O error')"
EOF
vm_initramfs "$VP_TMP/guest.sh" "$VP_TMP/initrd.gz"

start_vblkd 1
vp_on_exit "kill -KILL $VBLKD_PID" # even stopped (SIGSTOP) when the test ends early
if CG=$(throttle_pid "$VBLKD_PID"); then
	vp_on_exit "kill -KILL $VBLKD_PID; wait $VBLKD_PID; rmdir '$CG'"
	vp_log "first vblkd's writes throttled to 2 MiB/s ($CG)"
else
	CG=""
	vp_log "no blkio/io cgroup throttle here: the looks at the inflight region may all find nothing in flight"
fi
c="$VP_TMP/console"
t0=$SECONDS
vm_start "$c" 100 -smp 2 -initrd "$VP_TMP/initrd.gz" \
	-object "memory-backend-memfd,id=mem,size=${VM_MEM:-256}M,share=on" -numa node,memdev=mem \
	-chardev "socket,id=c0,path=$SOCK,reconnect=1" \
	-device "vhost-user-blk-pci,chardev=c0,num-queues=2"

progress() { local v; v=$(vm_result "$c" "$1-progress") || v=0; printf '%s\n' "${v:-0}"; }
vm_wait_result "$c" writing 60 || { vm_dump "$c"; vp_fail "guest never started writing"; }
for ((i = 0; i < 600; i++)); do
	(($(progress a) >= 2 && $(progress b) >= 2)) && break
	kill -0 "$VM_PID" 2>/dev/null || break
	sleep 0.05
done
# Stop vblkd, read its inflight region, let it go on until heads are in
# flight there (while the writers are mid-way), then kill it stopped: what
# the restarted one finds is what was read.
held=""
while (($(progress a) < CHUNKS - 1 && $(progress b) < CHUNKS - 1)) && kill -0 "$VM_PID" 2>/dev/null; do
	kill -STOP "$VBLKD_PID"
	for ((i = 0; i < 500; i++)); do stopped "$VBLKD_PID" && break; sleep 0.01; done
	stopped "$VBLKD_PID" || vp_fail "vblkd's threads did not all stop on SIGSTOP"
	held=$(held_heads "$VBLKD_PID") || vp_fail "vblkd has no inflight region (INFLIGHT_SHMFD not used)"
	awk '$2 > 0 { found = 1 } END { exit !found }' <<<"$held" && break
	held=""
	kill -CONT "$VBLKD_PID"
	sleep 0.05
done
pa=$(progress a) pb=$(progress b)
((pa >= 2 && pb >= 2 && pa < CHUNKS && pb < CHUNKS)) ||
	{ vm_dump "$c"; vp_fail "writers not mid-way when it was time to kill (a $pa, b $pb of $CHUNKS MiB)"; }
kill -KILL "$VBLKD_PID"
wait "$VBLKD_PID" 2>/dev/null || true
t_kill=$SECONDS
vp_log "vblkd SIGKILLed with writer a at $pa MiB, writer b at $pb MiB of $CHUNKS; in flight:" \
	"$([[ -z $held ]] && echo "none seen" || awk '{ printf "queue %s: %s%s; ", $1, $2, $3 ? " (+1 maybe)" : "" }' <<<"$held")"
sleep 0.3
start_vblkd 2
rc=0
vm_wait || rc=$?
if [[ $rc -ne 0 ]]; then
	vm_dump "$c"
	tail -20 "$VP_TMP/vblkd.2.log" >&2
	vp_fail "guest did not power off cleanly after the restart (QEMU status $rc)"
fi
vp_log "guest finished $((SECONDS - t_kill)) s after the kill; whole run $((SECONDS - t0)) s"
grep -q "event=vhost.connected" "$VP_TMP/vblkd.2.log" || vp_fail "QEMU did not reconnect"
resub=$(grep -o "event=vhost.resubmitted .*" "$VP_TMP/vblkd.2.log" | tr '\n' ';' || true)
vp_log "restarted vblkd: ${resub:-resubmitted nothing}"
vp_ok "QEMU reconnected to the restarted vblkd (reconnect=1)"
if [[ -n "$held" ]]; then
	# Each queue's first start resubmits what the region held at the kill.
	while read -r q sure maybe; do
		n=$(grep -o "event=vhost.resubmitted export=vqr queue=$q requests=[0-9]*" \
			"$VP_TMP/vblkd.2.log" | head -1 | sed 's/.*=//' || true)
		((${n:-0} >= sure && ${n:-0} <= sure + maybe)) ||
			vp_fail "queue $q: resubmitted ${n:-0} requests, the inflight region held $sure (+$maybe)"
	done <<<"$held"
	vp_ok "the requests in flight at the kill resubmitted from QEMU's inflight region"
elif [[ -n "$CG" ]]; then
	vp_fail "writes were throttled, yet no look at the inflight region found a request in flight"
fi

vm_assert_result "$c" a-progress "$CHUNKS"
vm_assert_result "$c" b-progress "$CHUNKS"
vm_assert_result "$c" a-errors 0
vm_assert_result "$c" b-errors 0
vm_assert_result "$c" io-errors 0
vp_ok "guest's writes all completed without errors across the kill"
a=$(vm_result "$c" a-md5) b=$(vm_result "$c" b-md5)
vm_assert_result "$c" a-read "$a"
vm_assert_result "$c" b-read "$b"
vp_assert_eq "$(host_md5 8 "$CHUNKS")" "$a" "writer a's range in the image"
vp_assert_eq "$(host_md5 40 "$CHUNKS")" "$b" "writer b's range in the image"
vm_assert_result "$c" exit 0
vp_ok "no write lost: both ranges match in the guest and in the image"

# SIGTERM: vblkd drains and exits 0 (under -DVP_SANITIZE=ON, also no report).
rc=0
vp_stop_vblkd "$VBLKD_PID" || rc=$?
if [[ $rc -ne 0 ]] || grep -q "Sanitizer" "$VP_TMP/vblkd.2.log"; then
	tail -30 "$VP_TMP/vblkd.2.log" >&2
	vp_fail "vblkd exited with status $rc on SIGTERM"
fi
vp_ok "vblkd stops cleanly"
