#!/usr/bin/env bash
# csi_ublk.sh - vblk-csi's ublk attach kind (csi/node_attach.c) on a kernel
# with ublk (/dev/ublk-control, after modprobe ublk_drv; skipped otherwise:
# csi_attach_order.sh checks the choice there), through the node service's
# own handlers (tests/tools/csi_node_drive, a fresh driver process per call,
# as across vblk-csi restarts) and a real vblkd (--control): a mount volume
# is staged on vblkd's /dev/ublkbN of its export (log line, record, vblkd's
# export list, the staging mount), written through a publish; a repeated
# stage in a new process finds the device in vblkd's list and attaches
# nothing; stats are normal; expand answers FAILED_PRECONDITION (the device
# keeps its size); after the device is removed behind the driver's back,
# reconcile adds it again and remounts the staging path, the data intact;
# unstage and delete leave no ublk device, export, mount or record.
source "$(dirname "$0")/lib.sh"
vp_init cub
DRIVE="$VP_BUILD/tests/csi_node_drive"
VBLKCTL="$VP_BUILD/bin/vblkctl"
[[ -x "$VP_BUILD/bin/vblkd" && -x "$VBLKCTL" && -x "$DRIVE" ]] ||
	vp_skip "vblkd/vblkctl/csi_node_drive not built"
[[ -c /dev/ublk-control ]] || modprobe ublk_drv 2>/dev/null || true
[[ -c /dev/ublk-control ]] ||
	vp_skip "kernel has no ublk (/dev/ublk-control missing, modprobe ublk_drv failed): the ublk attach kind needs one"
vp_require_cmd mkfs.ext4

cub_release() {
	local m
	for m in $(awk -v t="$VP_TMP/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
		umount "$m"
	done
}
vp_on_exit cub_release

P="$VP_TMP/pool"
K="$VP_TMP/kubelet"
CTL="$VP_TMP/ctl.sock"
mkdir -p "$P/volumes" "$K/stage" "$K/pub"
vp_start_vblkd "$VP_TMP/vblkd.log" --control "$CTL" --image-root "$P/volumes"
LOG="$VP_TMP/drive.log"
drive() { "$DRIVE" --vblkd-control "$CTL" "$P" "$K" "$@" 2>>"$LOG"; }
ublk_of() { "$VBLKCTL" --control "$CTL" --json export list | jq -r --arg id "$1" '.exports[] | select(.name == $id) | .ublk.device'; }
staged_on() { awk -v t="$K/stage" '$5 == t {print $10}' /proc/self/mountinfo; }

id=$(drive create vpt-cub-a 32) || vp_fail "create: $(tail -3 "$LOG")"
: >"$LOG"
drive stage "$id" "$K/stage" || vp_fail "stage: $(tail -3 "$LOG")"
line=$(grep "event=csi.node.attach volume=$id " "$LOG") || vp_fail "no attach log line: $(cat "$LOG")"
vp_assert_match "$line" 'attach=ublk ' "the attach kind"
vp_assert_match "$line" 'why="ublk: /dev/ublk-control and --vblkd-control present"' "why ublk"
DEV=$(sed -n 's/.* device=\(\/dev\/ublkb[0-9]*\) .*/\1/p' <<<"$line")
[[ -b "$DEV" ]] || vp_fail "no block device $DEV: $line"
vp_assert_eq "$(jq -r .attach "$P/node/$id.json")" ublk "the record's attach kind"
vp_assert_eq "$(ublk_of "$id")" "$DEV" "vblkd's ublk device of the export"
vp_assert_eq "$(staged_on)" "$DEV" "the staging mount's device"
drive publish "$id" "$K/stage" "$K/pub/t" || vp_fail "publish: $(tail -3 "$LOG")"
echo vpt-cub >"$K/pub/t/data"
sync
drive unpublish "$id" "$K/pub/t" || vp_fail "unpublish: $(tail -3 "$LOG")"
vp_ok "staged on $DEV (vblkd's ublk device), written through a publish"

: >"$LOG"
drive stage "$id" "$K/stage" || vp_fail "repeated stage: $(tail -3 "$LOG")"
! grep -q "event=csi.node.attach" "$LOG" || vp_fail "a repeated stage attached again: $(cat "$LOG")"
vp_assert_eq "$(drive stats "$id" "$K/stage" | cut -d' ' -f1)" abnormal=0 "volume condition"
if drive expand "$id" "$K/stage"; then
	vp_fail "expand of a ublk volume succeeded"
fi
grep -q "code 9: .*(ublk) keeps the size it was added with" "$LOG" ||
	vp_fail "expand: no FAILED_PRECONDITION: $(tail -3 "$LOG")"
vp_ok "a new driver process finds $DEV in vblkd's list; stats normal; expand FAILED_PRECONDITION"

# The device removed behind the driver's back (its staging unmounted
# first): reconcile adds it again and remounts.
umount "$K/stage"
vp_assert "$VBLKCTL" --control "$CTL" ublk remove "$id" >/dev/null
: >"$LOG"
drive reconcile || vp_fail "reconcile: $(tail -3 "$LOG")"
grep -q "finding=node-device-reattached file=$id.json" "$LOG" || vp_fail "no reattach: $(cat "$LOG")"
DEV2="$(ublk_of "$id")"
[[ -b "$DEV2" ]] || vp_fail "no ublk device after reconcile: $(cat "$LOG")"
vp_assert_eq "$(staged_on)" "$DEV2" "the staging mount after reconcile"
vp_assert_eq "$(cat "$K/stage/data")" vpt-cub "data after reconcile"
vp_ok "reconcile adds $DEV2 again and remounts, data intact"

drive unstage "$id" "$K/stage" || vp_fail "unstage: $(tail -3 "$LOG")"
for _ in $(seq 50); do [[ -e "$DEV2" ]] || break; sleep 0.1; done
[[ ! -e "$DEV2" ]] || vp_fail "$DEV2 left after unstage"
vp_assert_eq "$("$VBLKCTL" --control "$CTL" --json export list | jq '.exports | length')" 0 "vblkd exports left"
[[ -z "$(staged_on)" ]] || vp_fail "the staging path is still mounted"
[[ ! -e "$P/node/$id.json" ]] || vp_fail "the node record of $id is left"
drive delete "$id" || vp_fail "delete: $(tail -3 "$LOG")"
vp_ok "unstage and delete leave no ublk device, export, mount or record"
