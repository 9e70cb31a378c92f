#!/usr/bin/env bash
# vblk_nbd_clients.sh - vblkd's NBD export driven by real clients from
# Debian: nbdinfo (size, --list, --map), nbdsh (trim/zero/block status,
# read-only EPERM), nbdcopy (multi-conn round trip, cmp), qemu-img compare,
# qemu-io patterns (FUA, flush, write-zeroes), cache=none, TCP, and a
# graceful SIGTERM drain.
source "$(dirname "$0")/lib.sh"
vp_init vbn
vp_require_cmd nbdinfo nbdcopy nbdsh qemu-io qemu-img cmp

VBLKD="$VP_BUILD/bin/vblkd"
[[ -x "$VBLKD" ]] || vp_skip "vblkd not built ($VBLKD)"
SOCK="$VP_TMP/nbd.sock"
IMG="$VP_TMP/disk0.img"
RO="$VP_TMP/ro.img"
SIZE=$((64 << 20))
# nbdsh runs "python3" from PATH; the Debian one has the nbd module.
PATH="/usr/bin:$PATH"
/usr/bin/python3 -c 'import nbd' 2>/dev/null || vp_skip "python3-libnbd (nbd module) not installed"

uri() { printf 'nbd+unix:///%s?socket=%s' "$1" "${2:-$SOCK}"; }


truncate -s $SIZE "$IMG"
head -c $((8 << 20)) /dev/urandom >"$RO"
truncate -s $((8 << 20)) "$RO"
exports=(--export "name=disk0,image=$IMG,description=vplumb test disk"
	--export "name=ro,image=$RO,readonly=on")
# cache=none needs a filesystem with O_DIRECT; tmpfs has it since Linux 6.6.
DIRECT="$VP_TMP/direct.img"
truncate -s $((16 << 20)) "$DIRECT"
if dd if="$DIRECT" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null; then
	exports+=(--export "name=direct,image=$DIRECT,cache=none")
else
	DIRECT=""
fi
vp_start_daemon "$VP_TMP/vblkd.log" "$VBLKD" --nbd "unix:$SOCK" --workers 2 "${exports[@]}"
DAEMON=$VP_PID
vp_wait_nbd "$(uri disk0)" "$VP_TMP/vblkd.log"

# --- nbdinfo --------------------------------------------------------------
vp_assert_eq "$(nbdinfo --size "$(uri disk0)")" "$SIZE" "export size"
list="$(nbdinfo --list "$(uri "")")"
vp_assert_match "$list" 'export="disk0"' "list shows disk0"
vp_assert_match "$list" 'export="ro"' "list shows ro"
vp_assert_match "$list" 'description: vplumb test disk' "list shows the description"
info="$(nbdinfo "$(uri disk0)")"
for cap in can_multi_conn can_trim can_zero can_fua can_flush can_fast_zero can_cache; do
	vp_assert_match "$info" "$cap: true" "$cap advertised"
done
vp_assert_match "$info" 'base:allocation' "base:allocation context"
vp_assert_match "$(nbdinfo "$(uri ro)")" 'is_read_only: true' "ro export is read-only"
vp_assert_fails nbdinfo --size "$(uri nosuch)"
vp_ok "nbdinfo: size, list, description, flags"

# --- qemu-io patterns -----------------------------------------------------
qio() { qemu-io -f raw "$(uri "$1")" "${@:2}"; }
vp_assert qio disk0 -c 'write -P 0xab 0 1M' -c 'read -P 0xab 0 1M' >/dev/null
out="$(qio disk0 -c 'read -P 0xcd 0 4k' 2>&1 || true)"
vp_assert_match "$out" 'Pattern verification failed' "a wrong pattern is detected"
vp_assert qio disk0 -c 'write -f -P 0x11 1M 64k' -c 'flush' -c 'read -P 0x11 1M 64k' >/dev/null
vp_assert qio disk0 -c 'write -P 0x22 2M 1M' -c 'write -z 2M 512k' -c 'write -z -u 2560k 512k' \
	-c 'read -P 0 2M 1M' >/dev/null
