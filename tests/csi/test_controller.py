"""The vblk-csi Identity and Controller services against python3-grpcio.

usage: test_controller.py SOURCE BUILD TMP
"""
import concurrent.futures
import os
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import csilib  # noqa: E402
from csilib import MIB, block_cap, expect_code, mount_cap  # noqa: E402

import grpc  # noqa: E402

SOURCE, BUILD, TMP = sys.argv[1:4]
csilib.load_stubs(SOURCE, TMP)
p, g = csilib.p, csilib.g
S = grpc.StatusCode

drv = csilib.Driver(BUILD, TMP).start()
ch = drv.channel()
ident = g.IdentityStub(ch)
ctl = g.ControllerStub(ch)


def create(name, size=MIB, caps=None, params=None, limit=0, **kw):
    return ctl.CreateVolume(p.CreateVolumeRequest(
        name=name, capacity_range=p.CapacityRange(required_bytes=size, limit_bytes=limit),
        volume_capabilities=caps or [block_cap()], parameters=params or {}, **kw), timeout=10)


def image(vid):
    return os.path.join(drv.pool, "volumes", vid + ".img")


def unchanged(fn):
    """Run fn and check it left the pool's files as they were."""
    before = drv.pool_files()
    fn()
    after = drv.pool_files()
    assert before == after, "pool changed: %s -> %s" % (before, after)


# ---- Identity ----

def t_plugin_info():
    r = ident.GetPluginInfo(p.GetPluginInfoRequest())
    assert r.name == "vblk.vplumb.dev" and len(r.name) <= 63, r.name
    assert r.vendor_version, "no vendor_version"


def t_plugin_caps():
    r = ident.GetPluginCapabilities(p.GetPluginCapabilitiesRequest())
    svc = {c.service.type for c in r.capabilities if c.HasField("service")}
    exp = {c.volume_expansion.type for c in r.capabilities if c.HasField("volume_expansion")}
    PS = p.PluginCapability.Service
    assert svc == {PS.CONTROLLER_SERVICE, PS.VOLUME_ACCESSIBILITY_CONSTRAINTS}, svc
    assert exp == {p.PluginCapability.VolumeExpansion.ONLINE}, exp


def t_probe():
    r = ident.Probe(p.ProbeRequest())
    assert r.HasField("ready") and r.ready.value, r
    vols = os.path.join(drv.pool, "volumes")
    os.rename(vols, vols + ".away")
    try:
        expect_code(S.FAILED_PRECONDITION, ident.Probe, p.ProbeRequest())
    finally:
        os.rename(vols + ".away", vols)
    assert ident.Probe(p.ProbeRequest()).ready.value


# ---- Controller: capabilities, CreateVolume ----

def t_controller_caps():
    r = ctl.ControllerGetCapabilities(p.ControllerGetCapabilitiesRequest())
    T = p.ControllerServiceCapability.RPC
    got = {c.rpc.type for c in r.capabilities}
    for want in (T.CREATE_DELETE_VOLUME, T.LIST_VOLUMES, T.GET_CAPACITY, T.EXPAND_VOLUME,
                 T.GET_VOLUME, T.SINGLE_NODE_MULTI_WRITER, T.CREATE_DELETE_SNAPSHOT,
                 T.LIST_SNAPSHOTS, T.CLONE_VOLUME, T.VOLUME_CONDITION):
        assert want in got, "missing %s in %s" % (want, got)
    for never in (T.PUBLISH_UNPUBLISH_VOLUME, T.MODIFY_VOLUME, T.LIST_VOLUMES_PUBLISHED_NODES):
        assert never not in got, "advertises unimplemented %s" % never


def t_create_basic():
    v = create("vpt-csi-basic", 1000).volume
    assert v.volume_id.startswith("vol-") and v.capacity_bytes == MIB, v
    st = os.stat(image(v.volume_id))
    assert st.st_size == MIB and st.st_blocks == 0, "image not sparse: %s" % st
    topo = [dict(t.segments) for t in v.accessible_topology]
    assert topo == [{"topology.vblk.vplumb.dev/node": drv.node}], topo
    assert "vpt-csi-basic" not in v.volume_id


