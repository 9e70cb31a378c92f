#!/usr/bin/env bash
# plugins_ipam_migrate.sh - a node switched from the reference host-local to
# vnet-ipam on the same network name and dataDir (invoked directly): the
# addresses host-local gave out stay taken (vnet-ipam exhausts the range
# around them), a repeated ADD of a host-local pod is refused, CHECK of one
# passes, and DEL (a vnet-bridge pod through vnet-bridge + vnet-ipam, and
# vnet-ipam alone) and GC remove host-local's files, so the migration
# completes and the addresses are handed out again.
source "$(dirname "$0")/lib.sh"
vp_init hm
vp_require_plugin vnet-bridge vnet-ipam host-local

NET=vpt-hm
IPAM_DIR="$VP_TMP/ipam"
DIR="$IPAM_DIR/$NET"
# ipam_conf TYPE [EXTRA_JSON_FIELDS]: seven addresses, .10 to .16.
ipam_conf() {
	cat <<JSON
{ "cniVersion": "1.0.0", "name": "$NET", "type": "$1" ${2:+, $2},
  "ipam": { "type": "$1", "dataDir": "$IPAM_DIR",
            "ranges": [[{ "subnet": "10.198.83.0/24", "rangeStart": "10.198.83.10",
                          "rangeEnd": "10.198.83.16" }]] } }
JSON
}
# bridge_conf IPAM_TYPE
bridge_conf() {
	jq -c --arg t "$1" '.type = "vnet-bridge" | .bridge = "vpt-hm-br" | .isGateway = true | .ipam.type = $t' \
		<<<"$(ipam_conf "$1")"
}
HL=$(ipam_conf host-local)
VI=$(ipam_conf vnet-ipam)
p=$(vp_netns a)
pp=$(vp_netns pod)
vp_on_exit "vp_run_cni vnet-bridge DEL vpt-hm-pod '$pp' eth0 '$(bridge_conf vnet-ipam)'"

# 1. host-local gives out three addresses: a vnet-bridge pod and two bare ones.
rp=$(vp_run_cni vnet-bridge ADD vpt-hm-pod "$pp" eth0 "$(bridge_conf host-local)") || vp_fail "ADD pod with host-local: $rp"
held=("$(vp_result_ip "$rp")")
for i in 1 2; do
	r=$(vp_run_cni host-local ADD "vpt-hm-hl$i" "$p" eth0 "$HL") || vp_fail "host-local ADD $i: $r"
	held+=("$(vp_result_ip "$r")")
	[[ $i == 1 ]] && r1=$r
done
for ip in "${held[@]}"; do [[ -f "$DIR/$ip" ]] || vp_fail "host-local did not write $DIR/$ip"; done
# A reservation in the format of host-local before 0.7: the container ID
# alone.  Its owner is not known in full: taken, and never removed.
OLD=10.198.83.16
printf 'vpt-hm-old' >"$DIR/$OLD"
vp_ok "host-local holds ${held[*]} in $DIR (and $OLD in its old format)"

# 2. vnet-ipam on the same network: the three other addresses, then exhausted.
got=()
for i in 1 2 3; do
	r=$(vp_run_cni vnet-ipam ADD "vpt-hm-v$i" "$p" eth0 "$VI") || vp_fail "vnet-ipam ADD $i: $r"
	got+=("$(vp_result_ip "$r")")
done
for ip in "${got[@]}"; do
	for h in "${held[@]}" "$OLD"; do [[ "$ip" != "$h" ]] || vp_fail "vnet-ipam handed out $ip, which host-local gave a running pod"; done
done
if out=$(vp_run_cni vnet-ipam ADD vpt-hm-v4 "$p" eth0 "$VI"); then
	vp_fail "vnet-ipam ADD with every address held succeeded: $out"
fi
vp_assert_eq "$(jq -r .code <<<"$out")" 101 "ADD into a range held by host-local and vnet-ipam"
vp_ok "vnet-ipam gave ${got[*]}, never a host-local address, then code 101"

