#!/usr/bin/env bash
# vblk_nbd_budget.sh - the daemon-wide memory budget and the unsent-reply
# limit (issue 8, item 8): 40 clients send 32 x 1 MiB READs each (of a disk
# file: each READ's data sits in a slot buffer until sent) and never read a
# reply.  Before, every connection filled its own 64 MiB budget (40 x 32
# MiB here).  Now a connection with --conn-unsent of READ data not yet sent
# is no longer read from, and all slot buffers stay within --nbd-mem: the
# daemon's RSS (VmRSS in /proc/PID/status) stays under that plus a fixed
# allowance, and another client is served in full meanwhile.  Without the
# unsent limit, the send timeout frees the budget the hogs hold.
source "$(dirname "$0")/lib.sh"
vp_init vbbu
vp_require_cmd nbdcopy
PY=/usr/bin/python3
[[ -x $PY ]] || vp_skip "python3 not installed"
VBLKD="$VP_BUILD/bin/vblkd"
[[ -x "$VBLKD" ]] || vp_skip "vblkd not built ($VBLKD)"
SOCK="$VP_TMP/nbd.sock"
IMG="$VP_TMP/disk0.img"
LOG="$VP_TMP/vblkd.log"
MiB=$((1 << 20))
BUDGET=$((128 * MiB))
ALLOWANCE=$((48 * MiB))   # code, stacks, rings, input buffers, allocator slack
N=40
[[ $(stat -f -c %T /tmp) != tmpfs ]] || vp_skip "/tmp is tmpfs: READs would be spliced, not buffered"
truncate -s $((64 * MiB)) "$IMG"
URI="nbd+unix:///disk0?socket=$SOCK"
vp_start_daemon "$LOG" "$VBLKD" --nbd "unix:$SOCK" --export "name=disk0,image=$IMG" \
	--workers 2 --nbd-mem $((BUDGET / MiB))M --conn-unsent 2M
DAEMON=$VP_PID
vp_wait_nbd "$URI" "$LOG"

cat >"$VP_TMP/hog.py" <<'PY'
import sys, time
sys.path.insert(0, sys.argv[1])
import nbd_raw
c = nbd_raw.Client(sys.argv[2])
c.handshake("disk0")
for i in range(32):
    c.request(nbd_raw.CMD_READ, i, i << 20, 1 << 20)
print("sent", flush=True)
time.sleep(600)                           # never read a reply
PY

rss() { awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$DAEMON/status"; }
BASE=$(rss)
pids=()
for ((i = 0; i < N; i++)); do
	$PY "$VP_TMP/hog.py" "$(dirname "$0")" "$SOCK" >"$VP_TMP/hog$i.out" 2>&1 &
	pids+=($!)
done
vp_on_exit "kill ${pids[*]}"
for ((t = 0; t < 100; t++)); do
	[[ $(cat "$VP_TMP"/hog*.out | grep -c sent) == "$N" ]] && break
	sleep 0.1
done
vp_assert_eq "$(cat "$VP_TMP"/hog*.out | grep -c sent)" $N "every hog sent its READs"
sleep 2 # let the daemon take in all it will
peak=$(rss)
vp_log "$N clients not reading replies: RSS $((BASE / MiB)) -> $((peak / MiB)) MiB"
((peak - BASE <= BUDGET + ALLOWANCE)) ||
	vp_fail "RSS grew by $(((peak - BASE) / MiB)) MiB, over the $((BUDGET / MiB)) MiB budget + $((ALLOWANCE / MiB)) MiB"
vp_ok "$N clients x 32 MiB of unread READs: RSS growth $(((peak - BASE) / MiB)) MiB (budget $((BUDGET / MiB)) MiB)"

timeout 60 nbdcopy "$URI" "$VP_TMP/copy.img" || vp_fail "another client was not served"
cmp "$IMG" "$VP_TMP/copy.img" || vp_fail "the copy differs from the image"
vp_ok "another client copies the whole export meanwhile (nbdcopy)"
((peak = $(rss), peak - BASE <= BUDGET + ALLOWANCE)) ||
	vp_fail "RSS grew by $(((peak - BASE) / MiB)) MiB with the copy"
kill -0 "$DAEMON" || vp_fail "vblkd died"

# Without the unsent limit (--conn-unsent as large as a connection's
# budget) the hogs hold all of --nbd-mem, and the send timeout is what
# gives it back: their stuck sends close them, and another client is then
# served.
kill "$DAEMON" ${pids[*]}
wait "$DAEMON" || true
vp_start_daemon "$VP_TMP/vblkd2.log" "$VBLKD" --nbd "unix:$SOCK" --export "name=disk0,image=$IMG" \
	--workers 2 --nbd-mem $((BUDGET / MiB))M --conn-unsent 64M --send-timeout 2
DAEMON=$VP_PID
vp_wait_nbd "$URI" "$VP_TMP/vblkd2.log"
rm -f "$VP_TMP"/hog*.out "$VP_TMP/copy.img"
pids=()
for ((i = 0; i < N; i++)); do
	$PY "$VP_TMP/hog.py" "$(dirname "$0")" "$SOCK" >"$VP_TMP/hog$i.out" 2>&1 &
	pids+=($!)
done
vp_on_exit "kill ${pids[*]}"
sleep 1
timeout 60 nbdcopy "$URI" "$VP_TMP/copy.img" || vp_fail "no client served after the send timeout"
cmp "$IMG" "$VP_TMP/copy.img" || vp_fail "the copy differs from the image"
vp_assert_match "$(cat "$VP_TMP/vblkd2.log")" 'event=nbd.conn.close .*reason=send-timeout' "hogs closed by the send timeout"
vp_ok "budget held by clients that do not read: the send timeout frees it, nbdcopy is served"
