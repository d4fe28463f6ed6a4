#!/usr/bin/env bash
# Continuous protection (issue 11): a chain of failovers. Each round kills
# the current primary with kill -9; the backup fails over (fence, restore,
# replay in reverse mode), runs the VM and keeps trying its --reprotect
# address; the test unfences the dead host and starts a new `rrvm backup`
# there; the survivor re-protects to it (full checkpoint, then epochs; in
# reverse mode after its --rewire-cmd put the new backup's capture in front
# of it). The hosts alternate. One consistency client (INCR on one
# connection, unique keys on another) and a redis-benchmark load run from
# the first pair to the last round, through every failover:
#   0 violations, 0 reconnects, every acknowledged key read back,
#   redis-benchmark without an error, each round's report a failover
#   decided without waiting for the timeout (the closed link, or the
#   heartbeats' silence when the killed process took longer to close its
#   sockets than the threshold) with fence status 0.
# Per round it prints the client's stall across the takeover (outage), the
# re-protection time (backup started -> protected) and the longest stall
# meanwhile. The round itself is experiments/lib/chain.sh's chain_round,
# which the protection-chain scenario runs too.
#
# RRVM_CHAIN_ROUNDS (default 5) rounds per mode in RRVM_CHAIN_MODES
# (default: all three,
# "buffered reverse-inline reverse-mirror"; reverse modes use the testbed's rewire).
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ROUNDS=${RRVM_CHAIN_ROUNDS:-5}
MODES=${RRVM_CHAIN_MODES:-buffered reverse-inline reverse-mirror}
EPOCH_MS=20
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || t_fail "RRVM_CHAIN_ROUNDS must be a positive integer"

t_init_testbed redis-cli redis-benchmark ping jq
tb_t_rep_init

declare -a SUMMARY=()
for mode in $MODES; do
	chain_mode "$mode" || t_fail "unknown mode '$mode' in RRVM_CHAIN_MODES"
	t_info "=== $mode: $ROUNDS rounds"
	tb_t_retopology "$CH_TOPO"
	tb_t_sym_pair_up "$CH_PMODE" "$EPOCH_MS" "$T_TMP/unused.json"
	tb_t_cc_start
	tb_t_load_start
	wait_for 10 --pid "$CC_PID" test -s "$CC_CSV" || t_fail "the consistency client did not start: $(tail -n 5 "$CC_LOG")"
	# The chain (experiments/lib/chain.sh): the current primary and its
	# backup, one round per kill.
	chain_begin "$P_PID" "$P_CTL" "$T_TMP/unused.json" "$B_PID" "$B_CTL" "$B_REPORT" ||
		t_fail "python3 cannot read CLOCK_MONOTONIC"
	declare -a RND=()
	for ((round = 1; round <= ROUNDS; round++)); do
		bk_h=$CH_BK_HOST
		cur_h=$CH_CUR_HOST
		name=$mode.$round.$cur_h
		chain_round "$T_TMP/chain.$name.log" "$T_TMP/chain.$name.ctl" "$T_TMP/report.$name.json"
		rc=$?
		T_EXTRA_LOGS+=("$T_TMP/chain.$name.log")
		t_check "$mode round $round: the backup on $bk_h is replicating before the kill" \
			json_true "$CH_R_STATUS" '.state == "replicating"'
		fo=$CH_R_REPORT
		t_check "$mode round $round: $bk_h failed over (report)" test -n "$fo"
		t_check "$mode round $round: a failover without waiting for the timeout, fenced, first frame seen" \
			json_true "${fo:-null}" '.reason == "failover" and (.detector | IN("link-closed", "silence", "both-paths-silent")) and .phases_ms.detect < .detect_timeout_ms / 2 and .fence_status == 0 and .first_frame_seen == true'
		[ "$mode" = reverse-inline ] && t_check "$mode round $round: no capture gaps" \
			json_true "${fo:-null}" '.replay.capture_gaps == 0'
		if [ -n "$CH_R_REPROTECT_MS" ]; then
			t_ok "$mode round $round: the VM on $bk_h is protected again by $cur_h in $CH_R_REPROTECT_MS ms"
		else
			t_check "$mode round $round: the VM on $bk_h is protected again within $CH_PROTECT_TIMEOUT_S s ($CH_ERR)" false
		fi
		[ $rc = 0 ] || t_fail "$mode round $round: the chain cannot go on: $CH_ERR"
		# For the summary once the client has written its CSV.
		RND+=("$round $cur_h $bk_h $(chain_takeover_mono "$fo" "$CH_R_KILL_MONO") $CH_R_START_MONO $CH_R_PROTECTED_MONO $CH_R_REPROTECT_MS $(jq -c .phases_ms <<<"${fo:-null}")")
	done
	P_PID=$CH_CUR_PID B_PID=$CH_BK_PID
	sleep 1
	t_check "$mode: redis-benchmark still running" pid_alive "$RB_PID"
	t_eq "$mode: redis-benchmark reported no error" "" "$(rb_errors "$RB_LOG")"
	tb_t_cc_stop
	t_eq "$mode: consistency client exit status (0 = no violation)" 0 "$CC_RC"
	t_check "$mode: no violation of any kind" json_true "$CC_JSON" '.ok == true and ([.violations[]] | add) == 0'
	t_eq "$mode: reconnects (0 = the same connections survived $ROUNDS failovers)" 0 "$(jq -r .reconnects <<<"$CC_JSON")"
	t_check "$mode: every acknowledged key read back" json_true "$CC_JSON" \
		'.keys_lost == 0 and .final_verify_complete == true and .keys_acked > 0'
	t_eq "$mode: the counter equals the client's last acknowledged INCR" \
		"$(jq -r '.last_value // "none"' <<<"$CC_JSON")" "$(tb_rcli GET consistency:ctr)"
	t_info "$mode: client: $(jq -c '{replies, lost_increments, keys_acked, keys_lost, longest_stall_ms, reconnects}' <<<"$CC_JSON")"
	# Per round, from the client's CSV: its stall across the takeover (the
	# survivor's restore instant) and its longest stall while the new
	# backup was brought in (started -> protected + 0.3 s).
	for r in "${RND[@]}"; do
		read -r round from to tk start prot reprotect phases <<<"$r"
		read -r gap _ gap_to <<<"$(chain_stall_at "$CC_CSV" "$tk")"
		rgap=$(chain_reprotect_stall "$CC_CSV" "$gap_to" "$start" "$prot")
		SUMMARY+=("$mode round $round: $from -> $to, outage (client stall across the takeover) $gap ms, re-protect $reprotect ms (longest stall meanwhile $rgap ms), phases $phases")
	done
	# Stop everything of this mode (ours, by PID) and reset the testbed.
	tb_t_pair_down
	for h in pri bak; do
		tb_is_fenced "$h" && "$TB_CLI" --prefix "$TB_PREFIX" unfence "$h" >/dev/null 2>&1
	done
done
for line in "${SUMMARY[@]}"; do
	t_info "$line"
done
tb_t_down
t_finish "$ROUNDS-round chains in: $MODES"
