#!/usr/bin/env bash
# vnetctl apply|destroy|diff: a topology of two namespaces, a bridge, a veth
# into each, a multi-queue tap and NAT is brought up (ping across the
# bridge), applying it again changes nothing, destroy leaves the host as it
# was (ip -d link, ip addr, ip route, nft ruleset compared), a failure half
# way leaves nothing, and neither apply nor destroy touches a link of the
# same name that vnetctl did not make.  Subnet 10.198.91.0/24.
source "$(dirname "$0")/lib.sh"
vp_init vca

VNETCTL="$VP_BUILD/bin/vnetctl"
[[ -x "$VNETCTL" ]] || vp_fail "vnetctl not built at $VNETCTL"
TOPO="$VP_TMP/lab.json"
BAD="$VP_TMP/bad.json"
NSA=$(vp_ns a)
NSB=$(vp_ns b)
BR=vpt-vca-br

cat >"$TOPO" <<JSON
{
  "name": "vpt-vca",
  "namespaces": [{"name": "$NSA"}, {"name": "$NSB"}],
  "bridges": [{"name": "$BR"}],
  "veths": [
    {"name": "vpt-vca-va", "peer": "eth0", "netns": "$NSA", "bridge": "$BR"},
    {"name": "vpt-vca-vb", "peer": "eth0", "netns": "$NSB", "bridge": "$BR"}
  ],
  "taps": [{"name": "vpt-vca-tap", "queues": 4, "vnetHdr": true, "bridge": "$BR"}],
  "addresses": [
    {"link": "$BR", "address": "10.198.91.1/24"},
    {"link": "eth0", "netns": "$NSA", "address": "10.198.91.2/24"},
    {"link": "eth0", "netns": "$NSB", "address": "10.198.91.3/24"}
  ],
  "routes": [
    {"dst": "default", "via": "10.198.91.1", "netns": "$NSA"},
    {"dst": "default", "via": "10.198.91.1", "netns": "$NSB"}
  ],
  "nat": [{"name": "out", "sources": ["10.198.91.2", "10.198.91.3"], "exclude": "10.198.91.0/24"}]
}
JSON
# The same with a last NAT entry whose source another owner's NAT (set up
# below) already masquerades: nftables refuses the map element, after every
# other object of the topology is up.
jq '.nat += [{"name": "late", "sources": ["10.198.91.9"], "exclude": "10.198.91.0/24"}]' "$TOPO" >"$BAD"
vp_on_exit "'$VNETCTL' destroy '$TOPO'"

# Host state, leaving out other scripts' vpt- objects (they may run in
# parallel), the bridge timers that tick on their own and nft counters.
snapshot() {
	{
		ip -d link | perl -ne 'if (/^\d+: /) { $skip = /^\d+: vpt-(?!vca)/ } print unless $skip'
		ip addr | perl -ne 'if (/^\d+: /) { $skip = /^\d+: vpt-(?!vca)/ } print unless $skip'
		ip route | grep -Pv 'dev vpt-(?!vca)' || true
		ip -6 route | grep -Pv 'dev vpt-(?!vca)' || true
		nft -s list ruleset 2>/dev/null
		ls /run/netns 2>/dev/null | grep -v '^vpt-(?!vca)' -P || true
	} | sed -E 's/[a-z_]*timer +[0-9.]+//g' >"$1"
}

# run RC CMD...: vnetctl exits RC; its output is left in $OUT.
run() {
	local rc=$1 got
	shift
	set +e
	OUT=$("$VNETCTL" "$@" 2>&1)
	got=$?
	set -e
	[[ $got == "$rc" ]] || vp_fail "vnetctl $*: exit $got, want $rc: $OUT"
}

snapshot "$VP_TMP/before"

# --- diff, apply, ping ---
run 0 diff "$TOPO"
vp_assert_match "$OUT" "apply would make 12 changes" "diff of a down topology"
snapshot "$VP_TMP/after-diff"
diff -u "$VP_TMP/before" "$VP_TMP/after-diff" >/dev/null || vp_fail "diff changed the host"
run 0 apply "$TOPO"
vp_assert_match "$OUT" "applied \(12 changes\)" "apply"
vp_assert_ping "$NSA" 10.198.91.3
vp_assert_ping "$NSB" 10.198.91.2
vp_assert_eq "$(vp_link_attr "" vpt-vca-va ifalias)" "vplumb:vnetctl:vpt-vca" "ownership alias of a veth"
vp_assert_eq "$(vp_link_attr "$NSA" lo ifalias)" "vplumb:vnetctl:vpt-vca" "ownership alias of a namespace"
vp_assert_match "$(ip -d link show vpt-vca-tap)" "multi_queue" "multi-queue tap"
vp_assert_match "$(nft list table inet vplumb)" 'comment "vnetctl:vpt-vca/out/nat"' "NAT owner comment"
vp_ok "apply: two namespaces on a bridge, ping across it, tap and NAT in place"

