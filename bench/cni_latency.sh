#!/usr/bin/env bash
# bench/cni_latency.sh - per-pod ADD+DEL latency of vnet-bridge + vnet-ipam
# against the reference bridge + host-local (/usr/lib/cni) on this machine.
# Plugins are executed directly (env + stdin, as a runtime's libcni would,
# without libcni's own cost) through tests/tools/cni_time, which times the
# plugin from its posix_spawn to its exit, so the shell's own fork and exec
# cost is not counted; N pods each, in interleaved rounds (vplumb and
# reference alternate who goes first), one warm-up pod each not counted.
# Prints ms per pod (ADD, DEL, ADD+DEL; mean and median) and the ratio
# vplumb/reference of the mean ADD+DEL (goal <= 0.25).
#
# usage: bench/cni_latency.sh [BUILD_DIR] [N]     (defaults: build, 50; root)
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$(cd "${1:-$SRC/build}" && pwd)"
N="${2:-50}"
VP_BIN="$BUILD/bin"
TIMER="$BUILD/tests/cni_time"
REF_BIN=/usr/lib/cni
P=vpb-

die() { echo "cni_latency: $*" >&2; exit 1; }
[[ $EUID -eq 0 ]] || die "run as root"
[[ "$N" =~ ^[0-9]+$ && "$N" -ge 1 ]] || die "N must be a positive integer"
for b in "$VP_BIN/vnet-bridge" "$VP_BIN/vnet-ipam" "$TIMER" "$REF_BIN/bridge" "$REF_BIN/host-local"; do
	[[ -x "$b" ]] || die "$b missing (build vplumb; apt-get install containernetworking-plugins)"
done
command -v jq >/dev/null || die "jq not installed"

TMP="$(mktemp -d /tmp/${P}XXXXXX)"
cleanup() {
	local rc=$? i
	set +e
	for i in $(seq 0 "$N"); do ip netns del "${P}p$i" 2>/dev/null; done
	ip link del "${P}vp" 2>/dev/null
	ip link del "${P}ref" 2>/dev/null
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

conf() { # conf BRIDGE_TYPE IPAM_TYPE BRIDGE_NAME SUBNET
	printf '{"cniVersion":"1.0.0","name":"%s","type":"%s","bridge":"%s","isGateway":true,"ipam":{"type":"%s","dataDir":"%s","ranges":[[{"subnet":"%s"}]]}}' \
		"$3" "$1" "$3" "$2" "$TMP/ipam" "$4"
}
declare -A CONF BIN PATHS
CONF[vp]=$(conf vnet-bridge vnet-ipam "${P}vp" 10.198.20.0/24)
CONF[ref]=$(conf bridge host-local "${P}ref" 10.198.21.0/24)
BIN[vp]=$VP_BIN/vnet-bridge
BIN[ref]=$REF_BIN/bridge
PATHS[vp]=$VP_BIN
PATHS[ref]=$REF_BIN

# invoke WHO CMD POD STDIN: run one plugin; its stdout in $TMP/out, its
# time in microseconds on stdout.
invoke() {
	printf '%s' "$4" >"$TMP/in"
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND="$2" \
		CNI_CONTAINERID="${P}$1-$3" CNI_NETNS="/run/netns/${P}p$3" CNI_IFNAME=eth0 \
		CNI_PATH="${PATHS[$1]}" "$TIMER" "$TMP/in" "${BIN[$1]}" >"$TMP/out" 2>"$TMP/time" ||
		die "$1 $2 pod $3 failed: $(cat "$TMP/out" "$TMP/time")"
	sed -n 's/^cni_time_us=//p' "$TMP/time"
}

# one WHO POD: ADD then DEL (with the ADD result as prevResult); appends
# "add_us del_us" to $TMP/WHO.
one() {
	local add del
	add=$(invoke "$1" ADD "$2" "${CONF[$1]}")
	del=$(jq -c --slurpfile r "$TMP/out" '. + {prevResult: $r[0]}' <<<"${CONF[$1]}")
	echo "$add $(invoke "$1" DEL "$2" "$del")" >>"$TMP/$1"
}

for i in $(seq 0 "$N"); do
	ip netns add "${P}p$i"
	ip -n "${P}p$i" link set lo up
done
one vp 0 && one ref 0 # warm-up: creates the bridges and state dirs
: >"$TMP/vp"
: >"$TMP/ref"
for i in $(seq 1 "$N"); do
	if ((i % 2)); then one vp "$i"; one ref "$i"; else one ref "$i"; one vp "$i"; fi
done

# stats FILE COLUMN_EXPR: "mean median" in ms of the expression over rows.
stats() {
	awk "{print $2}" "$1" | sort -n | awk '{v[NR] = $1; s += $1}
		END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
		     printf "%.2f %.2f\n", s / NR / 1000, m / 1000}'
}
echo "CNI ADD+DEL latency, $N pods each, interleaved, direct exec ($(nproc) cpus, $(uname -r))"
printf '%-30s %10s %10s %13s %12s\n' "" "ADD mean" "DEL mean" "ADD+DEL mean" "ADD+DEL p50"
for who in vp ref; do
	read -r am _ < <(stats "$TMP/$who" '$1')
	read -r dm _ < <(stats "$TMP/$who" '$2')
	read -r tm tp < <(stats "$TMP/$who" '$1 + $2')
	[[ $who == vp ]] && name="vplumb (vnet-bridge+ipam)" || name="reference (bridge+host-local)"
	printf '%-30s %7s ms %7s ms %10s ms %9s ms\n' "$name" "$am" "$dm" "$tm" "$tp"
	declare "total_$who=$tm"
done
awk -v a="$total_vp" -v b="$total_ref" 'BEGIN {r = a / b; printf "ratio vplumb/reference (mean ADD+DEL): %.3f  (goal <= 0.25: %s)\n", r, (r <= 0.25) ? "met" : "NOT met"}'
