#!/usr/bin/env bash
# vblk_nbd_silent.sh - silent connections against a vblkd with few fds
# (issue 8, item 9): run under RLIMIT_NOFILE 1030 (io_uring's registered
# file table of 1024 needs about that many) and open 1300 connections
# that never send a byte.  The fd limit is hit, yet the accept loop does
# not spin (CPU time over a second stays small, the log stays short: the
# accept errors and refusals are rate-limited, and the reserve fd lets
# vblkd accept and close what it cannot hold).  The handshake timeout then
# closes the silent ones and a normal client is served.  Then the idle
# timeout closes a client that went quiet in transmission, and the
# connection cap refuses a connection over --max-conns.
source "$(dirname "$0")/lib.sh"
vp_init vbsl
vp_require_cmd nbdinfo prlimit
PY=/usr/bin/python3
[[ -x $PY ]] || vp_skip "python3 not installed"
VBLKD="$VP_BUILD/bin/vblkd"
[[ -x "$VBLKD" ]] || vp_skip "vblkd not built ($VBLKD)"
SOCK="$VP_TMP/nbd.sock"
IMG="$VP_TMP/disk0.img"
LOG="$VP_TMP/vblkd.log"
HS=3
truncate -s 16M "$IMG"
URI="nbd+unix:///disk0?socket=$SOCK"

vp_start_daemon "$LOG" prlimit --nofile=1030:1030 "$VBLKD" --nbd "unix:$SOCK" \
	--export "name=disk0,image=$IMG" --workers 1 --handshake-timeout $HS --idle-timeout $HS \
	--max-conns 4000
DAEMON=$VP_PID
vp_wait_nbd "$URI" "$LOG"

cat >"$VP_TMP/silent.py" <<'PY'
import errno, resource, socket, sys, time
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
path, n, hold = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
socks = []
stop = time.time() + 1.5
while len(socks) < n and time.time() < stop:   # the backlog is short: retry
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(path)
    except OSError as e:
        if e.errno != errno.EAGAIN:
            raise
        s.close()
        time.sleep(0.002)
        continue
    socks.append(s)
print("connected %d" % len(socks), flush=True)
deadline = time.time() + hold
open_ = set(socks)
while open_ and time.time() < deadline:  # closed by the server: EOF after the greeting
    for s in list(open_):
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    open_.discard(s)
                    break
        except BlockingIOError:
            pass
        except OSError:
            open_.discard(s)
    time.sleep(0.1)
print("left-open %d" % len(open_), flush=True)
PY

cpu() { awk '{ print $14 + $15 }' "/proc/$(pgrep -P "$DAEMON" -x vblkd || echo "$DAEMON")/stat"; }
$PY "$VP_TMP/silent.py" "$SOCK" 1300 $((HS + 4)) >"$VP_TMP/silent.out" 2>&1 &
SILENT=$!
vp_on_exit "kill $SILENT"
sleep 1
VPID=$(pgrep -P "$DAEMON" -x vblkd || echo "$DAEMON") # prlimit execs, but be sure
c0=$(awk '{ print $14 + $15 }' "/proc/$VPID/stat")
sleep 1
c1=$(awk '{ print $14 + $15 }' "/proc/$VPID/stat")
ticks=$(getconf CLK_TCK)
((c1 - c0 <= ticks / 5)) || vp_fail "vblkd used $((c1 - c0)) ticks of CPU in 1 s at the fd limit (spinning)"
connected=$(head -1 "$VP_TMP/silent.out")
vp_ok "($connected) at the fd limit with silent connections: $((c1 - c0))/$ticks CPU ticks in 1 s"
grep -q 'event=nbd.accept.error .*errno=24' "$LOG" || vp_fail "the fd limit was never hit: $(tail -3 "$LOG")"
wait $SILENT || vp_fail "silent client failed: $(cat "$VP_TMP/silent.out")"
vp_assert_match "$(cat "$VP_TMP/silent.out")" 'left-open 0' "every silent connection closed by the handshake timeout"
lines=$(wc -l <"$LOG")
((lines <= 5000)) || vp_fail "the log grew to $lines lines"
vp_assert_match "$(cat "$LOG")" 'event=nbd.conn.timeout .*limit=handshake-timeout' "the timeout was logged"
vp_ok "1300 silent connections: all closed within $((HS + 4)) s, log $lines lines"
vp_assert_eq "$(nbdinfo --size "$URI")" $((16 << 20)) "a normal client is served afterwards"
vp_ok "a normal client is served after the silent ones timed out"

# Idle in transmission: closed after the idle timeout.
cat >"$VP_TMP/idle.py" <<'PY'
import sys, time
sys.path.insert(0, sys.argv[1])
import nbd_raw
c = nbd_raw.Client(sys.argv[2])
c.handshake("disk0")
assert c.read(1, 0, 4096)[0] == 0
t = time.time()
try:
    c.recvn(1)
except nbd_raw.Closed:
    print("closed after %.1f s" % (time.time() - t))
PY
out="$($PY "$VP_TMP/idle.py" "$(dirname "$0")" "$SOCK")" || vp_fail "idle client failed: $out"
[[ $out =~ ^closed\ after\ ([0-9]+)\.[0-9]\ s$ ]] || vp_fail "idle client: $out"
((BASH_REMATCH[1] >= HS - 1 && BASH_REMATCH[1] <= HS + 1)) || vp_fail "idle client: $out (idle timeout $HS s)"
vp_assert_match "$(cat "$LOG")" 'event=nbd.conn.close .*reason=idle-timeout' "idle close logged"
vp_ok "an idle client in transmission is closed: $out"
kill -0 "$DAEMON" || vp_fail "vblkd died"

# The connection cap (over all workers): a third connection to a daemon
# with --max-conns 2 is closed at once, the two others are served.
SOCK2="$VP_TMP/nbd2.sock"
truncate -s 16M "$VP_TMP/disk1.img"
vp_start_daemon "$VP_TMP/cap.log" "$VBLKD" --nbd "unix:$SOCK2" --export "name=disk0,image=$VP_TMP/disk1.img" \
	--workers 2 --max-conns 2
vp_wait_nbd "nbd+unix:///disk0?socket=$SOCK2" "$VP_TMP/cap.log"
cat >"$VP_TMP/cap.py" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import nbd_raw
a, b = nbd_raw.Client(sys.argv[2]), nbd_raw.Client(sys.argv[2])
a.handshake("disk0"), b.handshake("disk0")
c = nbd_raw.Client(sys.argv[2])
try:
    c.greet()
    print("third served")
except (nbd_raw.Closed, OSError):
    print("third refused", a.read(1, 0, 512)[0], b.read(2, 0, 512)[0])
PY
out="$($PY "$VP_TMP/cap.py" "$(dirname "$0")" "$SOCK2")" || vp_fail "cap client failed: $out"
vp_assert_eq "$out" "third refused 0 0" "the third connection is refused, the first two served"
vp_assert_match "$(cat "$VP_TMP/cap.log")" 'event=nbd.conn.refused reason=connection-limit max_conns=2' "refusal logged"
vp_ok "--max-conns 2: a third connection is refused"