def t_create_sizes():
    assert create("vpt-csi-s1", 3 * MIB // 2).volume.capacity_bytes == 2 * MIB
    v = ctl.CreateVolume(p.CreateVolumeRequest(name="vpt-csi-s2", volume_capabilities=[block_cap()]))
    assert v.volume.capacity_bytes == 1 << 30, v
    assert create("vpt-csi-s3", 0, limit=5 * MIB + 7).volume.capacity_bytes == 5 * MIB


def t_create_out_of_range():
    for req, lim in ((0, MIB - 1), (2 * MIB, MIB), (3 * MIB // 2, 3 * MIB // 2), (1 << 62, 0)):
        unchanged(lambda: expect_code(S.OUT_OF_RANGE, create, "vpt-csi-oor", req, limit=lim))
    unchanged(lambda: expect_code(S.INVALID_ARGUMENT, create, "vpt-csi-neg", -1))


def t_create_idempotent():
    a = create("vpt-csi-idem", 4 * MIB, params={"fsType": "xfs"}, caps=[mount_cap()]).volume
    b = create("vpt-csi-idem", 4 * MIB, params={"fsType": "xfs"}, caps=[mount_cap()]).volume
    assert a.volume_id == b.volume_id and a == b, (a, b)
    c = create("vpt-csi-idem", 2 * MIB, limit=8 * MIB, params={"fsType": "xfs"},
               caps=[mount_cap()]).volume
    assert c.volume_id == a.volume_id
    unchanged(lambda: expect_code(S.ALREADY_EXISTS, create, "vpt-csi-idem", 8 * MIB,
                                  params={"fsType": "xfs"}))
    unchanged(lambda: expect_code(S.ALREADY_EXISTS, create, "vpt-csi-idem", 4 * MIB,
                                  params={"fsType": "ext4"}))
    unchanged(lambda: expect_code(S.ALREADY_EXISTS, create, "vpt-csi-idem", 4 * MIB,
                                  params={"fsType": "xfs", "vmDisk": "true"}))
    assert dict(a.volume_context) == {"fsType": "xfs", "vmDisk": "false"}, a.volume_context


def t_create_names():
    n128 = "n" * 118 + "-vpt-csi-1"
    assert len(n128) == 128
    v = create(n128).volume
    assert create(n128).volume.volume_id == v.volume_id
    assert create("vpt-csi-ünï cødé").volume.volume_id
    for bad in ("", "x" * 129, "../vpt-csi", "vpt/csi", "vpt..csi", "vpt-csi\x01", "vpt\x7f",
                "vpt\u0085"):
        unchanged(lambda: expect_code(S.INVALID_ARGUMENT, create, bad))


def t_create_caps():
    for m in (1, 2, 3, 6, 7):
        create("vpt-csi-mode%d" % m, caps=[block_cap(m)])
        create("vpt-csi-mmode%d" % m, caps=[mount_cap(m, "ext4")])
    create("vpt-csi-mnmw", caps=[block_cap(5)])
    for caps in ([], [mount_cap(5)], [block_cap(4)], [block_cap(0)], [mount_cap(1, "btrfs")],
                 [p.VolumeCapability(access_mode=p.VolumeCapability.AccessMode(mode=1))],
                 [p.VolumeCapability(block=p.VolumeCapability.BlockVolume())]):
        unchanged(lambda: expect_code(S.INVALID_ARGUMENT, ctl.CreateVolume, p.CreateVolumeRequest(
            name="vpt-csi-badcap", volume_capabilities=caps)))


def t_create_params():
    v = create("vpt-csi-vm", params={"vmDisk": "true", "csi.storage.k8s.io/pvc/name": "x"}).volume
    assert v.volume_context["vmDisk"] == "true"
    for params in ({"fsType": "btrfs"}, {"fsType": ""}, {"vmDisk": "yes"}, {"size": "1"},
                   {"../etc": "x"}, {"fsType": "../../etc/passwd"}, {"k\x01": "v"}):
        unchanged(lambda: expect_code(S.INVALID_ARGUMENT, create, "vpt-csi-badparam",
                                      params=params))


def t_create_topology():
    here = p.Topology(segments={"topology.vblk.vplumb.dev/node": drv.node})
    there = p.Topology(segments={"topology.vblk.vplumb.dev/node": "elsewhere"})
    create("vpt-csi-topo", accessibility_requirements=p.TopologyRequirement(
        requisite=[there, here], preferred=[here]))
    unchanged(lambda: expect_code(S.RESOURCE_EXHAUSTED, create, "vpt-csi-topo2",
                                  accessibility_requirements=p.TopologyRequirement(requisite=[there])))


def t_create_source_missing():
    for src in (p.VolumeContentSource(volume=p.VolumeContentSource.VolumeSource(
                    volume_id="vol-0000000000000000")),
                p.VolumeContentSource(volume=p.VolumeContentSource.VolumeSource(volume_id="../x")),
                p.VolumeContentSource(snapshot=p.VolumeContentSource.SnapshotSource(
                    snapshot_id="snap-0000000000000000"))):
        unchanged(lambda: expect_code(S.NOT_FOUND, create, "vpt-csi-clone",
                                      volume_content_source=src))
    unchanged(lambda: expect_code(S.INVALID_ARGUMENT, create, "vpt-csi-clone",
                                  volume_content_source=p.VolumeContentSource()))


# ---- DeleteVolume, Validate, Get, Expand ----

def t_delete():
    v = create("vpt-csi-del").volume
    assert os.path.exists(image(v.volume_id))
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=v.volume_id))
    assert not any(f.startswith(v.volume_id) for f in drv.pool_files()["volumes"])
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=v.volume_id))
    for vid in ("vol-0000000000000000", "../pool", "/etc/passwd", "vol-x"):
        unchanged(lambda: ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid)))
    unchanged(lambda: expect_code(S.INVALID_ARGUMENT, ctl.DeleteVolume, p.DeleteVolumeRequest()))
    w = create("vpt-csi-del").volume
    assert w.volume_id != v.volume_id, "a deleted volume's ID came back"


