#!/usr/bin/env bash
# vblk_control.sh - vblkctl against a running vblkd: a --config file plus
# command-line exports, export add/list/remove while an NBD client works
# (remove refused while connected, --force drains it), image create / info /
# resize (live export: new connections see the new size, shrinking under a
# client is refused), stats showing a qemu-io run's I/O, malformed control
# requests answered with clear errors while the daemon stays up, the control
# socket's 0600 mode, vblkctl exit codes, and SIGTERM cleanup.  vhost-user:
# a server from the config file, one added with vblkctl vhost add and driven
# by tests/tools/vhost_frontend (write, read back, live resize notice), the
# export-list view, vhost remove (socket gone, reconnect fails), refusals.
source "$(dirname "$0")/lib.sh"
vp_init vbc
vp_require_cmd nbdinfo nbdsh qemu-io
PY=/usr/bin/python3
[[ -x $PY ]] || vp_skip "python3 not installed"
PATH="/usr/bin:$PATH" # nbdsh needs the Debian python3 with the nbd module
$PY -c 'import nbd' 2>/dev/null || vp_skip "python3-libnbd (nbd module) not installed"

VBLKD="$VP_BUILD/bin/vblkd"
VBLKCTL="$VP_BUILD/bin/vblkctl"
[[ -x "$VBLKD" && -x "$VBLKCTL" ]] || vp_skip "vblkd/vblkctl not built in $VP_BUILD/bin"
FE="$VP_BUILD/tests/vhost_frontend"
[[ -x "$FE" ]] || vp_skip "vhost_frontend not built ($FE)"
fe() { timeout 120 "$FE" "$@"; }
SOCK="$VP_TMP/nbd.sock"
CTL="$VP_TMP/control.sock"
ctl() { "$VBLKCTL" --control "$CTL" "$@"; }
uri() { printf 'nbd+unix:///%s?socket=%s' "$1" "$SOCK"; }
# raw LINE: send one raw request line, print the response line.
raw() {
	$PY - "$CTL" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
buf = b""
while not buf.endswith(b"\n"):
    c = s.recv(65536)
    if not c:
        break
    buf += c
print(buf.decode().strip())
PY
}
# expect_error LINE ERRNO REGEX: the request fails with that errno and message.
expect_error() {
	local out
	out="$(raw "$1")"
	vp_assert_eq "$(jq -r .ok <<<"$out")" false "ok for $1"
	vp_assert_eq "$(jq -r .errno <<<"$out")" "$2" "errno for $1 ($out)"
	vp_assert_match "$(jq -r .error <<<"$out")" "$3" "error for $1"
}

D0="$VP_TMP/d0.img"
truncate -s $((32 << 20)) "$D0"
truncate -s $((8 << 20)) "$VP_TMP/cli.img"
cat >"$VP_TMP/vblkd.json" <<EOF
{"nbd": ["unix:$SOCK"], "control": "$CTL", "workers": 2,
 "exports": [{"name": "disk0", "image": "$D0", "description": "from the config"}],
 "vhost": [{"name": "cli", "socket": "$VP_TMP/cfg.vhost.sock"}]}
EOF
OLD_UMASK=$(umask)
umask 000 # the control socket must still come out 0600
vp_start_vblkd "$VP_TMP/vblkd.log" --config "$VP_TMP/vblkd.json" \
	--export "name=cli,image=$VP_TMP/cli.img,readonly=on"
umask "$OLD_UMASK"
DAEMON=$VP_PID
alive() { kill -0 "$DAEMON" 2>/dev/null || vp_fail "vblkd died: $(tail -5 "$VP_TMP/vblkd.log")"; }

# --- socket, config, list --------------------------------------------------------
vp_assert_eq "$(stat -c '%a %U' "$CTL")" "600 root" "control socket mode (even with umask 000)"
list="$(ctl export list)"
vp_assert_match "$list" 'disk0 +32M no +writeback +0 +.*/d0.img +\(from the config\)' "config export listed"
vp_assert_match "$list" 'cli +8M yes' "command-line export listed"
vp_assert_eq "$(ctl --json export list | jq -r '[.exports[].name] | join(",")')" "disk0,cli" "--json list"
vp_assert_eq "$(nbdinfo --size "$(uri disk0)")" $((32 << 20)) "config export served"
# A request whose newline never comes is answered at EOF (printf | nc -U).
raw="$($PY -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"{\"command\":\"export-list\"}"); s.shutdown(socket.SHUT_WR)
print(s.makefile().read(), end="")' "$CTL")"
vp_assert_eq "$(jq -r '[.exports[].name] | join(",")' <<<"$raw")" "disk0,cli" "unterminated last request answered"
vp_ok "config file + command line exports, control socket 0600, export list"

