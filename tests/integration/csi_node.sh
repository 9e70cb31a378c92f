#!/usr/bin/env bash
# csi_node.sh - vblk-csi's Node service walked by an independent client
# (python3-grpcio, stubs generated from csi.proto at test time): node info,
# capabilities, the services each --mode serves, the block and mount access
# types over loop devices: ten lifecycles with data kept across cycles,
# idempotency, read-only, mount_flags, error codes, path checks, devices
# whose reads or writes fail (a FUSE file over the image, tests/csi/faultfs.py),
# SIGKILL and the start-up repair and report, nothing leaked
# (tests/csi/test_node.py).
source "$(dirname "$0")/lib.sh"
vp_init csn
VP_PY=/usr/bin/python3

# A failed run must not leave a mount or a loop device over this test's files
# (a FUSE mount a loop device still holds is detached lazily).
csn_release() {
	local m bf
	for m in $(awk -v t="$VP_TMP/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
		umount "$m" || umount -l "$m"
	done
	for bf in /sys/block/loop*/loop/backing_file; do
		[[ -e "$bf" && "$(cat "$bf")" == "$VP_TMP/"* ]] && losetup -d "/dev/$(basename "$(dirname "$(dirname "$bf")")")"
	done
}
vp_on_exit csn_release
[[ -x "$VP_BUILD/bin/vblk-csi" ]] || vp_skip "vblk-csi not built"
"$VP_PY" -c 'import grpc, grpc_tools' 2>/dev/null || vp_skip "python3-grpcio/python3-grpc-tools missing"
"$VP_PY" "$VP_SOURCE/tests/csi/test_node.py" "$VP_SOURCE" "$VP_BUILD" "$VP_TMP" ||
	{ tail -n 40 "$VP_TMP/driver.log" >&2; vp_fail "CSI node suite"; }
vp_ok "CSI node suite"
