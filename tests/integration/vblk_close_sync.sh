#!/usr/bin/env bash
# vblk_close_sync.sh - exports closed by a forced removal or by a resize are
# fdatasynced, and the result is reported.  A loop device's dirty pages
# reach its backing file only when synced (background writeback waits
# 30 s), so the backing file shows whether vblkd synced: written data is
# there right after `export remove --force` (reply "synced": true).  On a
# loop device whose backing (on an 8 MiB tmpfs) is full, the reply carries
# the fdatasync error and an event says so.  A resized file export logs
# export.closed synced=1 when its old image goes.
source "$(dirname "$0")/lib.sh"
vp_init brcs
vp_require_cmd losetup nbdinfo jq cmp
[[ -x /usr/bin/nbdsh ]] || vp_skip "nbdsh not installed (python3-libnbd)"
export PATH="/usr/bin:$PATH"   # nbdsh needs Debian's python3 with the nbd module

VBLKD="$VP_BUILD/bin/vblkd"
VBLKCTL="$VP_BUILD/bin/vblkctl"
[[ -x "$VBLKD" && -x "$VBLKCTL" ]] || vp_skip "vblkd/vblkctl not built in $VP_BUILD/bin"
SHM="$VP_TMP/shm"
mkdir "$SHM"
mount -t tmpfs -o size=8m vpt-brcs "$SHM" || vp_skip "cannot mount a tmpfs"
vp_on_exit "umount -l '$SHM'"  # lazily: the loop devices let go of their backing asynchronously
truncate -s 4M "$SHM/ok.backing"
truncate -s 32M "$SHM/full.backing"
OKDEV=$(losetup --show -f "$SHM/ok.backing") || vp_skip "no loop device"
vp_on_exit "losetup -d $OKDEV"
FULLDEV=$(losetup --show -f "$SHM/full.backing") || vp_skip "no second loop device"
vp_on_exit "losetup -d $FULLDEV"
truncate -s 8M "$VP_TMP/file.img"

SOCK="$VP_TMP/nbd.sock"
CTL="$VP_TMP/control.sock"
LOG="$VP_TMP/vblkd.log"
ctl() { "$VBLKCTL" --control "$CTL" "$@"; }
uri() { printf 'nbd+unix:///%s?socket=%s' "$1" "$SOCK"; }
vp_start_vblkd "$LOG" --nbd "unix:$SOCK" --control "$CTL" --workers 1 \
	--export "name=ok,image=$OKDEV" --export "name=full,image=$FULLDEV" \
	--export "name=file,image=$VP_TMP/file.img"

# hold NAME SIZE: write SIZE bytes of a pattern at 0 (no FLUSH) and keep the
# connection open until $VP_TMP/NAME.go appears; the pattern is in
# $VP_TMP/NAME.data.
hold() {
	head -c "$2" /dev/urandom >"$VP_TMP/$1.data"
	nbdsh -u "$(uri "$1")" -c "
import os, time
h.pwrite(open('$VP_TMP/$1.data', 'rb').read(), 0)
open('$VP_TMP/$1.written', 'w').close()
while not os.path.exists('$VP_TMP/$1.go'):
    time.sleep(0.05)
" >/dev/null 2>&1 &
	vp_on_exit "kill $! 2>/dev/null"
	for ((i = 0; i < 200; i++)); do [[ -e "$VP_TMP/$1.written" ]] && return; sleep 0.05; done
	vp_fail "the client of $1 did not write"
}

hold ok $((1 << 20))
cmp -s -n $((1 << 20)) "$SHM/ok.backing" "$VP_TMP/ok.data" &&
	vp_skip "the loop device wrote back on its own: nothing to tell a sync from"
out=$(ctl --json export remove ok --force) || vp_fail "forced remove failed: $out"
cmp -n $((1 << 20)) "$SHM/ok.backing" "$VP_TMP/ok.data" ||
	vp_fail "the data written before a forced removal was not synced"
vp_assert_eq "$(jq -r .synced <<<"$out")" true "synced in the reply ($out)"
vp_assert_eq "$(jq -r .draining <<<"$out")" 1 "draining in the reply ($out)"
touch "$VP_TMP/ok.go"
for ((i = 0; i < 100; i++)); do grep -q 'event=export.closed name=ok synced=1' "$LOG" && break; sleep 0.05; done
grep -q 'event=export.closed name=ok synced=1' "$LOG" ||
	vp_fail "no export.closed event when the drained export's last connection ended"
vp_ok "forced removal: the image is synced (reply synced=true) and synced again at close"

hold full $((16 << 20))
out=$(ctl --json export remove full --force) || vp_fail "forced remove failed: $out"
vp_assert_eq "$(jq -r .synced <<<"$out")" false "synced in the reply ($out)"
vp_assert_eq "$(jq -r .sync_errno <<<"$out")" 5 "sync_errno in the reply ($out)"
vp_assert_match "$(ctl export list)" '^' "the daemon still answers"
grep -q 'level=warn event=export.sync-failed name=full errno=5' "$LOG" ||
	vp_fail "no export.sync-failed event: $(tail -3 "$LOG")"
touch "$VP_TMP/full.go"
for ((i = 0; i < 100; i++)); do
	[[ $(grep -c 'event=export.sync-failed name=full' "$LOG") -ge 2 ]] && break
	sleep 0.05
done
[[ $(grep -c 'event=export.sync-failed name=full' "$LOG") -ge 2 ]] ||
	vp_fail "the final close of the failed image did not report the lost data"
vp_ok "forced removal of an image whose writeback failed reports the error (reply and event)"

hold file $((1 << 20))
ctl image resize --export file 16M >/dev/null || vp_fail "resize of the file export failed"
touch "$VP_TMP/file.go"
for ((i = 0; i < 100; i++)); do grep -q 'event=export.closed name=file synced=1' "$LOG" && break; sleep 0.05; done
grep -q 'event=export.closed name=file synced=1' "$LOG" ||
	vp_fail "the image replaced by a resize was closed without a reported sync"
cmp -n $((1 << 20)) "$VP_TMP/file.img" "$VP_TMP/file.data" || vp_fail "the resized image lost data"
nbdsh -u "$(uri file)" -c "assert h.get_size() == 16 << 20" || vp_fail "new connections do not see 16 MiB"
vp_ok "resize: the replaced image is synced when its last connection ends (export.closed synced=1)"
