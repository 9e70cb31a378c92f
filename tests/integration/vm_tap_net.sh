#!/usr/bin/env bash
# vm_tap_net.sh - a QEMU guest on a pod network through vnet-tap.  Pod A is a
# netns on a vnet-bridge network; pod B is on the same network with the chain
# vnet-bridge then vnet-tap (tap0 with the veth's MAC, tc redirect both
# ways).  QEMU runs inside pod B's netns on tap0 with the veth's MAC; the
# guest takes pod B's IP and pings pod A and the gateway, then pod A pings
# the guest and sends it a line over TCP.  DEL of both pods leaves no tap,
# veth, nft rule or IPAM reservation behind.
source "$(dirname "$0")/lib.sh"
source "$VP_SOURCE/tests/vm/kit.sh"
vp_init vmt
vp_require_plugin "$VP_BRIDGE" "$VP_IPAM" "$VP_TAP"
vm_require
vm_kernel

BR=vpt-vmt-br
IPAM_DIR="$VP_TMP/ipam"
BRCONF=$(cat <<JSON
{ "cniVersion": "1.1.0", "name": "vpt-vmt", "type": "$VP_BRIDGE", "bridge": "$BR",
  "isGateway": true,
  "ipam": { "type": "$VP_IPAM", "dataDir": "$IPAM_DIR", "ranges": [[{ "subnet": "10.198.60.0/24" }]] } }
JSON
)
TAPCONF="{ \"cniVersion\": \"1.1.0\", \"name\": \"vpt-vmt\", \"type\": \"$VP_TAP\", \"tapName\": \"tap0\" }"
with_prev() { jq -c --argjson r "$2" '. + {prevResult: $r}' <<<"$1"; }

pa=$(vp_netns a)
pb=$(vp_netns b)
nsa=$(vp_ns a)
nsb=$(vp_ns b)
vp_on_exit "ip link del $BR"
vp_on_exit 'vp_run_cni "$VP_BRIDGE" DEL vpt-vmt-a "$pa" eth0 "$BRCONF"'
vp_on_exit 'vp_run_cni "$VP_BRIDGE" DEL vpt-vmt-b "$pb" eth0 "$BRCONF"'
vp_on_exit 'vp_run_cni "$VP_TAP" DEL vpt-vmt-b "$pb" eth0 "$TAPCONF"'
ra=$(vp_run_cni "$VP_BRIDGE" ADD vpt-vmt-a "$pa" eth0 "$BRCONF") || vp_fail "pod A bridge ADD: $ra"
rb=$(vp_run_cni "$VP_BRIDGE" ADD vpt-vmt-b "$pb" eth0 "$BRCONF") || vp_fail "pod B bridge ADD: $rb"
rt=$(vp_run_cni "$VP_TAP" ADD vpt-vmt-b "$pb" eth0 "$(with_prev "$TAPCONF" "$rb")") || vp_fail "pod B tap ADD: $rt"
vp_assert_link "$nsb" tap0

ipa=$(vp_result_ip "$ra")
ipb=$(jq -r '.ips[0].address' <<<"$rt")
gw=$(vp_result_gw "$rt")
mac=$(jq -r --arg p "$pb" '.interfaces[] | select(.sandbox == $p and .name == "eth0") | .mac' <<<"$rt")
vp_assert_match "$mac" '^([0-9a-f]{2}:){5}[0-9a-f]{2}$' "pod B's veth MAC in the result"
vp_assert_match "$ipb" '^10\.198\.60\.[0-9]+/24$' "pod B's address"
vp_assert_eq "$(vp_link_attr "$nsb" tap0 address)" "$mac" "tap MAC = veth MAC"
hosts=$({ vp_result_host_ifaces "$ra"; vp_result_host_ifaces "$rt"; } | grep -vx "$BR" || true)
[[ -n "$hosts" ]] || vp_fail "no host-side veths in the results"
vp_log "pod A $ipa, pod B / guest $ipb mac $mac, gateway $gw"

# The guest: pod B's address on its NIC, pings out, then listens (at most
# 30 s) for pod A's line over TCP.
cat >"$VP_TMP/guest.sh" <<EOF
ip link set eth0 up
ip addr add $ipb dev eth0
ip route add default via $gw
vm_say mac "\$(cat /sys/class/net/eth0/address)"
# ping DEST: up to 3 tries (the first may wait for ARP); 0 once one answers.
ping1() { for i in 1 2 3; do ping -c 1 -W 3 "\$1" >/dev/null && return 0; done; return 1; }
ping1 $ipa; vm_say ping-a \$?
ping1 $gw; vm_say ping-gw \$?
timeout 30 nc -l -p 7070 >/tmp/line &
vm_say ready 1
wait \$!
vm_say line "\$(cat /tmp/line)"
EOF
vm_initramfs "$VP_TMP/guest.sh" "$VP_TMP/initrd.gz"
t0=$SECONDS
con="$VP_TMP/console"
vm_start --netns "$nsb" "$con" 90 -initrd "$VP_TMP/initrd.gz" \
	-netdev tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off \
	-device "virtio-net-pci,netdev=n0,mac=$mac"
if ! vm_wait_result "$con" ready 60; then
	vm_dump "$con"
	vp_fail "guest never reported ready"
fi
vp_log "vm: guest ready $((SECONDS - t0)) s after start (booted at $(vm_result "$con" booted) s guest time)"
vm_assert_result "$con" mac "$mac"
vm_assert_result "$con" ping-a 0
vm_assert_result "$con" ping-gw 0
vp_ok "guest on tap0 with pod B's MAC and IP pings pod A and the gateway"

vp_assert_ping "$nsa" "${ipb%/*}"
# The guest's nc may not listen yet: retry for up to 10 s.
for i in $(seq 20); do
	ip netns exec "$nsa" bash -c "echo hello-from-a >/dev/tcp/${ipb%/*}/7070" 2>/dev/null && break
	((i < 20)) || vp_fail "pod A cannot connect to the guest over TCP"
	sleep 0.5
done
vm_wait || {
	vm_dump "$con"
	vp_fail "guest did not power off"
}
vm_assert_result "$con" line hello-from-a
vm_assert_result "$con" exit 0
vp_ok "pod A pings the guest and reaches it over TCP ($((SECONDS - t0)) s with QEMU)"

out=$(vp_run_cni "$VP_TAP" DEL vpt-vmt-b "$pb" eth0 "$(with_prev "$TAPCONF" "$rt")") || vp_fail "pod B tap DEL: $out"
out=$(vp_run_cni "$VP_BRIDGE" DEL vpt-vmt-b "$pb" eth0 "$BRCONF") || vp_fail "pod B bridge DEL: $out"
out=$(vp_run_cni "$VP_BRIDGE" DEL vpt-vmt-a "$pa" eth0 "$BRCONF") || vp_fail "pod A bridge DEL: $out"
vp_assert_no_link "$nsb" tap0
vp_assert_no_link "$nsb" eth0
vp_assert_no_link "$nsa" eth0
for h in $hosts; do
	vp_assert_no_link "" "$h"
done
vp_assert_eq "$(vp_veth_count)" 0 "host veths into this test's netns"
left=$(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^vpt-vmt' | grep -vx "$BR" || true)
vp_assert_eq "$left" "" "vpt-vmt links other than the bridge (CNI DEL keeps bridges)"
vp_assert_nft_clean "${ipa}" "${ipb%/*}" "$mac" $hosts
vp_assert_ipam_clean "$IPAM_DIR" vpt-vmt-a vpt-vmt-b
vp_ok "DEL of both pods leaves no tap, veth, nft rule or reservation"
