#!/usr/bin/env bash
# Faults around role changes (issue 11, "Bad input and faults"), buffered
# mode on the basic testbed, the consistency client running throughout:
#  1. switchover while the backup is frozen (SIGSTOP), then killed: the
#     handover gets no answer (the primary gives the silent backup up
#     after its --detect-timeout), the switchover fails with a clear message
#     and the VM runs on at the primary (thawed, not lost); a new backup
#     and `ctl protect` make it protected again;
#  2. a switchover requested while one is in flight is refused;
#  3. re-protection to an address where nothing listens: after the
#     failover the survivor keeps running, says it is unprotected, keeps
#     trying (connect attempts counted in the log), answers the client;
#  4. the survivor dies during re-protection, in the middle of the full
#     checkpoint (the link goes through experiments/lib/corrupt_proxy.py,
#     armed to cut the first epoch half-way): the new backup holds no
#     committed checkpoint, so it must NOT take over (it has nothing to
#     run): it says so and keeps waiting; no VM runs on two hosts.
#  The client sees no violation and no reconnect over 1-3.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

t_init_testbed redis-cli redis-benchmark ping jq
tb_t_rep_init
# The proxy aims its faults by the stream's checkpoint framing, which it
# can only see on a plaintext link: this pair runs --insecure (the faults
# on an authenticated link are test_security.sh's).
RRVM_KEY_FILE=

# The primary gives a silent backup up after its --detect-timeout (issue
# 14): 2 s here, so the frozen backup's handover is still in flight when
# part 2 asks for a second one.
tb_t_sym_pair_up buffered 20 "$T_TMP/report-pri.json" --detect-timeout 2000
tb_t_cc_start
wait_for 10 --pid "$CC_PID" test -s "$CC_CSV" || t_fail "the consistency client did not start"
sleep 1

# The dirty log belongs to the replicator: a probe would steal its pages.
out=$(ctl "$P_CTL" checkpoint-probe 3 10 2>&1)
t_check "0: checkpoint-probe on a protected primary is refused ($out)" test $? -ne 0
t_check "0: ... naming the replicator" matches "$out" "in use by the replicator"

# ------------------------------------------- 1 + 2. switchover, backup dies
kill -STOP "$B_PID"
out_f=$T_TMP/switchover1.out
timeout 20 "$RRVM" ctl "$P_CTL" switchover --timeout 3000 >"$out_f" 2>&1 &
so_pid=$!
sleep 0.5
out2=$(timeout 10 "$RRVM" ctl "$P_CTL" switchover 2>&1)
t_check "2: a second switchover while one is in flight is refused" test $? -ne 0
t_info "2: $out2"
t_check "2: ... and says why" grep -qi "in progress" <<<"$out2"
kill -KILL "$B_PID"
kill -CONT "$B_PID" 2>/dev/null
rrvm_kill9 "$B_PID" >/dev/null 2>&1
wait "$so_pid"
rc=$?
t_info "1: switchover with the backup frozen then killed: exit $rc: $(cat "$out_f")"
t_check "1: the switchover failed (non-zero exit)" test "$rc" -ne 0
t_check "1: it says the handover did not happen" grep -qiE "refused|no answer|broke" "$out_f"
t_check "1: the primary still runs the VM" pid_alive "$P_PID"
t_eq "1: the VM answers PING" PONG "$(tb_rcli PING)"
st=$(ctl "$P_CTL" status --json)
t_check "1: status: running, unprotected" json_true "$st" '.state == "running" and .protected == false'
# A new backup on bak, and the operator protects to it.
tb_t_backup_start
out=$(ctl "$P_CTL" protect "$REP_LISTEN" 2>&1)
t_eq "1: ctl protect: exit status" 0 "$?"
t_info "1: $out"
rrvm_wait_protected "$P_CTL" "$P_PID" 20
t_eq "1: protected again after ctl protect (0 = ok)" 0 "$?"

