"""vmDisk volumes of vblk-csi with a real vblkd: NodeStageVolume has vblkd
export the image (under the volume ID) and serve it as vhost-user-blk,
NodePublishVolume bind-mounts that socket on the target file (block access
type) or the directory holding it, as disk.sock, on a target directory (mount
access type, fs_type vhost-user-blk); data written through the published
socket by the test front end survives a full unpublish/unstage/stage/publish
cycle.

usage: test_vmdisk.py SOURCE BUILD TMP CONTROL_SOCKET
"""
import errno
import json
import os
import signal
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import csilib  # noqa: E402
from csilib import MIB, block_cap, expect_code, mount_cap  # noqa: E402

import grpc  # noqa: E402

SOURCE, BUILD, TMP, CTL = sys.argv[1:5]
csilib.load_stubs(SOURCE, TMP)
p, g = csilib.p, csilib.g
S = grpc.StatusCode
KUBELET = os.path.join(TMP, "kubelet")
os.makedirs(KUBELET, exist_ok=True)
VBLKCTL = os.path.join(BUILD, "bin", "vblkctl")
FE = os.path.join(BUILD, "tests", "vhost_frontend")
SNSW = 6  # SINGLE_NODE_SINGLE_WRITER
VHOST = "vhost-user-blk"

drv = node = ctl = None


def start(with_vblkd):
    global drv, node, ctl
    extra = ["--kubelet-dir", KUBELET] + (["--vblkd-control", CTL] if with_vblkd else [])
    drv = csilib.Driver(BUILD, TMP, extra=extra).start()
    ch = drv.channel()
    node, ctl = g.NodeStub(ch), g.ControllerStub(ch)


def staging_of(vid):
    d = os.path.join(KUBELET, "plugins", "kubernetes.io", "csi", "vblk", vid, "globalmount")
    os.makedirs(d, exist_ok=True)
    return d


def target_of(vid, pod="pod-a"):
    d = os.path.join(KUBELET, "pods", pod, "volumeDevices", "kubernetes.io~csi")
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, vid)


def stage(vid, cap=None):
    node.NodeStageVolume(p.NodeStageVolumeRequest(
        volume_id=vid, staging_target_path=staging_of(vid),
        volume_capability=cap or block_cap()), timeout=10)


def unstage(vid):
    node.NodeUnstageVolume(p.NodeUnstageVolumeRequest(
        volume_id=vid, staging_target_path=staging_of(vid)), timeout=10)


def publish(vid, target=None, readonly=False, cap=None):
    node.NodePublishVolume(p.NodePublishVolumeRequest(
        volume_id=vid, staging_target_path=staging_of(vid), target_path=target or target_of(vid),
        volume_capability=cap or block_cap(), readonly=readonly), timeout=10)


def unpublish(vid, target=None):
    node.NodeUnpublishVolume(p.NodeUnpublishVolumeRequest(
        volume_id=vid, target_path=target or target_of(vid)), timeout=10)


def exports():
    out = subprocess.run([VBLKCTL, "--control", CTL, "--json", "export", "list"], check=True,
                         capture_output=True, text=True).stdout
    return [e["name"] for e in json.loads(out)["exports"]]


def served(vid):
    return vid in exports()


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [ln.split()[4] for ln in f if ln.split()[4].startswith(path)]


def socket_of(vid):
    return os.path.join(drv.pool, "node", "sockets", vid + ".sock")


def record_of(vid):
    return os.path.join(drv.pool, "node", vid + ".json")


