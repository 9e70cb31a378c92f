#!/usr/bin/env bash
# libcni_scale.sh - 100 pods ADDed through libcni by 16 parallel processes on
# one vnet-bridge network: all succeed with distinct addresses and reach each
# other; after DEL of all (also parallel) no veth, allocation or nft rule is
# left.
source "$(dirname "$0")/lib.sh"
vp_init ls
vp_require_cnitool
vp_require_plugin "$VP_BRIDGE" "$VP_IPAM"

N=${VP_SCALE_PODS:-100}
P=16
IPAM_DIR="$VP_TMP/ipam"
RES="$VP_TMP/results"
CONF="$VP_TMP/net.conflist"
mkdir -p "$RES"
cat >"$CONF" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "vpt-ls",
  "plugins": [{
    "type": "$VP_BRIDGE", "bridge": "vpt-ls-br", "isGateway": true, "ipMasq": true,
    "ipam": { "type": "$VP_IPAM", "dataDir": "$IPAM_DIR",
              "ranges": [[{ "subnet": "10.198.5.0/24" }]] }
  }]
}
JSON

# run_all VERB: VERB every pod, P at a time; per-pod stdout/stderr in $RES.
run_all() {
	seq 1 "$N" | xargs -P "$P" -I{} sh -c \
		'"$0" "$1" "$2" /run/netns/vpt-ls-p{} vpt-ls-cid-{} eth0 --cni-path "$3" --cache-dir "$4" >"$5/{}.$1" 2>"$5/{}.$1.err"' \
		"$VP_CNITOOL" "$1" "$CONF" "$VP_CNI_PATH" "$VP_CNI_CACHE_DIR" "$RES"
}

veth0=$(vp_veth_count)
for i in $(seq 1 "$N"); do vp_netns "p$i" >/dev/null; done
t0=$(date +%s%N)
if ! run_all add; then
	for i in $(seq 1 "$N"); do
		[[ -s "$RES/$i.add.err" ]] && vp_log "pod $i: $(head -2 "$RES/$i.add.err")"
	done
	vp_fail "some of the $N parallel ADDs failed"
fi
ms=$((($(date +%s%N) - t0) / 1000000))
vp_ok "$N ADDs, $P in parallel, all succeeded (${ms} ms)"

ips=$(for i in $(seq 1 "$N"); do vp_result_ip "$(cat "$RES/$i.add")"; done)
vp_assert_eq "$(grep -c '^10\.198\.5\.[0-9]*$' <<<"$ips")" "$N" "results with an address in 10.198.5.0/24"
dups=$(sort <<<"$ips" | uniq -d)
[[ -z "$dups" ]] || vp_fail "duplicate addresses: $dups"
for i in $(seq 1 "$N"); do
	want=$(vp_result_ip "$(cat "$RES/$i.add")")
	got=$(ip -n "vpt-ls-p$i" -j addr show dev eth0 | jq -r '.[0].addr_info[] | select(.family == "inet") | .local')
	vp_assert_eq "$got" "$want" "pod $i eth0 address"
done
vp_assert_eq "$(($(vp_veth_count) - veth0))" "$N" "host veths added"
vp_ok "$N distinct addresses, each on its pod's eth0, $N host veths"

for pair in "1 $N" "$((N / 2)) 1" "$N $((N / 3))"; do
	read -r a b <<<"$pair"
	vp_assert_ping "vpt-ls-p$a" "$(vp_result_ip "$(cat "$RES/$b.add")")"
done
vp_ok "sample pods reach each other"

macs=$(cat "$RES"/*.add | jq -r '.interfaces[] | select(.sandbox != null) | .mac')
hosts=$(cat "$RES"/*.add | jq -r '.interfaces[] | select(.sandbox == null and .name != "vpt-ls-br") | .name')
t0=$(date +%s%N)
if ! run_all del; then
	vp_fail "some of the $N parallel DELs failed: $(cat "$RES"/*.del.err | head -5)"
fi
ms=$((($(date +%s%N) - t0) / 1000000))
vp_ok "$N DELs, $P in parallel, all succeeded (${ms} ms)"

vp_assert_eq "$(vp_veth_count)" "$veth0" "host veth count after DEL (baseline)"
# shellcheck disable=SC2046
vp_assert_ipam_clean "$IPAM_DIR" $(seq -f 'vpt-ls-cid-%g' 1 "$N")
# shellcheck disable=SC2086
vp_assert_nft_clean $ips $macs $hosts $(seq -f "vpt-ls-cid-%g" 1 "$N")
vp_ok "after DEL: veths back to baseline, no allocation, no per-pod nft rule"
