#!/usr/bin/env bash
# csi_attach_order.sh - vblk-csi's attach order on this host
# (csi/node_attach.c), through its node service's own handlers
# (tests/tools/csi_node_drive, one driver process per call) and a real
# vblkd (--control, --nbd unix socket): ublk where /dev/ublk-control exists
# and --vblkd-control is given, else (this machine's kernel: "ublk: no
# /dev/ublk-control") without --vblkd-nbd a mount volume is staged on a
# loop device, the log saying why ublk and nbd were skipped; with
# --vblkd-nbd the kernel's NBD client is used where the kernel has the
# genetlink nbd family, else (this machine's kernel) loop again with the
# genetlink error as nbd's reason; without --vblkd-control ublk's reason is
# that.  The kind is kept in the node record; a record naming an unknown
# kind is refused; a ublk record whose device vblkd does not have is
# unstaged cleanly.  Unstage and Delete leave no device, export, mount or
# record.  The nbd kind itself runs in a QEMU guest (csi_nbd_guest.sh), the
# ublk kind where the kernel has ublk (csi_ublk.sh).
source "$(dirname "$0")/lib.sh"
vp_init cao
DRIVE="$VP_BUILD/tests/csi_node_drive"
[[ -x "$VP_BUILD/bin/vblkd" && -x "$VP_BUILD/bin/vblkctl" && -x "$DRIVE" &&
   -x "$VP_BUILD/tests/nbd_attach" ]] || vp_skip "vblkd/vblkctl/csi_node_drive/nbd_attach not built"
[[ -w /dev/loop-control ]] || vp_skip "no /dev/loop-control"
vp_require_cmd mkfs.ext4 losetup