# --- images ---------------------------------------------------------------------
vp_assert ctl image create "$VP_TMP/d1.img" 16M >/dev/null
vp_assert_eq "$(stat -c %s "$VP_TMP/d1.img")" $((16 << 20)) "created size"
info="$(ctl --json image info "$VP_TMP/d1.img")"
vp_assert_eq "$(jq -r .image.size <<<"$info")" $((16 << 20)) "info size"
vp_assert_eq "$(jq -r .image.allocated <<<"$info")" 0 "sparse image has nothing allocated"
(cd "$VP_TMP" && vp_assert ctl image create pre.img 1M --preallocate >/dev/null)
vp_assert_eq "$(ctl --json image info "$VP_TMP/pre.img" | jq -r .image.allocated)" $((1 << 20)) \
	"preallocated image (relative path resolved by vblkctl)"
vp_assert_match "$(ctl image info "$D0")" 'exports: +disk0' "info names the export"
out="$(ctl image create "$VP_TMP/d1.img" 1M 2>&1)" && vp_fail "create over an existing image succeeded"
vp_assert_match "$out" 'File exists' "create refuses existing files"
out="$(ctl image create "$VP_TMP" 1M 2>&1)" && vp_fail "create on a directory succeeded"
vp_assert_match "$out" "create image $VP_TMP: File exists" "create on a directory"
out="$(ctl image info "$VP_TMP" 2>&1)" && vp_fail "info on a directory succeeded"
vp_assert_match "$out" 'Is a directory' "info on a directory"
vp_assert ctl image resize "$VP_TMP/d1.img" 24M >/dev/null
vp_assert_eq "$(stat -c %s "$VP_TMP/d1.img")" $((24 << 20)) "resized file"
out="$(ctl image resize "$D0" 40M 2>&1)" && vp_fail "resize of an exported image by path succeeded"
vp_assert_match "$out" 'exported as disk0' "resize by path refuses exported images"
vp_ok "image create (sparse, preallocated), info, resize; clear refusals"

# --- exports while a client works --------------------------------------------------
vp_assert ctl export add disk1 "$VP_TMP/d1.img" --description "added live" >/dev/null
vp_assert_eq "$(nbdinfo --size "$(uri disk1)")" $((24 << 20)) "new export served"
cat >"$VP_TMP/client.py" <<'PY'
import os, time
h.connect_uri(URI)
print("size0", h.get_size(), flush=True)
n, phase = 0, 0
try:
    while True:
        h.pwrite(b"\xaa" * 4096, (n % 64) * 4096)
        assert h.pread(4096, (n % 64) * 4096) == b"\xaa" * 4096
        n += 1
        if phase == 0 and os.path.exists(MARK):
            print("after-resize size", h.get_size(), "ops", n, flush=True)
            phase = 1
        time.sleep(0.02)
except nbd.Error as e:
    print("closed after", n, "ops:", e, flush=True)
PY
nbdsh -c "URI='$(uri disk1)'; MARK='$VP_TMP/mark'" -c "exec(open('$VP_TMP/client.py').read())" \
	>"$VP_TMP/client.out" 2>&1 &
CLIENT=$!
vp_on_exit "kill $CLIENT"
for ((i = 0; i < 100; i++)); do grep -qs size0 "$VP_TMP/client.out" && break; sleep 0.05; done
vp_assert_match "$(cat "$VP_TMP/client.out")" "size0 $((24 << 20))" "client connected"
vp_assert_match "$(ctl export list)" 'disk1 +24M no +writeback +1 ' "one connection shown"
out="$(ctl export remove disk1 2>&1)" && vp_fail "remove with a connected client succeeded"
vp_assert_match "$out" 'disk1 has 1 connected client' "remove refused while connected"
vp_assert ctl export add disk2 "$VP_TMP/pre.img" --readonly >/dev/null
vp_assert_eq "$(nbdinfo --size "$(uri disk2)")" $((1 << 20)) "export added while a client works"
vp_assert ctl export remove disk2 >/dev/null
vp_assert_fails nbdinfo --size "$(uri disk2)" 2>/dev/null
vp_assert ctl image resize --export disk1 48M >/dev/null
vp_assert_eq "$(nbdinfo --size "$(uri disk1)")" $((48 << 20)) "new connections see the new size"
touch "$VP_TMP/mark"
for ((i = 0; i < 100; i++)); do grep -qs after-resize "$VP_TMP/client.out" && break; sleep 0.05; done
vp_assert_match "$(cat "$VP_TMP/client.out")" "after-resize size $((24 << 20))" \
	"the existing connection keeps its size and keeps working"
