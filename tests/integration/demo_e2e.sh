#!/usr/bin/env bash
# demo_e2e.sh - `make demo` as an end-to-end test: demo/run.sh against this
# build tree exits 0 within 3 minutes and prints every check ✓ (pods through
# libcni, the container, the volume through vblk-csi: created, staged and
# published as mount into the container, written, unpublished and unstaged,
# staged and published as a vmDisk to the VM, the guest reading the
# container's file back with the same md5; pings both ways, the VM's HTTP
# fetch from the container, the container's TCP line to the VM, the volume
# released and deleted, teardown) and no ✗, one volume ID throughout, the
# same loop device staged and detached; the host is as before
# (netns, links, loop devices, mounts, nft tables, no /tmp/vpd-* dir, no
# process of the demo).  Then a run interrupted by SIGTERM while its VM boots
# and a run whose guest cannot boot (VM_MEM=40) both exit non-zero and leave
# the host as before too.  A demo that cannot run here (exit 77) is a skip.
source "$(dirname "$0")/lib.sh"
vp_init demo
DEMO="$VP_SOURCE/demo/run.sh"
export VM_CACHE="${VM_CACHE:-$VP_BUILD/vm-cache}"

# host_state: what the demo must leave as it found it.  Objects of other
# tests (vpt-...) are left out: they may come and go meanwhile.
host_state() {
	echo "# netns"
	ip netns list | awk '{print $1}' | grep -v "^$VP_PREFIX" | sort || true
	echo "# links"
	ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -v "^$VP_PREFIX" | sort || true
	echo "# loop devices"
	losetup -l -n -O NAME,BACK-FILE | grep -v -e "/tmp/$VP_PREFIX" -e "/dev/shm/$VP_PREFIX" | sort || true
	echo "# mounts"
	awk '{print $5, $9}' /proc/self/mountinfo |
		grep -v -e "/tmp/$VP_PREFIX" -e "/dev/shm/$VP_PREFIX" -e "/run/netns/$VP_PREFIX" | sort || true
	echo "# nft tables"
	nft list tables 2>/dev/null | sort
	echo "# demo dirs and processes"
	ls -d /tmp/vpd-* 2>/dev/null || true
	ls /tmp/vpd-daemons.pids 2>/dev/null || true
	pgrep -af -- '/tmp/vpd-' || true
}
assert_host_as_before() {
	host_state >"$VP_TMP/after.$1"
	if ! diff -u "$VP_TMP/before" "$VP_TMP/after.$1" >"$VP_TMP/diff.$1"; then
		cat "$VP_TMP/diff.$1" >&2
		vp_fail "$1: the host is not as before the demo (diff above)"
	fi
}
host_state >"$VP_TMP/before"

# ---- a full run ----
t0=$SECONDS
rc=0
bash "$DEMO" "$VP_BUILD" >"$VP_TMP/out" 2>&1 || rc=$?
secs=$((SECONDS - t0))
out=$(cat "$VP_TMP/out")
[[ $rc -eq 77 ]] && vp_skip "the demo cannot run here: $(tail -1 "$VP_TMP/out")"
if [[ $rc -ne 0 ]]; then
	cat "$VP_TMP/out" >&2
	vp_fail "demo exited with status $rc"
