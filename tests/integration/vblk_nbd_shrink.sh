#!/usr/bin/env bash
# vblk_nbd_shrink.sh - a shrink racing with a connection still in the
# handshake (issue 8, item 4): a raw client reads the greeting and sends its
# flags, then stalls before NBD_OPT_GO while vblkctl shrinks the export.
# When it finishes the handshake it must be told the new size, a WRITE past
# it must fail (ENOSPC or EINVAL) and the image file must not grow back.
# Then the other order: once a client is in transmission, a shrink under it
# is refused (EBUSY) while a grow goes through.
source "$(dirname "$0")/lib.sh"
vp_init vbsh
PY=/usr/bin/python3
[[ -x $PY ]] || vp_skip "python3 not installed"
VBLKD="$VP_BUILD/bin/vblkd"
VBLKCTL="$VP_BUILD/bin/vblkctl"
[[ -x "$VBLKD" && -x "$VBLKCTL" ]] || vp_skip "vblkd/vblkctl not built in $VP_BUILD/bin"
SOCK="$VP_TMP/nbd.sock"
CTL="$VP_TMP/ctl.sock"
IMG="$VP_TMP/disk0.img"
MiB=$((1 << 20))
ctl() { "$VBLKCTL" --control "$CTL" "$@"; }

vp_start_vblkd "$VP_TMP/vblkd.log" --nbd "unix:$SOCK" --control "$CTL"
vp_assert ctl image create "$IMG" 16M >/dev/null
vp_assert ctl export add disk0 "$IMG" >/dev/null

cat >"$VP_TMP/stall.py" <<'PY'
import os, sys, time
sys.path.insert(0, sys.argv[1])
import nbd_raw

sock, tmp = sys.argv[2], sys.argv[3]
c = nbd_raw.Client(sock)
c.greet()
open(tmp + "/greeted", "w").close()
while not os.path.exists(tmp + "/resized"):
    time.sleep(0.05)
size, _ = c.go("disk0")
inside = c.write(1, size - 4096, b"\x5a" * 4096)
beyond = c.write(2, size, b"\xa5" * 4096)
print("size=%d inside=%d beyond=%d" % (size, inside, beyond))
PY

$PY "$VP_TMP/stall.py" "$(dirname "$0")" "$SOCK" "$VP_TMP" >"$VP_TMP/stall.out" 2>&1 &
CLIENT=$!
vp_on_exit "kill $CLIENT"
for ((i = 0; i < 100; i++)); do [[ -e $VP_TMP/greeted ]] && break; sleep 0.1; done
[[ -e $VP_TMP/greeted ]] || vp_fail "the client never got through the greeting: $(cat "$VP_TMP/stall.out")"
vp_assert ctl image resize --export disk0 8M >/dev/null
touch "$VP_TMP/resized"
wait $CLIENT || vp_fail "client failed: $(cat "$VP_TMP/stall.out")"
read -r out <"$VP_TMP/stall.out"
[[ $out =~ ^size=([0-9]+)\ inside=([0-9]+)\ beyond=([0-9]+)$ ]] || vp_fail "client said: $out"
vp_assert_eq "${BASH_REMATCH[1]}" $((8 * MiB)) "the client held in the handshake negotiates the new size"
vp_assert_eq "${BASH_REMATCH[2]}" 0 "a write inside the new size succeeds"
[[ ${BASH_REMATCH[3]} == 28 || ${BASH_REMATCH[3]} == 22 ]] ||
	vp_fail "a write past the new end answered ${BASH_REMATCH[3]}, not ENOSPC/EINVAL"
vp_assert_eq "$(stat -c %s "$IMG")" $((8 * MiB)) "the image did not grow back"
vp_ok "shrink during the handshake: the client sees 8M, the write past it fails (${BASH_REMATCH[3]}), the file stays 8M"

# A client in transmission holds the size it negotiated: shrinking under it
# is refused, growing is not.
cat >"$VP_TMP/hold.py" <<'PY'
import os, sys, time
sys.path.insert(0, sys.argv[1])
import nbd_raw

c = nbd_raw.Client(sys.argv[2])
size, _ = c.handshake("disk0")
print(size, flush=True)
while not os.path.exists(sys.argv[3] + "/done"):
    time.sleep(0.05)
PY
$PY "$VP_TMP/hold.py" "$(dirname "$0")" "$SOCK" "$VP_TMP" >"$VP_TMP/hold.out" 2>&1 &
HOLD=$!
vp_on_exit "kill $HOLD"
for ((i = 0; i < 100; i++)); do [[ -s $VP_TMP/hold.out ]] && break; sleep 0.1; done
vp_assert_eq "$(cat "$VP_TMP/hold.out")" $((8 * MiB)) "second client negotiated 8M"
out="$(ctl image resize --export disk0 4M 2>&1)" && vp_fail "shrink under a connected client succeeded"
vp_assert_match "$out" "cannot shrink" "shrink refused with the reason"
vp_assert ctl image resize --export disk0 12M >/dev/null
vp_assert_eq "$(stat -c %s "$IMG")" $((12 * MiB)) "grow under a connected client"
touch "$VP_TMP/done"
wait $HOLD || vp_fail "holding client failed: $(cat "$VP_TMP/hold.out")"
vp_ok "shrink refused under a client in transmission, grow allowed"