def frontend(sock, *args, vid=None):
    """The test front end on sock; smoke also checks the volume's image file."""
    vid = vid or VID
    img = os.path.join(drv.pool, "volumes", vid + ".img")
    out = subprocess.run([FE, sock, img, vid] + list(args),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, (args, out.stdout, out.stderr)


def create(name, mode=1):
    return ctl.CreateVolume(p.CreateVolumeRequest(
        name=name, capacity_range=p.CapacityRange(required_bytes=64 * MIB),
        parameters={"vmDisk": "true"}, volume_capabilities=[block_cap(mode)]),
        timeout=10).volume.volume_id


VID = None
DIR_VID = None


def t_directory_publish_first():
    global DIR_VID
    DIR_VID = t_directory_publish()


def t_needs_vblkd():
    global VID
    start(with_vblkd=False)
    VID = create("vpt-csi-vmdisk")
    msg = expect_code(S.FAILED_PRECONDITION, node.NodeStageVolume, p.NodeStageVolumeRequest(
        volume_id=VID, staging_target_path=staging_of(VID), volume_capability=block_cap()),
        timeout=10)
    assert "--vblkd-control" in msg, msg
    assert not os.path.exists(record_of(VID))
    assert drv.stop() == 0
    start(with_vblkd=True)


def t_mount_use_first():
    """The mount access type of a vmDisk volume is a filesystem on a loop
    device, as for any volume (vblkd does not serve it meanwhile); then the
    same volume is a vmDisk (block) volume (t_lifecycle)."""
    target = os.path.join(KUBELET, "pods", "pod-m", "volumes", "kubernetes.io~csi", VID, "mount")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    for _ in range(2):
        stage(VID, mount_cap())
        publish(VID, target=target, cap=mount_cap())
    assert not served(VID), exports()
    rec = json.load(open(record_of(VID)))
    assert rec["vmDisk"] is False and rec["fsType"] == "ext4", rec
    assert mounts_under(target) == [target], mounts_under(target)
    with open(os.path.join(target, "hello.txt"), "w") as f:
        f.write("written through the mount\n")
    # Staged as mount: publishing it as block (the socket) is refused.
    expect_code(S.FAILED_PRECONDITION, node.NodePublishVolume, p.NodePublishVolumeRequest(
        volume_id=VID, staging_target_path=staging_of(VID), target_path=target_of(VID),
        volume_capability=block_cap()), timeout=10)
    unpublish(VID, target)
    unstage(VID)
    assert not mounts_under(KUBELET) and not os.path.exists(record_of(VID))
    assert not os.path.exists(target_of(VID))


def t_foreign_export():
    """An export of the volume's name the driver did not make is not taken
    over, nor removed."""
    img = os.path.join(drv.pool, "volumes", VID + ".img")
    subprocess.run([VBLKCTL, "--control", CTL, "export", "add", VID, img], check=True,
                   capture_output=True)
    msg = expect_code(S.FAILED_PRECONDITION, node.NodeStageVolume, p.NodeStageVolumeRequest(
        volume_id=VID, staging_target_path=staging_of(VID), volume_capability=block_cap()),
        timeout=10)
    assert "not made by this driver" in msg, msg
    assert served(VID) and not os.path.exists(record_of(VID))
    # Reported at start, and left alone.
    log_before = len(open(drv.log).read())
    assert drv.stop() == 0
    start(with_vblkd=True)
    log = open(drv.log).read()[log_before:]
    assert "finding=node-export-unrecorded file=%s " % VID in log, log[-2000:]
    assert served(VID) and not os.path.exists(record_of(VID))
    subprocess.run([VBLKCTL, "--control", CTL, "export", "remove", VID], check=True,
                   capture_output=True)


def t_lifecycle():
    target = target_of(VID)
    for _ in range(2):
        stage(VID)
    assert served(VID), exports()
    assert stat.S_ISSOCK(os.stat(socket_of(VID)).st_mode)
    assert json.load(open(record_of(VID)))["vmDisk"] is True
    for _ in range(2):
        publish(VID)
    assert stat.S_ISSOCK(os.stat(target).st_mode), "target is not the socket"
    assert mounts_under(target) == [target], mounts_under(target)
    # Read-only, and a second target of a SINGLE_NODE_SINGLE_WRITER mode: refused.
    msg = expect_code(S.INVALID_ARGUMENT, node.NodePublishVolume, p.NodePublishVolumeRequest(
        volume_id=VID, staging_target_path=staging_of(VID), target_path=target_of(VID, "pod-b"),
        volume_capability=block_cap(), readonly=True), timeout=10)
    assert "read-only" in msg, msg
    msg = expect_code(S.FAILED_PRECONDITION, node.NodePublishVolume, p.NodePublishVolumeRequest(
        volume_id=VID, staging_target_path=staging_of(VID), target_path=target_of(VID, "pod-b"),
        volume_capability=block_cap(SNSW)), timeout=10)
    assert not os.path.exists(target_of(VID, "pod-b"))
    # Staged and published: not unstaged, not deleted.
    expect_code(S.FAILED_PRECONDITION, node.NodeUnstageVolume, p.NodeUnstageVolumeRequest(
        volume_id=VID, staging_target_path=staging_of(VID)), timeout=10)
    frontend(target, "smoke")
    frontend(target, "pattern", "write", "4242")
    frontend(target, "pattern", "check", "4242")
    for _ in range(2):
        unpublish(VID)
    assert not os.path.exists(target) and not mounts_under(target)
    expect_code(S.FAILED_PRECONDITION, ctl.DeleteVolume,
                p.DeleteVolumeRequest(volume_id=VID), timeout=10)
    for _ in range(2):
        unstage(VID)
    assert not served(VID), exports()
    assert not os.path.exists(socket_of(VID)) and not os.path.exists(record_of(VID))
    # Again: the data written before is read back through the new socket.
    stage(VID)
    publish(VID)
    frontend(target, "pattern", "check", "4242")
    unpublish(VID)
    unstage(VID)
    assert not served(VID) and not os.path.exists(target)


def t_unrecorded_socket():
    """A bind of a vmDisk volume's socket that its record does not list
    is reported at start and left alone."""
    stage(VID)
    publish(VID)
    extra = target_of(VID, "pod-extra")
    open(extra, "w").close()
    subprocess.run(["mount", "--bind", socket_of(VID), extra], check=True)
    log_before = len(open(drv.log).read())
    assert drv.stop() == 0
    start(with_vblkd=True)
    log = open(drv.log).read()[log_before:]
    found = [ln for ln in log.splitlines() if "finding=node-mount-unrecorded" in ln]
    assert len(found) == 1 and "file=%s " % extra in found[0], found
    assert "finding=node-export-unrecorded" not in log, log[-2000:]
    assert mounts_under(extra) == [extra], mounts_under(extra)
    subprocess.run(["umount", extra], check=True)
    os.unlink(extra)
    unpublish(VID)
    unstage(VID)
    assert not served(VID) and not os.path.exists(record_of(VID))


def vblkd_forgets(vid):
    """What a restarted vblkd has lost: the export and its vhost-user socket."""
    subprocess.run([VBLKCTL, "--control", CTL, "vhost", "remove", vid], check=True,
                   capture_output=True)
    subprocess.run([VBLKCTL, "--control", CTL, "export", "remove", vid], check=True,
                   capture_output=True)


def t_restaged_after_vblkd_lost_it():
    """An export vblkd lost (restarted) is served again by publish, and a
    target still bound to the old socket is bound to the new one."""
    stage(VID)
    vblkd_forgets(VID)
    publish(VID)
    frontend(target_of(VID), "pattern", "check", "4242")
    vblkd_forgets(VID)
    publish(VID)
    assert mounts_under(target_of(VID)) == [target_of(VID)], mounts_under(target_of(VID))
    frontend(target_of(VID), "pattern", "check", "4242")
    # The driver restarted after vblkd lost it: served and bound again at start.
    assert drv.stop() == 0
    vblkd_forgets(VID)
    start(with_vblkd=True)
    assert served(VID), exports()
    assert mounts_under(target_of(VID)) == [target_of(VID)], mounts_under(target_of(VID))
    frontend(target_of(VID), "pattern", "check", "4242")
    unpublish(VID)
    unstage(VID)
    assert not served(VID)


def restart_after_kill():
    drv.stop(sig=signal.SIGKILL)
    start(with_vblkd=True)


def t_sigkill():
    """SIGKILL of the driver after Stage and after Publish: the restarted
    driver keeps vblkd's export, finishes the lifecycle, and leaves no
    export, socket, mount or record."""
    stage(VID)
    restart_after_kill()
    stage(VID)  # the CO's retry
    assert exports().count(VID) == 1, exports()
    publish(VID)
    restart_after_kill()
    publish(VID)
    assert mounts_under(target_of(VID)) == [target_of(VID)], mounts_under(target_of(VID))
    frontend(target_of(VID), "pattern", "check", "4242")
    unpublish(VID)
    unstage(VID)
    assert not served(VID) and not os.path.exists(socket_of(VID))
    assert not os.path.exists(record_of(VID)) and not mounts_under(KUBELET)


def dir_target_of(vid, pod="pod-d"):
    """A Filesystem volume's target as kubelet names it (kubelet makes the parent)."""
    d = os.path.join(KUBELET, "pods", pod, "volumes", "kubernetes.io~csi", vid)
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, "mount")