# 3. A host-local pod: CHECK passes, a repeated ADD is refused.
out=$(vp_run_cni vnet-ipam CHECK vpt-hm-hl1 "$p" eth0 "$(jq -c --argjson r "$r1" '. + {prevResult: $r}' <<<"$VI")") ||
	vp_fail "CHECK of host-local pod hl1 through vnet-ipam: $out"
if out=$(vp_run_cni vnet-ipam ADD vpt-hm-hl1 "$p" eth0 "$VI"); then vp_fail "repeated ADD of hl1 succeeded: $out"; fi
vp_assert_eq "$(jq -r .code <<<"$out")" 103 "repeated ADD of host-local pod hl1"
vp_ok "host-local pod hl1: CHECK passes, repeated ADD refused (103)"

# 4. DEL through vnet-bridge + vnet-ipam of the host-local pod, and of hl1
# through vnet-ipam: their files go, their addresses are free again.
out=$(vp_run_cni vnet-bridge DEL vpt-hm-pod "$pp" eth0 "$(bridge_conf vnet-ipam)") || vp_fail "DEL pod: $out"
vp_assert_no_link "$(vp_ns pod)" eth0
out=$(vp_run_cni vnet-ipam DEL vpt-hm-hl1 "$p" eth0 "$VI") || vp_fail "DEL hl1: $out"
for ip in "${held[@]:0:2}"; do [[ ! -e "$DIR/$ip" ]] || vp_fail "DEL left host-local's $DIR/$ip"; done
again=()
for i in 4 5; do
	r=$(vp_run_cni vnet-ipam ADD "vpt-hm-v$i" "$p" eth0 "$VI") || vp_fail "vnet-ipam ADD $i after the DELs: $r"
	again+=("$(vp_result_ip "$r")")
done
vp_assert_eq "$(printf '%s\n' "${again[@]}" | sort | tr '\n' ' ')" "$(printf '%s\n' "${held[@]:0:2}" | sort | tr '\n' ' ')" \
	"addresses handed out after the DELs"
vp_ok "DEL through vnet-ipam removed host-local's files of pod and hl1; ${again[*]} handed out again"

# 5. GC: hl2 is not among the valid attachments, its file goes.
valid=$(for c in v1 v2 v3 v4 v5; do printf '{"containerID":"vpt-hm-%s","ifname":"eth0"}\n' "$c"; done | jq -sc .)
gc=$(jq -c --argjson v "$valid" '.cniVersion = "1.1.0" | . + {"cni.dev/valid-attachments": $v}' <<<"$VI")
out=$(vp_run_cni vnet-ipam GC "" "" "" "$gc") || vp_fail "GC: $out"
[[ ! -e "$DIR/${held[2]}" ]] || vp_fail "GC left host-local's $DIR/${held[2]} of hl2"
[[ -e "$DIR/$OLD" ]] || vp_fail "GC removed $DIR/$OLD, whose owner's ifname it cannot know"
vp_assert_ipam_holds "$IPAM_DIR" vpt-hm-v5
vp_ok "GC removed hl2's host-local file ${held[2]}, kept the old-format $OLD"

for c in v1 v2 v3 v4 v5; do
	out=$(vp_run_cni vnet-ipam DEL "vpt-hm-$c" "$p" eth0 "$VI") || vp_fail "DEL $c: $out"
done
left=$(cd "$DIR" && ls | grep -E '^[0-9.]+$' || true)
vp_assert_eq "$left" "$OLD" "reservation files left"
rm "$DIR/$OLD"
vp_assert_ipam_clean "$IPAM_DIR" vpt-hm-pod vpt-hm-hl1 vpt-hm-hl2 vpt-hm-v1 vpt-hm-v2 vpt-hm-v3 vpt-hm-v4 vpt-hm-v5
vp_ok "all DELeted: no reservation of either plugin left"