def t_validate():
    v = create("vpt-csi-val").volume
    r = ctl.ValidateVolumeCapabilities(p.ValidateVolumeCapabilitiesRequest(
        volume_id=v.volume_id, volume_capabilities=[block_cap(7)], parameters={"vmDisk": "false"}))
    assert r.HasField("confirmed") and len(r.confirmed.volume_capabilities) == 1, r
    r = ctl.ValidateVolumeCapabilities(p.ValidateVolumeCapabilitiesRequest(
        volume_id=v.volume_id, volume_capabilities=[mount_cap(5)]))
    assert not r.HasField("confirmed") and r.message, r
    expect_code(S.NOT_FOUND, ctl.ValidateVolumeCapabilities, p.ValidateVolumeCapabilitiesRequest(
        volume_id="vol-0000000000000000", volume_capabilities=[block_cap()]))
    expect_code(S.NOT_FOUND, ctl.ValidateVolumeCapabilities, p.ValidateVolumeCapabilitiesRequest(
        volume_id="../x", volume_capabilities=[block_cap()]))
    expect_code(S.INVALID_ARGUMENT, ctl.ValidateVolumeCapabilities,
                p.ValidateVolumeCapabilitiesRequest(volume_id=v.volume_id))
    expect_code(S.INVALID_ARGUMENT, ctl.ValidateVolumeCapabilities,
                p.ValidateVolumeCapabilitiesRequest(volume_capabilities=[block_cap()]))


def t_get_volume():
    v = create("vpt-csi-get", 2 * MIB).volume
    r = ctl.ControllerGetVolume(p.ControllerGetVolumeRequest(volume_id=v.volume_id))
    assert r.volume == v and not r.status.volume_condition.abnormal, r
    expect_code(S.NOT_FOUND, ctl.ControllerGetVolume,
                p.ControllerGetVolumeRequest(volume_id="vol-0000000000000000"))
    expect_code(S.INVALID_ARGUMENT, ctl.ControllerGetVolume, p.ControllerGetVolumeRequest())


def expand(vid, size, cap=None):
    return ctl.ControllerExpandVolume(p.ControllerExpandVolumeRequest(
        volume_id=vid, capacity_range=p.CapacityRange(required_bytes=size), volume_capability=cap))


def t_expand():
    v = create("vpt-csi-grow", 2 * MIB).volume
    r = expand(v.volume_id, 5 * MIB + 1, block_cap())
    assert r.capacity_bytes == 6 * MIB and not r.node_expansion_required, r
    assert os.stat(image(v.volume_id)).st_size == 6 * MIB
    assert expand(v.volume_id, 6 * MIB).capacity_bytes == 6 * MIB
    assert expand(v.volume_id, MIB).capacity_bytes == 6 * MIB, "shrank"
    assert expand(v.volume_id, 7 * MIB, mount_cap()).node_expansion_required
    g2 = ctl.ControllerGetVolume(p.ControllerGetVolumeRequest(volume_id=v.volume_id))
    assert g2.volume.capacity_bytes == 7 * MIB
    expect_code(S.NOT_FOUND, expand, "vol-0000000000000000", MIB)
    expect_code(S.NOT_FOUND, expand, "../../x", MIB)
    expect_code(S.OUT_OF_RANGE, expand, v.volume_id, 1 << 62)
    expect_code(S.INVALID_ARGUMENT, ctl.ControllerExpandVolume,
                p.ControllerExpandVolumeRequest(volume_id=v.volume_id))
    fs = create("vpt-csi-growfs", params={"fsType": "ext4"}, caps=[mount_cap()]).volume
    assert expand(fs.volume_id, 2 * MIB).node_expansion_required