def socket_dir_of(vid):
    return os.path.join(drv.pool, "node", "sockets", vid)


def vhost_cap(mode=1, flags=()):
    return mount_cap(mode, fs=VHOST, flags=flags)


def dir_stage(vid):
    stage(vid, vhost_cap())


def dir_publish(vid, target=None, readonly=False, mode=1):
    publish(vid, target or dir_target_of(vid), readonly=readonly, cap=vhost_cap(mode))


def dir_gone(vid):
    """Nothing of vid left: no mount, socket (directory), export or record."""
    assert not served(vid), exports()
    assert not os.path.exists(socket_dir_of(vid)) and not os.path.exists(record_of(vid))
    assert not mounts_under(KUBELET), mounts_under(KUBELET)
    assert not os.path.exists(dir_target_of(vid))


def t_vhost_fs_type_refused():
    """fs_type vhost-user-blk is for vmDisk volumes only: CreateVolume,
    ValidateVolumeCapabilities and NodeStageVolume of another volume say so."""
    msg = expect_code(S.INVALID_ARGUMENT, ctl.CreateVolume, p.CreateVolumeRequest(
        name="vpt-csi-vmdir-plain", capacity_range=p.CapacityRange(required_bytes=64 * MIB),
        volume_capabilities=[vhost_cap()]), timeout=10)
    assert "vmDisk" in msg, msg
    plain = ctl.CreateVolume(p.CreateVolumeRequest(
        name="vpt-csi-vmdir-plain", capacity_range=p.CapacityRange(required_bytes=64 * MIB),
        volume_capabilities=[mount_cap()]), timeout=10).volume.volume_id
    r = ctl.ValidateVolumeCapabilities(p.ValidateVolumeCapabilitiesRequest(
        volume_id=plain, volume_capabilities=[vhost_cap()]), timeout=10)
    assert not r.HasField("confirmed") and "vmDisk" in r.message, r
    r = ctl.ValidateVolumeCapabilities(p.ValidateVolumeCapabilitiesRequest(
        volume_id=VID, volume_capabilities=[vhost_cap()]), timeout=10)
    assert r.HasField("confirmed"), r
    msg = expect_code(S.INVALID_ARGUMENT, node.NodeStageVolume, p.NodeStageVolumeRequest(
        volume_id=plain, staging_target_path=staging_of(plain), volume_capability=vhost_cap()),
        timeout=10)
    assert "vmDisk" in msg, msg
    assert not os.path.exists(record_of(plain))
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=plain), timeout=10)


