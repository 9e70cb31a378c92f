#!/usr/bin/env bash
# plugins_teardown.sh - vnet-bridge invoked directly on the ends of an
# attachment's life: DEL with a malformed prevResult still deletes the pod's
# interface and frees its allocation; CHECK after the allocation is gone
# fails with a code that does not tell the runtime to skip DEL (not 3);
# hairpinMode with promiscMode is refused (as the reference bridge) before
# anything is made; the "inet vplumb" and "bridge vplumb" nft tables go with
# the last attachment that needs them, also when pods go in parallel.
source "$(dirname "$0")/lib.sh"
vp_init td
vp_require_plugin vnet-bridge vnet-ipam

BR=vpt-td-br
IPAM_DIR="$VP_TMP/ipam"
# conf [EXTRA_JSON_FIELDS]
conf() {
	cat <<JSON
{ "cniVersion": "1.1.0", "name": "vpt-td", "type": "vnet-bridge", "bridge": "$BR",
  "isGateway": true ${1:+, $1},
  "ipam": { "type": "vnet-ipam", "dataDir": "$IPAM_DIR",
            "ranges": [[{ "subnet": "10.198.84.0/24" }]] } }
JSON
}
CONF=$(conf)
# with_prev CONFIG PREV_JSON: CONFIG with prevResult PREV_JSON.
with_prev() { jq -c --argjson r "$2" '. + {prevResult: $r}' <<<"$1"; }

pa=$(vp_netns a)
na=$(vp_ns a)
vp_on_exit "vp_run_cni vnet-bridge DEL vpt-td-a '$pa' eth0 '$CONF'"

# 1. DEL with a malformed prevResult (an address that is no address; then
# one that is not even an object) completes: link and allocation gone.
for bad in '{"cniVersion":"1.1.0","ips":[{"address":"nope"}]}' '"garbage"'; do
	r=$(vp_run_cni vnet-bridge ADD vpt-td-a "$pa" eth0 "$CONF") || vp_fail "ADD: $r"
	vp_assert_ipam_holds "$IPAM_DIR" vpt-td-a
	out=$(vp_run_cni vnet-bridge DEL vpt-td-a "$pa" eth0 "$(with_prev "$CONF" "$bad")") ||
		vp_fail "DEL with prevResult $bad failed: $out"
	vp_assert_no_link "$na" eth0
	vp_assert_ipam_clean "$IPAM_DIR" vpt-td-a
	vp_ok "DEL with prevResult $bad: eth0 and the allocation are gone"
done

# 2. CHECK after the allocation was lost: fails, and not with code 3.
r=$(vp_run_cni vnet-bridge ADD vpt-td-a "$pa" eth0 "$CONF") || vp_fail "ADD: $r"
out=$(vp_run_cni vnet-bridge CHECK vpt-td-a "$pa" eth0 "$(with_prev "$CONF" "$r")") || vp_fail "CHECK of a sound pod: $out"
out=$(vp_run_cni vnet-ipam DEL vpt-td-a "$pa" eth0 "$CONF") || vp_fail "IPAM DEL: $out"
if out=$(vp_run_cni vnet-bridge CHECK vpt-td-a "$pa" eth0 "$(with_prev "$CONF" "$r")"); then
	vp_fail "CHECK passed without an allocation: $out"
fi
vp_assert_eq "$(jq -r .code <<<"$out")" 100 "CHECK code without an allocation ($(jq -r .details <<<"$out"))"
if out=$(vp_run_cni vnet-bridge CHECK vpt-td-a /run/netns/vpt-td-gone eth0 "$(with_prev "$CONF" "$r")"); then
	vp_fail "CHECK passed without its netns: $out"
fi
vp_assert_eq "$(jq -r .code <<<"$out")" 100 "CHECK code without the netns ($(jq -r .details <<<"$out"))"
out=$(vp_run_cni vnet-bridge DEL vpt-td-a "$pa" eth0 "$CONF") || vp_fail "DEL: $out"
vp_ok "CHECK without an allocation or without its netns: code 100 (3 would tell the runtime DEL is not needed)"

# 3. hairpinMode + promiscMode: code 7 with the reference's text; no bridge,
# link or allocation made.
if out=$(vp_run_cni vnet-bridge ADD vpt-td-a "$pa" eth0 "$(conf '"hairpinMode": true, "promiscMode": true')"); then
	vp_fail "ADD with hairpinMode and promiscMode succeeded: $out"
fi
vp_assert_eq "$(jq -r .code <<<"$out")" 7 "hairpinMode+promiscMode code"
vp_assert_eq "$(jq -r .details <<<"$out")" "cannot set hairpin mode and promiscuous mode at the same time." \
	"hairpinMode+promiscMode text"