fi
vp_log "demo: $secs s"
want=(
	'✓ container pod vpd-ctr: eth0 10\.198\.100\.[0-9]+/24 via 10\.198\.100\.1 on vpd-br0 \(vnet-bridge \+ vnet-ipam, [0-9]+ ms\)'
	"✓ VM pod vpd-vm: eth0 10\.198\.100\.[0-9]+/24, tap0 \(type tap vnet_hdr on\) with eth0's MAC ([0-9a-f]{2}:){5}[0-9a-f]{2}, tc redirect both ways"
	'✓ container: pid [0-9]+, own mount namespace, httpd on 10\.198\.100\.[0-9]+:8080'
	'✓ volume: vblk-csi \(pid [0-9]+, controller \+ node; vblkd pid [0-9]+ serves its pool\) CreateVolume vpd-vol: vol-[0-9a-f]{16}, 64 MiB, fsType=ext4 vmDisk=true \([0-9]+ ms\)'
	'✓ volume published to the container: NodeStage \(mount: /dev/loop[0-9]+, ext4 made by vblk-csi\) \+ NodePublish at pods/vpd-ctr/…/mount, bound at /mnt in its mount namespace only \([0-9]+ ms\)'
	'✓ container wrote /mnt/hello\.txt on the volume \(md5 [0-9a-f]{32}\)'
	'✓ volume unpublished: /mnt unmounted in the container, NodeUnpublish \+ NodeUnstage: no mount left \(host or container\), /dev/loop[0-9]+ detached \([0-9]+ ms\)'
	'✓ volume handed to the VM: NodeStage \(block, vmDisk: vblkd exports vol-[0-9a-f]{16} over vhost-user-blk\) \+ NodePublish: the socket at pods/vpd-vm/…/vpd-vol \([0-9]+ ms\)'
	'✓ VM assets: kernel vmlinuz-[^ ]+ \((cached|fetched once) in'
	'✓ VM: QEMU under (TCG|KVM) \([^)]*\) in vpd-vm, booted to its script at [0-9.]+ s guest time, ready [0-9]+ ms, powered off'
	'✓ VM sees the volume as /dev/vda \(64 MiB, vhost-user-blk from vblkd through the socket vblk-csi published\)'
	"✓ VM mounted the volume \(ext4\) and read the container's file back: same md5 [0-9a-f]{32}"
	'✓ VM → container \(10\.198\.100\.[0-9]+\) ping, over tap0 and the bridge'
	'✓ container → VM \(10\.198\.100\.[0-9]+\) ping \([0-9]+ ms\)'
	'✓ VM → gateway 10\.198\.100\.1 ping'
	'✓ VM fetched http://10\.198\.100\.[0-9]+:8080/index\.html from the container over TCP \(busybox wget\): same md5 [0-9a-f]{32}'
	"✓ container → VM over TCP: the guest's nc got the container's line"
	'✓ volume released: NodeUnpublish \+ NodeUnstage \(vblkd.s export and socket gone\), DeleteVolume \(no image, record or node record left\) \([0-9]+ ms\)'
	'✓ teardown: VM off, container, vblk-csi and vblkd stopped, CNI DEL of both pods; no vpd-\* netns or link, no loop device, mount, nft rule or IPAM reservation left'
)
want+=("demo done: ${#want[@]} checks ✓ in [0-9.]+ s")
for re in "${want[@]}"; do
	grep -Eq "^$re" <<<"$out" || { cat "$VP_TMP/out" >&2; vp_fail "demo output lacks /$re/"; }
