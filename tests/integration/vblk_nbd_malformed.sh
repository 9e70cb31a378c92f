#!/usr/bin/env bash
# vblk_nbd_malformed.sh - hostile NBD clients (a raw python3 socket client):
# bad magics, unknown flags/options/commands, truncated headers, oversized
# lengths, out-of-range offsets, clients vanishing mid-request and a client
# stalling in the handshake.  vblkd must answer or drop only that client,
# stay up, and keep serving a well-behaved client meanwhile.
source "$(dirname "$0")/lib.sh"
vp_init vbm
vp_require_cmd nbdinfo qemu-io
PY=/usr/bin/python3
[[ -x $PY ]] || vp_skip "python3 not installed"

VBLKD="$VP_BUILD/bin/vblkd"
[[ -x "$VBLKD" ]] || vp_skip "vblkd not built ($VBLKD)"
SOCK="$VP_TMP/nbd.sock"
IMG="$VP_TMP/disk0.img"
truncate -s $((4 << 20)) "$IMG"
vp_start_daemon "$VP_TMP/vblkd.log" "$VBLKD" --nbd "unix:$SOCK" --export "name=disk0,image=$IMG"
DAEMON=$VP_PID
URI="nbd+unix:///disk0?socket=$SOCK"
vp_wait_nbd "$URI" "$VP_TMP/vblkd.log"
vp_assert qemu-io -f raw "$URI" -c 'write -P 0x5a 0 64k' >/dev/null

cat >"$VP_TMP/bad.py" <<'PY'
import socket, struct, sys, time

SOCK, SIZE = sys.argv[1], 4 << 20
OPTS = b"IHAVEOPT"
REQ, SIMPLE, STRUCT = 0x25609513, 0x67446698, 0x668e33ef
failures = []

def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)

def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(SOCK)
    return s

