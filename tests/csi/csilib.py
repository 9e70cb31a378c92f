"""csilib - shared pieces of the vblk-csi client suite.

The stubs come from the project's csi/proto/csi.proto, generated at test time
with grpc_tools.protoc into the test's temp dir, so the driver's wire format
is checked by a second protobuf and gRPC implementation (python3-grpcio).
"""
import atexit
import os
import signal
import subprocess
import sys
import time

_started = []


@atexit.register
def _kill_leftovers():
    # A failed assertion must not leave a driver behind.
    for proc in _started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

p = None  # csi_pb2
g = None  # csi_pb2_grpc


def load_stubs(source, tmp):
    """Generate csi_pb2/csi_pb2_grpc from source/csi/proto/csi.proto into tmp."""
    global p, g
    from grpc_tools import protoc
    proto = os.path.join(source, "csi", "proto")
    rc = protoc.main(["protoc", "-I" + proto, "-I/usr/include", "--python_out=" + tmp,
                      "--grpc_python_out=" + tmp, os.path.join(proto, "csi.proto")])
    if rc != 0:
        raise SystemExit("FAIL: grpc_tools.protoc could not compile csi.proto")
    sys.path.insert(0, tmp)
    import csi_pb2
    import csi_pb2_grpc
    p, g = csi_pb2, csi_pb2_grpc


class Driver:
    """One vblk-csi process on tmp/csi.sock with pool tmp/pool."""

    def __init__(self, build, tmp, node="vpt-csi-node", mode="all", extra=()):
        self.bin = os.path.join(build, "bin", "vblk-csi")
        self.sock = os.path.join(tmp, "csi.sock")
        self.pool = os.path.join(tmp, "pool")
        self.log = os.path.join(tmp, "driver.log")
        self.node = node
        self.args = ["--endpoint", "unix://" + self.sock, "--node-id", node, "--pool", self.pool,
                     "--mode", mode] + list(extra)
        self.proc = None

    def start(self, wait=True):
        import grpc
        logf = open(self.log, "a")
        self.proc = subprocess.Popen([self.bin] + self.args, stderr=logf)
        logf.close()
        _started.append(self.proc)
        if not wait:
            return self
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("vblk-csi exited with %d at start:\n%s" %
                                     (self.proc.returncode, open(self.log).read()[-2000:]))
            if os.path.exists(self.sock):
                try:
                    ch = grpc.insecure_channel("unix://" + self.sock)
                    g.IdentityStub(ch).Probe(p.ProbeRequest(), timeout=1)
                    ch.close()
                    return self
                except grpc.RpcError:
                    pass
            time.sleep(0.02)
        raise AssertionError("vblk-csi did not answer Probe within 10 s")

    def channel(self):
        import grpc
        return grpc.insecure_channel("unix://" + self.sock)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def pool_files(self):
        out = {}
        for sub in ("volumes", "lost+found"):
            d = os.path.join(self.pool, sub)
            out[sub] = sorted(os.listdir(d)) if os.path.isdir(d) else []
        return out


def code_of(fn, *args, **kw):
    """The gRPC status code fn raises (grpc.StatusCode.OK when it returns)."""
    import grpc
    try:
        fn(*args, **kw)
    except grpc.RpcError as e:
        return e.code()
    return grpc.StatusCode.OK


def expect_code(want, fn, *args, **kw):
    import grpc
    try:
        fn(*args, **kw)
    except grpc.RpcError as e:
        assert e.code() == want, "expected %s, got %s: %s" % (want, e.code(), e.details())
        assert e.details(), "error %s without a message" % e.code()
        return e.details()
    raise AssertionError("expected %s, got OK" % want)


def block_cap(mode=1):
    return p.VolumeCapability(block=p.VolumeCapability.BlockVolume(),
                              access_mode=p.VolumeCapability.AccessMode(mode=mode))


def mount_cap(mode=1, fs="", flags=()):
    return p.VolumeCapability(mount=p.VolumeCapability.MountVolume(fs_type=fs,
                                                                   mount_flags=list(flags)),
                              access_mode=p.VolumeCapability.AccessMode(mode=mode))


def volume_stats(node, vid, path):
    return node.NodeGetVolumeStats(p.NodeGetVolumeStatsRequest(
        volume_id=vid, volume_path=path), timeout=10)


def node_expand(node, vid, path, size, cap=None):
    """NodeExpandVolume to size bytes (a block capability unless cap): the
    capacity the driver answers."""
    return node.NodeExpandVolume(p.NodeExpandVolumeRequest(
        volume_id=vid, volume_path=path, capacity_range=p.CapacityRange(required_bytes=size),
        volume_capability=cap or block_cap()), timeout=10).capacity_bytes


MIB = 1 << 20


def run(tests):
    """Run (name, fn) pairs in order; stop at the first failure."""
    for name, fn in tests:
        fn()
        print("ok - %s" % name, flush=True)
