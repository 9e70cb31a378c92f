#!/usr/bin/env bash
# libcni_chain.sh - vnet-bridge chained with the reference portmap and tuning
# plugins (spec 1.0.0) through libcni: the portMappings capability DNATs a
# host port to the pod, tuning sets the pod's mtu and a sysctl; DEL undoes all.
source "$(dirname "$0")/lib.sh"
vp_init lc
vp_require_cnitool
vp_require_plugin "$VP_BRIDGE" "$VP_IPAM" portmap tuning
vp_require_cmd iptables-save

HOSTPORT=18080
IPAM_DIR="$VP_TMP/ipam"
CONF="$VP_TMP/net.conflist"
cat >"$CONF" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "vpt-lc",
  "plugins": [
    { "type": "$VP_BRIDGE", "bridge": "vpt-lc-br", "isGateway": true,
      "ipam": { "type": "$VP_IPAM", "dataDir": "$IPAM_DIR",
                "ranges": [[{ "subnet": "10.198.4.0/24" }]],
                "routes": [{ "dst": "0.0.0.0/0" }] } },
    { "type": "portmap", "capabilities": { "portMappings": true } },
    { "type": "tuning", "mtu": 1300, "sysctl": { "net.core.somaxconn": "321" } }
  ]
}
JSON
CAPS='{"portMappings":[{"hostPort":'$HOSTPORT',"containerPort":8080,"protocol":"tcp"}]}'

path=$(vp_netns a)
ns=$(vp_ns a)
r=$(vp_cnitool add "$CONF" "$path" vpt-lc-cid-a eth0 --capability-args "$CAPS") || vp_fail "ADD"
ip=$(vp_result_ip "$r")
gw=$(vp_result_gw "$r")
vp_assert_match "$ip" '^10\.198\.4\.[0-9]+$' "pod address"
vp_ok "ADD through bridge, portmap, tuning: pod at $ip"

vp_assert_eq "$(vp_link_attr "$ns" eth0 mtu)" 1300 "tuning: pod eth0 mtu"
vp_assert_eq "$(ip netns exec "$ns" cat /proc/sys/net/core/somaxconn)" 321 "tuning: net.core.somaxconn in the pod"
vp_ok "tuning: mtu 1300 and net.core.somaxconn=321 in the pod"

nat=$(iptables-save -t nat 2>/dev/null)
grep -q -- "--dport $HOSTPORT .*--to-destination $ip:8080" <<<"$nat" ||
	vp_fail "portmap: no DNAT of port $HOSTPORT to $ip:8080 in: $(grep -c . <<<"$nat") nat rules"
vp_ok "portmap: DNAT $HOSTPORT -> $ip:8080 installed"

# The mapping works end to end when a listener can be started in the pod.
if command -v python3 >/dev/null; then
	ip netns exec "$ns" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(1); s.settimeout(10)
c, _ = s.accept(); c.sendall(b"vplumb-pong\n"); c.close()' &
	srv=$!
	vp_on_exit "kill $srv"
	reply=""
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		reply=$(timeout 2 bash -c "exec 3<>/dev/tcp/$gw/$HOSTPORT && cat <&3" 2>/dev/null || true)
		[[ -z "$reply" ]] || break
		sleep 0.2
	done
	vp_assert_eq "$reply" vplumb-pong "reply through host port $HOSTPORT"
	wait "$srv" || true
	vp_ok "portmap: $gw:$HOSTPORT reaches the pod's listener"
fi

# No CHECK here: the reference portmap 1.1.1 fails CHECK on an IPv4-only
# result ("could not check ipv6 dnat"), whatever the main plugin.

vp_cnitool del "$CONF" "$path" vpt-lc-cid-a eth0 --capability-args "$CAPS" || vp_fail "DEL"
if grep -q -- "--to-destination $ip:" <<<"$(iptables-save -t nat 2>/dev/null)"; then
	vp_fail "portmap rules for $ip left after DEL"
fi
vp_assert_no_link "$ns" eth0
vp_assert_ipam_clean "$IPAM_DIR" vpt-lc-cid-a
vp_assert_nft_clean "$ip"
vp_ok "DEL: port mapping, veth and allocation gone"