def recvn(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            return None
        b += c
    return b

def closed(s):
    """True when the server closed the connection (EOF, or reset)."""
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False

def greet(s, flags=3):
    g = recvn(s, 18)
    assert g[:16] == b"NBDMAGICIHAVEOPT", g
    s.sendall(struct.pack(">I", flags))

def option(s, opt, data=b""):
    s.sendall(OPTS + struct.pack(">II", opt, len(data)) + data)

def opt_reply(s):
    h = recvn(s, 20)
    if h is None:
        return None
    magic, opt, typ, ln = struct.unpack(">QIII", h)
    assert magic == 0x3e889045565a9
    return typ, recvn(s, ln) if ln else b""

def go(structured=False):
    s = connect()
    greet(s)
    if structured:
        option(s, 8)
        assert opt_reply(s)[0] == 1
    name = b"disk0"
    option(s, 7, struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
    while True:
        typ, _ = opt_reply(s)
        if typ == 1:
            return s
        assert typ == 3, typ

def request(s, typ, off, ln, flags=0, handle=1, magic=REQ):
    s.sendall(struct.pack(">IHHQQI", magic, flags, typ, handle, off, ln))

def simple_reply(s):
    h = recvn(s, 16)
    if h is None:
        return None
    magic, err, handle = struct.unpack(">IIQ", h)
    assert magic == SIMPLE, hex(magic)
    return err

def read_ok(s, off=0, ln=4096):
    request(s, 0, off, ln, handle=77)
    err = simple_reply(s)
    return err == 0 and recvn(s, ln) == b"\x5a" * ln

# --- handshake phase ---
s = connect(); greet(s); s.sendall(b"XXXXXXXX" + struct.pack(">II", 7, 0))
check(closed(s), "bad option magic drops the client")
s = connect(); greet(s, flags=0x80)
check(closed(s), "unknown client flags drop the client")
s = connect(); greet(s); option(s, 4242, b"junk")
r = opt_reply(s)
check(r is not None and r[0] == (1 << 31) + 1, "unknown option -> NBD_REP_ERR_UNSUP")
option(s, 7, struct.pack(">I", 100) + b"disk0" + struct.pack(">H", 0))
r = opt_reply(s)
check(r is not None and r[0] == (1 << 31) + 3, "GO with a name length past the option -> ERR_INVALID")
option(s, 7, struct.pack(">I", 6) + b"nosuch" + struct.pack(">H", 0))
r = opt_reply(s)
check(r is not None and r[0] == (1 << 31) + 6, "GO for an unknown export -> ERR_UNKNOWN")
option(s, 5)
r = opt_reply(s)
check(r is not None and r[0] == (1 << 31) + 2, "STARTTLS -> ERR_POLICY (--tls off)")
s.sendall(OPTS + struct.pack(">II", 3, 1 << 30))
check(closed(s), "option length of 1 GiB drops the client")
s = connect(); greet(s); s.sendall(OPTS[:5]); s.close()   # truncated, vanish
s = connect(); greet(s); option(s, 1, b"nosuch")
check(closed(s), "EXPORT_NAME for an unknown export drops the client")
s = connect(); greet(s); option(s, 2)
r = opt_reply(s)
check(r is not None and r[0] == 1 and closed(s), "ABORT is acknowledged, then closed")

# A client stalling mid-handshake must not hold others up.
stall = connect(); recvn(stall, 18)
check(read_ok(go()), "another client is served while one stalls in the handshake")

# --- transmission phase, simple replies ---
s = go()
check(read_ok(s), "read after GO")
request(s, 99, 0, 512)
check(simple_reply(s) == 22, "unknown command -> EINVAL")
request(s, 0, SIZE - 512, 1024)
check(simple_reply(s) == 22, "read past the end -> EINVAL")
request(s, 0, (1 << 64) - 512, 1024)
check(simple_reply(s) == 22, "read with offset+length overflowing 64 bits -> EINVAL")
request(s, 0, 0, 0)
check(simple_reply(s) == 22, "zero-length read -> EINVAL")
request(s, 0, 0, (32 << 20) + 1)
check(simple_reply(s) == 22, "read over 32 MiB -> EINVAL")
request(s, 0, 0, 4096, flags=1 << 7)
check(simple_reply(s) == 22, "unknown command flag -> EINVAL")
request(s, 0, 0, 4096, flags=1 << 2)
check(simple_reply(s) == 22, "DF without structured replies -> EINVAL")
request(s, 7, 0, 4096)
check(simple_reply(s) == 22, "BLOCK_STATUS without a meta context -> EINVAL")
request(s, 1, SIZE, 512); s.sendall(b"\x00" * 512)
check(simple_reply(s) == 28, "write past the end -> ENOSPC (payload consumed)")
request(s, 4, SIZE - 512, 1024)
check(simple_reply(s) == 28, "trim past the end -> ENOSPC")
request(s, 6, SIZE, 1)
check(simple_reply(s) == 28, "write-zeroes past the end -> ENOSPC")
check(read_ok(s), "connection still in sync after the refusals")
request(s, 1, 0, 64 << 20)
check(closed(s), "write over 32 MiB drops the client")

s = go(); request(s, 0, 0, 4096, magic=0xdeadbeef)
check(closed(s), "bad request magic drops the client")
s = go(); s.sendall(struct.pack(">IHH", REQ, 0, 0)); s.close()        # truncated header
s = go(); request(s, 1, 0, 1 << 20); s.sendall(b"\x01" * 1000); s.close()  # vanish mid-write
s = go()
for i in range(64):                                                  # vanish with reads in flight
    request(s, 0, 0, 1 << 20, handle=i)
s.close()

# --- structured replies ---
s = go(structured=True)
request(s, 0, SIZE, 512, handle=5)
h = recvn(s, 20)
magic, flags, typ, handle, ln = struct.unpack(">IHHQI", h)
body = recvn(s, ln)
check(magic == STRUCT and typ == (1 << 15) + 1 and flags & 1 and handle == 5 and
      struct.unpack(">I", body[:4])[0] == 22, "structured error chunk for a bad read")
request(s, 0, 0, 4096, handle=6)
magic, flags, typ, handle, ln = struct.unpack(">IHHQI", recvn(s, 20))
body = recvn(s, ln)
check(typ == 1 and ln == 8 + 4096 and body[8:] == b"\x5a" * 4096, "structured OFFSET_DATA read")
request(s, 2, 0, 0)
check(closed(s), "DISC closes the connection")

stall.close()
sys.exit(1 if failures else 0)
PY
vp_assert $PY "$VP_TMP/bad.py" "$SOCK"
sleep 0.2
kill -0 "$DAEMON" 2>/dev/null || vp_fail "vblkd died: $(tail -5 "$VP_TMP/vblkd.log")"
vp_assert qemu-io -f raw "$URI" -c 'read -P 0x5a 0 64k' >/dev/null
vp_assert_eq "$(nbdinfo --size "$URI")" $((4 << 20)) "size after the abuse"
vp_ok "vblkd survived hostile clients and still serves"

# Every hostile connection was closed, none leaked: only the daemon's own fds remain.
nfd=$(ls /proc/"$DAEMON"/fd | wc -l)
[[ $nfd -lt 20 ]] || vp_fail "vblkd holds $nfd fds after the hostile clients left"
vp_ok "no leaked connections ($nfd fds)"
