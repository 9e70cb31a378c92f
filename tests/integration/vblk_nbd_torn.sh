#!/usr/bin/env bash
# vblk_nbd_torn.sh - a WRITE is applied only once all of its data arrived:
# a client that dies half-way through the payload of a 1 MiB WRITE (its last
# byte in the middle of a 512-byte sector) leaves the image unchanged, on a
# tmpfs image (a range rewritten before) and
# on a regular file elsewhere.
source "$(dirname "$0")/lib.sh"
vp_init brtw
vp_require_cmd nbdinfo cmp
[[ -x /usr/bin/nbdsh ]] || vp_skip "nbdsh not installed (python3-libnbd)"
export PATH="/usr/bin:$PATH"   # nbdsh needs Debian's python3 with the nbd module

VBLKD="$VP_BUILD/bin/vblkd"
[[ -x "$VBLKD" ]] || vp_skip "vblkd not built ($VBLKD)"
[[ -d /dev/shm ]] || vp_skip "no /dev/shm tmpfs"
SHM="$(mktemp -d /dev/shm/vpt-brtw.XXXXXX)"
vp_on_exit "rm -rf '$SHM'"

# torn_write DIR: export DIR/disk.img, rewrite [1 MiB, 2 MiB) a few times
# (to warm whatever fast path the daemon has), then send a 1 MiB WRITE there
# with only 512 KiB + 256 bytes of its data and vanish; the image must still
# hold the last complete write.
torn_write() {
	local dir="$1" img="$1/disk.img" sock="$VP_TMP/$2.sock"
	head -c $((8 << 20)) /dev/urandom >"$img"
	vp_start_daemon "$VP_TMP/$2.log" "$VBLKD" --nbd "unix:$sock" --workers 1 \
		--export "name=disk0,image=$img"
	vp_wait_nbd "nbd+unix:///disk0?socket=$sock" "$VP_TMP/$2.log"
	nbdsh -u "nbd+unix:///disk0?socket=$sock" -c "
import os
for i in range(3):
    h.pwrite(os.urandom(1 << 20), 1 << 20)
h.flush()
" || vp_fail "$2: the warm-up writes failed"
	cp "$img" "$VP_TMP/$2.before"
	/usr/bin/python3 - "$sock" <<'PY' || vp_fail "$2: the dying client could not send its half WRITE"
import os, socket, struct, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.recv(18)                                   # NBDMAGIC IHAVEOPT flags
s.sendall(struct.pack(">I", 3))              # FIXED_NEWSTYLE | NO_ZEROES
s.sendall(b"IHAVEOPT" + struct.pack(">II", 1, 5) + b"disk0")  # EXPORT_NAME
assert len(s.recv(10)) == 10                 # size, transmission flags
s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 1, 7, 1 << 20, 1 << 20))
half = os.urandom((512 << 10) + 256)         # ends in the middle of a sector
for i in range(0, len(half), 64 << 10):
    s.sendall(half[i:i + (64 << 10)])
    time.sleep(0.01)                         # let the daemon take it piece by piece
time.sleep(0.3)
s.close()                                    # dies: the other half never comes
PY
	sleep 0.3
	nbdinfo --size "nbd+unix:///disk0?socket=$sock" >/dev/null || vp_fail "$2: vblkd stopped serving"
	cmp "$img" "$VP_TMP/$2.before" ||
		vp_fail "$2: a WRITE whose client died half-way through its data changed the image"
}

torn_write "$SHM" tmpfs
vp_ok "tmpfs image: a WRITE cut off half-way through its data leaves the image unchanged"
mkdir "$VP_TMP/disk"
torn_write "$VP_TMP/disk" file
vp_ok "regular file image: a WRITE cut off half-way through its data leaves the image unchanged"
