#!/usr/bin/env bash
# libcni_bridge_tap.sh - vnet-bridge then vnet-tap through libcni: the pod's
# veth is redirected (tc ingress + mirred, both ways) to a tap for a VM, the
# tap has the veth's MTU and MAC; CHECK passes; DEL removes tap and veth.
source "$(dirname "$0")/lib.sh"
vp_init lt
vp_require_cnitool
vp_require_plugin "$VP_BRIDGE" "$VP_IPAM" "$VP_TAP"

IPAM_DIR="$VP_TMP/ipam"
CONF="$VP_TMP/net.conflist"
cat >"$CONF" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "vpt-lt",
  "plugins": [
    { "type": "$VP_BRIDGE", "bridge": "vpt-lt-br", "isGateway": true, "mtu": 1400,
      "ipam": { "type": "$VP_IPAM", "dataDir": "$IPAM_DIR",
                "ranges": [[{ "subnet": "10.198.3.0/24" }]] } },
    { "type": "$VP_TAP", "name": "tap0", "vnetHdr": true }
  ]
}
JSON

veth0=$(vp_veth_count)
path=$(vp_netns vm)
ns=$(vp_ns vm)
r=$(vp_cnitool add "$CONF" "$path" vpt-lt-cid-vm eth0) || vp_fail "ADD"
vp_assert_eq "$(jq -r '[.interfaces[] | select(.name == "tap0" and .sandbox != null)] | length' <<<"$r")" 1 \
	"tap0 in the result's interfaces (with sandbox)"
vp_assert_link "$ns" tap0
info=$(ip -n "$ns" -j -d link show dev tap0 | jq -c '.[0].linkinfo.info_data')
vp_assert_eq "$(jq -r .type <<<"$info")" tap "tap0 kind"
vp_assert_eq "$(jq -r .vnet_hdr <<<"$info")" true "tap0 vnet_hdr"
vp_assert_eq "$(vp_link_attr "$ns" tap0 mtu)" "$(vp_link_attr "$ns" eth0 mtu)" "tap0 mtu = eth0 mtu"
vp_assert_eq "$(vp_link_attr "$ns" tap0 mtu)" 1400 "tap0 mtu"
vp_assert_eq "$(vp_link_attr "$ns" tap0 address)" "$(vp_link_attr "$ns" eth0 address)" "tap0 mac = eth0 mac"
vp_ok "ADD: tap0 in the pod netns, vnet_hdr, mtu 1400 and mac as eth0"

f_eth=$(ip netns exec "$ns" tc filter show dev eth0 ingress)
f_tap=$(ip netns exec "$ns" tc filter show dev tap0 ingress)
vp_assert_match "$f_eth" 'mirred \(Egress Redirect to device tap0\)' "eth0 ingress filter"
vp_assert_match "$f_tap" 'mirred \(Egress Redirect to device eth0\)' "tap0 ingress filter"
vp_ok "tc ingress mirred redirects eth0 -> tap0 and tap0 -> eth0"

vp_cnitool check "$CONF" "$path" vpt-lt-cid-vm eth0 || vp_fail "CHECK"
vp_ok "CHECK passes"

vp_cnitool del "$CONF" "$path" vpt-lt-cid-vm eth0 || vp_fail "DEL"
vp_assert_no_link "$ns" tap0
vp_assert_no_link "$ns" eth0
vp_assert_eq "$(vp_veth_count)" "$veth0" "host veth count after DEL"
vp_assert_ipam_clean "$IPAM_DIR" vpt-lt-cid-vm
vp_ok "DEL: tap, veth and allocation gone"
vp_cnitool del "$CONF" "$path" vpt-lt-cid-vm eth0 || vp_fail "second DEL must succeed"
vp_ok "DEL is idempotent"
