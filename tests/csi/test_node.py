"""The vblk-csi Node service against python3-grpcio.

usage: test_node.py SOURCE BUILD TMP
"""
import concurrent.futures
import contextlib
import errno
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import csilib  # noqa: E402
from csilib import MIB, block_cap, expect_code, mount_cap  # noqa: E402

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
    assert got == {R.STAGE_UNSTAGE_VOLUME, R.GET_VOLUME_STATS, R.EXPAND_VOLUME,
                   R.VOLUME_CONDITION, R.SINGLE_NODE_MULTI_WRITER}, got


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


SNSW = 6  # SINGLE_NODE_SINGLE_WRITER
PATTERN_AT = 3 * MIB


def staging_of(vid):
    d = os.path.join(KUBELET, "plugins", "kubernetes.io", "csi", "vblk", vid, "globalmount")
    os.makedirs(d, exist_ok=True)
    return d


def target_of(vid, pod="pod-a"):
    d = os.path.join(KUBELET, "pods", pod, "volumeDevices", "kubernetes.io~csi")
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, vid)


def stage(vid, staging=None, cap=None):
    node.NodeStageVolume(p.NodeStageVolumeRequest(
        volume_id=vid, staging_target_path=staging or staging_of(vid),
        volume_capability=cap or block_cap()), timeout=10)


def unstage(vid, staging=None):
    node.NodeUnstageVolume(p.NodeUnstageVolumeRequest(
        volume_id=vid, staging_target_path=staging or staging_of(vid)), timeout=10)


def publish(vid, target=None, readonly=False, cap=None, staging=None):
    node.NodePublishVolume(p.NodePublishVolumeRequest(
        volume_id=vid, staging_target_path=staging or staging_of(vid),
        target_path=target or target_of(vid), volume_capability=cap or block_cap(),
        readonly=readonly), timeout=10)


def unpublish(vid, target=None):
    node.NodeUnpublishVolume(p.NodeUnpublishVolumeRequest(
        volume_id=vid, target_path=target or target_of(vid)), timeout=10)


def create(name, size=8 * MIB, mode=1):
    return ctl.CreateVolume(p.CreateVolumeRequest(
        name=name, capacity_range=p.CapacityRange(required_bytes=size),
        volume_capabilities=[block_cap(mode)]), timeout=10).volume.volume_id


def pool_loops():
    """Loop devices whose backing file is in the pool."""
    out = []
    for name in os.listdir("/sys/block"):
        bf = os.path.join("/sys/block", name, "loop", "backing_file")
        if name.startswith("loop") and os.path.exists(bf):
            with open(bf) as f:
                if f.read().strip().startswith(drv.pool + "/"):
                    out.append(name)
    return out


def kubelet_mounts():
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f
                if line.split()[4].startswith(KUBELET + "/")]


def node_records():
    d = os.path.join(drv.pool, "node")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def assert_clean():
    # LOOP_CLR_FD of a device that something else holds open for a moment
    # (a udev probe after the unmount) only marks it autoclear: the kernel
    # detaches it at that last close.
    for _ in range(40):
        if not pool_loops():
            break
        time.sleep(0.05)
    assert not pool_loops(), pool_loops()
    assert not kubelet_mounts(), kubelet_mounts()
    assert not node_records(), node_records()


def is_blockdev(path):
    return stat.S_ISBLK(os.stat(path).st_mode)


CYCLES = 10


def clone_of(name, source, size):
    return ctl.CreateVolume(p.CreateVolumeRequest(
        name=name, capacity_range=p.CapacityRange(required_bytes=size),
        volume_capabilities=[block_cap()], volume_content_source=p.VolumeContentSource(
            volume=p.VolumeContentSource.VolumeSource(volume_id=source))),
        timeout=30).volume.volume_id


def cycles(name, size, body):
    """CYCLES times Create -> body (Stage ... Unstage) -> Delete: each
    cycle's volume is a clone of the one before, which it then deletes, so
    the data written in one cycle is read in the next."""
    prev = None
    for cycle in range(CYCLES):
        vid = clone_of("%s%d" % (name, cycle), prev, size) if prev else \
            create("%s%d" % (name, cycle), size=size)
        body(vid, cycle)
        assert_clean()
        if prev:
            ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=prev), timeout=10)
        prev = vid
    return prev


def block_cycle(vid, cycle):
    stage(vid)
    assert len(pool_loops()) == 1, pool_loops()
    assert node_records() == [vid + ".json"], node_records()
    publish(vid)
    t = target_of(vid)
    assert is_blockdev(t), t
    assert t in kubelet_mounts(), kubelet_mounts()
    fd = os.open(t, os.O_RDWR)
    try:
        assert os.lseek(fd, 0, os.SEEK_END) == 8 * MIB
        if cycle:
            got = os.pread(fd, 4096, PATTERN_AT)
            assert got == bytes([cycle - 1 + 0x40]) * 4096, "cycle %d: data lost" % cycle
        assert os.pwrite(fd, bytes([cycle + 0x40]) * 4096, PATTERN_AT) == 4096
        os.fsync(fd)
    finally:
        os.close(fd)
    unpublish(vid)
    assert not os.path.exists(t), t
    assert not kubelet_mounts(), kubelet_mounts()
    unstage(vid)


def t_lifecycle():
    last = cycles("vpt-csn-life", 8 * MIB, block_cycle)
    # The data went to the image itself.
    with open(os.path.join(drv.pool, "volumes", last + ".img"), "rb") as f:
        f.seek(PATTERN_AT)
        assert f.read(4096) == bytes([CYCLES - 1 + 0x40]) * 4096
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=last), timeout=10)
    assert drv.pool_files()["volumes"] == [], drv.pool_files()


