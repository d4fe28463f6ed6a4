#!/usr/bin/env bash
# Reverse replication (issue 5) on the mirror topology (docs/testbed.md):
# the switch copies client->guest frames to the backup's mir0 (tc u32 +
# mirred), the backup logs them (--capture ${RRVM_CAPTURE:-auto}: ringbuf
# here) and the primary gets the originals
# directly. Zero violations are required when capture reported no gap;
# gaps, if any, are reported.
#
#  - `reverse`: ROUNDS times (RRVM_REVERSE_ROUNDS, default 10), a fresh pair,
#    the consistency client (INCR on one connection, unique keys on a
#    second) under a redis-benchmark load, kill -9 of the primary at a
#    random moment: the backup replays its log into the resumed guest and
#    the client must see zero violations and zero reconnects
#    (tb_t_check_failover), the report must show the replay.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ROUNDS=${RRVM_REVERSE_ROUNDS:-10}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || t_fail "RRVM_REVERSE_ROUNDS must be a positive integer"

TB_T_TOPOLOGY=mirror
t_init_testbed redis-cli redis-benchmark ping
tb_t_rep_init
for obj in capture_ringbuf capture_xdp xdp_pass; do
	[ -f "$ROOT/build/bpf/$obj.bpf.o" ] || t_fail "build/bpf/$obj.bpf.o is missing (run make)"
done

declare -a SUMMARY=()
for ((round = 1; round <= ROUNDS; round++)); do
	t_info "--- reverse round $round of $ROUNDS"
	# Sleep-at-once capture here (the default spins: test_failover_reverse).
	tb_t_reverse_pair_up reverse --capture-spin 0
	tb_t_cc_start
	tb_t_load_start
	wait_for 10 --pid "$CC_PID" test -s "$CC_CSV" || t_fail "the consistency client did not start: $(tail -n 5 "$CC_LOG")"
	delay=$((800 + RANDOM % 1701))
	sleep "$(awk -v d=$delay 'BEGIN { printf "%.3f", d / 1000 }')"
	t_info "round $round: kill -9 of the primary ${delay} ms after the client started"
	gaps=$(rrvm_backup_status "$B_CTL" | jq -r '.reverse.gaps // 0')
	tb_t_check_failover "reverse round $round"
	t_info "round $round: capture gaps before the kill: $gaps"
	replayed=$(jq -r '.replay.frames // "none"' "$B_REPORT")
	[ "$replayed" != none ] || t_fail "round $round: the failover report has no replay section"
	want_cap=${RRVM_CAPTURE:-auto}
	[ "$want_cap" = auto ] && want_cap=ringbuf
	t_eq "round $round: the report names the capture backend" "$want_cap" "$(jq -r .replay.capture "$B_REPORT")"
	t_check "round $round: the report's protection matches its capture gaps" json_true "$(cat "$B_REPORT")" \
		'.replay.protection == (if .replay.capture_gaps == 0 then "ok" else "FAILED" end)'
	t_ok "round $round: replayed $replayed frame(s), $(jq -r '.replay.suppressed' "$B_REPORT") regenerated output(s) suppressed in $(jq -r '.replay.replay_ms' "$B_REPORT") ms"
	SUMMARY+=("reverse round $round (kill at ${delay} ms): $FO_SUMMARY, replayed $replayed")
	tb_t_pair_down
done

for line in "${SUMMARY[@]}"; do
	t_info "$line"
done
tb_t_down
t_finish "$ROUNDS reverse failovers (mirror) consistent"