# -------------------------------- 3. re-protect where nothing listens
# The backup re-protects to pri:7778, where part 4 puts the proxy later.
REPROTECT=$TB_PRI_REP_IP:7778
rrvm_kill9 "$B_PID" >/dev/null 2>&1
tb_t_backup_start --reprotect "$REPROTECT"
rrvm_wait_protected "$P_CTL" "$P_PID" 20
t_eq "3: the new backup holds a full checkpoint (0 = ok)" 0 "$?"
tb_t_failover 10 || t_fail "3: no failover report after the kill"
t_check "3: bak took over" json_true "$FO_JSON" '.reason == "failover"'
sleep 1.5
st=$(ctl "$B_CTL" status --json)
t_check "3: the survivor runs, unprotected, aiming at pri" json_true "$st" \
	".state == \"running\" and .protected == false and .backup == \"$REPROTECT\""
t_eq "3: the VM answers PING" PONG "$(tb_rcli PING)"
rs=$(rrvm_repl_stats "$B_CTL")
t_check "3: it keeps trying (0 connects, failed attempts counted, protected false)" \
	json_true "$rs" '.connects == 0 and .connect_failures >= 2 and .protected == false'
t_check "3: and says so loudly in its log" grep -q "cannot reach the backup at $REPROTECT.*UNPROTECTED" "$B_LOG"

# ------------------------------------------- 4. survivor dies mid-way
"$TB_CLI" --prefix "$TB_PREFIX" unfence pri >/dev/null 2>&1 || t_fail "unfence pri failed"
tb_t_cc_stop
t_eq "1-3: consistency client exit status (0 = no violation)" 0 "$CC_RC"
t_eq "1-3: reconnects" 0 "$(jq -r .reconnects <<<"$CC_JSON")"
# The proxy on pri:7778 -> the new backup on pri:7777, armed to cut the
# first epoch it sees (the full checkpoint) half-way and then hold the
# survivor off for 10 s; the survivor is killed meanwhile.
[ -f "$RRVM_PROXY" ] || t_fail "$RRVM_PROXY is missing"
PX_LOG=$T_TMP/proxy.log PX_FIFO=$T_TMP/proxy.ctl
ns_bg "$TB_NS_PRI" "$PX_LOG" "$T_PY" -u "$RRVM_PROXY" --listen "$REPROTECT" \
	--target "$TB_PRI_REP_IP:7777" --control "$PX_FIFO"
PX_PID=$RRVM_LAST_PID
T_EXTRA_LOGS+=("$PX_LOG")
wait_for 10 --pid "$PX_PID" grep -q '"listening"' "$PX_LOG" || t_fail "4: corrupt_proxy did not start"
exec {PX_FD}<>"$PX_FIFO"
echo "cut 10000" >&"$PX_FD"
N_LOG=$T_TMP/newbackup.log N_CTL=$T_TMP/newbackup.ctl N_REPORT=$T_TMP/newbackup.json
rrvm_backup_bg "$TB_NS_PRI" "$N_LOG" "$N_CTL" "$TB_PRI_REP_IP:7777" "$N_REPORT" \
	--fence-cmd "$(rrvm_tb_fence_cmd bak)"
N_PID=$RRVM_LAST_PID
T_EXTRA_LOGS+=("$N_LOG")
wait_for 10 --pid "$N_PID" test -S "$N_CTL" || t_fail "4: the new backup did not start"
t_check "4: the proxy cut the survivor's full checkpoint half-way (within 10 s)" \
	wait_for 10 grep -q '"event": "cut"' "$PX_LOG"
t_info "4: proxy: $(grep '"event": "cut"' "$PX_LOG" | tail -n 1)"
rrvm_kill9 "$B_PID" >/dev/null 2>&1
sleep 1.5
nst=$(rrvm_backup_status "$N_CTL")
t_info "4: new backup after the survivor died: $nst"
t_check "4: it holds no committed checkpoint" json_true "$nst" '.epochs_committed == 0'
t_check "4: it does not take over: still a backup, waiting" \
	json_true "$nst" '.role == "backup" and .state == "waiting"'
t_check "4: no takeover report" test ! -e "$N_REPORT"
t_check "4: no guest answers anywhere" test "$(tb_rcli PING)" != PONG
exec {PX_FD}>&-
pid_stop "$PX_PID" 5
pid_stop "$N_PID" 5
tb_t_pair_down
tb_t_down
t_finish