out="$(ctl image resize --export disk1 4M 2>&1)" && vp_fail "shrink under a client succeeded"
vp_assert_match "$out" 'cannot shrink' "shrink refused while connected"
vp_assert_match "$(ctl export remove disk1 --force)" 'draining 1 connection' "forced remove"
wait "$CLIENT" || true
vp_assert_match "$(cat "$VP_TMP/client.out")" 'closed after [0-9]+ ops' "client drained and closed"
vp_assert_match "$(cat "$VP_TMP/vblkd.log")" 'event=nbd.conn.drain .*reason=export-removed' "drain logged"
vp_assert_fails nbdinfo --size "$(uri disk1)" 2>/dev/null
vp_assert_eq "$(ctl --json export list | jq -r '[.exports[].name] | join(",")')" "disk0,cli" "list after removes"
vp_ok "export add/remove while a client works; live resize; forced remove drains"

# --- stats -------------------------------------------------------------------------
vp_assert qemu-io -f raw "$(uri disk0)" -c 'write -P 0x5a 0 4M' -c 'read -P 0x5a 0 4M' -c 'flush' \
	-c 'discard 8M 1M' >/dev/null
sleep 2.2 # two ticks: the last interval holds the run
st="$(ctl --json stats disk0)"
e() { jq -r ".exports[0].$1" <<<"$st"; }
[[ $(e ops.write) -ge 1 && $(e ops.read) -ge 1 && $(e ops.flush) -ge 1 && $(e ops.trim) -ge 1 ]] ||
	vp_fail "stats ops: $st"
vp_assert_eq "$(e bytes.write)" $((4 << 20)) "bytes written"
vp_assert_eq "$(e bytes.read)" $((4 << 20)) "bytes read"
vp_assert_eq "$(e errors)" 0 "no errors"
[[ $(e interval_ms) -ge 900 && $(e interval_ms) -le 1500 ]] || vp_fail "interval: $(e interval_ms) ms"
$PY -c "import json,sys; l=json.loads(sys.argv[1])['exports'][0]['latency_us']['all']; \
assert l['count'] >= 4 and 0 < l['p50'] <= l['p90'] <= l['p99'] <= l['p99.9'], l" "$st" ||
	vp_fail "latency percentiles: $st"
vp_assert_match "$(ctl stats)" 'disk0 +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +0 +4M +4M' "stats table"
vp_assert qemu-io -f raw "$(uri disk0)" -c 'read 0 64k' -c 'read 0 64k' -c 'read 0 64k' >/dev/null
[[ "$(ctl --json stats disk0 | jq -r '.exports[0].ops.read')" -ge 4 ]] || vp_fail "stats did not grow"
vp_assert_fails ctl stats nosuch 2>/dev/null
vp_ok "stats: ops, bytes, errors, interval, latency percentiles"

# --- vhost-user ----------------------------------------------------------------------
VI="$VP_TMP/vh.img" VS="$VP_TMP/vh.sock"
vp_assert [ -S "$VP_TMP/cfg.vhost.sock" ]
vp_assert_eq "$(ctl --json export list | jq -c '.exports[] | select(.name == "cli") | .vhost')" \
	"{\"connected\":false,\"queues\":1,\"socket\":\"$VP_TMP/cfg.vhost.sock\"}" "config vhost server listed"
vp_assert ctl image create "$VI" 128M >/dev/null
vp_assert ctl export add vdisk "$VI" >/dev/null
vp_assert_match "$(ctl vhost add vdisk "$VS" --queues 2)" "export vdisk served over vhost-user at $VS \(2 queues\)" \
	"vhost add"
vp_assert [ -S "$VS" ]
vp_assert_match "$(ctl export list)" "vdisk .*vh.img
  vhost-user $VS queues=2 idle" "export list shows the vhost server"
fe "$VS" "$VI" vdisk smoke 2 >"$VP_TMP/fe.out" 2>&1 || vp_fail "smoke on the added server: $(cat "$VP_TMP/fe.out")"
vp_assert_match "$(cat "$VP_TMP/fe.out")" 'ok - smoke \(2 queues\)' "front end wrote, read back and verified"
# A front end that stays connected: listed as connected, told of a live resize at once.
fe "$VS" "$VI" vdisk crash 1200 "$VP_TMP/vprog" 1 >"$VP_TMP/fe.out" 2>&1 &
FEPID=$!
vp_on_exit "kill $FEPID 2>/dev/null"
for ((i = 0; i < 200; i++)); do [[ $(cat "$VP_TMP/vprog" 2>/dev/null || echo 0) -ge 20 ]] && break; sleep 0.02; done
vp_assert_eq "$(ctl --json export list | jq -r '.exports[] | select(.name == "vdisk") | .vhost.connected')" true \
	"connected front end listed"
