#!/usr/bin/env bash
# A corrupted and a truncated epoch in flight (issue 4 acceptance), on a
# private four-host testbed (docs/testbed.md).
#
# The replication stream goes through experiments/lib/corrupt_proxy.py in
# the backup's namespace (primary --backup 192.168.100.2:7778 -> proxy ->
# rrvm backup on 192.168.100.2:7777); the proxy follows the stream's
# framing and, on command, damages exactly one epoch. The consistency
# client and a redis-benchmark load run throughout.
#  1. flip: one byte in the middle of the payload of the next epoch's
#     PAGES message. The backup rejects it: epochs_rejected goes up, its
#     log says "rejected ... keeping committed epoch N" with N older than
#     the flipped epoch and not older than what it had committed before;
#     it drops the link and does NOT fail over; the primary reconnects
#     (connects 2) and resynchronises (full_epochs 2, protected, acked).
#  2. cut: the stream is cut in the middle of the next epoch (after its
#     BEGIN, half-way through the next message): the primary's side is
#     closed, the backup's stays open and silent (a cut network: a link
#     closed without a goodbye would mean a dead primary), and the proxy
#     accepts no new connection for 250 ms. During those 250 ms the backup
#     still holds an epoch older than the cut one and not older than
#     before (all or nothing) and is still replicating (no failover); then
#     the same primary gets in again, the backup replaces the stale link
#     (discarding the truncated epoch: logged) and resynchronises
#     (connects 3, full_epochs 3, protected, acked).
#  Committed epochs never go backwards over the whole test.
#  3. kill -9 of the primary: tb_t_check_failover (lib.sh) - consistent
#     failover, no violation, no reconnect over the whole test.
# The time from each fault to the primary's new connection and the
# backup's longest silence are printed (a reconnection slower than the
# detect timeout would be a false failover; the host is noisy).
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

EPOCH_MS=20
CUT_PAUSE_MS=250
t_init_testbed redis-cli redis-benchmark ping
tb_t_rep_init
# The proxy aims its faults by the stream's checkpoint framing, which it
# can only see on a plaintext link: this pair runs --insecure (the faults
# on an authenticated link are test_security.sh's).
RRVM_KEY_FILE=
[ -f "$RRVM_PROXY" ] || t_fail "$RRVM_PROXY is missing"

PROXY_LISTEN=$TB_BAK_REP_IP:7778
PX_FIFO=$T_TMP/proxy.ctl
PX_LOG=$T_TMP/proxy.log
ns_bg "$TB_NS_BAK" "$PX_LOG" "$T_PY" -u "$RRVM_PROXY" --listen "$PROXY_LISTEN" \
	--target "$TB_BAK_REP_IP:7777" --control "$PX_FIFO"
PX_PID=$RRVM_LAST_PID
T_EXTRA_LOGS+=("$PX_LOG")
wait_for 10 --pid "$PX_PID" grep -q '"listening"' "$PX_LOG" ||
	t_fail "corrupt_proxy did not start: $(cat "$PX_LOG")"
exec {PX_FD}<>"$PX_FIFO"

# px_event EVENT [N]: the Nth (default last) event line of that kind.
px_event() { grep "\"event\": \"$1\"" "$PX_LOG" | { if [ -n "${2:-}" ]; then sed -n "${2}p"; else tail -n 1; fi; }; }
px_count() { grep -c "\"event\": \"$1\"" "$PX_LOG"; }
# shellcheck disable=SC2317 # called through wait_for
px_has() { [ "$(px_count "$1")" -ge "$2" ]; }
# shellcheck disable=SC2317 # called through wait_for
b_is() { json_true "$(rrvm_backup_status "$B_CTL" 2>/dev/null)" "$1"; }

COMMITTED=() # every committed_epoch sampled, in order
c0='' c2='' c3='' c5=''
sample_committed() { # VAR: the backup's committed epoch, also kept in COMMITTED
	local __c
	__c=$(b_status_get .committed_epoch)
	[ -n "$__c" ] && COMMITTED+=("$__c")
	printf -v "$1" '%s' "$__c"
}

P_BACKUP=$PROXY_LISTEN tb_t_pair_up buffered "$EPOCH_MS"
t_check "the primary's connection goes through the proxy" px_has connected 1
tb_t_cc_start
tb_t_load_start
wait_for 10 --pid "$CC_PID" test -s "$CC_CSV" || t_fail "the consistency client did not start: $(tail -n 5 "$CC_LOG")"
sleep 1

# ------------------------------------------------------------ 1. flip
sample_committed c0
r0=$(b_status_get .epochs_rejected)
t_info "before the flip: backup committed epoch $c0, $r0 rejected"
echo flip >&"$PX_FD"
t_check "flip: the proxy flipped a byte (within 5 s)" wait_for 5 --pid "$PX_PID" px_has flip 1
ev=$(px_event flip)
t_info "proxy: $ev"
e_flip=$(jq -r .epoch <<<"$ev")
t_check "flip: the backup counted a rejected epoch (within 5 s)" \
	wait_for 5 --pid "$B_PID" b_is ".epochs_rejected > ${r0:-0}"
