#!/usr/bin/env bash
# demo_e2e.sh - `make demo` as an end-to-end test: demo/run.sh against this
# build tree exits 0 within 3 minutes and prints every check ✓ (pods through
# libcni, the container, the volume created, published, written, unpublished
# and handed to the VM, the guest reading the container's file back with the
# same md5, pings both ways, the VM's HTTP fetch from the container, the
# container's TCP line to the VM, teardown) and no ✗; the host is as before
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
	'✓ volume: vblkd \(pid [0-9]+, --image-root /tmp/vpd-[^ ]*/images\) created vpd-vol\.img, 64M raw'
	'✓ volume published to the container: /dev/loop[0-9]+ \(ext4\) at /mnt in its mount namespace, not on the host'
	'✓ container wrote /mnt/hello\.txt on the volume \(md5 [0-9a-f]{32}\)'
	'✓ volume unpublished: unmounted in the container, /dev/loop[0-9]+ detached'
	'✓ volume handed to the VM: vblkd export vpd-vol, vhost-user-blk on vpd-vol\.vhost\.sock'
	'✓ VM assets: kernel vmlinuz-[^ ]+ \((cached|fetched once) in'
	'✓ VM: QEMU under (TCG|KVM) \([^)]*\) in vpd-vm, booted to its script at [0-9.]+ s guest time, ready [0-9]+ ms, powered off'
	'✓ VM sees the volume as /dev/vda \(64 MiB, vhost-user-blk from vblkd\)'
	"✓ VM mounted the volume \(ext4\) and read the container's file back: same md5 [0-9a-f]{32}"
	'✓ VM → container \(10\.198\.100\.[0-9]+\) ping, over tap0 and the bridge'
	'✓ container → VM \(10\.198\.100\.[0-9]+\) ping \([0-9]+ ms\)'
	'✓ VM → gateway 10\.198\.100\.1 ping'
	'✓ VM fetched http://10\.198\.100\.[0-9]+:8080/index\.html from the container over TCP \(busybox wget\): same md5 [0-9a-f]{32}'
	"✓ container → VM over TCP: the guest's nc got the container's line"
	'✓ teardown: VM off, container and vblkd stopped, CNI DEL of both pods; no vpd-\* netns or link, no loop device, mount, nft rule or IPAM reservation left'
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
if [[ -x "$VP_CNITOOL" ]]; then
	grep -q 'via libcni (vp-cnitool)' <<<"$out" || vp_fail "vp-cnitool is built but the demo did not use libcni"
fi
((secs < 180)) || vp_fail "the demo took $secs s (limit: 3 minutes)"
vp_ok "the VM read the container's file (md5 $wrote); $secs s < 180 s"
assert_host_as_before "full run"
vp_ok "full run: netns, links, loop devices, mounts, nft tables as before; no /tmp/vpd-* dir or demo process"

# ---- interrupted while the VM boots: SIGTERM, exit 143, nothing left ----
bash "$DEMO" "$VP_BUILD" >"$VP_TMP/out.term" 2>&1 &
pid=$!
vp_on_exit "kill $pid"
for ((i = 0; i < 600; i++)); do
	grep -q '^✓ VM assets' "$VP_TMP/out.term" && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
grep -q '^✓ VM assets' "$VP_TMP/out.term" || { cat "$VP_TMP/out.term" >&2; vp_fail "interrupted run never reached the VM"; }
sleep 1
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
vp_assert_eq "$rc" 143 "exit status of the demo after SIGTERM"
grep -q '^demo FAILED (exit status 143)' "$VP_TMP/out.term" || vp_fail "interrupted demo does not say it failed"
assert_host_as_before "SIGTERM"
vp_ok "SIGTERM while the VM boots: exit 143, the host as before"

# ---- a guest that cannot boot: a ✗, exit 1, nothing left ----
rc=0
VM_MEM=40 bash "$DEMO" "$VP_BUILD" >"$VP_TMP/out.fail" 2>&1 || rc=$?
vp_assert_eq "$rc" 1 "exit status of the demo when its VM cannot boot"
grep -q '^✗ the VM did not run its script' "$VP_TMP/out.fail" || { cat "$VP_TMP/out.fail" >&2; vp_fail "no ✗ for the VM"; }
assert_host_as_before "VM_MEM=40"
vp_ok "a VM that cannot boot (40 MiB): ✗, exit 1, the host as before"
