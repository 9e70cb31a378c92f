#!/usr/bin/env bash
# vblk_nbd_tmpfs.sh - reads of an image on tmpfs take vblkd's zero-copy path
# (page cache -> pipe -> socket, no pread into a buffer): nbdcopy round trip
# bit for bit, reads of many sizes and offsets with simple and structured
# replies, and a client that vanishes with large reads in flight.
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
for ((i = 0; i < 100; i++)); do
	nbdinfo --size "$URI" >/dev/null 2>&1 && break
	kill -0 "$VP_PID" 2>/dev/null || vp_fail "vblkd exited early: $(cat "$VP_TMP/vblkd.log")"
	sleep 0.1
done

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