vp_assert qio disk0 -c 'write -P 0x33 3M 8M' -c 'read -P 0x33 3M 8M' >/dev/null   # > 1 slot buffer
vp_assert qio disk0 -c "write -P 0x44 $((SIZE - 4096)) 4096" -c "read -P 0x44 $((SIZE - 4096)) 4096" >/dev/null
out="$(qio disk0 -c "read 0 $((SIZE + 4096))" 2>&1 || true)"
vp_assert_match "$out" '(Input/output error|Invalid argument|out of bounds|beyond)' "read past the end fails"
vp_ok "qemu-io: patterns, FUA, flush, write-zeroes, large and tail I/O"

# --- trim leaves a hole in the map -------------------------------------------
vp_assert qio disk0 -c 'write -P 0x55 16M 4M' -c 'discard 17M 1M' -c 'read -P 0 17M 1M' >/dev/null
map="$(nbdinfo --map "$(uri disk0)")"
vp_assert_match "$map" "$((17 << 20)) +$((1 << 20)) +3 +hole,zero" "trimmed range is a hole"
vp_assert_match "$map" "$((16 << 20)) +$((1 << 20)) +0 +data" "written range before it is data"
cat >"$VP_TMP/bs.py" <<'PY'
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.connect_uri(URI)
h.trim(1 << 20, 40 << 20)
h.zero(1 << 20, 41 << 20, nbd.CMD_FLAG_NO_HOLE)
h.zero(1 << 20, 42 << 20, nbd.CMD_FLAG_FAST_ZERO)
assert h.pread(1 << 20, 41 << 20) == bytes(1 << 20)
seen = []
def cb(meta, off, entries, err):
    if meta == nbd.CONTEXT_BASE_ALLOCATION:
        seen.extend(entries)
    return 0
h.block_status(4 << 20, 40 << 20, cb)
assert seen[1] == 3, seen           # hole,zero after trim
h.block_status(4 << 20, 40 << 20, cb, nbd.CMD_FLAG_REQ_ONE)
h.pwrite(b"\x66" * 4096, 48 << 20, nbd.CMD_FLAG_FUA)
h.flush()
h.cache(1 << 20, 0)
assert h.pread(4096, 48 << 20) == b"\x66" * 4096
print("ok")
PY
vp_assert_eq "$(nbdsh -c "URI='$(uri disk0)'" -c "exec(open('$VP_TMP/bs.py').read())")" ok "nbdsh trim/zero/block status"
vp_ok "trim, write-zeroes (NO_HOLE, FAST_ZERO), block status, FUA, cache"

# --- read-only export -------------------------------------------------------
cat >"$VP_TMP/ro.py" <<'PY'
import errno
h.set_strict_mode(0)          # let the server, not libnbd, refuse
h.connect_uri(URI)
try:
    h.pwrite(b"x" * 512, 0)
    raise SystemExit("write to read-only export succeeded")
except nbd.Error as e:
    assert e.errno == "EPERM", e
try:
    h.trim(512, 0)
    raise SystemExit("trim on read-only export succeeded")
except nbd.Error as e:
    assert e.errno == "EPERM", e
try:
    h.pread(512, 8 << 20)
    raise SystemExit("out-of-range read succeeded")
except nbd.Error as e:
    assert e.errno == "EINVAL", e
print("ok")
PY
vp_assert_eq "$(nbdsh -c "URI='$(uri ro)'" -c "exec(open('$VP_TMP/ro.py').read())")" ok "read-only refusals"
vp_assert cmp <(nbdcopy "$(uri ro)" -) "$RO"
vp_ok "read-only export: EPERM on write/trim, EINVAL out of range, contents intact"

# --- nbdcopy round trip, multi-conn ---------------------------------------------
SRC="$VP_TMP/src.img"
head -c $((24 << 20)) /dev/urandom >"$SRC"
truncate -s $SIZE "$SRC"    # sparse tail
vp_assert nbdcopy --connections=4 --flush "$SRC" "$(uri disk0)"
vp_assert nbdcopy --connections=4 "$(uri disk0)" "$VP_TMP/back.img"
vp_assert cmp "$SRC" "$VP_TMP/back.img"
vp_assert cmp "$SRC" "$IMG"
vp_assert qemu-img compare -f raw -F raw "$SRC" "$(uri disk0)" >/dev/null
vp_ok "nbdcopy round trip (4 connections) bit-for-bit; qemu-img compare"

