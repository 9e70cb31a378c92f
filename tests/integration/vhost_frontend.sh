#!/usr/bin/env bash
# vhost_frontend.sh - vblkd's vhost-user-blk exports driven by the C front
# end (tests/tools/vhost_frontend.c, no VM): handshake, data written and read
# back and checked on the image file, flush, discard, write zeroes, GET_ID,
# two queues, hostile messages and rings (each ends in an error status or a
# disconnect, while the other export keeps serving), inflight resubmission,
# resize notices, and vblkd killed with SIGKILL under writes and restarted
# on the same socket with no acknowledged write lost.
source "$(dirname "$0")/lib.sh"
vp_init vhf

VBLKD="$VP_BUILD/bin/vblkd"
FE="$VP_BUILD/tests/vhost_frontend"
[[ -x "$VBLKD" ]] || vp_skip "vblkd not built ($VBLKD)"
[[ -x "$FE" ]] || vp_skip "vhost_frontend not built ($FE)"

D0="$VP_TMP/d0.img" D1="$VP_TMP/d1.img"
S0="$VP_TMP/d0.sock" S1="$VP_TMP/d1.sock"
truncate -s 256M "$D0"
truncate -s 64M "$D1"
ARGS=(--export "name=disk0,image=$D0" --export "name=disk1,image=$D1"
      --vhost-user "name=disk0,socket=$S0,queues=2" --vhost-user "name=disk1,socket=$S1")

start_vblkd() {
	vp_start_vblkd "$VP_TMP/vblkd.$1.log" "${ARGS[@]}"
	DAEMON=$VP_PID
}
fe() { timeout 120 "$FE" "$@"; }

# Bad command lines are refused with a message.
out=$("$VBLKD" --export "name=x,image=$D1" --vhost-user "name=y,socket=$VP_TMP/y.sock" 2>&1) &&
	vp_fail "vblkd accepted --vhost-user for an unknown export"
grep -q "no --export named 'y'" <<<"$out" || vp_fail "unclear error: $out"
out=$("$VBLKD" --export "name=x,image=$D1" --vhost-user "name=x,socket=$VP_TMP/y.sock,queues=99" 2>&1) &&
	vp_fail "vblkd accepted queues=99"
vp_ok "bad --vhost-user options refused"

start_vblkd 1
fe "$S0" "$D0" disk0 smoke 2 || vp_fail "smoke on disk0 (2 queues)"
fe "$S1" "$D1" disk1 smoke 1 || vp_fail "smoke on disk1"
vp_ok "handshake, read/write/verify, flush, GET_ID, discard, write zeroes, errors, 2 queues"

CASES="desc-loop desc-oob head-oob addr-oob addr-wrap len-past-region long-chain no-status
       read-after-write avail-jump indirect-loop indirect-nested indirect-len indirect-oob
       indirect-huge indirect-next indirect-many short-payload huge-size missing-fd extra-fd
       too-many-regions region-overlap region-wrap bad-version queue-index bad-num
       unknown-request kick-no-fd config-range inflight-small truncated
       region-past-fd addreg-past-fd inflight-past-fd region-huge inflight-huge"
# A front end stays connected to disk0 through all of it.
fe "$S0" "$D0" disk0 smoke 1 >/dev/null || vp_fail "disk0 before hostile inputs"
for c in $CASES; do
	fe "$S1" "$D1" disk1 evil "$c" >"$VP_TMP/evil.out" 2>&1 || { cat "$VP_TMP/evil.out"; vp_fail "hostile case $c"; }
	kill -0 "$DAEMON" 2>/dev/null || vp_fail "vblkd died on hostile case $c"
done
fe "$S0" "$D0" disk0 smoke 2 >/dev/null || vp_fail "disk0 after hostile inputs"
vp_ok "$(wc -w <<<"$CASES") hostile inputs: error status or clean disconnect; daemon keeps serving"
for what in "memory region" "inflight region"; do
	grep -q "$what: bytes .* outside its fd" "$VP_TMP/vblkd.1.log" ||
		vp_fail "no 'outside its fd' refusal logged for the $what"