done
vp_assert_eq "$(grep -c '^✓' <<<"$out")" $((${#want[@]} - 1)) "number of ✓ lines"
if grep -q '✗' <<<"$out"; then vp_fail "demo printed a ✗: $(grep '✗' <<<"$out")"; fi
vp_ok "demo: all $((${#want[@]} - 1)) checks ✓, exit 0, in $secs s"

# The md5 the guest read is the one the container wrote (not just any md5).
wrote=$(sed -n 's/^✓ container wrote .*(md5 \([0-9a-f]*\))$/\1/p' <<<"$out")
read_back=$(sed -n "s/^✓ VM mounted the volume .*same md5 \([0-9a-f]*\)$/\1/p" <<<"$out")
vp_assert_eq "$read_back" "$wrote" "md5 of the file the VM read vs the one the container wrote"
grep -q "^    the guest read: written by the container (pid [0-9]*)" <<<"$out" ||
	vp_fail "the demo does not show the file's content as the guest read it"
# One volume: the ID created is the one vblkd exported to the VM; the loop
# device staged for the container is the one found detached.
vol_created=$(sed -n 's/^✓ volume: vblk-csi .* CreateVolume vpd-vol: \(vol-[0-9a-f]*\),.*/\1/p' <<<"$out")
loop_staged=$(sed -n 's/^✓ volume published to the container: NodeStage (mount: \(\/dev\/loop[0-9]*\),.*/\1/p' <<<"$out")
vol_to_vm=$(sed -n 's/^✓ volume handed to the VM: .*vblkd exports \(vol-[0-9a-f]*\) .*/\1/p' <<<"$out")
[[ -n $vol_created && -n $loop_staged ]] || vp_fail "no volume ID or loop device in the demo's output"
vp_assert_eq "$vol_to_vm" "$vol_created" "the volume handed to the VM vs the one created"
grep -q "^  .*, volume $vol_created (" <<<"$out" || vp_fail "the summary does not name volume $vol_created"
loop_gone=$(sed -n 's/^✓ volume unpublished: .*), \(\/dev\/loop[0-9]*\) detached.*/\1/p' <<<"$out")
vp_assert_eq "$loop_gone" "$loop_staged" "the loop device detached vs the one staged"
if [[ -x "$VP_CNITOOL" ]]; then
	grep -q 'via libcni (vp-cnitool)' <<<"$out" || vp_fail "vp-cnitool is built but the demo did not use libcni"
fi
((secs < 180)) || vp_fail "the demo took $secs s (limit: 3 minutes)"
vp_ok "the VM read the container's file (md5 $wrote); $secs s < 180 s"
assert_host_as_before "full run"
vp_ok "full run: netns, links, loop devices, mounts, nft tables as before; no /tmp/vpd-* dir or demo process"

# ---- interrupted: SIGTERM (while the container has the volume, then while
# the VM boots on it), exit 143, nothing left ----
# interrupt NAME LINE [PROCESS]: a demo run, SIGTERM once it printed LINE
# (a regex) and, when given, a process matching PROCESS (pgrep -f) runs.
# (A delay would not do: under KVM the VM's whole run can take less.)
interrupt() {
	local name=$1 line=$2 proc=${3:-} out="$VP_TMP/out.$1" pid rc=0 i
	bash "$DEMO" "$VP_BUILD" >"$out" 2>&1 &
	pid=$!
	vp_on_exit "kill $pid"
	for ((i = 0; i < 600; i++)); do
		grep -Eq "$line" "$out" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	grep -Eq "$line" "$out" || { cat "$out" >&2; vp_fail "$name: the run never printed /$line/"; }
	for ((i = 0; i < 100; i++)); do
		[[ -z $proc ]] || pgrep -f "$proc" >/dev/null && break
		sleep 0.1
	done
	[[ -z $proc ]] || pgrep -f "$proc" >/dev/null || vp_fail "$name: no process /$proc/ after /$line/"
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	vp_assert_eq "$rc" 143 "$name: exit status of the demo after SIGTERM"
	grep -q '^demo FAILED (exit status 143)' "$out" || vp_fail "$name: the interrupted demo does not say it failed"
	assert_host_as_before "$name"
}
interrupt volume '^✓ volume published to the container'
vp_ok "SIGTERM while the volume is staged for the container: exit 143, the host as before"
# Under TCG, so the guest is surely still booting (KVM boots it in well
# under a second where it works).
VPD_ACCEL=tcg interrupt vm '^✓ VM assets' 'qemu-system-x86_64 .*initrd\.gz'
vp_ok "SIGTERM while the VM boots: exit 143, the host as before"

# ---- a guest that cannot boot: a ✗, exit 1, nothing left ----
rc=0
VM_MEM=40 bash "$DEMO" "$VP_BUILD" >"$VP_TMP/out.fail" 2>&1 || rc=$?
vp_assert_eq "$rc" 1 "exit status of the demo when its VM cannot boot"
grep -q '^✗ the VM did not run its script' "$VP_TMP/out.fail" || { cat "$VP_TMP/out.fail" >&2; vp_fail "no ✗ for the VM"; }
assert_host_as_before "VM_MEM=40"
vp_ok "a VM that cannot boot (40 MiB): ✗, exit 1, the host as before"