line=$(grep -m1 'rejected' "$B_LOG")
t_info "backup: $line"
kept=$(sed -n 's/.*keeping committed epoch \([0-9]*\).*/\1/p' <<<"$line")
[ -n "$kept" ] && COMMITTED+=("$kept")
t_check "flip: the backup says what it rejected and which epoch it keeps" test -n "$kept"
t_check "flip: the epoch kept ($kept) is older than the flipped one ($e_flip) and not older than before ($c0)" \
	test "${kept:-0}" -lt "${e_flip:-0}" -a "${kept:-0}" -ge "${c0:-0}"
t_check "flip: the backup dropped the link" grep -q 'dropped' "$B_LOG"
rrvm_wait_protected "$P_CTL" "$P_PID" 20 2
t_eq "flip: the primary reconnected and the backup acknowledged a full resync (0 = ok)" 0 "$?"
t_check "flip: connects 2, full_epochs 2, protected" json_true "$RRVM_REPL" \
	'.connects == 2 and .full_epochs == 2 and .protected == true'
t_check "flip: no failover (backup still replicating, no report)" b_is '.state == "replicating"'
t_check "flip: no failover report" test ! -e "$B_REPORT"
acc=$(px_event accept 2)
t_info "flip -> new connection from the primary: $(jq -rn --argjson a "${acc:-null}" --argjson f "$ev" '(($a.t - $f.t) * 1000 | round | tostring) + " ms"' 2>/dev/null)"
sample_committed c2
t_info "after the resync: committed epoch $c2"

# ------------------------------------------------------------- 2. cut
sleep 0.5
r1=$(b_status_get .epochs_rejected)
sample_committed c3
acc0=$(px_count accept)
echo "cut $CUT_PAUSE_MS" >&"$PX_FD"
# Look at the backup as soon as the proxy cut, within the proxy's pause
# (the primary cannot be back yet): a tight loop, no jq.
t0=$(now_ms)
while [ $(( $(now_ms) - t0 )) -lt 5000 ] && pid_alive "$PX_PID"; do
	[ "$(px_count cut)" -ge 1 ] && break
	sleep 0.01
done
sleep 0.05
st=$(rrvm_backup_status "$B_CTL")
ncon=$(px_count accept)
t_check "cut: the proxy cut the stream mid-epoch (within 5 s)" px_has cut 1
ev=$(px_event cut)
t_info "proxy: $ev"
e_cut=$(jq -r .epoch <<<"$ev")
t_info "backup during the proxy's pause ($(( $(now_ms) - t0 )) ms after the command): $st"
c4=$(jq -r .committed_epoch <<<"$st")
COMMITTED+=("$c4")
if [ "$ncon" = "$acc0" ]; then
	t_check "cut: the truncated epoch $e_cut was not applied (committed $c4 < $e_cut) and nothing was lost ($c4 >= $c3)" \
		test "${c4:-0}" -lt "${e_cut:-0}" -a "${c4:-0}" -ge "${c3:-0}"
	t_check "cut: still replicating, no failover" json_true "$st" '.state == "replicating"'
else
	t_info "cut: the status was read after the primary got back in (host too slow?); the all-or-nothing check is skipped"
fi
t_info "cut: epochs_rejected $r1 -> $(jq -r .epochs_rejected <<<"$st") (a truncated epoch is discarded with the link)"
grep 'dropped\|discard\|incomplete\|truncat' "$B_LOG" | tail -n 1 | sed 's/^/  backup: /'
rrvm_wait_protected "$P_CTL" "$P_PID" 20 3
t_eq "cut: the primary reconnected and the backup acknowledged a full resync (0 = ok)" 0 "$?"
t_check "cut: the backup replaced the stale link of the same primary (logged)" \
	grep -q 'dropped: the same primary reconnected' "$B_LOG"
t_check "cut: ... and discarded the truncated epoch $e_cut (logged)" \
	grep -q "discarded incomplete epoch $e_cut" "$B_LOG"
t_check "cut: connects 3, full_epochs 3, protected" json_true "$RRVM_REPL" \
	'.connects == 3 and .full_epochs == 3 and .protected == true'
t_check "cut: no failover (backup still replicating, no report)" b_is '.state == "replicating"'
acc=$(px_event accept 3)
t_info "cut -> new connection accepted by the proxy: $(jq -rn --argjson a "${acc:-null}" --argjson f "$ev" '(($a.t - $f.t) * 1000 | round | tostring) + " ms"' 2>/dev/null) (the proxy waited $CUT_PAUSE_MS ms)"
sleep 0.5
sample_committed c5
t_info "committed epoch after both resyncs: $c5"
t_check "committed epochs never went backwards (${COMMITTED[*]})" \
	awk -v s="${COMMITTED[*]}" 'BEGIN { n = split(s, a, " "); for (i = 2; i <= n; i++) if (a[i] + 0 < a[i - 1] + 0) exit 1 }'
t_info "backup: $(rrvm_backup_status "$B_CTL")"

# ---------------------------------------------------------- 3. failover
tb_t_check_failover "failover after the faults"
t_check "the failover used an epoch newer than the faults ($(jq -r .committed_epoch <<<"$FO_JSON") > $e_cut)" \
	json_true "$FO_JSON" ".committed_epoch > $e_cut"
exec {PX_FD}>&-
tb_t_pair_down
tb_t_down
t_finish "flip of epoch $e_flip rejected, cut of epoch $e_cut discarded, failover stall $FO_STALL_MS ms"
