#!/usr/bin/env bash
# plugins_bridge.sh - vnet-bridge invoked directly (CNI_* env + config on
# stdin, no libcni): two pods ping each other and the gateway; the result
# lists bridge, host veth and pod interface; CHECK passes and notices a
# missing address; the pod MAC comes from CNI_ARGS; DEL removes veths,
# allocations and nft rules, and succeeds again and with the netns gone.
source "$(dirname "$0")/lib.sh"
vp_init pb
vp_require_plugin vnet-bridge
IPAM=vnet-ipam
vp_plugin_path "$IPAM" >/dev/null || IPAM=host-local

BR=vpt-pb-br
IPAM_DIR="$VP_TMP/ipam"
CONF=$(cat <<JSON
{ "cniVersion": "1.1.0", "name": "vpt-pb", "type": "vnet-bridge", "bridge": "$BR",
  "isDefaultGateway": true, "ipMasq": true, "macspoofchk": true, "mtu": 1400,
  "ipam": { "type": "$IPAM", "dataDir": "$IPAM_DIR",
            "ranges": [[{ "subnet": "10.198.40.0/24" }]] } }
JSON
)
POD_MAC=02:00:5e:00:28:0a

# with_prev RESULT: the config with RESULT as prevResult (CHECK, DEL).
with_prev() { jq -c --argjson r "$1" '. + {prevResult: $r}' <<<"$CONF"; }

pa=$(vp_netns a)
pb=$(vp_netns b)
# On any exit, DEL both pods so a failed run leaves no nft rule or allocation.
del_all() {
	vp_run_cni vnet-bridge DEL vpt-pb-a "$pa" eth0 "$CONF"
	vp_run_cni vnet-bridge DEL vpt-pb-b "$pb" eth0 "$CONF"
}
vp_on_exit del_all
ra=$(vp_run_cni vnet-bridge ADD vpt-pb-a "$pa" eth0 "$CONF" "MAC=$POD_MAC") || vp_fail "ADD a: $ra"
rb=$(vp_run_cni vnet-bridge ADD vpt-pb-b "$pb" eth0 "$CONF") || vp_fail "ADD b: $rb"
vp_assert_eq "$(jq -r .cniVersion <<<"$ra")" 1.1.0 "result version"
vp_assert_eq "$(jq -r '.interfaces | length' <<<"$ra")" 3 "interfaces in the result"
vp_assert_eq "$(jq -r '.interfaces[0].name' <<<"$ra")" "$BR" "interfaces[0] is the bridge"
vp_assert_eq "$(jq -r '.interfaces[2].name' <<<"$ra")" eth0 "interfaces[2] is the pod side"
vp_assert_eq "$(jq -r '.interfaces[2].sandbox' <<<"$ra")" "$pa" "pod interface sandbox"
vp_assert_eq "$(jq -r '.interfaces[2].mac' <<<"$ra")" "$POD_MAC" "pod MAC (CNI_ARGS MAC)"
vp_assert_eq "$(jq -r '.ips[0].interface' <<<"$ra")" 2 "ips[0].interface"
hveth=$(jq -r '.interfaces[1].name' <<<"$ra")
hvethb=$(jq -r '.interfaces[1].name' <<<"$rb")
vp_assert_eq "$(ip -j link show dev "$hveth" | jq -r '.[0].master')" "$BR" "host veth a enslaved"
vp_assert_eq "$(ip -j link show dev "$hvethb" | jq -r '.[0].master')" "$BR" "host veth b enslaved"
vp_assert_eq "$(vp_link_attr "$(vp_ns a)" eth0 address)" "$POD_MAC" "pod eth0 MAC"
vp_assert_eq "$(vp_link_attr "$(vp_ns a)" eth0 mtu)" 1400 "pod eth0 MTU"
ipa=$(vp_result_ip "$ra")
ipb=$(vp_result_ip "$rb")
gw=$(vp_result_gw "$ra")
vp_assert_eq "$gw" 10.198.40.1 "gateway"
vp_assert_eq "$(ip -j addr show dev "$BR" | jq -r '[.[0].addr_info[] | select(.local == "10.198.40.1" and .prefixlen == 24)] | length')" 1 \
	"gateway 10.198.40.1/24 on the bridge"
