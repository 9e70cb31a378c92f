#!/usr/bin/env bash
# plugins_ptp.sh - vnet-ptp invoked directly: the host reaches the pod and
# the pod its gateway (the host end); two pods reach each other through the
# host; addresses and routes are the ptp layout; CHECK passes; DEL cleans
# up, is idempotent and works with the netns gone.
source "$(dirname "$0")/lib.sh"
vp_init pp
vp_require_plugin vnet-ptp
IPAM=vnet-ipam
vp_plugin_path "$IPAM" >/dev/null || IPAM=host-local

IPAM_DIR="$VP_TMP/ipam"
CONF=$(cat <<JSON
{ "cniVersion": "1.1.0", "name": "vpt-pp", "type": "vnet-ptp", "ipMasq": true, "mtu": 1450,
  "ipam": { "type": "$IPAM", "dataDir": "$IPAM_DIR",
            "ranges": [[{ "subnet": "10.198.41.0/24" }], [{ "subnet": "fd00:5e:41::/64" }]],
            "routes": [{ "dst": "0.0.0.0/0" }, { "dst": "::/0" }] } }
JSON
)
with_prev() { jq -c --argjson r "$1" '. + {prevResult: $r}' <<<"$CONF"; }

pa=$(vp_netns a)
pb=$(vp_netns b)
# On any exit, DEL both pods so a failed run leaves no nft rule or allocation.
del_all() {
	vp_run_cni vnet-ptp DEL vpt-pp-a "$pa" eth0 "$CONF"
	vp_run_cni vnet-ptp DEL vpt-pp-b "$pb" eth0 "$CONF"
}
vp_on_exit del_all
ra=$(vp_run_cni vnet-ptp ADD vpt-pp-a "$pa" eth0 "$CONF") || vp_fail "ADD a: $ra"
rb=$(vp_run_cni vnet-ptp ADD vpt-pp-b "$pb" eth0 "$CONF") || vp_fail "ADD b: $rb"
ipa=$(vp_result_ip "$ra")
ipb=$(vp_result_ip "$rb")
gw=$(vp_result_gw "$ra")
hveth=$(jq -r '.interfaces[0].name' <<<"$ra")
vp_assert_eq "$(jq -r '.interfaces | length' <<<"$ra")" 2 "interfaces in the result"
vp_assert_eq "$(jq -r '.interfaces[1].sandbox' <<<"$ra")" "$pa" "pod interface sandbox"
vp_assert_eq "$(jq -r '.ips[0].interface' <<<"$ra")" 1 "ips[0].interface"
hvethb=$(jq -r '.interfaces[0].name' <<<"$rb")
vp_assert_link "" "$hveth"
vp_assert_link "" "$hvethb"
vp_assert_eq "$(ip -j addr show dev "$hveth" | jq -r '.[0].addr_info[] | select(.family == "inet") | "\(.local)/\(.prefixlen)"')" \
	"$gw/32" "host end holds the gateway as /32"
vp_assert_eq "$(ip -j route show "$ipa/32" | jq -r '.[0].dev')" "$hveth" "host route to pod a"
vp_assert_eq "$(ip -n "$(vp_ns a)" -j route show default | jq -r '.[0].gateway')" "$gw" "pod default route"
vp_assert_eq "$(vp_link_attr "$(vp_ns a)" eth0 mtu)" 1450 "pod MTU"
ip6a=$(vp_result_ip "$ra" 1)
ip6b=$(vp_result_ip "$rb" 1)
vp_assert_match "$ip6a" '^fd00:5e:41::' "pod a IPv6 address"
vp_assert_eq "$(ip -n "$(vp_ns a)" -j addr show dev eth0 | jq -r --arg a "$ip6a" '.[0].addr_info[] | select(.local == $a) | "\(.prefixlen) \(.nodad // false) \(.tentative // false)"')" \
	"128 true false" "pod a IPv6 address: /128, nodad, not tentative"
vp_assert_eq "$(ip netns exec "$(vp_ns a)" cat /proc/sys/net/ipv6/conf/eth0/accept_dad)" 0 "accept_dad in the pod"
vp_ok "ADD: pods $ipa/$ip6a and $ipb/$ip6b, gateway $gw on the host ends"

vp_assert_ping "$(vp_ns a)" "$gw"
ping -c 1 -W 2 -q "$ipa" >/dev/null || vp_fail "host cannot ping pod a ($ipa)"
vp_assert_ping "$(vp_ns a)" "$ipb"
vp_assert_ping "$(vp_ns a)" "$ip6b"
vp_ok "host <-> pod and pod <-> pod (IPv4 and IPv6) through the host"

rules=$(nft list ruleset)
grep -Fqw "$ipa" <<<"$rules" || vp_fail "ipMasq: no nft rule mentions $ipa"
out=$(vp_run_cni vnet-ptp CHECK vpt-pp-a "$pa" eth0 "$(with_prev "$ra")") || vp_fail "CHECK a: $out"
ip route del "$ipa/32" dev "$hveth"
if out=$(vp_run_cni vnet-ptp CHECK vpt-pp-a "$pa" eth0 "$(with_prev "$ra")"); then
	vp_fail "CHECK a passed without the host route"
fi
vp_ok "CHECK passes, and fails without the host route"

out=$(vp_run_cni vnet-ptp DEL vpt-pp-a "$pa" eth0 "$(with_prev "$ra")") || vp_fail "DEL a: $out"
out=$(vp_run_cni vnet-ptp DEL vpt-pp-a "$pa" eth0 "$CONF") || vp_fail "second DEL a: $out"
ip netns del "$(vp_ns b)"
out=$(vp_run_cni vnet-ptp DEL vpt-pp-b "$pb" eth0 "$CONF") || vp_fail "DEL b with its netns gone: $out"
# The kernel destroys a deleted netns's veths asynchronously.
for _ in $(seq 50); do ip link show dev "$hvethb" >/dev/null 2>&1 || break; sleep 0.1; done
vp_assert_no_link "" "$hveth"
vp_assert_no_link "" "$hvethb"
vp_assert_ipam_clean "$IPAM_DIR" vpt-pp-a vpt-pp-b
vp_assert_nft_clean "$ipa" "$ipb" "$ip6a" "$ip6b" "$hveth" "$hvethb"
vp_ok "DEL: idempotent, works with the netns gone; nothing left"
