#!/usr/bin/env bash
# bench/vblk_nbd.sh - vblkd's NBD export against qemu-storage-daemon's NBD
# export (aio=io_uring, cache.direct=off), nbdkit's file plugin and nbdkit's
# null plugin (the client's ceiling: no storage at all), all driven by the
# same fio job (ioengine=nbd, one connection): 4k randread and 4k randwrite at
# QD32, 1 MiB sequential read and write at QD32.  Images live on /dev/shm so
# the servers' own cost shows.  Rounds are interleaved (every server runs each
# workload once per round, in an order that rotates); the median of the
# rounds is reported, with the ratios vblkd/qsd (goal >= 1.3),
# vblkd/nbdkit-file (goal >= 1.0) and vblkd/ceiling (goal >= 0.75).
#
# usage: bench/vblk_nbd.sh [BUILD_DIR]    (default build-bench; root not needed)
#   env: ROUNDS (3), RUNTIME seconds per run (5), SIZE of each image (1G),
#        WORKERS for vblkd (nproc), ONLY="randread randwrite read write",
#        ONLY_SERVERS="vblkd qsd nbdkit-file null" (a subset: no table of ratios),
#        BASELINE=/path/to/an/older/vblkd: also run that binary as server "base"
#        (interleaved like the others) and report vblkd/base, for before/after
# BUILD_DIR/bin/vblkd is built there in Release when it is missing; an
# existing build that is not Release is refused (Debug numbers mislead).
# Needs fio, nbdkit, qemu-storage-daemon, jq (Debian: apt-get install -y fio
# nbdkit qemu-system-common jq); exits 1 with a message when one is missing.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-$SRC/build-bench}"
ROUNDS="${ROUNDS:-3}"
RUNTIME="${RUNTIME:-5}"
SIZE="${SIZE:-1G}"
WORKERS="${WORKERS:-$(nproc)}"
WORKLOADS=(${ONLY:-randread randwrite read write})
SERVERS=(vblkd qsd nbdkit-file null)
BASELINE="${BASELINE:-}"
[[ -z "$BASELINE" || -x "$BASELINE" ]] || { echo "vblk_nbd: BASELINE $BASELINE is not executable" >&2; exit 1; }
for s in ${ONLY_SERVERS:-}; do [[ " ${SERVERS[*]} " == *" $s "* ]] || { echo "vblk_nbd: unknown server $s" >&2; exit 1; }; done
[[ -z "${ONLY_SERVERS:-}" ]] || SERVERS=($ONLY_SERVERS)
[[ -z "$BASELINE" ]] || SERVERS+=(base)

die() { echo "vblk_nbd: $*" >&2; exit 1; }
missing=()
for c in fio nbdkit qemu-storage-daemon jq cmake; do
	command -v "$c" >/dev/null 2>&1 || missing+=("$c")
