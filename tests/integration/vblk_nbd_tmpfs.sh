#!/usr/bin/env bash
# vblk_nbd_tmpfs.sh - reads of an image on tmpfs take vblkd's zero-copy path
# (page cache -> pipe -> socket, no pread into a buffer): nbdcopy round trip
# bit for bit, reads of many sizes and offsets with simple and structured
# replies, and a client that vanishes with large reads in flight; writes of
# many sizes in flight together land bit for bit, also after the file shrank
# behind vblkd's back; a full tmpfs answers ENOSPC; a TCP client stuck half-way through a
# WRITE stalls only itself.
source "$(dirname "$0")/lib.sh"
vp_init vbt
vp_require_cmd nbdcopy nbdinfo cmp
[[ -x /usr/bin/nbdsh ]] || vp_skip "nbdsh not installed (python3-libnbd)"
export PATH="/usr/bin:$PATH"   # nbdsh needs Debian's python3 with the nbd module

VBLKD="$VP_BUILD/bin/vblkd"
[[ -x "$VBLKD" ]] || vp_skip "vblkd not built ($VBLKD)"
[[ -d /dev/shm ]] || vp_skip "no /dev/shm tmpfs"
SHM="$(mktemp -d /dev/shm/vpt-vbt.XXXXXX)"
vp_on_exit "rm -rf '$SHM'"
IMG="$SHM/disk0.img"
SOCK="$VP_TMP/nbd.sock"
URI="nbd+unix:///disk0?socket=$SOCK"
head -c $((48 << 20)) /dev/urandom >"$IMG"

vp_start_daemon "$VP_TMP/vblkd.log" "$VBLKD" --nbd "unix:$SOCK" --workers 2 --export "name=disk0,image=$IMG"
vp_wait_nbd "$URI" "$VP_TMP/vblkd.log"

nbdcopy "$URI" "$VP_TMP/copy.img" || vp_fail "nbdcopy from vblkd failed"
cmp "$IMG" "$VP_TMP/copy.img" || vp_fail "nbdcopy copy differs from the image"
vp_ok "nbdcopy of a tmpfs image is bit for bit"

# Every read compared with the file, with and without structured replies.
for structured in True False; do
	nbdsh -c "
import os
h.set_request_structured_replies($structured)
h.connect_uri('$URI')
data = open('$IMG', 'rb').read()
for off, n in [(0, 65536), (512, 65536), (4096, 1 << 20), (12345 * 512, 3 << 20),
               (5 << 20, 32 << 20), ((48 << 20) - 65536, 65536), (7, 4096)]:
    got = h.pread(n, off)
    assert got == data[off:off + n], 'read %d at %d differs' % (n, off)
h.shutdown()
" || vp_fail "reads with structured replies=$structured differ from the image"
done
vp_ok "reads of 4 KiB to 32 MiB at odd offsets match, simple and structured replies"

# Writes of 4 KiB to 32 MiB in flight at once, some FUA, into disjoint
# ranges; then the file must hold exactly what was written.
nbdsh -c "
import os
h.connect_uri('$URI')
sizes = [4096, 65536, 131072 + 512, 1 << 20, 3 << 20, 32 << 20, 12345, 1 << 20]
off, cmds, want = 512, [], {}
for i, n in enumerate(sizes):
    data = os.urandom(n)
    want[off] = data
    cmds.append(h.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(data)), off,
                             flags=nbd.CMD_FLAG_FUA if i % 3 == 0 else 0))
    off += n + 4096
pending = set(cmds)
while pending:  # a cookie is retired once it was seen complete
    pending = {c for c in pending if not h.aio_command_completed(c)}
    if pending:
        h.poll(-1)
h.flush()
img = open('$IMG', 'rb').read()
for o, data in want.items():
    assert img[o:o + len(data)] == data, 'write of %d at %d differs in the image' % (len(data), o)
    assert h.pread(len(data), o) == data, 'read back of %d at %d differs' % (len(data), o)
h.shutdown()
" || vp_fail "writes in flight together differ from what was written"
vp_ok "writes of 4 KiB to 32 MiB in flight together land bit for bit"

# Rewrites of a range land; so does a write past the end of a file that
# shrank behind vblkd's back.
nbdsh -c "
import os
h.connect_uri('$URI')
for i in range(2):
    data = os.urandom(4 << 20)
    h.pwrite(data, 24 << 20)
    assert h.pread(4 << 20, 24 << 20) == data, 'rewrite %d of the tmpfs image differs' % i
h.shutdown()
" || vp_fail "rewrites of a range of the tmpfs image differ"
truncate -s 16M "$IMG"
nbdsh -c "
import os
h.connect_uri('$URI')
data = os.urandom(4 << 20)
h.pwrite(data, 24 << 20)
assert h.pread(4 << 20, 24 << 20) == data, 'write past the shrunk end differs'
with open('$IMG', 'rb') as f:
    f.seek(24 << 20)
    assert f.read(4 << 20) == data, 'the file does not hold what was written past its shrunk end'