# --- cache=none -----------------------------------------------------------------
if [[ -n "$DIRECT" ]]; then
	vp_assert_match "$(nbdinfo "$(uri direct)")" 'block_size_minimum: 4096' "cache=none minimum block"
	vp_assert qio direct -c 'write -P 0x77 4k 1M' -c 'read -P 0x77 4k 1M' >/dev/null
	head -c $((16 << 20)) "$SRC" >"$VP_TMP/src16.img"
	vp_assert nbdcopy "$VP_TMP/src16.img" "$(uri direct)"
	vp_assert cmp "$VP_TMP/src16.img" "$DIRECT"
	vp_ok "cache=none (O_DIRECT): aligned I/O, 4096 minimum block"
else
	vp_log "cache=none part skipped: no O_DIRECT on $VP_TMP"
fi

# --- TCP -------------------------------------------------------------------------
PORT=$((20000 + RANDOM % 20000))
vp_start_daemon "$VP_TMP/vblkd-tcp.log" "$VBLKD" --nbd "tcp:127.0.0.1:$PORT" --export "name=disk0,image=$RO,readonly=on"
vp_wait_nbd "nbd://127.0.0.1:$PORT/disk0" "$VP_TMP/vblkd-tcp.log"
vp_assert_eq "$(nbdinfo --size "nbd://127.0.0.1:$PORT/disk0")" $((8 << 20)) "size over TCP"
vp_assert cmp <(nbdcopy "nbd://127.0.0.1:$PORT/disk0" -) "$RO"
vp_ok "TCP listener"

# --- bad command lines --------------------------------------------------------------
vp_assert_fails "$VBLKD" --nbd "unix:$VP_TMP/x.sock" --export "name=a" 2>/dev/null
vp_assert_fails "$VBLKD" --nbd "unix:$VP_TMP/x.sock" --export "name=a,image=$VP_TMP/none" 2>/dev/null
vp_assert_fails "$VBLKD" --nbd "udp:1" --export "name=a,image=$IMG" 2>/dev/null
vp_assert_fails "$VBLKD" --nbd "unix:$VP_TMP/x.sock" --export "name=a,image=$IMG,cache=bogus" 2>/dev/null
vp_assert_fails "$VBLKD" --nbd "unix:$VP_TMP/x.sock" --export "name=a,image=$IMG" --export "name=a,image=$RO" 2>/dev/null
err="$("$VBLKD" --nbd "unix:$VP_TMP/x.sock" --export "name=a,image=$VP_TMP/none" 2>&1 || true)"
vp_assert_match "$err" 'event=vblkd.failed error="export a: open image .*/none: No such file' "clear error"
[[ ! -e "$VP_TMP/x.sock" ]] || vp_fail "failed start left a socket behind"
vp_ok "bad command lines fail with a clear error"

# --- SIGTERM drain ------------------------------------------------------------------
nbdsh -u "$(uri disk0)" -c 'import time; time.sleep(30)' &
IDLE=$!
vp_on_exit "kill $IDLE"
sleep 0.3
kill -TERM "$DAEMON"
for ((i = 0; i < 50; i++)); do kill -0 "$DAEMON" 2>/dev/null || break; sleep 0.1; done
kill -0 "$DAEMON" 2>/dev/null && vp_fail "vblkd did not exit after SIGTERM with an idle client"
wait "$DAEMON" || vp_fail "vblkd exit status $? after SIGTERM"
vp_assert_match "$(cat "$VP_TMP/vblkd.log")" 'event=vblkd.stopped' "stop logged"
[[ ! -e "$SOCK" ]] || vp_fail "socket left behind after SIGTERM"
vp_ok "SIGTERM: idle client disconnected, exit 0, socket removed"
