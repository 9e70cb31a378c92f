#!/bin/bash
# ipam_scale.sh - ADD and DEL latency of vnet-ipam with 0 and with 10,000
# existing allocations, against the reference host-local the same way.
# Usage: bench/ipam_scale.sh [build dir]   (env: N ops per case, HL_N for
# host-local with a full store, FILL allocations to pre-fill; default 100/30/10000)
set -u

BUILD=${1:-${VP_BUILD:-$(dirname "$0")/../build}}
VP=$BUILD/bin/vnet-ipam
FILLER=$BUILD/tests/ipam_fill
HL=/usr/lib/cni/host-local
N=${N:-100}
HL_N=${HL_N:-30}
FILL=${FILL:-10000}

[ -x "$VP" ] && [ -x "$FILLER" ] || { echo "build vnet-ipam and ipam_fill first ($BUILD)"; exit 1; }
TMP=$(mktemp -d /tmp/vp-ipam-bench.XXXXXX)
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

# run BIN CONF COUNT -> "add_us del_us" (mean per operation, process start included)
run() {
	local bin=$1 conf=$2 n=$3 t0 t1 t2 i
	t0=$(now)
	for ((i = 0; i < n; i++)); do
		CNI_COMMAND=ADD CNI_CONTAINERID=bench$i CNI_NETNS=/var/run/netns/$NS CNI_IFNAME=eth0 \
			CNI_PATH=/usr/lib/cni "$bin" <"$conf" >/dev/null || { echo "ADD failed" >&2; exit 1; }
	done
	t1=$(now)
	for ((i = 0; i < n; i++)); do
		CNI_COMMAND=DEL CNI_CONTAINERID=bench$i CNI_NETNS=/var/run/netns/$NS CNI_IFNAME=eth0 \
			CNI_PATH=/usr/lib/cni "$bin" <"$conf" >/dev/null || { echo "DEL failed" >&2; exit 1; }
	done
	t2=$(now)
	echo $(((t1 - t0) / n / 1000)) $(((t2 - t1) / n / 1000))
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

conf vnet-ipam "$TMP/vp0" >"$TMP/vp0.json"
conf vnet-ipam "$TMP/vpF" >"$TMP/vpF.json"
conf host-local "$TMP/hl0" >"$TMP/hl0.json"
conf host-local "$TMP/hlF" >"$TMP/hlF.json"
"$FILLER" "$TMP/vpF.json" "$FILL" || exit 1
fill_host_local "$TMP/hlF" "$FILL"

read -r vp0_add vp0_del < <(run "$VP" "$TMP/vp0.json" "$N")
read -r vpF_add vpF_del < <(run "$VP" "$TMP/vpF.json" "$N")
read -r hl0_add hl0_del < <(run "$HL" "$TMP/hl0.json" "$N")
read -r hlF_add hlF_del < <(run "$HL" "$TMP/hlF.json" "$HL_N")

printf '%-12s %12s %12s %12s %12s\n' plugin "ADD@0 us" "ADD@$FILL us" "DEL@0 us" "DEL@$FILL us"
printf '%-12s %12d %12d %12d %12d\n' vnet-ipam "$vp0_add" "$vpF_add" "$vp0_del" "$vpF_del"
printf '%-12s %12d %12d %12d %12d\n' host-local "$hl0_add" "$hlF_add" "$hl0_del" "$hlF_del"
echo "vnet-ipam  ADD ratio full/empty: $(ratio "$vpF_add" "$vp0_add")  (goal <= 1.5)"
echo "vnet-ipam  DEL ratio full/empty: $(ratio "$vpF_del" "$vp0_del")"
echo "host-local ADD ratio full/empty: $(ratio "$hlF_add" "$hl0_add")"
echo "host-local DEL ratio full/empty: $(ratio "$hlF_del" "$hl0_del")"
echo "ADD with $FILL: host-local / vnet-ipam = $(ratio "$hlF_add" "$vpF_add")"
echo "ADD empty:      host-local / vnet-ipam = $(ratio "$hl0_add" "$vp0_add")"
