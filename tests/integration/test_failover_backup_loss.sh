#!/usr/bin/env bash
# Losing the backup, resynchronising a new one, then failing over (issue 4
# acceptance), on a private four-host testbed (docs/testbed.md).
#
#  1. Pair up (buffered, epoch 20 ms); the consistency client and a
#     redis-benchmark load run for the whole test.
#  2. kill -9 of the BACKUP. The primary keeps serving: within 5 s its
#     `stats` says protected = false, disconnects = 1, it logs BACKUP LOST,
#     and holds no output; the client and the load keep getting replies
#     (the longest wait between two replies from just before the kill
#     until the new backup starts is printed; asserted only < 2 s, the
#     target is one epoch plus noise).
#  3. A new `rrvm backup` on the same address: the primary reconnects
#     (connects = 2) and resynchronises with a full checkpoint
#     (full_epochs = 2), protected = true, and the new backup acknowledges
#     it (replicating, committed epoch > 0). The longest wait between
#     replies during the resync is printed.
#  4. kill -9 of the primary: tb_t_check_failover (lib.sh) - the new
#     backup takes over and the client saw no violation and no reconnect
#     over the whole test (backup loss, resync and failover).
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

EPOCH_MS=20
t_init_testbed redis-cli redis-benchmark ping
tb_t_rep_init

# shellcheck disable=SC2317 # called through wait_for
repl_is() { # JQ: the primary's replication stats satisfy it
	local s
	s=$(rrvm_repl_stats "$P_CTL" 2>/dev/null) || return 1
	jq -e "$1" <<<"$s" >/dev/null 2>&1
}

tb_t_pair_up buffered "$EPOCH_MS"
tb_t_cc_start
tb_t_load_start
wait_for 10 --pid "$CC_PID" test -s "$CC_CSV" || t_fail "the consistency client did not start: $(tail -n 5 "$CC_LOG")"
sleep 1.5

# ------------------------------------------------ 2. the backup dies
s0=$(rrvm_repl_stats "$P_CTL")
t_info "primary before the backup's loss: $s0"
old_backup_log=$B_LOG
t_kill=$(mono_ms_py "$T_PY")
w0=$(now_ms)
rrvm_kill9 "$B_PID"
B_PID=
t_check "the primary notices: protected = false, disconnects = 1 (within 5 s)" \
	wait_for 5 --pid "$P_PID" repl_is '.protected == false and .disconnects == 1'
t_info "noticed after $(( $(now_ms) - w0 )) ms"
t_check "the primary logged BACKUP LOST" grep -q 'BACKUP LOST' "$P_LOG"
sleep 1.5
s1=$(rrvm_repl_stats "$P_CTL")
t_info "primary while unprotected: $s1"
t_check "unprotected: protected false, disconnects 1, nothing held" json_true "$s1" \
	'.protected == false and .disconnects == 1 and .output.held_now_bytes == 0'
t_check "the primary is running" pid_alive "$P_PID"
t_check "the consistency client is running" pid_alive "$CC_PID"
t_check "redis-benchmark is running" pid_alive "$RB_PID"
t_resync=$(mono_ms_py "$T_PY")
read -r gap_loss n_loss <<<"$(cc_max_gap "$CC_CSV" "$t_kill" "$t_resync")"
t_info "longest wait between replies from the backup's loss until the new backup: $gap_loss ms ($n_loss replies in $((t_resync - t_kill)) ms)"
t_check "replies kept coming while unprotected ($n_loss)" test "$n_loss" -gt 100
t_check "longest wait between replies while losing the backup < 2000 ms ($gap_loss ms; epoch $EPOCH_MS ms)" \
	awk -v g="$gap_loss" 'BEGIN { exit !(g != "NA" && g < 2000) }'

# ---------------------------------------------- 3. a new backup, resync
tb_t_backup_start
rrvm_wait_protected "$P_CTL" "$P_PID" 20 2
rc=$?
t_eq "resync: the new backup acknowledged a second full checkpoint (0 = ok, 1 = timeout, 2 = primary exited)" 0 "$rc"
s2=$RRVM_REPL
t_info "primary after the resync: $s2"
t_check "resync: connects 2, disconnects 1, full_epochs 2, protected" json_true "$s2" \
	'.connects == 2 and .disconnects == 1 and .full_epochs == 2 and .protected == true'
t_check "resync: the epoch numbers went on (acked epoch $(jq -r .acked_epoch <<<"$s2") > $(jq -r .epochs <<<"$s0"))" \
	json_true "$s2" ".acked_epoch > $(jq -r .epochs <<<"$s0")"
bs=$(rrvm_backup_status "$B_CTL")
t_info "new backup: $bs"
t_check "the new backup is replicating with a committed epoch, nothing rejected" json_true "$bs" \
	'.state == "replicating" and .committed_epoch > 0 and .epochs_rejected == 0'
t_check "the new backup logged the full checkpoint" grep -q 'committed full checkpoint' "$B_LOG"
sleep 1
t_done=$(mono_ms_py "$T_PY")
read -r gap_resync n_resync <<<"$(cc_max_gap "$CC_CSV" "$t_resync" "$t_done")"
t_info "longest wait between replies during the resync: $gap_resync ms ($n_resync replies)"
t_check "the client saw no violation so far" file_lacks 'violation|VIOLATION' "$CC_LOG"

# --------------------------------------------- 4. failover to the new one
tb_t_check_failover "failover after resync"
tb_t_pair_down
tb_t_down
t_info "old backup's log: $(grep -c . "$old_backup_log") lines"
t_finish "stall while losing the backup $gap_loss ms, during resync $gap_resync ms, at failover $FO_STALL_MS ms"