def t_idempotent():
    vid = create("vpt-csn-idem")
    for _ in range(2):
        stage(vid)
    assert len(pool_loops()) == 1, pool_loops()
    for _ in range(2):
        publish(vid)
    assert kubelet_mounts().count(target_of(vid)) == 1, kubelet_mounts()
    # Published read-write there already: read-only at the same target conflicts.
    expect_code(S.ALREADY_EXISTS, publish, vid, readonly=True)
    for _ in range(2):
        unpublish(vid)
    for _ in range(2):
        unstage(vid)
    assert_clean()
    # Unpublish of a target never published and unstage of a volume never
    # staged are OK too.
    unpublish(vid, target_of(vid, "pod-never"))
    unstage(vid)
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=10)


def t_readonly():
    vid = create("vpt-csn-ro", mode=3)
    # Staged read-write: a read-only bind mount would not stop writes
    # through the device node, so a read-only publish is refused.
    stage(vid)
    expect_code(S.FAILED_PRECONDITION, publish, vid, readonly=True)
    assert not os.path.exists(target_of(vid))
    unstage(vid)
    # A reader-only access mode stages the device read-only.
    ro_cap = block_cap(3)
    stage(vid, cap=ro_cap)
    loop = pool_loops()[0]
    with open("/sys/block/%s/ro" % loop) as f:
        assert f.read().strip() == "1"
    publish(vid, readonly=True, cap=ro_cap)
    t = target_of(vid)
    with open("/proc/self/mountinfo") as f:
        opts = [line.split()[5] for line in f if line.split()[4] == t]
    assert opts and "ro" in opts[0].split(","), opts
    try:
        fd = os.open(t, os.O_RDWR)
    except OSError as e:
        assert e.errno in (errno.EROFS, errno.EACCES), e
    else:
        try:
            os.pwrite(fd, b"x" * 4096, 0)
            os.fsync(fd)
        except OSError as e:
            assert e.errno in (errno.EPERM, errno.EROFS, errno.EIO), e
        else:
            raise AssertionError("wrote through a read-only published device")
        finally:
            os.close(fd)
    with open(t, "rb") as f:
        assert f.read(4096) == bytes(4096)
    unpublish(vid)
    unstage(vid)
    assert_clean()
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=10)


def t_errors():
    vid = create("vpt-csn-err")
    unknown = "vol-0123456789abcdef"
    expect_code(S.NOT_FOUND, stage, unknown, staging_of(vid))
    expect_code(S.NOT_FOUND, publish, unknown, staging=staging_of(vid))
    expect_code(S.NOT_FOUND, unpublish, unknown, target_of(vid))
    expect_code(S.NOT_FOUND, unstage, unknown, staging_of(vid))
    r = p.NodeStageVolumeRequest
    expect_code(S.INVALID_ARGUMENT, node.NodeStageVolume, r(
        staging_target_path=staging_of(vid), volume_capability=block_cap()))
    expect_code(S.INVALID_ARGUMENT, node.NodeStageVolume, r(
        volume_id=vid, volume_capability=block_cap()))
    expect_code(S.INVALID_ARGUMENT, node.NodeStageVolume, r(
        volume_id=vid, staging_target_path=staging_of(vid)))
    expect_code(S.INVALID_ARGUMENT, stage, vid, cap=mount_cap(fs="btrfs"))
    expect_code(S.INVALID_ARGUMENT, node.NodePublishVolume, p.NodePublishVolumeRequest(
        volume_id=vid, staging_target_path=staging_of(vid), volume_capability=block_cap()))
    expect_code(S.INVALID_ARGUMENT, node.NodeUnpublishVolume,
                p.NodeUnpublishVolumeRequest(volume_id=vid))
    expect_code(S.INVALID_ARGUMENT, node.NodeUnstageVolume,
                p.NodeUnstageVolumeRequest(volume_id=vid))
    # Paths outside the kubelet directory, relative, through "..", or
    # through a symlink are refused, and nothing is made.
    outside = os.path.join(TMP, "outside")
    os.makedirs(outside, exist_ok=True)
    link = os.path.join(KUBELET, "link")
    if not os.path.islink(link):
        os.symlink(outside, link)
    for bad in (outside, "relative/dir", KUBELET, KUBELET + "/../outside", link,
                link + "/sub"):
        expect_code(S.INVALID_ARGUMENT, stage, vid, bad)
    assert_clean()
    # Publish before stage.
    expect_code(S.FAILED_PRECONDITION, publish, vid)
    stage(vid)
    expect_code(S.FAILED_PRECONDITION, stage, vid, staging_of(vid + "-other"))
    expect_code(S.FAILED_PRECONDITION, publish, vid, staging=staging_of(vid + "-other"))
    for bad in (os.path.join(outside, "t"), os.path.join(link, "t"),
                KUBELET + "/pods/../../outside/t"):
        expect_code(S.INVALID_ARGUMENT, publish, vid, bad)
    assert os.listdir(outside) == [], os.listdir(outside)
    # Something else mounted at the target is neither taken nor undone.
    foreign = target_of(vid, "pod-foreign")
    open(foreign, "w").close()
    subprocess.run(["mount", "--bind", "/dev/null", foreign], check=True)
    try:
        expect_code(S.FAILED_PRECONDITION, publish, vid, foreign)
        assert foreign in kubelet_mounts(), kubelet_mounts()
        unpublish(vid, foreign)  # not the driver's: left alone
        assert foreign in kubelet_mounts(), kubelet_mounts()
    finally:
        subprocess.run(["umount", foreign], check=True)
    os.unlink(foreign)
    # A staged volume cannot be deleted.
    expect_code(S.FAILED_PRECONDITION, ctl.DeleteVolume,
                p.DeleteVolumeRequest(volume_id=vid), timeout=10)
    publish(vid)
    # Published: unstage first is refused.
    expect_code(S.FAILED_PRECONDITION, unstage, vid)
    unpublish(vid)
    unstage(vid)
    assert_clean()
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=10)


