#!/usr/bin/env bash
# vnetctl OBJECT add|del|show: each object family created, found again
# ("already present", exit 0), refused on a mismatch (exit 1 naming the
# field), deleted twice (the second a success), usage errors exit 2; ping
# over a vnetctl bridge; 50 parallel `veth add` into distinct namespaces on
# one bridge all succeed.  Subnet 10.198.90.0/24.
source "$(dirname "$0")/lib.sh"
vp_init vco

VNETCTL="$VP_BUILD/bin/vnetctl"
[[ -x "$VNETCTL" ]] || vp_fail "vnetctl not built at $VNETCTL"
BR=vpt-vco-br
NS1=$(vp_ns a)
NS2=$(vp_ns b)

# expect RC PATTERN CMD...: CMD exits RC and its output matches PATTERN.
expect() {
	local rc=$1 pat=$2 out got
	shift 2
	set +e
	out=$("$VNETCTL" "$@" 2>&1)
	got=$?
	set -e
	[[ $got == "$rc" ]] || vp_fail "vnetctl $*: exit $got, want $rc: $out"
	[[ $out =~ $pat ]] || vp_fail "vnetctl $*: '$out' does not match /$pat/"
}

vp_on_exit "'$VNETCTL' nat del vpt-vco-nat"

# --- usage and help ---
expect 0 'objects:' --help
expect 2 'usage: vnetctl OBJECT'
expect 2 'unknown object' frobnicate add
expect 0 'vnetctl tap add NAME' tap --help
expect 0 '--vnet-hdr' tap add --help
expect 2 'unknown option --colour' bridge add $BR --colour red
expect 2 'missing the bridge NAME' bridge add
expect 2 'not a number' bridge add $BR --mtu lots
expect 2 '--json goes with show only' bridge add $BR --json
vp_ok "help at every level, usage errors exit 2"

# --- bridge, namespaces, veths ---
expect 0 "bridge $BR: created" bridge add $BR --mtu 1500
expect 0 "bridge $BR: already present" bridge add $BR --mtu 1500
expect 1 "bridge $BR: mtu is 1500, want 1400" bridge add $BR --mtu 1400
expect 0 "netns $NS1: created" netns add "$NS1"
expect 0 "already present" netns add "$NS1"
ip netns add "$NS2"
expect 0 "veth vpt-vco-a.*created" veth add vpt-vco-a --peer eth0 --netns "$NS1" --bridge $BR
expect 0 "veth vpt-vco-a: already present" veth add vpt-vco-a --peer eth0 --netns "$NS1" --bridge $BR
expect 1 "veth vpt-vco-a: peer is not eth1" veth add vpt-vco-a --peer eth1 --netns "$NS1" --bridge $BR
expect 1 "veth vpt-vco-a: bridge is $BR, want none" veth add vpt-vco-a --peer eth0 --netns "$NS1"
# The peer by path rather than name.
expect 0 "created" veth add vpt-vco-b --peer eth0 --netns "/run/netns/$NS2" --bridge $BR
vp_assert_eq "$(vp_link_attr "$NS2" eth0 operstate | tr A-Z a-z)" up "peer eth0 in $NS2 is up"
vp_assert_eq "$(vp_link_attr "" vpt-vco-a master)" $BR "veth on the bridge"
vp_assert_eq "$(vp_link_attr "" vpt-vco-a ifalias)" "vplumb:vnetctl" "ownership alias"
expect 1 "is a veth link, not a bridge" bridge del vpt-vco-a
# The bridge keeps the MTU it was given when a port with a larger one joins.
expect 0 "created" veth add vpt-vco-j --peer vpt-vco-k --mtu 9000 --bridge $BR
expect 0 "bridge $BR: already present" bridge add $BR --mtu 1500
expect 0 "deleted" veth del vpt-vco-j
vp_ok "bridge, netns and veth: idempotent, mismatches named"

# --- addresses, routes, ping ---
expect 0 "added" addr add 10.198.90.1/24 --link $BR
expect 0 "already present" addr add 10.198.90.1/24 --link $BR
expect 1 "prefix length is 24, want 16" addr add 10.198.90.1/16 --link $BR
expect 0 "added" addr add 10.198.90.2/24 --link eth0 --netns "$NS1"
expect 0 "added" addr add 10.198.90.3/24 --link eth0 --netns "$NS2"
expect 0 "added" route add default --via 10.198.90.1 --netns "$NS1"
expect 0 "already present" route add default --via 10.198.90.1 --netns "$NS1"
expect 0 "default via 10.198.90.1 dev eth0" route show --netns "$NS1"
vp_assert_eq "$("$VNETCTL" addr show --netns "$NS1" --json | jq -r '.[0].address')" \
	10.198.90.2/24 "addr show --json"
vp_assert_ping "$NS1" 10.198.90.3
vp_assert_ping "$NS1" 10.198.90.1
expect 0 "deleted" route del default --via 10.198.90.1 --netns "$NS1"
expect 0 "already absent" route del default --via 10.198.90.1 --netns "$NS1"
expect 0 "deleted" addr del 10.198.90.3/24 --link eth0 --netns "$NS2"
expect 0 "already absent" addr del 10.198.90.3/24 --link eth0 --netns "$NS2"
vp_ok "addresses and routes; ping between the namespaces over the bridge"