done
grep -q "memory regions would map more than" "$VP_TMP/vblkd.1.log" || vp_fail "2 TiB region not refused"
grep -q "SET_INFLIGHT_FD: region of 1073741824 bytes" "$VP_TMP/vblkd.1.log" || vp_fail "1 GiB inflight region not refused"
vp_ok "memory regions and inflight fds larger than their fd, or than the caps, refused"

# A front end that shrinks its memfd (guest memory, or an inflight fd of its
# own; the daemon's inflight memfd is sealed) after handing it over and then
# kicks: the daemon takes the SIGBUS, drops that front end, and disk0's
# front end, busy meanwhile, never notices.
fe "$S0" "$D0" disk0 smoke 2 >"$VP_TMP/smoke-bg.out" 2>&1 &
BG=$!
for c in shrink-mem shrink-inflight; do
	fe "$S1" "$D1" disk1 evil "$c" >"$VP_TMP/evil.out" 2>&1 || { cat "$VP_TMP/evil.out"; vp_fail "case $c"; }
	grep -q "ok - evil $c (disconnected)" "$VP_TMP/evil.out" || vp_fail "$c: front end not dropped"
	kill -0 "$DAEMON" 2>/dev/null || vp_fail "vblkd died on $c"
done
wait $BG || { cat "$VP_TMP/smoke-bg.out"; vp_fail "disk0 failed while disk1's memory shrank"; }
[[ $(grep -c "reason=\"front end shrank the file under guest memory (SIGBUS)\"" "$VP_TMP/vblkd.1.log") -eq 2 ]] ||
	vp_fail "the SIGBUS disconnects were not logged twice"
vp_ok "memfd shrunk under guest memory or the inflight region: that front end dropped, disk0 unaffected"

fe "$S1" "$D1" disk1 inflight-sim || vp_fail "inflight resubmission"
grep -q "event=vhost.resubmitted export=disk1 queue=0 requests=3" "$VP_TMP/vblkd.1.log" ||
	vp_fail "daemon did not report 3 resubmitted requests"
fe "$S1" "$D1" disk1 resize $((96 << 20)) || vp_fail "resize notice"
vp_ok "inflight resubmission and resize notice"

# SIGKILL while writes are in flight, restart on the same socket.  disk0 is
# zeroed in place: never resized, as vblkd (polling the size every second)
# could see a truncation to 0 and fail the front end's first writes.
fallocate --punch-hole --offset 0 --length 256MiB "$D0"
PROG="$VP_TMP/progress"
acks() { local n; n=$(cat "$PROG" 2>/dev/null) || true; printf '%s\n' "${n:-0}"; }
fe "$S0" "$D0" disk0 crash 3500 "$PROG" 2 >"$VP_TMP/crash.out" 2>&1 &
FEPID=$!
# The kill comes after 200 acknowledged writes, however long they take.
while (($(acks) < 200)); do
	kill -0 $FEPID 2>/dev/null || { cat "$VP_TMP/crash.out"; vp_fail "crash front end ended before 200 writes"; }
	sleep 0.01
done
kill -KILL "$DAEMON"
wait "$DAEMON" 2>/dev/null || true
acked_at_kill=$(acks)
start_vblkd 2
rc=0
wait $FEPID || rc=$?
cat "$VP_TMP/crash.out"
[[ $rc -eq 0 ]] || vp_fail "crash test (rc=$rc)"
[[ $acked_at_kill -lt 3500 ]] || vp_fail "the writes finished before the kill (timing)"
grep "vhost.queue-started export=disk0" "$VP_TMP/vblkd.2.log" | head -2
grep -q "vhost.resubmitted export=disk0" "$VP_TMP/vblkd.2.log" ||
	vp_log "note: no request was in flight at the kill (only queued ones were replayed)"
vp_ok "vblkd killed after $acked_at_kill of 3500 acks and restarted: no acknowledged write lost"
exit 0