def t_single_writer():
    vid = create("vpt-csn-snsw", mode=SNSW)
    stage(vid, cap=block_cap(SNSW))
    publish(vid, cap=block_cap(SNSW))
    second = target_of(vid, "pod-b")
    expect_code(S.FAILED_PRECONDITION, publish, vid, second, cap=block_cap(SNSW))
    assert not os.path.exists(second)
    publish(vid, cap=block_cap(SNSW))  # the same target again is fine
    unpublish(vid)
    # Two targets with SINGLE_NODE_WRITER are allowed.
    publish(vid)
    publish(vid, second)
    assert len(kubelet_mounts()) == 2, kubelet_mounts()
    unpublish(vid)
    unpublish(vid, second)
    unstage(vid)
    assert_clean()
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=10)


def stats(vid, path):
    return csilib.volume_stats(node, vid, path)


def node_expand(vid, path, size):
    return csilib.node_expand(node, vid, path, size)


def device_size(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


def t_expand():
    vid = create("vpt-csn-grow")
    stage(vid)
    publish(vid)
    t = target_of(vid)
    ctl.ControllerExpandVolume(p.ControllerExpandVolumeRequest(
        volume_id=vid, capacity_range=p.CapacityRange(required_bytes=16 * MIB),
        volume_capability=block_cap()), timeout=10)
    assert device_size(t) == 8 * MIB  # the node side has not refreshed yet
    for _ in range(2):
        assert node_expand(vid, t, 16 * MIB) == 16 * MIB
    assert device_size(t) == 16 * MIB  # what the pod sees
    expect_code(S.OUT_OF_RANGE, node_expand, vid, t, 32 * MIB)
    expect_code(S.NOT_FOUND, node_expand, vid, target_of(vid, "pod-other"), 16 * MIB)
    expect_code(S.NOT_FOUND, node_expand, "vol-0123456789abcdef", t, 16 * MIB)
    expect_code(S.INVALID_ARGUMENT, node.NodeExpandVolume,
                p.NodeExpandVolumeRequest(volume_id=vid), timeout=10)
    unpublish(vid)
    unstage(vid)
    assert_clean()
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=10)


def t_stats():
    vid = create("vpt-csn-stat")
    expect_code(S.NOT_FOUND, stats, vid, staging_of(vid))  # not staged
    stage(vid)
    publish(vid)
    t = target_of(vid)
    for path in (t, staging_of(vid)):
        got = stats(vid, path)
        assert not got.volume_condition.abnormal, got
        assert [(u.unit, u.total) for u in got.usage] == [(p.VolumeUsage.BYTES, 8 * MIB)], got
    expect_code(S.NOT_FOUND, stats, vid, target_of(vid, "pod-other"))
    expect_code(S.NOT_FOUND, stats, "vol-0123456789abcdef", t)
    expect_code(S.INVALID_ARGUMENT, node.NodeGetVolumeStats,
                p.NodeGetVolumeStatsRequest(volume_id=vid), timeout=10)
    # The image removed behind the driver's back: abnormal, with a reason.
    os.unlink(os.path.join(drv.pool, "volumes", vid + ".img"))
    got = stats(vid, t)
    assert got.volume_condition.abnormal and "gone" in got.volume_condition.message, got
    # Its device is still found, so it is still cleaned up.
    unpublish(vid)
    unstage(vid)
    assert_clean()
    # Staging it now fails, and leaves no record behind.
    expect_code(S.INTERNAL, stage, vid)
    assert_clean()
    # DeleteVolume of a volume whose image vanished while the driver runs
    # removes its record (twice: idempotent).
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=10)
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=10)
    assert not os.path.exists(os.path.join(drv.pool, "volumes", vid + ".json"))


def t_concurrent():
    """Eight volumes staged and published at once (loop devices taken in a
    race), and one volume staged and published by four calls at once."""
    vids = [create("vpt-csn-par%d" % i) for i in range(8)]
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(stage, vids))
        list(ex.map(publish, vids))
        assert len(pool_loops()) == 8, pool_loops()
        assert len(kubelet_mounts()) == 8, kubelet_mounts()
        list(ex.map(unpublish, vids))
        list(ex.map(unstage, vids))
        assert_clean()
        one = vids[0]
        list(ex.map(lambda _: stage(one), range(4)))
        assert len(pool_loops()) == 1, pool_loops()
        list(ex.map(lambda _: publish(one), range(4)))
        assert kubelet_mounts() == [target_of(one)], kubelet_mounts()
        list(ex.map(lambda _: unpublish(one), range(4)))
        list(ex.map(lambda _: unstage(one), range(4)))
    assert_clean()
    for vid in vids:
        ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=10)


def mounts_at(path):
    with open("/proc/self/mountinfo") as f:
        return [line.split() for line in f if line.split()[4] == path]


def mount_target_of(vid, pod="pod-m"):
    d = os.path.join(KUBELET, "pods", pod, "volumes", "kubernetes.io~csi")
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, vid)


