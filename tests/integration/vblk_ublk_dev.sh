#!/usr/bin/env bash
# vblk_ublk_dev.sh - vblkd's ublk devices on a kernel with ublk
# (/dev/ublk-control, after modprobe ublk_drv; skipped otherwise, the
# refusals without ublk are vblk_ublk.sh's): the export as /dev/ublkbN from
# ublk add at run time (the device in export list, a pattern written through
# it lands in the image, a second add refused, export remove refused until
# ublk remove, which removes the device), and from --ublk at start (a
# pattern written with dd reads back and lands in the image file,
# blkdiscard punches a hole, SIGTERM removes the device).
source "$(dirname "$0")/lib.sh"
vp_init ubd

VBLKD="$VP_BUILD/bin/vblkd"
VBLKCTL="$VP_BUILD/bin/vblkctl"
[[ -x "$VBLKD" && -x "$VBLKCTL" ]] || vp_skip "vblkd/vblkctl not built in $VP_BUILD/bin"
[[ -c /dev/ublk-control ]] || modprobe ublk_drv 2>/dev/null || true
[[ -c /dev/ublk-control ]] ||
	vp_skip "kernel has no ublk (/dev/ublk-control missing, modprobe ublk_drv failed): ublk device tests need one"
IMG="$VP_TMP/disk.img"
CTL="$VP_TMP/control.sock"
truncate -s 16M "$IMG"
ctl() { "$VBLKCTL" --control "$CTL" "$@"; }
# expect_refused ERRNO REGEX ARGS...: vblkctl --json ARGS fails with that errno and message.
expect_refused() {
	local errno="$1" re="$2" out
	shift 2
	out="$(ctl --json "$@")" && vp_fail "vblkctl $* succeeded: $out"
	vp_assert_eq "$(jq -r .errno <<<"$out")" "$errno" "errno of $* ($out)"
	vp_assert_match "$(jq -r .error <<<"$out")" "$re" "error of $*"
}

vp_require_cmd dd cmp blkdiscard

# ---- ublk add / remove at run time ----
vp_start_vblkd "$VP_TMP/vblkd-ctl.log" --export name=ubk0,image="$IMG" --control "$CTL"
CTL_PID=$VP_PID
OUT="$(ctl --json ublk add ubk0 --queues 2 --depth 64)" || vp_fail "ublk add: $OUT"
DEV="$(jq -r .ublk.device <<<"$OUT")"
[[ -b "$DEV" ]] || vp_fail "ublk add answered $OUT, no block device"
vp_assert_eq "$(blockdev --getsize64 "$DEV")" 16777216 "size of $DEV"
vp_assert_eq "$(ctl --json export list | jq -r '.exports[] | select(.name == "ubk0") | .ublk.device')" \
	"$DEV" "device in the listing"
ctl export list | grep -q "ublk $DEV queues=2 depth=64" || vp_fail "export list: $(ctl export list)"
expect_refused 17 "already has the ublk device $DEV" ublk add ubk0
expect_refused 16 'ublk-remove it first' export remove ubk0 --force
PAT="$VP_TMP/pattern"
head -c $((1024 * 1024)) /dev/urandom >"$PAT"
dd if="$PAT" of="$DEV" bs=64k seek=16 oflag=direct conv=fsync status=none
cmp -n $((1024 * 1024)) "$PAT" <(dd if="$IMG" bs=64k skip=16 count=16 status=none) ||
	vp_fail "image file differs after a write through $DEV"
vp_assert ctl ublk remove ubk0 >/dev/null
for _ in $(seq 50); do [[ -e "$DEV" ]] || break; sleep 0.1; done
[[ ! -e "$DEV" ]] || vp_fail "$DEV still there after ublk remove"
vp_assert_eq "$(ctl --json export list | jq -c '.exports[0].ublk')" null "device after remove"
vp_assert ctl export remove ubk0 >/dev/null
vp_assert vp_stop_vblkd "$CTL_PID"
vp_ok "ublk add serves $DEV, ublk remove takes it away"

# ---- --ublk at start ----
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
vp_assert_eq "$(blockdev --getsize64 "$DEV")" 16777216 "size of $DEV"
vp_ok "export served as $DEV"

# A pattern through the device, read back, and found in the image file.
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
