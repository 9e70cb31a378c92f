#!/bin/bash
# ipam_parallel.sh - vnet-ipam under concurrency and crashes: 100 parallel ADDs
# get 100 distinct addresses; ADDs killed with SIGKILL at random moments leave
# a loadable state that DEL and GC clean up to exactly the valid allocations.
set -u

BIN=${VP_BUILD:-}/bin/vnet-ipam
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespaces)"; exit 77; }
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 77; }
command -v ip >/dev/null || { echo "SKIP: no ip command"; exit 77; }

TMP=$(mktemp -d /tmp/vp-ipam-par.XXXXXX)
NS=vpipampar$$
cleanup() {
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
ip netns add "$NS" || { echo "SKIP: cannot create a netns"; exit 77; }

fail() { echo "FAIL: $*"; exit 1; }

NET=ipampar
STATE=$TMP/data/$NET/state
conf() {  # conf [extra top-level JSON members]
	printf '{"cniVersion":"1.1.0","name":"%s","type":"vnet-ipam",%s"ipam":{"type":"vnet-ipam","dataDir":"%s","ranges":[[{"subnet":"10.77.0.0/24"}]]}}' \
		"$NET" "${1:-}" "$TMP/data"
}
conf >"$TMP/conf.json"

cni() {  # cni COMMAND CONTAINERID [stdin file]
	CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=/var/run/netns/$NS CNI_IFNAME=eth0 \
		CNI_PATH=$(dirname "$BIN") "$BIN" <"${3:-$TMP/conf.json}"
}

# Allocations in the state log ("a ip cid ifname" records), as "ip cid ifname".
allocs() { grep '^a ' "$STATE" | cut -c3-; }

no_duplicates() {
	local dups
	dups=$(allocs | awk '{print $1}' | sort | uniq -d)
	[ -z "$dups" ] || fail "duplicate addresses in state: $dups"
}

# 1. 100 parallel ADDs.
for i in $(seq 1 100); do
	( cni ADD par$i >"$TMP/out.$i" 2>"$TMP/err.$i"; echo $? >"$TMP/rc.$i" ) &
done
wait
for i in $(seq 1 100); do
	[ "$(cat "$TMP/rc.$i")" = 0 ] || fail "ADD par$i: $(cat "$TMP/out.$i" "$TMP/err.$i")"
done
n=$(cat "$TMP"/out.* | grep -o '"address":"[^"]*"' | sort -u | wc -l)
[ "$n" = 100 ] || fail "expected 100 distinct addresses, got $n"
[ "$(allocs | wc -l)" = 100 ] || fail "state holds $(allocs | wc -l) allocations, want 100"
no_duplicates
echo "ok: 100 parallel ADDs, 100 distinct addresses"

# Remember what each valid container got: "ip cid".
grep -H -o '"address":"[^/]*' "$TMP"/out.* | sed 's/.*out\.\([0-9]*\):"address":"\(.*\)/\2 par\1/' |
	sort >"$TMP/expected"

# 2. ADDs killed at random moments, twice over, interleaved with live ADDs.
killed=0
# Kill within twice the time one ADD takes here (sanitizer builds are slower).
t0=$(date +%s%N); cni ADD calib >/dev/null || fail "ADD calib"; t1=$(date +%s%N)
cni DEL calib >/dev/null || fail "DEL calib"
span=$(((t1 - t0) / 500000 + 1))   # ms
exec {nap}<> <(:)   # read -t on a silent pipe: a sub-millisecond sleep without forking
for round in 1 2; do
	for i in $(seq 1 20); do
		# env execs the plugin, so $! is the plugin's own pid.
		env CNI_COMMAND=ADD CNI_CONTAINERID=kill$round-$i CNI_NETNS=/var/run/netns/$NS \
			CNI_IFNAME=eth0 CNI_PATH="$(dirname "$BIN")" "$BIN" <"$TMP/conf.json" \
			>/dev/null 2>&1 &
		pid=$!
		d=$((RANDOM % span))
		read -r -t "$(printf %d.%03d $((d / 1000)) $((d % 1000)))" -u "$nap"
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	wait
	killed=$((killed + $(allocs | grep -c " kill$round-")))
	no_duplicates
	cni STATUS "" >/dev/null || fail "STATUS after killed ADDs: state not loadable"
	# A repeated ADD of a valid container is refused (code 103); it keeps its address.
	out=$(cni ADD par7) && fail "re-ADD par7 succeeded: $out"
	echo "$out" | grep -q '"code":103' || fail "re-ADD par7: want code 103, got $out"
	want=$(awk '$2 == "par7" {print $1}' "$TMP/expected")
	[ "$(allocs | awk '$2 == "par7" {print $1}')" = "$want" ] || fail "par7 lost $want after the refused re-ADD"
done
echo "ok: killed ADDs left a loadable state without duplicates ($killed of 40 had committed)"

# 3. DEL the first round's IDs, GC the rest away with the valid list.
for i in $(seq 1 20); do
	out=$(cni DEL kill1-$i) || fail "DEL kill1-$i: $out"
	out=$(cni DEL kill1-$i) || fail "second DEL kill1-$i: $out"
done
allocs | grep -q ' kill1-' && fail "DEL left kill1 allocations"
valid=$(for i in $(seq 1 100); do printf '{"containerID":"par%d","ifname":"eth0"},' "$i"; done)
conf "\"cni.dev/valid-attachments\":[${valid%,}]," >"$TMP/gc.json"
out=$(cni GC "" "$TMP/gc.json") || fail "GC: $out"
allocs | awk '{print $1, $2}' | sort >"$TMP/actual"
diff -u "$TMP/expected" "$TMP/actual" || fail "state after DEL+GC differs from the valid allocations"
no_duplicates
echo "ok: DEL + GC leave exactly the 100 valid allocations"

# 4. DEL of every valid container empties the state.
for i in $(seq 1 100); do cni DEL par$i >/dev/null || fail "DEL par$i"; done
[ "$(allocs | wc -l)" = 0 ] || fail "state not empty after DEL of all"
grep -Eq 'par|kill' "$STATE" && fail "released records still name containers: $(grep -E 'par|kill' "$STATE" | head -3)"
echo "PASS"
exit 0
