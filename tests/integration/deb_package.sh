#!/usr/bin/env bash
# deb_package.sh - the Debian package: a Release build with prefix /usr,
# `cpack -G DEB`, its control data (Depends from the linked libraries,
# maintainer scripts) and contents (dpkg-deb -c: plugins in /opt/cni/bin as
# vnet-cni + symlinks, binaries, units, snippets, man pages, examples, docs);
# `dpkg -i` on this host, the installed units verify, the demo's CNI chain
# (vnet-bridge + vnet-ipam, then vnet-tap) ADD/DEL from /opt/cni/bin in a
# throwaway netns, the programs run from /usr/bin, then the whole demo
# (demo/run.sh --installed: a container and a VM sharing one volume) on the
# installed binaries exits 0 with all its checks ✓; `dpkg --purge` leaves no
# file of it, and directories that existed before are still there.
# On any failure the package is purged (trap) and the host restored.
source "$(dirname "$0")/lib.sh"
vp_init deb
command -v cpack >/dev/null 2>&1 || vp_skip "cpack not installed (cmake)"
command -v dpkg-deb >/dev/null 2>&1 || vp_skip "dpkg-deb not installed"
vp_require_cmd dpkg cmake
# status: dpkg's state of the vplumb package ("" or not-installed: absent).
status() { dpkg-query -W -f='${db:Status-Status}' vplumb 2>/dev/null || true; }
if [[ "$(status)" != "" && "$(status)" != not-installed ]]; then
	vp_skip "a vplumb package is already on this host: not replacing it"
fi
for f in /usr/bin/vblkd /usr/bin/vblkctl /usr/bin/vnetctl /opt/cni/bin/vnet-cni; do
	[[ ! -e "$f" ]] || vp_skip "$f exists outside a package: not overwriting it"
done

# What the host had before: directories the package shares, the user.
SHARED_DIRS=(/opt /opt/cni /opt/cni/bin /var/lib/vplumb /var/lib/vplumb/images /run/vplumb)
declare -A had_dir=()
for d in "${SHARED_DIRS[@]}"; do
	[[ -d "$d" ]] && had_dir[$d]="$(stat -c '%a %u %g' "$d")"
done
had_user=0
getent passwd vplumb >/dev/null && had_user=1

# restore: purge the package if installed, then put back what dpkg took
# that was there before (an empty directory it also listed), and remove
# the vplumb user when the package created it (Debian packages keep
# system users on purge; a test host must not).
restore() {
	local d mode uid gid
	[[ "$(status)" == "" || "$(status)" == not-installed ]] || dpkg --purge vplumb
	for d in "${!had_dir[@]}"; do
		if [[ ! -d "$d" ]]; then
			read -r mode uid gid <<<"${had_dir[$d]}"
			install -d -m "$mode" -o "$uid" -g "$gid" "$d"
		fi
	done
	if [[ $had_user == 0 ]] && getent passwd vplumb >/dev/null; then
		userdel vplumb
		getent group vplumb >/dev/null && groupdel vplumb
	fi
	return 0
}

BUILD="$VP_TMP/build"
cmake -S "$VP_SOURCE" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
	-DVP_BUILD_TESTS=OFF >"$VP_TMP/configure.log" 2>&1 || vp_fail "configure: $(tail -5 "$VP_TMP/configure.log")"
cmake --build "$BUILD" -j2 >"$VP_TMP/build.log" 2>&1 || vp_fail "build: $(tail -20 "$VP_TMP/build.log")"
(cd "$BUILD" && cpack -G DEB) >"$VP_TMP/cpack.log" 2>&1 || vp_fail "cpack: $(tail -20 "$VP_TMP/cpack.log")"
deb=$(ls "$BUILD"/vplumb_*.deb)
version=$(sed -n 's/^project(vplumb VERSION \([0-9.]*\).*/\1/p' "$VP_SOURCE/CMakeLists.txt")
vp_assert_eq "$(basename "$deb")" "vplumb_${version}_$(dpkg --print-architecture).deb" "package file name"
vp_ok "cpack -G DEB built $(basename "$deb") from a Release build"

vp_assert_eq "$(dpkg-deb -f "$deb" Package)" vplumb "Package"
vp_assert_eq "$(dpkg-deb -f "$deb" Version)" "$version" "Version (the project's)"
depends="$(dpkg-deb -f "$deb" Depends)"
for lib in libc6 libmnl0 liburing2 libseccomp2; do
	vp_assert_match "$depends" "(^|, )$lib( |,|$)" "Depends has $lib"
