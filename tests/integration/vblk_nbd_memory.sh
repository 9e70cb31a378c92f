#!/usr/bin/env bash
# vblk_nbd_memory.sh - a client pipelining many 32 MiB WRITEs (the largest
# vblkd accepts) on one connection, without waiting for replies, must be
# served in full (every reply, in sync, the data in the image) while the
# daemon's peak RSS (VmHWM) stays within its per-connection buffer budget
# (64 MiB by default) plus a fixed allowance: requests over the budget wait
# for earlier ones instead of allocating.  Two such clients at once stay
# within two budgets.  Then the hostile case: 32 MiB READs pipelined by a
# client that does not read its replies for a while (each queued reply holds
# its buffer): still within the budget, and every reply arrives afterwards.
source "$(dirname "$0")/lib.sh"
vp_init vbmm
vp_require_cmd nbdinfo
PY=/usr/bin/python3
[[ -x $PY ]] || vp_skip "python3 not installed"

VBLKD="$VP_BUILD/bin/vblkd"
[[ -x "$VBLKD" ]] || vp_skip "vblkd not built ($VBLKD)"
SOCK="$VP_TMP/nbd.sock"
IMG="$VP_TMP/disk0.img"
MiB=$((1 << 20))
BUDGET=$((64 * MiB))
ALLOWANCE=$((48 * MiB))   # code, stacks, rings, input buffers, allocator slack
N=24                      # 24 x 32 MiB = 768 MiB sent per client
truncate -s $((64 * MiB)) "$IMG"
vp_start_daemon "$VP_TMP/vblkd.log" "$VBLKD" --nbd "unix:$SOCK" --export "name=disk0,image=$IMG"
DAEMON=$VP_PID
vp_wait_nbd "nbd+unix:///disk0?socket=$SOCK" "$VP_TMP/vblkd.log"

cat >"$VP_TMP/pipeline.py" <<'PY'
import socket, struct, sys, threading, time

sock, n, base, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
PAY = 32 << 20
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(120)
s.connect(sock)

def recvn(k):
    b = bytearray()
    while len(b) < k:
        c = s.recv(k - len(b))
        if not c:
            sys.exit("server closed the connection after %d bytes" % len(b))
        b += c
    return bytes(b)

assert recvn(18)[:16] == b"NBDMAGICIHAVEOPT"
s.sendall(struct.pack(">I", 3))                       # FIXED_NEWSTYLE | NO_ZEROES
name = b"disk0"
data = struct.pack(">I", len(name)) + name + struct.pack(">H", 0)
s.sendall(b"IHAVEOPT" + struct.pack(">II", 7, len(data)) + data)   # NBD_OPT_GO
while True:
    _, _, typ, ln = struct.unpack(">QIII", recvn(20))
    recvn(ln)
    if typ == 1:
        break
    if typ & (1 << 31):
        sys.exit("GO refused: %#x" % typ)

if mode == "read":                                    # hostile: replies left unread
    for i in range(n):
        s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 0, base + i, 0, PAY))
    time.sleep(2)
    for i in range(n):
        magic, err, handle = struct.unpack(">IIQ", recvn(16))
        assert (magic, err, handle) == (0x67446698, 0, base + i), (magic, err, handle)
        recvn(PAY)
    print("ok read")
    sys.exit(0)

errors = []
def reader():
    for i in range(n):
        magic, err, handle = struct.unpack(">IIQ", recvn(16))
        if magic != 0x67446698 or err != 0 or handle != base + i:
            errors.append((magic, err, handle))

t = threading.Thread(target=reader)
t.start()
for i in range(n):                                    # all sent without waiting
    s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 1, base + i, 0, PAY))
    s.sendall(bytes([(base + i) & 0xff]) * PAY)
t.join()
if errors:
    sys.exit("bad replies: %r" % errors[:3])
s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 0, 7, PAY - 4096, 4096))   # read back
magic, err, handle = struct.unpack(">IIQ", recvn(16))
assert (magic, err, handle) == (0x67446698, 0, 7), (magic, err, handle)
last = recvn(4096)
s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 2, 8, 0, 0))             # DISC
print("ok", last[0])
PY

hwm() { awk '/^VmHWM:/ { print $2 * 1024 }' "/proc/$DAEMON/status"; }
rss() { awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$DAEMON/status"; }
# phase: reset the peak to the current RSS and take that as the base (an
# ASan build keeps freed buffers in its quarantine, so they stay in RSS).
phase() {
	echo 5 >"/proc/$DAEMON/clear_refs" || vp_fail "cannot reset VmHWM"
	BASE=$(rss)
}
phase

out="$($PY "$VP_TMP/pipeline.py" "$SOCK" $N 0 write)" || vp_fail "pipelining client failed: $out"
vp_assert_eq "$out" "ok $(((N - 1) & 255))" "all $N replies, and the last write is what the image holds"
peak=$(hwm)
vp_log "one client: RSS before $((BASE / MiB)) MiB, peak $((peak / MiB)) MiB"
((peak - BASE <= BUDGET + ALLOWANCE)) ||
	vp_fail "peak RSS grew by $(((peak - BASE) / MiB)) MiB, over the $((BUDGET / MiB)) MiB budget + $((ALLOWANCE / MiB)) MiB"
vp_ok "$N pipelined 32 MiB writes: all answered, RSS growth $(((peak - BASE) / MiB)) MiB (budget $((BUDGET / MiB)) MiB)"

# Two connections at once: each has its own budget.
phase
$PY "$VP_TMP/pipeline.py" "$SOCK" $N 1000 write >"$VP_TMP/a.out" 2>&1 &
A=$!
$PY "$VP_TMP/pipeline.py" "$SOCK" $N 2000 write >"$VP_TMP/b.out" 2>&1 &
B=$!
vp_on_exit "kill $A $B"
wait $A || vp_fail "client A failed: $(cat "$VP_TMP/a.out")"
wait $B || vp_fail "client B failed: $(cat "$VP_TMP/b.out")"
peak=$(hwm)
((peak - BASE <= 2 * BUDGET + ALLOWANCE)) ||
	vp_fail "two clients: peak RSS grew by $(((peak - BASE) / MiB)) MiB, over 2 x $((BUDGET / MiB)) MiB + $((ALLOWANCE / MiB)) MiB"
vp_ok "two pipelining clients at once: RSS growth $(((peak - BASE) / MiB)) MiB"

# Hostile reads: a fresh daemon, so VmHWM starts over.
kill "$DAEMON"
wait "$DAEMON" || true
vp_start_daemon "$VP_TMP/vblkd2.log" "$VBLKD" --nbd "unix:$SOCK" --export "name=disk0,image=$IMG"
DAEMON=$VP_PID
vp_wait_nbd "nbd+unix:///disk0?socket=$SOCK" "$VP_TMP/vblkd2.log"
phase
out="$($PY "$VP_TMP/pipeline.py" "$SOCK" 16 0 read)" || vp_fail "reading client failed: $out"
vp_assert_eq "$out" "ok read" "all 16 READ replies, in order, after the client resumed reading"
peak=$(hwm)
((peak - BASE <= BUDGET + ALLOWANCE)) ||
	vp_fail "unread 32 MiB READ replies grew RSS by $(((peak - BASE) / MiB)) MiB, over the budget + allowance"
vp_ok "16 pipelined 32 MiB READs with replies left unread: RSS growth $(((peak - BASE) / MiB)) MiB"
kill -0 "$DAEMON" || vp_fail "vblkd died"
