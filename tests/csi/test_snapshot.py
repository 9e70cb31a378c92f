"""vblk-csi snapshots, clones and restores against python3-grpcio.

usage: test_snapshot.py SOURCE BUILD TMP [POOL_PARENT]
With POOL_PARENT (a reflink-capable filesystem such as xfs) the pool lives
there and the snapshots are reflinks; otherwise they are sparse copies.
"""
import concurrent.futures
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import csilib  # noqa: E402
from csilib import MIB, block_cap, expect_code  # noqa: E402

import grpc  # noqa: E402

SOURCE, BUILD, TMP = sys.argv[1:4]
csilib.load_stubs(SOURCE, TMP)
p, g = csilib.p, csilib.g
S = grpc.StatusCode

drv = csilib.Driver(BUILD, TMP)
if len(sys.argv) > 4:
    drv.pool = os.path.join(sys.argv[4], "pool")
    drv.args[drv.args.index("--pool") + 1] = drv.pool
drv.start()
ch = drv.channel()
ctl = g.ControllerStub(ch)


def create(name, size=4 * MIB, source=None, **kw):
    return ctl.CreateVolume(p.CreateVolumeRequest(
        name=name, capacity_range=p.CapacityRange(required_bytes=size),
        volume_capabilities=[block_cap()], volume_content_source=source, **kw), timeout=30).volume


def snap(name, vid, **kw):
    return ctl.CreateSnapshot(p.CreateSnapshotRequest(name=name, source_volume_id=vid, **kw),
                              timeout=30).snapshot


def from_snap(sid):
    return p.VolumeContentSource(snapshot=p.VolumeContentSource.SnapshotSource(snapshot_id=sid))


def from_vol(vid):
    return p.VolumeContentSource(volume=p.VolumeContentSource.VolumeSource(volume_id=vid))


def image(xid):
    return os.path.join(drv.pool, "volumes", xid + ".img")


def write(xid, off, data):
    with open(image(xid), "r+b") as f:
        f.seek(off)
        f.write(data)


def read(xid):
    with open(image(xid), "rb") as f:
        return f.read()


def unchanged(fn):
    before = drv.pool_files()
    fn()
    assert drv.pool_files() == before, "pool changed"


def snapshots(**kw):
    return ctl.ListSnapshots(p.ListSnapshotsRequest(**kw))


def t_snapshot_content():
    v = create("vpt-csi-src")
    write(v.volume_id, 0, b"A" * 4096)
    write(v.volume_id, 3 * MIB, b"B" * 4096)
    at_snap = read(v.volume_id)
    s = snap("vpt-csi-snap", v.volume_id)
    assert s.snapshot_id.startswith("snap-") and s.ready_to_use, s
    assert s.source_volume_id == v.volume_id and s.size_bytes == 4 * MIB, s
    assert s.creation_time.seconds > 0
    # The source changes afterwards; the snapshot, a restore and a clone made
    # before the change keep the bytes of snapshot time.
    clone = create("vpt-csi-clone", source=from_vol(v.volume_id))
    write(v.volume_id, 0, b"C" * 4096)
    write(v.volume_id, 2 * MIB, b"D" * 4096)
    assert read(s.snapshot_id) == at_snap, "snapshot changed with its source"
    assert read(clone.volume_id) == at_snap, "clone changed with its source"
    r = create("vpt-csi-restore", 8 * MIB, source=from_snap(s.snapshot_id))
    assert r.content_source.snapshot.snapshot_id == s.snapshot_id, r
    assert clone.content_source.volume.volume_id == v.volume_id, clone
    assert r.capacity_bytes == 8 * MIB
    data = read(r.volume_id)
    assert data[:4 * MIB] == at_snap and data[4 * MIB:] == bytes(4 * MIB), "restore differs"
    st = os.stat(image(r.volume_id))
    assert st.st_blocks * 512 <= 1 * MIB, "restore not sparse: %d blocks" % st.st_blocks