def mount_cycle(vid, cycle):
    cap = mount_cap()
    stage(vid, cap=cap)
    m = mounts_at(staging_of(vid))
    assert len(m) == 1 and m[0][m[0].index("-") + 1] == "ext4", m
    t = mount_target_of(vid)
    publish(vid, t, cap=cap)
    publish(vid, t, cap=cap)  # idempotent
    assert len(mounts_at(t)) == 1, mounts_at(t)
    if cycle:
        with open(os.path.join(t, "data")) as f:
            assert f.read() == "cycle %d" % (cycle - 1), "cycle %d: data lost" % cycle
    with open(os.path.join(t, "data"), "w") as f:
        f.write("cycle %d" % cycle)
        f.flush()
        os.fsync(f.fileno())
    unpublish(vid, t)
    assert not os.path.exists(t)
    unpublish(vid, t)
    unstage(vid)
    unstage(vid)


def t_mount_lifecycle():
    log_before = len(open(drv.log).read())
    last = cycles("vpt-csn-mnt", 32 * MIB, mount_cycle)
    log = open(drv.log).read()[log_before:]
    # Formatted in the first cycle only: every later volume holds data.
    assert log.count("event=csi.node.mkfs volume=") == 1, "mkfs ran more than once"
    # An ext4 volume asked for as xfs is neither formatted over nor mounted.
    expect_code(S.FAILED_PRECONDITION, stage, last, cap=mount_cap(fs="xfs"))
    assert_clean()
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=last), timeout=10)


def t_mount_errors():
    """The mount access type's own error codes: a second target of a
    SINGLE_NODE_SINGLE_WRITER volume, a staged volume deleted, a target
    outside the kubelet directory or through a symlink, a block publish
    of a volume staged as mount."""
    vid = create("vpt-csn-merr", size=32 * MIB, mode=SNSW)
    cap = mount_cap(SNSW)
    stage(vid, cap=cap)
    outside = os.path.join(TMP, "outside")
    link = os.path.join(KUBELET, "link")
    for bad in (os.path.join(outside, "m"), os.path.join(link, "m"), "relative/m",
                KUBELET + "/pods/../../outside/m"):
        expect_code(S.INVALID_ARGUMENT, publish, vid, bad, cap=cap)
    assert os.listdir(outside) == [], os.listdir(outside)
    t, second = mount_target_of(vid, "pod-me1"), mount_target_of(vid, "pod-me2")
    publish(vid, t, cap=cap)
    expect_code(S.FAILED_PRECONDITION, publish, vid, second, cap=cap)
    assert not os.path.exists(second)
    expect_code(S.FAILED_PRECONDITION, ctl.DeleteVolume,
                p.DeleteVolumeRequest(volume_id=vid), timeout=10)
    expect_code(S.FAILED_PRECONDITION, unstage, vid)
    expect_code(S.FAILED_PRECONDITION, publish, vid, target_of(vid), cap=block_cap(SNSW))
    expect_code(S.ALREADY_EXISTS, stage, vid, cap=mount_cap(3))  # staged read-write
    unpublish(vid, t)
    unstage(vid)
    assert_clean()
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=10)


def t_mount_never_formats_data():
    vid = create("vpt-csn-part", size=16 * MIB)
    image = os.path.join(drv.pool, "volumes", vid + ".img")
    # A DOS partition table with one Linux partition from sector 2048 on.
    entry = bytes([0, 0, 0, 0, 0x83, 0, 0, 0]) + (2048).to_bytes(4, "little") + \
        (16 * MIB // 512 - 2048).to_bytes(4, "little")
    with open(image, "r+b") as f:
        f.seek(446)
        f.write(entry)
        f.seek(510)
        f.write(b"\x55\xaa")
    with open(image, "rb") as f:
        before = f.read()
    msg = expect_code(S.FAILED_PRECONDITION, stage, vid, cap=mount_cap())
    assert "partition table" in msg, msg
    with open(image, "rb") as f:
        assert f.read() == before, "a device with a partition table was written to"
    assert_clean()
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=10)


FAULTFS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "faultfs.py")


def faultfs_missing():
    """Why faultfs (FUSE, python3-fuse) cannot run here, or None."""
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing"
    if subprocess.run([sys.executable, "-c", "import fuse"], stderr=subprocess.DEVNULL).returncode:
        return "python3-fuse is not installed"
    return None


class FaultyImage:
    """A volume's image seen through faultfs (tests/csi/faultfs.py): the
    server's disk file, backed by the image, is bind-mounted over the image,
    so the loop device the driver attaches reads and writes through it."""

    def __init__(self, vid):
        self.image = os.path.join(drv.pool, "volumes", vid + ".img")
        self.mnt = os.path.join(TMP, "faultfs-" + vid)
        self.proc = None

    def __enter__(self):
        os.makedirs(self.mnt, exist_ok=True)
        with open(os.path.join(TMP, "faultfs.log"), "a") as log:
            self.proc = subprocess.Popen([sys.executable, FAULTFS, self.image, self.mnt],
                                         stderr=log)
        csilib._started.append(self.proc)
        deadline = time.time() + 10
        while not os.path.ismount(self.mnt):
            assert self.proc.poll() is None and time.time() < deadline, \
                "faultfs did not mount: " + open(os.path.join(TMP, "faultfs.log")).read()
            time.sleep(0.02)
        subprocess.run(["mount", "--bind", os.path.join(self.mnt, "disk"), self.image],
                       check=True)
        return self

    def mode(self, mode):
        with open(os.path.join(self.mnt, "ctl"), "w") as f:
            f.write(mode)

    def stats(self):
        with open(os.path.join(self.mnt, "stats")) as f:
            return json.load(f)

    def __exit__(self, exc_type, *_):
        # After a failed assertion a loop device or a mount may still hold
        # the file: undone as far as it goes, the failure itself reported.
        failed = exc_type is not None
        for loop in pool_loops() if failed else ():
            subprocess.run(["losetup", "-d", "/dev/" + loop])
        for m in (self.image, self.mnt):
            if os.path.ismount(m):
                subprocess.run(["umount"] + (["-l"] if failed else []) + [m], check=not failed)
        if failed:
            self.proc.kill()
        self.proc.wait(timeout=10)
        if not failed:
            os.rmdir(self.mnt)


