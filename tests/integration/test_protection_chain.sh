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
# Per round it prints the client's stall around the kill (outage) and the
# re-protection time (backup started -> protected).
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

other() { [ "$1" = pri ] && echo bak || echo pri; }

# chain_backup_start HOST REPORT: `rrvm backup` on HOST, re-protecting to
# the other host, fencing it. Sets NEW_PID NEW_CTL NEW_LOG.
chain_backup_start() {
	local h=$1 report=$2 o ns
	o=$(other "$h")
	ns=$(tb_ns "$h")
	local -a opt=(--reprotect "$(tb_host_rep_ip "$o"):7777" --fence-cmd "$(rrvm_tb_fence_cmd "$o")")
	if [ "${TB_TOPOLOGY:-basic}" != basic ]; then
		opt+=(--topology "$TB_TOPOLOGY" --capture-if "$TB_BAK_CAPTURE_IF"
			--guest-mac "$TB_GUEST_MAC" --guest-ip "$TB_GUEST_IP")
		[ -n "$TB_BAK_FORWARD_IF" ] && opt+=(--forward-if "$TB_BAK_FORWARD_IF")
		declare -f tb_rewire_cmd >/dev/null && opt+=(--rewire-cmd "$(tb_rewire_cmd "$h")")
	fi
	T_PAIR=$((T_PAIR + 1))
	NEW_LOG=$T_TMP/chain.$T_PAIR.$h.log
	NEW_CTL=$T_TMP/chain.$T_PAIR.$h.ctl
	rm -f "$report"
	rrvm_backup_bg "$ns" "$NEW_LOG" "$NEW_CTL" "$(tb_host_rep_ip "$h"):7777" "$report" "${opt[@]}"
	NEW_PID=$RRVM_LAST_PID
	T_EXTRA_LOGS+=("$NEW_LOG")
	wait_for 10 --pid "$NEW_PID" test -S "$NEW_CTL" ||
		t_fail "rrvm backup on $h did not open its control socket: $(tail -n 5 "$NEW_LOG")"
}

# shellcheck disable=SC2317 # called through wait_for
protected_since() { # CTL MIN_CONNECTS
	json_true "$(rrvm_repl_stats "$1" 2>/dev/null)" ".protected == true and .connects >= $2 and .acked_epoch > 0"
}

declare -a SUMMARY=()
for mode in $MODES; do
	case "$mode" in
	buffered) topo=basic pmode=buffered ;;
	reverse-inline) topo=inline pmode=reverse ;;
	reverse-mirror) topo=mirror pmode=reverse ;;
	*) t_fail "unknown mode '$mode' in RRVM_CHAIN_MODES" ;;
	esac
	t_info "=== $mode: $ROUNDS rounds"
	tb_t_retopology "$topo"
	tb_t_sym_pair_up "$pmode" "$EPOCH_MS" "$T_TMP/unused.json"
	tb_t_cc_start
	tb_t_load_start
	wait_for 10 --pid "$CC_PID" test -s "$CC_CSV" || t_fail "the consistency client did not start: $(tail -n 5 "$CC_LOG")"
	# The current primary and its backup.
	cur_h=pri cur_pid=$P_PID cur_ctl=$P_CTL
	bk_h=bak bk_pid=$B_PID bk_ctl=$B_CTL bk_report=$B_REPORT
	for ((round = 1; round <= ROUNDS; round++)); do
		sleep "$(awk -v d=$((600 + RANDOM % 900)) 'BEGIN { printf "%.3f", d / 1000 }')"
		t_check "$mode round $round: the backup on $bk_h is replicating before the kill" \
			json_true "$(rrvm_backup_status "$bk_ctl" 2>/dev/null)" '.state == "replicating"'
		kill_ms=$(mono_ms_py "$T_PY")
		rrvm_kill9 "$cur_pid" || t_info "the primary had already exited"
		rrvm_wait_file "$bk_report" "$bk_pid" 10000
		fo=$(jq -c . "$bk_report" 2>/dev/null)
		t_check "$mode round $round: $bk_h failed over (report)" test -n "$fo"
		t_check "$mode round $round: a failover without waiting for the timeout ($(jq -r .detector <<<"${fo:-null}"), detect $(jq -r .phases_ms.detect <<<"${fo:-null}") ms), fenced, first frame seen" \
			json_true "${fo:-null}" '.reason == "failover" and (.detector | IN("link-closed", "silence", "both-paths-silent")) and .phases_ms.detect < .detect_timeout_ms / 2 and .fence_status == 0 and .first_frame_seen == true'
		[ "$mode" = reverse-inline ] && t_check "$mode round $round: no capture gaps" \
			json_true "${fo:-null}" '.replay.capture_gaps == 0'
		# The dead host comes back as the new backup.
		"$TB_CLI" --prefix "$TB_PREFIX" unfence "$cur_h" >/dev/null 2>&1 ||
			t_fail "testbed unfence $cur_h failed"
		new_report=$T_TMP/report.$mode.$round.$cur_h.json
		t0=$(now_ms)
		chain_backup_start "$cur_h" "$new_report"
		connects=$(jq -r '.connects // 0' <<<"$(rrvm_repl_stats "$bk_ctl" 2>/dev/null)")
		if wait_for 20 --pid "$bk_pid" protected_since "$bk_ctl" 1; then
			reprotect_ms=$(( $(now_ms) - t0 ))
			t_ok "$mode round $round: the VM on $bk_h is protected again by $cur_h in $reprotect_ms ms (connects before: $connects)"
		else
			reprotect_ms=NA
			t_check "$mode round $round: the VM on $bk_h is protected again within 20 s" false
			t_info "survivor: $(rrvm_repl_stats "$bk_ctl" 2>&1)"
		fi
		read -r gap _ < <(cc_max_gap "$CC_CSV" "$((kill_ms - 2000))" "$(mono_ms_py "$T_PY")")
		SUMMARY+=("$mode round $round: $cur_h -> $bk_h, outage (client stall around the kill) $gap ms, re-protect $reprotect_ms ms, phases $(jq -c .phases_ms <<<"${fo:-null}")")
		t_info "${SUMMARY[-1]}"
		# Swap: the survivor is the primary, the new daemon its backup.
		cur_h=$bk_h cur_pid=$bk_pid cur_ctl=$bk_ctl
		bk_h=$(other "$cur_h") bk_pid=$NEW_PID bk_ctl=$NEW_CTL bk_report=$new_report
	done
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
	# Stop everything of this mode (ours, by PID) and reset the testbed.
	P_PID=$cur_pid B_PID=$bk_pid
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
