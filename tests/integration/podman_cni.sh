#!/usr/bin/env bash
# podman_cni.sh - real containers: podman (CNI backend, runc) on a conflist
# of vnet-bridge + vnet-ipam + the reference portmap (and tuning).  A
# container gets an address in the subnet; two containers ping each other
# and the gateway; a published port (-p 18470:8080) reaches a busybox httpd
# from the host; `podman rm -f` leaves no allocation, veth, nft chain,
# portmap DNAT or libcni result; `podman network ls` lists the network.
#
# podman is configured for this test only (CONTAINERS_CONF,
# CONTAINERS_STORAGE_CONF, --root/--runroot, file locks, tmp_dir, events
# and the network config dir all under $VP_TMP); the image is a busybox-static
# rootfs imported offline.  Skips (77) when podman or busybox-static is not
# installed or podman cannot run any container on this machine.
source "$(dirname "$0")/lib.sh"
vp_init pm
vp_require_cmd podman runc curl
vp_require_plugin "$VP_BRIDGE" "$VP_IPAM" portmap

NET=vpt-pm
SUBNET=10.198.70.0/24
GW=10.198.70.1
BR=vpt-pmbr0
IMAGE=localhost/vpt-busybox
CGPARENT=/vpt-pm-cg
HOSTPORT=18470  # not 18080: libcni_chain.sh maps that one
PM_ROOT="$VP_TMP/root"
PM_RUNROOT="$VP_TMP/runroot"
IPAM_DIR="$VP_TMP/ipam"
SANDBOXES="$VP_TMP/sandboxes"
BUSYBOX=""
for b in /bin/busybox /usr/bin/busybox; do
	[[ -x "$b" ]] && ! ldd "$b" >/dev/null 2>&1 && BUSYBOX="$b" && break
done
[[ -n "$BUSYBOX" ]] || vp_skip "no statically linked busybox (apt-get install busybox-static)"

export CONTAINERS_CONF="$VP_TMP/containers.conf" CONTAINERS_STORAGE_CONF="$VP_TMP/storage.conf"
PM=(podman --root "$PM_ROOT" --runroot "$PM_RUNROOT" --storage-driver vfs)
# Options of every container: our network, a cgroup parent we can remove.
RUNOPTS=(--network "$NET" --cgroup-parent "$CGPARENT")

# min_limit HARD CAP: CAP, or HARD when lower ("unlimited" is not).
min_limit() {
	if [[ "$1" != unlimited && "$1" -lt "$2" ]]; then echo "$1"; else echo "$2"; fi
}

# pm_umount_under DIR: unmount every mount below DIR, deepest first (shm of
# containers, netns bind mounts if a run died half-way).
pm_umount_under() {
	awk -v d="$1/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m"; done
}

