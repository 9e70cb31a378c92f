#!/usr/bin/env bash
# vblk_nbd_tls.sh - NBD over TCP: a listener without a host binds loopback
# only, one beyond loopback without TLS is logged; TLS through
# NBD_OPT_STARTTLS with x509 certificates and PSK, driven by libnbd
# (nbdinfo, nbdcopy) and QEMU (qemu-img, qemu-io tls-creds): require mode
# refuses plaintext (TLS_REQD on the wire), untrusted certificates, a
# missing client certificate and a wrong key fail, data written over TLS
# reads back equal; a stalled TLS handshake times out and does not hold
# SIGTERM.  Credentials are made at test time with certtool and psktool.
source "$(dirname "$0")/lib.sh"
vp_init vtls
vp_require_cmd nbdinfo nbdcopy qemu-img qemu-io certtool psktool python3 cmp ss

VBLKD="$VP_BUILD/bin/vblkd"
[[ -x "$VBLKD" ]] || vp_skip "vblkd not built ($VBLKD)"
IMG="$VP_TMP/disk0.img"
SIZE=$((16 << 20))
truncate -s $SIZE "$IMG"
PORT=$((20000 + RANDOM % 20000))

# --- credentials ----------------------------------------------------------------
# ca/ and rogue/ are CAs; pki/ the server's directory (qemu-nbd layout);
# cli/ a client trusting ca/ with a certificate, cli-nocert/ without one,
# cli-rogue/ trusting rogue/ only.
mkcert() { # DIR NAME TEMPLATE CA_DIR: NAME-key.pem and NAME-cert.pem signed by CA_DIR's ca
	certtool --generate-privkey --key-type=ecdsa --outfile "$1/$2-key.pem" 2>/dev/null
	certtool --generate-certificate --load-ca-certificate "$4/ca-cert.pem" \
		--load-ca-privkey "$4/ca-key.pem" --load-privkey "$1/$2-key.pem" \
		--template "$3" --outfile "$1/$2-cert.pem" 2>/dev/null
}
mkca() { # DIR
	mkdir -p "$1"
	printf 'cn = vplumb test CA %s\nca\ncert_signing_key\nexpiration_days = 2\n' "${1##*/}" >"$1/ca.info"
	certtool --generate-privkey --key-type=ecdsa --outfile "$1/ca-key.pem" 2>/dev/null
	certtool --generate-self-signed --load-privkey "$1/ca-key.pem" --template "$1/ca.info" \
		--outfile "$1/ca-cert.pem" 2>/dev/null
}
mkca "$VP_TMP/ca"
mkca "$VP_TMP/rogue"
mkdir -p "$VP_TMP/pki" "$VP_TMP/cli" "$VP_TMP/cli-nocert" "$VP_TMP/cli-rogue"
printf 'cn = localhost\ndns_name = localhost\nip_address = 127.0.0.1\ntls_www_server\nencryption_key\nsigning_key\nexpiration_days = 2\n' >"$VP_TMP/server.info"
printf 'cn = vplumb test client\ntls_www_client\nencryption_key\nsigning_key\nexpiration_days = 2\n' >"$VP_TMP/client.info"
mkcert "$VP_TMP/pki" server "$VP_TMP/server.info" "$VP_TMP/ca"
cp "$VP_TMP/ca/ca-cert.pem" "$VP_TMP/pki/"
mkcert "$VP_TMP/cli" client "$VP_TMP/client.info" "$VP_TMP/ca"
cp "$VP_TMP/ca/ca-cert.pem" "$VP_TMP/cli/"
cp "$VP_TMP/ca/ca-cert.pem" "$VP_TMP/cli-nocert/"
cp "$VP_TMP/rogue/ca-cert.pem" "$VP_TMP/cli-rogue/"
[[ -s "$VP_TMP/pki/server-cert.pem" && -s "$VP_TMP/cli/client-cert.pem" ]] || vp_fail "certtool made no certificates"
# PSK: keys.psk in a directory, as qemu's tls-creds-psk wants; wrong/ has
# alice with another key.
mkdir -p "$VP_TMP/psk" "$VP_TMP/wrong"
psktool -u alice -p "$VP_TMP/psk/keys.psk" >/dev/null
psktool -u alice -p "$VP_TMP/wrong/keys.psk" >/dev/null
psktool -u mallory -p "$VP_TMP/mallory.psk" >/dev/null

