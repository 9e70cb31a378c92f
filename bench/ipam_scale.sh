#!/bin/bash
# ipam_scale.sh - ADD and DEL latency of vnet-ipam with 0 and with 10,000
# existing allocations, against the reference host-local the same way.
# Usage: bench/ipam_scale.sh [build dir]   (env: N ops per case, HL_N for
# host-local with a full store, FILL allocations to pre-fill; default 100/30/10000;
# BENCH_DIR where the state directories go, default /tmp: use /dev/shm to leave
# the disk's fsync latency out)
set -u

BUILD=${1:-${VP_BUILD:-$(dirname "$0")/../build}}
VP=$BUILD/bin/vnet-ipam
FILLER=$BUILD/tests/ipam_fill
HL=/usr/lib/cni/host-local
N=${N:-100}
HL_N=${HL_N:-30}
FILL=${FILL:-10000}
BENCH_DIR=${BENCH_DIR:-/tmp}

[ -x "$VP" ] && [ -x "$FILLER" ] || { echo "build vnet-ipam and ipam_fill first ($BUILD)"; exit 1; }
TMP=$(mktemp -d "$BENCH_DIR/vp-ipam-bench.XXXXXX") || exit 1
echo "state in $TMP on $(stat -f -c %T "$TMP") ($(df --output=source "$TMP" | tail -1))"
NS=vpipambench$$
cleanup() { ip netns del "$NS" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
ip netns add "$NS" || exit 1

conf() {  # conf TYPE DATADIR
	printf '{"cniVersion":"1.0.0","name":"bench","type":"%s","ipam":{"type":"%s","dataDir":"%s","ranges":[[{"subnet":"10.88.0.0/16"}]]}}' \
		"$1" "$1" "$2"
}

# Host-local's disk format: one file per address holding "cid\r\nifname".
fill_host_local() {  # DIR COUNT
	mkdir -p "$1/bench"
	for ((i = 0; i < $2; i++)); do
		a=$((i + 2))
		printf 'fill%08d\r\neth0' "$i" >"$1/bench/10.88.$((a / 256)).$((a % 256))"
	done
	printf '10.88.%d.%d' $((($2 + 1) / 256)) $((($2 + 1) % 256)) >"$1/bench/last_reserved_ip.0"
}

now() { date +%s%N; }

# add_us VAR XmY.YYYs: add the time (as the builtin times prints it) to VAR, in us.
add_us() {
	local m=${2%%m*} sec=${2#*m} whole frac
	sec=${sec%s}
	whole=${sec%.*}
	frac=${sec#*.}000000
	printf -v "$1" %d $((${!1:-0} + (10#$m * 60 + 10#$whole) * 1000000 + 10#${frac:0:6}))
}

# cpu_us VAR: user + system CPU time of the children waited for so far, in us.
# The builtin times runs without a fork, so between two calls only the plugin
# runs count: a measure that a loaded machine (shared VM) disturbs much less
# than wall time.
cpu_us() {
	local u s
	times >"$TMP/times"
	{ read -r _; read -r u s; } <"$TMP/times"
	printf -v "$1" %d 0
	add_us "$1" "$u"
	add_us "$1" "$s"
}

# batch VERB BIN CONF FIRST COUNT: add the batch's wall nanoseconds to the
# variable T_VERB_CONF and its CPU microseconds to C_VERB_CONF.
batch() {
	local verb=$1 bin=$2 conf=$3 first=$4 count=$5 t0 c0 c1 i var
	t0=$(now)
	cpu_us c0
	for ((i = first; i < first + count; i++)); do
		CNI_COMMAND=$verb CNI_CONTAINERID=bench$i CNI_NETNS=/var/run/netns/$NS CNI_IFNAME=eth0 \
			CNI_PATH=/usr/lib/cni "$bin" <"$TMP/$conf.json" >/dev/null ||
			{ echo "$verb $conf failed" >&2; exit 1; }
	done
	cpu_us c1
	var=T_${verb}_$conf
	printf -v "$var" %d $((${!var:-0} + $(now) - t0))
	var=C_${verb}_$conf
	printf -v "$var" %d $((${!var:-0} + c1 - c0))
}

# compare BIN EMPTY FULL N_EMPTY N_FULL: interleave batches of 10 on the empty
# and the full store, so disk noise (shared VM) hits both cases alike.
compare() {
	local bin=$1 e=$2 f=$3 ne=$4 nf=$5 k
	for ((k = 0; k < ne || k < nf; k += 10)); do
		((k < ne)) && batch ADD "$bin" "$e" "$k" 10
		((k < nf)) && batch ADD "$bin" "$f" "$k" 10
		((k < ne)) && batch DEL "$bin" "$e" "$k" 10
		((k < nf)) && batch DEL "$bin" "$f" "$k" 10
	done
}

us() { echo $(($1 / $2 / 1000)); }   # total ns, count -> us per op

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

conf vnet-ipam "$TMP/vp0" >"$TMP/vp0.json"
conf vnet-ipam "$TMP/vpF" >"$TMP/vpF.json"
conf host-local "$TMP/hl0" >"$TMP/hl0.json"
conf host-local "$TMP/hlF" >"$TMP/hlF.json"
"$FILLER" "$TMP/vpF.json" "$FILL" || exit 1
fill_host_local "$TMP/hlF" "$FILL"

N=$(((N + 9) / 10 * 10))
HL_N=$(((HL_N + 9) / 10 * 10))
compare "$VP" vp0 vpF "$N" "$N"
compare "$HL" hl0 hlF "$N" "$HL_N"
vp0_add=$(us "$T_ADD_vp0" "$N"); vp0_del=$(us "$T_DEL_vp0" "$N")
vpF_add=$(us "$T_ADD_vpF" "$N"); vpF_del=$(us "$T_DEL_vpF" "$N")
hl0_add=$(us "$T_ADD_hl0" "$N"); hl0_del=$(us "$T_DEL_hl0" "$N")
hlF_add=$(us "$T_ADD_hlF" "$HL_N"); hlF_del=$(us "$T_DEL_hlF" "$HL_N")

cpu() { echo $(($1 / $2)); }   # total us, count -> us per op
vp0_cadd=$(cpu "$C_ADD_vp0" "$N"); vpF_cadd=$(cpu "$C_ADD_vpF" "$N")
vp0_cdel=$(cpu "$C_DEL_vp0" "$N"); vpF_cdel=$(cpu "$C_DEL_vpF" "$N")
hl0_cadd=$(cpu "$C_ADD_hl0" "$N"); hlF_cadd=$(cpu "$C_ADD_hlF" "$HL_N")

echo "wall time per operation:"
printf '%-12s %12s %12s %12s %12s\n' plugin "ADD@0 us" "ADD@$FILL us" "DEL@0 us" "DEL@$FILL us"
printf '%-12s %12d %12d %12d %12d\n' vnet-ipam "$vp0_add" "$vpF_add" "$vp0_del" "$vpF_del"
printf '%-12s %12d %12d %12d %12d\n' host-local "$hl0_add" "$hlF_add" "$hl0_del" "$hlF_del"
echo "CPU time (user + system) per operation:"
printf '%-12s %12d %12d %12d %12d\n' vnet-ipam "$vp0_cadd" "$vpF_cadd" "$vp0_cdel" "$vpF_cdel"
printf '%-12s %12d %12d %12s %12s\n' host-local "$hl0_cadd" "$hlF_cadd" - -
echo "vnet-ipam  ADD CPU ratio full/empty: $(ratio "$vpF_cadd" "$vp0_cadd")"
echo "vnet-ipam  ADD ratio full/empty: $(ratio "$vpF_add" "$vp0_add")  (goal <= 1.5)"
echo "vnet-ipam  DEL ratio full/empty: $(ratio "$vpF_del" "$vp0_del")"
echo "host-local ADD ratio full/empty: $(ratio "$hlF_add" "$hl0_add")"
echo "host-local DEL ratio full/empty: $(ratio "$hlF_del" "$hl0_del")"
echo "ADD with $FILL: host-local / vnet-ipam = $(ratio "$hlF_add" "$vpF_add")"
echo "ADD empty:      host-local / vnet-ipam = $(ratio "$hl0_add" "$vp0_add")"
