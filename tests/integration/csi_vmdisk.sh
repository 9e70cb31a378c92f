#!/usr/bin/env bash
# csi_vmdisk.sh - vmDisk volumes of vblk-csi with a real vblkd: stage has
# vblkd export the image and serve it as vhost-user-blk, publish bind-mounts
# the socket on the target (block) or its directory on a target directory
# (fs_type vhost-user-blk), the test front end (tests/tools/vhost_frontend.c)
# writes through the published socket and reads the data back after a full
# unpublish/unstage/stage/publish cycle; idempotency, error codes, SIGKILL,
# stats and expand seen by the front end, the start-up report of exports and
# binds no record lists, nothing leaked (no mount, socket, export or node
# record) (tests/csi/test_vmdisk.py).
source "$(dirname "$0")/lib.sh"
vp_init cvm
VP_PY=/usr/bin/python3

# A failed run must not leave a mount over this test's files.
cvm_release() {
	local m
	for m in $(awk -v t="$VP_TMP/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
		umount "$m"
	done
}
vp_on_exit cvm_release
[[ -x "$VP_BUILD/bin/vblk-csi" && -x "$VP_BUILD/bin/vblkd" ]] || vp_skip "vblk-csi/vblkd not built"
[[ -x "$VP_BUILD/tests/vhost_frontend" ]] || vp_skip "vhost_frontend not built"
"$VP_PY" -c 'import grpc, grpc_tools' 2>/dev/null || vp_skip "python3-grpcio/python3-grpc-tools missing"
CTL="$VP_TMP/control.sock"
mkdir -p "$VP_TMP/pool/volumes"
vp_start_vblkd "$VP_TMP/vblkd.log" --control "$CTL" --image-root "$VP_TMP/pool/volumes"
"$VP_PY" "$VP_SOURCE/tests/csi/test_vmdisk.py" "$VP_SOURCE" "$VP_BUILD" "$VP_TMP" "$CTL" ||
	{ tail -n 30 "$VP_TMP/driver.log" "$VP_TMP/vblkd.log" >&2; vp_fail "CSI vmDisk suite"; }
vp_ok "CSI vmDisk suite"
