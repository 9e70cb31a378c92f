#!/usr/bin/env bash
# vblk_ublk.sh - vblkd --ublk: on a kernel without ublk, a clear start
# error and nothing left behind (always checked); with /dev/ublk-control
# (after modprobe ublk_drv), the export as /dev/ublkbN: a pattern written
# with dd reads back and lands in the image file, blkdiscard punches a hole,
# and SIGTERM removes the device.
source "$(dirname "$0")/lib.sh"
vp_init ubk

VBLKD="$VP_BUILD/bin/vblkd"
[[ -x "$VBLKD" ]] || vp_skip "vblkd not built in $VP_BUILD/bin"
IMG="$VP_TMP/disk.img"
CTL="$VP_TMP/control.sock"
truncate -s 16M "$IMG"

have_ublk() {
	[[ -c /dev/ublk-control ]] || modprobe ublk_drv 2>/dev/null || true
	[[ -c /dev/ublk-control ]]
}

# Without ublk: fail at start with the message, exit 1, no control socket,
# no device, the image untouched.
if ! have_ublk; then
	LOG="$VP_TMP/noublk.log"
	before=$(ls /dev | grep -c '^ublk' || true)
	if "$VBLKD" --export name=ubk0,image="$IMG" --ublk name=ubk0 --control "$CTL" >"$LOG" 2>&1; then
		vp_fail "vblkd --ublk started without /dev/ublk-control"
	fi
	grep -q 'ublk: /dev/ublk-control not found: this kernel has no ublk (CONFIG_BLK_DEV_UBLK)' "$LOG" ||
		vp_fail "no clear error: $(cat "$LOG")"
	[[ ! -e "$CTL" ]] || vp_fail "control socket left behind"
	vp_assert_eq "$(ls /dev | grep -c '^ublk' || true)" "$before"
	vp_assert_eq "$(stat -c %s "$IMG")" 16777216
	[[ -z "$(tr -d '\0' <"$IMG" | head -c1)" ]] || vp_fail "image modified"
	vp_ok "vblkd --ublk without kernel ublk fails cleanly"
	vp_skip "kernel has no ublk (/dev/ublk-control missing, modprobe ublk_drv failed): device tests not run"
fi

vp_require_cmd dd cmp blkdiscard
# Bad options are refused before anything is created.
vp_assert_fails "$VBLKD" --export name=ubk0,image="$IMG" --ublk name=ubk0,depth=0
vp_assert_fails "$VBLKD" --export name=ubk0,image="$IMG" --ublk name=nosuch

LOG="$VP_TMP/vblkd.log"
vp_start_daemon "$LOG" "$VBLKD" --export name=ubk0,image="$IMG" --ublk name=ubk0,queues=2,depth=64
DEV=""
for _ in $(seq 100); do
	DEV=$(sed -n 's/.*event=ublk.export-added name=ubk0 dev=\(\/dev\/ublkb[0-9]*\).*/\1/p' "$LOG")
	[[ -n "$DEV" ]] && break
	kill -0 "$VP_PID" 2>/dev/null || vp_fail "vblkd exited: $(cat "$LOG")"
	sleep 0.1
done
[[ -b "$DEV" ]] || vp_fail "no ublk block device in the log: $(cat "$LOG")"
vp_assert_eq "$(blockdev --getsize64 "$DEV")" 16777216
vp_ok "export served as $DEV"

# A pattern through the device, read back, and found in the image file.
PAT="$VP_TMP/pattern"
head -c $((1024 * 1024)) /dev/urandom >"$PAT"
dd if="$PAT" of="$DEV" bs=64k seek=32 oflag=direct conv=fsync status=none
dd if="$DEV" of="$VP_TMP/back" bs=64k skip=32 count=16 iflag=direct status=none
cmp "$PAT" "$VP_TMP/back" || vp_fail "read back differs"
cmp -n $((1024 * 1024)) "$PAT" <(dd if="$IMG" bs=64k skip=32 count=16 status=none) ||
	vp_fail "image file differs"
vp_ok "dd pattern written, read back and in the image"

# blkdiscard: the range reads as zeroes, in the device and the file.
blkdiscard -o $((2 * 1024 * 1024)) -l $((1024 * 1024)) "$DEV"
cmp -n $((1024 * 1024)) /dev/zero <(dd if="$IMG" bs=64k skip=32 count=16 status=none) ||
	vp_fail "discarded range not zero in the image"
vp_ok "blkdiscard punches the image"

kill -TERM "$VP_PID"
wait "$VP_PID" || vp_fail "vblkd exit status $? on SIGTERM: $(cat "$LOG")"
[[ ! -e "$DEV" ]] || vp_fail "$DEV still there after SIGTERM"
grep -q 'event=vblkd.stopped' "$LOG" || vp_fail "no clean stop: $(cat "$LOG")"
vp_ok "SIGTERM removes $DEV"
