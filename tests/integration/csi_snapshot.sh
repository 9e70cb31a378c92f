#!/usr/bin/env bash
# csi_snapshot.sh - vblk-csi snapshots, clones and restores walked by the
# python3-grpcio client (tests/csi/test_snapshot.py): once with the pool on
# the test's temp dir (sparse copies unless it reflinks), once on a
# loop-mounted xfs made here (reflinks), when mkfs.xfs and loop devices
# are available.
source "$(dirname "$0")/lib.sh"
vp_init css
VP_PY=/usr/bin/python3
[[ -x "$VP_BUILD/bin/vblk-csi" ]] || vp_skip "vblk-csi not built"
"$VP_PY" -c 'import grpc, grpc_tools' 2>/dev/null || vp_skip "python3-grpcio/python3-grpc-tools missing"
suite="$VP_SOURCE/tests/csi/test_snapshot.py"
"$VP_PY" "$suite" "$VP_SOURCE" "$VP_BUILD" "$VP_TMP" ||
	{ tail -n 40 "$VP_TMP/driver.log" >&2; vp_fail "CSI snapshot suite"; }
vp_ok "CSI snapshot suite (pool on $(stat -f -c %T "$VP_TMP"))"

if ! command -v mkfs.xfs >/dev/null; then
	vp_log "# mkfs.xfs missing: the reflink path is not exercised"
	exit 0
fi
truncate -s 512M "$VP_TMP/xfs.img"
mkfs.xfs -q -m reflink=1 "$VP_TMP/xfs.img"
mkdir "$VP_TMP/xfs"
mount -o loop "$VP_TMP/xfs.img" "$VP_TMP/xfs" || { vp_log "# no loop mount: reflink path not exercised"; exit 0; }
vp_on_exit "umount '$VP_TMP/xfs'"
mkdir "$VP_TMP/x"
"$VP_PY" "$suite" "$VP_SOURCE" "$VP_BUILD" "$VP_TMP/x" "$VP_TMP/xfs" ||
	{ tail -n 40 "$VP_TMP/x/driver.log" >&2; vp_fail "CSI snapshot suite on xfs"; }
vp_ok "CSI snapshot suite (pool on a loop-mounted xfs: reflinks)"
