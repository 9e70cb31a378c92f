#!/usr/bin/env bash
# demo/run.sh - vplumb's promise in one run: a container and a VM on one
# bridge network, sharing one volume, from the same code.
#
#   network: two pods on a vnet-bridge network (vnet-ipam, isGateway,
#     ipMasq), added through libcni (vp-cnitool): "ctr", a container (its own
#     network and mount namespaces, a busybox httpd; the kubelet directory
#     reaches it as a mount slave, HostToContainer), and "vm", whose veth
#     vnet-tap (chained after vnet-bridge) redirects to tap0, the NIC of a
#     QEMU guest (KVM where a probe guest boots with it, else TCG: KVM hangs
#     on the CI machines) booted with the VM kit
#     (tests/vm/kit.sh: Debian cloud kernel, busybox initramfs).
#   storage: one volume of vblk-csi (controller + node, its pool served by
#     vblkd), driven as a CO would by demo/csi_client.py: CreateVolume
#     (vmDisk=true); NodeStage + NodePublish with the mount access type (a
#     loop device, ext4 made by the driver), bound at /mnt in the container
#     as a runtime would; the container writes a file; NodeUnpublish +
#     NodeUnstage; then NodeStage + NodePublish of the same volume as a
#     block vmDisk: vblkd exports it as vhost-user-blk and the socket is
#     published at the VM's target path, which QEMU opens; the guest mounts
#     the disk and reads the file back; NodeUnpublish, NodeUnstage,
#     DeleteVolume.
#   checks: each printed as ✓ or ✗ with its timing; a summary at the end.
#   teardown: everything the demo made (all named vpd-...) is removed, on
#     failure and interruption too, and the demo checks nothing is left.
#
# usage: demo/run.sh [BUILD_DIR]      (default: build; run as root)
#        demo/run.sh --installed      (the installed package's binaries: the
#          plugins in /opt/cni/bin, vblkd, vblkctl and vblk-csi in /usr/bin;
#          run directly, as vp-cnitool is a test tool and not installed; the
#          CSI client and its stubs come from this source tree)
# Exit status: 0 every check passed, 1 a check failed, 77 this host lacks
# something the demo needs (the message says what).  Environment: VM_CACHE
# (guest kernel cache, default BUILD_DIR/vm-cache, with --installed .vm-cache in
# the source tree; `make demo` uses .vm-cache),
# VPD_ACCEL (kvm or tcg: skip the KVM probe), VM_MEM (guest MiB, default 256).
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
if [[ ${1:-} == --installed ]]; then
	BIN=/usr/bin                 # vblkd, vblkctl, vblk-csi
	CNI_BIN=/opt/cni/bin         # the plugins
	CNITOOL=""
	VM_CACHE="${VM_CACHE:-$SRC/.vm-cache}"
	BUILD=""
	MISSING="not installed: install the package (docs/packaging.md)"
else
	BUILD="$(cd "${1:-$SRC/build}" && pwd)"
	BIN="$BUILD/bin"
	CNI_BIN=$BIN
	CNITOOL="$BUILD/tests/vp-cnitool"
	MISSING="not built: run 'make demo' or cmake --build $BUILD"
fi
CNI_PATH="$CNI_BIN:/usr/lib/cni"
P=vpd-                       # every object the demo makes starts with this
NET=vpd-net
BR=${P}br0
SUBNET=10.198.100.0/24
VOL_MIB=64
PORT=8080
T_START=$(date +%s%N)

now_ms() { echo $(($(date +%s%N) / 1000000)); }
since() { echo "$(($(now_ms) - $1)) ms"; }
FAILED=0
CHECKS=0
ok() { CHECKS=$((CHECKS + 1)); printf '✓ %s\n' "$*"; }
bad() { CHECKS=$((CHECKS + 1)); FAILED=$((FAILED + 1)); printf '✗ %s\n' "$*"; }
# check MSG CMD...: ✓ MSG when CMD succeeds, else ✗ MSG (the run goes on).
check() {
	local msg=$1
	shift
	if "$@"; then ok "$msg"; else bad "$msg"; fi
}
die() { printf '✗ %s\n' "$*" >&2; exit 1; }
skip() { printf 'demo cannot run here: %s\n' "$*" >&2; exit 77; }

[[ $EUID -eq 0 ]] || skip "run as root (network namespaces, links, loop devices)"
for b in "$CNI_BIN"/vnet-{bridge,ipam,tap} "$BIN"/vblk{d,ctl,-csi}; do
	[[ -x $b ]] || skip "$b $MISSING"
