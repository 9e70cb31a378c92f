#!/usr/bin/env bash
# libcni_kill.sh - crash safety: ~20 concurrent ADDs through libcni are
# SIGKILLed (with their plugin and IPAM children) at spread-out short delays.
# The killed pods are then cleaned up the two ways a runtime can: DEL (half of
# them) or, with the sandbox gone, a spec 1.1.0 GC whose
# cni.dev/valid-attachments lists the survivors.  Nothing may leak: no
# allocation, veth or nft rule of a killed pod; the survivors keep working.
source "$(dirname "$0")/lib.sh"
vp_init lk
vp_require_cnitool
vp_require_plugin "$VP_BRIDGE" "$VP_IPAM"
vp_require_cmd setsid

N=20
NET=vpt-lk
BR=vpt-lk-br
IPAM_DIR="$VP_TMP/ipam"
RES="$VP_TMP/results"
CONF="$VP_TMP/net.conflist"
mkdir -p "$RES"
# The reference bridge cannot DEL a pod killed between its iptables steps
# ("Chain CNI-... does not exist"), so its mechanics run is without ipMasq.
MASQ=true
[[ "$VP_REFERENCE" == 1 ]] && MASQ=false
plugin_conf() { # plugin_conf VERSION [EXTRA_JSON_MEMBERS]
	cat <<JSON
{ "cniVersion": "$1", "name": "$NET", "type": "$VP_BRIDGE", "bridge": "$BR",
  "isGateway": true, "ipMasq": $MASQ,
  "ipam": { "type": "$VP_IPAM", "dataDir": "$IPAM_DIR",
            "ranges": [[{ "subnet": "10.198.6.0/24" }]] }${2:+, $2} }
JSON
}
printf '{ "cniVersion": "1.0.0", "name": "%s", "plugins": [ %s ] }\n' "$NET" "$(plugin_conf 1.0.0)" >"$CONF"

# add_and_kill I DELAY: ADD pod I in its own session, SIGKILL the whole
# session (vp-cnitool, plugin, IPAM delegate) after DELAY s; record the status.
add_and_kill() {
	setsid "$VP_CNITOOL" add "$CONF" "/run/netns/vpt-lk-p$1" "vpt-lk-cid-$1" eth0 \
		--cni-path "$VP_CNI_PATH" --cache-dir "$VP_CNI_CACHE_DIR" >"$RES/$1.add" 2>"$RES/$1.err" &
	local p=$! rc=0
	sleep "$2"
	kill -9 -- "-$p" 2>/dev/null || true
	wait "$p" || rc=$?
	echo "$rc" >"$RES/$1.rc"
}

# pod_ips_in_nft: the 10.198.6.x host addresses the nft ruleset mentions.
pod_ips_in_nft() {
	nft list ruleset 2>/dev/null | grep -oE '10\.198\.6\.[0-9]+(/[0-9]+)?' | grep -v / | sort -u || true
}

veth0=$(vp_veth_count)
for i in $(seq 1 "$N"); do vp_netns "p$i" >/dev/null; done
for i in $(seq 1 "$N"); do
	add_and_kill "$i" "$(printf '0.%03d' $(((i - 1) * 6 + RANDOM % 6)))" 2>/dev/null &
done
wait

survivors=() killed=()
for i in $(seq 1 "$N"); do
	case "$(cat "$RES/$i.rc")" in
	0) survivors+=("$i") ;;
	137) killed+=("$i") ;;
	*) vp_fail "ADD $i failed by itself (status $(cat "$RES/$i.rc")): $(head -2 "$RES/$i.err")" ;;
	esac