def mkfs_logged(vid, log_before):
    return "event=csi.node.mkfs volume=" + vid in open(drv.log).read()[log_before:]


def t_mount_unreadable():
    """A device whose reads fail is not blank: stage answers INTERNAL
    naming the probe, mkfs never runs, nothing is left; once it reads
    again the same volume stages (and is formatted then)."""
    why = faultfs_missing()
    if why:
        print("skip: the unreadable-device test needs FUSE: " + why)
        return
    vid = create("vpt-csn-eio", size=32 * MIB)
    log_before = len(open(drv.log).read())
    with FaultyImage(vid) as img:
        img.mode("eio-read")
        for _ in range(2):  # a retry meets the same device, not a half-made stage
            msg = expect_code(S.INTERNAL, stage, vid, cap=mount_cap())
            assert "probe" in msg and "cannot read" in msg, msg
            assert_clean()
        got = img.stats()
        assert got["read_errors"] > 0, got  # the probe met the fault
        assert got["writes"] == 0, got  # mkfs never ran
        assert not mkfs_logged(vid, log_before)
        img.mode("ok")
        stage(vid, cap=mount_cap())
        m = mounts_at(staging_of(vid))
        assert len(m) == 1 and m[0][m[0].index("-") + 1] == "ext4", m
        assert mkfs_logged(vid, log_before) and img.stats()["writes"] > 0
        unstage(vid)
        assert_clean()
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=10)


def t_mount_mkfs_fails():
    """A blank device whose writes fail: mkfs fails, stage answers INTERNAL
    naming it, nothing is left; once writes go through a stage formats it
    and a pod's file is kept."""
    why = faultfs_missing()
    if why:
        print("skip: the failing-mkfs test needs FUSE: " + why)
        return
    vid = create("vpt-csn-wio", size=32 * MIB)
    cap = mount_cap()
    with FaultyImage(vid) as img:
        img.mode("eio-write")
        msg = expect_code(S.INTERNAL, stage, vid, cap=cap)
        assert "mkfs.ext4" in msg and "failed" in msg, msg
        assert img.stats()["write_errors"] > 0, img.stats()
        assert_clean()
        img.mode("ok")
        stage(vid, cap=cap)
        t = mount_target_of(vid, "pod-wio")
        publish(vid, t, cap=cap)
        with open(os.path.join(t, "data"), "w") as f:
            f.write("after the fault")
        unpublish(vid, t)
        unstage(vid)
        assert_clean()
        stage(vid, cap=cap)
        publish(vid, t, cap=cap)
        with open(os.path.join(t, "data")) as f:
            assert f.read() == "after the fault"
        unpublish(vid, t)
        unstage(vid)
        assert_clean()
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=10)


def t_mount_unreadable_journal():
    """A filesystem the probe finds but whose journal cannot be read (mkfs
    puts it mid-device): mount(2) fails, stage answers INTERNAL naming the
    mount, nothing is written or left; once it reads again the volume
    stages with its file."""
    why = faultfs_missing()
    if why:
        print("skip: the unreadable-journal test needs FUSE: " + why)
        return
    vid = create("vpt-csn-jio", size=32 * MIB)
    cap = mount_cap()
    with FaultyImage(vid) as img:
        stage(vid, cap=cap)
        with open(os.path.join(staging_of(vid), "data"), "w") as f:
            f.write("before the fault")
        unstage(vid)
        img.mode("eio-read %d %d" % (12 * MIB, 24 * MIB))
        before = img.stats()
        msg = expect_code(S.INTERNAL, stage, vid, cap=cap)
        assert "mount /dev/" in msg and "probe /dev/" not in msg, msg
        after = img.stats()
        assert after["read_errors"] > before["read_errors"], (before, after)
        assert after["writes"] == before["writes"], (before, after)
        assert_clean()
        img.mode("ok")
        stage(vid, cap=cap)
        with open(os.path.join(staging_of(vid), "data")) as f:
            assert f.read() == "before the fault"
        unstage(vid)
        assert_clean()
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=10)


@contextlib.contextmanager
def read_only_bind(path):
    """path bind-mounted read-only over itself: the driver can open it only
    for reading."""
    subprocess.run(["mount", "--bind", path, path], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", path], check=True)
        yield
    finally:
        subprocess.run(["umount", path], check=True)


def t_readonly_image():
    """An image the driver can only open for reading: a read-write stage
    answers INTERNAL naming it, for block and mount, and leaves nothing; a
    reader-only stage works, as mount once the volume holds a filesystem,
    and a blank one staged reader-only as mount is refused, never
    formatted."""
    vid = create("vpt-csn-roimg", size=32 * MIB)
    image = os.path.join(drv.pool, "volumes", vid + ".img")
    ro = mount_cap(3)
    with read_only_bind(image):
        for cap in (block_cap(), mount_cap()):
            msg = expect_code(S.INTERNAL, stage, vid, cap=cap)
            assert "Read-only file system" in msg, msg
            assert_clean()
        stage(vid, cap=block_cap(3))
        with open("/sys/block/%s/ro" % pool_loops()[0]) as f:
            assert f.read().strip() == "1"
        unstage(vid)
        assert_clean()
        msg = expect_code(S.FAILED_PRECONDITION, stage, vid, cap=ro)
        assert "blank" in msg and "read-only" in msg, msg
        assert_clean()
    with open(image, "rb") as f:
        assert f.read() == bytes(32 * MIB), "a read-only stage wrote to the image"
    stage(vid, cap=mount_cap())
    with open(os.path.join(staging_of(vid), "data"), "w") as f:
        f.write("read-write once")
    unstage(vid)
    assert_clean()
    with read_only_bind(image):
        stage(vid, cap=ro)
        with open(os.path.join(staging_of(vid), "data")) as f:
            assert f.read() == "read-write once"
        unstage(vid)
        assert_clean()
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=10)