vp_assert_no_link "$na" eth0
vp_assert_ipam_clean "$IPAM_DIR" vpt-td-a
vp_ok "hairpinMode + promiscMode: refused with code 7, nothing made"

# 4. ipMasq + macspoofchk: the tables exist while a pod needs them, and are
# not left empty after the last DEL, also with DELs racing each other.
# Other scripts may hold attachments in them meanwhile: then a table stays,
# but never without an attachment chain.
# assert_no_empty_tables WHAT
assert_no_empty_tables() {
	local fam
	for fam in inet bridge; do
		if nft list table "$fam" vplumb >/dev/null 2>&1 &&
			! nft list table "$fam" vplumb | grep -q 'chain vp-'; then
			vp_fail "$1: table $fam vplumb left without any attachment: $(nft list table "$fam" vplumb | head -20)"
		fi
	done
}
MASQ=$(conf '"ipMasq": true, "macspoofchk": true')
r=$(vp_run_cni vnet-bridge ADD vpt-td-a "$pa" eth0 "$MASQ") || vp_fail "ADD with ipMasq: $r"
ip=$(vp_result_ip "$r")
for fam in inet bridge; do
	nft list table "$fam" vplumb >/dev/null 2>&1 || vp_fail "no table $fam vplumb after ADD with ipMasq and macspoofchk"
done
out=$(vp_run_cni vnet-bridge DEL vpt-td-a "$pa" eth0 "$MASQ") || vp_fail "DEL: $out"
vp_assert_nft_clean "$ip"
assert_no_empty_tables "DEL of the only ipMasq pod"
pods=()
for i in 1 2 3 4 5 6; do pods+=("$(vp_netns "p$i")"); done
for i in 1 2 3 4 5 6; do
	vp_on_exit "vp_run_cni vnet-bridge DEL vpt-td-p$i '${pods[i - 1]}' eth0 '$MASQ'"
	vp_run_cni vnet-bridge ADD "vpt-td-p$i" "${pods[i - 1]}" eth0 "$MASQ" >"$VP_TMP/add.$i" &
done
wait
for i in 1 2 3 4 5 6; do
	vp_run_cni vnet-bridge DEL "vpt-td-p$i" "${pods[i - 1]}" eth0 "$MASQ" >"$VP_TMP/del.$i" || echo "$i" >>"$VP_TMP/del.failed" &
done
wait
[[ ! -s "$VP_TMP/del.failed" ]] || vp_fail "parallel DEL failed: $(cat "$VP_TMP/del.$(head -1 "$VP_TMP/del.failed")")"
# ADDs racing the DELs that remove the tables: every ADD must still get its
# rules (it retries when the table it saw is deleted under it).
for i in 1 2 3; do vp_run_cni vnet-bridge ADD "vpt-td-p$i" "${pods[i - 1]}" eth0 "$MASQ" >"$VP_TMP/add.$i" || vp_fail "ADD p$i"; done
for i in 1 2 3; do
	vp_run_cni vnet-bridge DEL "vpt-td-p$i" "${pods[i - 1]}" eth0 "$MASQ" >"$VP_TMP/del.$i" || echo "$i" >>"$VP_TMP/del.failed" &
	vp_run_cni vnet-bridge ADD "vpt-td-p$((i + 3))" "${pods[i + 2]}" eth0 "$MASQ" >"$VP_TMP/add.$((i + 3))" ||
		echo "$((i + 3))" >>"$VP_TMP/add.failed" &
done
wait
[[ ! -s "$VP_TMP/del.failed" && ! -s "$VP_TMP/add.failed" ]] || vp_fail "ADD/DEL racing failed"
for i in 4 5 6; do
	r=$(cat "$VP_TMP/add.$i")
	out=$(vp_run_cni vnet-bridge CHECK "vpt-td-p$i" "${pods[i - 1]}" eth0 "$(with_prev "$MASQ" "$r")") ||
		vp_fail "CHECK p$i (ADDed while tables were being removed): $out"
	vp_run_cni vnet-bridge DEL "vpt-td-p$i" "${pods[i - 1]}" eth0 "$MASQ" >/dev/null || vp_fail "DEL p$i"
done
for i in 1 2 3 4 5 6; do vp_assert_nft_clean "$(vp_result_ip "$(cat "$VP_TMP/add.$i")")"; done
assert_no_empty_tables "6 parallel DELs"
vp_ok "nft tables go with the last ipMasq/macspoofchk attachment (also with DELs and ADDs racing)"
