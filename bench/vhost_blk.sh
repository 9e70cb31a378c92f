#!/usr/bin/env bash
# bench/vhost_blk.sh - vblkd's vhost-user-blk export against
# qemu-storage-daemon's (aio=io_uring, cache.direct=off) on the same tmpfs
# image, both driven by the same load generator (tests/tools/vhost_frontend
# "bench": 4k randread / randwrite, queue depth 32 per queue, one thread per
# queue, kicks suppressed with EVENT_IDX as a guest driver does), and fio
# ioengine=io_uring iodepth=32 straight on the image (the limit; one job per
# queue).  1 and 2 queues.  Rounds are interleaved (each target runs each
# workload once per round, in an order that rotates); medians are reported
# with the ratios vblkd/qsd (goal >= 1.3) and vblkd/limit (goal >= 0.8), per
# queue, the scaling from 1 to 2 queues, and each server's CPU time per
# request (which the machine's other load does not inflate).
#
# usage: bench/vhost_blk.sh [BUILD_DIR]    (default build-bench)
#   env: ROUNDS (3), RUNTIME seconds per run (4), SIZE of the image (1G),
#        QUEUES ("1 2"), ONLY ("randread randwrite")
# BUILD_DIR is configured Release when new, and vblkd + vhost_frontend are
# built there; an existing build that is not Release is refused.  Needs fio,
# qemu-storage-daemon, jq (apt-get install -y fio qemu-system-common jq).
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-$SRC/build-bench}"
ROUNDS="${ROUNDS:-3}"
RUNTIME="${RUNTIME:-4}"
SIZE="${SIZE:-1G}"
QUEUES=(${QUEUES:-1 2})
WORKLOADS=(${ONLY:-randread randwrite})
TARGETS=(vblkd qsd limit)

die() { echo "vhost_blk: $*" >&2; exit 1; }
missing=()
for c in fio qemu-storage-daemon jq cmake; do
	command -v "$c" >/dev/null 2>&1 || missing+=("$c")
