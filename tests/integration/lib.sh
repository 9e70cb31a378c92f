# lib.sh - shared helpers for vplumb's integration scripts (source it; it is
# not a test).
#
# Naming convention, relied on by .ci/run's final sweep:
#   every object a test creates on the host carries the prefix "vpt-":
#   network namespaces "vpt-<tag>-<name>", links (bridges, dummies, host-side
#   names we choose) "vpt-<tag>...", temp/state dirs /tmp/vpt-<tag>.XXXXXX
#   (IPAM dataDir, libcni cache, conflists live there), CNI network names
#   "vpt-<tag>", container IDs "vpt-<tag>-...".  Daemons a test starts go
#   through vp_start_daemon, which records them in /tmp/vpt-daemons.pids.
#   <tag> is short (2-4 chars, unique per script) so link names
#   stay within 15 bytes.  Test subnets come from 10.198.0.0/15 (RFC 2544
#   benchmarking range), one /24 per script, so scripts may run in parallel.
#
# Exit codes: 0 pass, 1 fail, 77 skip (with a message saying why).
#
# Environment: VP_BUILD (build dir; plugins in $VP_BUILD/bin, the libcni client
# in $VP_BUILD/tests/vp-cnitool), VP_SOURCE.  VP_REFERENCE=1 runs the same
# scenarios against the reference plugins of /usr/lib/cni (bridge, ptp,
# host-local) to check a script's own mechanics; vplumb-only steps (GC) are
# replaced then.

set -euo pipefail

VP_PREFIX="vpt-"
VP_SOURCE="${VP_SOURCE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
VP_BUILD="${VP_BUILD:-$VP_SOURCE/build}"
VP_REFERENCE="${VP_REFERENCE:-0}"
VP_REF_CNI_DIR=/usr/lib/cni
VP_CNI_PATH="$VP_BUILD/bin:$VP_REF_CNI_DIR"
VP_CNITOOL="$VP_BUILD/tests/vp-cnitool"

# Plugin type names used in conflists: the reference ones with VP_REFERENCE=1;
# each may also be set alone (e.g. VP_IPAM=host-local to try vnet-bridge with
# the reference IPAM).
if [[ "$VP_REFERENCE" == 1 ]]; then
	: "${VP_BRIDGE:=bridge}" "${VP_PTP:=ptp}" "${VP_IPAM:=host-local}" "${VP_TAP:=}"
else
	: "${VP_BRIDGE:=vnet-bridge}" "${VP_PTP:=vnet-ptp}" "${VP_IPAM:=vnet-ipam}" "${VP_TAP:=vnet-tap}"
fi

VP_TAG=""
VP_TMP=""
VP_NETNS=()
VP_CLEANUPS=()

vp_log() { printf '%s\n' "$*"; }
vp_ok() { printf 'ok - %s\n' "$*"; }

# vp_skip MSG: print why and exit 77 (cleanup still runs).
vp_skip() {
	printf 'SKIP: %s\n' "$*"
	exit 77
}

# vp_fail MSG: print the failure and exit 1 (cleanup still runs).
vp_fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

# vp_on_exit CMD...: run CMD (a string, eval'd) at cleanup, newest first.
vp_on_exit() { VP_CLEANUPS+=("$*"); }

