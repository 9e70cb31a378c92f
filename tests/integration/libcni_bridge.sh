#!/usr/bin/env bash
# libcni_bridge.sh - vnet-bridge + vnet-ipam through libcni: two pods reach
# each other and the gateway; CHECK passes; DEL removes veths, allocations
# and nft rules; a second ADD of the same interface fails cleanly.
source "$(dirname "$0")/lib.sh"
vp_init lb
vp_require_cnitool
vp_require_plugin "$VP_BRIDGE" "$VP_IPAM"

SUBNET=10.198.1.0/24
BR=vpt-lb-br
IPAM_DIR="$VP_TMP/ipam"
CONF="$VP_TMP/net.conflist"
cat >"$CONF" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "vpt-lb",
  "plugins": [{
    "type": "$VP_BRIDGE", "bridge": "$BR", "isGateway": true, "ipMasq": true,
    "ipam": { "type": "$VP_IPAM", "dataDir": "$IPAM_DIR",
              "ranges": [[{ "subnet": "$SUBNET" }]],
              "routes": [{ "dst": "0.0.0.0/0" }] }
  }]
}
JSON

veth0=$(vp_veth_count)
nsa=$(vp_netns a)
nsb=$(vp_netns b)
ra=$(vp_cnitool add "$CONF" "$nsa" vpt-lb-cid-a eth0) || vp_fail "ADD pod a"
rb=$(vp_cnitool add "$CONF" "$nsb" vpt-lb-cid-b eth0) || vp_fail "ADD pod b"
ipa=$(vp_result_ip "$ra")
ipb=$(vp_result_ip "$rb")
gw=$(vp_result_gw "$ra")
vp_assert_match "$ipa" '^10\.198\.1\.[0-9]+$' "pod a address"
vp_assert_match "$ipb" '^10\.198\.1\.[0-9]+$' "pod b address"
[[ "$ipa" != "$ipb" ]] || vp_fail "both pods got $ipa"
vp_assert_eq "$gw" "$(vp_result_gw "$rb")" "gateway of both pods"
vp_assert_eq "$(ip -j addr show dev "$BR" | jq -r --arg gw "$gw" '[.[0].addr_info[] | select(.local == $gw)] | length')" 1 \
	"gateway $gw on bridge $BR (isGateway)"
vp_assert_eq "$(ip -n "$(vp_ns a)" -j addr show dev eth0 | jq -r '.[0].addr_info[] | select(.family == "inet") | .local')" \
	"$ipa" "pod a eth0 address"
vp_assert_ipam_holds "$IPAM_DIR" vpt-lb-cid-a
vp_ok "ADD: pods at $ipa and $ipb, gateway $gw on $BR"

vp_assert_ping "$(vp_ns a)" "$ipb"
vp_assert_ping "$(vp_ns b)" "$ipa"
vp_assert_ping "$(vp_ns a)" "$gw"
vp_assert_ping "$(vp_ns b)" "$gw"
vp_ok "pods ping each other and the gateway"

vp_assert_eq "$(ip -n "$(vp_ns a)" -j route show default | jq -r '.[0].gateway')" "$gw" "pod a default route"
vp_assert_eq "$(($(vp_veth_count) - veth0))" 2 "host veths added"
rules=$(nft list ruleset 2>/dev/null)
grep -Fqw "$ipa" <<<"$rules" || vp_fail "ipMasq: no nft rule mentions pod a ($ipa)"
vp_ok "default route via gateway, 2 host veths, masquerade rules present"

vp_cnitool check "$CONF" "$nsa" vpt-lb-cid-a eth0 || vp_fail "CHECK pod a"
vp_cnitool check "$CONF" "$nsb" vpt-lb-cid-b eth0 || vp_fail "CHECK pod b"
vp_ok "CHECK passes"

# ADD of an interface that already exists must fail and leave pod a intact.
if err=$(vp_cnitool add "$CONF" "$nsa" vpt-lb-cid-a eth0 2>&1); then
	vp_fail "second ADD of eth0 succeeded"
fi
vp_assert_match "$err" 'code=[0-9]+' "error of second ADD carries a CNI code"
vp_assert_ping "$(vp_ns a)" "$ipb"
vp_ok "second ADD of eth0 fails with a CNI error, pod a still works"

hosts=$(vp_result_host_ifaces "$ra"; vp_result_host_ifaces "$rb")
macs=$(jq -r '.interfaces[] | select(.sandbox != null) | .mac' <<<"$ra$rb")
vp_cnitool del "$CONF" "$nsa" vpt-lb-cid-a eth0 || vp_fail "DEL pod a"
vp_cnitool del "$CONF" "$nsb" vpt-lb-cid-b eth0 || vp_fail "DEL pod b"
vp_assert_eq "$(vp_veth_count)" "$veth0" "host veth count after DEL"
vp_assert_no_link "$(vp_ns a)" eth0
vp_assert_ipam_clean "$IPAM_DIR" vpt-lb-cid-a vpt-lb-cid-b
# shellcheck disable=SC2086
vp_assert_nft_clean vpt-lb-cid-a vpt-lb-cid-b "$ipa" "$ipb" $macs $(grep -v "^$BR\$" <<<"$hosts")
vp_ok "DEL: no veth, no allocation, no nft rule left"

vp_cnitool del "$CONF" "$nsa" vpt-lb-cid-a eth0 || vp_fail "second DEL must succeed (idempotent)"
ip netns del "$(vp_ns b)"
vp_cnitool del "$CONF" "$nsb" vpt-lb-cid-b eth0 || vp_fail "DEL with the netns gone must succeed"
vp_ok "DEL is idempotent, also with the netns gone"
