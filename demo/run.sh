#!/usr/bin/env bash
# demo/run.sh - vplumb in one minute: two pods on a vnet-bridge network
# (vnet-ipam, isGateway, ipMasq) ping each other and their gateway; a third
# pod's veth is redirected by vnet-tap to a tap for a VM; then everything is
# DELeted.  Plugins run through vp-cnitool (the real libcni path) when it is
# built, else directly (env + stdin).
#
# usage: demo/run.sh [BUILD_DIR]      (default: build; run as root)
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$(cd "${1:-$SRC/build}" && pwd)"
BIN="$BUILD/bin"
CNITOOL="$BUILD/tests/vp-cnitool"
CNI_PATH="$BIN:/usr/lib/cni"
P=vpd-                       # every object the demo makes starts with this
NET=vpd-net
BR=${P}br0
SUBNET=10.198.100.0/24

die() { printf '✗ %s\n' "$*" >&2; exit 1; }
ok() { printf '✓ %s\n' "$*"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

[[ $EUID -eq 0 ]] || die "run as root (network namespaces, links)"
for b in vnet-bridge vnet-ipam vnet-tap; do
	[[ -x "$BIN/$b" ]] || die "$BIN/$b not built: run 'make demo' or cmake --build $BUILD"
done
for c in ip jq tc ping; do command -v "$c" >/dev/null || die "'$c' not installed (.ci/install-deps)"; done

TMP="$(mktemp -d /tmp/${P}XXXXXX)"
PODS=()
cleanup() {
	local rc=$? ns
	set +e
	for ns in "${PODS[@]}"; do ip netns del "$P$ns" 2>/dev/null; done
	ip link del "$BR" 2>/dev/null
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bridge_json() {
	cat <<JSON
{ "type": "vnet-bridge", "bridge": "$BR", "isGateway": true, "ipMasq": true,
  "ipam": { "type": "vnet-ipam", "dataDir": "$TMP/ipam", "ranges": [[{ "subnet": "$SUBNET" }]],
            "routes": [{ "dst": "0.0.0.0/0" }] } }
JSON
}
printf '{"cniVersion":"1.0.0","name":"%s","plugins":[%s]}\n' "$NET" "$(bridge_json)" >"$TMP/pod.conflist"
printf '{"cniVersion":"1.0.0","name":"%s","plugins":[%s,{"type":"vnet-tap","name":"tap0","vnetHdr":true}]}\n' \
	"$NET" "$(bridge_json)" >"$TMP/vm.conflist"

# direct CMD CONFLIST NETNS CID: run the conflist's plugins by hand, as libcni
# would (prevResult chained on ADD, reverse order with the last result on DEL).
direct() {
	local cmd=$1 list=$2 netns=$3 cid=$4 n i order conf prev=null out
	n=$(jq '.plugins | length' "$list")
	order=$(seq 0 $((n - 1)))
	if [[ $cmd == DEL ]]; then
		order=$(seq $((n - 1)) -1 0)
		prev=$(cat "$TMP/$cid.result")
	fi
	for i in $order; do
		conf=$(jq -c --argjson i "$i" --argjson prev "$prev" \
			'.plugins[$i] + {name, cniVersion} + (if $prev == null then {} else {prevResult: $prev} end)' "$list")
		out=$(printf '%s' "$conf" | env CNI_COMMAND="$cmd" CNI_CONTAINERID="$cid" CNI_NETNS="$netns" \
			CNI_IFNAME=eth0 CNI_PATH="$CNI_PATH" "$BIN/$(jq -r .type <<<"$conf")") || { echo "$out" >&2; return 1; }
		[[ $cmd == ADD ]] && prev=$out
	done
	if [[ $cmd == ADD ]]; then echo "$prev" | tee "$TMP/$cid.result"; fi
}

# cni add|del CONFLIST POD: ADD prints the result JSON.
cni() {
	local netns=/run/netns/$P$3 cid=${P}cid-$3
	if [[ -x "$CNITOOL" ]]; then
		"$CNITOOL" "$1" "$2" "$netns" "$cid" eth0 --cni-path "$CNI_PATH" --cache-dir "$TMP/cache"
	else
		direct "${1^^}" "$2" "$netns" "$cid"
	fi
}

if [[ -x "$CNITOOL" ]]; then VIA="libcni (vp-cnitool)"; else VIA="direct exec (vp-cnitool not built)"; fi
echo "vplumb demo: plugins from $BIN, invoked via $VIA"
veth0=$(ip -o link show type veth | wc -l)

declare -A IP
add_pod() { # add_pod POD CONFLIST
	local t0 r
	ip netns add "$P$1" && PODS+=("$1")
	ip -n "$P$1" link set lo up
	t0=$(now_ms)
	r=$(cni add "$2" "$1") || die "ADD $1 failed"
	IP[$1]=$(jq -r '.ips[0].address' <<<"$r" | cut -d/ -f1)
	GW=$(jq -r '.ips[0].gateway' <<<"$r")
	ok "ADD $1: eth0 ${IP[$1]} via $GW  ($(($(now_ms) - t0)) ms)"
}
add_pod pod1 "$TMP/pod.conflist"
add_pod pod2 "$TMP/pod.conflist"

ping_ok() { ip netns exec "$P$1" ping -c 1 -W 2 -q "$2" >/dev/null || die "$1 cannot ping $2"; }
ping_ok pod1 "${IP[pod2]}" && ok "pod1 → pod2 (${IP[pod2]}) ping"
ping_ok pod2 "${IP[pod1]}" && ok "pod2 → pod1 (${IP[pod1]}) ping"
ping_ok pod1 "$GW" && ping_ok pod2 "$GW" && ok "pod1, pod2 → gateway $GW ping ($BR, isGateway)"

add_pod vm1 "$TMP/vm.conflist"
tap=$(ip -n "${P}vm1" -d link show tap0 | awk '/tun type/ {print $2, $3, $6, $7}')
ok "vm1: tap0 ($tap), mtu $(ip -n "${P}vm1" -j link show tap0 | jq .[0].mtu), mac $(ip -n "${P}vm1" -j link show tap0 | jq -r .[0].address) = eth0's"
ip netns exec "${P}vm1" tc filter show dev eth0 ingress | grep -o 'mirred (.*)' | sed 's/^/    eth0 ingress: /'
ip netns exec "${P}vm1" tc filter show dev tap0 ingress | grep -o 'mirred (.*)' | sed 's/^/    tap0 ingress: /'

t0=$(now_ms)
for pod in vm1 pod2 pod1; do
	if [[ $pod == vm1 ]]; then list="$TMP/vm.conflist"; else list="$TMP/pod.conflist"; fi
	cni del "$list" "$pod" || die "DEL $pod failed"
done
left=$(($(ip -o link show type veth | wc -l) - veth0))
[[ $left -eq 0 ]] || die "$left veth(s) left after DEL"
ok "DEL vm1, pod2, pod1: no veth left ($(($(now_ms) - t0)) ms for 3 DELs)"
echo "demo done: 3 pods added, connected and removed."