h.shutdown()
" || vp_fail "a large write past the end of a shrunk image failed"
kill -0 "$VP_PID" || vp_fail "vblkd died writing into a shrunk image: $(tail -5 "$VP_TMP/vblkd.log")"
[[ $(stat -c %s "$IMG") -eq $((28 << 20)) ]] || vp_fail "the write did not extend the shrunk file to 28 MiB"
vp_ok "rewrites of a range land; a write past the end of a shrunk file extends it"

# A client that leaves with large reads queued must not disturb the daemon.
nbdsh -c "
h.connect_uri('$URI')
bufs = [nbd.Buffer(32 << 20) for i in range(16)]
for i in range(16):
    h.aio_pread(bufs[i], (i % 2) << 20)
h.poll(0)
" || vp_fail "the vanishing client could not queue its reads"
nbdinfo --size "$URI" >/dev/null || vp_fail "vblkd stopped serving after a client vanished mid-read"
kill -0 "$VP_PID" || vp_fail "vblkd died"
vp_ok "a client vanishing with 16 x 32 MiB reads in flight leaves vblkd serving"

# A WRITE its tmpfs cannot hold: the data is still taken off the socket (and
# dropped), ENOSPC is the reply, and the connection goes on serving.
SMALL="$VP_TMP/small"
mkdir "$SMALL"
mount -t tmpfs -o size=4m vpt-vbt "$SMALL" || vp_fail "cannot mount a 4 MiB tmpfs"
vp_on_exit "umount '$SMALL'"
truncate -s 64M "$SMALL/sparse.img"
SOCK2="$VP_TMP/nbd2.sock"
vp_start_daemon "$VP_TMP/vblkd2.log" "$VBLKD" --nbd "unix:$SOCK2" --workers 1 \
	--export "name=disk0,image=$SMALL/sparse.img"
URI2="nbd+unix:///disk0?socket=$SOCK2"
vp_wait_nbd "$URI2" "$VP_TMP/vblkd2.log"
nbdsh -c "
import errno, os
h.connect_uri('$URI2')
for n, off in ((8 << 20, 8 << 20), (1 << 20, 32 << 20), (1 << 20, 32 << 20)):
    try:
        h.pwrite(os.urandom(n), off)
        raise AssertionError('a %d byte write into a full tmpfs succeeded' % n)
    except nbd.Error as e:
        assert e.errnum == errno.ENOSPC, 'expected ENOSPC, got %s' % e
data = os.urandom(1 << 20)  # where the failed write left pages: fits
h.pwrite(data, 8 << 20, flags=nbd.CMD_FLAG_FUA)
assert h.pread(1 << 20, 8 << 20) == data, 'data written after ENOSPC differs'
h.shutdown()
" || vp_fail "a write into a full tmpfs was not answered with ENOSPC on a working connection"
vp_ok "writes into a full tmpfs get ENOSPC; the connection goes on serving"

# Over TCP, a client that stops half-way through a large WRITE's data must
# stall only itself: another client of the same (single) worker is served.
PORT=$((20000 + RANDOM % 20000))
truncate -s 8M "$SHM/tcp.img"
vp_start_daemon "$VP_TMP/vblkd3.log" "$VBLKD" --nbd "tcp:127.0.0.1:$PORT" --workers 1 \
	--export "name=disk0,image=$SHM/tcp.img"
URI3="nbd://127.0.0.1:$PORT/disk0"
vp_wait_nbd "$URI3" "$VP_TMP/vblkd3.log"
/usr/bin/python3 - "$PORT" <<'PY' &
import socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.recv(18)                                   # NBDMAGIC IHAVEOPT flags
s.sendall(struct.pack(">I", 3))              # FIXED_NEWSTYLE | NO_ZEROES
s.sendall(b"IHAVEOPT" + struct.pack(">II", 1, 5) + b"disk0")  # EXPORT_NAME
s.recv(10)                                   # size, transmission flags
s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 1, 7, 0, 1 << 20) + b"x" * (256 << 10))
time.sleep(30)                               # the other 768 KiB never come
PY
STALLER=$!
vp_on_exit "kill $STALLER 2>/dev/null"
sleep 0.5
kill -0 "$STALLER" || vp_fail "the stalling client did not get through the handshake"
timeout 10 nbdinfo --size "$URI3" >/dev/null ||
	vp_fail "a TCP client stalled mid-WRITE stalled its worker's other clients"
timeout 10 nbdsh -u "$URI3" -c 'assert len(h.pread(1 << 20, 0)) == 1 << 20' ||
	vp_fail "reads stalled behind a TCP client stuck mid-WRITE"
vp_ok "a TCP client stuck mid-WRITE stalls only itself"
