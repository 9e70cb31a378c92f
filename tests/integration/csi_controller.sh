#!/usr/bin/env bash
# csi_controller.sh - vblk-csi's Identity and Controller services walked by
# an independent client (python3-grpcio, stubs generated from csi.proto at
# test time): every RPC, error codes, idempotency, pagination, bad input,
# concurrency (tests/csi/test_controller.py).
source "$(dirname "$0")/lib.sh"
vp_init csc
VP_PY=/usr/bin/python3
[[ -x "$VP_BUILD/bin/vblk-csi" ]] || vp_skip "vblk-csi not built"
"$VP_PY" -c 'import grpc, grpc_tools' 2>/dev/null || vp_skip "python3-grpcio/python3-grpc-tools missing"
"$VP_PY" "$VP_SOURCE/tests/csi/test_controller.py" "$VP_SOURCE" "$VP_BUILD" "$VP_TMP" ||
	{ tail -n 40 "$VP_TMP/driver.log" >&2; vp_fail "CSI controller suite"; }
vp_ok "CSI controller suite"