done
vp_ok "$N concurrent ADDs: ${#survivors[@]} completed, ${#killed[@]} SIGKILLed mid-ADD"
[[ ${#killed[@]} -gt 0 ]] || vp_log "note: every ADD finished before its kill; the cleanup paths below ran on nothing"

# Cleanup as a runtime would: DEL for even pods; odd pods lose their sandbox
# and are left to GC.
# drop_torn_cache I: libcni writes its result cache in place (truncate, then
# write), so a kill between the two leaves it empty, and libcni's own DEL
# then fails before it runs any plugin.  That cache is libcni's, not ours:
# drop it, as a runtime recovering would, so the DEL reaches the plugins.
drop_torn_cache() {
	local f
	for f in "$VP_CNI_CACHE_DIR/results/$NET-vpt-lk-cid-$1-"*; do
		[[ -f $f ]] && ! { [[ -s $f ]] && jq -e . "$f" >/dev/null 2>&1; } || continue
		vp_log "note: pod $1 was killed while libcni wrote its cache ($f): dropped"
		rm -f "$f"
	done
}

to_gc=()
for i in "${killed[@]}"; do
	if ((i % 2 == 0)); then
		drop_torn_cache "$i"
		"$VP_CNITOOL" del "$CONF" "/run/netns/vpt-lk-p$i" "vpt-lk-cid-$i" eth0 \
			--cni-path "$VP_CNI_PATH" --cache-dir "$VP_CNI_CACHE_DIR" || vp_fail "DEL of killed pod $i"
	else
		ip netns del "vpt-lk-p$i"
		to_gc+=("$i")
	fi
done
if [[ "$VP_REFERENCE" == 1 ]]; then
	# The reference plugins (spec <= 1.0.0) have no GC: DEL without netns instead.
	for i in "${to_gc[@]}"; do
		drop_torn_cache "$i"
		"$VP_CNITOOL" del "$CONF" "" "vpt-lk-cid-$i" eth0 \
			--cni-path "$VP_CNI_PATH" --cache-dir "$VP_CNI_CACHE_DIR" || vp_fail "DEL of killed pod $i"
	done
else
	valid=$(for i in "${survivors[@]}"; do printf '{"containerID":"vpt-lk-cid-%s","ifname":"eth0"}\n' "$i"; done | jq -sc .)
	out=$(vp_run_cni "$VP_BRIDGE" GC "" "" "" "$(plugin_conf 1.1.0 "\"cni.dev/valid-attachments\": $valid")") ||
		vp_fail "GC failed: $out"
fi
vp_ok "killed pods cleaned: $((${#killed[@]} - ${#to_gc[@]})) by DEL, ${#to_gc[@]} by GC"

# shellcheck disable=SC2046
vp_assert_ipam_clean "$IPAM_DIR" $(for i in "${killed[@]}"; do echo "vpt-lk-cid-$i"; done)
for i in "${survivors[@]}"; do vp_assert_ipam_holds "$IPAM_DIR" "vpt-lk-cid-$i"; done
vp_assert_eq "$(vp_veth_count)" "$((veth0 + ${#survivors[@]}))" "host veths = baseline + survivors"
surv_ips=$(for i in "${survivors[@]}"; do vp_result_ip "$(cat "$RES/$i.add")"; done | sort -u)
gw=""
for i in "${survivors[@]}"; do gw=$(vp_result_gw "$(cat "$RES/$i.add")"); done
leaked=$(comm -23 <(pod_ips_in_nft) <(printf '%s\n' $surv_ips "$gw" | sort -u))
[[ -z "$leaked" ]] || vp_fail "nft rules left for killed pods: $leaked: $(nft list ruleset 2>/dev/null | grep -Fw "$(head -1 <<<"$leaked")" | head -3)"
for i in "${survivors[@]}"; do vp_assert_ping "vpt-lk-p$i" "$gw"; done
vp_ok "no allocation, veth or nft rule of a killed pod; survivors hold theirs and reach $gw"

for i in "${survivors[@]}"; do
	"$VP_CNITOOL" del "$CONF" "/run/netns/vpt-lk-p$i" "vpt-lk-cid-$i" eth0 \
		--cni-path "$VP_CNI_PATH" --cache-dir "$VP_CNI_CACHE_DIR" || vp_fail "DEL of survivor $i"
done
vp_assert_eq "$(vp_veth_count)" "$veth0" "host veths after DEL of the survivors"
# shellcheck disable=SC2046
vp_assert_ipam_clean "$IPAM_DIR" $(seq -f 'vpt-lk-cid-%g' 1 "$N")
leaked=$(comm -23 <(pod_ips_in_nft) <(printf '%s\n' "$gw"))
[[ -z "$leaked" ]] || vp_fail "nft rules left after DEL of all: $leaked"
vp_ok "after DEL of the survivors: nothing left"
