#!/usr/bin/env bash
# plugins_repeat_add.sh - an ADD repeated with the same container ID and
# ifname but another netns (a runtime bug, or a reused ID) must never give
# the second pod the first pod's address.  vnet-bridge and vnet-ptp, with
# vnet-ipam (refuses: code 103) and with the reference host-local (refuses
# too): the second ADD fails, leaves nothing in its netns, and the failed
# ADD's undo must not release the first pod's allocation.
source "$(dirname "$0")/lib.sh"
vp_init ra
vp_require_plugin vnet-bridge vnet-ptp vnet-ipam host-local

IPAM_DIR="$VP_TMP/ipam"
# conf PLUGIN IPAM_TYPE SUBNET N (N: this case's bridge)
conf() {
	cat <<JSON
{ "cniVersion": "1.0.0", "name": "vpt-ra-$1-$2", "type": "$1", "bridge": "vpt-ra-br$4",
  "isGateway": true,
  "ipam": { "type": "$2", "dataDir": "$IPAM_DIR", "ranges": [[{ "subnet": "$3" }]] } }
JSON
}

pa=$(vp_netns a)
pb=$(vp_netns b)
na=$(vp_ns a)
nb=$(vp_ns b)
n=0
for plugin in vnet-bridge vnet-ptp; do
	for ipam in vnet-ipam host-local; do
		C=$(conf "$plugin" "$ipam" "10.198.82.$((n * 64))/26" "$n")
		n=$((n + 1))
		cid=vpt-ra-cid$n
		vp_on_exit "vp_run_cni $plugin DEL $cid '$pa' eth0 '$C'"
		r=$(vp_run_cni "$plugin" ADD "$cid" "$pa" eth0 "$C") || vp_fail "$plugin/$ipam ADD in a: $r"
		ip=$(vp_result_ip "$r")
		gw=$(vp_result_gw "$r")
		if out=$(vp_run_cni "$plugin" ADD "$cid" "$pb" eth0 "$C"); then
			vp_fail "$plugin/$ipam: the same container ID and ifname ADDed in netns b too: a has $ip, b got $(vp_result_ip "$out")"
		fi
		code=$(jq -r .code <<<"$out")
		[[ "$ipam" != vnet-ipam ]] || vp_assert_eq "$code" 103 "$plugin/$ipam repeated ADD code ($(jq -r .details <<<"$out"))"
		vp_assert_no_link "$nb" eth0
		vp_assert_ipam_holds "$IPAM_DIR" "$cid"
		vp_assert_eq "$(ip -n "$na" -j addr show dev eth0 | jq -r --arg ip "$ip" '[.[0].addr_info[] | select(.local == $ip)] | length')" 1 \
			"$plugin/$ipam: a still has $ip"
		vp_assert_ping "$na" "$gw"
		# A later ADD must not be handed a's address (had the undo freed it).
		r2=$(vp_run_cni "$plugin" ADD "$cid-other" "$pb" eth0 "$C") || vp_fail "$plugin/$ipam ADD of another pod: $r2"
		[[ "$(vp_result_ip "$r2")" != "$ip" ]] || vp_fail "$plugin/$ipam: another pod got a's address $ip"
		vp_run_cni "$plugin" DEL "$cid-other" "$pb" eth0 "$C" >/dev/null || vp_fail "$plugin/$ipam DEL other"
		vp_ok "$plugin/$ipam: repeated ADD in another netns refused (code $code); a keeps $ip"
		vp_run_cni "$plugin" DEL "$cid" "$pa" eth0 "$C" >/dev/null || vp_fail "$plugin/$ipam DEL a"
		vp_assert_no_link "$na" eth0
		vp_assert_ipam_clean "$IPAM_DIR" "$cid"
	done
done
vp_ok "all DELeted: no pod link or allocation left"
