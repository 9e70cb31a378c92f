#!/usr/bin/env bash
# vblk_zeroes.sh - WRITE_ZEROES through the shared block-request layer, with
# nbdsh and the vhost-user front end (tests/tools/vhost_frontend): on a file that cannot punch or zero a range (ramfs has no
# fallocate) FAST_ZERO fails fast with ENOTSUP and plain WRITE_ZEROES falls
# back to writing zeroes; on a loop block device without write-zeroes
# support (its backing is on ramfs) WRITE_ZEROES, with or without NO_HOLE,
# succeeds and reads back as zeroes, FAST_ZERO answers ENOTSUP.  Through
# vhost-user, write zeroes (unmap or not, write-back or write-through) read
# back as zeroes on both.
source "$(dirname "$0")/lib.sh"
vp_init brz
vp_require_cmd losetup nbdinfo
[[ -x /usr/bin/nbdsh ]] || vp_skip "nbdsh not installed (python3-libnbd)"
export PATH="/usr/bin:$PATH"   # nbdsh needs Debian's python3 with the nbd module

VBLKD="$VP_BUILD/bin/vblkd"
FE="$VP_BUILD/tests/vhost_frontend"
[[ -x "$VBLKD" ]] || vp_skip "vblkd not built ($VBLKD)"
[[ -x "$FE" ]] || vp_skip "vhost_frontend not built ($FE)"
RAM="$VP_TMP/ram"
mkdir "$RAM"
mount -t ramfs vpt-brz "$RAM" || vp_skip "cannot mount a ramfs"
vp_on_exit "umount -l '$RAM'"  # lazily: the loop device lets go of its backing asynchronously
head -c $((16 << 20)) /dev/urandom >"$RAM/file.img"
head -c $((16 << 20)) /dev/urandom >"$RAM/backing"
LOOP=$(losetup --show -f "$RAM/backing") || vp_skip "no loop device"
vp_on_exit "losetup -d $LOOP"
[[ $(cat "/sys/block/${LOOP#/dev/}/queue/write_zeroes_max_bytes") == 0 ]] ||
	vp_skip "$LOOP has write-zeroes support: nothing to fall back from"

SOCK="$VP_TMP/nbd.sock"
vp_start_daemon "$VP_TMP/vblkd.log" "$VBLKD" --nbd "unix:$SOCK" --workers 1 \
	--export "name=file,image=$RAM/file.img" --export "name=dev,image=$LOOP" \
	--vhost-user "name=file,socket=$VP_TMP/file.vhost" --vhost-user "name=dev,socket=$VP_TMP/dev.vhost"
vp_wait_nbd "nbd+unix:///file?socket=$SOCK" "$VP_TMP/vblkd.log"

# check EXPORT: FAST_ZERO (with and without NO_HOLE) is refused with ENOTSUP
# within 0.2 s and leaves the data; WRITE_ZEROES and WRITE_ZEROES+NO_HOLE
# (one of them FUA) zero 4 MiB each.
check() {
	nbdsh -u "nbd+unix:///$1?socket=$SOCK" -c "
import errno, time
assert h.can_fast_zero() and h.can_zero()
before = h.pread(1 << 20, 0)
for flags in (nbd.CMD_FLAG_FAST_ZERO, nbd.CMD_FLAG_FAST_ZERO | nbd.CMD_FLAG_NO_HOLE):
    t = time.monotonic()
    try:
        h.zero(8 << 20, 0, flags=flags)
        raise AssertionError('FAST_ZERO (flags %d) succeeded on a slow path' % flags)
    except nbd.Error as e:
        assert e.errnum == errno.ENOTSUP, 'FAST_ZERO: expected ENOTSUP, got %s' % e
    assert time.monotonic() - t < 0.2, 'FAST_ZERO took %.3f s' % (time.monotonic() - t)
assert h.pread(1 << 20, 0) == before, 'a refused FAST_ZERO changed the data'
h.zero(4 << 20, 1 << 20)
h.zero(4 << 20, 6 << 20, flags=nbd.CMD_FLAG_NO_HOLE | nbd.CMD_FLAG_FUA)
assert h.pread(4 << 20, 1 << 20) == bytes(4 << 20), 'WRITE_ZEROES did not read back as zeroes'
assert h.pread(4 << 20, 6 << 20) == bytes(4 << 20), 'WRITE_ZEROES+NO_HOLE did not read back as zeroes'
assert h.pread(1 << 20, 5 << 20) != bytes(1 << 20), 'zeroes beyond the range'
"
}
check file || vp_fail "WRITE_ZEROES on a file without fallocate"
cmp -n $((4 << 20)) -i $((1 << 20)):0 "$RAM/file.img" /dev/zero || vp_fail "the file does not hold the zeroes"
vp_ok "file without fallocate: FAST_ZERO fails fast with ENOTSUP, WRITE_ZEROES writes zeroes"
check dev || vp_fail "WRITE_ZEROES on a block device without write-zeroes support"
cmp -n $((4 << 20)) -i $((6 << 20)):0 "$LOOP" /dev/zero || vp_fail "the device does not hold the zeroes"
vp_ok "block device without write-zeroes: WRITE_ZEROES (NO_HOLE or not) succeeds, FAST_ZERO gets ENOTSUP"

timeout 60 "$FE" "$VP_TMP/file.vhost" "$RAM/file.img" file zeroes ||
	vp_fail "vhost-user write zeroes on a file without fallocate"
timeout 60 "$FE" "$VP_TMP/dev.vhost" "$LOOP" dev zeroes ||
	vp_fail "vhost-user write zeroes on a block device without write-zeroes support"
vp_ok "vhost-user: write zeroes (unmap or not, write-back or write-through) on both read back as zeroes"
