#!/usr/bin/env bash
# libcni_check_chain.sh - CHECK of vnet-bridge chained with each reference
# plugin that may follow it (spec 1.0.0 conflists through libcni): bandwidth
# (which adds its own host-side ifb interface to the result), portmap,
# tuning and firewall.  ADD, CHECK and DEL must pass for every chain; CHECK
# must still notice when the pod's host veth leaves the bridge.
source "$(dirname "$0")/lib.sh"
vp_init cc
vp_require_cnitool
vp_require_plugin "$VP_BRIDGE" "$VP_IPAM" bandwidth portmap tuning firewall
vp_require_cmd iptables

BR=vpt-cc-br
IPAM_DIR="$VP_TMP/ipam"
# The second plugin of each chain, and the runtime capabilities it gets.
declare -A NEXT CAPS CHECK_CAPS
NEXT[bandwidth]='{ "type": "bandwidth", "capabilities": { "bandwidth": true } }'
CAPS[bandwidth]='{"bandwidth":{"ingressRate":8000000,"ingressBurst":80000,"egressRate":8000000,"egressBurst":80000}}'
NEXT[portmap]='{ "type": "portmap", "capabilities": { "portMappings": true } }'
CAPS[portmap]='{"portMappings":[{"hostPort":18181,"containerPort":80,"protocol":"tcp"}]}'
# The reference portmap 1.1.1 cannot CHECK its own rules (it looks for its
# IPv4 DNAT rules in ip6tables; it fails so after the reference bridge too):
# its CHECK gets no portMappings, which it skips, so the CHECK of vnet-bridge
# with portmap's result is what runs.
CHECK_CAPS[portmap]='{}'
NEXT[tuning]='{ "type": "tuning", "sysctl": { "net.core.somaxconn": "512" } }'
CAPS[tuning]='{}'
NEXT[firewall]='{ "type": "firewall", "backend": "iptables" }'
CAPS[firewall]='{}'

# conflist NEXT_PLUGIN_JSON: vnet-bridge followed by NEXT.
conflist() {
	cat <<JSON
{ "cniVersion": "1.0.0", "name": "vpt-cc", "plugins": [
  { "type": "$VP_BRIDGE", "bridge": "$BR", "isGateway": true,
    "ipam": { "type": "$VP_IPAM", "dataDir": "$IPAM_DIR",
              "ranges": [[{ "subnet": "10.198.81.0/24" }]] } },
  $1 ] }
JSON
}

p=$(vp_netns a)
for next in bandwidth portmap tuning firewall; do
	conf="$VP_TMP/$next.conflist"
	conflist "${NEXT[$next]}" >"$conf"
	cid=vpt-cc-$next
	r=$(vp_cnitool add "$conf" "$p" "$cid" eth0 --capability-args "${CAPS[$next]}") || vp_fail "ADD bridge+$next: $r"
	hosts=$(vp_result_host_ifaces "$r" | tr '\n' ' ')
	out=$(vp_cnitool check "$conf" "$p" "$cid" eth0 --capability-args "${CHECK_CAPS[$next]:-${CAPS[$next]}}" 2>&1) ||
		vp_fail "CHECK bridge+$next (host-side interfaces: $hosts): $out"
	vp_ok "bridge+$next: ADD and CHECK pass (host-side interfaces: $hosts)"
	if [[ "$next" == bandwidth ]]; then
		hveth=$(jq -r --arg br "$BR" '[.interfaces[] | select((.sandbox // "") == "" and .name != $br)][0].name' <<<"$r")
		ip link set dev "$hveth" nomaster
		if out=$(vp_cnitool check "$conf" "$p" "$cid" eth0 --capability-args "${CAPS[$next]}" 2>&1); then
			vp_fail "CHECK bridge+$next passed with $hveth off the bridge"
		fi
		vp_assert_match "$out" "bridge $BR" "CHECK with $hveth off the bridge"
		ip link set dev "$hveth" master "$BR"
		vp_ok "bridge+$next: CHECK notices the host veth $hveth off the bridge"
	fi
	vp_cnitool del "$conf" "$p" "$cid" eth0 --capability-args "${CAPS[$next]}" || vp_fail "DEL bridge+$next"
	vp_assert_no_link "$(vp_ns a)" eth0
	vp_assert_ipam_clean "$IPAM_DIR" "$cid"
done
vp_ok "every chain DELeted: no pod link or allocation left"
