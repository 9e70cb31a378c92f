#!/usr/bin/env bash
# vblk_nbd_stall.sh - a client that sends large READs and never reads the
# replies (so vblkd's sends block) must not hold up SIGTERM or a forced
# export removal for longer than the drain timeout (issue 8, item 10): after
# --drain-timeout the connection is shut down (shutdown(2), its ring
# operations cancelled), vblkd exits, and a forced removal lets go of the
# image while the daemon goes on serving.
source "$(dirname "$0")/lib.sh"
vp_init vbst
vp_require_cmd nbdinfo
PY=/usr/bin/python3
[[ -x $PY ]] || vp_skip "python3 not installed"
VBLKD="$VP_BUILD/bin/vblkd"
VBLKCTL="$VP_BUILD/bin/vblkctl"
[[ -x "$VBLKD" && -x "$VBLKCTL" ]] || vp_skip "vblkd/vblkctl not built in $VP_BUILD/bin"
SOCK="$VP_TMP/nbd.sock"
CTL="$VP_TMP/ctl.sock"
IMG="$VP_TMP/disk0.img"
DRAIN=2
SLACK=3
truncate -s 256M "$IMG" "$VP_TMP/disk1.img"
ctl() { "$VBLKCTL" --control "$CTL" "$@"; }

cat >"$VP_TMP/stall.py" <<'PY'
import sys, time
sys.path.insert(0, sys.argv[1])
import nbd_raw

c = nbd_raw.Client(sys.argv[2])
c.handshake("disk0")
for i in range(64):                     # 64 x 4 MiB: far more than the socket holds
    c.request(nbd_raw.CMD_READ, i, (i % 60) << 22, 4 << 20)
print("stalled", flush=True)
time.sleep(600)                         # never read a reply
PY

# start_stalled: a daemon with one stalled client whose replies fill the socket.
start_stalled() {
	vp_start_vblkd "$VP_TMP/$1.log" --nbd "unix:$SOCK" --control "$CTL" \
		--export "name=disk0,image=$IMG" --export "name=disk1,image=$VP_TMP/disk1.img" \
		--drain-timeout $DRAIN
	DAEMON=$VP_PID
	$PY "$VP_TMP/stall.py" "$(dirname "$0")" "$SOCK" >"$VP_TMP/$1.client" 2>&1 &
	CLIENT=$!
	vp_on_exit "kill $CLIENT"
	for ((i = 0; i < 100; i++)); do [[ -s $VP_TMP/$1.client ]] && break; sleep 0.1; done
	vp_assert_eq "$(cat "$VP_TMP/$1.client")" stalled "the client sent its READs"
	sleep 1 # let the replies fill the socket and the sends block
}

# elapsed_until CMD: seconds (tenths) until CMD succeeds, at most 15 s.
elapsed_until() {
	local i
	for ((i = 0; i < 150; i++)); do
		eval "$1" && { echo "$i"; return 0; }
		sleep 0.1
	done
	echo 150
}

start_stalled sigterm
kill -TERM "$DAEMON"
t=$(elapsed_until "! kill -0 $DAEMON 2>/dev/null")
((t <= (DRAIN + SLACK) * 10)) || vp_fail "vblkd still running $((t / 10)) s after SIGTERM with a stalled client"
wait "$DAEMON" && rc=0 || rc=$?
vp_assert_eq "$rc" 0 "vblkd exit status after the drain timeout"
vp_assert_match "$(cat "$VP_TMP/sigterm.log")" 'event=nbd.conn.close .*reason=drain-timeout' "the stalled connection was shut down"
vp_assert_match "$(cat "$VP_TMP/sigterm.log")" 'event=nbd.conn.timeout .*limit=drain-timeout' "the limit was logged"
vp_ok "SIGTERM with a stalled client: exited in $((t / 10)).$((t % 10)) s (drain timeout $DRAIN s)"
kill "$CLIENT" 2>/dev/null || true

start_stalled remove
out="$(ctl export remove disk0 --force)" || vp_fail "forced removal failed: $out"
t=$(elapsed_until "! ls -l /proc/$DAEMON/fd 2>/dev/null | grep -q disk0.img")
((t <= (DRAIN + SLACK) * 10)) || vp_fail "vblkd still holds the removed image $((t / 10)) s after a forced removal"
vp_assert_match "$(cat "$VP_TMP/remove.log")" 'event=nbd.conn.close .*reason=drain-timeout' "the stalled connection was shut down"
vp_assert_eq "$(nbdinfo --size "nbd+unix:///disk1?socket=$SOCK")" $((256 << 20)) "the other export is still served"
vp_ok "forced removal with a stalled client: the image let go in $((t / 10)).$((t % 10)) s, the daemon serves on"