# --- tap, macvtap, link attach/detach, redirect ---
expect 0 "tap vpt-vco-t0: created" tap add vpt-vco-t0 --queues 4 --vnet-hdr --owner 0 --bridge $BR
expect 0 "already present" tap add vpt-vco-t0 --queues 4 --vnet-hdr --owner 0 --bridge $BR
expect 1 "vnet_hdr is on, want off" tap add vpt-vco-t0 --queues 4 --owner 0 --bridge $BR
expect 1 "multi_queue is on, want off" tap add vpt-vco-t0 --vnet-hdr --owner 0 --bridge $BR
expect 1 "owner is 0, want 1000" tap add vpt-vco-t0 --queues 4 --vnet-hdr --owner 1000 --bridge $BR
vp_assert_eq "$("$VNETCTL" tap show vpt-vco-t0 --json | jq -c '.[0] | [.multi_queue, .vnet_hdr, .owner, .persistent, .bridge]')" \
	"[true,true,0,true,\"$BR\"]" "tap show --json"
vp_assert_match "$(ip -d link show vpt-vco-t0)" "multi_queue" "ip -d link: multi-queue tap"
expect 0 "detached" link detach vpt-vco-t0
expect 0 "already detached" link detach vpt-vco-t0
expect 0 "attached" link attach vpt-vco-t0 --bridge $BR
expect 0 "already attached" link attach vpt-vco-t0 --bridge $BR
expect 0 "created" veth add vpt-vco-l0 --peer vpt-vco-l1
expect 0 "macvtap vpt-vco-m0 \(/dev/tap[0-9]+\): created" macvtap add vpt-vco-m0 --link vpt-vco-l0 --mode vepa
expect 0 "already present" macvtap add vpt-vco-m0 --link vpt-vco-l0 --mode vepa
expect 1 "mode is vepa, want bridge" macvtap add vpt-vco-m0 --link vpt-vco-l0
vp_assert_eq "$("$VNETCTL" macvtap show vpt-vco-m0 --json | jq -r '.[0].mode')" vepa "macvtap mode"
expect 0 "created" redirect add vpt-vco-l1 --to vpt-vco-t0
expect 0 "already present" redirect add vpt-vco-l1 --to vpt-vco-t0
vp_assert_match "$(tc filter show dev vpt-vco-l1 ingress)" "mirred.*vpt-vco-t0" "tc mirred filter"
expect 0 "deleted" redirect del vpt-vco-l1 --to vpt-vco-t0
vp_assert_eq "$("$VNETCTL" redirect show vpt-vco-l1 --to vpt-vco-t0 --json | jq .redirect)" false "redirect gone"
vp_ok "tap, macvtap, attach/detach, redirect"

# --- nat ---
expect 0 "nat vpt-vco-nat: created" nat add vpt-vco-nat --source 10.198.90.2 --exclude 10.198.90.0/24
expect 0 "already present" nat add vpt-vco-nat --source 10.198.90.2 --exclude 10.198.90.0/24
expect 1 "differs" nat add vpt-vco-nat --source 10.198.90.9 --exclude 10.198.90.0/24
vp_assert_match "$(nft list table inet vplumb)" 'comment "vnetctl/vpt-vco-nat/nat"' "nft owner comment"
expect 0 "deleted" nat del vpt-vco-nat
expect 0 "already absent" nat del vpt-vco-nat
vp_assert_nft_clean vnetctl/vpt-vco-nat 10.198.90.2
vp_ok "nat through the ipMasq nftables code"

# --- 50 parallel veth adds into distinct namespaces on one bridge ---
pids=()
for i in $(seq 1 50); do
	ip netns add "$(vp_ns p$i)"
done
for i in $(seq 1 50); do
	"$VNETCTL" veth add vpt-vco-p$i --peer eth0 --netns "$(vp_ns p$i)" --bridge $BR \
		>"$VP_TMP/p$i.out" 2>&1 &
	pids+=($!)
done
fails=0
for pid in "${pids[@]}"; do wait "$pid" || fails=$((fails + 1)); done
[[ $fails == 0 ]] || vp_fail "$fails of 50 parallel veth adds failed: $(cat "$VP_TMP"/p*.out | grep -v created | head -3)"
ports=$(ip -j link show master $BR | jq '[.[] | select(.ifname | startswith("vpt-vco-p"))] | length')
vp_assert_eq "$ports" 50 "ports on $BR"
vp_ok "50 parallel veth adds"

# --- del: everything, twice ---
for i in $(seq 1 50); do expect 0 deleted veth del vpt-vco-p$i; done
for o in "macvtap vpt-vco-m0" "veth vpt-vco-l0" "tap vpt-vco-t0" "veth vpt-vco-a" "veth vpt-vco-b" "bridge $BR" "netns $NS1"; do
	expect 0 "deleted" ${o% *} del ${o#* }
	expect 0 "already absent" ${o% *} del ${o#* }
done
vp_assert_no_link "" $BR
vp_assert_no_link "" vpt-vco-t0
[[ ! -e /run/netns/$NS1 ]] || vp_fail "netns $NS1 still there"
vp_ok "del, and del of what is gone"