def t_mount_readonly():
    vid = create("vpt-csn-mro", size=32 * MIB)
    cap = mount_cap()
    stage(vid, cap=cap)
    rw, ro = mount_target_of(vid, "pod-rw"), mount_target_of(vid, "pod-ro")
    publish(vid, rw, cap=cap)
    publish(vid, ro, cap=cap, readonly=True)
    with open(os.path.join(rw, "f"), "w") as f:
        f.write("x")
    try:
        open(os.path.join(ro, "g"), "w").close()
    except OSError as e:
        assert e.errno == errno.EROFS, e
    else:
        raise AssertionError("wrote into a read-only publish")
    assert os.path.exists(os.path.join(ro, "f"))
    expect_code(S.FAILED_PRECONDITION, publish, vid, target_of(vid))  # staged as mount
    unpublish(vid, ro)
    unpublish(vid, rw)
    unstage(vid)
    assert_clean()
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=10)


def mount_opts(path):
    """(per-mount options, filesystem options) of the mount at path."""
    m = mounts_at(path)
    assert len(m) == 1, m
    return set(m[0][5].split(",")), set(m[0][m[0].index("-") + 3].split(","))


def refuses_exec(directory):
    script = os.path.join(directory, "run.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
    os.chmod(script, 0o755)
    try:
        subprocess.run([script], check=True)
    except PermissionError:
        return True
    finally:
        os.unlink(script)
    return False


FLAGS = ["noexec", "noatime", "nodiratime", "sync", "errors=remount-ro"]


def t_mount_flags():
    """mount_flags: the per-mount ones on the staging mount and on each
    target's bind, sync and the filesystem's own options on the filesystem."""
    vid = create("vpt-csn-flags", size=32 * MIB)
    cap = mount_cap(flags=FLAGS)
    stage(vid, cap=cap)
    st = staging_of(vid)
    per, sb = mount_opts(st)
    assert {"noexec", "noatime", "nodiratime", "nosuid", "nodev"} <= per, per
    assert {"sync", "errors=remount-ro"} <= sb, sb
    rw, ro = mount_target_of(vid, "pod-fl-rw"), mount_target_of(vid, "pod-fl-ro")
    publish(vid, rw, cap=cap)
    publish(vid, rw, cap=cap)  # idempotent
    publish(vid, ro, cap=cap, readonly=True)
    for t, mode in ((rw, "rw"), (ro, "ro")):
        per, sb = mount_opts(t)
        assert {mode, "noexec", "noatime", "nodiratime", "nosuid", "nodev"} <= per, (t, per)
        assert "sync" in sb, sb
    assert refuses_exec(rw), "noexec not applied at the target"
    # The same call with other flags is told how the volume is staged
    # (published): the node record keeps the flags.
    other = mount_cap(flags=["noatime"])
    assert "mount_flags" in expect_code(S.ALREADY_EXISTS, stage, vid, cap=other)
    assert "mount_flags" in expect_code(S.ALREADY_EXISTS, publish, vid, rw, cap=other)
    # A crash, then what a reboot undoes (every mount, the loop device): the
    # start-up repair mounts the staging path and the targets again with
    # the recorded flags.
    ch.close()
    drv.stop(sig=signal.SIGKILL)
    for m in (rw, ro, st):
        subprocess.run(["umount", m], check=True)
    for loop in pool_loops():
        subprocess.run(["losetup", "-d", "/dev/" + loop], check=True)
    restart_after_kill()
    per, sb = mount_opts(st)
    assert {"noexec", "noatime", "nodiratime", "nosuid", "nodev"} <= per, per
    assert {"sync", "errors=remount-ro"} <= sb, sb
    for t, mode in ((rw, "rw"), (ro, "ro")):
        per, _ = mount_opts(t)
        assert {mode, "noexec", "noatime", "nodiratime", "nosuid", "nodev"} <= per, (t, per)
    assert refuses_exec(rw), "noexec not applied at the repaired target"
    # relatime (the default) once noatime is dropped: a flag changes the bind.
    plain = mount_target_of(vid, "pod-fl-plain")
    publish(vid, plain, cap=mount_cap(flags=["strictatime", "ro"]))
    per, _ = mount_opts(plain)
    assert "ro" in per and "noatime" not in per and "relatime" not in per, per
    for t in (rw, ro, plain):
        unpublish(vid, t)
    unstage(vid)
    assert_clean()
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=10)


BAD_FLAGS = [["bind"], ["rbind"], ["remount"], ["move"], ["shared"], ["rslave"],
             ["private"], ["suid"], ["dev"], ["noexec,suid"], [""], ["no exec"],
             ["x" * 200], ["noatime"] * 33, ["journal_path=/dev/sda"], ["logdev=/dev/sda"],
             ["noexec", "bind"]]


