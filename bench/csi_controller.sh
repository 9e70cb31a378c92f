#!/usr/bin/env bash
# bench/csi_controller.sh - vblk-csi controller latency, measured from a
# python3-grpcio client over the CSI socket (round trip included):
#   1. CreateVolume + DeleteVolume of a 10 GiB volume, N times: median ms
#      (goal < 5 ms);
#   2. CreateSnapshot of a 1 GiB volume whose every byte was written, on a
#      loop-mounted xfs made here with reflink=1 (FICLONE) against the same
#      on an xfs with reflink=0 (the sparse-aware copy path), printed as a
#      ratio reflink/copy (goal <= 0.01).
#
# usage: bench/csi_controller.sh [BUILD_DIR] [N]     (defaults: build, 50; root)
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$(cd "${1:-$SRC/build}" && pwd)"
N="${2:-50}"
PY=/usr/bin/python3
die() { echo "csi_controller: $*" >&2; exit 1; }
[[ $EUID -eq 0 ]] || die "run as root (loop mounts)"
[[ "$N" =~ ^[0-9]+$ && "$N" -ge 1 ]] || die "N must be a positive integer"
[[ -x "$BUILD/bin/vblk-csi" ]] || die "$BUILD/bin/vblk-csi missing (build vplumb)"
command -v mkfs.xfs >/dev/null || die "mkfs.xfs missing (apt-get install xfsprogs)"
"$PY" -c 'import grpc, grpc_tools' 2>/dev/null || die "apt-get install python3-grpcio python3-grpc-tools"

TMP="$(mktemp -d /tmp/vpb-csi.XXXXXX)"
cleanup() {
	local rc=$?
	set +e
	for m in reflink copy; do
		[[ -f "$TMP/$m.pid" ]] && kill "$(cat "$TMP/$m.pid")" 2>/dev/null && wait "$(cat "$TMP/$m.pid")" 2>/dev/null
		mountpoint -q "$TMP/$m" && umount "$TMP/$m"
	done
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT

# driver NAME REFLINK: an xfs at $TMP/NAME and a vblk-csi on it.
driver() {
	truncate -s 3G "$TMP/$1.img"
	mkfs.xfs -q -m reflink="$2" "$TMP/$1.img"
	mkdir "$TMP/$1"
	mount -o loop "$TMP/$1.img" "$TMP/$1"
	"$BUILD/bin/vblk-csi" --endpoint "unix://$TMP/$1.sock" --node-id bench \
		--pool "$TMP/$1/pool" 2>"$TMP/$1.log" &
	echo $! >"$TMP/$1.pid"
}
driver reflink 1
driver copy 0
"$PY" -m grpc_tools.protoc -I"$SRC/csi/proto" -I/usr/include --python_out="$TMP" \
	--grpc_python_out="$TMP" "$SRC/csi/proto/csi.proto"

"$PY" - "$TMP" "$N" <<'PY'
import os, statistics, sys, time
tmp, n = sys.argv[1], int(sys.argv[2])
sys.path.insert(0, tmp)
import grpc, csi_pb2 as p, csi_pb2_grpc as g

GIB = 1 << 30
cap = p.VolumeCapability(block=p.VolumeCapability.BlockVolume(),
                         access_mode=p.VolumeCapability.AccessMode(mode=1))

def stub(name):
    ch = grpc.insecure_channel("unix://%s/%s.sock" % (tmp, name))
    grpc.channel_ready_future(ch).result(timeout=10)
    return g.ControllerStub(ch)

def create(c, name, size):
    return c.CreateVolume(p.CreateVolumeRequest(
        name=name, capacity_range=p.CapacityRange(required_bytes=size),
        volume_capabilities=[cap])).volume.volume_id

c = stub("reflink")
create(c, "warmup", GIB)
times = []
for i in range(n):
    t0 = time.perf_counter()
    vid = create(c, "vpb-%d" % i, 10 * GIB)
    c.DeleteVolume(p.DeleteVolumeRequest(volume_id=vid))
    times.append((time.perf_counter() - t0) * 1000)
med = statistics.median(times)
print("CreateVolume+DeleteVolume 10 GiB: median %.2f ms, mean %.2f ms over %d (goal < 5 ms)"
      % (med, statistics.mean(times), n))

def written_snapshot(name):
    c = stub(name)
    vid = create(c, "vpb-src", GIB)
    block = os.urandom(1 << 20)
    with open("%s/%s/pool/volumes/%s.img" % (tmp, name, vid), "r+b") as f:
        for _ in range(1024):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())
    t0 = time.perf_counter()
    s = c.CreateSnapshot(p.CreateSnapshotRequest(name="vpb-snap", source_volume_id=vid))
    dt = (time.perf_counter() - t0) * 1000
    assert s.snapshot.ready_to_use and s.snapshot.size_bytes == GIB
    return dt

r = written_snapshot("reflink")
k = written_snapshot("copy")
print("CreateSnapshot of a written 1 GiB volume: reflink %.2f ms, copy %.2f ms, "
      "ratio %.4f (goal <= 0.01)" % (r, k, r / k))
PY