done
PY=/usr/bin/python3          # the CSI client's: python3-grpcio, python3-grpc-tools
"$PY" -c 'import grpc, grpc_tools' 2>/dev/null || skip "python3-grpcio or python3-grpc-tools not installed (.ci/install-deps)"
for c in flock ip jq tc ping ss nft losetup mkfs.ext4 mount umount mountpoint findmnt nsenter unshare md5sum; do
	command -v "$c" >/dev/null || skip "'$c' not installed (.ci/install-deps)"
done

# One demo at a time (its names are fixed): a lock on this script itself.
exec {lock}<"$0"
flock -n "$lock" || die "another demo/run.sh is running"
NETNS_MOUNTED=""
if mountpoint -q /run/netns; then NETNS_MOUNTED=yes; fi
# A run killed hard (SIGKILL) may have left its namespaces and bridge.
for ns in $(ip netns list | awk '{print $1}' | grep "^$P" || true); do ip netns del "$ns"; done
ip link del "$BR" 2>/dev/null || true
TMP="$(mktemp -d /tmp/${P}XXXXXX)"
PODS=()       # pods whose netns exists
ADDED=()      # pods whose CNI ADD succeeded, to DEL
declare -A LIST  # each pod's conflist
DEL_FAILED=() # pods whose CNI DEL failed
CTR_PID=""    # the container's process (httpd)
VBLKD_PID=""
CSI_PID=""
SUMMARY=""    # set once the final line is printed
DAEMONS=()    # every background process, killed at teardown
RECORDED=()   # their pids, as written to $PIDFILE

# --- the VM kit (tests/vm/kit.sh) expects lib.sh's helpers: the demo's own ---
# shellcheck disable=SC2034 # read by kit.sh
VP_TMP=$TMP VP_BUILD=$BUILD
vp_log() { printf '%s\n' "$*" >>"$TMP/demo.log"; }
vp_skip() { skip "$*"; }
vp_fail() { die "$*"; }
vp_require_cmd() {
	local c
	for c in "$@"; do command -v "$c" >/dev/null || skip "'$c' not installed (.ci/install-deps)"; done
}
# record PID CMD: stop PID at teardown; note it in /tmp/vpd-daemons.pids for
# .ci/run's sweep, should the demo be killed before its teardown.
PIDFILE=/tmp/vpd-daemons.pids
record() {
	DAEMONS+=("$1")
	RECORDED+=("$1")
	printf '%s %s\n' "$1" "$2" >>"$PIDFILE"
}
# unrecord: drop this run's lines from the pid file (its own, when empty).
unrecord() {
	[[ -f $PIDFILE ]] || return 0
	awk -v pids=" ${RECORDED[*]} " 'index(pids, " " $1 " ") == 0' "$PIDFILE" >"$PIDFILE.$$"
	if [[ -s $PIDFILE.$$ ]]; then mv "$PIDFILE.$$" "$PIDFILE"; else rm -f "$PIDFILE" "$PIDFILE.$$"; fi
}
# vp_start_daemon LOG CMD...: run CMD in the background (sets VP_PID).
vp_start_daemon() {
	local log=$1
	shift
	"$@" >"$log" 2>&1 &
	VP_PID=$!
	record "$VP_PID" "$1"
}
# shellcheck source=tests/vm/kit.sh
source "$SRC/tests/vm/kit.sh"