done
# Every shared library a binary links directly (its DT_NEEDED entries; what
# those pull in is their packages' business) is a dependency's.
dpkg-deb -x "$deb" "$VP_TMP/root"
# owner FILE: the package that installed FILE, or nothing.
owner() { dpkg -S "$1" 2>/dev/null | sed -n '1s/[:,].*//p' || true; }
# needed BIN: the paths of the libraries BIN names in DT_NEEDED.
needed() {
	local names
	names=$(objdump -p "$1" | awk '$1 == "NEEDED" {print $2}')
	ldd "$1" | awk -v names="$names" 'BEGIN { n = split(names, a, "\n"); for (i = 1; i <= n; i++) want[a[i]] = 1 }
		$2 == "=>" && ($1 in want) {print $3}'
}
for bin in usr/bin/vblkd usr/bin/vblkctl usr/bin/vnetctl usr/bin/vblk-csi opt/cni/bin/vnet-cni; do
	for so in $(needed "$VP_TMP/root/$bin"); do
		pkg=$(owner "$(readlink -f "$so")")
		[[ -n "$pkg" ]] || pkg=$(owner "$so")
		[[ -n "$pkg" ]] || vp_fail "$bin links $so, which no package owns"
		vp_assert_match "$depends" "(^|, )$pkg( |,|$)" "$bin links $so: Depends has $pkg"
	done
done
dpkg-deb -e "$deb" "$VP_TMP/control"
for s in postinst prerm postrm; do
	[[ -x "$VP_TMP/control/$s" ]] || vp_fail "no executable $s in the package"
done
vp_ok "control: Depends $depends; postinst, prerm, postrm"

listing="$(dpkg-deb -c "$deb" | awk '{ print $6 ($7 == "->" ? " -> " $8 : "") }' | sed 's#^\./#/#')"
want=(
	/opt/cni/bin/vnet-cni
	"/opt/cni/bin/vnet-bridge -> vnet-cni" "/opt/cni/bin/vnet-ptp -> vnet-cni"
	"/opt/cni/bin/vnet-tap -> vnet-cni" "/opt/cni/bin/vnet-ipam -> vnet-cni"
	/usr/bin/vblkd /usr/bin/vblkctl /usr/bin/vnetctl /usr/bin/vblk-csi
	/usr/lib/systemd/system/vblkd.service /usr/lib/systemd/system/vblkd-ublk.service
	/usr/lib/systemd/system/vblk-csi.service
	/usr/lib/sysusers.d/vplumb.conf /usr/lib/tmpfiles.d/vplumb.conf
	/usr/lib/udev/rules.d/70-vplumb-ublk.rules
	/usr/share/man/man8/vblkd.8 /usr/share/man/man8/vblkctl.8
	/usr/share/man/man8/vnetctl.8 /usr/share/man/man8/vnet-cni.8 /usr/share/man/man8/vblk-csi.8
	/usr/share/vplumb/cni/10-vnet-bridge.conflist /usr/share/vplumb/cni/20-vnet-vm.conflist
	/usr/share/vplumb/vnetctl/two-namespaces.json
	/usr/share/vplumb/examples/libvirt-vm0.xml /usr/share/vplumb/examples/qemu-vm0.sh
	/usr/share/doc/vplumb/README.md /usr/share/doc/vplumb/vblkd.md /usr/share/doc/vplumb/packaging.md
	/usr/share/doc/vplumb/guide-kubernetes.md /usr/share/doc/vplumb/guide-vm-hosts.md
	/usr/share/doc/vplumb/guide-scripts.md
)
for w in "${want[@]}"; do
	grep -qxF -- "$w" <<<"$listing" || vp_fail "package lacks $w"
done
# Nothing outside /usr and /opt/cni (no /etc, no /usr/local, no test tool).
stray="$(grep -vE '^/(usr/(bin|lib/(systemd|sysusers\.d|tmpfiles\.d|udev)|share/(man|doc|vplumb))|opt/(cni(/bin)?)?)(/|$)' <<<"$listing" | grep -vxE '/|/usr/|/usr/lib/|/usr/share/|/opt/' || true)"
[[ -z "$stray" ]] || vp_fail "unexpected paths in the package: $stray"
vp_assert_eq "$(grep -c '^ExecStart=/usr/bin/vblkd ' "$VP_TMP/root/usr/lib/systemd/system/vblkd.service")" 1 \
	"the packaged unit runs /usr/bin/vblkd"
vp_assert_eq "$(grep -c '^ExecStart=/usr/bin/vblk-csi ' "$VP_TMP/root/usr/lib/systemd/system/vblk-csi.service")" 1 \
	"the packaged node plugin unit runs /usr/bin/vblk-csi"
