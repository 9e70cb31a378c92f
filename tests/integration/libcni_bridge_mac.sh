#!/usr/bin/env bash
# libcni_bridge_mac.sh - the gateway's MAC survives a pod's DEL (spec 1.0.0
# conflist through libcni): the bridge gets its MAC pinned when it gets its
# gateway address, so it no longer follows the lowest port MAC.  Pod A's
# host veth is given the lowest MAC there is; pod B pings the gateway
# continuously while A is deleted: at most one ping may be lost, and the
# bridge MAC is the same before and after.
source "$(dirname "$0")/lib.sh"
vp_init bm
vp_require_cnitool
vp_require_plugin "$VP_BRIDGE" "$VP_IPAM"
vp_require_cmd ping

BR=vpt-bm-br
IPAM_DIR="$VP_TMP/ipam"
CONF="$VP_TMP/net.conflist"
cat >"$CONF" <<JSON
{ "cniVersion": "1.0.0", "name": "vpt-bm", "plugins": [
  { "type": "$VP_BRIDGE", "bridge": "$BR", "isGateway": true,
    "ipam": { "type": "$VP_IPAM", "dataDir": "$IPAM_DIR",
              "ranges": [[{ "subnet": "10.198.80.0/24" }]] } } ] }
JSON
LOWEST=02:00:00:00:00:01

pa=$(vp_netns a)
pb=$(vp_netns b)
ra=$(vp_cnitool add "$CONF" "$pa" vpt-bm-cid-a eth0) || vp_fail "ADD a: $ra"
hveth_a=$(vp_result_host_ifaces "$ra" | grep -vx "$BR")
# The lowest MAC on the bridge: an unpinned bridge takes it at once.
ip link set dev "$hveth_a" address "$LOWEST"
rb=$(vp_cnitool add "$CONF" "$pb" vpt-bm-cid-b eth0) || vp_fail "ADD b: $rb"
gw=$(vp_result_gw "$rb")
mac0=$(vp_link_attr "" "$BR" address)
[[ "$mac0" != "$LOWEST" ]] || vp_fail "bridge $BR took port MAC $LOWEST of pod A: its MAC is not pinned"
vp_assert_eq "$(jq -r --arg br "$BR" '.interfaces[] | select(.name == $br) | .mac' <<<"$ra")" "$mac0" \
	"bridge MAC in A's result"
vp_assert_ping "$(vp_ns b)" "$gw"
vp_ok "two pods on $BR; bridge MAC $mac0, not the lowest port MAC $LOWEST"

# 25 pings over 5 s from B; A is deleted after the first second.
ip netns exec "$(vp_ns b)" ping -n -i 0.2 -c 25 -W 1 "$gw" >"$VP_TMP/ping" 2>&1 &
pinger=$!
vp_on_exit "kill $pinger"
sleep 1
vp_cnitool del "$CONF" "$pa" vpt-bm-cid-a eth0 || vp_fail "DEL a"
wait "$pinger" || true
received=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$VP_TMP/ping")
[[ -n "$received" ]] || vp_fail "no ping summary: $(cat "$VP_TMP/ping")"
((received >= 24)) || vp_fail "B lost $((25 - received)) of 25 pings to $gw across A's DEL (bridge MAC now $(vp_link_attr "" "$BR" address), was $mac0)"
vp_assert_eq "$(vp_link_attr "" "$BR" address)" "$mac0" "bridge MAC after A's DEL"
vp_ok "A's DEL: B got $received of 25 pings to $gw, bridge MAC unchanged"

vp_cnitool del "$CONF" "$pb" vpt-bm-cid-b eth0 || vp_fail "DEL b"
vp_assert_eq "$(vp_link_attr "" "$BR" address)" "$mac0" "bridge MAC with no port left"
vp_assert_ipam_clean "$IPAM_DIR" vpt-bm-cid-a vpt-bm-cid-b
vp_ok "last DEL: bridge keeps $mac0, allocations freed"