def t_mount_flags_refused():
    """A flag refused before anything is made; one the filesystem refuses
    after the device is attached: INVALID_ARGUMENT, nothing left behind."""
    vid = create("vpt-csn-badfl", size=32 * MIB)
    for flags in BAD_FLAGS:
        msg = expect_code(S.INVALID_ARGUMENT, stage, vid, cap=mount_cap(flags=flags))
        assert "mount_flags" in msg, (flags, msg)
        assert_clean()
    msg = expect_code(S.INVALID_ARGUMENT, stage, vid, cap=mount_cap(flags=["nosuchoption"]))
    assert "nosuchoption" in msg, msg
    assert_clean()
    expect_code(S.INVALID_ARGUMENT, stage, vid, cap=mount_cap(fs="vfat"))
    assert_clean()
    # At publish too: the target is not made.
    stage(vid, cap=mount_cap())
    t = mount_target_of(vid, "pod-badfl")
    for flags in (["bind"], ["remount"], ["move"], ["shared"]):
        expect_code(S.INVALID_ARGUMENT, publish, vid, t, cap=mount_cap(flags=flags))
        assert not os.path.exists(t), t
    assert kubelet_mounts() == [staging_of(vid)], kubelet_mounts()
    unstage(vid)
    assert_clean()
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=10)


def has_cap(bit):
    with open("/proc/self/status") as f:
        eff = [line for line in f if line.startswith("CapEff:")][0].split()[1]
    return bool(int(eff, 16) >> bit & 1)


def mount_stats_expand(fs, size, grown):
    vid = create("vpt-csn-g" + fs, size=size)
    cap = mount_cap(fs=fs)
    stage(vid, cap=cap)
    t = mount_target_of(vid)
    publish(vid, t, cap=cap)
    got = stats(vid, t)
    units = {u.unit: u for u in got.usage}
    assert not got.volume_condition.abnormal, got
    assert set(units) == {p.VolumeUsage.BYTES, p.VolumeUsage.INODES}, got
    b = units[p.VolumeUsage.BYTES]
    assert 0 < b.total <= size and 0 < b.available <= b.total and b.used > 0, b
    assert units[p.VolumeUsage.INODES].total > 0, got
    before = os.statvfs(t)
    ctl.ControllerExpandVolume(p.ControllerExpandVolumeRequest(
        volume_id=vid, capacity_range=p.CapacityRange(required_bytes=grown),
        volume_capability=cap), timeout=10)
    got = node.NodeExpandVolume(p.NodeExpandVolumeRequest(
        volume_id=vid, volume_path=t, capacity_range=p.CapacityRange(required_bytes=grown),
        volume_capability=cap), timeout=60).capacity_bytes
    assert got == grown, got
    after = os.statvfs(t)  # what the pod sees
    assert after.f_blocks * after.f_frsize > size >= before.f_blocks * before.f_frsize, \
        (before, after)
    unpublish(vid, t)
    unstage(vid)
    assert_clean()
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=10)


def t_mount_stats_expand():
    # xfs's smallest filesystem is 300 MB (the image is sparse).
    mount_stats_expand("xfs", 320 * MIB, 400 * MIB)
    if has_cap(24):  # CAP_SYS_RESOURCE: the kernel's condition for ext4 online resize
        mount_stats_expand("ext4", 32 * MIB, 64 * MIB)
    else:
        print("skip: ext4 online resize needs CAP_SYS_RESOURCE, which this process lacks")


def restart_after_kill():
    global drv, ch, node, ctl
    ch.close()
    drv.stop(sig=signal.SIGKILL)
    drv = csilib.Driver(BUILD, TMP, extra=["--kubelet-dir", KUBELET]).start()
    ch = drv.channel()
    node, ctl = g.NodeStub(ch), g.ControllerStub(ch)


def t_sigkill():
    """SIGKILL after Stage and after Publish: the restarted driver finishes
    the lifecycle from its records and the device it finds again."""
    vid = create("vpt-csn-kill")
    stage(vid)
    restart_after_kill()
    stage(vid)  # the CO's retry
    assert len(pool_loops()) == 1, pool_loops()
    publish(vid)
    restart_after_kill()
    publish(vid)
    assert kubelet_mounts().count(target_of(vid)) == 1, kubelet_mounts()
    unpublish(vid)
    unstage(vid)
    assert_clean()
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=10)


def t_sigkill_mount():
    """The same for the mount access type: the filesystem staged before the
    kill is not formatted again, the lifecycle finishes, nothing is left."""
    vid = create("vpt-csn-killm", size=32 * MIB)
    cap = mount_cap()
    t = mount_target_of(vid, "pod-kill")
    log_before = len(open(drv.log).read())
    stage(vid, cap=cap)
    restart_after_kill()
    stage(vid, cap=cap)
    assert len(mounts_at(staging_of(vid))) == 1, mounts_at(staging_of(vid))
    publish(vid, t, cap=cap)
    with open(os.path.join(t, "data"), "w") as f:
        f.write("before the kill")
    restart_after_kill()
    publish(vid, t, cap=cap)
    assert len(mounts_at(t)) == 1, mounts_at(t)
    with open(os.path.join(t, "data")) as f:
        assert f.read() == "before the kill"
    unpublish(vid, t)
    unstage(vid)
    assert_clean()
    assert open(drv.log).read()[log_before:].count("event=csi.node.mkfs volume=" + vid) == 1
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=10)