# stop PID [SECONDS]: SIGTERM, then SIGKILL after SECONDS (default 5); its status.
stop() {
	local i rc=0
	kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null || rc=$?; return "$rc"; }
	kill -TERM "$1" 2>/dev/null
	for ((i = 0; i < ${2:-5} * 10; i++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null || rc=$?
	return "$rc"
}

# release_volume: what a run stopped between its CSI calls left: the
# mounts under $TMP (the driver's staging and target mounts, the kubelet
# directory's own) and loop devices over its pool's images.
release_volume() {
	local m dev
	for m in $(awk -v t="$TMP/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
		umount "$m"
	done
	for dev in $(losetup -n -O NAME,BACK-FILE -l | awk -v t="$TMP/" 'index($2, t) == 1 {print $1}'); do
		losetup -d "$dev"
	done
}

# teardown: undo everything, newest first; safe to run twice.
teardown() {
	local pod i
	set +e
	for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
		case ${DAEMONS[i]} in
		"$VBLKD_PID") ;;
		"$CSI_PID") stop "$CSI_PID"; CSI_RC=$? ;;
		*) stop "${DAEMONS[i]}" 2>/dev/null ;;
		esac
	done
	release_volume
	if [[ -n "$VBLKD_PID" ]]; then
		stop "$VBLKD_PID"
		VBLKD_RC=$?
	fi
	DAEMONS=()
	VBLKD_PID=""
	CSI_PID=""
	CTR_PID=""
	for ((i = ${#ADDED[@]} - 1; i >= 0; i--)); do
		cni del "${ADDED[i]}" "${LIST[${ADDED[i]}]}" >>"$TMP/del.log" 2>&1 || DEL_FAILED+=("${ADDED[i]}")
	done
	ADDED=()
	for pod in "${PODS[@]}"; do ip netns del "$P$pod" 2>/dev/null; done
	PODS=()
	ip link del "$BR" 2>/dev/null
	# `ip netns add` bind-mounts /run/netns on its first use: undo that too.
	if [[ -z $NETNS_MOUNTED ]] && mountpoint -q /run/netns && [[ -z $(ip netns list) ]]; then
		umount /run/netns 2>/dev/null
	fi
	unrecord
	set -e
}
cleanup() {
	local rc=$?
	trap - EXIT
	teardown
	rm -rf "$TMP"
	if ((rc != 0)) && [[ -z $SUMMARY ]]; then echo "demo FAILED (exit status $rc); what it made is removed"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
vm_require

# --- network: conflists, libcni ------------------------------------------------
bridge_json() {
	cat <<JSON
{ "type": "vnet-bridge", "bridge": "$BR", "isGateway": true, "ipMasq": true,
  "ipam": { "type": "vnet-ipam", "dataDir": "$TMP/ipam", "ranges": [[{ "subnet": "$SUBNET" }]],
            "routes": [{ "dst": "0.0.0.0/0" }] } }
JSON
}
printf '{"cniVersion":"1.0.0","name":"%s","plugins":[%s]}\n' "$NET" "$(bridge_json)" >"$TMP/pod.conflist"
printf '{"cniVersion":"1.0.0","name":"%s","plugins":[%s,{"type":"vnet-tap","tapName":"tap0","vnetHdr":true}]}\n' \
	"$NET" "$(bridge_json)" >"$TMP/vm.conflist"

# direct CMD CONFLIST NETNS CID: run the conflist's plugins by hand, as libcni
# would (prevResult chained on ADD, reverse order with the last result on DEL).
direct() {
	local cmd=$1 list=$2 netns=$3 cid=$4 n i order conf prev=null out
	n=$(jq '.plugins | length' "$list")
	order=$(seq 0 $((n - 1)))
	if [[ $cmd == DEL ]]; then
		order=$(seq $((n - 1)) -1 0)
		prev=$(cat "$TMP/$cid.result")
	fi
	for i in $order; do
		conf=$(jq -c --argjson i "$i" --argjson prev "$prev" \
			'.plugins[$i] + {name, cniVersion} + (if $prev == null then {} else {prevResult: $prev} end)' "$list")
		out=$(printf '%s' "$conf" | env CNI_COMMAND="$cmd" CNI_CONTAINERID="$cid" CNI_NETNS="$netns" \
			CNI_IFNAME=eth0 CNI_PATH="$CNI_PATH" "$CNI_BIN/$(jq -r .type <<<"$conf")") || { echo "$out" >&2; return 1; }
		[[ $cmd == ADD ]] && prev=$out
	done
	if [[ $cmd == ADD ]]; then echo "$prev" | tee "$TMP/$cid.result"; fi
}

# cni add|del POD CONFLIST: ADD prints the result JSON.
cni() {
	local netns=/run/netns/$P$2 cid=${P}cid-$2
	if [[ -n $CNITOOL && -x $CNITOOL ]]; then
		"$CNITOOL" "$1" "$3" "$netns" "$cid" eth0 --cni-path "$CNI_PATH" --cache-dir "$TMP/cache"
	else
		direct "${1^^}" "$3" "$netns" "$cid"
	fi
}

if [[ -z $CNITOOL ]]; then VIA="direct exec (--installed: no vp-cnitool)"
elif [[ -x $CNITOOL ]]; then VIA="libcni (vp-cnitool)"; else VIA="direct exec (vp-cnitool not built)"; fi
echo "vplumb demo: a container and a VM on one bridge network, sharing one volume"
echo "  plugins from $CNI_BIN via $VIA, vblkd, vblkctl and vblk-csi from $BIN; storage through vblk-csi (demo/csi_client.py)"

declare -A IP MAC
# add_pod POD CONFLIST: netns vpd-POD, CNI ADD; sets IP[POD], MAC[POD], GW.
add_pod() {
	local t0 r
	ip netns add "$P$1" && PODS+=("$1")
	ip -n "$P$1" link set lo up
	t0=$(now_ms)
	r=$(cni add "$1" "$2") || die "CNI ADD of pod $1 failed"
	ADDED+=("$1")
	LIST[$1]=$2
	IP[$1]=$(jq -r '.ips[0].address' <<<"$r")
	MAC[$1]=$(jq -r --arg p "/run/netns/$P$1" '.interfaces[] | select(.sandbox == $p and .name == "eth0") | .mac' <<<"$r")
	GW=$(jq -r '.ips[0].gateway' <<<"$r")
	ADD_MS=$(since "$t0")
}
ip4() { echo "${1%/*}"; }

add_pod ctr "$TMP/pod.conflist"
CTR_ADD_MS=$ADD_MS
ok "container pod ${P}ctr: eth0 ${IP[ctr]} via $GW on $BR (vnet-bridge + vnet-ipam, $ADD_MS)"
add_pod vm "$TMP/vm.conflist"
VM_ADD_MS=$ADD_MS
tap=$(ip -n "${P}vm" -d link show tap0 | awk '/tun type/ {print $2, $3, $6, $7}')
ok "VM pod ${P}vm: eth0 ${IP[vm]}, tap0 ($tap) with eth0's MAC ${MAC[vm]}, tc redirect both ways (+ vnet-tap, $ADD_MS)"

# The kubelet directory of the CSI calls: its own shared mount, as kubelet
# makes /var/lib/kubelet, so what the driver mounts there reaches the
# container (below) even on a host whose / is private.
KUBELET="$TMP/kubelet"
mkdir -p "$KUBELET"
{ mount --bind "$KUBELET" "$KUBELET" && mount --make-shared "$KUBELET"; } || die "cannot make $KUBELET a shared mount"

# The container: its own mount namespace in the pod's netns, serving a small
# page with busybox httpd.  Its mounts are slaves of the host's (the
# HostToContainer propagation of a Kubernetes volume mount): a publish
# under the kubelet directory reaches it, nothing it mounts reaches the
# host.  `ip netns exec` and `unshare` exec in place, so $! is the httpd.
mkdir -p "$TMP/www"
echo "hello from the vplumb demo container $(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$TMP/www/index.html"
ip netns exec "${P}ctr" unshare --mount --propagation slave -- \
	"$VM_BUSYBOX" httpd -f -p "$PORT" -h "$TMP/www" >"$TMP/ctr.log" 2>&1 &
CTR_PID=$!
record "$CTR_PID" "$VM_BUSYBOX httpd"
in_ctr() { nsenter -t "$CTR_PID" -m -n -- "$@"; }
# Up once the process is busybox (past both execs) and listening.
ctr_up() {
	[[ $(readlink "/proc/$CTR_PID/ns/mnt") != "$(readlink /proc/self/ns/mnt)" ]] &&
		[[ $(readlink "/proc/$CTR_PID/exe" 2>/dev/null) == "$(readlink -f "$VM_BUSYBOX")" ]] &&
		ip netns exec "${P}ctr" ss -Hltn "sport = :$PORT" | grep -q .
}
for ((i = 0; i < 50; i++)); do ctr_up && break; sleep 0.1; done
ctr_up || die "the container's httpd did not start: $(cat "$TMP/ctr.log")"
ok "container: pid $CTR_PID, own mount namespace, httpd on $(ip4 "${IP[ctr]}"):$PORT"

# --- storage: one volume of vblk-csi, container then VM -------------------------
# vblkd serves the driver's pool (its images); vblk-csi runs its controller
# and node services on one socket, and asks vblkd to serve vmDisk volumes.
POOL="$TMP/pool"
CTL="$TMP/vblkd.control.sock"
CSI_SOCK="$TMP/csi.sock"
mkdir -p "$POOL/volumes" "$TMP/stubs"
vp_start_daemon "$TMP/vblkd.log" "$BIN/vblkd" --control "$CTL" --image-root "$POOL/volumes"
VBLKD_PID=$VP_PID
for ((i = 0; i < 100; i++)); do [[ -S $CTL ]] && break; sleep 0.05; done
[[ -S $CTL ]] || die "vblkd did not create its control socket: $(tail -5 "$TMP/vblkd.log")"
ctl() { "$BIN/vblkctl" --control "$CTL" "$@"; }
vp_start_daemon "$TMP/csi.log" "$BIN/vblk-csi" --endpoint "unix://$CSI_SOCK" --node-id "${P}node" \
	--pool "$POOL" --kubelet-dir "$KUBELET" --vblkd-control "$CTL"
CSI_PID=$VP_PID
# csi CALL ARGS...: one CSI call (demo/csi_client.py; -B: no __pycache__ in the
# source tree); csi_error: the gRPC status of the last failed one.
csi() { "$PY" -B "$SRC/demo/csi_client.py" "$SRC" "$CSI_SOCK" "$TMP/stubs" "$@" 2>>"$TMP/csi-client.log"; }
csi_error() { tail -1 "$TMP/csi-client.log"; }
csi probe 10 || die "vblk-csi did not answer Probe ready: $(csi_error); $(tail -3 "$TMP/csi.log")"

t0=$(now_ms)
VOL=$(csi create vpd-vol "$VOL_MIB" fsType=ext4 vmDisk=true) || die "CreateVolume failed: $(csi_error)"
IMG="$POOL/volumes/$VOL.img"
ok "volume: vblk-csi (pid $CSI_PID, controller + node; vblkd pid $VBLKD_PID serves its pool) CreateVolume vpd-vol: $VOL, $VOL_MIB MiB, fsType=ext4 vmDisk=true ($(since "$t0"))"

# Stage and publish for the container, with the paths kubelet would use;
# then the container binds the target at /mnt, as its runtime would.
CTR_STAGING="$KUBELET/plugins/kubernetes.io/csi/vblk.vplumb.dev/$VOL/globalmount"
CTR_TARGET="$KUBELET/pods/${P}ctr/volumes/kubernetes.io~csi/vpd-vol/mount"
mkdir -p "$CTR_STAGING" "$(dirname "$CTR_TARGET")"
t0=$(now_ms)
csi stage "$VOL" "$CTR_STAGING" mount || die "NodeStageVolume (mount) failed: $(csi_error)"
csi publish "$VOL" "$CTR_STAGING" "$CTR_TARGET" mount || die "NodePublishVolume (mount) failed: $(csi_error)"
LOOP=$(findmnt -n -o SOURCE --mountpoint "$CTR_STAGING") || die "nothing mounted at the staging path"
in_ctr mount --bind "$CTR_TARGET" /mnt || die "the container could not bind $CTR_TARGET at /mnt"
# ext4 made by the driver, at the container's /mnt; not at the host's.
published_to_ctr() {
	grep -q "csi.node.mkfs.*volume=$VOL" "$TMP/csi.log" &&
		[[ $(in_ctr findmnt -n -o SOURCE,FSTYPE --mountpoint /mnt) == "$LOOP ext4" ]] &&
		[[ $(findmnt -n -o SOURCE --mountpoint "$CTR_TARGET") == "$LOOP" ]] &&
		! findmnt -n --mountpoint /mnt -S "$LOOP" >/dev/null
}
check "volume published to the container: NodeStage (mount: $LOOP, ext4 made by vblk-csi) + NodePublish at pods/${P}ctr/…/mount, bound at /mnt in its mount namespace only ($(since "$t0"))" \
	published_to_ctr

# The container writes a file onto its volume.
NOTE="written by the container (pid $CTR_PID) at $(date -u +%H:%M:%S.%N), token $(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
in_ctr sh -c 'printf "%s\n" "$1" >/mnt/hello.txt && sync /mnt/hello.txt' sh "$NOTE" || die "the container could not write /mnt/hello.txt"
NOTE_MD5=$(in_ctr md5sum /mnt/hello.txt | cut -d' ' -f1)
ok "container wrote /mnt/hello.txt on the volume (md5 $NOTE_MD5)"

# The container is done with it: its bind goes, then unpublish and unstage.
t0=$(now_ms)
in_ctr umount /mnt || die "umount /mnt in the container failed"
csi unpublish "$VOL" "$CTR_TARGET" || die "NodeUnpublishVolume failed: $(csi_error)"
csi unstage "$VOL" "$CTR_STAGING" || die "NodeUnstageVolume failed: $(csi_error)"
# mounts_of DIR: what is mounted at or below DIR (a mountinfo on stdin).
mounts_of() { awk -v d="$1" '$5 == d || index($5, d "/") == 1 {print $5}'; }
released() {
	[[ -z $(losetup -n -j "$IMG") ]] && [[ -z $(mounts_of "$KUBELET/plugins" </proc/self/mountinfo) ]] &&
		[[ -z $(mounts_of "$KUBELET/pods" </proc/self/mountinfo) ]] &&
		[[ -z $(in_ctr cat /proc/self/mountinfo | mounts_of "$KUBELET/pods") ]] &&
		! in_ctr findmnt -n -S "$LOOP" >/dev/null
}
check "volume unpublished: /mnt unmounted in the container, NodeUnpublish + NodeUnstage: no mount left (host or container), $LOOP detached ($(since "$t0"))" \
	released

# Hand the same volume to the VM: staged and published as a block vmDisk,
# vblkd serves it over vhost-user-blk and the socket is at the VM's target.
VM_STAGING="$KUBELET/plugins/kubernetes.io/csi/volumeDevices/staging/$VOL"
VM_TARGET="$KUBELET/pods/${P}vm/volumeDevices/kubernetes.io~csi/vpd-vol"
mkdir -p "$VM_STAGING" "$(dirname "$VM_TARGET")"
t0=$(now_ms)
csi stage "$VOL" "$VM_STAGING" block || die "NodeStageVolume (block, vmDisk) failed: $(csi_error)"
csi publish "$VOL" "$VM_STAGING" "$VM_TARGET" block || die "NodePublishVolume (block, vmDisk) failed: $(csi_error)"
served_to_vm() {
	[[ -S $VM_TARGET ]] && [[ $(findmnt -n -o TARGET --mountpoint "$VM_TARGET") == "$VM_TARGET" ]] &&
		ctl --json export list | jq -e --arg v "$VOL" '.exports | map(.name) | index($v) != null' >/dev/null
}
check "volume handed to the VM: NodeStage (block, vmDisk: vblkd exports $VOL over vhost-user-blk) + NodePublish: the socket at pods/${P}vm/…/vpd-vol ($(since "$t0"))" \
	served_to_vm

# --- the VM ----------------------------------------------------------------------
cache="${VM_CACHE:-$BUILD/vm-cache}"
t0=$(now_ms)
had_kernel=$(find "$cache" -maxdepth 2 -name .ready 2>/dev/null | head -1 || true)
vm_kernel
if [[ -n $had_kernel ]]; then kwhere="cached in $cache"; else kwhere="fetched once into $cache"; fi

# pick_accel: KVM where it works, else TCG; sets ACCEL and ACCEL_WHY.  A
# probe guest must reach its script under KVM within KVM_PROBE_S seconds (KVM
# hangs at boot on the CI machines); the verdict is kept in the VM cache per
# host kernel, so only a first run pays for the probe.  VPD_ACCEL=kvm|tcg
# skips it.
KVM_PROBE_S=10
pick_accel() {
	local verdict
	verdict="$cache/kvm-verdict-$(uname -r)"
	if [[ -n ${VPD_ACCEL:-} ]]; then
		ACCEL=$VPD_ACCEL ACCEL_WHY="VPD_ACCEL=$VPD_ACCEL"
	elif [[ ! -r /dev/kvm || ! -w /dev/kvm ]]; then
		ACCEL=tcg ACCEL_WHY="no usable /dev/kvm"
	elif [[ -f $verdict ]]; then
		ACCEL=$(cat "$verdict") ACCEL_WHY="KVM probe result cached in $verdict"
	else
		echo 'vm_say probe ok' >"$TMP/probe.sh"
		vm_initramfs "$TMP/probe.sh" "$TMP/probe.gz"
		VM_ACCEL=kvm vm_start "$TMP/probe.console" "$KVM_PROBE_S" -initrd "$TMP/probe.gz"
		vm_wait || true
		if [[ $(vm_result "$TMP/probe.console" probe) == ok ]]; then
			ACCEL=kvm ACCEL_WHY="a KVM probe guest booted"
		else
			ACCEL=tcg ACCEL_WHY="a KVM probe guest did not boot in $KVM_PROBE_S s; verdict cached in $verdict"
		fi
		echo "$ACCEL" >"$verdict.$$" && mv "$verdict.$$" "$verdict"
	fi
	[[ $ACCEL == kvm || $ACCEL == tcg ]] || die "accelerator '$ACCEL': want kvm or tcg"
}
pick_accel

ipvm=${IP[vm]}
ipctr=$(ip4 "${IP[ctr]}")
cat >"$TMP/guest.sh" <<EOF
# The VM: its disk is the volume; mount it and read the container's file.
vm_say disk "\$(cat /sys/block/vda/size)"
mkdir -p /vol
mount -t ext4 /dev/vda /vol; vm_say mount \$?
vm_say file-md5 "\$(md5sum </vol/hello.txt | cut -d' ' -f1)"
vm_say file "\$(cat /vol/hello.txt)"
umount /vol; vm_say umount \$?

# Its NIC: the VM pod's address and MAC, on the bridge network.
ip link set lo up
ip link set eth0 up
ip addr add $ipvm dev eth0
ip route add default via $GW
# ping1 DEST: up to 3 tries (the first may wait for ARP); 0 once one answers.
ping1() { for i in 1 2 3; do ping -c 1 -W 3 "\$1" >/dev/null && return 0; done; return 1; }
ping1 $ipctr; vm_say ping-ctr \$?
ping1 $GW; vm_say ping-gw \$?
timeout 15 wget -q -O /tmp/page http://$ipctr:$PORT/index.html; vm_say wget \$?
vm_say page-md5 "\$(md5sum </tmp/page | cut -d' ' -f1)"
# Then wait (at most 40 s) for the container's line over TCP.
timeout 40 nc -l -p 7070 >/tmp/line &
vm_say ready 1
wait \$!
vm_say line "\$(cat /tmp/line)"
EOF
vm_initramfs "$TMP/guest.sh" "$TMP/initrd.gz"
ok "VM assets: kernel $(basename "$VM_KERNEL") ($kwhere), busybox initramfs ($(since "$t0"))"

t0=$(now_ms)
CON="$TMP/console"
VM_ACCEL=$ACCEL vm_start --netns "${P}vm" "$CON" 120 -initrd "$TMP/initrd.gz" \
	-object "memory-backend-memfd,id=mem,size=${VM_MEM:-256}M,share=on" -numa node,memdev=mem \
	-chardev "socket,id=c0,path=$VM_TARGET" -device vhost-user-blk-pci,chardev=c0 \
	-netdev tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off \
	-device "virtio-net-pci,netdev=n0,mac=${MAC[vm]}"
# While the guest waits, the container pings it and sends it a line over TCP.
LINE="hello VM, from the container $(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
if vm_wait_result "$CON" ready 100; then
	READY_S=$(since "$t0")
	t1=$(now_ms)
	CTR_PING=0
	in_ctr ping -c 1 -W 2 -q "$(ip4 "$ipvm")" >/dev/null || in_ctr ping -c 2 -W 2 -q "$(ip4 "$ipvm")" >/dev/null ||
		CTR_PING=1
	CTR_PING_MS=$(since "$t1")
	send_line() {
		local i
		for ((i = 0; i < 20; i++)); do
			in_ctr bash -c 'echo "$1" >"/dev/tcp/$2/7070"' sh "$LINE" "$(ip4 "$ipvm")" 2>/dev/null && return 0
			sleep 0.5
		done
		return 1
	}
	send_line || bad "the container could not connect to the VM's port 7070"
fi
rc=0
vm_wait || rc=$?
VM_S=$(since "$t0")
if [[ $rc -ne 0 ]] || ! vm_result "$CON" exit >/dev/null; then
	vm_dump "$CON"
	die "the VM did not run its script and power off (QEMU status $rc; 124 = timeout)"
fi
ok "VM: QEMU under ${ACCEL^^} ($ACCEL_WHY) in ${P}vm, booted to its script at $(vm_result "$CON" booted) s guest time, ready ${READY_S:-never}, powered off ($VM_S)"

failed_before_vm=$FAILED
want_sectors=$(($(stat -c %s "$IMG") / 512))
check "VM sees the volume as /dev/vda ($(($(vm_result "$CON" disk) / 2048)) MiB, vhost-user-blk from vblkd through the socket vblk-csi published)" \
	[ "$(vm_result "$CON" disk)" = "$want_sectors" ]
vm_read_ok() { [[ $(vm_result "$CON" mount) == 0 && $(vm_result "$CON" file-md5) == "$NOTE_MD5" ]]; }
check "VM mounted the volume (ext4) and read the container's file back: same md5 $NOTE_MD5" vm_read_ok
[[ $(vm_result "$CON" file) == "$NOTE" ]] && echo "    the guest read: $(vm_result "$CON" file)"
check "VM → container ($ipctr) ping, over tap0 and the bridge" [ "$(vm_result "$CON" ping-ctr)" = 0 ]
check "container → VM ($(ip4 "$ipvm")) ping (${CTR_PING_MS:-not tried})" [ "${CTR_PING:-1}" = 0 ]
check "VM → gateway $GW ping" [ "$(vm_result "$CON" ping-gw)" = 0 ]
PAGE_MD5=$(md5sum <"$TMP/www/index.html" | cut -d' ' -f1)
vm_fetch_ok() { [[ $(vm_result "$CON" wget) == 0 && $(vm_result "$CON" page-md5) == "$PAGE_MD5" ]]; }
check "VM fetched http://$ipctr:$PORT/index.html from the container over TCP (busybox wget): same md5 $PAGE_MD5" vm_fetch_ok
check "container → VM over TCP: the guest's nc got the container's line" [ "$(vm_result "$CON" line)" = "$LINE" ]
((FAILED == failed_before_vm)) || vm_dump "$CON"   # what the guest saw, on stderr

# The VM is done with the volume: unpublish, unstage, delete.
t0=$(now_ms)
csi unpublish "$VOL" "$VM_TARGET" || bad "NodeUnpublishVolume (vmDisk) failed: $(csi_error)"
csi unstage "$VOL" "$VM_STAGING" || bad "NodeUnstageVolume (vmDisk) failed: $(csi_error)"
csi delete "$VOL" || bad "DeleteVolume failed: $(csi_error)"
deleted() {
	[[ ! -e $VM_TARGET && ! -e $IMG && -z $(mounts_of "$KUBELET/pods" </proc/self/mountinfo) ]] &&
		[[ $(ctl --json export list | jq '.exports | length') == 0 ]] &&
		[[ -z $(find "$POOL/node" "$POOL/volumes" -type f -o -type s) ]]
}
check "volume released: NodeUnpublish + NodeUnstage (vblkd's export and socket gone), DeleteVolume (no image, record or node record left) ($(since "$t0"))" \
	deleted

# --- teardown ----------------------------------------------------------------------
t0=$(now_ms)
VBLKD_RC="" CSI_RC=""
teardown
left_objects() {
	ip netns list | awk '{print $1}' | grep "^$P" || true
	ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$P" || true
	losetup -n -O NAME,BACK-FILE -l | grep -F "$TMP/" || true
	grep -F " $TMP" /proc/self/mountinfo || true
	nft list ruleset 2>/dev/null | grep -F "${SUBNET%.*}." || true
	grep -rlF "${P}cid-" "$TMP/ipam" 2>/dev/null || true   # IPAM reservations
}
left=$(left_objects)
[[ $VBLKD_RC == 0 ]] || bad "vblkd exited with status $VBLKD_RC on SIGTERM: $(tail -3 "$TMP/vblkd.log")"
[[ $CSI_RC == 0 ]] || bad "vblk-csi exited with status $CSI_RC on SIGTERM: $(tail -3 "$TMP/csi.log")"
# Under -DVP_SANITIZE=ON a report fails the run too.
for log in vblkd csi; do
	if grep -q Sanitizer "$TMP/$log.log"; then bad "$log: $(grep -m1 Sanitizer "$TMP/$log.log")"; fi
done
((${#DEL_FAILED[@]} == 0)) || bad "CNI DEL failed for ${DEL_FAILED[*]}: $(tail -3 "$TMP/del.log")"
check "teardown: VM off, container, vblk-csi and vblkd stopped, CNI DEL of both pods; no ${P}* netns or link, no loop device, mount, nft rule or IPAM reservation left ($(since "$t0"))" \
	[ -z "$left" ]
[[ -z $left ]] || printf '    left: %s\n' "$left"

TEARDOWN_MS=$(since "$t0")
echo "summary:"
echo "  created: netns ${P}ctr and ${P}vm, bridge $BR, veths, tap0, nft masquerade rules, a container"
echo "           (httpd), vblkd, vblk-csi, volume $VOL ($VOL_MIB MiB: ext4 for the container, then a"
echo "           vhost-user-blk vmDisk), a QEMU guest ($ACCEL); all removed"
echo "  timings: CNI ADD $CTR_ADD_MS + $VM_ADD_MS; VM start to ready ${READY_S:-never}, to poweroff $VM_S; teardown $TEARDOWN_MS"
total_s=$(( ($(date +%s%N) - T_START) / 1000000 ))
SUMMARY=printed
if ((FAILED)); then
	echo "demo FAILED: $FAILED of $CHECKS checks ✗ ($((total_s / 1000)).$((total_s % 1000 / 100)) s)"
	exit 1
fi
echo "demo done: $CHECKS checks ✓ in $((total_s / 1000)).$((total_s % 1000 / 100)) s"