def t_snapshot_idempotent():
    v = create("vpt-csi-src")
    a = snap("vpt-csi-snap", v.volume_id)
    b = snap("vpt-csi-snap", v.volume_id)
    assert a == b, (a, b)
    other = create("vpt-csi-other")
    unchanged(lambda: expect_code(S.ALREADY_EXISTS, snap, "vpt-csi-snap", other.volume_id))
    n128 = "s" * 120 + "-vpt-csi"
    assert snap(n128, v.volume_id).snapshot_id == snap(n128, v.volume_id).snapshot_id
    # Restores and clones are idempotent too, and incompatible with another source.
    r1 = create("vpt-csi-restore", 8 * MIB, source=from_snap(a.snapshot_id))
    r2 = create("vpt-csi-restore", 8 * MIB, source=from_snap(a.snapshot_id))
    assert r1.volume_id == r2.volume_id
    unchanged(lambda: expect_code(S.ALREADY_EXISTS, create, "vpt-csi-restore", 8 * MIB,
                                  source=from_vol(v.volume_id)))
    unchanged(lambda: expect_code(S.ALREADY_EXISTS, create, "vpt-csi-restore", 8 * MIB))


def t_snapshot_errors():
    v = create("vpt-csi-src")
    for vid in ("vol-0000000000000000", "../../etc", "snap-0000000000000000"):
        unchanged(lambda: expect_code(S.NOT_FOUND, snap, "vpt-csi-snap2", vid))
    for name in ("", "a/b", "..", "x" * 129, "bad\x01"):
        unchanged(lambda: expect_code(S.INVALID_ARGUMENT, snap, name, v.volume_id))
    unchanged(lambda: expect_code(S.INVALID_ARGUMENT, snap, "vpt-csi-snap2", ""))
    unchanged(lambda: expect_code(S.INVALID_ARGUMENT, snap, "vpt-csi-snap2", v.volume_id,
                                  parameters={"x": "y"}))
    snap("vpt-csi-snap2", v.volume_id,
         parameters={"csi.storage.k8s.io/volumesnapshot/name": "x"})
    s = snap("vpt-csi-snap", v.volume_id)
    # A restore smaller than its snapshot is impossible.
    unchanged(lambda: expect_code(S.OUT_OF_RANGE, create, "vpt-csi-small", 2 * MIB,
                                  source=from_snap(s.snapshot_id)))
    # A volume ID is not a snapshot ID, nor the other way round.
    unchanged(lambda: expect_code(S.NOT_FOUND, create, "vpt-csi-x", source=from_snap(v.volume_id)))
    unchanged(lambda: expect_code(S.NOT_FOUND, create, "vpt-csi-x", source=from_vol(s.snapshot_id)))
    unchanged(lambda: ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=s.snapshot_id)))
    assert snapshots(snapshot_id=s.snapshot_id).entries, "DeleteVolume deleted a snapshot"


def t_delete_snapshot():
    v = create("vpt-csi-src")
    s = snap("vpt-csi-gone", v.volume_id)
    ctl.DeleteSnapshot(p.DeleteSnapshotRequest(snapshot_id=s.snapshot_id))
    assert not os.path.exists(image(s.snapshot_id))
    ctl.DeleteSnapshot(p.DeleteSnapshotRequest(snapshot_id=s.snapshot_id))
    for sid in ("snap-0000000000000000", "../x", v.volume_id):
        unchanged(lambda: ctl.DeleteSnapshot(p.DeleteSnapshotRequest(snapshot_id=sid)))
    assert os.path.exists(image(v.volume_id)), "DeleteSnapshot deleted a volume"
    expect_code(S.INVALID_ARGUMENT, ctl.DeleteSnapshot, p.DeleteSnapshotRequest())
    expect_code(S.NOT_FOUND, create, "vpt-csi-x", source=from_snap(s.snapshot_id))
    # A volume with snapshots can go; its snapshots stay usable.
    s2 = snap("vpt-csi-keep", v.volume_id)
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=v.volume_id))
    create("vpt-csi-from-orphan", source=from_snap(s2.snapshot_id))
    left = {e.snapshot.snapshot_id for e in snapshots(source_volume_id=v.volume_id).entries}
    assert s2.snapshot_id in left and s.snapshot_id not in left, left


