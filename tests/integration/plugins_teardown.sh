#!/usr/bin/env bash
# plugins_teardown.sh - vnet-bridge invoked directly on the ends of an
# attachment's life: DEL with a malformed prevResult still deletes the pod's
# interface and frees its allocation; CHECK after the allocation is gone
# fails with a code that does not tell the runtime to skip DEL (not 3);
# hairpinMode with promiscMode is refused (as the reference bridge) before
# anything is made.
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
out=$(vp_run_cni vnet-bridge DEL vpt-td-a "$pa" eth0 "$CONF") || vp_fail "DEL: $out"
vp_ok "CHECK without an allocation: code 100 (3 would tell the runtime DEL is not needed)"

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
