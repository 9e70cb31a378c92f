#!/usr/bin/env bash
# plugins_tap.sh - vnet-tap invoked directly.  Chained after vnet-bridge: the
# tap appears in the pod with the veth's MAC and MTU and a tc redirect both
# ways; CHECK passes; DEL removes the tap and the veth's ingress qdisc and
# is idempotent.  Standalone: a multi-queue tap on a bridge inside the netns.
source "$(dirname "$0")/lib.sh"
vp_init pt
vp_require_plugin vnet-bridge vnet-tap
IPAM=vnet-ipam
vp_plugin_path "$IPAM" >/dev/null || IPAM=host-local

BR=vpt-pt-br
IPAM_DIR="$VP_TMP/ipam"
BRCONF=$(cat <<JSON
{ "cniVersion": "1.1.0", "name": "vpt-pt", "type": "vnet-bridge", "bridge": "$BR",
  "isGateway": true, "mtu": 1420,
  "ipam": { "type": "$IPAM", "dataDir": "$IPAM_DIR", "ranges": [[{ "subnet": "10.198.42.0/24" }]] } }
JSON
)
TAPCONF='{ "cniVersion": "1.1.0", "name": "vpt-pt", "type": "vnet-tap", "owner": 65534 }'
with_prev() { jq -c --argjson r "$2" '. + {prevResult: $r}' <<<"$1"; }

p=$(vp_netns a)
ns=$(vp_ns a)
vp_on_exit 'vp_run_cni vnet-bridge DEL vpt-pt-a "$p" eth0 "$BRCONF"'
rbr=$(vp_run_cni vnet-bridge ADD vpt-pt-a "$p" eth0 "$BRCONF") || vp_fail "bridge ADD: $rbr"
rtap=$(vp_run_cni vnet-tap ADD vpt-pt-a "$p" eth0 "$(with_prev "$TAPCONF" "$rbr")") || vp_fail "tap ADD: $rtap"
vp_assert_link "$ns" tap0
vp_assert_eq "$(jq -r '.interfaces | length' <<<"$rtap")" 4 "result = prevResult + tap"
vp_assert_eq "$(jq -r '.interfaces[3].name' <<<"$rtap")" tap0 "tap in the result"
vp_assert_eq "$(jq -r '.interfaces[3].sandbox' <<<"$rtap")" "$p" "tap sandbox"
vp_assert_eq "$(jq -c .ips <<<"$rtap")" "$(jq -c .ips <<<"$rbr")" "ips kept as the bridge gave them"
vp_assert_eq "$(vp_link_attr "$ns" tap0 address)" "$(vp_link_attr "$ns" eth0 address)" "tap MAC = veth MAC"
vp_assert_eq "$(vp_link_attr "$ns" tap0 mtu)" 1420 "tap MTU = veth MTU"
info=$(ip -n "$ns" -j -d link show dev tap0 | jq -c '.[0].linkinfo.info_data')
vp_assert_eq "$(jq -r .persist <<<"$info")" true "tap persists after the plugin exits"
vp_assert_eq "$(jq -r .vnet_hdr <<<"$info")" true "vnet_hdr (default)"
for dev in eth0 tap0; do
	tc -n "$ns" filter show dev "$dev" ingress | grep -q mirred || vp_fail "no mirred filter on $dev ingress"
done
vp_ok "chained: tap0 with eth0's MAC and MTU, redirect both ways"

out=$(vp_run_cni vnet-tap CHECK vpt-pt-a "$p" eth0 "$(with_prev "$TAPCONF" "$rtap")") || vp_fail "tap CHECK: $out"
tc -n "$ns" qdisc del dev tap0 ingress
if out=$(vp_run_cni vnet-tap CHECK vpt-pt-a "$p" eth0 "$(with_prev "$TAPCONF" "$rtap")"); then
	vp_fail "tap CHECK passed without the tap's redirect"
fi
vp_ok "CHECK passes, and fails without the redirect"

if out=$(vp_run_cni vnet-tap ADD vpt-pt-a "$p" eth0 "$(with_prev "$TAPCONF" "$rbr")"); then
	vp_fail "second tap ADD succeeded"
fi
vp_assert_eq "$(jq -r .code <<<"$out")" 102 "second tap ADD: interface exists"

out=$(vp_run_cni vnet-tap DEL vpt-pt-a "$p" eth0 "$(with_prev "$TAPCONF" "$rtap")") || vp_fail "tap DEL: $out"
vp_assert_no_link "$ns" tap0
vp_assert_link "$ns" eth0
[[ -z "$(tc -n "$ns" qdisc show dev eth0 ingress)" ]] || vp_fail "eth0 ingress qdisc left after DEL"
out=$(vp_run_cni vnet-tap DEL vpt-pt-a "$p" eth0 "$(with_prev "$TAPCONF" "$rtap")") || vp_fail "second tap DEL: $out"
NAMED=$(jq -c '. + {tapName: "vm-eth0", mtu: 1300}' <<<"$TAPCONF")
r=$(vp_run_cni vnet-tap ADD vpt-pt-a "$p" eth0 "$(with_prev "$NAMED" "$rbr")") || vp_fail "tap ADD with tapName: $r"
vp_assert_eq "$(vp_link_attr "$ns" vm-eth0 mtu)" 1300 "tapName tap with its own mtu"
out=$(vp_run_cni vnet-tap DEL vpt-pt-a "$p" eth0 "$(with_prev "$NAMED" "$r")") || vp_fail "tap DEL with tapName: $out"
vp_assert_no_link "$ns" vm-eth0
out=$(vp_run_cni vnet-bridge DEL vpt-pt-a "$p" eth0 "$BRCONF") || vp_fail "bridge DEL: $out"
vp_assert_ipam_clean "$IPAM_DIR" vpt-pt-a
vp_ok "DEL removes the tap and the redirect, and is idempotent"

SACONF='{ "cniVersion": "1.1.0", "name": "vpt-pt", "type": "vnet-tap", "queues": 2, "mac": "02:00:5e:00:2a:07", "mtu": 9000, "bridge": "vmbr0" }'
q=$(vp_netns vm)
qs=$(vp_ns vm)
r=$(vp_run_cni vnet-tap ADD vpt-pt-vm "$q" vmtap0 "$SACONF") || vp_fail "standalone ADD: $r"
info=$(ip -n "$qs" -j -d link show dev vmtap0 | jq -c '.[0]')
vp_assert_eq "$(jq -r .linkinfo.info_data.multi_queue <<<"$info")" true "queues 2 implies multi_queue"
vp_assert_eq "$(jq -r .master <<<"$info")" vmbr0 "tap on the netns's bridge"
vp_assert_eq "$(jq -r .address <<<"$info")" 02:00:5e:00:2a:07 "mac"
vp_assert_eq "$(jq -r .mtu <<<"$info")" 9000 "mtu"
out=$(vp_run_cni vnet-tap CHECK vpt-pt-vm "$q" vmtap0 "$(with_prev "$SACONF" "$r")") || vp_fail "standalone CHECK: $out"
out=$(vp_run_cni vnet-tap DEL vpt-pt-vm "$q" vmtap0 "$SACONF") || vp_fail "standalone DEL: $out"
vp_assert_no_link "$qs" vmtap0
out=$(vp_run_cni vnet-tap DEL vpt-pt-vm "$q" vmtap0 "$SACONF") || vp_fail "second standalone DEL: $out"
vp_ok "standalone: multi-queue tap on a netns bridge; CHECK; DEL"
