#!/usr/bin/env bash
# vblk_ublk.sh - vblkd's ublk devices, the refusals that need no ublk in
# the kernel: ublk add's field bounds (those of --ublk) and an unknown
# export, on any kernel; on a kernel without ublk, --ublk fails at start
# with a clear error and ublk add answers ENODEV ("this kernel has no
# ublk"), both leaving nothing behind (no device, no control socket after
# the failed start, the export listed without a device and removable, the
# image untouched); a daemon started with --user refuses ublk add with
# EPERM and says why.  The daemons run under --seccomp kill, so no refusal
# makes a syscall outside the allowlist.  The devices: vblk_ublk_dev.sh.
source "$(dirname "$0")/lib.sh"
vp_init ubk

VBLKD="$VP_BUILD/bin/vblkd"
VBLKCTL="$VP_BUILD/bin/vblkctl"
[[ -x "$VBLKD" && -x "$VBLKCTL" ]] || vp_skip "vblkd/vblkctl not built in $VP_BUILD/bin"
IMG="$VP_TMP/disk.img"
CTL="$VP_TMP/control.sock"
truncate -s 16M "$IMG"
ctl() { "$VBLKCTL" --control "$CTL" "$@"; }
ublk_nodes() { ls /dev | grep -c '^ublk' || true; }
# expect_refused ERRNO REGEX ARGS...: vblkctl --json ARGS fails with that errno and message.
expect_refused() {
	local errno="$1" re="$2" out
	shift 2
	out="$(ctl --json "$@")" && vp_fail "vblkctl $* succeeded: $out"
	vp_assert_eq "$(jq -r .errno <<<"$out")" "$errno" "errno of $* ($out)"
	vp_assert_match "$(jq -r .error <<<"$out")" "$re" "error of $*"
}

have_ublk() {
	[[ -c /dev/ublk-control ]] || modprobe ublk_drv 2>/dev/null || true
	[[ -c /dev/ublk-control ]]
}
HAVE_UBLK=0
have_ublk && HAVE_UBLK=1

# Without ublk: fail at start with the message, exit 1, no control socket,
# no device, the image untouched.
if ((!HAVE_UBLK)); then
	LOG="$VP_TMP/noublk.log"
	before=$(ublk_nodes)
	if "$VBLKD" --export name=ubk0,image="$IMG" --ublk name=ubk0 --control "$CTL" >"$LOG" 2>&1; then
		vp_fail "vblkd --ublk started without /dev/ublk-control"
	fi
	grep -q 'ublk: /dev/ublk-control not found: this kernel has no ublk (CONFIG_BLK_DEV_UBLK)' "$LOG" ||
		vp_fail "no clear error: $(cat "$LOG")"
	[[ ! -e "$CTL" ]] || vp_fail "control socket left behind"
	vp_assert_eq "$(ublk_nodes)" "$before" "ublk nodes"
	vp_assert_eq "$(stat -c %s "$IMG")" 16777216 "image size"
	[[ -z "$(tr -d '\0' <"$IMG" | head -c1)" ]] || vp_fail "image modified"
	vp_ok "vblkd --ublk without kernel ublk fails cleanly"
fi

# ublk add through the control socket: bounds (those of --ublk) and an
# unknown export are refused on any kernel.  Under --seccomp kill: a
# refusal that made a syscall outside the allowlist would kill the daemon.
LOG="$VP_TMP/vblkd-ctl.log"
vp_start_vblkd "$LOG" --export name=ubk0,image="$IMG" --control "$CTL" --seccomp kill
CTL_PID=$VP_PID
expect_refused 34 'queues: 17 is outside \[1, 16\]' ublk add ubk0 --queues 17
expect_refused 34 'depth: 0 is outside \[1, 1024\]' ublk add ubk0 --depth 0
expect_refused 34 'depth: 1025 is outside \[1, 1024\]' ublk add ubk0 --depth 1025
expect_refused 2 'no export named nosuch' ublk add nosuch
expect_refused 2 'export ubk0 has no ublk device' ublk remove ubk0
vp_assert_fails ctl ublk add ubk0 --depth x 2>/dev/null
vp_ok "ublk add: bounds and unknown export refused"

if ((!HAVE_UBLK)); then
	# No ublk in the kernel: ENODEV with the reason, vblkctl exits 1,
	# and nothing is left: no device, the export without one, removable.
	before=$(ublk_nodes)
	expect_refused 19 'ublk: /dev/ublk-control not found: this kernel has no ublk \(CONFIG_BLK_DEV_UBLK\)' \
		ublk add ubk0 --queues 2 --depth 64
	rc=0
	ctl ublk add ubk0 2>"$VP_TMP/err" || rc=$?
	vp_assert_eq "$rc" 1 "vblkctl exit status"
	vp_assert_match "$(cat "$VP_TMP/err")" 'ublk-add: .*this kernel has no ublk' "vblkctl message"
	vp_assert_eq "$(ctl --json export list | jq -c '.exports[] | select(.name == "ubk0") | .ublk')" null \
		"ublk device in the listing"
	vp_assert_eq "$(ublk_nodes)" "$before" "ublk nodes"
	vp_assert ctl export remove ubk0 >/dev/null
	vp_assert_eq "$(ctl --json export list | jq '.exports | length')" 0 "exports left"
	vp_assert vp_stop_vblkd "$CTL_PID"
	grep -q 'event=control.error command=ublk-add errno=19' "$LOG" || vp_fail "no logged refusal: $(cat "$LOG")"
	vp_ok "ublk add without kernel ublk: ENODEV, nothing left behind"
else
	vp_assert vp_stop_vblkd "$CTL_PID"
	vp_log "kernel has ublk: the ENODEV refusals were not checked (vblk_ublk_dev.sh tests the devices)"
fi

# A daemon in its sandbox (--user drops every capability; seccomp errno)
# refuses ublk add with EPERM and the reason, before opening anything,
# and serves on.
if id nobody >/dev/null 2>&1; then
	chmod 0755 "$VP_TMP"
	chmod 0666 "$IMG"
	vp_start_vblkd "$VP_TMP/user.log" --export name=ubk0,image="$IMG" --control "$CTL" --user nobody \
		--seccomp kill
	before=$(ublk_nodes)
	expect_refused 1 'drops its privileges \(--user\).*CAP_SYS_ADMIN.*vblkd-ublk.service' ublk add ubk0
	vp_assert_eq "$(ublk_nodes)" "$before" "ublk nodes"
	vp_assert_eq "$(ctl --json export list | jq -c '.exports[0].ublk')" null "ublk device in the listing"
	vp_assert_eq "$(ctl --json export list | jq -r '.exports[0].name')" ubk0 "the export after the refusal"
	vp_assert vp_stop_vblkd "$VP_PID"
	vp_ok "ublk add under --user: EPERM with the reason, the daemon serves on"
else
	vp_log "no user nobody: the --user refusal was not checked"
fi

