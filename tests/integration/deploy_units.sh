#!/usr/bin/env bash
# deploy_units.sh - the shipped systemd files (deploy/): both vblkd units
# pass `systemd-analyze verify` without a warning, score at most 2.0 in
# `systemd-analyze security --offline` (no running unit needed), and their
# ExecStart options are ones vblkd accepts; the sysusers.d and tmpfiles.d
# snippets create the vplumb user and its directories (applied under a
# throwaway --root, never on the host).
source "$(dirname "$0")/lib.sh"
vp_init dpu
vp_require_cmd systemd-analyze systemd-sysusers systemd-tmpfiles

VBLKD="$VP_BUILD/bin/vblkd"
[[ -x "$VBLKD" ]] || vp_skip "vblkd not built ($VBLKD)"
DEPLOY="$VP_SOURCE/deploy"
# security --offline appeared in systemd 250.
ver=$(systemd-analyze --version | awk 'NR == 1 { print $2 }')
[[ $ver -ge 250 ]] || vp_skip "systemd $ver: systemd-analyze security --offline needs 250"

for unit in vblkd vblkd-ublk; do
	# verify checks that ExecStart's binary exists: point it at the build.
	sed "s#/usr/local/bin/vblkd#$VBLKD#" "$DEPLOY/$unit.service" >"$VP_TMP/$unit.service"
	out="$(systemd-analyze verify --man=no "$VP_TMP/$unit.service" 2>&1)" ||
		vp_fail "$unit.service: verify failed: $out"
	[[ -z "$out" ]] || vp_fail "$unit.service: verify warns: $out"
	# --threshold is on a 0-100 scale: 20 is an exposure of 2.0.
	systemd-analyze security --offline=yes --threshold=20 "$VP_TMP/$unit.service" >"$VP_TMP/$unit.sec" 2>&1 ||
		vp_fail "$unit.service: exposure above 2.0: $(tail -1 "$VP_TMP/$unit.sec")"
	vp_ok "$unit.service: verify clean, $(tail -1 "$VP_TMP/$unit.sec" | sed 's/.*: //')"

	# Every option of ExecStart parses (--help after them stops before any setup).
	args="$(sed -n 's#^ExecStart=/usr/local/bin/vblkd ##p' "$DEPLOY/$unit.service")"
	[[ -n "$args" ]] || vp_fail "$unit.service: no ExecStart of vblkd"
	# shellcheck disable=SC2086 # the unit's arguments, split as systemd does
	out="$("$VBLKD" $args --help 2>&1)" || vp_fail "$unit.service: vblkd refuses its ExecStart options: $out"
done
# The NBD/vhost-user unit holds no capability; the ublk one CAP_SYS_ADMIN alone.
vp_assert_match "$(grep '^CapabilityBoundingSet=' "$DEPLOY/vblkd.service")" '^CapabilityBoundingSet=$' \
	"vblkd.service: empty capability bounding set"
vp_assert_eq "$(grep -c '^AmbientCapabilities=$' "$DEPLOY/vblkd.service")" 1 "vblkd.service: no ambient capability"
vp_assert_eq "$(grep '^CapabilityBoundingSet=' "$DEPLOY/vblkd-ublk.service")" \
	"CapabilityBoundingSet=CAP_SYS_ADMIN" "vblkd-ublk.service: CAP_SYS_ADMIN only"
vp_ok "capabilities: none for NBD/vhost-user, CAP_SYS_ADMIN alone for ublk; ExecStart options accepted"

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