vp_assert_eq "$(ip -n "$(vp_ns a)" -j route show default | jq -r '.[0].gateway')" "$gw" "pod default route (isDefaultGateway)"
vp_assert_eq "$(cat /proc/sys/net/ipv4/ip_forward)" 1 "ip_forward"
vp_ok "ADD: $ipa and $ipb on $BR, result and links as configured"

vp_assert_ping "$(vp_ns a)" "$ipb"
vp_assert_ping "$(vp_ns b)" "$ipa"
vp_assert_ping "$(vp_ns a)" "$gw"
vp_ok "pods ping each other and the gateway"

rules=$(nft list ruleset)
grep -Fqw "$ipa" <<<"$rules" || vp_fail "ipMasq: no nft rule mentions $ipa"
grep -Fqiw "$POD_MAC" <<<"$rules" || vp_fail "macspoofchk: no nft rule mentions $POD_MAC"
vp_ok "masquerade and MAC spoof check rules present"

out=$(vp_run_cni vnet-bridge CHECK vpt-pb-a "$pa" eth0 "$(with_prev "$ra")") || vp_fail "CHECK a: $out"
ip -n "$(vp_ns b)" addr del "$ipb/24" dev eth0
if out=$(vp_run_cni vnet-bridge CHECK vpt-pb-b "$pb" eth0 "$(with_prev "$rb")"); then
	vp_fail "CHECK b passed without its address"
fi
vp_assert_match "$(jq -r .details <<<"$out")" "$ipb" "CHECK error names the missing address"
vp_ok "CHECK passes, and fails when an address is missing"

out=$(vp_run_cni vnet-bridge STATUS "" "" "" "$CONF") || vp_fail "STATUS: $out"
GC=$(jq -c '. + {"cni.dev/valid-attachments": [{containerID: "vpt-pb-b", ifname: "eth0"}]}' <<<"$CONF")
out=$(vp_run_cni vnet-bridge GC "" "" "" "$GC") || vp_fail "GC: $out"
vp_assert_ipam_clean "$IPAM_DIR" vpt-pb-a
vp_assert_ipam_holds "$IPAM_DIR" vpt-pb-b
rules=$(nft list ruleset)
grep -Fqw "$ipb" <<<"$rules" || vp_fail "GC removed the rules of pod b, which is valid"
vp_assert_nft_clean "$ipa" "$POD_MAC"
vp_ok "STATUS passes; GC frees pod a's allocation and rules, keeps pod b's"

out=$(vp_run_cni vnet-bridge DEL vpt-pb-a "$pa" eth0 "$(with_prev "$ra")") || vp_fail "DEL a: $out"
vp_assert_no_link "$(vp_ns a)" eth0
vp_assert_no_link "" "$hveth"
out=$(vp_run_cni vnet-bridge DEL vpt-pb-a "$pa" eth0 "$CONF") || vp_fail "second DEL a: $out"
ip netns del "$(vp_ns b)"
out=$(vp_run_cni vnet-bridge DEL vpt-pb-b "$pb" eth0 "$CONF") || vp_fail "DEL b with its netns gone: $out"
# The kernel destroys a deleted netns's veths asynchronously.
for _ in $(seq 50); do ip link show dev "$hvethb" >/dev/null 2>&1 || break; sleep 0.1; done
vp_assert_no_link "" "$hvethb"
vp_assert_ipam_clean "$IPAM_DIR" vpt-pb-a vpt-pb-b
vp_assert_nft_clean "$ipa" "$ipb" "$POD_MAC" "$hveth" "$hvethb"
vp_ok "DEL: idempotent, works with the netns gone; no veth, allocation or nft rule left"

