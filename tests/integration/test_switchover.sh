#!/usr/bin/env bash
# Planned switchover (issue 11): `rrvm ctl PRIMARY switchover` moves the VM
# to the backup host with nothing lost and no detect timeout (final epoch,
# handover, no fence); the old primary becomes the backup of the same pair
# (it was started with --listen), and the new primary protects the VM to
# it. Then back again, and a kill -9 of the primary at the end proves the
# pair is still protected after two role swaps.
#
# For each mode in RRVM_SWITCHOVER_MODES (default: all three,
# "buffered reverse-inline reverse-mirror"; reverse modes use the testbed's rewire step),
# with the consistency client (incr,keys) and redis-benchmark running the
# whole time:
#  - refused while the backup is not in sync (before the first full
#    checkpoint is acknowledged) and a second concurrent request refused;
#  - pri -> bak: the reply says handed over; the backup's report says
#    reason handover, no fence; the VM answers from bak; the process on
#    pri is alive and now a backup (status role backup, replicating) once
#    the new primary re-protected to it;
#  - bak -> pri: the same, the other way;
#  - kill -9 of the primary (on pri): the backup (on bak) fails over;
#  - the client: 0 violations, 0 reconnects, every acknowledged key read
#    back (tb_t_check_failover).
# The switchover's client-visible stall and phases are printed.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

MODES=${RRVM_SWITCHOVER_MODES:-buffered reverse-inline reverse-mirror}
EPOCH_MS=20

t_init_testbed redis-cli redis-benchmark ping
tb_t_rep_init

# shellcheck disable=SC2317
so_protected() { json_true "$(rrvm_repl_stats "$1" 2>/dev/null)" '.protected == true and .acked_epoch > 0'; }

# switch_over LABEL: chain_switchover (experiments/lib/chain.sh: the
# current primary hands the VM to its backup, the roles swap) and its
# checks.
switch_over() {
	local label=$1 from=$CH_CUR_HOST to=$CH_BK_HOST
	chain_switchover
	t_info "$label: switchover $from -> $to: $CH_S_REPLY (protected again ${CH_S_PROTECT_MS:-?} ms after the request)"
	[ -n "$CH_ERR" ] && t_info "$label: $CH_ERR"
	t_eq "$label: switchover exit status" 0 "$CH_S_RC"
	t_check "$label: the reply says handed over" json_true "$CH_S_REPLY" '.handed_over == true'
	t_check "$label: the new primary wrote its report (within 10 s)" test -n "$CH_S_REPORT"
	t_info "$label: report: $(jq -c '{reason, detector, committed_epoch, phases_ms, fence_status, replay: (.replay | if . == null then null else {frames, replay_ms} end)}' <<<"${CH_S_REPORT:-null}" 2>/dev/null)"
	t_check "$label: report: a handover, no fence" json_true "${CH_S_REPORT:-null}" \
		'.reason == "handover" and .fence_cmd == "(planned: none)" and .first_frame_seen == true'
	t_check "$label: the new primary is protected again (within 20 s)" test -n "$CH_S_PROTECTED_MONO"
	t_check "$label: the old primary is now its backup, replicating" test -n "$CH_S_OLD_STATUS"
	t_eq "$label: PING on a new connection" PONG "$(tb_rcli PING)"
}

for mode in $MODES; do
	chain_mode "$mode" || t_fail "unknown mode '$mode' in RRVM_SWITCHOVER_MODES"
	t_info "=== $mode"
	tb_t_retopology "$CH_TOPO"
	# Both daemons can hold either role: each fences the other host,
	# listens on its own replication address as a backup and protects
	# to the other's.
	P_REPORT=$T_TMP/report-pri.$mode.json
	tb_t_sym_pair_up "$CH_PMODE" "$EPOCH_MS" "$P_REPORT"
	tb_t_cc_start
	tb_t_load_start
	wait_for 10 --pid "$CC_PID" test -s "$CC_CSV" || t_fail "the consistency client did not start: $(tail -n 5 "$CC_LOG")"
	sleep 1

	# Not in sync: the backup frozen, its acks fall behind: refused.
	kill -STOP "$B_PID"
	sleep 0.3
	out=$(timeout 10 "$RRVM" ctl "$P_CTL" switchover 2>&1)
	rc=$?
	kill -CONT "$B_PID"
	t_check "$mode: switchover refused while the backup lags (exit $rc)" test "$rc" -ne 0
	t_check "$mode: ... saying it is not in sync ($out)" matches "$out" "not in sync"
	t_check "$mode: the pair is still protected afterwards" wait_for 10 so_protected "$P_CTL"
	# A request on the backup (not a VM) is refused.
	out=$(timeout 10 "$RRVM" ctl "$B_CTL" switchover 2>&1)
	t_check "$mode: switchover on the backup (not a VM) is refused" test $? -ne 0
	t_info "$mode: on the backup: $out"

	chain_begin "$P_PID" "$P_CTL" "$P_REPORT" "$B_PID" "$B_CTL" "$B_REPORT" ||
		t_fail "python3 cannot read CLOCK_MONOTONIC"
	switch_over "$mode pri->bak"
	out=$(timeout 10 "$RRVM" ctl "$P_CTL" switchover 2>&1)
	t_check "$mode: a second switchover from the old primary is refused" test $? -ne 0
	sleep 1
	switch_over "$mode bak->pri"
	sleep 1

	# The pair is still a pair: kill the primary (on pri), bak takes over.
	rm -f "$B_REPORT"
	# tb_t_check_failover kills P_PID and waits for B_REPORT.
	tb_t_check_failover "$mode: failover after two switchovers"
	t_check "$mode: the failover did not wait for the timeout ($(jq -r .detector <<<"$FO_JSON"))" \
		json_true "$FO_JSON" '(.detector | IN("link-closed", "silence", "both-paths-silent")) and .phases_ms.detect < .detect_timeout_ms / 2'
	if [ "$mode" = reverse-inline ]; then
		# The full checkpoints after each swap name frames from before
		# the new backup's log (REPL_DIGESTS_FULL): not capture gaps.
		t_check "$mode: no capture gaps after the role swaps" \
			json_true "$FO_JSON" '.replay.capture_gaps == 0'
	fi
	tb_t_pair_down
done
tb_t_down
t_finish "switchover both ways in: $MODES"