vp_ok "contents: ${#want[@]} expected paths, nothing elsewhere"

vp_on_exit restore
dpkg -i "$deb" >"$VP_TMP/dpkg-i.log" 2>&1 || vp_fail "dpkg -i: $(tail -10 "$VP_TMP/dpkg-i.log")"
vp_assert_eq "$(status)" installed "package status"
if command -v systemd-sysusers >/dev/null 2>&1; then
	getent passwd vplumb >/dev/null || vp_fail "postinst created no vplumb user"
	vp_assert_eq "$(stat -c '%U %a' /var/lib/vplumb/images)" "vplumb 750" "postinst: /var/lib/vplumb/images"
	vp_assert_eq "$(stat -c '%U %a' /run/vplumb)" "vplumb 750" "postinst: /run/vplumb"
fi
for unit in vblkd vblkd-ublk vblk-csi; do
	if command -v systemd-analyze >/dev/null 2>&1; then
		out="$(systemd-analyze verify --man=no /usr/lib/systemd/system/$unit.service 2>&1)" ||
			vp_fail "installed $unit.service: verify failed: $out"
	fi
	if [[ -d /run/systemd/system ]]; then
		vp_assert_eq "$(systemctl is-enabled "$unit.service" 2>/dev/null || true)" disabled "$unit.service not enabled"
	fi
done
vp_ok "dpkg -i: installed, postinst made the vplumb user and its directories, units verify and are not enabled"

for prog in vblkd vblkctl vnetctl; do
	out="$("/usr/bin/$prog" --help 2>&1)" || vp_fail "/usr/bin/$prog --help: $out"
	vp_assert_match "$out" "^usage: $prog" "/usr/bin/$prog --help"
done
if command -v man >/dev/null 2>&1; then
	vp_assert_eq "$(man -w 8 vblkd 2>/dev/null)" /usr/share/man/man8/vblkd.8 "man -w 8 vblkd"
	vp_assert_eq "$(man -w 8 vblk-csi 2>/dev/null)" /usr/share/man/man8/vblk-csi.8 "man -w 8 vblk-csi"
fi
vp_ok "vblkd, vblkctl, vnetctl --help from /usr/bin; man finds vblkd(8) and vblk-csi(8)"

# The demo's CNI chain from /opt/cni/bin only.
VP_CNI_PATH=/opt/cni/bin
BR=vpt-deb-br
CONF=$(cat <<JSON
{ "cniVersion": "1.1.0", "name": "vpt-deb", "type": "vnet-bridge", "bridge": "$BR",
  "isGateway": true, "ipMasq": true,
  "ipam": { "type": "vnet-ipam", "dataDir": "$VP_TMP/ipam",
            "ranges": [[{ "subnet": "10.198.150.0/24" }]] } }
JSON
)
TAP='{ "cniVersion": "1.1.0", "name": "vpt-deb", "type": "vnet-tap", "tapName": "tap0", "vnetHdr": true }'
pod=$(vp_netns pod)
# del_pod: on an early exit, DEL the pod while the package is still there.
del_pod() {
	[[ -x /opt/cni/bin/vnet-tap ]] || return 0
	vp_run_cni vnet-tap DEL vpt-deb-pod "$pod" eth0 "$TAP"
	vp_run_cni vnet-bridge DEL vpt-deb-pod "$pod" eth0 "$CONF"
}
vp_on_exit del_pod
vp_assert_eq "$(vp_plugin_path vnet-bridge)" /opt/cni/bin/vnet-bridge "plugin path"
rb=$(vp_run_cni vnet-bridge ADD vpt-deb-pod "$pod" eth0 "$CONF") || vp_fail "ADD vnet-bridge: $rb"
ip=$(vp_result_ip "$rb")
vp_assert_match "$ip" '^10\.198\.150\.' "pod address from vnet-ipam"
vp_assert_ping "$(vp_ns pod)" 10.198.150.1
# From here on eth0's traffic is the VM's: redirected to and from tap0.
rt=$(vp_run_cni vnet-tap ADD vpt-deb-pod "$pod" eth0 "$(jq -c --argjson r "$rb" '. + {prevResult: $r}' <<<"$TAP")") ||
	vp_fail "ADD vnet-tap: $rt"