# Parallel ADDs on a bridge that does not exist yet: every one must win or
# tolerate the race on creating the bridge and its gateway address.
PAR=$(jq -c '.name = "vpt-pb2" | .bridge = "vpt-pb-br2" | .ipam.ranges = [[{subnet: "10.198.44.0/24"}]]' <<<"$CONF")
declare -a pids=()
for i in 1 2 3 4 5 6; do
	pp=$(vp_netns "p$i")
	vp_on_exit "vp_run_cni vnet-bridge DEL vpt-pb-p$i $pp eth0 '$PAR'"
	vp_run_cni vnet-bridge ADD "vpt-pb-p$i" "$pp" eth0 "$PAR" >"$VP_TMP/p$i.json" &
	pids+=($!)
done
for i in "${!pids[@]}"; do
	wait "${pids[i]}" || vp_fail "parallel ADD $((i + 1)): $(cat "$VP_TMP/p$((i + 1)).json")"
done
vp_assert_eq "$(ip -o link show master vpt-pb-br2 | wc -l)" 6 "ports on the shared bridge"
vp_assert_eq "$(cat "$VP_TMP"/p*.json | jq -r '.ips[0].address' | sort -u | wc -l)" 6 "distinct addresses"
vp_assert_ping "$(vp_ns p1)" "$(vp_result_ip "$(cat "$VP_TMP/p6.json")")"
for i in 1 2 3 4 5 6; do
	out=$(vp_run_cni vnet-bridge DEL "vpt-pb-p$i" "/run/netns/$(vp_ns "p$i")" eth0 "$PAR") || vp_fail "DEL p$i: $out"
done
vp_assert_eq "$(ip -o link show master vpt-pb-br2 | wc -l)" 0 "ports left on the shared bridge"
vp_ok "6 parallel ADDs on a new bridge all succeed; DEL empties it"

# A vnet-ipam that is not vnet-cni itself (here a wrapper script, as a copy
# installed on its own would be) runs as its own process, with the same
# outcome as the in-process delegation above.
if [[ "$IPAM" == vnet-ipam ]]; then
	mkdir -p "$VP_TMP/ipam-bin"
	printf '#!/bin/bash\necho "$CNI_COMMAND" >>"%s"\nexec -a vnet-ipam "%s" "$@"\n' \
		"$VP_TMP/ipam-runs" "$(vp_plugin_path vnet-ipam)" >"$VP_TMP/ipam-bin/vnet-ipam"
	chmod +x "$VP_TMP/ipam-bin/vnet-ipam"
	pw=$(vp_netns w)
	vp_on_exit "VP_CNI_PATH='$VP_TMP/ipam-bin:$VP_CNI_PATH' vp_run_cni vnet-bridge DEL vpt-pb-w '$pw' eth0 '$CONF'"
	rw=$(VP_CNI_PATH="$VP_TMP/ipam-bin:$VP_CNI_PATH" vp_run_cni vnet-bridge ADD vpt-pb-w "$pw" eth0 "$CONF") ||
		vp_fail "ADD with an external vnet-ipam: $rw"
	vp_assert_match "$(vp_result_ip "$rw")" '^10\.198\.40\.' "address from the external vnet-ipam"
	out=$(VP_CNI_PATH="$VP_TMP/ipam-bin:$VP_CNI_PATH" vp_run_cni vnet-bridge DEL vpt-pb-w "$pw" eth0 "$CONF") ||
		vp_fail "DEL with an external vnet-ipam: $out"
	vp_assert_eq "$(tr '\n' ' ' <"$VP_TMP/ipam-runs")" "ADD DEL " "the external vnet-ipam ran for ADD and DEL"
	vp_assert_ipam_clean "$IPAM_DIR" vpt-pb-w
	vp_ok "a vnet-ipam other than vnet-cni itself is executed, not run in-process"
fi