# vp_del_cached: DEL (without netns) every attachment still in this test's
# libcni cache, i.e. ADDed and not DELeted because the test stopped early, so
# its IPAM and nft state goes too.
vp_del_cached() {
	local f conf="$VP_TMP/cleanup.conflist"
	[[ -x "$VP_CNITOOL" && -d "$VP_CNI_CACHE_DIR/results" ]] || return 0
	for f in "$VP_CNI_CACHE_DIR"/results/*; do
		[[ -f "$f" ]] || continue
		jq -r .config "$f" | base64 -d >"$conf"
		vp_cnitool del "$conf" "" "$(jq -r .containerId "$f")" "$(jq -r .ifName "$f")"
	done
}

# Runs on EXIT: registered commands, DEL of cached attachments, then every netns and link of this tag,
# then the temp dir.  Never fails, keeps the script's exit status.
vp_cleanup() {
	local rc=$? i ns link
	set +e
	trap - EXIT INT TERM
	for ((i = ${#VP_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${VP_CLEANUPS[i]}" >/dev/null 2>&1
	done
	vp_del_cached >/dev/null 2>&1
	if [[ -n "$VP_TAG" ]]; then
		for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${VP_PREFIX}${VP_TAG}-"); do
			ip netns del "$ns" 2>/dev/null
		done
		for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 |
			grep "^${VP_PREFIX}${VP_TAG}"); do
			ip link del "$link" 2>/dev/null
		done
	fi
	[[ -n "$VP_TMP" && -d "$VP_TMP" ]] && rm -rf "$VP_TMP"
	exit "$rc"
}

# vp_init TAG: start a test: check root and tools, make $VP_TMP, set traps.
vp_init() {
	VP_TAG="$1"
	[[ ${#VP_TAG} -ge 2 && ${#VP_TAG} -le 4 ]] || vp_fail "vp_init: tag '$VP_TAG' must be 2-4 chars"
	[[ $EUID -eq 0 ]] || vp_skip "needs root"
	vp_require_cmd ip jq nft tc
	trap vp_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	# A previous run killed hard may have left objects behind: sweep them first.
	local ns
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${VP_PREFIX}${VP_TAG}-"); do
		ip netns del "$ns"
	done
	VP_TMP="$(mktemp -d "/tmp/${VP_PREFIX}${VP_TAG}.XXXXXX")"
	export VP_CNI_CACHE_DIR="$VP_TMP/cni-cache"
}

# vp_start_daemon LOGFILE CMD...: start CMD in the background (output to
# LOGFILE); it is killed at cleanup, and recorded in /tmp/vpt-daemons.pids
# ("pid cmd") so .ci/run can end it if this script dies first.  Sets VP_PID.
vp_start_daemon() {
	local log="$1"
	shift
	"$@" >"$log" 2>&1 &
	VP_PID=$!
	printf '%s %s\n' "$VP_PID" "$1" >>/tmp/vpt-daemons.pids
	vp_on_exit "kill $VP_PID; wait $VP_PID"
}

# vp_start_vblkd LOGFILE OPTION...: start $VP_BUILD/bin/vblkd with the test's
# options (its --control socket among them, or in its --config) through
# vp_start_daemon (so it is ended at cleanup; sets VP_PID), and wait up to
# 20 s until its log says vblkd.ready: every socket it was given (control,
# NBD, vhost-user) is listening then, also where a predecessor killed with
# SIGKILL left its socket files.  Fails with the log's end when vblkd exits
# first or is not ready in time.  Its environment is the caller's
# (VPLUMB_LOG=debug vp_start_vblkd ... works).
vp_start_vblkd() {
	local log="$1" i
	shift
	vp_start_daemon "$log" "$VP_BUILD/bin/vblkd" "$@"
	for ((i = 0; i < 400; i++)); do
		grep -q "event=vblkd.ready" "$log" 2>/dev/null && return 0
		kill -0 "$VP_PID" 2>/dev/null || vp_fail "vblkd exited early: $(tail -5 "$log")"
		sleep 0.05
	done
	vp_fail "vblkd not ready after 20 s: $(tail -5 "$log")"
}

# vp_stop_vblkd [PID]: SIGTERM vblkd (default: the one started last) and
# wait for it to drain and exit; returns its exit status.
vp_stop_vblkd() {
	local pid="${1:-$VP_PID}" rc=0
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	return "$rc"
}

# vp_wait_nbd URI LOGFILE: wait up to 10 s until the NBD server that
# vp_start_daemon started last answers on URI (nbdinfo); fail with its log
# when it exits first or never answers.
vp_wait_nbd() {
	local i
	for ((i = 0; i < 100; i++)); do
		nbdinfo --size "$1" >/dev/null 2>&1 && return 0
		kill -0 "$VP_PID" 2>/dev/null || vp_fail "the NBD server exited early: $(tail -5 "$2")"
		sleep 0.1
	done
	vp_fail "nothing answers NBD on $1: $(tail -5 "$2")"
}

# vp_require_cmd CMD...: skip unless every command is installed.
vp_require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || vp_skip "command '$c' not installed"
	done
}

# vp_require_plugin NAME...: skip unless each CNI plugin is found on
# $VP_CNI_PATH (vplumb's are built concurrently; a missing one is a skip).
vp_require_plugin() {
	local p
	for p in "$@"; do
		[[ -n "$p" ]] || vp_skip "no reference equivalent for this plugin (VP_REFERENCE=1)"
		vp_plugin_path "$p" >/dev/null || vp_skip "CNI plugin '$p' not built yet (looked in $VP_CNI_PATH)"
	done
}

# vp_plugin_path NAME: print the plugin's path on $VP_CNI_PATH; 1 if absent.
vp_plugin_path() {
	local d
	local -a dirs
	IFS=: read -r -a dirs <<<"$VP_CNI_PATH"
	for d in "${dirs[@]}"; do
		if [[ -x "$d/$1" ]]; then
			printf '%s\n' "$d/$1"
			return 0
		fi
	done
	return 1
}

# vp_require_cnitool: skip unless the libcni client was built.
vp_require_cnitool() {
	[[ -x "$VP_CNITOOL" ]] || vp_skip "libcni client not built ($VP_CNITOOL; needs golang-go and golang-github-appc-cni-dev)"
}

# vp_netns NAME: create netns vpt-<tag>-NAME with lo up; print its path.
vp_netns() {
	local ns="${VP_PREFIX}${VP_TAG}-$1"
	ip netns add "$ns" || vp_fail "cannot create netns $ns"
	ip -n "$ns" link set lo up
	printf '/run/netns/%s\n' "$ns"
}

# vp_ns NAME: the full netns name of NAME (for ip -n / ip netns exec).
vp_ns() { printf '%s%s-%s\n' "$VP_PREFIX" "$VP_TAG" "$1"; }

# vp_cnitool VERB CONFLIST NETNS_PATH CONTAINER_ID IFNAME [OPTIONS...]: run the
# libcni client with this test's CNI path and result cache.
vp_cnitool() {
	"$VP_CNITOOL" "$@" --cni-path "$VP_CNI_PATH" --cache-dir "$VP_CNI_CACHE_DIR"
}

# vp_run_cni PLUGIN COMMAND CONTAINER_ID NETNS_PATH IFNAME CONFIG_JSON [CNI_ARGS]:
# invoke a plugin directly (env + stdin, as the spec describes, without
# libcni); its stdout is printed, its exit status returned.
vp_run_cni() {
	local bin
	bin="$(vp_plugin_path "$1")" || vp_fail "plugin $1 not found on $VP_CNI_PATH"
	printf '%s' "$6" | env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		CNI_COMMAND="$2" CNI_CONTAINERID="$3" CNI_NETNS="$4" CNI_IFNAME="$5" \
		CNI_ARGS="${7:-}" CNI_PATH="$VP_CNI_PATH" "$bin"
}

# --- assertions -------------------------------------------------------------

# vp_assert_eq GOT WANT WHAT
vp_assert_eq() {
	[[ "$1" == "$2" ]] || vp_fail "$3: got '$1', want '$2'"
}

# vp_assert CMD...: CMD must succeed.
vp_assert() {
	"$@" || vp_fail "command failed: $*"
}

# vp_assert_fails CMD...: CMD must fail.
vp_assert_fails() {
	if "$@"; then vp_fail "command unexpectedly succeeded: $*"; fi
}

# vp_assert_match TEXT REGEX WHAT
vp_assert_match() {
	[[ "$1" =~ $2 ]] || vp_fail "$3: '$1' does not match /$2/"
}

# vp_assert_ping NETNS_NAME ADDR: one ping from the netns must be answered.
vp_assert_ping() {
	ip netns exec "$1" ping -c 1 -W 2 -q "$2" >/dev/null 2>&1 ||
		ip netns exec "$1" ping -c 2 -W 2 -q "$2" >/dev/null ||
		vp_fail "ping from $1 to $2 failed"
}

# vp_assert_link NETNS_NAME DEV: the link exists in the netns ("" = host).
vp_assert_link() {
	ip ${1:+-n "$1"} link show dev "$2" >/dev/null 2>&1 || vp_fail "link $2 missing in netns '${1:-host}'"
}

# vp_assert_no_link NETNS_NAME DEV
vp_assert_no_link() {
	if ip ${1:+-n "$1"} link show dev "$2" >/dev/null 2>&1; then
		vp_fail "link $2 still present in netns '${1:-host}'"
	fi
}

# vp_link_attr NETNS_NAME DEV FIELD: print one field (mtu, address, ...) of
# `ip -j link show`.
vp_link_attr() {
	ip ${1:+-n "$1"} -j link show dev "$2" | jq -r ".[0].$3"
}

# vp_veth_count: number of veth links in the host netns whose peer is in one
# of this test's netns (counting all host veths would see other tests').
vp_veth_count() {
	local ids
	ids=$(ip netns list | sed -n "s/^${VP_PREFIX}${VP_TAG}-[^ ]* (id: \([0-9]*\))\$/\1/p" | jq -sc .)
	ip -j link show type veth | jq --argjson ids "$ids" \
		'[.[] | select(.link_netnsid as $n | $n != null and any($ids[]; . == $n))] | length'
}

# vp_assert_nft_clean WORD...: `nft list ruleset` mentions none of the words
# (pod IPs, MACs, subnets, host-side link names): no rule, map element or
# chain of a deleted attachment is left.
vp_assert_nft_clean() {
	local rules w
	rules="$(nft list ruleset 2>/dev/null)"
	for w in "$@"; do
		[[ -n "$w" ]] || continue
		if grep -Fqiw -- "$w" <<<"$rules"; then
			vp_fail "nft ruleset still mentions '$w': $(grep -Fiw -- "$w" <<<"$rules" | head -3)"
		fi
	done
}

# vp_assert_ipam_clean DATADIR CONTAINER_ID...: the IPAM state under DATADIR
# holds no reservation for any of the containers (state files record the
# owner's container ID).
vp_assert_ipam_clean() {
	local dir="$1" cid hits
	shift
	[[ -d "$dir" ]] || return 0
	for cid in "$@"; do
		hits="$(grep -rlFw -- "$cid" "$dir" 2>/dev/null || true)"
		[[ -z "$hits" ]] || vp_fail "IPAM state still holds $cid in: $hits"
	done
}

# vp_assert_ipam_holds DATADIR CONTAINER_ID: the IPAM state records the
# container (so vp_assert_ipam_clean is not checking an empty place).
vp_assert_ipam_holds() {
	grep -rqFw -- "$2" "$1" 2>/dev/null || vp_fail "IPAM state under $1 does not record $2"
}

# vp_result_ip JSON [INDEX]: the address (without prefix length) of ips[INDEX].
vp_result_ip() { jq -r ".ips[${2:-0}].address" <<<"$1" | cut -d/ -f1; }

# vp_result_gw JSON: the gateway of ips[0].
vp_result_gw() { jq -r '.ips[0].gateway // empty' <<<"$1"; }

# vp_result_host_ifaces JSON: names of the host-side interfaces of a result.
vp_result_host_ifaces() { jq -r '.interfaces[]? | select(.sandbox == null or .sandbox == "") | .name' <<<"$1"; }
