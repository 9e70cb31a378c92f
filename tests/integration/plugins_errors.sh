#!/usr/bin/env bash
# plugins_errors.sh - bad inputs to vnet-bridge and vnet-ptp, invoked
# directly: each must fail with the right CNI error code and leave nothing
# behind (no host veth, no link in the pod, no allocation, no nft rule).
source "$(dirname "$0")/lib.sh"
vp_init pe
vp_require_plugin vnet-bridge vnet-ptp
IPAM=vnet-ipam
vp_plugin_path "$IPAM" >/dev/null || IPAM=host-local

BR=vpt-pe-br
IPAM_DIR="$VP_TMP/ipam"
# conf TYPE SUBNET [EXTRA_JSON_FIELDS] [IPAM_TYPE]
conf() {
	cat <<JSON
{ "cniVersion": "1.1.0", "name": "vpt-pe", "type": "$1", "bridge": "$BR", "isGateway": true,
  "ipMasq": true ${3:+, $3},
  "ipam": { "type": "${4:-$IPAM}", "dataDir": "$IPAM_DIR", "ranges": [[{ "subnet": "$2" }]] } }
JSON
}

p=$(vp_netns a)
ns=$(vp_ns a)
ruleset0=$(nft list ruleset | md5sum)

# expect_fail CODE WHAT PLUGIN CONTAINER NETNS IFNAME CONFIG: the ADD fails
# with CODE and nothing was left: pod links (a leaked host veth would show
# its peer there: the peer is born in the pod), IPAM state.  Other tests run
# in parallel, so host-wide counts are not compared.
expect_fail() {
	local code="$1" what="$2" out links
	shift 2
	links=$(ip -n "$ns" -o link show | wc -l)
	if out=$(vp_run_cni "$1" ADD "$2" "$3" "$4" "$5"); then
		vp_fail "$what: ADD succeeded: $out"
	fi
	vp_assert_match "$(jq -r .code <<<"$out")" "^($code)\$" "$what: error code ($(jq -r .details <<<"$out"))"
	vp_assert_eq "$(ip -n "$ns" -o link show | wc -l)" "$links" "$what: links in the pod"
	vp_assert_ipam_clean "$IPAM_DIR" "$2"
	vp_ok "$1 $what: code $code, nothing left"
}

for plugin in vnet-bridge vnet-ptp; do
	C=$(conf "$plugin" 10.198.43.0/24)
	expect_fail 4 "interface name too long" "$plugin" vpt-pe-c1 "$p" eth0123456789abc "$C"
	expect_fail 4 "not a network namespace" "$plugin" vpt-pe-c2 "$VP_TMP" eth0 "$C"
	expect_fail 3 "netns missing" "$plugin" vpt-pe-c3 /run/netns/vpt-pe-gone eth0 "$C"
	expect_fail 7 "unknown IPAM type" "$plugin" vpt-pe-c4 "$p" eth0 "$(conf "$plugin" 10.198.43.0/24 "" vpt-no-such-ipam)"
	# A delegating plugin named as IPAM would delegate to itself forever.
	[[ "$IPAM" != vnet-ipam ]] ||
		expect_fail 7 "a plugin as its own IPAM" "$plugin" vpt-pe-c8 "$p" eth0 "$(conf "$plugin" 10.198.43.0/24 "" "$plugin")"
	expect_fail 7 "mtu of the wrong type" "$plugin" vpt-pe-c5 "$p" eth0 "$(conf "$plugin" 10.198.43.0/24 '"mtu": "big"')"
	ip -n "$ns" link add eth0 type veth peer name eth0p
	expect_fail 102 "interface already present" "$plugin" vpt-pe-c6 "$p" eth0 "$C"
	ip -n "$ns" link del eth0
done

# A failure after IPAM and the veth: the bridge holds another address and
# forceAddress is off.  The undo list must release both.
ip link add "$BR" type bridge
ip addr add 10.198.43.200/24 dev "$BR"
expect_fail 7 "bridge address conflict" vnet-bridge vpt-pe-c7 "$p" eth0 "$(conf vnet-bridge 10.198.43.0/24)"
vp_assert_eq "$(ip -j addr show dev "$BR" | jq -r '.[0].addr_info[0].local')" 10.198.43.200 "bridge address untouched"
ip link del "$BR"

# Exhausted range: a /30 has one address besides the gateway.
S=10.198.43.252/30
vp_on_exit 'vp_run_cni vnet-ptp DEL vpt-pe-x1 "$p" eth0 "$(conf vnet-ptp $S)"'
r=$(vp_run_cni vnet-ptp ADD vpt-pe-x1 "$p" eth0 "$(conf vnet-ptp $S)") || vp_fail "ADD in the /30: $r"
p2=$(vp_netns b)
ns_a="$ns"
ns=$(vp_ns b)
want=$([[ "$IPAM" == vnet-ipam ]] && echo 101 || echo '[0-9]+')
expect_fail "$want" "exhausted range" vnet-ptp vpt-pe-x2 "$p2" eth0 "$(conf vnet-ptp $S)"
ns="$ns_a"
out=$(vp_run_cni vnet-ptp DEL vpt-pe-x1 "$p" eth0 "$(conf vnet-ptp $S)") || vp_fail "DEL in the /30: $out"
vp_assert_ipam_clean "$IPAM_DIR" vpt-pe-x1

# vlan needs bridge VLAN filtering, which this kernel may lack: then a clear
# "unsupported field" error, and nothing left.
if ! ip link add vpt-pe-probe type bridge vlan_filtering 1 2>/dev/null; then
	expect_fail 2 "vlan without kernel support" vnet-bridge vpt-pe-v1 "$p" eth0 \
		"$(conf vnet-bridge 10.198.43.0/24 '"vlan": 10')"
else
	ip link del vpt-pe-probe
	vp_log "# kernel has bridge VLAN filtering: vlan error case not applicable"
fi

# Nothing of all this may remain in nft.
vp_assert_nft_clean 10.198.43
vp_ok "no nft rule mentions the test subnet"
