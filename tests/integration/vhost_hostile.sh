#!/usr/bin/env bash
# vhost_hostile.sh - vhost-user front ends that try to hold vblkd's threads:
# one stops half-way through a message (a header announcing a payload that
# never comes) and is dropped after the message deadline, while vblkctl
# keeps answering, vhost-remove of its export returns at once and SIGTERM
# ends the daemon promptly with another one stalled; kick and call fds that
# are not eventfds (a pipe, a socket, a regular file), a backend channel
# that is not a socket and guest memory on a disk file system are refused,
# and no queue thread is left spinning (the daemon's CPU time stays flat);
# a saturated, blocking call eventfd does not hold the queue's teardown.
source "$(dirname "$0")/lib.sh"
vp_init vhh

VBLKD="$VP_BUILD/bin/vblkd"
VBLKCTL="$VP_BUILD/bin/vblkctl"
FE="$VP_BUILD/tests/vhost_frontend"
[[ -x "$VBLKD" && -x "$VBLKCTL" ]] || vp_skip "vblkd/vblkctl not built"
[[ -x "$FE" ]] || vp_skip "vhost_frontend not built ($FE)"
vp_require_cmd python3

D0="$VP_TMP/d0.img" D1="$VP_TMP/d1.img"
S0="$VP_TMP/d0.sock" S1="$VP_TMP/d1.sock" CTL="$VP_TMP/ctl.sock"
truncate -s 64M "$D0" "$D1"
ctl() { timeout 10 "$VBLKCTL" --control "$CTL" "$@"; }
fe() { timeout 60 "$FE" "$@"; }
start_vblkd() {
	vp_start_vblkd "$VP_TMP/vblkd.$1.log" --control "$CTL" \
		--export "name=disk0,image=$D0" --export "name=disk1,image=$D1" \
		--vhost-user "name=disk0,socket=$S0" --vhost-user "name=disk1,socket=$S1"
	DAEMON=$VP_PID
}
# stall SOCKET: connect, send a SET_FEATURES header announcing 8 payload
# bytes and 3 of them, then hold the connection; print how many seconds
# passed until the daemon closed it (or "held" after 15 s).
stall() {
	python3 - "$1" <<'PY'
import socket, struct, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(struct.pack("<III", 2, 1, 8) + b"\0\0\0")
t0 = time.monotonic()
s.settimeout(15)
try:
    gone = s.recv(1) == b""
except (socket.timeout, ConnectionResetError):
    gone = False
print("%.1f" % (time.monotonic() - t0) if gone else "held", flush=True)
time.sleep(30)   # keep the socket open until killed
PY
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start_vblkd 1
# --- a front end stalls inside a message --------------------------------------
stall "$S1" >"$VP_TMP/stall1.out" &
STALL=$!
vp_on_exit "kill $STALL 2>/dev/null"
sleep 0.3
t0=$(date +%s%N)
for ((i = 0; i < 5; i++)); do ctl export list >/dev/null || vp_fail "vblkctl export list while stalled"; done
fe "$S0" "$D0" disk0 smoke 1 >/dev/null || vp_fail "disk0 while disk1's front end stalls"
vp_ok "vblkctl and the other export answer while a front end stalls mid-message"
for ((i = 0; i < 100; i++)); do [[ -s "$VP_TMP/stall1.out" ]] && break; sleep 0.1; done
took=$(cat "$VP_TMP/stall1.out")
[[ $took != held && -n $took ]] || vp_fail "the stalled front end was not dropped ($took)"
awk -v t="$took" 'BEGIN { exit !(t >= 1.5 && t <= 4) }' || vp_fail "dropped after $took s, want about 2 s"
grep -q 'reason="front end stalled inside request 2 for 2000 ms"' "$VP_TMP/vblkd.1.log" ||
	vp_fail "no stall reason logged"
kill "$STALL" 2>/dev/null; wait "$STALL" 2>/dev/null || true
fe "$S1" "$D1" disk1 smoke 1 >/dev/null || vp_fail "disk1 after the stalled front end"
vp_ok "stalled front end dropped after ${took} s (deadline 2 s); the export serves the next one"

# vhost-remove of an export whose front end is stalled returns at once.
stall "$S1" >/dev/null &
STALL=$!
sleep 0.3
t0=$(date +%s%N)
ctl vhost remove disk1 >/dev/null || vp_fail "vhost remove disk1"
ms=$((($(date +%s%N) - t0) / 1000000))
((ms < 1000)) || vp_fail "vhost remove took $ms ms with a stalled front end"
kill "$STALL" 2>/dev/null; wait "$STALL" 2>/dev/null || true
ctl vhost add disk1 "$S1" >/dev/null || vp_fail "vhost add disk1 again"
vp_ok "vhost remove with a stalled front end: $ms ms"

# --- fds of the wrong kind ----------------------------------------------------
CASES="kick-pipe kick-socket call-pipe call-file backend-pipe kick-file-running"
[[ $(stat -f -c %T "$VP_TMP") == tmpfs ]] || CASES+=" region-on-disk"
for c in $CASES; do
	fe "$S1" "$D1" disk1 evil "$c" >"$VP_TMP/evil.out" 2>&1 || { cat "$VP_TMP/evil.out"; vp_fail "case $c"; }
	grep -q "ok - evil $c (disconnected)" "$VP_TMP/evil.out" || vp_fail "$c: not refused"
done
for what in "SET_VRING_KICK: fd is not an eventfd" "SET_VRING_CALL: fd is not an eventfd" \
	"SET_BACKEND_REQ_FD: fd is not a socket"; do
	grep -q "$what" "$VP_TMP/vblkd.1.log" || vp_fail "no '$what' logged"
done
[[ $CASES != *region-on-disk* ]] || grep -q "memory region: fd is not on tmpfs or hugetlbfs" "$VP_TMP/vblkd.1.log" ||
	vp_fail "guest memory on disk not refused"
# Nothing spins afterwards: under 20 ticks (0.2 s of CPU) in 2 s.
c0=$(cpu_ticks "$DAEMON")
sleep 2
c1=$(cpu_ticks "$DAEMON")
(( c1 - c0 < 20 )) || vp_fail "vblkd used $((c1 - c0)) ticks of CPU in 2 s while idle"
fe "$S1" "$D1" disk1 smoke 1 >/dev/null || vp_fail "disk1 after the bad fds"
vp_ok "$(wc -w <<<"$CASES") fds of the wrong kind refused; idle daemon uses $((c1 - c0)) CPU ticks in 2 s"

# A front end that saturates its call eventfd (and makes it blocking again)
# blocks the queue thread's interrupt write; dropping it must not wait for
# that write: the next front end is served at once.
fe "$S1" "$D1" disk1 evil call-saturated >"$VP_TMP/evil.out" 2>&1 || { cat "$VP_TMP/evil.out"; vp_fail "call-saturated"; }
vp_ok "saturated blocking call eventfd: the queue still stops, the next front end is served"

# --- SIGTERM with a stalled front end -----------------------------------------
stall "$S0" >/dev/null &
STALL=$!
sleep 0.3
t0=$(date +%s%N)
kill -TERM "$DAEMON"
for ((i = 0; i < 100; i++)); do kill -0 "$DAEMON" 2>/dev/null || break; sleep 0.05; done
ms=$((($(date +%s%N) - t0) / 1000000))
kill -0 "$DAEMON" 2>/dev/null && vp_fail "vblkd still running 5 s after SIGTERM with a stalled front end"
wait "$DAEMON" 2>/dev/null; rc=$?
kill "$STALL" 2>/dev/null; wait "$STALL" 2>/dev/null || true
vp_assert_eq "$rc" 0 "exit status after SIGTERM"
((ms < 1500)) || vp_fail "SIGTERM took $ms ms"
vp_ok "SIGTERM with a front end stalled mid-message: exit 0 in $ms ms"
exit 0
