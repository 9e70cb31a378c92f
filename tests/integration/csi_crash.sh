#!/usr/bin/env bash
# csi_crash.sh - vblk-csi killed (SIGKILL) in the middle of CreateVolume,
# DeleteVolume, CreateSnapshot and DeleteSnapshot, then restarted: the same
# calls give one volume or snapshot per name, no
# orphan image, no lost record; SIGTERM under load drains and exits 0
# (tests/csi/test_crash.py).
source "$(dirname "$0")/lib.sh"
vp_init csk
VP_PY=/usr/bin/python3
[[ -x "$VP_BUILD/bin/vblk-csi" ]] || vp_skip "vblk-csi not built"
"$VP_PY" -c 'import grpc, grpc_tools' 2>/dev/null || vp_skip "python3-grpcio/python3-grpc-tools missing"
"$VP_PY" "$VP_SOURCE/tests/csi/test_crash.py" "$VP_SOURCE" "$VP_BUILD" "$VP_TMP" ||
	{ tail -n 40 "$VP_TMP/driver.log" >&2; vp_fail "CSI crash suite"; }
vp_ok "CSI crash suite"
