#!/usr/bin/env bash
# vblk_sandbox.sh - vblkd in its sandbox (issue 8 item 14): started as root
# with --user nobody and the default seccomp filter (--seccomp errno), it
# runs with the ids dropped, no capability, no_new_privs and a filter in
# force, refuses syscalls outside its allowlist (the $VBLKD_SECCOMP_SELFTEST
# probes: execve, unshare, socket(AF_NETLINK)), and still serves every
# front end: NBD (nbdcopy write + read back), the control socket (image
# create, export add/resize/remove, vhost add) and vhost-user (the C front
# end).  --seccomp kill kills the daemon on the first forbidden syscall;
# bad --user/--seccomp values are refused.
source "$(dirname "$0")/lib.sh"
vp_init sbx
vp_require_cmd nbdinfo nbdcopy

VBLKD="$VP_BUILD/bin/vblkd"
VBLKCTL="$VP_BUILD/bin/vblkctl"
FE="$VP_BUILD/tests/vhost_frontend"
[[ -x "$VBLKD" && -x "$VBLKCTL" ]] || vp_skip "vblkd/vblkctl not built in $VP_BUILD/bin"
[[ -x "$FE" ]] || vp_skip "vhost_frontend not built ($FE)"
id nobody >/dev/null 2>&1 || vp_skip "no user 'nobody' to drop to"
NOBODY_UID=$(id -u nobody) NOBODY_GID=$(id -g nobody)

# nobody must reach the images and the socket directory (as /var/lib/vplumb
# and /run/vplumb are the vplumb user's in the shipped units).
chmod 0755 "$VP_TMP"
IMG="$VP_TMP/images" RUN="$VP_TMP/run"
mkdir -m 0700 "$IMG" "$RUN"
chown nobody: "$IMG" "$RUN"
SOCK="$RUN/nbd.sock" CTL="$RUN/control.sock" VS="$RUN/vh.sock"
truncate -s 32M "$IMG/d0.img"
chown nobody: "$IMG/d0.img"
ctl() { "$VBLKCTL" --control "$CTL" "$@"; }
uri() { printf 'nbd+unix:///%s?socket=%s' "$1" "$SOCK"; }
fe() { timeout 120 "$FE" "$@"; }

# --- refusals ------------------------------------------------------------------
expect_refused() { # WHAT REGEX ARGS...: vblkd exits non-zero with REGEX on stderr
	local what="$1" re="$2" out
	shift 2
	out="$(timeout 10 "$VBLKD" --nbd "unix:$VP_TMP/x.sock" --export "name=x,image=$IMG/d0.img" "$@" 2>&1)" &&
		vp_fail "$what: vblkd started"
	vp_assert_match "$out" "$re" "$what"
}
expect_refused "--seccomp bogus" "--seccomp: expected off, errno, kill or log, got 'bogus'" --seccomp bogus
expect_refused "--user root" "--user root: names root" --user root
expect_refused "--user unknown" "--user: user 'vpt-sbx-nosuch'" --user vpt-sbx-nosuch
expect_refused "--user nobody:unknown" "--user: group 'vpt-sbx-nosuch'" --user nobody:vpt-sbx-nosuch
expect_refused "--user with --ublk" "--user and --ublk" --user nobody --ublk name=x
vp_ok "bad --user/--seccomp values and --user with --ublk refused"

# --- kill mode: the first forbidden syscall ends the process --------------------
rc=0
VBLKD_SECCOMP_SELFTEST=1 timeout 10 "$VBLKD" --nbd "unix:$RUN/k.sock" --export "name=x,image=$IMG/d0.img" \
	--user nobody --seccomp kill >"$VP_TMP/kill.log" 2>&1 || rc=$?
vp_assert_eq "$rc" $((128 + 31)) "--seccomp kill: exit status (SIGSYS) $(tail -3 "$VP_TMP/kill.log")"
vp_ok "--seccomp kill: a forbidden syscall kills the daemon with SIGSYS"

# --- the sandboxed daemon ----------------------------------------------------------
VBLKD_SECCOMP_SELFTEST=1 vp_start_daemon "$VP_TMP/vblkd.log" "$VBLKD" --nbd "unix:$SOCK" \
	--export "name=d0,image=$IMG/d0.img" --control "$CTL" --workers 2 --user nobody
DAEMON=$VP_PID
vp_wait_nbd "$(uri d0)" "$VP_TMP/vblkd.log"
alive() { kill -0 "$DAEMON" 2>/dev/null || vp_fail "vblkd died: $(tail -5 "$VP_TMP/vblkd.log")"; }