# ---- ListVolumes, GetCapacity ----

def all_ids():
    return {e.volume.volume_id for e in ctl.ListVolumes(p.ListVolumesRequest()).entries}


def t_list():
    for i in range(7):
        create("vpt-csi-list%d" % i)
    everything = all_ids()
    seen, token, pages = [], "", 0
    while True:
        r = ctl.ListVolumes(p.ListVolumesRequest(max_entries=3, starting_token=token))
        assert len(r.entries) <= 3
        seen += [e.volume.volume_id for e in r.entries]
        pages += 1
        token = r.next_token
        if not token:
            break
    assert len(seen) == len(set(seen)) and set(seen) == everything, "pagination lost or repeated"
    assert pages == (len(everything) + 2) // 3, pages
    expect_code(S.ABORTED, ctl.ListVolumes, p.ListVolumesRequest(starting_token="bogus"))
    expect_code(S.ABORTED, ctl.ListVolumes, p.ListVolumesRequest(starting_token="../vol"))
    expect_code(S.INVALID_ARGUMENT, ctl.ListVolumes, p.ListVolumesRequest(max_entries=-1))


def t_capacity():
    st = os.statvfs(drv.pool)
    r = ctl.GetCapacity(p.GetCapacityRequest(volume_capabilities=[block_cap()]))
    free = st.f_bavail * st.f_frsize
    assert abs(r.available_capacity - free) < max(free // 10, 64 * MIB), (r, free)
    assert r.maximum_volume_size.value >= 1 << 40 and r.minimum_volume_size.value == MIB
    there = p.Topology(segments={"topology.vblk.vplumb.dev/node": "elsewhere"})
    assert ctl.GetCapacity(p.GetCapacityRequest(accessible_topology=there)).available_capacity == 0
    expect_code(S.INVALID_ARGUMENT, ctl.GetCapacity, p.GetCapacityRequest(parameters={"x": "y"}))


# ---- bad input on the wire ----

def raw(method, data):
    return ch.unary_unary(method, request_serializer=None, response_deserializer=None)(data, timeout=5)


def t_malformed():
    m = "/csi.v1.Controller/CreateVolume"
    for data in (b"\xff\xff\xff", b"\x0a\x05ab", b"\x0a", b"\x12\x02\x08", b"\x08" + b"\xff" * 11):
        unchanged(lambda: expect_code(S.INVALID_ARGUMENT, raw, m, data))
    # A NUL inside the name: C would cut it to "vpt-csi-nul".
    good = create("vpt-csi-nul").volume
    req = p.CreateVolumeRequest(name="vpt-csi-nul\x00evil", volume_capabilities=[block_cap()])
    unchanged(lambda: expect_code(S.INVALID_ARGUMENT, raw, m, req.SerializeToString()))
    assert create("vpt-csi-nul").volume.volume_id == good.volume_id
    unchanged(lambda: expect_code(S.UNIMPLEMENTED, raw, "/csi.v1.Controller/NoSuchRPC", b""))
    unchanged(lambda: expect_code(S.UNIMPLEMENTED, raw, "/csi.v1.Node/NoSuchRPC", b""))
    unchanged(lambda: expect_code(S.UNIMPLEMENTED, raw, "/csi.v1.GroupController/"
                                  "CreateVolumeGroupSnapshot", b""))
    unchanged(lambda: expect_code(S.UNIMPLEMENTED, raw, "/csi.v1.Controller/"
                                  "ControllerPublishVolume", b""))
    # An empty message is a valid request with every field unset.
    unchanged(lambda: expect_code(S.INVALID_ARGUMENT, raw, m, b""))


# ---- concurrency ----

def t_concurrent_create():
    names = ["vpt-csi-par%02d" % (i % 16) for i in range(64)]
    before = all_ids()
    with concurrent.futures.ThreadPoolExecutor(64) as ex:
        got = list(ex.map(lambda n: (n, create(n, 3 * MIB).volume.volume_id), names))
    by_name = {}
    for n, vid in got:
        by_name.setdefault(n, set()).add(vid)
    assert len(by_name) == 16 and all(len(s) == 1 for s in by_name.values()), by_name
    new = all_ids() - before
    assert new == {next(iter(s)) for s in by_name.values()}, "not exactly 16 new volumes"
    records = [f for f in drv.pool_files()["volumes"] if f.endswith(".json")]
    assert len(records) == len(all_ids()), "records and volumes differ"
    with concurrent.futures.ThreadPoolExecutor(32) as ex:
        list(ex.map(lambda vid: ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid)),
                    sorted(new) * 2))
    assert not (all_ids() & new)