def t_directory_publish():
    """A vmDisk volume staged with fs_type vhost-user-blk: vblkd's socket in
    a directory of the pool, bound read-only on the target directory, where
    the front end finds it as disk.sock; the data survives a restage; the
    errors and repeated calls of the block vmDisk publish; stats and expand
    on the target directory."""
    vid = create("vpt-csi-vmdir")
    target, sock_dir = dir_target_of(vid), socket_dir_of(vid)
    for _ in range(2):
        dir_stage(vid)
    assert served(vid), exports()
    assert stat.S_ISSOCK(os.stat(os.path.join(sock_dir, "disk.sock")).st_mode)
    assert not os.path.exists(socket_of(vid))
    rec = json.load(open(record_of(vid)))
    assert rec["vmDisk"] is True and rec["fsType"] == VHOST, rec
    assert not mounts_under(staging_of(vid)), "something is mounted at the staging path"
    # Staged so: other access types and mount_flags are refused.
    msg = expect_code(S.ALREADY_EXISTS, node.NodeStageVolume, p.NodeStageVolumeRequest(
        volume_id=vid, staging_target_path=staging_of(vid), volume_capability=block_cap()),
        timeout=10)
    assert VHOST in msg, msg
    expect_code(S.ALREADY_EXISTS, node.NodeStageVolume, p.NodeStageVolumeRequest(
        volume_id=vid, staging_target_path=staging_of(vid), volume_capability=mount_cap()),
        timeout=10)
    msg = expect_code(S.INVALID_ARGUMENT, node.NodeStageVolume, p.NodeStageVolumeRequest(
        volume_id=vid, staging_target_path=staging_of(vid),
        volume_capability=vhost_cap(flags=["noatime"])), timeout=10)
    assert "mount_flags" in msg, msg
    for _ in range(2):
        dir_publish(vid)
    assert stat.S_ISDIR(os.lstat(target).st_mode)
    assert mounts_under(target) == [target], mounts_under(target)
    sock = os.path.join(target, "disk.sock")
    assert stat.S_ISSOCK(os.stat(sock).st_mode), "no disk.sock in the target"
    assert os.statvfs(target).f_flag & os.ST_RDONLY, "the target is writable"
    try:
        open(os.path.join(target, "junk"), "w").close()
        raise AssertionError("a file was created in the target")
    except OSError as e:
        assert e.errno == errno.EROFS, e
    # Read-only, a second SINGLE_NODE_SINGLE_WRITER target, the block access type: refused.
    other = dir_target_of(vid, "pod-e")
    msg = expect_code(S.INVALID_ARGUMENT, dir_publish, vid, other, readonly=True)
    assert "read-only" in msg, msg
    expect_code(S.FAILED_PRECONDITION, dir_publish, vid, other, mode=SNSW)
    assert not os.path.exists(other)
    msg = expect_code(S.FAILED_PRECONDITION, publish, vid, target_of(vid))
    assert VHOST in msg, msg
    assert not os.path.exists(target_of(vid))
    expect_code(S.FAILED_PRECONDITION, unstage, vid)
    frontend(sock, "smoke", vid=vid)
    frontend(sock, "pattern", "write", "5151", vid=vid)
    got = stats(vid, target)
    assert not got.volume_condition.abnormal, got
    assert [(u.unit, u.total) for u in got.usage] == [(p.VolumeUsage.BYTES, 64 * MIB)], got
    # Expanded on the target directory, as kubelet asks for a Filesystem volume.
    ctl.ControllerExpandVolume(p.ControllerExpandVolumeRequest(
        volume_id=vid, capacity_range=p.CapacityRange(required_bytes=96 * MIB),
        volume_capability=vhost_cap()), timeout=10)
    before = vblkd_resizes()
    assert node_expand(vid, target, 96 * MIB) == 96 * MIB
    assert vblkd_resizes() == before + 1, "NodeExpandVolume did not tell vblkd"
    assert stats(vid, target).usage[0].total == 96 * MIB
    for _ in range(2):
        unpublish(vid, target)
    assert not os.path.exists(target) and not mounts_under(target)
    for _ in range(2):
        unstage(vid)
    dir_gone(vid)
    # Again: the data written before is read back through the new socket.
    dir_stage(vid)
    dir_publish(vid)
    frontend(sock, "pattern", "check", "5151", vid=vid)
    unpublish(vid, target)
    unstage(vid)
    dir_gone(vid)
    return vid