def t_list_snapshots():
    v = create("vpt-csi-lsrc")
    w = create("vpt-csi-lsrc2")
    mine = {snap("vpt-csi-l%d" % i, v.volume_id).snapshot_id for i in range(5)}
    snap("vpt-csi-lw", w.volume_id)
    got, token = [], ""
    while True:
        r = snapshots(source_volume_id=v.volume_id, max_entries=2, starting_token=token)
        assert len(r.entries) <= 2
        got += [e.snapshot.snapshot_id for e in r.entries]
        token = r.next_token
        if not token:
            break
    assert sorted(got) == sorted(mine), (got, mine)
    one = sorted(mine)[0]
    r = snapshots(snapshot_id=one)
    assert [e.snapshot.snapshot_id for e in r.entries] == [one]
    assert not snapshots(snapshot_id="snap-0000000000000000").entries
    assert not snapshots(snapshot_id=one, source_volume_id=w.volume_id).entries
    assert not snapshots(snapshot_id="../x").entries
    everything = {e.snapshot.snapshot_id for e in snapshots().entries}
    assert mine <= everything and all(s.startswith("snap-") for s in everything)
    vols = {e.volume.volume_id for e in ctl.ListVolumes(p.ListVolumesRequest()).entries}
    assert not (vols & everything), "ListVolumes lists snapshots"
    expect_code(S.ABORTED, snapshots, starting_token="bogus")
    expect_code(S.ABORTED, snapshots, starting_token=v.volume_id)
    expect_code(S.INVALID_ARGUMENT, snapshots, max_entries=-1)


def t_concurrent():
    v = create("vpt-csi-csrc")
    write(v.volume_id, 0, b"E" * 65536)
    names = ["vpt-csi-cs%d" % (i % 8) for i in range(32)]
    with concurrent.futures.ThreadPoolExecutor(32) as ex:
        got = list(ex.map(lambda n: (n, snap(n, v.volume_id).snapshot_id), names))
    by_name = {}
    for n, sid in got:
        by_name.setdefault(n, set()).add(sid)
    assert len(by_name) == 8 and all(len(x) == 1 for x in by_name.values()), by_name
    mine = {e.snapshot.snapshot_id for e in snapshots(source_volume_id=v.volume_id).entries}
    assert mine == {next(iter(x)) for x in by_name.values()}, "not exactly 8 snapshots"
    # Clones racing the deletion of their source: each clone either has
    # the source's bytes or is NOT_FOUND, never half a copy.
    w = create("vpt-csi-race")
    write(w.volume_id, 0, b"F" * 65536)
    expect = read(w.volume_id)

    def clone(i):
        try:
            c = create("vpt-csi-rc%d" % i, source=from_vol(w.volume_id))
            return read(c.volume_id) == expect
        except grpc.RpcError as e:
            return e.code()

    with concurrent.futures.ThreadPoolExecutor(9) as ex:
        futs = [ex.submit(clone, i) for i in range(8)]
        ex.submit(ctl.DeleteVolume, p.DeleteVolumeRequest(volume_id=w.volume_id)).result()
        results = [f.result() for f in futs]
    assert all(r is True or r == S.NOT_FOUND for r in results), results


def t_restart_keeps_snapshots():
    before = {e.snapshot.snapshot_id: e.snapshot for e in snapshots().entries}
    assert drv.stop() == 0
    drv.start()
    after = {e.snapshot.snapshot_id: e.snapshot for e in snapshots().entries}
    assert before == after, "snapshots changed across a restart"


csilib.run([
    ("snapshot, clone and restore keep the bytes of snapshot time", t_snapshot_content),
    ("CreateSnapshot and restores idempotent, ALREADY_EXISTS when incompatible",
     t_snapshot_idempotent),
    ("CreateSnapshot errors: NOT_FOUND, INVALID_ARGUMENT, OUT_OF_RANGE restore", t_snapshot_errors),
    ("DeleteSnapshot; a volume with snapshots can be deleted", t_delete_snapshot),
    ("ListSnapshots by ID, by source, pagination, bad token", t_list_snapshots),
    ("32 concurrent CreateSnapshot with 8 names: 8 snapshots; clones racing a delete",
     t_concurrent),
    ("restart keeps every snapshot", t_restart_keeps_snapshots),
])
assert drv.stop() == 0
log = open(drv.log).read()
assert "method=/csi.v1.Controller/CreateSnapshot volume=snap-" in log, "no RPC log line"
print("ok - all")