done
[[ ${#missing[@]} -eq 0 ]] || die "missing: ${missing[*]} (apt-get install -y fio qemu-system-common jq cmake)"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ && "$RUNTIME" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS and RUNTIME must be positive integers"
maxq=1
for q in "${QUEUES[@]}"; do
	[[ "$q" =~ ^[1-8]$ ]] || die "QUEUES entries must be 1..8"
	((q > maxq)) && maxq=$q
done
for w in "${WORKLOADS[@]}"; do
	[[ $w == randread || $w == randwrite ]] || die "unknown workload $w"
done

# --- Release build --------------------------------------------------------------
if [[ -f "$BUILD/CMakeCache.txt" ]]; then
	grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$BUILD/CMakeCache.txt" ||
		die "$BUILD is not a Release build (use another dir, or cmake -DCMAKE_BUILD_TYPE=Release)"
else
	cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null || die "cmake configure failed"
fi
cmake --build "$BUILD" -j2 --target vblkd vhost_frontend >/dev/null || die "building vblkd/vhost_frontend failed"
VBLKD="$BUILD/bin/vblkd"
FE="$BUILD/tests/vhost_frontend"

TMP="$(mktemp -d /dev/shm/vpb-vhost.XXXXXX)"
PIDS=()
cleanup() {
	local rc=$? p
	set +e
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# One image, every page written (a sparse or fallocated tmpfs file would
# make the first touch of each block cost extra).
IMG="$TMP/disk.img"
dd if=/dev/zero of="$IMG" bs=1M count=$(($(numfmt --from=iec "$SIZE") >> 20)) status=none ||
	die "cannot write $SIZE on /dev/shm"

declare -A SPID
start() {  # start NAME CMD...: run CMD in the background, log in $TMP/NAME.log
	local name="$1"
	shift
	"$@" >"$TMP/$name.log" 2>&1 &
	PIDS+=($!)
	SPID[$name]=$!
}
start vblkd "$VBLKD" --export "name=disk0,image=$IMG" \
	--vhost-user "name=disk0,socket=$TMP/vblkd.sock,queues=$maxq"
start qsd qemu-storage-daemon \
	--blockdev "driver=file,node-name=f0,filename=$IMG,aio=io_uring,cache.direct=off,locking=off" \
	--export "type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path=$TMP/qsd.sock,writable=on,num-queues=$maxq"
for s in vblkd qsd; do
	for ((i = 0; i < 100; i++)); do
		[[ -S "$TMP/$s.sock" ]] && break
		sleep 0.1
	done
	[[ -S "$TMP/$s.sock" ]] || die "$s did not start: $(cat "$TMP/$s.log")"
done

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run TARGET WORKLOAD QUEUES: print "IOPS per-queue-IOPS CPU-us-per-request"
# (per-queue: comma-separated; CPU: the server's, 0 for the limit).
run() {
	local t="$1" w="$2" q="$3" out t0 t1 iops perq
	if [[ $t == limit ]]; then
		out=$(fio --name=vpb --filename="$IMG" --ioengine=io_uring --iodepth=32 --rw="$w" --bs=4k \
			--numjobs="$q" --time_based --runtime="$RUNTIME" --output-format=json 2>"$TMP/fio.err") ||
			die "fio ($w, $q jobs) failed: $(cat "$TMP/fio.err")"
		local dir=read
		[[ $w == randwrite ]] && dir=write
		iops=$(jq -r "[.jobs[].$dir.iops] | add" <<<"$out")
		perq=$(jq -r "[.jobs[].$dir.iops | floor] | map(tostring) | join(\",\")" <<<"$out")
		echo "$iops $perq 0"
		return
	fi
	t0=$(cpu_ticks "${SPID[$t]}")
	out=$("$FE" "$TMP/$t.sock" "$IMG" disk0 bench "$w" "$RUNTIME" "$q" 2>"$TMP/fe.err") ||
		die "load generator against $t ($w, $q queues) failed: $(cat "$TMP/fe.err") $out"
	t1=$(cpu_ticks "${SPID[$t]}")
	iops=$(sed -n 's/^iops=\([0-9]*\).*/\1/p' <<<"$out")
	perq=$(grep -o ' q[0-9]*=[0-9]*' <<<"$out" | cut -d= -f2 | paste -sd, -)
	awk -v i="$iops" -v p="$perq" -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v s="$RUNTIME" \
		'BEGIN { printf "%s %s %.2f\n", i, p, (i > 0 ? t / hz * 1e6 / (i * s) : 0) }'
}

declare -A IOPS CPU PERQ
echo "vhost_blk: $ROUNDS rounds x ${#WORKLOADS[@]} workloads x queues (${QUEUES[*]}) x ${#TARGETS[@]} targets," \
	"${RUNTIME}s each, one $SIZE image on /dev/shm, $(nproc) CPUs, QD32 per queue"
for ((r = 0; r < ROUNDS; r++)); do
	for q in "${QUEUES[@]}"; do
		for w in "${WORKLOADS[@]}"; do
			for ((k = 0; k < ${#TARGETS[@]}; k++)); do
				t=${TARGETS[$(((k + r) % ${#TARGETS[@]}))]}
				read -r iops perq cpu < <(run "$t" "$w" "$q")
				IOPS[$t,$w,$q]+="$iops "
				CPU[$t,$w,$q]+="$cpu "
				PERQ[$t,$w,$q]=$perq
				printf '  round %d q=%d %-9s %-5s %10.0f IOPS (per queue %s) %6.2f us server CPU/request\n' \
					$((r + 1)) "$q" "$w" "$t" "$iops" "$perq" "$cpu"
			done
		done
	done
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
mark() { awk -v r="$1" -v g="$2" 'BEGIN { print ((r >= g) ? "ok" : "MISS") }'; }

echo
echo "medians of $ROUNDS rounds (IOPS; per queue = total / queues; CPU = server CPU us per request)"
printf '%-10s %2s %10s %10s %10s %10s | %-11s %-11s | %7s %7s\n' workload q vblkd qsd limit \
	"vblkd/q" "vs qsd>=1.3" "vs lim>=0.8" "cpu-vb" "cpu-qsd"
for w in "${WORKLOADS[@]}"; do
	for q in "${QUEUES[@]}"; do
		v=$(median "${IOPS[vblkd,$w,$q]}") d=$(median "${IOPS[qsd,$w,$q]}") l=$(median "${IOPS[limit,$w,$q]}")
		r1=$(ratio "$v" "$d") r2=$(ratio "$v" "$l")
		printf '%-10s %2d %10.0f %10.0f %10.0f %10.0f | %-4s %-6s %-4s %-6s | %7.2f %7.2f\n' \
			"$w-4k" "$q" "$v" "$d" "$l" "$(awk -v v="$v" -v q="$q" 'BEGIN { print v / q }')" \
			"$r1" "$(mark "$r1" 1.3)" "$r2" "$(mark "$r2" 0.8)" \
			"$(median "${CPU[vblkd,$w,$q]}")" "$(median "${CPU[qsd,$w,$q]}")"
	done
done
if [[ " ${QUEUES[*]} " == *" 1 "* && ${#QUEUES[@]} -gt 1 ]]; then
	echo
	echo "scaling (IOPS at N queues / IOPS at 1 queue; $(nproc) CPUs shared by generator and server)"
	for w in "${WORKLOADS[@]}"; do
		for q in "${QUEUES[@]}"; do
			[[ $q == 1 ]] && continue
			line="$w-4k $q queues:"
			for t in "${TARGETS[@]}"; do
				line+=" $t $(ratio "$(median "${IOPS[$t,$w,$q]}")" "$(median "${IOPS[$t,$w,1]}")")x"
			done
			echo "  $line"
		done
	done
fi