status="$(cat /proc/"$DAEMON"/status)"
field() { awk -v f="$1:" '$1 == f { $1 = ""; sub(/^ +/, ""); print }' <<<"$status"; }
vp_assert_eq "$(field Seccomp)" 2 "Seccomp (filter mode)"
vp_assert_eq "$(field NoNewPrivs)" 1 "NoNewPrivs"
vp_assert_eq "$(field Uid | tr -s '\t ' ' ')" "$NOBODY_UID $NOBODY_UID $NOBODY_UID $NOBODY_UID" "uids dropped"
vp_assert_eq "$(field Gid | tr -s '\t ' ' ')" "$NOBODY_GID $NOBODY_GID $NOBODY_GID $NOBODY_GID" "gids dropped"
groups=" $(field Groups) "
[[ "$groups" != *" 0 "* ]] || vp_fail "root's group kept: Groups:$groups"
for c in CapInh CapPrm CapEff CapAmb; do
	vp_assert_eq "$(field $c)" 0000000000000000 "$c"
done
# Every thread has the filter (they start after it goes in).
for t in /proc/"$DAEMON"/task/*; do
	vp_assert_eq "$(awk '$1 == "Seccomp:" { print $2 }' "$t/status")" 2 "Seccomp of thread ${t##*/}"
done
vp_ok "running as nobody, no capabilities, no_new_privs, seccomp filter on all threads"

for probe in execve unshare 'socket\(AF_NETLINK\)'; do
	vp_assert_match "$(cat "$VP_TMP/vblkd.log")" "event=sandbox.selftest syscall=$probe result=refused errno=1" \
		"probe $probe"
done
vp_ok "forbidden syscalls refused with EPERM (execve, unshare, socket(AF_NETLINK))"

# NBD: write through the daemon, read back.
head -c $((4 << 20)) /dev/urandom >"$VP_TMP/data"
vp_assert nbdcopy "$VP_TMP/data" "$(uri d0)"
vp_assert nbdcopy "$(uri d0)" "$VP_TMP/back"
vp_assert_eq "$(head -c $((4 << 20)) "$VP_TMP/back" | md5sum)" "$(md5sum <"$VP_TMP/data")" "NBD read back"
vp_assert_eq "$(head -c $((4 << 20)) "$IMG/d0.img" | md5sum)" "$(md5sum <"$VP_TMP/data")" "NBD data on the image"
vp_ok "NBD: nbdcopy write and read back under the filter"

# Control socket: images created and exports added, resized and removed at run time.
vp_assert ctl image create "$IMG/d1.img" 16M >/dev/null
vp_assert_eq "$(stat -c '%s %U' "$IMG/d1.img")" "$((16 << 20)) nobody" "image created by the daemon as nobody"
vp_assert ctl export add d1 "$IMG/d1.img" >/dev/null
vp_assert_eq "$(nbdinfo --size "$(uri d1)")" $((16 << 20)) "added export served"
vp_assert ctl image resize --export d1 24M >/dev/null
vp_assert_eq "$(nbdinfo --size "$(uri d1)")" $((24 << 20)) "resized export"
vp_assert ctl export remove d1 >/dev/null
vp_assert_fails nbdinfo --size "$(uri d1)" 2>/dev/null
# Outside what nobody may open: refused by the kernel, not by the filter.
out="$(ctl export add shadow /etc/shadow 2>&1)" && vp_fail "nobody exported /etc/shadow"
vp_assert_match "$out" "Permission denied" "/etc/shadow refused"
alive
vp_ok "control: image create, export add/resize/remove under the filter"

# vhost-user: a server added at run time (its socket bound as nobody), driven by the front end.
vp_assert ctl image create "$IMG/vh.img" 64M >/dev/null
vp_assert ctl export add vdisk "$IMG/vh.img" >/dev/null
vp_assert ctl vhost add vdisk "$VS" --queues 2 >/dev/null
vp_assert_eq "$(stat -c %U "$VS")" nobody "vhost-user socket bound by nobody"
fe "$VS" "$IMG/vh.img" vdisk smoke 2 >"$VP_TMP/fe.out" 2>&1 || vp_fail "vhost-user smoke: $(cat "$VP_TMP/fe.out")"
vp_assert_match "$(cat "$VP_TMP/fe.out")" 'ok - smoke \(2 queues\)' "vhost-user front end wrote, read back and verified"
vp_assert ctl vhost remove vdisk >/dev/null
alive
vp_ok "vhost-user: server added at run time, smoke test with 2 queues (memory regions, inflight, kicks)"

# Nothing the daemon did was refused: a syscall missing from the allowlist
# shows as EPERM ("Operation not permitted", errno=1) in some log line.
refused="$(grep -E 'Operation not permitted|errno=1( |$)|level=error' "$VP_TMP/vblkd.log" | grep -v 'event=sandbox.selftest' || true)"
[[ -z "$refused" ]] || vp_fail "the filter refused the daemon something: $(head -3 <<<"$refused")"
kill -TERM "$DAEMON"
rc=0
wait "$DAEMON" || rc=$?
vp_assert_eq "$rc" 0 "exit status after SIGTERM: $(tail -3 "$VP_TMP/vblkd.log")"
vp_assert_match "$(cat "$VP_TMP/vblkd.log")" 'event=vblkd.stopped' "drained and stopped"
vp_ok "SIGTERM drains and exits 0 under the filter"
