#!/usr/bin/env bash
# deploy_units.sh - the shipped systemd files (deploy/): both vblkd units
# pass `systemd-analyze verify` without a warning, score at most 2.0 in
# `systemd-analyze security --offline` (no running unit needed), and their
# ExecStart options are ones vblkd accepts; so does the vblk-csi node
# plugin's unit (vblk-csi's options, at most 5.0: it mounts, so it keeps
# CAP_SYS_ADMIN and no mount namespace of its own); the sysusers.d and tmpfiles.d
# snippets create the vplumb user and its directories (applied under a
# throwaway --root, never on the host).
source "$(dirname "$0")/lib.sh"
vp_init dpu
vp_require_cmd systemd-analyze systemd-sysusers systemd-tmpfiles

VBLKD="$VP_BUILD/bin/vblkd"
[[ -x "$VBLKD" ]] || vp_skip "vblkd not built ($VBLKD)"
[[ -x "$VP_BUILD/bin/vblk-csi" ]] || vp_skip "vblk-csi not built ($VP_BUILD/bin/vblk-csi)"
DEPLOY="$VP_SOURCE/deploy"
# security --offline appeared in systemd 250.
ver=$(systemd-analyze --version | awk 'NR == 1 { print $2 }')
[[ $ver -ge 250 ]] || vp_skip "systemd $ver: systemd-analyze security --offline needs 250"

# unit:program:exposure limit (0-100 scale of --threshold: 20 is 2.0).
for spec in vblkd:vblkd:20 vblkd-ublk:vblkd:20 vblk-csi:vblk-csi:50; do
	IFS=: read -r unit prog limit <<<"$spec"
	bin="$VP_BUILD/bin/$prog"
	# verify checks that ExecStart's binary exists: point it at the build.
	sed "s#/usr/local/bin/$prog #$bin #" "$DEPLOY/$unit.service" >"$VP_TMP/$unit.service"
	out="$(systemd-analyze verify --man=no "$VP_TMP/$unit.service" 2>&1)" ||
		vp_fail "$unit.service: verify failed: $out"
	[[ -z "$out" ]] || vp_fail "$unit.service: verify warns: $out"
	systemd-analyze security --offline=yes --threshold="$limit" "$VP_TMP/$unit.service" >"$VP_TMP/$unit.sec" 2>&1 ||
		vp_fail "$unit.service: exposure above $((limit / 10)).0: $(tail -1 "$VP_TMP/$unit.sec")"
	vp_ok "$unit.service: verify clean, $(tail -1 "$VP_TMP/$unit.sec" | sed 's/.*: //')"

	# Every option of ExecStart parses (--help after them stops before any setup).
	args="$(sed -n "s#^ExecStart=/usr/local/bin/$prog ##p" "$DEPLOY/$unit.service")"
	[[ -n "$args" ]] || vp_fail "$unit.service: no ExecStart of $prog"
	# shellcheck disable=SC2086 # the unit's arguments, split as systemd does
	out="$("$bin" $args --help 2>&1)" || vp_fail "$unit.service: $prog refuses its ExecStart options: $out"
done
# The NBD/vhost-user unit holds no capability; the ublk one CAP_SYS_ADMIN alone.
vp_assert_match "$(grep '^CapabilityBoundingSet=' "$DEPLOY/vblkd.service")" '^CapabilityBoundingSet=$' \
	"vblkd.service: empty capability bounding set"
vp_assert_eq "$(grep -c '^AmbientCapabilities=$' "$DEPLOY/vblkd.service")" 1 "vblkd.service: no ambient capability"
vp_assert_eq "$(grep '^CapabilityBoundingSet=' "$DEPLOY/vblkd-ublk.service")" \
	"CapabilityBoundingSet=CAP_SYS_ADMIN" "vblkd-ublk.service: CAP_SYS_ADMIN only"
vp_ok "capabilities: none for NBD/vhost-user, CAP_SYS_ADMIN alone for ublk; ExecStart options accepted"

# The node plugin: CAP_SYS_ADMIN (mounts, loop devices) and CAP_DAC_OVERRIDE
# (vblkd's 0700 control directory) only; its CSI socket where kubelet looks;
# no option that gives it a mount namespace (its mounts must reach kubelet).
csi="$DEPLOY/vblk-csi.service"
vp_assert_eq "$(grep '^CapabilityBoundingSet=' "$csi")" "CapabilityBoundingSet=CAP_SYS_ADMIN CAP_DAC_OVERRIDE" \
	"vblk-csi.service: capability bounding set"
vp_assert_match "$(grep '^ExecStart=' "$csi")" \
	' --mode node --endpoint unix:///var/lib/kubelet/plugins/vblk\.vplumb\.dev/csi\.sock .* --pool /var/lib/vplumb/csi ' \
	"vblk-csi.service: node mode, kubelet's plugin socket, the pool"
ns_opts='^(ProtectSystem|ProtectHome|PrivateTmp|PrivateDevices|PrivateMounts|ProtectKernelTunables|ProtectKernelModules|ProtectKernelLogs|ProtectControlGroups|ProtectProc|ReadWritePaths|ReadOnlyPaths|InaccessiblePaths|TemporaryFileSystem|BindPaths|MountFlags)='
out="$(grep -E "$ns_opts" "$csi" || true)"
[[ -z "$out" ]] || vp_fail "vblk-csi.service: would get its own mount namespace: $out"
vp_ok "vblk-csi.service: CAP_SYS_ADMIN + CAP_DAC_OVERRIDE only, kubelet's socket, the pool, no mount namespace"

ROOT="$VP_TMP/root"
mkdir -p "$ROOT/etc"
vp_assert systemd-sysusers --root="$ROOT" "$DEPLOY/sysusers.d/vplumb.conf" >/dev/null 2>&1
line="$(grep '^vplumb:' "$ROOT/etc/passwd")" || vp_fail "sysusers created no vplumb user"
vp_assert_match "$line" '^vplumb:x:[0-9]+:[0-9]+:[^:]*:/var/lib/vplumb:/usr/sbin/nologin$' "vplumb user"
vp_assert_eq "$(grep -c '^vplumb:' "$ROOT/etc/group")" 1 "vplumb group"
uid=$(cut -d: -f3 <<<"$line") gid=$(cut -d: -f4 <<<"$line")
vp_assert systemd-tmpfiles --create --root="$ROOT" "$DEPLOY/tmpfiles.d/vplumb.conf"
for d in var/lib/vplumb var/lib/vplumb/images run/vplumb; do
	vp_assert_eq "$(stat -c '%a %u %g' "$ROOT/$d")" "750 $uid $gid" "/$d"
done
vp_ok "sysusers.d: vplumb user without a shell; tmpfiles.d: image root and socket dir 0750 vplumb"
