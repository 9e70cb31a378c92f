"""vblk-csi with --vblkd-control against a real vblkd: Probe is ready only
while vblkd answers, and ControllerExpandVolume of a volume vblkd serves
(as the export named by the volume ID) reaches vblkd, so new NBD clients
see the new size at once.

usage: test_vblkd.py SOURCE BUILD TMP CONTROL_SOCKET NBD_SOCKET VBLKD_PID
"""
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import csilib  # noqa: E402
from csilib import MIB, block_cap, expect_code  # noqa: E402

import grpc  # noqa: E402

SOURCE, BUILD, TMP, CTL, NBD, VBLKD_PID = sys.argv[1:7]
csilib.load_stubs(SOURCE, TMP)
p, g = csilib.p, csilib.g
S = grpc.StatusCode

drv = csilib.Driver(BUILD, TMP, extra=["--vblkd-control", CTL]).start()
ch = drv.channel()
ident = g.IdentityStub(ch)
ctl = g.ControllerStub(ch)
VBLKCTL = os.path.join(BUILD, "bin", "vblkctl")


def nbd_size(name):
    out = subprocess.run(["nbdinfo", "--size", "nbd+unix:///%s?socket=%s" % (name, NBD)],
                         check=True, capture_output=True, text=True).stdout
    return int(out)


def expand(vid, size):
    return ctl.ControllerExpandVolume(p.ControllerExpandVolumeRequest(
        volume_id=vid, capacity_range=p.CapacityRange(required_bytes=size)), timeout=10)


def t_probe_ready():
    assert ident.Probe(p.ProbeRequest()).ready.value


def t_expand_served():
    v = ctl.CreateVolume(p.CreateVolumeRequest(
        name="vpt-csi-served", capacity_range=p.CapacityRange(required_bytes=4 * MIB),
        volume_capabilities=[block_cap()])).volume
    img = os.path.join(drv.pool, "volumes", v.volume_id + ".img")
    subprocess.run([VBLKCTL, "--control", CTL, "export", "add", v.volume_id, img], check=True,
                   capture_output=True)
    assert nbd_size(v.volume_id) == 4 * MIB
    assert expand(v.volume_id, 12 * MIB).capacity_bytes == 12 * MIB
    assert nbd_size(v.volume_id) == 12 * MIB, "vblkd did not learn the new size"
    # In use (vblkd serves it): not deleted.
    msg = expect_code(S.FAILED_PRECONDITION, ctl.DeleteVolume,
                      p.DeleteVolumeRequest(volume_id=v.volume_id))
    assert "in use" in msg and os.path.exists(img), msg
    subprocess.run([VBLKCTL, "--control", CTL, "export", "remove", v.volume_id], check=True,
                   capture_output=True)
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=v.volume_id))
    assert not os.path.exists(img)
    # A volume vblkd does not serve is grown alone.
    w = ctl.CreateVolume(p.CreateVolumeRequest(name="vpt-csi-unserved",
                                               volume_capabilities=[block_cap()])).volume
    assert expand(w.volume_id, w.capacity_bytes + MIB).capacity_bytes == w.capacity_bytes + MIB


def t_probe_without_vblkd():
    os.kill(int(VBLKD_PID), signal.SIGTERM)
    for _ in range(100):
        try:
            os.kill(int(VBLKD_PID), 0)
        except ProcessLookupError:
            break
        import time
        time.sleep(0.05)
    msg = expect_code(S.FAILED_PRECONDITION, ident.Probe, p.ProbeRequest())
    assert "vblkd" in msg, msg
    # Without vblkd to ask, a volume is not deleted (it might be in use).
    v = ctl.CreateVolume(p.CreateVolumeRequest(name="vpt-csi-unserved",
                                               volume_capabilities=[block_cap()])).volume
    expect_code(S.UNAVAILABLE, ctl.DeleteVolume, p.DeleteVolumeRequest(volume_id=v.volume_id))
    assert ctl.ControllerGetVolume(p.ControllerGetVolumeRequest(volume_id=v.volume_id)).volume


csilib.run([
    ("Probe ready with vblkd answering", t_probe_ready),
    ("ControllerExpandVolume tells vblkd (nbdinfo sees the new size); DeleteVolume of a "
     "served volume FAILED_PRECONDITION", t_expand_served),
    ("Probe FAILED_PRECONDITION, DeleteVolume UNAVAILABLE once vblkd is gone",
     t_probe_without_vblkd),
])
assert drv.stop() == 0