# --- apply twice, diff of an up topology ---
snapshot "$VP_TMP/up1"
run 0 apply "$TOPO"
vp_assert_match "$OUT" "already up, nothing changed" "second apply"
if grep -Ev 'already present|already up' <<<"$OUT"; then vp_fail "second apply changed something"; fi
snapshot "$VP_TMP/up2"
diff -u "$VP_TMP/up1" "$VP_TMP/up2" || vp_fail "second apply changed the host"
run 0 diff "$TOPO"
vp_assert_match "$OUT" "would make 0 changes" "diff of an up topology"
vp_ok "apply of an up topology is a no-op"

# --- destroy leaves the host as it was ---
run 0 destroy "$TOPO"
vp_assert_match "$OUT" "destroyed" "destroy"
snapshot "$VP_TMP/after"
diff -u "$VP_TMP/before" "$VP_TMP/after" || vp_fail "destroy did not leave the host as it was"
run 0 destroy "$TOPO"
vp_assert_match "$OUT" "already down" "second destroy"
vp_ok "destroy restores links, addresses, routes and the nft ruleset"

# --- a failure half way leaves nothing ---
run 0 nat add vpt-vca-blocker --source 10.198.91.9 --exclude 10.198.91.0/24
vp_on_exit "'$VNETCTL' nat del vpt-vca-blocker"
snapshot "$VP_TMP/before-bad"
run 1 apply "$BAD"
vp_assert_match "$OUT" "adding element 10.198.91.9 .* File exists" "the failing step is named"
vp_assert_match "$OUT" "rolled back" "rollback reported"
vp_assert_match "$OUT" "nat out: created" "the failure came after every other step"
snapshot "$VP_TMP/after-bad"
diff -u "$VP_TMP/before-bad" "$VP_TMP/after-bad" || vp_fail "a failed apply left something behind"
run 0 nat del vpt-vca-blocker
snapshot "$VP_TMP/after-blocker"
diff -u "$VP_TMP/before" "$VP_TMP/after-blocker" || vp_fail "the host is not as it was"
vp_ok "a failed apply rolls back everything it created"

# --- what vnetctl did not make is never taken ---
ip link add "$BR" type bridge
vp_on_exit "ip link del $BR"
run 1 apply "$TOPO"
vp_assert_match "$OUT" "bridge: exists but was not made by vplumb:vnetctl:vpt-vca" "foreign bridge refused"
[[ ! -e /run/netns/$NSA ]] || vp_fail "namespace $NSA left after the refused apply"
run 0 destroy "$TOPO"
vp_assert_match "$OUT" "bridge $BR: not made by vplumb:vnetctl:vpt-vca, left alone" "destroy spares it"
vp_assert_link "" "$BR"
ip link del "$BR"
vp_ok "ownership: apply refuses and destroy spares a link it did not make"

# --- bad files are usage errors naming the path ---
echo '{"name": "x", "bridges": [{"name": "b", "stp": true}]}' >"$VP_TMP/unknown.json"
run 2 apply "$VP_TMP/unknown.json"
vp_assert_match "$OUT" "bridges\[0\]\.stp: unknown field" "unknown field"
run 1 apply "$VP_TMP/missing.json"
vp_assert_match "$OUT" "missing.json: No such file" "missing file"
vp_ok "bad topology files exit 2, a missing one 1"

# --- the shipped example parses, and its diff changes nothing ---
snapshot "$VP_TMP/before-example"
run 0 diff "$VP_SOURCE/deploy/vnetctl/two-namespaces.json"
vp_assert_match "$OUT" "topology lab: apply would make" "example diff"
snapshot "$VP_TMP/after-example"
diff -u "$VP_TMP/before-example" "$VP_TMP/after-example" || vp_fail "diff of the example changed the host"
vp_ok "deploy/vnetctl/two-namespaces.json is a valid topology"