def t_reconcile():
    """What a reboot undoes (the loop device, the bind mounts) is made again
    at start; a target whose directory is gone is dropped from the record."""
    vid = create("vpt-csn-boot")
    stage(vid)
    publish(vid)
    gone = target_of(vid, "pod-gone")
    publish(vid, gone)
    t = target_of(vid)
    fd = os.open(t, os.O_RDWR)
    os.pwrite(fd, b"\x77" * 4096, PATTERN_AT)
    os.fsync(fd)
    os.close(fd)
    ch.close()
    drv.stop(sig=signal.SIGKILL)
    for m in (t, gone):
        subprocess.run(["umount", m], check=True)
    shutil.rmtree(os.path.dirname(os.path.dirname(gone)))
    loops = pool_loops()
    assert len(loops) == 1, loops
    subprocess.run(["losetup", "-d", "/dev/" + loops[0]], check=True)
    assert not pool_loops() and not kubelet_mounts()
    log_before = len(open(drv.log).read())
    restart_after_kill()  # the driver is down already: this only starts it
    log = open(drv.log).read()[log_before:]
    for finding in ("node-device-reattached", "node-target-remounted", "node-target-cleared"):
        assert "finding=" + finding in log, (finding, log[-2000:])
    assert len(pool_loops()) == 1, pool_loops()
    assert kubelet_mounts() == [t], kubelet_mounts()
    fd = os.open(t, os.O_RDONLY)
    assert os.pread(fd, 4096, PATTERN_AT) == b"\x77" * 4096
    os.close(fd)
    unpublish(vid, gone)
    unpublish(vid)
    unstage(vid)
    assert_clean()
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=10)


def loop_of(vid):
    image = os.path.join(drv.pool, "volumes", vid + ".img")
    for name in os.listdir("/sys/block"):
        bf = os.path.join("/sys/block", name, "loop", "backing_file")
        if name.startswith("loop") and os.path.exists(bf):
            with open(bf) as f:
                if f.read().strip() == image:
                    return "/dev/" + name
    raise AssertionError("no loop device over " + image)


def t_unrecorded():
    """At start, a mount under the kubelet directory of a pool volume's
    device that no node record lists (the record lost, or a mount made by
    hand) is reported and left alone."""
    mvid = create("vpt-csn-unrec", size=32 * MIB)
    cap = mount_cap()
    stage(mvid, cap=cap)
    mt = mount_target_of(mvid, "pod-unrec")
    publish(mvid, mt, cap=cap)
    bvid = create("vpt-csn-unrecb")
    stage(bvid)
    publish(bvid)
    extra = target_of(bvid, "pod-extra")
    open(extra, "w").close()
    subprocess.run(["mount", "--bind", target_of(bvid), extra], check=True)
    ch.close()
    drv.stop(sig=signal.SIGKILL)
    os.unlink(os.path.join(drv.pool, "node", mvid + ".json"))
    log_before = len(open(drv.log).read())
    restart_after_kill()
    log = open(drv.log).read()[log_before:]
    found = [ln for ln in log.splitlines() if "finding=node-mount-unrecorded" in ln]
    for path in (staging_of(mvid), mt, extra):
        assert [ln for ln in found if "file=%s " % path in ln], (path, found)
    assert len(found) == 3, found
    assert "no node record" in " ".join(found) and "not in volume" in " ".join(found), found
    for path in (staging_of(mvid), mt, extra, target_of(bvid)):
        assert path in kubelet_mounts(), (path, kubelet_mounts())
    # What is not the driver's is undone by hand; the rest by the driver.
    for path in (extra, mt, staging_of(mvid)):
        subprocess.run(["umount", path], check=True)
    os.unlink(extra)
    os.rmdir(mt)
    subprocess.run(["losetup", "-d", loop_of(mvid)], check=True)
    unpublish(bvid)
    unstage(bvid)
    assert_clean()
    for vid in (mvid, bvid):
        ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=10)


tests = [
    ("NodeGetInfo", t_info),
    ("NodeGetCapabilities", t_caps),
    ("services by --mode", t_modes),
    ("--kubelet-dir must be absolute", t_kubelet_dir_option),
    ("block lifecycle x%d, data kept across cycles" % CYCLES, t_lifecycle),
    ("idempotent stage/publish/unpublish/unstage", t_idempotent),
    ("readonly publish and reader-only stage", t_readonly),
    ("error codes and paths", t_errors),
    ("SINGLE_NODE_SINGLE_WRITER at a second target", t_single_writer),
    ("NodeExpandVolume (block)", t_expand),
    ("NodeGetVolumeStats and VOLUME_CONDITION", t_stats),
    ("concurrent calls", t_concurrent),
    ("mount lifecycle x%d, mkfs once, data kept" % CYCLES, t_mount_lifecycle),
    ("mount error codes and paths", t_mount_errors),
    ("mount never formats a device holding data", t_mount_never_formats_data),
    ("mount: an unreadable device is an error, not blank", t_mount_unreadable),
    ("mount: mkfs failing on write errors leaves nothing", t_mount_mkfs_fails),
    ("mount: mount(2) failing on read errors leaves nothing", t_mount_unreadable_journal),
    ("an image only readable: read-write stage refused, reader-only works",
     t_readonly_image),
    ("mount readonly publish", t_mount_readonly),
    ("mount_flags at the staging mount and the targets", t_mount_flags),
    ("mount_flags refused: INVALID_ARGUMENT, nothing left", t_mount_flags_refused),
    ("mount stats and online expand", t_mount_stats_expand),
    ("SIGKILL after Stage and after Publish", t_sigkill),
    ("SIGKILL after Stage and after Publish (mount)", t_sigkill_mount),
    ("start-up repair of node records", t_reconcile),
    ("start-up report of mounts no node record lists", t_unrecorded),
]
csilib.run(tests)
assert drv.stop() == 0