def t_directory_survives():
    """What a pod holds (kubelet's rbind of the target) sees the socket vblkd
    makes again after it lost the export; SIGKILL of the driver, a target
    unmounted behind its back and a bind no record lists: reconciled at
    start, the lifecycle finishes with nothing left."""
    vid = DIR_VID
    target = dir_target_of(vid)
    dir_stage(vid)
    dir_publish(vid)
    pod_view = os.path.join(TMP, "pod-root", "vm")
    os.makedirs(pod_view, exist_ok=True)
    subprocess.run(["mount", "--rbind", target, pod_view], check=True)
    try:
        vblkd_forgets(vid)
        dir_publish(vid)  # serves it again: a new socket in the same directory
        frontend(os.path.join(pod_view, "disk.sock"), "pattern", "check", "5151", vid=vid)
    finally:
        subprocess.run(["umount", "-R", pod_view], check=True)
    restart_after_kill()
    dir_publish(vid)
    assert mounts_under(target) == [target], mounts_under(target)
    # Unmounted behind the driver's back, vblkd restarted: both made again at start.
    subprocess.run(["umount", target], check=True)
    extra = dir_target_of(vid, "pod-extra")
    os.makedirs(extra)
    subprocess.run(["mount", "--bind", socket_dir_of(vid), extra], check=True)
    log_before = len(open(drv.log).read())
    assert drv.stop() == 0
    vblkd_forgets(vid)
    start(with_vblkd=True)
    log = open(drv.log).read()[log_before:]
    assert "finding=node-target-remounted file=%s " % target in log, log[-2000:]
    found = [ln for ln in log.splitlines() if "finding=node-mount-unrecorded" in ln]
    assert len(found) == 1 and "file=%s " % extra in found[0], found
    subprocess.run(["umount", extra], check=True)
    os.rmdir(extra)
    assert served(vid), exports()
    assert mounts_under(target) == [target], mounts_under(target)
    frontend(os.path.join(target, "disk.sock"), "pattern", "check", "5151", vid=vid)
    unpublish(vid, target)
    unstage(vid)
    dir_gone(vid)


