"""The vblk-csi Node service against python3-grpcio.

usage: test_node.py SOURCE BUILD TMP
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import csilib  # noqa: E402
from csilib import expect_code  # noqa: E402

import grpc  # noqa: E402

SOURCE, BUILD, TMP = sys.argv[1:4]
csilib.load_stubs(SOURCE, TMP)
p, g = csilib.p, csilib.g
S = grpc.StatusCode
KUBELET = os.path.join(TMP, "kubelet")
os.makedirs(KUBELET, exist_ok=True)

drv = csilib.Driver(BUILD, TMP, extra=["--kubelet-dir", KUBELET]).start()
ch = drv.channel()
node = g.NodeStub(ch)
ctl = g.ControllerStub(ch)


def t_info():
    info = node.NodeGetInfo(p.NodeGetInfoRequest(), timeout=5)
    assert info.node_id == drv.node, info
    assert info.max_volumes_per_node == 256, info
    assert dict(info.accessible_topology.segments) == \
        {"topology.vblk.vplumb.dev/node": drv.node}, info


def t_caps():
    R = p.NodeServiceCapability.RPC
    got = {c.rpc.type for c in node.NodeGetCapabilities(p.NodeGetCapabilitiesRequest(),
                                                          timeout=5).capabilities}
    assert got == {R.STAGE_UNSTAGE_VOLUME, R.SINGLE_NODE_MULTI_WRITER}, got


def t_modes():
    """Node RPCs in modes all and node only; Controller RPCs not in node mode."""
    global drv, ch, node, ctl
    assert drv.stop() == 0
    for mode, has_node, has_ctl in (("node", True, False), ("controller", False, True)):
        d = csilib.Driver(BUILD, TMP, mode=mode, extra=["--kubelet-dir", KUBELET]).start()
        c = d.channel()
        n_code = csilib.code_of(g.NodeStub(c).NodeGetInfo, p.NodeGetInfoRequest(), timeout=5)
        c_code = csilib.code_of(g.ControllerStub(c).ControllerGetCapabilities,
                                p.ControllerGetCapabilitiesRequest(), timeout=5)
        assert (n_code == S.OK) == has_node, (mode, n_code)
        assert (c_code == S.OK) == has_ctl, (mode, c_code)
        if not has_node:
            assert n_code == S.UNIMPLEMENTED, n_code
        c.close()
        assert d.stop() == 0
    drv = csilib.Driver(BUILD, TMP, extra=["--kubelet-dir", KUBELET]).start()
    ch = drv.channel()
    node, ctl = g.NodeStub(ch), g.ControllerStub(ch)


def t_kubelet_dir_option():
    bad = csilib.Driver(BUILD, TMP, extra=["--kubelet-dir", "relative/dir"])
    bad.start(wait=False)
    assert bad.proc.wait(timeout=10) == 2
    assert "--kubelet-dir" in open(bad.log).read()


tests = [
    ("NodeGetInfo", t_info),
    ("NodeGetCapabilities", t_caps),
    ("services by --mode", t_modes),
    ("--kubelet-dir must be absolute", t_kubelet_dir_option),
]
csilib.run(tests)
assert drv.stop() == 0
