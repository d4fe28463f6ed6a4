#!/usr/bin/env bash
# Failure detection (issue 14) on a private testbed, with the heartbeat
# path on both networks (the replication link and the LAN: the primary
# sends to the backup's --lan-listen), for each mode in MODES
# (RRVM_DETECT_MODES, default: buffered on the basic topology, reverse on
# inline, reverse on mirror), each round a fresh pair under the
# consistency client and a redis-benchmark load:
#  1. freeze: SIGSTOP of the primary (no FIN: a hung host). The backup
#     fails over with detector both-paths-silent well before the detect
#     timeout; then SIGCONT: the old primary stays fenced (its switch port
#     down), runs on unprotected and does not disturb the new one: the
#     client sees no violation and no reconnect over the whole round
#     (tb_t_check_failover, lib.sh).
#  2. links down: every link of the primary's host down (eth0, rep0):
#     failover, detector both-paths-silent, no violation; the links come
#     back and the old primary stays fenced.
#  3. replication link down alone (rep0 of one host, alternating) for
#     REP_DOWN_S s: NO failover (the LAN says the primary lives); the
#     primary gives its backup up and runs unprotected (backup_silent),
#     the backup stands by; when the link returns the primary reconnects
#     (connects + 1) and resynchronises (a second full checkpoint,
#     protected, acked) and the backup replicates again; then kill -9:
#     a consistent failover without waiting for the timeout, and no
#     violation over link loss, resync and failover.
# Also: bad detection options are refused with one line and exit status 2.
# Timings are printed (the host is shared): the report's detect phase is
# asserted below half the detect timeout only.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

MODES=${RRVM_DETECT_MODES:-buffered reverse-inline reverse-mirror}
EPOCH_MS=20
LAN_PORT=7778
REP_DOWN_S=3

t_init_testbed redis-cli redis-benchmark ping jq
tb_t_rep_init
[ -f "$ROOT/build/bpf/capture_xdp.bpf.o" ] || t_fail "build/bpf/capture_xdp.bpf.o is missing (run make)"
for m in $MODES; do
	case "$m" in buffered | reverse-inline | reverse-mirror) ;;
	*) t_fail "RRVM_DETECT_MODES: unknown mode '$m'" ;; esac
done

# Bad detection options: one line, exit status 2, nothing started.
bad_option() { # DESC EXPECTED-MESSAGE-REGEX rrvm-arguments...
	local desc=$1 want=$2 out
	shift 2
	out=$("$RRVM" "$@" 2>&1)
	t_eq "$desc: exit status 2" 2 "$?"
	t_check "$desc: says why ($out)" matches "$out" "$want"
}
bad_option "backup --detect-floor above --detect-timeout" "--detect-floor 40 ms is above --detect-timeout 20 ms" \
	backup --listen 127.0.0.1:1 --tap tap0 --insecure --detect-timeout 20 --detect-floor 40
bad_option "backup --lan-listen without a port" "--lan-listen '10.77.0.12': an IPv4 address and port" \
	backup --listen 127.0.0.1:1 --tap tap0 --insecure --lan-listen 10.77.0.12
bad_option "primary --lan-peer garbage" "--lan-peer 'x:y'" \
	primary --guest "$(guest_image kv)" --tap tap0 --ip 10.77.0.2/24 --mac 52:54:00:77:00:02 \
	--backup 127.0.0.1:1 --insecure --lan-peer x:y
bad_option "primary --heartbeat-priority 100" "--heartbeat-priority '100': out of range" \
	primary --guest "$(guest_image kv)" --tap tap0 --ip 10.77.0.2/24 --mac 52:54:00:77:00:02 \
	--backup 127.0.0.1:1 --insecure --heartbeat-priority 100

# pair_up MODE: the testbed in MODE's topology, backup then primary with
# the LAN heartbeat path; waits until the backup holds a full checkpoint.
pair_up() {
	local mode=$1 pmode=buffered rc t0
	local -a bopt=(--lan-listen "$TB_BAK_LAN_IP:$LAN_PORT")
	case "$mode" in
	buffered) tb_t_retopology basic ;;
	reverse-*)
		tb_t_retopology "${mode#reverse-}"
		rrvm_reverse_args "${mode#reverse-}"
		bopt+=("${RRVM_REV_ARGS[@]}")
		pmode=reverse
		;;
	esac
	t0=$(now_ms)
	tb_t_backup_start "${bopt[@]}"
	tb_t_primary_start "$pmode" "$EPOCH_MS" --lan-peer "$TB_BAK_LAN_IP:$LAN_PORT"
	guest_wait_ready 6379
	rrvm_wait_protected "$P_CTL" "$P_PID" 20
	rc=$?
	[ $rc = 0 ] || t_fail "$mode: the backup did not acknowledge a full checkpoint: $(tail -n 5 "$B_LOG")"
	t_info "$mode: pair $T_PAIR up in $(( $(now_ms) - t0 )) ms"
}

# Start the client and the load, let them run a random 0.5-1.5 s.
traffic() {
	tb_t_cc_start
	tb_t_load_start
	wait_for 10 --pid "$CC_PID" test -s "$CC_CSV" || t_fail "the consistency client did not start: $(tail -n 5 "$CC_LOG")"
	sleep "$(awk -v d=$((500 + RANDOM % 1001)) 'BEGIN { printf "%.3f", d / 1000 }')"
}

