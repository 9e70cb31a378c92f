#!/usr/bin/env bash
# vblk_sockets.sh - vblkd's unix sockets (common/unix_listen.h): under
# umask 000 the NBD and vhost-user sockets come out 0660 and the control
# socket 0600, --socket-group/--socket-mode applied; a second vblkd on a live
# NBD (or control, or vhost-user) socket fails with a clear message while
# the first keeps serving; a stale socket of a killed daemon is replaced; a
# non-socket at the path is refused and left alone; --socket-allow and
# --control-allow let only the listed peers in (SO_PEERCRED).
source "$(dirname "$0")/lib.sh"
vp_init vsk
vp_require_cmd nbdinfo setpriv

VBLKD="$VP_BUILD/bin/vblkd"
VBLKCTL="$VP_BUILD/bin/vblkctl"
[[ -x "$VBLKD" && -x "$VBLKCTL" ]] || vp_skip "vblkd/vblkctl not built in $VP_BUILD/bin"
chmod 755 "$VP_TMP" # other uids connect in the allow-list checks
IMG="$VP_TMP/d0.img"
truncate -s 16M "$IMG"
SOCK="$VP_TMP/nbd.sock" CTL="$VP_TMP/ctl.sock" VHS="$VP_TMP/vhost.sock"
uri() { printf 'nbd+unix:///d0?socket=%s' "${1:-$SOCK}"; }
as_nobody() { setpriv --reuid 65534 --regid 65534 --clear-groups "$@"; }

# second_fails WHAT REGEX ARGS...: a second vblkd with ARGS exits non-zero
# within 10 s, saying REGEX.
second_fails() {
	local what=$1 re=$2 out rc=0
	shift 2
	out=$(timeout 10 "$VBLKD" "$@" 2>&1) || rc=$?
	((rc != 0 && rc != 124)) || vp_fail "$what: second vblkd exit status $rc (want a prompt failure)"
	vp_assert_match "$out" "$re" "$what: error message"
}

# --- modes under umask 000, group -----------------------------------------------
OLD_UMASK=$(umask)
umask 000
vp_start_vblkd "$VP_TMP/a.log" --nbd "unix:$SOCK" --control "$CTL" \
	--export "name=d0,image=$IMG" --vhost-user "name=d0,socket=$VHS" --socket-group disk
umask "$OLD_UMASK"
A=$VP_PID
vp_assert_eq "$(stat -c '%a %G' "$SOCK")" "660 disk" "NBD socket mode/group at umask 000"
vp_assert_eq "$(stat -c '%a %G' "$VHS")" "660 disk" "vhost-user socket mode/group at umask 000"
vp_assert_eq "$(stat -c '%a %G' "$CTL")" "600 root" "control socket mode/group at umask 000"
vp_assert_eq "$(find "$VP_TMP" -name '.vp-sock-*' | wc -l)" 0 "no private bind directory left"
vp_ok "socket modes 0660/0660/0600 under umask 000, --socket-group applied"

# --- a second daemon on live sockets -----------------------------------------------
second_fails "live NBD socket" "unix socket $SOCK: another server is listening on it" \
	--nbd "unix:$SOCK" --export "name=d0,image=$IMG,readonly=on"
second_fails "live control socket" "unix socket $CTL: another server is listening on it" \
	--control "$CTL"
second_fails "live vhost-user socket" "unix socket $VHS: another server is listening on it" \
	--export "name=d0,image=$IMG,readonly=on" --vhost-user "name=d0,socket=$VHS"
kill -0 "$A" 2>/dev/null || vp_fail "the first vblkd died"
vp_assert_eq "$(nbdinfo --size "$(uri)")" $((16 << 20)) "first vblkd still serves NBD"
"$VBLKCTL" --control "$CTL" export list >/dev/null || vp_fail "first vblkd's control socket broke"
vp_assert_eq "$(stat -c '%a %G' "$SOCK")" "660 disk" "NBD socket untouched by the second vblkd"
vp_ok "a second vblkd on live sockets fails clearly, the first keeps serving"

# --- stale sockets of a killed daemon are replaced ---------------------------------
kill -9 "$A"
wait "$A" 2>/dev/null || true
# The kernel closes a dead process's io_uring (which holds the listening
# sockets) asynchronously: wait until connecting is refused.
for ((i = 0; i < 50; i++)); do
	/usr/bin/python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' \
		"$SOCK" 2>&1 | grep -q ConnectionRefused && break
	sleep 0.1
done
[[ -S "$SOCK" && -S "$CTL" && -S "$VHS" ]] || vp_fail "SIGKILL should leave the socket files"
umask 000
vp_start_vblkd "$VP_TMP/b.log" --nbd "unix:$SOCK" --control "$CTL" \
	--export "name=d0,image=$IMG" --vhost-user "name=d0,socket=$VHS" --socket-mode 0600
umask "$OLD_UMASK"
B=$VP_PID
vp_wait_nbd "$(uri)" "$VP_TMP/b.log"
"$VBLKCTL" --control "$CTL" export list >/dev/null || vp_fail "restarted control socket"
vp_assert_eq "$(stat -c '%a' "$SOCK") $(stat -c '%a' "$VHS")" "600 600" "--socket-mode 0600"
vp_ok "stale sockets replaced"
vp_stop_vblkd "$B" || true

# --- a non-socket at the path is refused and left alone ----------------------------
echo precious >"$VP_TMP/file"
second_fails "regular file at the NBD path" "$VP_TMP/file: exists and is not a socket" \
	--nbd "unix:$VP_TMP/file" --export "name=d0,image=$IMG"
vp_assert_eq "$(cat "$VP_TMP/file")" precious "the file at the NBD path is untouched"
ln -s "$VP_TMP/file" "$VP_TMP/link"
second_fails "symlink at the control path" "$VP_TMP/link: exists and is not a socket" \
	--control "$VP_TMP/link"
vp_assert_eq "$(cat "$VP_TMP/file")" precious "the symlink's target is untouched"
vp_ok "non-socket paths refused"

# --- allow-lists ---------------------------------------------------------------------
vp_start_vblkd "$VP_TMP/c.log" --nbd "unix:$SOCK" --control "$CTL" \
	--export "name=d0,image=$IMG" --socket-mode 0666 --control-mode 0666 \
	--socket-allow user:65534
C=$VP_PID
as_nobody nbdinfo --size "$(uri)" >/dev/null || vp_fail "allow-listed uid 65534 refused: $(tail -3 "$VP_TMP/c.log")"
vp_assert_fails nbdinfo --size "$(uri)" 2>/dev/null # root is not on the list
grep -q 'nbd.peer.refused.*uid=0' "$VP_TMP/c.log" || vp_fail "refused NBD peer not logged"
vp_assert_fails as_nobody "$VBLKCTL" --control "$CTL" export list 2>/dev/null
grep -q 'control.refused.*uid=65534' "$VP_TMP/c.log" || vp_fail "refused control peer not logged"
"$VBLKCTL" --control "$CTL" export list >/dev/null || vp_fail "root refused on the control socket"
vp_stop_vblkd "$C" || true
vp_start_vblkd "$VP_TMP/d.log" --control "$CTL" --control-mode 0666 \
	--control-allow user:65534
as_nobody "$VBLKCTL" --control "$CTL" export list >/dev/null ||
	vp_fail "--control-allow user:65534 refused: $(tail -3 "$VP_TMP/d.log")"
vp_ok "--socket-allow and --control-allow let only listed peers in"
