#!/usr/bin/env bash
# vblk_image_root.sh - image paths from control requests and the command
# line (vblk/image_path.h).  With --image-root: /etc/shadow and ../ paths,
# a symlink inside the root pointing out (as the image or as a directory on
# the way), resize and create through a symlink are refused with clear
# errors and the target is untouched; a FIFO is refused promptly; a regular
# image beneath the root is created, exported, served and resized; a
# command-line export outside the root stops the daemon.  Without a root: a
# FIFO, a char device and a symlink as the last component are refused too.
source "$(dirname "$0")/lib.sh"
vp_init vir
vp_require_cmd nbdinfo mkfifo

VBLKD="$VP_BUILD/bin/vblkd"
VBLKCTL="$VP_BUILD/bin/vblkctl"
[[ -x "$VBLKD" && -x "$VBLKCTL" ]] || vp_skip "vblkd/vblkctl not built in $VP_BUILD/bin"
ROOT="$VP_TMP/images" OUT="$VP_TMP/outside"
mkdir "$ROOT" "$OUT"
SOCK="$VP_TMP/nbd.sock" CTL="$VP_TMP/ctl.sock"
# Every request gets 10 s: a FIFO open that blocked would show up as 124.
ctl() { timeout 10 "$VBLKCTL" --control "$CTL" "$@"; }

# refused WHAT REGEX CMD...: vblkctl CMD is refused (exit 1, not a timeout)
# with an error matching REGEX.
refused() {
	local what=$1 re=$2 out rc=0
	shift 2
	out=$(ctl "$@" 2>&1) || rc=$?
	((rc == 1)) || vp_fail "$what: vblkctl exit status $rc, want 1 (refused): $out"
	vp_assert_match "$out" "$re" "$what"
}

echo "outside data" >"$OUT/secret"
truncate -s 1M "$OUT/target.img"
ln -s "$OUT/secret" "$ROOT/evil.img"
ln -s "$OUT/target.img" "$ROOT/link.img"
ln -s "$OUT" "$ROOT/sub"
mkfifo "$ROOT/fifo.img"

# --- a command-line export outside the root stops the daemon ------------------------
out=$(timeout 10 "$VBLKD" --image-root "$ROOT" --nbd "unix:$SOCK" \
	--export "name=x,image=$OUT/target.img" 2>&1) && vp_fail "export outside the root accepted"
vp_assert_match "$out" "image $OUT/target.img: not beneath the image root $ROOT/" \
	"command-line export outside the root"
out=$(timeout 10 "$VBLKD" --image-root "$VP_TMP/none" --control "$CTL" 2>&1) &&
	vp_fail "missing image root accepted"
vp_assert_match "$out" "--image-root: image root $VP_TMP/none: No such file or directory" \
	"missing image root"
vp_ok "start-time paths outside the root refused"

vp_start_vblkd "$VP_TMP/a.log" --control "$CTL" --nbd "unix:$SOCK" --image-root "$ROOT/"

# --- paths that leave the root --------------------------------------------------------
refused "/etc/shadow" "image /etc/shadow: not beneath the image root $ROOT/" \
	export add shadow /etc/shadow --readonly
refused "/etc/shadow info" "not beneath the image root" image info /etc/shadow
refused "../ path" "image $ROOT/../outside/secret: leaves the image root $ROOT/" \
	export add up "$ROOT/../outside/secret" --readonly
refused "root-prefix lookalike" "not beneath the image root" \
	export add like "${ROOT}x/d.img" --readonly
refused "the root itself" "not beneath the image root" image info "$ROOT"
vp_ok "/etc/shadow, ../ and lookalike paths refused"

# --- symlinks ---------------------------------------------------------------------------
refused "symlink image" "image $ROOT/evil.img: a symbolic link in the path" \
	export add evil "$ROOT/evil.img" --readonly
refused "symlinked directory" "image $ROOT/sub/secret: a symbolic link in the path" \
	export add sub "$ROOT/sub/secret" --readonly
refused "resize through a symlink" "a symbolic link in the path" image resize "$ROOT/link.img" 4096
refused "resize through a symlinked dir" "a symbolic link in the path" \
	image resize "$ROOT/sub/target.img" 4096
vp_assert_eq "$(stat -c %s "$OUT/target.img")" $((1 << 20)) "symlink target not truncated"
refused "create over a symlink" "File exists" image create "$ROOT/link.img" 4096
refused "create through a symlinked dir" "a symbolic link in the path" \
	image create "$ROOT/sub/new.img" 1M
[[ ! -e "$OUT/new.img" ]] || vp_fail "image created outside the root through a symlink"
vp_assert_eq "$(cat "$OUT/secret")" "outside data" "symlink target untouched"
vp_ok "symlinks (image, directory, resize, create) refused, targets untouched"

# --- a FIFO ------------------------------------------------------------------------------
refused "FIFO export" "image $ROOT/fifo.img: not a regular file or block device" \
	export add fifo "$ROOT/fifo.img"
refused "FIFO read-only export" "not a regular file or block device" \
	export add fifo "$ROOT/fifo.img" --readonly
refused "FIFO info" "not a regular file or block device" image info "$ROOT/fifo.img"
refused "FIFO resize" "not a regular file or block device" image resize "$ROOT/fifo.img" 4096
vp_ok "FIFO refused promptly"

# --- a regular image beneath the root works ---------------------------------------------
vp_assert ctl image create "$ROOT/d0.img" 16M >/dev/null
mkdir "$ROOT/dir"
vp_assert ctl image create "$ROOT/dir/d1.img" 1M --preallocate >/dev/null
vp_assert ctl image resize "$ROOT/dir/d1.img" 2M >/dev/null
vp_assert_eq "$(stat -c '%s %a' "$ROOT/dir/d1.img")" "$((2 << 20)) 600" "image created and resized beneath the root"
vp_assert ctl export add d0 "$ROOT/d0.img" >/dev/null
vp_assert_eq "$(nbdinfo --size "nbd+unix:///d0?socket=$SOCK")" $((16 << 20)) "export beneath the root served"
vp_assert ctl image resize --export d0 32M >/dev/null
vp_assert_eq "$(nbdinfo --size "nbd+unix:///d0?socket=$SOCK")" $((32 << 20)) "export resized beneath the root"
kill -0 "$VP_PID" || vp_fail "vblkd died"
vp_ok "regular images beneath the root: create, export, serve, resize"
vp_stop_vblkd || true

# --- without a root: FIFO, char device, final symlink ----------------------------------
vp_start_vblkd "$VP_TMP/b.log" --control "$CTL" --nbd "unix:$SOCK"
refused "FIFO without a root" "not a regular file or block device" export add fifo "$ROOT/fifo.img"
refused "char device without a root" "image /dev/null: not a regular file or block device" \
	export add null /dev/null --readonly
refused "symlink without a root" "image $ROOT/link.img: a symbolic link \\(refused\\)" \
	image resize "$ROOT/link.img" 4096
vp_assert_eq "$(stat -c %s "$OUT/target.img")" $((1 << 20)) "symlink target not truncated"
vp_assert ctl export add t "$OUT/target.img" >/dev/null
vp_ok "without --image-root: FIFO, char device and final symlink refused, plain files work"