cao_release() {
	local m
	for m in $(awk -v t="$VP_TMP/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
		umount "$m"
	done
	losetup -j "$VP_TMP/pool/volumes" 2>/dev/null | cut -d: -f1 | xargs -r -n1 losetup -d
}
vp_on_exit cao_release

P="$VP_TMP/pool"
K="$VP_TMP/kubelet"
mkdir -p "$P/volumes" "$K/stage" "$K/pub"
vp_start_daemon "$VP_TMP/vblkd.log" "$VP_BUILD/bin/vblkd" --control "$VP_TMP/ctl.sock" \
	--nbd "unix:$VP_TMP/nbd.sock" --image-root "$P/volumes" --workers 1
for ((i = 0; i < 100; i++)); do
	[[ -S "$VP_TMP/ctl.sock" && -S "$VP_TMP/nbd.sock" ]] && break
	sleep 0.1
done
[[ -S "$VP_TMP/ctl.sock" ]] || vp_fail "vblkd did not start: $(cat "$VP_TMP/vblkd.log")"
LOG="$VP_TMP/drive.log"
drive() { "$DRIVE" "$@" 2>>"$LOG"; }
HAVE_UBLK=0
[[ -e /dev/ublk-control ]] && HAVE_UBLK=1
ublk="ublk: no /dev/ublk-control"

# stage_cycle NAME OPTS...: create, stage (mount, ext4), check the log
# line and the record, write through a publish, unpublish, unstage,
# delete; sets KIND and WHY from the log line.
stage_cycle() {
	local name="$1" id line
	shift
	id=$(drive "$@" "$P" "$K" create "$name" 16) || vp_fail "create: $(tail -3 "$LOG")"
	: >"$LOG"
	drive "$@" "$P" "$K" stage "$id" "$K/stage" || vp_fail "stage: $(tail -3 "$LOG")"
	line=$(grep "event=csi.node.attach volume=$id " "$LOG") || vp_fail "no attach log line: $(cat "$LOG")"
	KIND=$(sed -n 's/.* attach=\([a-z]*\) .*/\1/p' <<<"$line")
	WHY=$(sed -n 's/.* why="\([^"]*\)"$/\1/p' <<<"$line")
	vp_assert_eq "$(jq -r .attach "$P/node/$id.json")" "$KIND" "the record's attach kind"
	drive "$@" "$P" "$K" publish "$id" "$K/stage" "$K/pub/t" || vp_fail "publish: $(tail -3 "$LOG")"
	echo "$name" >"$K/pub/t/data"
	vp_assert_eq "$(cat "$K/pub/t/data")" "$name" "data through the target"
	drive "$@" "$P" "$K" unpublish "$id" "$K/pub/t" || vp_fail "unpublish: $(tail -3 "$LOG")"
	drive "$@" "$P" "$K" unstage "$id" "$K/stage" || vp_fail "unstage: $(tail -3 "$LOG")"
	# LOOP_CLR_FD of a device someone still holds open (udev probing it
	# after the umount) detaches it at that last close: waited for.
	for ((i = 0; i < 50; i++)); do
		[[ -z "$(losetup -j "$P/volumes/$id.img")" ]] && break
		sleep 0.1
	done
	[[ -z "$(losetup -j "$P/volumes/$id.img")" ]] || vp_fail "a loop device is left over $id"
	drive "$@" "$P" "$K" delete "$id" || vp_fail "delete: $(tail -3 "$LOG")"
	[[ ! -e "$P/node/$id.json" ]] || vp_fail "the node record of $id is left"
}

stage_cycle vpt-cao-n
vp_assert_eq "$KIND" loop "attach kind without --vblkd-control"
((HAVE_UBLK)) && ublk_why="ublk: no --vblkd-control" || ublk_why="$ublk"
vp_assert_eq "$WHY" "$ublk_why; nbd: no --vblkd-nbd" "why ublk and nbd were skipped"
vp_ok "without --vblkd-control: loop, logged with why=\"$WHY\""

if ((HAVE_UBLK)); then
	stage_cycle vpt-cao-a --vblkd-control "$VP_TMP/ctl.sock"
	vp_assert_eq "$KIND" ublk "attach kind with /dev/ublk-control and --vblkd-control"
	vp_assert_eq "$WHY" "ublk: /dev/ublk-control and --vblkd-control present" "why ublk"
	vp_ok "with /dev/ublk-control and --vblkd-control: ublk (csi_ublk.sh tests it further)"
	vp_log "kernel has ublk: nbd and loop are not chosen with --vblkd-control, not checked"
else
	stage_cycle vpt-cao-a --vblkd-control "$VP_TMP/ctl.sock"
	vp_assert_eq "$KIND" loop "attach kind without --vblkd-nbd"
	vp_assert_eq "$WHY" "$ublk; nbd: no --vblkd-nbd" "why ublk and nbd were skipped"
	vp_ok "without --vblkd-nbd: loop, logged with why=\"$WHY\""

	if "$VP_BUILD/tests/nbd_attach" available 2>/dev/null; then
		want=nbd
		want_why="$ublk"
	else
		want=loop
		want_why="$ublk; nbd: no genetlink family nbd: the kernel has no NBD client (nbd.ko)"
	fi
	stage_cycle vpt-cao-b --vblkd-control "$VP_TMP/ctl.sock" --vblkd-nbd "$VP_TMP/nbd.sock"
	vp_assert_eq "$KIND" "$want" "attach kind with --vblkd-nbd"
	vp_assert_eq "$WHY" "$want_why" "why the earlier kinds were skipped"
	vp_ok "with --vblkd-nbd: $KIND, logged with why=\"$WHY\""
fi
left=$("$VP_BUILD/bin/vblkctl" --control "$VP_TMP/ctl.sock" export list) ||
	vp_fail "vblkctl export list"
vp_assert_eq "$(grep -c vol- <<<"$left" || true)" 0 "vblkd exports left"

# A record whose kind this driver does not know is refused, not guessed.
id=$(drive --vblkd-control "$VP_TMP/ctl.sock" "$P" "$K" create vpt-cao-c 16)
drive --vblkd-control "$VP_TMP/ctl.sock" "$P" "$K" stage "$id" "$K/stage" || vp_fail "stage c"
drive --vblkd-control "$VP_TMP/ctl.sock" "$P" "$K" unstage "$id" "$K/stage" || vp_fail "unstage c"
mkdir -p "$P/node"
printf '{"version":1,"volume":"%s","staging":"%s","fsType":"ext4","attach":"floppy"}' \
	"$id" "$K/stage" >"$P/node/$id.json"
: >"$LOG"
if drive --vblkd-control "$VP_TMP/ctl.sock" "$P" "$K" unstage "$id" "$K/stage"; then
	vp_fail "a record with attach \"floppy\" was accepted"
fi
grep -q 'attach \\"floppy\\": loop, nbd or ublk\|attach "floppy": loop, nbd or ublk' "$LOG" ||
	vp_fail "no clear error for an unknown attach kind: $(cat "$LOG")"
vp_ok "a node record with an unknown attach kind is refused"

# A ublk record (as a vblk-csi on a ublk host leaves it) whose device and
# export vblkd does not have (it restarted, or this host has no ublk): the
# device is looked up in vblkd's export list, found gone, and the unstage
# clears the record.
printf '{"version":1,"volume":"%s","staging":"%s","fsType":"ext4","attach":"ublk"}' \
	"$id" "$K/stage" >"$P/node/$id.json"
: >"$LOG"
drive --vblkd-control "$VP_TMP/ctl.sock" "$P" "$K" unstage "$id" "$K/stage" ||
	vp_fail "unstage of a ublk record without its device: $(cat "$LOG")"
[[ ! -e "$P/node/$id.json" ]] || vp_fail "the ublk record of $id is left"
drive "$P" "$K" delete "$id" || vp_fail "delete c"
vp_ok "a ublk record whose device vblkd lost is unstaged"