out="$(ctl image resize --export vdisk 64M 2>&1)" && vp_fail "shrink under a vhost-user front end succeeded"
vp_assert_match "$out" 'cannot shrink while a vhost-user front end is connected' "shrink refused"
vp_assert ctl image resize --export vdisk 160M >/dev/null
for ((i = 0; i < 20; i++)); do grep -q "vhost.resize-notice export=vdisk size=$((160 << 20))" "$VP_TMP/vblkd.log" && break; sleep 0.05; done
vp_assert_match "$(cat "$VP_TMP/vblkd.log")" "vhost.resize-notice export=vdisk size=$((160 << 20))" "resize notice sent"
# The notice came from image-resize itself: the server's size poll saw nothing to do.
grep -q "event=vhost.resized export=vdisk" "$VP_TMP/vblkd.log" && vp_fail "resize reached the guest only through the size poll"
# crash mode exits 2 when no reconnect was needed (the daemon stayed up), after
# checking every acknowledged write on the image.
rc=0; wait $FEPID || rc=$?
[[ $rc -eq 2 ]] || vp_fail "front end under resize (rc=$rc): $(cat "$VP_TMP/fe.out")"
vp_assert_match "$(cat "$VP_TMP/fe.out")" 'ok - crash: 1200 writes acknowledged and on the image, 0 reconnects' \
	"writes across the resize all landed"
vp_ok "vhost add: served, listed, written and read back, live resize notice; shrink refused while connected"

expect_error "{\"command\":\"vhost-add\",\"name\":\"nosuch\",\"socket\":\"$VP_TMP/n.sock\"}" 2 'no export named nosuch'
expect_error '{"command":"vhost-add","name":"disk0","socket":"rel/v.sock"}' 22 'not an absolute path'
expect_error "{\"command\":\"vhost-add\",\"name\":\"disk0\",\"socket\":\"$VP_TMP/n.sock\",\"queues\":0}" 34 'queues: 0 is outside \[1, 16\]'
expect_error "{\"command\":\"vhost-add\",\"name\":\"disk0\",\"socket\":\"$VP_TMP/n.sock\",\"queues\":17}" 34 'queues: 17 is outside \[1, 16\]'
expect_error "{\"command\":\"vhost-add\",\"name\":\"disk0\",\"socket\":\"$VS\"}" 17 "socket $VS is already served by export vdisk"
expect_error "{\"command\":\"vhost-add\",\"name\":\"vdisk\",\"socket\":\"$VP_TMP/n.sock\"}" 17 'vdisk already has a vhost-user server'
expect_error "{\"command\":\"vhost-add\",\"name\":\"disk0\",\"socket\":\"$CTL\"}" 98 'another server is listening on it'
expect_error "{\"command\":\"vhost-add\",\"name\":\"disk0\",\"socket\":\"$VI\"}" 17 'exists and is not a socket'
expect_error '{"command":"vhost-add","name":"disk0"}' 2 'socket: required'
expect_error '{"command":"vhost-remove","name":"disk0"}' 2 'export disk0 has no vhost-user server'
expect_error '{"command":"export-remove","name":"vdisk"}' 16 'vhost-remove it first'
[[ ! -e "$VP_TMP/n.sock" ]] || vp_fail "a refused vhost-add left a socket"
rc=0; ctl vhost add disk0 "$VP_TMP/n.sock" --queues x 2>/dev/null || rc=$?; vp_assert_eq $rc 2 "--queues x is a usage error"
rc=0; ctl export list --queues 2 2>/dev/null || rc=$?; vp_assert_eq $rc 2 "--queues only with vhost add"
alive
vp_ok "vhost-add refusals: unknown export, relative socket, queues 0/17, duplicate socket and export, live and non-socket paths; export-remove refused while served"

vp_assert_match "$(ctl vhost remove vdisk)" 'stopped vhost-user server of export vdisk' "vhost remove"
[[ ! -e "$VS" ]] || vp_fail "socket $VS left after vhost remove"
fe "$VS" "$VI" vdisk smoke 1 >/dev/null 2>&1 && vp_fail "front end connected after vhost remove"
vp_assert_eq "$(ctl --json export list | jq -r '.exports[] | select(.name == "vdisk") | .vhost')" null "no vhost after remove"
rc=0; ctl vhost remove vdisk 2>/dev/null || rc=$?; vp_assert_eq $rc 1 "second remove refused"
vp_assert ctl export remove vdisk >/dev/null
vp_assert_match "$(cat "$VP_TMP/vblkd.log")" 'event=vhost.disconnected export=vdisk' "front end disconnect logged"
alive
vp_ok "vhost remove: socket gone, reconnect fails, export removable again"

