#!/usr/bin/env bash
# libcni_ptp.sh - vnet-ptp + vnet-ipam through libcni: the pod reaches the
# host side of its point-to-point link; CHECK passes; DEL leaves nothing.
source "$(dirname "$0")/lib.sh"
vp_init lp
vp_require_cnitool
vp_require_plugin "$VP_PTP" "$VP_IPAM"

IPAM_DIR="$VP_TMP/ipam"
CONF="$VP_TMP/net.conflist"
cat >"$CONF" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "vpt-lp",
  "plugins": [{
    "type": "$VP_PTP", "ipMasq": true, "mtu": 1400,
    "ipam": { "type": "$VP_IPAM", "dataDir": "$IPAM_DIR",
              "ranges": [[{ "subnet": "10.198.2.0/24" }]],
              "routes": [{ "dst": "0.0.0.0/0" }] }
  }]
}
JSON

veth0=$(vp_veth_count)
ns=$(vp_netns a)
r=$(vp_cnitool add "$CONF" "$ns" vpt-lp-cid-a eth0) || vp_fail "ADD"
ip=$(vp_result_ip "$r")
gw=$(vp_result_gw "$r")
host=$(vp_result_host_ifaces "$r" | head -1)
vp_assert_match "$ip" '^10\.198\.2\.[0-9]+$' "pod address"
[[ -n "$gw" && -n "$host" ]] || vp_fail "result lacks gateway or host interface: $r"
vp_assert_link "" "$host"
vp_assert_eq "$(vp_link_attr "$(vp_ns a)" eth0 mtu)" 1400 "pod eth0 mtu"
vp_assert_eq "$(vp_link_attr "" "$host" mtu)" 1400 "host veth mtu"
vp_assert_ipam_holds "$IPAM_DIR" vpt-lp-cid-a
vp_ok "ADD: pod at $ip, host side $host, gateway $gw, mtu 1400"

vp_assert_ping "$(vp_ns a)" "$gw"
vp_ok "pod pings the host side ($gw)"
# The host reaches the pod through a /32 route on the host veth.
ping -c 1 -W 2 -q "$ip" >/dev/null || vp_fail "host cannot ping pod $ip"
vp_ok "host pings the pod"

vp_cnitool check "$CONF" "$ns" vpt-lp-cid-a eth0 || vp_fail "CHECK"
vp_ok "CHECK passes"

mac=$(jq -r '.interfaces[] | select(.sandbox != null) | .mac' <<<"$r")
vp_cnitool del "$CONF" "$ns" vpt-lp-cid-a eth0 || vp_fail "DEL"
vp_assert_eq "$(vp_veth_count)" "$veth0" "host veth count after DEL"
vp_assert_no_link "" "$host"
if grep -qw "$host" <<<"$(ip route get "$ip" 2>/dev/null)"; then vp_fail "route to $ip via $host left"; fi
vp_assert_ipam_clean "$IPAM_DIR" vpt-lp-cid-a
vp_assert_nft_clean "$ip" "$mac" "$host"
vp_ok "DEL: no veth, route, allocation or nft rule left"
vp_cnitool del "$CONF" "$ns" vpt-lp-cid-a eth0 || vp_fail "second DEL must succeed"
vp_ok "DEL is idempotent"
