#!/usr/bin/env bash
# libcni_tap.sh - vnet-tap alone through libcni: a VM tap with every option
# (name, mac, mtu, multiQueue, queues, vnetHdr, owner, group); CHECK passes;
# DEL removes it; a bad option fails with a CNI error and creates nothing.
source "$(dirname "$0")/lib.sh"
vp_init ltp
vp_require_cnitool
vp_require_plugin "$VP_TAP"

conf() { # conf NAME MAC -> conflist path
	local f="$VP_TMP/$1.conflist"
	cat >"$f" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "vpt-ltp",
  "plugins": [{ "type": "$VP_TAP", "name": "$1", "mac": "$2", "mtu": 9000,
                "multiQueue": true, "queues": 2, "vnetHdr": true,
                "owner": 65534, "group": 65534 }]
}
JSON
	printf '%s\n' "$f"
}

path=$(vp_netns vm)
ns=$(vp_ns vm)
CONF=$(conf vmtap0 02:00:5e:00:53:01)
r=$(vp_cnitool add "$CONF" "$path" vpt-ltp-cid vmtap0) || vp_fail "ADD"
vp_assert_eq "$(jq -r '.interfaces[0].name' <<<"$r")" vmtap0 "result interface"
vp_assert_eq "$(jq -r '.interfaces[0].sandbox' <<<"$r")" "$path" "result interface sandbox"
vp_assert_link "$ns" vmtap0
info=$(ip -n "$ns" -j -d link show dev vmtap0 | jq -c '.[0].linkinfo.info_data')
vp_assert_eq "$(jq -r .type <<<"$info")" tap "kind"
vp_assert_eq "$(jq -r .vnet_hdr <<<"$info")" true "vnet_hdr"
vp_assert_eq "$(jq -r .multi_queue <<<"$info")" true "multi_queue"
vp_assert_eq "$(jq -r .persist <<<"$info")" true "persist (outlives the plugin)"
owner=$(getent passwd 65534 | cut -d: -f1)
group=$(getent group 65534 | cut -d: -f1)
vp_assert_eq "$(jq -r .user <<<"$info")" "${owner:-65534}" "owner"
vp_assert_eq "$(jq -r .group <<<"$info")" "${group:-65534}" "group"
vp_assert_eq "$(vp_link_attr "$ns" vmtap0 mtu)" 9000 "mtu"
vp_assert_eq "$(vp_link_attr "$ns" vmtap0 address)" 02:00:5e:00:53:01 "mac"
vp_ok "ADD: vmtap0 with mac, mtu 9000, multi_queue, vnet_hdr, owner and group"

vp_cnitool check "$CONF" "$path" vpt-ltp-cid vmtap0 || vp_fail "CHECK"
vp_ok "CHECK passes"

vp_cnitool del "$CONF" "$path" vpt-ltp-cid vmtap0 || vp_fail "DEL"
vp_assert_no_link "$ns" vmtap0
vp_cnitool del "$CONF" "$path" vpt-ltp-cid vmtap0 || vp_fail "second DEL must succeed"
vp_ok "DEL removes the tap, and is idempotent"

BAD=$(conf vmtap1 not-a-mac)
if err=$(vp_cnitool add "$BAD" "$path" vpt-ltp-bad vmtap1 2>&1); then
	vp_fail "ADD with mac 'not-a-mac' succeeded"
fi
vp_assert_match "$err" 'code=[0-9]+' "bad mac: CNI error code"
vp_assert_no_link "$ns" vmtap1
vp_assert_eq "$(ip -n "$ns" -o link show | wc -l)" 1 "links in the netns after a failed ADD (lo only)"
vp_ok "bad mac: CNI error ($(grep -o 'code=[0-9]*' <<<"$err" | head -1)), nothing created"