def t_socket():
    mode = stat.S_IMODE(os.stat(drv.sock).st_mode)
    assert mode == 0o660, oct(mode)
    second = csilib.Driver(BUILD, TMP)
    second.start(wait=False)
    rc = second.proc.wait(timeout=10)
    assert rc != 0, "a second driver took over a live socket"
    assert "listening" in open(second.log).read()
    assert ident.Probe(p.ProbeRequest()).ready.value, "the first driver lost its socket"


def t_restart_keeps_volumes():
    before = all_ids()
    assert drv.stop() == 0, "SIGTERM did not exit 0"
    assert not os.path.exists(drv.sock)
    drv.start()
    assert all_ids() == before


def t_lost_image():
    v = create("vpt-csi-lost").volume
    assert drv.stop() == 0
    os.unlink(image(v.volume_id))
    drv.start()
    assert "finding=record-without-image file=%s" % v.volume_id in open(drv.log).read()
    got = ctl.ControllerGetVolume(p.ControllerGetVolumeRequest(volume_id=v.volume_id))
    assert got.status.volume_condition.abnormal and got.status.volume_condition.message, got
    listed = [e for e in ctl.ListVolumes(p.ListVolumesRequest()).entries
              if e.volume.volume_id == v.volume_id]
    assert listed and listed[0].status.volume_condition.abnormal
    unchanged(lambda: expect_code(S.FAILED_PRECONDITION, create, "vpt-csi-lost"))
    ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=v.volume_id))
    assert create("vpt-csi-lost").volume.volume_id != v.volume_id


def t_node_mode():
    assert drv.stop() == 0
    node = csilib.Driver(BUILD, TMP, mode="node").start()
    c = g.ControllerStub(node.channel())
    expect_code(S.UNIMPLEMENTED, c.ControllerGetCapabilities, p.ControllerGetCapabilitiesRequest())
    assert node.stop() == 0
    drv.start()


csilib.run([
    ("Identity GetPluginInfo", t_plugin_info),
    ("Identity GetPluginCapabilities", t_plugin_caps),
    ("Identity Probe, and FAILED_PRECONDITION when the pool is gone", t_probe),
    ("ControllerGetCapabilities", t_controller_caps),
    ("CreateVolume: ID, 1 MiB rounding, sparse image, topology", t_create_basic),
    ("CreateVolume: capacity rounding, default and limit", t_create_sizes),
    ("CreateVolume: OUT_OF_RANGE and negative capacity", t_create_out_of_range),
    ("CreateVolume: idempotent by name, ALREADY_EXISTS when incompatible", t_create_idempotent),
    ("CreateVolume: 128-byte and UTF-8 names; path-like and control names refused", t_create_names),
    ("CreateVolume: access modes and bad capabilities", t_create_caps),
    ("CreateVolume: fsType/vmDisk parameters; unknown and path-like ones refused", t_create_params),
    ("CreateVolume: topology requisite", t_create_topology),
    ("CreateVolume: a missing content source is NOT_FOUND", t_create_source_missing),
    ("DeleteVolume: removes, idempotent, unknown and path-like IDs OK", t_delete),
    ("ValidateVolumeCapabilities", t_validate),
    ("ControllerGetVolume", t_get_volume),
    ("ControllerExpandVolume", t_expand),
    ("ListVolumes pagination and bad tokens", t_list),
    ("GetCapacity", t_capacity),
    ("malformed bytes, NUL in strings, unknown methods", t_malformed),
    ("64 concurrent CreateVolume with 16 names: 16 volumes", t_concurrent_create),
    ("socket 0660, a live socket is not taken over", t_socket),
    ("SIGTERM exits 0, restart keeps every volume", t_restart_keeps_volumes),
    ("a record whose image vanished: reported, abnormal, deletable", t_lost_image),
    ("--mode node serves no Controller", t_node_mode),
])
assert drv.stop() == 0, "SIGTERM did not exit 0"
log = open(drv.log).read()
assert "event=csi.rpc method=/csi.v1.Controller/CreateVolume volume=vol-" in log, "no RPC log line"
print("ok - all")
