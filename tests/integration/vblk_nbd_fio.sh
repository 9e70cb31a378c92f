#!/usr/bin/env bash
# vblk_nbd_fio.sh - fio's nbd engine (libnbd) against vblkd with
# verify=crc32c: 4 parallel jobs (4 connections), each on its own 16 MiB
# region (offset_increment), random writes of 4k..1M blocks at QD16 that are
# then read back and checked; a second pass after restarting vblkd checks
# the same data again (verify_only), so it reached the image.  The same on a
# cache=none (O_DIRECT) export when the temp file system has O_DIRECT.
source "$(dirname "$0")/lib.sh"
vp_init vbf
vp_require_cmd fio nbdinfo jq

VBLKD="$VP_BUILD/bin/vblkd"
[[ -x "$VBLKD" ]] || vp_skip "vblkd not built ($VBLKD)"
fio --enghelp=nbd >/dev/null 2>&1 || vp_skip "this fio has no nbd engine"
SOCK="$VP_TMP/nbd.sock"
IMG="$VP_TMP/disk0.img"
DIRECT="$VP_TMP/direct.img"
JOBS=4
REGION=$((16 << 20))
truncate -s $((JOBS * REGION)) "$IMG" "$DIRECT"
exports=(--export "name=disk0,image=$IMG")
if dd if="$DIRECT" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null; then
	exports+=(--export "name=direct,image=$DIRECT,cache=none")
else
	DIRECT=""
fi

start() {
	vp_start_daemon "$VP_TMP/vblkd.log" "$VBLKD" --nbd "unix:$SOCK" --workers 2 "${exports[@]}"
	vp_wait_nbd "nbd+unix:///disk0?socket=$SOCK" "$VP_TMP/vblkd.log"
}

# run_fio EXPORT WHAT [FIO OPTIONS...]: fio must exit 0, every job without
# error, nothing reported as a verify failure; prints the JSON summary line.
run_fio() {
	local export="$1" what="$2" out rc=0
	shift 2
	out="$(fio --name=vbf --ioengine=nbd --uri="nbd+unix:///$export?socket=$SOCK" \
		--numjobs=$JOBS --size=$REGION --offset_increment=$REGION --rw=randwrite \
		--bsrange=4k-1m --iodepth=16 --verify=crc32c --verify_fatal=1 --verify_state_save=0 --randrepeat=1 \
		--output-format=json "$@" 2>"$VP_TMP/fio.err")" || rc=$?
	out="$(sed -n '/^{/,$p' <<<"$out")"   # the nbd engine prints "connected" first
	[[ $rc -eq 0 ]] || vp_fail "$what: fio exit status $rc: $(tail -20 "$VP_TMP/fio.err")"
	if grep -Eqi 'verify|crc32c|bad magic' "$VP_TMP/fio.err"; then
		vp_fail "$what: fio reported verify errors: $(grep -Ei 'verify|crc32c|bad magic' "$VP_TMP/fio.err" | head -5)"
	fi
	vp_assert_eq "$(jq '[.jobs[].error] | add' <<<"$out")" 0 "$what: job errors"
	vp_assert_eq "$(jq '.jobs | length' <<<"$out")" $JOBS "$what: jobs run"
	printf '%s\n' "$out" >"$VP_TMP/last.json"
}

# bytes READ/WRITE: summed over the jobs of the last run.
bytes() { jq "[.jobs[].$1.io_bytes] | add" "$VP_TMP/last.json"; }

start
run_fio disk0 "randwrite+verify"
vp_assert_eq "$(bytes write)" $((JOBS * REGION)) "every job wrote its whole region"
vp_assert_eq "$(bytes read)" $((JOBS * REGION)) "every job read its region back"
vp_ok "fio nbd engine, 4 jobs, randwrite 4k-1M QD16 + verify=crc32c"

# The data is in the image: restart the daemon, verify again without writing.
kill -TERM "$VP_PID"
wait "$VP_PID" || vp_fail "vblkd exit status $? after SIGTERM"
start
run_fio disk0 "verify_only after restart" --verify_only
vp_assert_eq "$(bytes read)" $((JOBS * REGION)) "verify_only read every region"
vp_ok "verify_only after a vblkd restart: data persisted"

# A job that writes wrong data must be caught: overwrite job 1's region with
# other contents, then verify_only has to fail (the check is not vacuous).
vp_assert fio --name=clobber --ioengine=nbd --uri="nbd+unix:///disk0?socket=$SOCK" --rw=write \
	--bs=64k --offset=$REGION --size=$REGION --buffer_pattern=0x77 >/dev/null 2>&1
if fio --name=vbf --ioengine=nbd --uri="nbd+unix:///disk0?socket=$SOCK" --numjobs=$JOBS \
	--size=$REGION --offset_increment=$REGION --rw=randwrite --bsrange=4k-1m --iodepth=16 \
	--verify=crc32c --verify_fatal=1 --randrepeat=1 --verify_only >/dev/null 2>&1; then
	vp_fail "verify_only passed over a clobbered region"
fi
vp_ok "a clobbered region fails verification"

if [[ -n "$DIRECT" ]]; then
	run_fio direct "cache=none randwrite+verify"
	vp_assert_eq "$(bytes write)" $((JOBS * REGION)) "cache=none: every job wrote its region"
	vp_assert_eq "$(bytes read)" $((JOBS * REGION)) "cache=none: every job read its region back"
	vp_ok "cache=none (O_DIRECT): 4 jobs, randwrite + verify=crc32c"
else
	vp_log "cache=none part skipped: no O_DIRECT on $VP_TMP"
fi
