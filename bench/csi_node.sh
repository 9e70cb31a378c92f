#!/usr/bin/env bash
# bench/csi_node.sh - vblk-csi node latency, measured from a python3-grpcio
# client over the CSI socket (round trip included), N rounds of
#   CreateVolume -> NodeStageVolume -> NodePublishVolume ->
#   NodeUnpublishVolume -> NodeUnstageVolume -> DeleteVolume
# of a fresh 10 GiB volume:
#   1. mount access type (ext4: the stage runs mkfs.ext4 with lazy inode
#      table and journal init, then mounts): median of the whole cycle
#      (goal < 150 ms);
#   2. block access type (a loop device bind-mounted at the target): median
#      of the whole cycle (goal < 20 ms).
# Each step's median is printed too, and then what a mount stage is made of:
# mkfs.ext4 alone with csi/node/fs.c's options on a loop device over a fresh
# sparse 10 GiB image (losetup here, in the bench only), the same with
# nodiscard added, and mount(8) and umount(8) of the result, so the part
# that dominates shows.
#
# usage: bench/csi_node.sh [BUILD_DIR] [N]     (defaults: build-bench, 20; root)
#   env: BASE, the directory the pool and kubelet directory are made in
#        (default /var/tmp: a disk, as a node's pool is; BASE=/dev/shm shows
#        the cycle without the cost of fsync, a loop device there has no
#        direct I/O)
# BUILD_DIR/bin/vblk-csi is built there in Release when it is missing; an
# existing build that is not Release is refused (Debug numbers mislead).
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-$SRC/build-bench}"
N="${2:-20}"
BASE="${BASE:-/var/tmp}"
PY=/usr/bin/python3
die() { echo "csi_node: $*" >&2; exit 1; }
[[ $EUID -eq 0 ]] || die "run as root (loop devices, mounts)"
[[ "$N" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer"
for c in mkfs.ext4 losetup cmake; do command -v "$c" >/dev/null || die "$c missing (apt-get install e2fsprogs mount cmake)"; done
"$PY" -c 'import grpc, grpc_tools' 2>/dev/null || die "apt-get install python3-grpcio python3-grpc-tools"

if [[ -f "$BUILD/CMakeCache.txt" ]]; then
	grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$BUILD/CMakeCache.txt" ||
		die "$BUILD is not a Release build (use another dir, or cmake -DCMAKE_BUILD_TYPE=Release)"
else
	cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null || die "cmake configure failed"
fi
cmake --build "$BUILD" -j2 --target vblk-csi >/dev/null || die "building vblk-csi failed"

[[ -d "$BASE" ]] || die "BASE $BASE is not a directory"
TMP="$(mktemp -d "$BASE/vpb-csn.XXXXXX")"
cleanup() {
	local rc=$? m bf
	set +e
	[[ -f "$TMP/driver.pid" ]] && kill "$(cat "$TMP/driver.pid")" 2>/dev/null && wait "$(cat "$TMP/driver.pid")" 2>/dev/null
	for m in $(awk -v t="$TMP/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do umount "$m"; done
	for bf in /sys/block/loop*/loop/backing_file; do
		[[ -e "$bf" && "$(cat "$bf")" == "$TMP/"* ]] && losetup -d "/dev/$(basename "$(dirname "$(dirname "$bf")")")"
	done
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT

mkdir -p "$TMP/kubelet"
"$BUILD/bin/vblk-csi" --endpoint "unix://$TMP/csi.sock" --node-id bench --pool "$TMP/pool" \
	--kubelet-dir "$TMP/kubelet" 2>"$TMP/driver.log" &
echo $! >"$TMP/driver.pid"
"$PY" -m grpc_tools.protoc -I"$SRC/csi/proto" -I/usr/include --python_out="$TMP" \
	--grpc_python_out="$TMP" "$SRC/csi/proto/csi.proto"

"$PY" - "$TMP" "$N" <<'PY'
import os, statistics, sys, time
tmp, n = sys.argv[1], int(sys.argv[2])
sys.path.insert(0, tmp)
import grpc, csi_pb2 as p, csi_pb2_grpc as g

GIB = 1 << 30
KUBELET = os.path.join(tmp, "kubelet")
STEPS = ["Create", "Stage", "Publish", "Unpublish", "Unstage", "Delete"]
ch = grpc.insecure_channel("unix://%s/csi.sock" % tmp)
grpc.channel_ready_future(ch).result(timeout=10)
ctl, node = g.ControllerStub(ch), g.NodeStub(ch)
mode = p.VolumeCapability.AccessMode(mode=1)  # SINGLE_NODE_WRITER
caps = {
    "mount": p.VolumeCapability(mount=p.VolumeCapability.MountVolume(fs_type="ext4"), access_mode=mode),
    "block": p.VolumeCapability(block=p.VolumeCapability.BlockVolume(), access_mode=mode),
}


def cycle(kind, name):
    """One lifecycle; the time of each step in ms, in STEPS order."""
    cap, t = caps[kind], []
    staging = os.path.join(KUBELET, "plugins", "kubernetes.io", "csi", "vblk", name, "globalmount")
    pods = os.path.join(KUBELET, "pods", name, "volumes", "kubernetes.io~csi")
    os.makedirs(staging)
    os.makedirs(pods)  # kubelet makes the target's parent; the driver makes the target
    target = os.path.join(pods, "vol")

    def step(fn):
        t0 = time.perf_counter()
        r = fn()
        t.append((time.perf_counter() - t0) * 1000)
        return r

    vid = step(lambda: ctl.CreateVolume(p.CreateVolumeRequest(
        name=name, capacity_range=p.CapacityRange(required_bytes=10 * GIB),
        volume_capabilities=[cap]), timeout=30).volume.volume_id)
    step(lambda: node.NodeStageVolume(p.NodeStageVolumeRequest(
        volume_id=vid, staging_target_path=staging, volume_capability=cap), timeout=60))
    step(lambda: node.NodePublishVolume(p.NodePublishVolumeRequest(
        volume_id=vid, staging_target_path=staging, target_path=target, volume_capability=cap),
        timeout=30))
    assert os.path.ismount(target) if kind == "mount" else os.path.exists(target), target
    step(lambda: node.NodeUnpublishVolume(p.NodeUnpublishVolumeRequest(
        volume_id=vid, target_path=target), timeout=30))
    step(lambda: node.NodeUnstageVolume(p.NodeUnstageVolumeRequest(
        volume_id=vid, staging_target_path=staging), timeout=30))
    step(lambda: ctl.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid), timeout=30))
    assert not os.path.exists(target) and not os.path.ismount(staging)
    return t


cycle("block", "warmup-block")
cycle("mount", "warmup-mount")
runs = {"mount": [], "block": []}
for i in range(n):  # interleaved, so a slow moment of the machine hits both
    for kind in ("mount", "block"):
        runs[kind].append(cycle(kind, "vpb-%s-%d" % (kind, i)))

print("vblk-csi node lifecycle of a 10 GiB volume, median of %d rounds (ms; pool in %s; %d cpus, %s)"
      % (n, os.path.dirname(tmp), os.cpu_count(), os.uname().release))
print("  %-6s %s %9s %8s" % ("", " ".join("%9s" % s for s in STEPS), "total", "p90"))
for kind in ("mount", "block"):
    totals = sorted(sum(r) for r in runs[kind])
    med = [statistics.median(r[k] for r in runs[kind]) for k in range(len(STEPS))]
    p90 = totals[min(len(totals) - 1, int(0.9 * len(totals)))]
    print("  %-6s %s %9.2f %8.2f" % (kind, " ".join("%9.2f" % m for m in med),
                                     statistics.median(totals), p90))
for kind, goal in (("mount", 150.0), ("block", 20.0)):
    med = statistics.median(sum(r) for r in runs[kind])
    print("%s cycle: median %.2f ms, ratio to goal %.2f (goal < %.0f ms: %s)"
          % (kind, med, med / goal, goal, "met" if med < goal else "NOT met"))
PY

# What a mount stage is made of: mkfs.ext4 as csi/node/fs.c runs it (with and
# without discard), mount and umount, on a loop device over a fresh sparse
# 10 GiB image, as the driver's stage sees it.
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", (b - a) / 1e6 }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { printf "%.2f\n", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
mkdir "$TMP/mnt"
: >"$TMP/mkfs" && : >"$TMP/mkfs-nodiscard" && : >"$TMP/mount" && : >"$TMP/umount"
for ((i = 0; i < N; i++)); do
	for variant in mkfs mkfs-nodiscard; do
		rm -f "$TMP/parts.img" && truncate -s 10G "$TMP/parts.img"
		dev=$(losetup --find --show --direct-io=on "$TMP/parts.img")
		opts=lazy_itable_init=1,lazy_journal_init=1
		[[ $variant == mkfs ]] || opts+=,nodiscard
		t0=$(date +%s%N) && mkfs.ext4 -q -E "$opts" "$dev" && t1=$(date +%s%N)
		ms "$t0" "$t1" >>"$TMP/$variant"
		if [[ $variant == mkfs ]]; then
			t0=$(date +%s%N) && mount -o nosuid,nodev "$dev" "$TMP/mnt" && t1=$(date +%s%N)
			umount "$TMP/mnt" && t2=$(date +%s%N)
			ms "$t0" "$t1" >>"$TMP/mount" && ms "$t1" "$t2" >>"$TMP/umount"
		fi
		losetup -d "$dev"
	done
done
echo "mount stage parts, median of $N on a loop device over a fresh sparse 10 GiB image (ms;"
echo "each includes starting the program, as the driver's posix_spawn of mkfs does):"
printf '  %-62s %8s\n' "mkfs.ext4 -q -E lazy_itable_init=1,lazy_journal_init=1 (fs.c)" "$(median <"$TMP/mkfs")" \
	"the same with nodiscard added" "$(median <"$TMP/mkfs-nodiscard")" \
	"mount(8) -o nosuid,nodev of the new ext4" "$(median <"$TMP/mount")" \
	"umount(8) of it" "$(median <"$TMP/umount")"