pri_links() { # up|down: every link of the primary's host
	local dev
	for dev in "$TB_UPLINK" "$TB_REP_DEV"; do
		ip -n "$TB_NS_PRI" link set dev "$dev" "$1" || t_fail "ip link set $dev $1 in pri failed"
	done
}

# shellcheck disable=SC2317 # called through wait_for, FO_FAULT, FO_AFTER
backup_state_is() { json_true "$(rrvm_backup_status "$B_CTL" 2>/dev/null)" ".state == \"$1\""; }
# shellcheck disable=SC2317 # called through FO_FAULT
fault_freeze() { kill -STOP "$P_PID"; }
# shellcheck disable=SC2317 # called through FO_FAULT
fault_links_down() { pri_links down; }

# After the failover: the old primary comes back and must stay out.
OLD_P_PID=
# shellcheck disable=SC2317 # called through FO_AFTER
old_primary_back() {
	local what=$1 st
	sleep 1
	t_check "$LABEL: $what: the primary's host is still fenced" tb_is_fenced pri
	t_check "$LABEL: $what: the old primary process runs on" pid_alive "$OLD_P_PID"
	st=$(rrvm_repl_stats "$P_CTL" 2>/dev/null)
	t_check "$LABEL: $what: the old primary says it is unprotected" \
		json_true "$st" '.protected == false'
	t_info "$LABEL: $what: old primary: $(jq -c '{protected, connects, disconnects, backup_silent, connect_failures}' <<<"$st" 2>/dev/null)"
}
# shellcheck disable=SC2317 # called through FO_AFTER
thaw() { kill -CONT "$OLD_P_PID"; old_primary_back "after SIGCONT"; }
# shellcheck disable=SC2317 # called through FO_AFTER
links_back() { pri_links up; old_primary_back "links up again"; }

declare -a SUMMARY=()
round=0
for mode in $MODES; do
	for fault in freeze links-down; do
		round=$((round + 1))
		LABEL="$mode $fault"
		t_info "--- $LABEL"
		pair_up "$mode"
		OLD_P_PID=$P_PID
		traffic
		case "$fault" in
		freeze) FO_FAULT=fault_freeze FO_AFTER=thaw ;;
		links-down) FO_FAULT=fault_links_down FO_AFTER=links_back ;;
		esac
		FO_DETECTOR=both-paths-silent
		tb_t_check_failover "$LABEL"
		SUMMARY+=("$LABEL: $FO_SUMMARY")
		FO_FAULT=tb_t_fault_kill9 FO_AFTER='' FO_DETECTOR=''
		kill -CONT "$OLD_P_PID" 2>/dev/null
		pri_links up
		tb_t_pair_down
	done

	LABEL="$mode replication link down"
	t_info "--- $LABEL"
	side=pri
	[ $((round % 2)) = 0 ] && side=bak
	round=$((round + 1))
	pair_up "$mode"
	traffic
	s0=$(rrvm_repl_stats "$P_CTL")
	c0=$(jq -r .connects <<<"$s0")
	ip -n "$(tb_ns "$side")" link set dev "$TB_REP_DEV" down || t_fail "rep0 down in $side failed"
	t_info "$LABEL: rep0 down in $side for $REP_DOWN_S s"
	sleep "$REP_DOWN_S"
	st=$(rrvm_backup_status "$B_CTL")
	ip -n "$(tb_ns "$side")" link set dev "$TB_REP_DEV" up || t_fail "rep0 up in $side failed"
	t_check "$LABEL: no failover (no report)" test ! -s "$B_REPORT"
	t_check "$LABEL: the backup stands by: the LAN heard the primary, which runs unprotected" \
		json_true "$st" '.state == "standing-by" and .liveness.lan.received > 0 and .liveness.released_after > 0'
	t_info "$LABEL: backup while the link was down: $(jq -c '{state, detect_threshold_ms, liveness: {primary: .liveness.primary, released_after: .liveness.released_after, rep: .liveness.replication.last_heard_ms, lan: .liveness.lan.last_heard_ms}}' <<<"$st")"
	rrvm_wait_protected "$P_CTL" "$P_PID" 20 2
	rc=$?
	t_eq "$LABEL: the primary resynchronised after the link came back (0 = protected, 2 full checkpoints, acked)" 0 "$rc"
	s1=$(rrvm_repl_stats "$P_CTL")
	t_eq "$LABEL: the primary reconnected once" $((c0 + 1)) "$(jq -r .connects <<<"$s1")"
	t_check "$LABEL: the primary gave the silent backup up (backup_silent >= 1)" \
		json_true "$s1" '.backup_silent >= 1'
	wait_for 5 backup_state_is replicating
	t_check "$LABEL: the backup replicates again" backup_state_is replicating
	t_info "$LABEL: backup after the resync: $(rrvm_backup_status "$B_CTL" | jq -c '{state, detect_threshold_ms, liveness, log: (.reverse // {} | {overflow_dropped, standby_clears})}')"
	tb_t_check_failover "$LABEL, then kill -9"
	SUMMARY+=("$LABEL, then kill -9: $FO_SUMMARY")
	tb_t_pair_down
done

for line in "${SUMMARY[@]}"; do
	t_info "$line"
done
tb_t_down
t_finish "$(wc -w <<<"$MODES") modes: freeze, links down, replication link down"