def t_three_uses():
    """The same volume after its directory publish: published as the socket
    itself, then staged as ext4 for a container (mkfs on the blank probe),
    its file kept across a restage, then a VM's disk in a directory again."""
    vid = DIR_VID
    stage(vid)
    publish(vid)
    frontend(target_of(vid), "pattern", "check", "5151", vid=vid)
    unpublish(vid)
    unstage(vid)
    assert not os.path.exists(socket_of(vid)) and not served(vid)
    target = dir_target_of(vid, "pod-fs")
    for i in range(2):
        stage(vid, mount_cap())
        publish(vid, target=target, cap=mount_cap())
        assert not served(vid), exports()
        rec = json.load(open(record_of(vid)))
        assert rec["vmDisk"] is False and rec["fsType"] == "ext4", rec
        f = os.path.join(target, "hello.txt")
        if i == 0:
            with open(f, "w") as out:
                out.write("written through the mount\n")
        else:
            assert open(f).read() == "written through the mount\n"
        # Staged as ext4: the directory publish is refused.
        expect_code(S.FAILED_PRECONDITION, dir_publish, vid)
        unpublish(vid, target)
        unstage(vid)
        assert not mounts_under(KUBELET) and not os.path.exists(record_of(vid))
    dir_stage(vid)
    dir_publish(vid)
    frontend(os.path.join(dir_target_of(vid), "disk.sock"), "smoke", vid=vid)
    unpublish(vid, dir_target_of(vid))
    unstage(vid)
    dir_gone(vid)
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=10)


def stats(vid, path):
    return csilib.volume_stats(node, vid, path)


def node_expand(vid, path, size):
    return csilib.node_expand(node, vid, path, size)


def vblkd_resizes():
    with open(os.path.join(TMP, "vblkd.log")) as f:
        return f.read().count("image.resized")


