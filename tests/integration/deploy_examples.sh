#!/usr/bin/env bash
# deploy_examples.sh - deploy/examples: libvirt-vm0.xml passes
# virt-xml-validate (and a broken copy does not), and names the same socket
# and tap as qemu-vm0.sh; qemu-vm0.sh's command line is accepted by a real
# QEMU (TCG, paused with -S) that connects to a real vblkd's vhost-user-blk
# export and opens a tap made by vnetctl.
source "$(dirname "$0")/lib.sh"
vp_init dex
vp_require_cmd xmllint
EX="$VP_SOURCE/deploy/examples"
XML="$EX/libvirt-vm0.xml"

if command -v virt-xml-validate >/dev/null 2>&1; then
	out=$(virt-xml-validate "$XML" domain 2>&1) || vp_fail "virt-xml-validate: $out"
	sed 's#<source type=.unix. path=#<source type="unix" where=#' "$XML" >"$VP_TMP/broken.xml"
	if virt-xml-validate "$VP_TMP/broken.xml" domain >/dev/null 2>&1; then
		vp_fail "virt-xml-validate accepts a vhostuser disk without a path: the check checks nothing"
	fi
	vp_ok "libvirt-vm0.xml validates against libvirt's domain schema (a broken copy does not)"
else
	vp_log "skip: virt-xml-validate not installed (libvirt-clients): domain XML not validated"
fi
vp_assert_eq "$(xmllint --xpath 'string(//disk[@type="vhostuser"]/source/@path)' "$XML")" /run/vplumb/vm0.sock "XML disk socket"
vp_assert_eq "$(xmllint --xpath 'string(//interface[@type="ethernet"]/target/@dev)' "$XML")" tap0 "XML tap"
vp_assert_eq "$(xmllint --xpath 'string(//interface[@type="ethernet"]/target/@managed)' "$XML")" no "XML tap managed"
vp_assert_eq "$(xmllint --xpath 'string(//memoryBacking/access/@mode)' "$XML")" shared "XML memory shared"
xml_mac=$(xmllint --xpath 'string(//interface/mac/@address)' "$XML")
line=$(bash "$EX/qemu-vm0.sh" --print)
vp_assert_match "$line" "path=/run/vplumb/vm0\.sock," "qemu-vm0.sh default socket = the XML's"
vp_assert_match "$line" "ifname=tap0," "qemu-vm0.sh default tap = the XML's"
vp_assert_match "$line" "mac=$xml_mac( |$)" "qemu-vm0.sh default MAC = the XML's"
vp_ok "libvirt-vm0.xml and qemu-vm0.sh agree: socket, tap, MAC, shared memory"

vp_require_cmd qemu-system-x86_64 timeout
for b in vblkd vnetctl; do
	[[ -x "$VP_BUILD/bin/$b" ]] || vp_skip "$b not built ($VP_BUILD/bin)"
done
IMG="$VP_TMP/vm0.img"
SOCK="$VP_TMP/vm0.sock"
TAP=vpt-dex-t0
truncate -s 64M "$IMG"
vp_start_daemon "$VP_TMP/vblkd.log" env VPLUMB_LOG=debug "$VP_BUILD/bin/vblkd" \
	--export "name=vm0,image=$IMG" --vhost-user "name=vm0,socket=$SOCK"
for ((i = 0; i < 100; i++)); do [[ -S $SOCK ]] && break; sleep 0.05; done
[[ -S $SOCK ]] || vp_fail "vblkd made no $SOCK: $(tail -5 "$VP_TMP/vblkd.log")"
out=$("$VP_BUILD/bin/vnetctl" tap add "$TAP" --vnet-hdr 2>&1) || vp_fail "vnetctl tap add: $out"

# QEMU stays up (paused) until timeout ends it: exit 124 means it started.
rc=0
SOCK="$SOCK" TAP="$TAP" MEM=256M ACCEL=tcg timeout 4 bash "$EX/qemu-vm0.sh" -S -display none \
	-monitor none -serial none </dev/null >"$VP_TMP/qemu.log" 2>&1 || rc=$?
vp_assert_eq "$rc" 124 "QEMU ran until the timeout (its log: $(tail -3 "$VP_TMP/qemu.log"))"
grep -q "event=vhost.connected" "$VP_TMP/vblkd.log" || vp_fail "QEMU never connected to vblkd: $(tail -5 "$VP_TMP/vblkd.log")"
vp_ok "qemu-vm0.sh: QEMU starts with vblkd's vhost-user-blk disk (connected) and the vnetctl tap"