# pm_cleanup: remove our containers (their CNI DEL runs), then whatever a
# crashed podman may have left: sandboxes, host veths on our bridge, mounts,
# libcni results, cgroups.  Only touches this test's store and names.
pm_cleanup() {
	local ns l d
	"${PM[@]}" rm -fa -t 0
	if [[ -f "$SANDBOXES" ]]; then
		while read -r ns; do [[ -e "$ns" ]] && ip netns del "$(basename "$ns")"; done <"$SANDBOXES"
	fi
	for l in $(ip -o link show master "$BR" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
		ip link del "$l"
	done
	pm_umount_under "$VP_TMP"
	rm -f /var/lib/cni/results/"$NET"-*
	for d in /sys/fs/cgroup/"$CGPARENT" /sys/fs/cgroup/*/"$CGPARENT"; do
		[[ -d "$d" ]] || continue
		find "$d" -depth -type d -exec rmdir {} \;
	done
}
vp_on_exit pm_cleanup

mkdir -p "$VP_TMP/net.d" "$VP_TMP/tmp" "$VP_TMP/rootfs/bin" "$VP_TMP/rootfs/www" "$IPAM_DIR"
cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "vfs"
graphroot = "$PM_ROOT"
runroot = "$PM_RUNROOT"
EOF
# The sandbox may lack CAP_SYS_RESOURCE: podman's default rlimits for root
# (nofile/nproc 1048576) cannot be set then, so ask for no more than we have.
cat >"$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=$(min_limit "$(ulimit -Hn)" 1024):$(min_limit "$(ulimit -Hn)" 1024)",
                   "nproc=$(min_limit "$(ulimit -Hu)" 4096):$(min_limit "$(ulimit -Hu)" 4096)"]

[network]
network_backend = "cni"
cni_plugin_dirs = ["$VP_BUILD/bin", "$VP_REF_CNI_DIR"]
network_config_dir = "$VP_TMP/net.d"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$VP_TMP/events.log"
lock_type = "file"
tmp_dir = "$VP_TMP/tmp"
image_copy_tmp_dir = "$VP_TMP/tmp"
EOF

tuning=""
vp_plugin_path tuning >/dev/null && tuning=', { "type": "tuning", "sysctl": { "net.ipv4.conf.eth0.rp_filter": "2" } }'
cat >"$VP_TMP/net.d/$NET.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "$NET",
  "plugins": [
    { "type": "$VP_BRIDGE", "bridge": "$BR", "isGateway": true, "ipMasq": true,
      "ipam": { "type": "$VP_IPAM", "dataDir": "$IPAM_DIR",
                "ranges": [[{ "subnet": "$SUBNET" }]],
                "routes": [{ "dst": "0.0.0.0/0" }] } },
    { "type": "portmap", "capabilities": { "portMappings": true } }$tuning
  ]
}
JSON

info=$("${PM[@]}" info --format json 2>&1) || vp_skip "podman info fails here: $(tail -3 <<<"$info")"
vp_assert_eq "$(jq -r .host.networkBackend <<<"$info")" cni "podman network backend"
vp_assert_eq "$(jq -r .store.graphRoot <<<"$info")" "$PM_ROOT" "podman graph root"
vp_assert_eq "$(jq -r .store.graphDriverName <<<"$info")" vfs "podman storage driver"
vp_assert_eq "$(jq -r .host.ociRuntime.name <<<"$info")" runc "podman OCI runtime"
vp_ok "podman $(jq -r .version.Version <<<"$info"): cni backend, runc, vfs store under $VP_TMP"

cp "$BUSYBOX" "$VP_TMP/rootfs/bin/busybox"
for a in sh ip ping sleep httpd nc cat true timeout; do ln -s busybox "$VP_TMP/rootfs/bin/$a"; done
echo vpt-pm-hello >"$VP_TMP/rootfs/www/index.html"
tar -C "$VP_TMP/rootfs" -cf "$VP_TMP/rootfs.tar" .
out=$("${PM[@]}" import "$VP_TMP/rootfs.tar" "$IMAGE" 2>&1) || vp_skip "podman cannot import an image here: $(tail -3 <<<"$out")"
out=$("${PM[@]}" run --rm --network none --cgroup-parent "$CGPARENT" "$IMAGE" true 2>&1) ||
	vp_skip "podman cannot run a container here (runtime, cgroup or storage trouble): $(tail -3 <<<"$out")"
vp_ok "busybox image imported; a container without network runs"

nets=$("${PM[@]}" network ls --format '{{.Name}} {{.Driver}}')
grep -qx "$NET $VP_BRIDGE" <<<"$nets" || vp_fail "podman network ls does not list '$NET $VP_BRIDGE': $nets"
vp_ok "podman network ls lists $NET ($VP_BRIDGE)"

# --- one short-lived container ----------------------------------------------
out=$("${PM[@]}" run --rm --cidfile "$VP_TMP/cid0" "${RUNOPTS[@]}" "$IMAGE" ip -4 addr show eth0) ||
	vp_fail "podman run on $NET failed"
vp_assert_match "$out" "inet 10\.198\.70\.[0-9]+/24 " "eth0 address of a --rm container"
cid0=$(cat "$VP_TMP/cid0")
vp_assert_ipam_clean "$IPAM_DIR" "$cid0"
vp_ok "--rm container got $(grep -o 'inet [0-9./]*' <<<"$out"); its allocation is gone after exit"

# --- two long-lived containers ----------------------------------------------
# pm_detached NAME CMD...: start a detached container, record its sandbox,
# print its ID.
pm_detached() {
	local name="$1" id
	shift
	id=$("${PM[@]}" run -d --name "$name" "${RUNOPTS[@]}" "$@") || vp_fail "podman run -d $name failed"
	"${PM[@]}" inspect -f '{{.NetworkSettings.SandboxKey}}' "$id" >>"$SANDBOXES"
	printf '%s\n' "$id"
}

# pm_ip NAME: the container's address on $NET.
pm_ip() { "${PM[@]}" inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$1"; }

veths0=$(ip -o link show master "$BR" 2>/dev/null | wc -l)
cida=$(pm_detached vpt-pm-a -p "$HOSTPORT:8080" "$IMAGE" timeout 120 httpd -f -p 8080 -h /www)
cidb=$(pm_detached vpt-pm-b "$IMAGE" sleep 120)
ipa=$(pm_ip vpt-pm-a)
ipb=$(pm_ip vpt-pm-b)
vp_assert_match "$ipa" '^10\.198\.70\.[0-9]+$' "container a address"
vp_assert_match "$ipb" '^10\.198\.70\.[0-9]+$' "container b address"
[[ "$ipa" != "$ipb" ]] || vp_fail "both containers got $ipa"
vp_assert_eq "$("${PM[@]}" inspect -f "{{(index .NetworkSettings.Networks \"$NET\").Gateway}}" vpt-pm-a)" "$GW" "gateway"
vp_assert_eq "$(ip -j addr show dev "$BR" | jq -r --arg gw "$GW" '[.[0].addr_info[] | select(.local == $gw)] | length')" 1 \
	"gateway $GW on bridge $BR"
vp_assert_eq "$(ip -o link show master "$BR" | wc -l)" "$((veths0 + 2))" "host veths on $BR"
vp_assert_ipam_holds "$IPAM_DIR" "$cida"
vp_assert_ipam_holds "$IPAM_DIR" "$cidb"
if [[ "$VP_REFERENCE" != 1 ]]; then
	vplumb=$(nft list table inet vplumb 2>/dev/null) || vp_fail "no nft table inet vplumb (ipMasq)"
	grep -Fq "\"$NET/$cida/eth0\"" <<<"$vplumb" || vp_fail "no masquerade chain for container a in inet vplumb"
	grep -Fq "\"$NET/$cidb/eth0\"" <<<"$vplumb" || vp_fail "no masquerade chain for container b in inet vplumb"
fi
vp_ok "containers a ($ipa) and b ($ipb) on $BR, allocations and masquerade chains recorded"

# pm_ping NAME ADDR: a ping from the container must be answered (one retry).
pm_ping() {
	"${PM[@]}" exec "$1" ping -c 1 -W 2 "$2" >/dev/null 2>&1 ||
		"${PM[@]}" exec "$1" ping -c 2 -W 2 "$2" >/dev/null ||
		vp_fail "ping from $1 to $2 failed"
}
pm_ping vpt-pm-a "$ipb"
pm_ping vpt-pm-b "$ipa"
pm_ping vpt-pm-a "$GW"
pm_ping vpt-pm-b "$GW"
vp_ok "containers ping each other and the gateway"
if [[ -n "$tuning" ]]; then
	vp_assert_eq "$("${PM[@]}" exec vpt-pm-a cat /proc/sys/net/ipv4/conf/eth0/rp_filter)" 2 "rp_filter set by tuning"
	vp_ok "tuning, chained after vnet-bridge, set eth0's rp_filter"
fi

# (busybox-static's wget segfaults in a bare rootfs; nc speaks HTTP/1.0.)
out=$("${PM[@]}" exec vpt-pm-b sh -c "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 $ipa 8080" 2>&1) ||
	vp_fail "HTTP from b to a's httpd: $out"
vp_assert_eq "$(tail -n 1 <<<"$out")" vpt-pm-hello "httpd answer inside the network"
grep -Fq "dnat to $ipa:8080" <<<"$(nft list ruleset 2>/dev/null)" || vp_fail "portmap: no DNAT to $ipa:8080"
out=$(curl -sS -m 5 "http://$GW:$HOSTPORT/") || vp_fail "curl to $GW:$HOSTPORT (port mapping) failed"
vp_assert_eq "$out" vpt-pm-hello "answer through -p $HOSTPORT:8080 at the gateway"
hostip=$(ip -4 -j addr show scope global | jq -r --arg br "$BR" \
	'[.[] | select(.ifname != $br and (.ifname | startswith("vpt-") | not)) | .addr_info[] | select(.family == "inet") | .local][0] // empty')
if [[ -n "$hostip" ]]; then
	out=$(curl -sS -m 5 "http://$hostip:$HOSTPORT/") || vp_fail "curl to host address $hostip:$HOSTPORT failed"
	vp_assert_eq "$out" vpt-pm-hello "answer through -p $HOSTPORT:8080 at $hostip"
fi
vp_ok "port mapping $HOSTPORT -> $ipa:8080 answers from the host (gateway${hostip:+ and $hostip})"

sba=$("${PM[@]}" inspect -f '{{.NetworkSettings.SandboxKey}}' vpt-pm-a)
"${PM[@]}" rm -f -t 0 vpt-pm-a vpt-pm-b >/dev/null || vp_fail "podman rm -f"
vp_assert_eq "$("${PM[@]}" ps -aq | wc -l)" 0 "containers left"
vp_assert_ipam_clean "$IPAM_DIR" "$cida" "$cidb"
vp_assert_eq "$(ip -o link show master "$BR" | wc -l)" "$veths0" "host veths on $BR after rm"
[[ ! -e "$sba" ]] || vp_fail "sandbox $sba of container a still present"
vplumb=$(nft list table inet vplumb 2>/dev/null || true)
! grep -Fq -e "$cida" -e "$cidb" <<<"$vplumb" || vp_fail "inet vplumb still has a chain of a or b: $vplumb"
vp_assert_nft_clean "$ipa" "$ipb" "$cida" "$cidb"
compgen -G "/var/lib/cni/results/$NET-*" >/dev/null && vp_fail "libcni results left: $(ls /var/lib/cni/results/"$NET"-*)"
vp_ok "podman rm -f: no allocation, veth, sandbox, nft chain, DNAT or libcni result left"
