#!/usr/bin/env bash
# csi_vblkd.sh - vblk-csi --vblkd-control with a real vblkd: Probe follows
# vblkd's health, ControllerExpandVolume reaches the export (checked with
# nbdinfo) (tests/csi/test_vblkd.py).
source "$(dirname "$0")/lib.sh"
vp_init csv
VP_PY=/usr/bin/python3
[[ -x "$VP_BUILD/bin/vblk-csi" && -x "$VP_BUILD/bin/vblkd" ]] || vp_skip "vblk-csi/vblkd not built"
"$VP_PY" -c 'import grpc, grpc_tools' 2>/dev/null || vp_skip "python3-grpcio/python3-grpc-tools missing"
vp_require_cmd nbdinfo
CTL="$VP_TMP/control.sock"
NBD="$VP_TMP/nbd.sock"
vp_start_vblkd "$VP_TMP/vblkd.log" --nbd "unix:$NBD" --control "$CTL"
"$VP_PY" "$VP_SOURCE/tests/csi/test_vblkd.py" "$VP_SOURCE" "$VP_BUILD" "$VP_TMP" "$CTL" "$NBD" "$VP_PID" ||
	{ tail -n 20 "$VP_TMP/driver.log" "$VP_TMP/vblkd.log" >&2; vp_fail "CSI with vblkd"; }
vp_ok "CSI with vblkd"
