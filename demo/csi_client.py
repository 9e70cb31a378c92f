"""csi_client.py - the demo's CSI client: one vblk-csi call per run, as a CO
(kubelet, external-provisioner) would make it, over the driver's unix socket.

usage: csi_client.py SOURCE SOCKET STUB_DIR CALL ARGS...
  probe SECONDS                          wait until Probe answers ready
  create NAME MIB [KEY=VALUE...]         CreateVolume; prints the volume ID
  stage ID STAGING_PATH KIND             NodeStageVolume
  publish ID STAGING_PATH TARGET KIND    NodePublishVolume
  unpublish ID TARGET                    NodeUnpublishVolume
  unstage ID STAGING_PATH                NodeUnstageVolume
  delete ID                              DeleteVolume

The stubs are generated from SOURCE/csi/proto/csi.proto by the test suite's
csilib (tests/csi/csilib.py) into STUB_DIR on the first call and imported
from there afterwards.  Every capability is SINGLE_NODE_WRITER.  KIND is
block, mount (the volume's fsType) or vhost-user-blk (the mount access type
with that fs_type: a vmDisk volume's socket in a target directory, as
Kubernetes' vblk-vm class asks).  A failed call prints its gRPC status and
exits 1.
"""
import inspect
import os
import sys
import time

SOURCE, SOCKET, STUBS, CALL = sys.argv[1:5]
ARGS = sys.argv[5:]
sys.path.insert(0, os.path.join(SOURCE, "tests", "csi"))
import csilib  # noqa: E402
import grpc  # noqa: E402

if os.path.exists(os.path.join(STUBS, "csi_pb2_grpc.py")):
    sys.path.insert(0, STUBS)
    import csi_pb2  # noqa: E402
    import csi_pb2_grpc  # noqa: E402
    csilib.p, csilib.g = csi_pb2, csi_pb2_grpc
else:
    csilib.load_stubs(SOURCE, STUBS)
p, g = csilib.p, csilib.g
TIMEOUT = 30  # s: a mount stage runs mkfs


def cap(kind):
    if kind not in ("block", "mount", "vhost-user-blk"):
        raise SystemExit("access type %r: block, mount or vhost-user-blk" % kind)
    if kind == "block":
        return csilib.block_cap()
    return csilib.mount_cap(fs="" if kind == "mount" else kind)


def probe(ch, seconds):
    """Probe until ready: the socket may not be there yet, vblkd not ready."""
    deadline = time.time() + float(seconds)
    while True:
        try:
            if g.IdentityStub(ch).Probe(p.ProbeRequest(), timeout=1).ready.value:
                return
            if time.time() > deadline:
                sys.exit("vblk-csi probe: not ready after %s s" % seconds)
        except grpc.RpcError:
            if time.time() > deadline:
                raise
        time.sleep(0.05)


def create(ch, name, mib, *params):
    if not all("=" in kv for kv in params):
        sys.exit("create: parameters are KEY=VALUE, got %s" % list(params))
    req = p.CreateVolumeRequest(
        name=name, capacity_range=p.CapacityRange(required_bytes=int(mib) * csilib.MIB),
        parameters=dict(kv.split("=", 1) for kv in params),
        volume_capabilities=[cap("mount"), cap("block")])
    print(g.ControllerStub(ch).CreateVolume(req, timeout=TIMEOUT).volume.volume_id)


def stage(ch, vid, staging, kind):
    g.NodeStub(ch).NodeStageVolume(p.NodeStageVolumeRequest(
        volume_id=vid, staging_target_path=staging, volume_capability=cap(kind)),
        timeout=TIMEOUT)


def publish(ch, vid, staging, target, kind):
    g.NodeStub(ch).NodePublishVolume(p.NodePublishVolumeRequest(
        volume_id=vid, staging_target_path=staging, target_path=target,
        volume_capability=cap(kind)), timeout=TIMEOUT)


def unpublish(ch, vid, target):
    g.NodeStub(ch).NodeUnpublishVolume(p.NodeUnpublishVolumeRequest(
        volume_id=vid, target_path=target), timeout=TIMEOUT)


def unstage(ch, vid, staging):
    g.NodeStub(ch).NodeUnstageVolume(p.NodeUnstageVolumeRequest(
        volume_id=vid, staging_target_path=staging), timeout=TIMEOUT)


def delete(ch, vid):
    g.ControllerStub(ch).DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=TIMEOUT)


CALLS = {"probe": probe, "create": create, "stage": stage, "publish": publish,
         "unpublish": unpublish, "unstage": unstage, "delete": delete}

if CALL not in CALLS:
    sys.exit("unknown call %r (%s)" % (CALL, ", ".join(CALLS)))
try:
    inspect.signature(CALLS[CALL]).bind(None, *ARGS)
except TypeError:
    sys.exit("%s: wrong arguments %s (see the usage in %s)" % (CALL, ARGS, __file__))
with grpc.insecure_channel("unix://" + SOCKET) as channel:
    try:
        CALLS[CALL](channel, *ARGS)
    except grpc.RpcError as e:
        sys.exit("vblk-csi %s: %s: %s" % (CALL, e.code().name, e.details()))
