#!/usr/bin/env bash
# vblk_nbd_wberr.sh - a writeback error sticks to the image: vblkd exports a
# loop device whose backing file lives on a 8 MiB tmpfs, so writing 16 MiB
# fills the backing up and writeback fails.  The first FLUSH answers EIO, and
# so does every later FLUSH and FUA write, on that connection and on a new
# one (the kernel reports a lost writeback once; a second fdatasync would
# succeed with the data gone).  The error belongs to the image, not to a
# handle: a FLUSH through the export's vhost-user server (its own fd, opened
# before the error) answers VIRTIO_BLK_S_IOERR every time, and so does one
# through a vhost-user server added after the error.  A restart (the image
# reopened) clears it.
source "$(dirname "$0")/lib.sh"
vp_init brwe
vp_require_cmd losetup nbdinfo
[[ -x /usr/bin/nbdsh ]] || vp_skip "nbdsh not installed (python3-libnbd)"
export PATH="/usr/bin:$PATH"   # nbdsh needs Debian's python3 with the nbd module

VBLKD="$VP_BUILD/bin/vblkd"
VBLKCTL="$VP_BUILD/bin/vblkctl"
FE="$VP_BUILD/tests/vhost_frontend"
[[ -x "$VBLKD" ]] || vp_skip "vblkd not built ($VBLKD)"
[[ -x "$FE" ]] || vp_skip "vhost_frontend not built ($FE)"
MNT="$VP_TMP/small"
mkdir "$MNT"
mount -t tmpfs -o size=8m vpt-brwe "$MNT" || vp_skip "cannot mount a tmpfs"
vp_on_exit "umount -l '$MNT'"  # lazily: the loop device lets go of its backing asynchronously
truncate -s 32M "$MNT/backing"
LOOP=$(losetup --show -f "$MNT/backing") || vp_skip "no loop device"
vp_on_exit "losetup -d $LOOP"

SOCK="$VP_TMP/nbd.sock"
URI="nbd+unix:///disk0?socket=$SOCK"
CTL="$VP_TMP/control.sock"
VHOST="$VP_TMP/disk0.vhost"
VHOST2="$VP_TMP/disk0-late.vhost"
vp_start_vblkd "$VP_TMP/vblkd.log" --nbd "unix:$SOCK" --workers 2 --control "$CTL" \
	--export "name=disk0,image=$LOOP" --vhost-user "name=disk0,socket=$VHOST"
"$FE" "$VHOST" "$LOOP" disk0 flush ok || vp_fail "vhost-user FLUSH failed before any writeback error"

nbdsh -u "$URI" -c "
import errno, os
h.pwrite(os.urandom(16 << 20), 0)     # into the page cache: more than the backing holds
for i in range(3):
    try:
        h.flush()
        raise AssertionError('FLUSH %d after a lost writeback succeeded' % i)
    except nbd.Error as e:
        assert e.errnum == errno.EIO, 'FLUSH %d: expected EIO, got %s' % (i, e)
try:
    h.pwrite(b'x' * 4096, 0, flags=nbd.CMD_FLAG_FUA)
    raise AssertionError('a FUA write after a lost writeback succeeded')
except nbd.Error as e:
    assert e.errnum == errno.EIO, 'FUA write: expected EIO, got %s' % e
h.pwrite(b'y' * 4096, 0)              # plain writes still go to the cache
" || vp_fail "the first connection did not keep seeing the writeback error"
vp_ok "after a lost writeback, every FLUSH and FUA write on the connection answers EIO"

nbdsh -u "$URI" -c "
import errno
for what in ('flush', 'fua'):
    try:
        if what == 'flush':
            h.flush()
        else:
            h.pwrite(b'z' * 512, 4096, flags=nbd.CMD_FLAG_FUA)
        raise AssertionError('%s on a new connection succeeded after a lost writeback' % what)
    except nbd.Error as e:
        assert e.errnum == errno.EIO, '%s: expected EIO, got %s' % (what, e)
" || vp_fail "a new connection did not see the writeback error"
vp_ok "a new connection's FLUSH and FUA write answer EIO too"

for i in 1 2; do   # the second: after the kernel reported the error to the server's own fd
	"$FE" "$VHOST" "$LOOP" disk0 flush ioerr ||
		vp_fail "vhost-user FLUSH $i after the NBD FLUSH failed did not answer IOERR"
done
vp_ok "every FLUSH through the export's vhost-user server answers VIRTIO_BLK_S_IOERR too"

"$VBLKCTL" --control "$CTL" vhost remove disk0 >/dev/null || vp_fail "vhost remove"
"$VBLKCTL" --control "$CTL" vhost add disk0 "$VHOST2" >/dev/null || vp_fail "vhost add"
"$FE" "$VHOST2" "$LOOP" disk0 flush ioerr ||
	vp_fail "FLUSH through a vhost-user server added after the error did not answer IOERR"
vp_ok "a vhost-user server added after the error (a new fd) answers IOERR as well"

vp_stop_vblkd || vp_fail "vblkd exited with status $? on SIGTERM"
vp_start_vblkd "$VP_TMP/vblkd2.log" --nbd "unix:$SOCK" --workers 1 \
	--export "name=disk0,image=$LOOP" --vhost-user "name=disk0,socket=$VHOST"
nbdsh -u "$URI" -c "h.pwrite(b'w' * 4096, 0); h.flush()" ||
	vp_fail "FLUSH of a reopened image (within the backing's room) failed"
"$FE" "$VHOST" "$LOOP" disk0 flush ok || vp_fail "vhost-user FLUSH of a reopened image failed"
vp_ok "a reopened image starts without the error"