# --- bad requests --------------------------------------------------------------------
expect_error '{"command":' 22 'invalid JSON at line 1'
expect_error '[1,2]' 22 'expected a JSON object'
expect_error '{"command":"format-disk"}' 95 "unknown command 'format-disk'"
expect_error '{"cmd":"export-list"}' 2 'command: required'
expect_error '{"command":"export-add","name":"x"}' 2 'image: required'
expect_error '{"command":"export-add","name":1,"image":"/x"}' 22 'name: expected a string'
expect_error "{\"command\":\"export-add\",\"name\":\"x\",\"image\":\"$D0\",\"cache\":\"fast\"}" 22 'cache: expected'
expect_error "{\"command\":\"export-add\",\"name\":\"disk0\",\"image\":\"$D0\"}" 17 'export disk0 already exists'
expect_error "{\"command\":\"export-add\",\"name\":\"x\",\"image\":\"$VP_TMP\"}" 21 'Is a directory'
expect_error '{"command":"export-add","name":"x","image":"rel/a.img"}' 22 'not an absolute path'
expect_error "{\"command\":\"image-create\",\"path\":\"$VP_TMP/n.img\",\"size\":-1}" 22 'size: must not be negative'
expect_error "{\"command\":\"image-create\",\"path\":\"$VP_TMP/n.img\",\"size\":\"-1G\"}" 22 'not a byte count'
expect_error "{\"command\":\"image-create\",\"path\":\"$VP_TMP/n.img\",\"size\":0}" 22 'between 1 and'
expect_error "{\"command\":\"image-create\",\"path\":\"$VP_TMP/n.img\"}" 2 'size: required'
expect_error "{\"command\":\"image-create\",\"path\":\"$VP_TMP/n.img\",\"size\":1,\"bogus\":1}" 22 'bogus: unknown field'
expect_error "{\"command\":\"image-resize\",\"size\":1}" 22 'exactly one of path and export'
expect_error '{"command":"export-remove","name":"nosuch"}' 2 'no export named nosuch'
[[ ! -e "$VP_TMP/n.img" ]] || vp_fail "a failed create left a file"
long="$($PY -c 'print("{\"command\":\"export-list\",\"x\":\"" + "a" * 70000 + "\"}")')"
vp_assert_match "$(raw "$long")" 'request longer than' "oversized request"
alive
vp_assert ctl export list >/dev/null
vp_ok "malformed, unknown, incomplete and out-of-range requests: clear errors, daemon up"

# --- vblkctl exit codes -----------------------------------------------------------------
rc=0; ctl export list >/dev/null || rc=$?; vp_assert_eq $rc 0 "exit 0"
rc=0; ctl export remove nosuch 2>/dev/null || rc=$?; vp_assert_eq $rc 1 "exit 1 when refused"
rc=0; ctl frobnicate 2>/dev/null || rc=$?; vp_assert_eq $rc 2 "exit 2 on usage error"
rc=0; ctl image create "$VP_TMP/x.img" -5 2>/dev/null || rc=$?; vp_assert_eq $rc 2 "exit 2 on a bad size"
rc=0; "$VBLKCTL" --control "$VP_TMP/none.sock" export list 2>/dev/null || rc=$?; vp_assert_eq $rc 2 "exit 2 when unreachable"
vp_ok "vblkctl exit codes 0/1/2"

# --- second daemon on the same control socket, SIGTERM ------------------------------------
out="$("$VBLKD" --nbd "unix:$VP_TMP/other.sock" --control "$CTL" 2>&1)" && vp_fail "second daemon started"
vp_assert_match "$out" 'another server is listening on it' "live control socket not stolen"
kill -TERM "$DAEMON"
for ((i = 0; i < 50; i++)); do kill -0 "$DAEMON" 2>/dev/null || break; sleep 0.1; done
wait "$DAEMON" || vp_fail "vblkd exit status $? after SIGTERM"
[[ ! -e "$CTL" && ! -e "$SOCK" && ! -e "$VP_TMP/cfg.vhost.sock" ]] || vp_fail "sockets left behind"
vp_ok "SIGTERM: exit 0, control, NBD and vhost-user sockets removed"