vp_assert_link "$(vp_ns pod)" tap0
vp_assert_eq "$(vp_link_attr "$(vp_ns pod)" tap0 address)" "$(vp_link_attr "$(vp_ns pod)" eth0 address)" "tap0 carries eth0's MAC"
vp_assert_ipam_holds "$VP_TMP/ipam" vpt-deb-pod
hveth=$(jq -r '.interfaces[1].name' <<<"$rb")
out=$(vp_run_cni vnet-tap DEL vpt-deb-pod "$pod" eth0 "$(jq -c --argjson r "$rt" '. + {prevResult: $r}' <<<"$TAP")") ||
	vp_fail "DEL vnet-tap: $out"
out=$(vp_run_cni vnet-bridge DEL vpt-deb-pod "$pod" eth0 "$(jq -c --argjson r "$rb" '. + {prevResult: $r}' <<<"$CONF")") ||
	vp_fail "DEL vnet-bridge: $out"
vp_assert_no_link "$(vp_ns pod)" tap0
vp_assert_no_link "$(vp_ns pod)" eth0
vp_assert_no_link "" "$hveth"
vp_assert_ipam_clean "$VP_TMP/ipam" vpt-deb-pod
vp_assert_nft_clean "$ip" "$hveth"
vp_ok "CNI ADD/DEL of vnet-bridge + vnet-ipam, chained vnet-tap, from /opt/cni/bin: $ip pings the gateway; DEL leaves nothing"

# The demo on the installed package: plugins from /opt/cni/bin, vblkd,
# vblkctl and vblk-csi from /usr/bin (its CSI client, demo/csi_client.py,
# from the source tree).  Its guest kernel comes from VM_CACHE, as for the
# other VM tests; a host that cannot run it (exit 77) skips this part only.
DEMO_CHECKS=19   # as tests/integration/demo_e2e.sh lists them
rc=0
VM_CACHE="${VM_CACHE:-$VP_BUILD/vm-cache}" bash "$VP_SOURCE/demo/run.sh" --installed >"$VP_TMP/demo.out" 2>&1 || rc=$?
demo_out=$(cat "$VP_TMP/demo.out")
if [[ $rc -eq 77 ]]; then
	vp_log "demo on the installed package not run: $(tail -1 "$VP_TMP/demo.out")"
else
	if [[ $rc -ne 0 ]] || grep -q '✗' <<<"$demo_out"; then
		cat "$VP_TMP/demo.out" >&2
		vp_fail "demo/run.sh --installed exited with status $rc"
	fi
	vp_assert_match "$demo_out" "plugins from /opt/cni/bin via direct exec \\(--installed: no vp-cnitool\\), vblkd, vblkctl and vblk-csi from /usr/bin; storage through vblk-csi" \
		"the demo used the installed binaries"
	vp_assert_eq "$(grep -c '^✓' <<<"$demo_out")" "$DEMO_CHECKS" "number of ✓ lines of the demo"
	vp_assert_match "$demo_out" "demo done: $DEMO_CHECKS checks ✓" "the demo's summary"
	vp_ok "demo/run.sh --installed: exit 0, all $DEMO_CHECKS checks ✓ on /opt/cni/bin and /usr/bin"
fi

files="$(dpkg -L vplumb | while read -r f; do [[ -d "$f" ]] || printf '%s\n' "$f"; done)"
dpkg --purge vplumb >"$VP_TMP/purge.log" 2>&1 || vp_fail "dpkg --purge: $(tail -10 "$VP_TMP/purge.log")"
out="$(dpkg -L vplumb 2>/dev/null || true)"
[[ -z "$out" ]] || vp_fail "dpkg -L still lists files after purge: $(head -3 <<<"$out")"
[[ "$(status)" == "" || "$(status)" == not-installed ]] || vp_fail "package state after purge: $(status)"
left=""
for f in $files /opt/cni/bin/vnet-*; do
	[[ -e "$f" || -L "$f" ]] && left+=" $f"
done
[[ -z "$left" ]] || vp_fail "left after purge:$left"
for d in /var/lib/vplumb /run/vplumb; do
	[[ -n "${had_dir[$d]:-}" || ! -e "$d" ]] || vp_fail "$d left after purge"
done
# dpkg removes a directory it listed once it is empty, even one that was
# there before: restore puts such a directory back.
gone=""
for d in "${!had_dir[@]}"; do
	[[ -d "$d" ]] || gone+=" $d"
done
restore
for d in "${!had_dir[@]}"; do
	[[ -d "$d" ]] || vp_fail "$d existed before the install and is gone"
done
[[ $had_user == 1 ]] || ! getent passwd vplumb >/dev/null || vp_fail "the vplumb user is left"
vp_ok "dpkg --purge: no file of the package left, no /opt/cni/bin/vnet-*; the host's directories as before${gone:+ (empty ones dpkg took, put back:$gone)}"