def t_stats_expand():
    """Stats of a vmDisk volume: the image's size; abnormal once vblkd no
    longer exports it or the image is gone.  NodeExpandVolume tells vblkd,
    and a connected front end sees the new capacity."""
    vid = create("vpt-csi-vmstat")
    stage(vid)
    publish(vid)
    t = target_of(vid)
    for path in (t, staging_of(vid)):
        got = stats(vid, path)
        assert not got.volume_condition.abnormal, got
        assert [(u.unit, u.total) for u in got.usage] == [(p.VolumeUsage.BYTES, 64 * MIB)], got
    expect_code(S.NOT_FOUND, stats, vid, target_of(vid, "pod-other"))
    img = os.path.join(drv.pool, "volumes", vid + ".img")
    fe = subprocess.Popen([FE, t, img, vid, "await-size", str(96 * MIB)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert fe.stdout.readline().strip() == "connected", fe.stderr.read()
        ctl.ControllerExpandVolume(p.ControllerExpandVolumeRequest(
            volume_id=vid, capacity_range=p.CapacityRange(required_bytes=96 * MIB),
            volume_capability=block_cap()), timeout=10)
        before = vblkd_resizes()
        for _ in range(2):
            assert node_expand(vid, t, 96 * MIB) == 96 * MIB
        assert vblkd_resizes() == before + 2, "NodeExpandVolume did not tell vblkd"
        out, err = fe.communicate(timeout=60)
        assert fe.returncode == 0, (out, err)
    finally:
        if fe.poll() is None:
            fe.kill()
            fe.wait()
    assert stats(vid, t).usage[0].total == 96 * MIB
    expect_code(S.OUT_OF_RANGE, node_expand, vid, t, 128 * MIB)
    # The export removed behind the driver's back: abnormal; NodeExpandVolume
    # has nothing to tell; a publish serves it again.
    vblkd_forgets(vid)
    got = stats(vid, t)
    assert got.volume_condition.abnormal and "does not export" in \
        got.volume_condition.message, got
    assert not got.usage, got
    expect_code(S.FAILED_PRECONDITION, node_expand, vid, t, 96 * MIB)
    publish(vid)
    assert not stats(vid, t).volume_condition.abnormal
    # The image removed: abnormal, with a reason.
    os.unlink(img)
    got = stats(vid, t)
    assert got.volume_condition.abnormal and "gone" in got.volume_condition.message, got
    unpublish(vid)
    unstage(vid)
    assert not served(vid) and not os.path.exists(record_of(vid))
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=10)


def t_delete():
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=VID), timeout=10)
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=VID), timeout=10)
    assert not mounts_under(KUBELET) and not mounts_under(drv.pool)
    assert os.listdir(os.path.join(drv.pool, "node", "sockets")) == []
    assert [f for f in os.listdir(os.path.join(drv.pool, "node")) if f.endswith(".json")] == []
    assert drv.pool_files()["volumes"] == []


csilib.run([
    ("NodeStageVolume of a vmDisk volume without --vblkd-control: FAILED_PRECONDITION",
     t_needs_vblkd),
    ("vmDisk volume used with the mount access type first: loop + ext4, not served by "
     "vblkd, published as block refused while so staged, nothing left", t_mount_use_first),
    ("an export of the volume's name made by someone else: FAILED_PRECONDITION, kept",
     t_foreign_export),
    ("vmDisk lifecycle: socket published, front end writes and reads back across a "
     "restage, repeated calls OK, read-only and second SNSW target refused, no export left",
     t_lifecycle),
    ("a bind of a vmDisk socket no node record lists: reported at start, left alone",
     t_unrecorded_socket),
    ("publish serves a vmDisk volume again when vblkd lost its export, and rebinds a "
     "target bound to the old socket; so does the start-up reconcile",
     t_restaged_after_vblkd_lost_it),
    ("SIGKILL after Stage and after Publish: lifecycle finishes, nothing leaked", t_sigkill),
    ("NodeGetVolumeStats and NodeExpandVolume of a vmDisk volume; VOLUME_CONDITION when "
     "the export or the image is gone", t_stats_expand),
    ("fs_type vhost-user-blk of a volume without vmDisk: INVALID_ARGUMENT (create, stage), "
     "not confirmed (validate)", t_vhost_fs_type_refused),
    ("vmDisk published as a directory (fs_type vhost-user-blk): disk.sock in a read-only "
     "target directory, front end writes and reads back across a restage, repeated calls "
     "OK, read-only, second SNSW target and block publish refused, nothing left",
     t_directory_publish_first),
    ("directory publish: a pod's rbind sees vblkd's new socket; SIGKILL, a target "
     "unmounted behind the driver's back and an unrecorded bind: reconciled at start",
     t_directory_survives),
    ("the same volume as a socket, as ext4 (file kept) and as a directory again",
     t_three_uses),
    ("DeleteVolume; nothing leaked (mount, socket, record, image)", t_delete),
])
assert drv.stop() == 0