x509_uri() { printf 'nbds://localhost:%s/disk0?tls-certificates=%s' "$1" "$2"; }
psk_uri() { printf 'nbds://%s@localhost:%s/disk0?tls-psk-file=%s' "$2" "$1" "$3"; }

# wait_uri URI LOG: as vp_wait_nbd, for any URI (vp_wait_nbd is plaintext).
wait_uri() {
	local i
	for ((i = 0; i < 100; i++)); do
		nbdinfo --size "$1" >/dev/null 2>&1 && return 0
		kill -0 "$VP_PID" 2>/dev/null || vp_fail "vblkd exited early: $(tail -5 "$2")"
		sleep 0.1
	done
	vp_fail "nothing answers NBD on $1: $(tail -5 "$2")"
}

# raw PORT OPTION[:DATA]...: a fixed-newstyle handshake by hand; prints the
# reply type of each option (hex) or "closed" when the server hangs up.
raw() {
	python3 - "$@" <<'EOF'
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
def rd(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b
assert rd(16) == b"NBDMAGICIHAVEOPT"
rd(2)
s.sendall(struct.pack(">I", 3))  # FIXED_NEWSTYLE | NO_ZEROES
for arg in sys.argv[2:]:
    o, _, d = arg.partition(":")
    d = d.encode()
    s.sendall(struct.pack(">QII", 0x49484156454F5054, int(o), len(d)) + d)
    try:
        while True:
            magic, opt, typ, ln = struct.unpack(">QIII", rd(20))
            assert magic == 0x3e889045565a9 and opt == int(o)
            rd(ln)
            if typ != 2:  # not NBD_REP_SERVER: the last reply of this option
                break
        print("%x" % typ)
    except (EOFError, ConnectionResetError, socket.timeout):
        print("closed")
        break
EOF
}
REP_ACK=1 ERR_POLICY=80000002 ERR_INVALID=80000003 ERR_TLS_REQD=80000005

# --- loopback by default; a plaintext listener beyond it is logged ----------------
P2=$((PORT + 1))
vp_start_daemon "$VP_TMP/plain.log" "$VBLKD" --nbd "tcp::$PORT" --nbd "tcp:0.0.0.0:$P2" \
	--export "name=disk0,image=$IMG" --workers 1
PLAIN=$VP_PID
vp_wait_nbd "nbd://127.0.0.1:$PORT/disk0" "$VP_TMP/plain.log"
hexport=$(printf '%04X' "$PORT")
# /proc/net/tcp: local address 0100007F (127.0.0.1) in state 0A (LISTEN).
vp_assert_match "$(awk -v p=":$hexport" '$2 ~ p"$" && $4 == "0A" {print $2}' /proc/net/tcp)" \
	"^0100007F:$hexport\$" "tcp::$PORT listens on 127.0.0.1 only"
[[ -z "$(awk -v p=":$hexport" '$2 ~ p"$" && $4 == "0A"' /proc/net/tcp6)" ]] || vp_fail "tcp::$PORT listens on IPv6 too"
vp_assert_match "$(ss -Hltn "sport = :$P2")" "0\.0\.0\.0:$P2" "an explicit 0.0.0.0 serves every interface"
vp_assert_match "$(grep 'nbd.listen.plaintext' "$VP_TMP/plain.log")" "addr=tcp:0.0.0.0:$P2" \
	"plaintext beyond loopback is logged"
if grep 'nbd.listen.plaintext' "$VP_TMP/plain.log" | grep -q "addr=tcp::$PORT"; then
	vp_fail "loopback listener logged as exposed"
fi
# NOTLS: STARTTLS is refused by policy and the session goes on in plaintext.
vp_assert_eq "$(raw "$PORT" 5 3 | tr '\n' ' ')" "$ERR_POLICY $REP_ACK " "STARTTLS with --tls off"
kill "$PLAIN"; wait "$PLAIN" || vp_fail "vblkd --tls off did not exit 0 on SIGTERM"
vp_ok "tcp::PORT binds loopback; 0.0.0.0 logged; STARTTLS refused with POLICY when off"

# --- x509, require -------------------------------------------------------------------
vp_start_daemon "$VP_TMP/x509.log" "$VBLKD" --nbd "tcp:127.0.0.1:$PORT" --export "name=disk0,image=$IMG" \
	--tls require --tls-certificates "$VP_TMP/pki"
X509=$VP_PID
wait_uri "$(x509_uri "$PORT" "$VP_TMP/cli-nocert")" "$VP_TMP/x509.log"
info="$(nbdinfo "$(x509_uri "$PORT" "$VP_TMP/cli-nocert")")"
vp_assert_match "$info" 'with TLS' "nbdinfo negotiated TLS"
vp_assert_match "$info" "export-size: $SIZE" "size over TLS"
if grep 'nbd.listen.plaintext' "$VP_TMP/x509.log"; then vp_fail "loopback TLS listener logged as exposed"; fi
# Plaintext clients get nothing: libnbd fails, and on the wire every option
# but STARTTLS/ABORT is TLS_REQD; EXPORT_NAME ends the session unanswered.
vp_assert_fails nbdinfo --size "nbd://127.0.0.1:$PORT/disk0" 2>/dev/null
vp_assert_fails nbdinfo --list "nbd://127.0.0.1:$PORT/" 2>/dev/null
vp_assert_eq "$(raw "$PORT" 3 6:xx 7 8 4242 2 | tr '\n' ' ')" \
	"$ERR_TLS_REQD $ERR_TLS_REQD $ERR_TLS_REQD $ERR_TLS_REQD $ERR_TLS_REQD $REP_ACK " "options before TLS"
vp_assert_eq "$(raw "$PORT" 1:disk0)" "closed" "EXPORT_NAME before TLS"
vp_assert_eq "$(raw "$PORT" 5:x)" "$ERR_INVALID" "STARTTLS with data"
vp_assert_match "$(grep 'reason=tls-required' "$VP_TMP/x509.log")" 'nbd.conn.close' "EXPORT_NAME logged"
# Untrusted server certificate.
vp_assert_fails nbdinfo --size "$(x509_uri "$PORT" "$VP_TMP/cli-rogue")" 2>/dev/null
vp_assert_match "$(grep 'nbd.tls.error' "$VP_TMP/x509.log" | tail -1)" 'reason=handshake-failed' "rogue CA"
# libnbd: nbdcopy up and back, equal.
head -c $((4 << 20)) /dev/urandom >"$VP_TMP/src.img"
truncate -s $SIZE "$VP_TMP/src.img"
vp_assert nbdcopy "$VP_TMP/src.img" "$(x509_uri "$PORT" "$VP_TMP/cli-nocert")"
vp_assert cmp "$VP_TMP/src.img" "$IMG"
vp_assert cmp <(nbdcopy "$(x509_uri "$PORT" "$VP_TMP/cli-nocert")" -) "$VP_TMP/src.img"
# QEMU: tls-creds-x509 (qemu-img info/convert, qemu-io patterns).
qobj="tls-creds-x509,id=tls0,endpoint=client,dir=$VP_TMP/cli-nocert"
qopt="driver=nbd,host=localhost,port=$PORT,export=disk0,tls-creds=tls0"
vp_assert_match "$(qemu-img info --object "$qobj" --image-opts "$qopt")" "virtual size: 16 MiB" "qemu-img info over TLS"
vp_assert qemu-io --object "$qobj" --image-opts "$qopt" -c 'write -P 0x5a 1M 1M' -c 'read -P 0x5a 1M 1M' >/dev/null
out="$(qemu-io --object "$qobj" --image-opts "$qopt" -c 'read -P 0x5a 1M 1M' -c 'read -P 0x5a 2M 4k' 2>&1 || true)"
vp_assert_match "$out" 'read 1048576/1048576' "qemu-io reads its write back"
vp_assert_match "$out" 'Pattern verification failed' "qemu-io sees what it did not write"
vp_assert qemu-img convert -O raw --object "$qobj" --image-opts "$qopt" "$VP_TMP/back.img"
vp_assert cmp "$VP_TMP/back.img" "$IMG"
vp_assert_fails qemu-img info --object "tls-creds-x509,id=tls0,endpoint=client,dir=$VP_TMP/cli-rogue" \
	--image-opts "$qopt" 2>/dev/null
vp_ok "x509 require: nbdinfo, nbdcopy, qemu-img, qemu-io over TLS; plaintext and a rogue CA refused"

# A client that acknowledges STARTTLS and then says nothing: SIGTERM still
# ends the daemon at once (the relay sees its connection go).
python3 - "$PORT" >"$VP_TMP/stall.out" 2>&1 <<'EOF' &
import socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.recv(18); s.sendall(struct.pack(">I", 3))
s.sendall(struct.pack(">QII", 0x49484156454F5054, 5, 0))
print(s.recv(20).hex(), flush=True)
time.sleep(30)
EOF
STALL=$!
vp_on_exit "kill $STALL 2>/dev/null"
for ((i = 0; i < 50; i++)); do [[ -s "$VP_TMP/stall.out" ]] && break; sleep 0.1; done
vp_assert_match "$(cat "$VP_TMP/stall.out")" '0000000500000001' "STARTTLS acknowledged"
t0=$(date +%s)
kill "$X509"
wait "$X509" || vp_fail "vblkd did not exit 0 on SIGTERM with a TLS handshake pending"
(($(date +%s) - t0 <= 3)) || vp_fail "SIGTERM took $(($(date +%s) - t0)) s with a stalled TLS client"
kill "$STALL" 2>/dev/null
vp_ok "SIGTERM with a stalled TLS handshake"

# --- x509, client certificates required ------------------------------------------------
vp_start_daemon "$VP_TMP/peer.log" "$VBLKD" --nbd "tcp:127.0.0.1:$PORT" --export "name=disk0,image=$IMG" \
	--tls require --tls-certificates "$VP_TMP/pki" --tls-verify-peer
wait_uri "$(x509_uri "$PORT" "$VP_TMP/cli")" "$VP_TMP/peer.log"
vp_assert_fails nbdinfo --size "$(x509_uri "$PORT" "$VP_TMP/cli-nocert")" 2>/dev/null
vp_assert_match "$(grep 'nbd.tls.error' "$VP_TMP/peer.log" | tail -1)" 'reason=handshake-failed' "no client certificate"
vp_assert_match "$(qemu-img info --object "tls-creds-x509,id=tls0,endpoint=client,dir=$VP_TMP/cli" \
	--image-opts "$qopt")" "virtual size: 16 MiB" "qemu-img with a client certificate"
vp_ok "--tls-verify-peer: a client certificate from the CA is required"

# A handshake that never comes ends after VP_NBD_TLS_HANDSHAKE_MS (10 s).
python3 - "$PORT" <<'EOF'
import socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.recv(18); s.sendall(struct.pack(">I", 3))
s.sendall(struct.pack(">QII", 0x49484156454F5054, 5, 0))
s.recv(20)
s.settimeout(15)
t0 = time.time()
assert s.recv(1) == b"", "the server sent something"
assert 8 < time.time() - t0 < 14, "closed after %.1f s" % (time.time() - t0)
EOF
[[ $? -eq 0 ]] || vp_fail "stalled handshake not closed after its deadline"
# Both the TLS relay's deadline and the NBD handshake timeout (from accept
# to GO, --handshake-timeout) are 10 s: whichever fires first closes it.
vp_assert_match "$(grep 'reason=handshake-timeout' "$VP_TMP/peer.log")" 'nbd\.(tls|conn)\.close' \
	"handshake timeout logged"
vp_ok "TLS handshake deadline"
kill "$VP_PID"; wait "$VP_PID" || vp_fail "vblkd --tls-verify-peer did not exit 0"

# --- PSK, require; --tls on ---------------------------------------------------------------
vp_start_daemon "$VP_TMP/psk.log" "$VBLKD" --nbd "tcp:127.0.0.1:$PORT" --export "name=disk0,image=$IMG" \
	--tls require --tls-psk "$VP_TMP/psk/keys.psk"
wait_uri "$(psk_uri "$PORT" alice "$VP_TMP/psk/keys.psk")" "$VP_TMP/psk.log"
vp_assert_match "$(grep 'nbd.tls.ready' "$VP_TMP/psk.log" | tail -1)" 'user=alice' "PSK user logged"
vp_assert_fails nbdinfo --size "$(psk_uri "$PORT" alice "$VP_TMP/wrong/keys.psk")" 2>/dev/null
vp_assert_fails nbdinfo --size "$(psk_uri "$PORT" mallory "$VP_TMP/mallory.psk")" 2>/dev/null
vp_assert_fails nbdinfo --size "nbd://127.0.0.1:$PORT/disk0" 2>/dev/null
pobj="tls-creds-psk,id=tls0,endpoint=client,dir=$VP_TMP/psk,username=alice"
popt="driver=nbd,host=127.0.0.1,port=$PORT,export=disk0,tls-creds=tls0"
head -c $((2 << 20)) /dev/urandom >"$VP_TMP/src2.img"
truncate -s $SIZE "$VP_TMP/src2.img"
vp_assert qemu-img convert -n -f raw "$VP_TMP/src2.img" --object "$pobj" --target-image-opts "$popt"
vp_assert cmp "$VP_TMP/src2.img" "$IMG"
vp_assert cmp <(nbdcopy "$(psk_uri "$PORT" alice "$VP_TMP/psk/keys.psk")" -) "$VP_TMP/src2.img"
vp_assert_fails qemu-img info --object "tls-creds-psk,id=tls0,endpoint=client,dir=$VP_TMP/wrong,username=alice" \
	--image-opts "$popt" 2>/dev/null
kill "$VP_PID"; wait "$VP_PID" || vp_fail "vblkd --tls-psk did not exit 0"
vp_ok "PSK require: nbdinfo, nbdcopy, qemu-img; a wrong key and an unknown user refused"

vp_start_daemon "$VP_TMP/on.log" "$VBLKD" --nbd "tcp:127.0.0.1:$PORT" --export "name=disk0,image=$IMG" \
	--tls on --tls-psk "$VP_TMP/psk/keys.psk"
wait_uri "$(psk_uri "$PORT" alice "$VP_TMP/psk/keys.psk")" "$VP_TMP/on.log"
vp_assert_eq "$(nbdinfo --size "nbd://127.0.0.1:$PORT/disk0")" "$SIZE" "plaintext with --tls on"
vp_assert_eq "$(raw "$PORT" 3)" "$REP_ACK" "LIST in plaintext with --tls on"
kill "$VP_PID"; wait "$VP_PID" || vp_fail "vblkd --tls on did not exit 0"
vp_ok "--tls on serves TLS and plaintext"

# --- bad command lines ------------------------------------------------------------------------
# Each must fail at start (an accepted one would serve: timeout ends it, 124).
bad() {
	local rc=0
	timeout 5 "$VBLKD" --nbd "tcp:127.0.0.1:$PORT" --export "name=a,image=$IMG" "$@" 2>/dev/null || rc=$?
	((rc != 0 && rc != 124)) || vp_fail "vblkd accepted: $*"
}
bad --tls bogus
bad --tls require
bad --tls-certificates "$VP_TMP/pki"
bad --tls on --tls-certificates "$VP_TMP/pki" --tls-psk "$VP_TMP/psk/keys.psk"
bad --tls on --tls-psk "$VP_TMP/psk/keys.psk" --tls-verify-peer
bad --tls on --tls-certificates "$VP_TMP/cli-nocert"
bad --tls on --tls-psk "$VP_TMP/none.psk"
printf 'alice:xyz\n' >"$VP_TMP/bad.psk"
bad --tls on --tls-psk "$VP_TMP/bad.psk"
vp_ok "bad --tls options refused"