done
[[ ${#missing[@]} -eq 0 ]] || die "missing: ${missing[*]} (apt-get install -y fio nbdkit qemu-system-common jq cmake)"
fio --enghelp=nbd >/dev/null 2>&1 || die "this fio has no nbd engine (Debian's fio has it)"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ && "$RUNTIME" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS and RUNTIME must be positive integers"

# --- vblkd, Release -----------------------------------------------------------
if [[ -f "$BUILD/CMakeCache.txt" ]]; then
	grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$BUILD/CMakeCache.txt" ||
		die "$BUILD is not a Release build (use another dir, or cmake -DCMAKE_BUILD_TYPE=Release)"
else
	cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null || die "cmake configure failed"
fi
cmake --build "$BUILD" -j2 --target vblkd >/dev/null || die "building vblkd failed"
VBLKD="$BUILD/bin/vblkd"

TMP="$(mktemp -d /dev/shm/vpb-nbd.XXXXXX)"
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

# One image per server, fully allocated (a sparse tmpfs file reads holes).
for s in vblkd qsd nbdkit-file ${BASELINE:+base}; do
	fallocate -l "$SIZE" "$TMP/$s.img" || die "cannot allocate $SIZE on /dev/shm"
done
BYTES=$(stat -c %s "$TMP/vblkd.img")

declare -A SPID
start() {  # start NAME CMD...: run CMD in the background, log in $TMP/NAME.log
	local name="$1"
	shift
	"$@" >"$TMP/$name.log" 2>&1 &
	PIDS+=($!)
	SPID[$name]=$!
}
start vblkd "$VBLKD" --nbd "unix:$TMP/vblkd.sock" --workers "$WORKERS" \
	--export "name=disk0,image=$TMP/vblkd.img"
[[ -z "$BASELINE" ]] || start base "$BASELINE" --nbd "unix:$TMP/base.sock" --workers "$WORKERS" \
	--export "name=disk0,image=$TMP/base.img"
start qsd qemu-storage-daemon \
	--blockdev "driver=file,node-name=file0,filename=$TMP/qsd.img,aio=io_uring,cache.direct=off" \
	--nbd-server "addr.type=unix,addr.path=$TMP/qsd.sock" \
	--export "type=nbd,id=exp0,node-name=file0,name=disk0,writable=on"
start nbdkit-file nbdkit --foreground --unix "$TMP/nbdkit-file.sock" --exportname disk0 \
	file "$TMP/nbdkit-file.img"
start null nbdkit --foreground --unix "$TMP/null.sock" --exportname disk0 null "size=$BYTES"

uri() { printf 'nbd+unix:///disk0?socket=%s/%s.sock' "$TMP" "$1"; }
for s in "${SERVERS[@]}"; do
	for ((i = 0; i < 100; i++)); do
		[[ -S "$TMP/$s.sock" ]] && break
		sleep 0.1
	done
	[[ -S "$TMP/$s.sock" ]] || die "$s did not start: $(cat "$TMP/$s.log")"
done

# cpu_ticks PID: user+system clock ticks of the process (all its threads).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run SERVER WORKLOAD: print IOPS, bytes/s and the server's CPU time per
# request in microseconds (load on the machine does not inflate that one).
run() {
	local bs=4k dir out t0 t1
	[[ $2 == rand* ]] || bs=1M
	t0=$(cpu_ticks "${SPID[$1]}")
	out="$(fio --name=vpb --ioengine=nbd --uri="$(uri "$1")" --rw="$2" --bs="$bs" --iodepth=32 \
		--numjobs=1 --size="$BYTES" --time_based --runtime="$RUNTIME" \
		--output-format=json 2>"$TMP/fio.err")" || die "fio against $1 ($2) failed: $(cat "$TMP/fio.err")"
	t1=$(cpu_ticks "${SPID[$1]}")
	dir=read
	[[ $2 == *write ]] && dir=write
	# fio's nbd engine prints "connected" on stdout before the JSON.
	sed -n '/^{/,$p' <<<"$out" | jq -r --argjson hz "$(getconf CLK_TCK)" --argjson t $((t1 - t0)) \
		".jobs[0].$dir | \"\(.iops) \(.bw_bytes) \(if .total_ios > 0 then \$t / \$hz * 1e6 / .total_ios else 0 end)\""
}

declare -A IOPS BW CPU
echo "vblk_nbd: $ROUNDS rounds x ${#WORKLOADS[@]} workloads x ${#SERVERS[@]} servers, ${RUNTIME}s each," \
	"images of $SIZE on /dev/shm, vblkd --workers $WORKERS, $(nproc) CPUs"
for ((r = 0; r < ROUNDS; r++)); do
	for w in "${WORKLOADS[@]}"; do
		for ((k = 0; k < ${#SERVERS[@]}; k++)); do
			s=${SERVERS[$(((k + r) % ${#SERVERS[@]}))]}
			read -r iops bw cpu < <(run "$s" "$w")
			IOPS[$s,$w]+="$iops "
			BW[$s,$w]+="$bw "
			CPU[$s,$w]+="$cpu "
			printf '  round %d %-9s %-11s %10.0f IOPS %8.1f MiB/s %8.1f us server CPU/request\n' \
				$((r + 1)) "$w" "$s" "$iops" "$(awk -v b="$bw" 'BEGIN { print b / 1048576 }')" "$cpu"
		done
	done
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
mark() { awk -v r="$1" -v g="$2" 'BEGIN { print ((r >= g) ? "ok" : "MISS") }'; }

echo
printf '%-13s %-6s %10s %10s %11s %10s | %-12s %-12s %-12s\n' workload unit vblkd qsd nbdkit-file \
	ceiling "vs qsd>=1.3" "vs nbdkit>=1" "vs ceil>=.75"
for w in "${WORKLOADS[@]}"; do
	declare -A M=()
	unit=IOPS
	[[ $w == rand* ]] || unit=MiB/s
	for s in vblkd qsd nbdkit-file null base; do
		if [[ $unit == IOPS ]]; then
			M[$s]=$(median "${IOPS[$s,$w]:-0}")
		else
			M[$s]=$(awk -v b="$(median "${BW[$s,$w]:-0}")" 'BEGIN { print b / 1048576 }')
		fi
	done
	r1=$(ratio "${M[vblkd]}" "${M[qsd]}")
	r2=$(ratio "${M[vblkd]}" "${M[nbdkit-file]}")
	r3=$(ratio "${M[vblkd]}" "${M[null]}")
	label="$w-1M"
	[[ $w == rand* ]] && label="$w-4k"
	printf '%-13s %-6s %10.0f %10.0f %11.0f %10.0f | %-5s %-6s %-5s %-6s %-5s %-6s\n' \
		"$label" "$unit" "${M[vblkd]}" "${M[qsd]}" "${M[nbdkit-file]}" "${M[null]}" \
		"$r1" "$(mark "$r1" 1.3)" "$r2" "$(mark "$r2" 1.0)" "$r3" "$(mark "$r3" 0.75)"
	[[ -z "$BASELINE" ]] || printf '%-13s %-6s %10.0f vs base %.0f: %s\n' "$label" "$unit" \
		"${M[vblkd]}" "${M[base]}" "$(ratio "${M[vblkd]}" "${M[base]}")"
done

# The servers' own cost, which the machine's other load does not inflate.
echo
printf '%-13s %-6s %10s %10s %11s %10s | %s\n' workload unit vblkd qsd nbdkit-file ceiling \
	"server CPU per request, median; vblkd/qsd vblkd/nbdkit-file"
for w in "${WORKLOADS[@]}"; do
	declare -A C=()
	for s in vblkd qsd nbdkit-file null base; do
		C[$s]=$(median "${CPU[$s,$w]:-0}")
	done
	label="$w-1M"
	[[ $w == rand* ]] && label="$w-4k"
	printf '%-13s %-6s %10.1f %10.1f %11.1f %10.1f | %s %s\n' "$label" us "${C[vblkd]}" "${C[qsd]}" \
		"${C[nbdkit-file]}" "${C[null]}" "$(ratio "${C[vblkd]}" "${C[qsd]}")" \
		"$(ratio "${C[vblkd]}" "${C[nbdkit-file]}")"
	[[ -z "$BASELINE" ]] || printf '%-13s %-6s %10.1f vs base %.1f: %s\n' "$label" us "${C[vblkd]}" \
		"${C[base]}" "$(ratio "${C[vblkd]}" "${C[base]}")"
done
