#!/usr/bin/env bash
# Live migration (issue 10): `rrvm ctl SOCKET migrate` moves a running VM
# to `rrvm incoming` on the other host of the testbed (over the
# replication link), real KVM, real clients.
#
#  1. kv under the consistency client (incr,keys) and redis-benchmark -c
#     50: pri -> bak, then back and forth, 5 migrations in all (the 2nd to
#     4th over 2, 4 and 2 channels); each exits
#     0, the source process ends, the VM answers from the destination;
#     the client: 0 violations, 0 reconnects, every key read back;
#     redis-benchmark: no error. The second leg runs from the VM that came
#     in by migration (the VM role of rrvm incoming).
#  2. http: the destination dies after GO (fault injection,
#     RRVM_TEST_INCOMING_FAULT): the source resumes; the destination stops
#     silently after GO: the source stays frozen ("unknown"), refuses
#     another migration, and resumes on migrate-cancel; then one migration
#     under wrk, no socket error.
#  3. A dirtier guest (dirty_bytes=4096: incompressible pages, faster than
#     the 16 MiB/s cap): CPU-feature refusal (incoming --cpu-features
#     host,-cx16: the message names cx16; nothing moved, the source serves);
#     a second source while a migration comes in (refused: busy); --timeout
#     without auto-converge (timed out, the source serves, unthrottled; the
#     destination exits non-zero); the destination killed mid-way over 3
#     channels (the source says so and serves); a corrupt stream, one
#     channel and channel 1 of 2 (through experiments/lib/corrupt_proxy.py,
#     --insecure: it reads plaintext framing); migrate-cancel during auto-converge (the throttle ends);
#     then --auto-converge converges, and the bandwidth cap held (total
#     time >= bytes / cap).
#  4. rrvm primary: migrate refused while protected (says unprotect or
#     switchover); after unprotect it migrates and the primary exits 0.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

MIG_PORT=7788
CAP_MIB=16

t_init_testbed redis-cli redis-benchmark ping wrk
tb_t_rep_init
T_PY=${T_PY:-$(rrvm_python)}

# rep_ip ROLE: ROLE's replication address (where rrvm incoming listens).
rep_ip() { [ "$1" = pri ] && echo "$TB_PRI_REP_IP" || echo "$TB_BAK_REP_IP"; }
other() { [ "$1" = pri ] && echo bak || echo pri; }

# mig_incoming ROLE [option...]: rrvm incoming there. Sets I_PID I_CTL I_LOG.
MIGS=0
mig_incoming() {
	local role=$1
	shift
	MIGS=$((MIGS + 1))
	I_LOG=$T_TMP/incoming.$MIGS.$role.log
	I_CTL=$T_TMP/incoming.$MIGS.$role.ctl
	ns_bg "$(tb_ns "$role")" "$I_LOG" ${MIG_ENV:+env "$MIG_ENV"} "$RRVM" incoming \
		--listen "$(rep_ip "$role"):$MIG_PORT" --tap "$TB_TAP" \
		--control "$I_CTL" --log-level "${RRVM_LOG_LEVEL:-info}" "$@"
	I_PID=$RRVM_LAST_PID
	T_EXTRA_LOGS+=("$I_LOG")
	wait_for 10 --pid "$I_PID" test -S "$I_CTL" ||
		t_fail "rrvm incoming did not start: $(tail -n 5 "$I_LOG")"
}

# mig_run CTL ROLE [option...]: ctl migrate --json to ROLE's incoming.
# Sets MIG_RC, MIG_JSON (the reply), MIG_MS (wall time).
mig_run() {
	local ctl=$1 role=$2 t0
	shift 2
	t0=$(now_ms)
	MIG_JSON=$(timeout 120 "$RRVM" ctl "$ctl" migrate "$(rep_ip "$role"):$MIG_PORT" \
		"$@" --json 2>&1)
	MIG_RC=$?
	MIG_MS=$(( $(now_ms) - t0 ))
}

key() { echo --key-file "$RRVM_KEY_FILE"; }
# mig_summary: one line of the report.
mig_summary() {
	jq -c '{result, error, rounds, bytes_sent, total_ms, downtime_ms, dest_downtime_ms, final_pages, late_frames, throttle_max, channels, channel_bytes}' \
		<<<"$MIG_JSON" 2>/dev/null || echo "$MIG_JSON"
}

# migrate_ok LABEL FROM_PID FROM_CTL TO_ROLE [option...]: a migration that
# must complete: exit 0, the source process ends (status 0), the VM
# answers PING from TO_ROLE (the switch learnt the new port). Afterwards
# G_PID/G_CTL are the destination's.
migrate_ok() {
	local label=$1 from_pid=$2 from_ctl=$3 to=$4 st
	shift 4
	mig_incoming "$to" $(key)
	mig_run "$from_ctl" "$to" $(key) "$@"
	t_info "$label: $(mig_summary) in $MIG_MS ms"
	t_eq "$label: migrate exit status" 0 "$MIG_RC"
	t_check "$label: the report says completed" json_true "$MIG_JSON" \
		'.result == "completed" and .downtime_ms > 0 and .rounds >= 1'
	t_check "$label: the source process ended (within 10 s)" pid_wait "$from_pid" 10
	t_eq "$label: ... with status 0" 0 "${RRVM_WAIT_RC:-?}"
	t_check "$label: the destination runs the VM" pid_alive "$I_PID"
	st=$(ctl "$I_CTL" status --json 2>/dev/null)
	t_check "$label: its status: running, came up by migration" \
		json_true "$st" '.state == "running" and .origin == "migration"'
	G_PID=$I_PID
	G_CTL=$I_CTL
	G_LOG=$I_LOG
}

# ------------------------------------------------------------ 1. kv, load
t_info "=== kv under load: 5 migrations"
tb_t_guest_boot pri kv
tb_t_cc_start
tb_t_load_start -t set -r 100000 -c 50
wait_for 10 --pid "$CC_PID" test -s "$CC_CSV" ||
	t_fail "the consistency client did not start: $(tail -n 5 "$CC_LOG")"
sleep 1
host=pri
# Migrations 2-4 over parallel channels (--channels N): each channel
# carries its part of every round.
CHANNELS=(0 1 2 4 2 1)
for i in 1 2 3 4 5; do
	to=$(other "$host")
	n=${CHANNELS[$i]}
	migrate_ok "kv #$i $host->$to ($n channel(s))" "$G_PID" "$G_CTL" "$to" --channels "$n"
	t_check "kv #$i: $n channel(s), each sent its part" json_true "$MIG_JSON" \
		".channels == $n and (.channel_bytes | length) == $n and all(.channel_bytes[]; . > 0)"
	t_eq "kv #$i: PING from the destination" PONG "$(tb_rcli PING)"
	t_check "kv #$i: the client is still running" pid_alive "$CC_PID"
	host=$to
	sleep 1
done
t_check "redis-benchmark still running" pid_alive "$RB_PID"
t_eq "redis-benchmark reported no error" "" "$(rb_errors "$RB_LOG")"
pid_stop "$RB_PID" 5
tb_t_cc_stop
t_info "client: $(jq -c '{replies, last_value, keys_acked, keys_lost, longest_stall_ms, reconnects, violations}' <<<"$CC_JSON")"
t_eq "consistency client exit status (0 = no violation)" 0 "$CC_RC"
t_check "no violation of any kind" json_true "$CC_JSON" '.ok == true and ([.violations[]] | add) == 0'
t_eq "reconnects (0 = the connections survived 5 migrations)" 0 "$(jq -r .reconnects <<<"$CC_JSON")"
t_check "every acknowledged key read back" json_true "$CC_JSON" \
	'.keys_lost == 0 and .keys_acked > 0 and .keys_verified >= .keys_acked'
t_eq "the counter equals the client's last INCR" "$(jq -r .last_value <<<"$CC_JSON")" \
	"$(tb_rcli GET consistency:ctr)"
pid_stop "$G_PID" 5

# ---------------------------------------------------------- 2. http, wrk
t_info "=== http: the destination fails after GO; then wrk"
tb_t_guest_boot "$host" http
http_ok() { [ "$(ip netns exec "$TB_NS_C" timeout 2 curl -s -o /dev/null -w '%{http_code}' "http://$TB_GUEST_IP/")" = 200 ]; }
http_down() { ! http_ok; }
to=$(other "$host")
# The destination dies between GO and DONE (fault injection): its link
# closes, so the source resumes (never zero VMs).
MIG_ENV=RRVM_TEST_INCOMING_FAULT=die-after-go mig_incoming "$to" $(key)
mig_run "$G_CTL" "$to" $(key)
t_info "died after GO: $(mig_summary)"
t_check "destination died after GO: failed, saying so" json_true "$MIG_JSON" \
	'.result == "failed" and (.error | test("after GO"))'
t_check "... the source resumed: it answers" http_ok
t_check "... and runs" pid_alive "$G_PID"
pid_wait "$I_PID" 5
# The destination stops silently after GO: the source cannot know whether
# it runs the VM, so it stays frozen (never two), says so, and resumes only
# on migrate-cancel, once we know the destination is gone.
MIG_ENV=RRVM_TEST_INCOMING_FAULT=hang-after-go mig_incoming "$to" $(key)
mig_run "$G_CTL" "$to" $(key)
t_info "silent after GO: $(mig_summary) in $MIG_MS ms"
t_check "silent destination after GO: outcome unknown, the VM frozen here" json_true "$MIG_JSON" \
	'.result == "unknown" and .vm_frozen_here == true'
t_check "... the frozen source does not answer" http_down
out=$(timeout 10 "$RRVM" ctl "$G_CTL" migrate "$(rep_ip "$to"):$MIG_PORT" $(key) 2>&1)
t_check "... another migrate is refused while frozen ($out)" matches "$out" "frozen"
rrvm_kill9 "$I_PID"
out=$(ctl "$G_CTL" migrate-cancel 2>&1)
t_check "migrate-cancel resumes the frozen VM ($out)" matches "$out" "resumed"
t_check "... it answers again" wait_for 5 http_ok
t_info "=== http under wrk"
WRK_OUT=$T_TMP/wrk.out
ns_bg "$TB_NS_C" "$WRK_OUT" timeout 60 wrk -d 4s -c 8 -t 2 "http://$TB_GUEST_IP/"
WRK_PID=$RRVM_LAST_PID
sleep 1.5
migrate_ok "http $host->$(other "$host")" "$G_PID" "$G_CTL" "$(other "$host")"
host=$(other "$host")
pid_wait "$WRK_PID" 20
summary=$(wrk_summary "$WRK_OUT")
t_info "wrk: $summary"
t_check "wrk completed requests ($summary)" matches "$summary" 'requests=[1-9]'
t_check "wrk: no socket error" matches "$summary" 'socket_errors=0 '
t_eq "http GET / after the migration answers" 200 \
	"$(ip netns exec "$TB_NS_C" timeout 10 curl -s -o /dev/null -w '%{http_code}' "http://$TB_GUEST_IP/")"
pid_stop "$G_PID" 5

# ------------------------------------------- 3. faults, refusals, converge
# 16 MiB written as fresh random pages as fast as the vCPU can: more than
# 16 MiB/s of dirty memory.
t_info "=== a dirtier guest: refusals and faults"
tb_t_guest_boot "$host" kv dirty=50000 dirty_bytes=4096 dirty_mb=16
SRC_PID=$G_PID SRC_CTL=$G_CTL to=$(other "$host")
sleep 1
# serving SRC_CTL: the source answers and is not frozen or throttled.
serving() {
	[ "$(tb_rcli PING)" = PONG ] && pid_alive "$SRC_PID" &&
		json_true "$(ctl "$SRC_CTL" stats --json 2>/dev/null)" '.throttle.percent == 0'
}
# dest_failed LABEL PATTERN: the destination exits 1, its log says why.
dest_failed() {
	t_check "$1: the destination exited (within 15 s)" pid_wait "$I_PID" 15
	t_eq "$1: ... with status 1" 1 "${RRVM_WAIT_RC:-?}"
	t_check "$1: ... saying so" grep -qE "migration failed: .*$2" "$I_LOG"
}

mig_incoming "$to" $(key) --cpu-features host,-cx16
mig_run "$SRC_CTL" "$to" $(key)
t_info "cpu refusal: $(mig_summary)"
t_eq "cpu features: migrate refused (exit 1)" 1 "$MIG_RC"
t_check "... result refused, naming cx16, before any page" json_true "$MIG_JSON" \
	'.result == "refused" and (.error | test("cx16")) and .pages_sent == 0'
t_check "... the source serves" serving
dest_failed "cpu refusal" "cx16"

# Busy: a second source (a VM on a private TAP of the same host) while
# the dirtier's migration is coming in.
ip -n "$(tb_ns "$host")" tuntap add dev tap9 mode tap
ip -n "$(tb_ns "$host")" link set tap9 up
ns_bg "$(tb_ns "$host")" "$T_TMP/second.log" "$RRVM" run --guest "$(guest_image echo)" \
	--tap tap9 --ip 10.99.0.2/24 --mac 52:54:00:99:00:02 --control "$T_TMP/second.ctl"
SECOND_PID=$RRVM_LAST_PID
wait_for 10 --pid "$SECOND_PID" test -S "$T_TMP/second.ctl" || t_fail "the second VM did not start"
mig_incoming "$to" $(key)
timeout 60 "$RRVM" ctl "$SRC_CTL" migrate "$(rep_ip "$to"):$MIG_PORT" $(key) \
	--max-bandwidth "$CAP_MIB" --json >"$T_TMP/first.json" 2>&1 &
FIRST=$!
wait_for 10 grep -q "profile accepted" "$I_LOG" || t_fail "the first migration did not start"
MIG_JSON=$(timeout 20 "$RRVM" ctl "$T_TMP/second.ctl" migrate "$(rep_ip "$to"):$MIG_PORT" $(key) --json 2>&1)
t_check "busy: a second migration is refused as busy" json_true "$MIG_JSON" \
	'.result == "refused" and (.error | test("busy"))'
t_check "... the second VM runs on" pid_alive "$SECOND_PID"
out=$(ctl "$SRC_CTL" migrate-cancel 2>&1)
t_check "migrate-cancel answers ($out)" matches "$out" "cancelling"
wait "$FIRST"
t_check "the cancelled migration says cancelled" json_true "$(cat "$T_TMP/first.json")" \
	'.result == "cancelled"'
t_check "... the source serves" serving
dest_failed "cancelled" "cancel"
pid_stop "$SECOND_PID" 5

mig_incoming "$to" $(key)
mig_run "$SRC_CTL" "$to" $(key) --max-bandwidth "$CAP_MIB" --timeout 4
t_info "timeout: $(mig_summary) in $MIG_MS ms"
t_eq "timeout without auto-converge: exit 1" 1 "$MIG_RC"
t_check "... timed out, never throttled, more than one round" json_true "$MIG_JSON" \
	'.result == "timed-out" and .throttle_max == 0 and .rounds >= 2'
t_check "... within the timeout plus 2 s ($MIG_MS ms)" test "$MIG_MS" -lt 6000
t_check "... the source serves" serving
dest_failed "timeout" "timeout"

mig_incoming "$to" $(key)
timeout 60 "$RRVM" ctl "$SRC_CTL" migrate "$(rep_ip "$to"):$MIG_PORT" $(key) \
	--max-bandwidth "$CAP_MIB" --channels 3 --json >"$T_TMP/killed.json" 2>&1 &
M=$!
wait_for 10 grep -q "profile accepted" "$I_LOG"
sleep 0.5
rrvm_kill9 "$I_PID"
wait "$M"
MIG_JSON=$(cat "$T_TMP/killed.json")
t_info "destination killed: $(mig_summary)"
t_check "destination killed (3 channels): failed, saying the link broke" json_true "$MIG_JSON" \
	'.result == "failed" and (.error | test("broke|closed")) and .channels == 3'
t_check "... the source serves" serving

# Corrupt: through the proxy (plaintext framing only: --insecure); then
# over 2 channels with the flip aimed at channel 1 (the proxy's third
# connection: the first migration's, then channel 0, then channel 1): the
# destination discards everything, the source serves.
PX_LOG=$T_TMP/proxy.log PX_FIFO=$T_TMP/proxy.fifo
mig_incoming "$to" --insecure
ns_bg "$(tb_ns "$to")" "$PX_LOG" "$T_PY" -u "$RRVM_PROXY" \
	--listen "$(rep_ip "$to"):7789" --target "$(rep_ip "$to"):$MIG_PORT" --control "$PX_FIFO"
PX_PID=$RRVM_LAST_PID
wait_for 10 --pid "$PX_PID" grep -q listening "$PX_LOG" || t_fail "corrupt_proxy did not start"
echo flip >"$PX_FIFO"
MIG_JSON=$(timeout 60 "$RRVM" ctl "$SRC_CTL" migrate "$(rep_ip "$to"):7789" --insecure \
	--max-bandwidth "$CAP_MIB" --json 2>&1)
t_info "corrupt: $(mig_summary); proxy: $(grep '"flip"' "$PX_LOG" | head -n 1)"
t_check "corrupt stream: failed, the destination said corrupt" json_true "$MIG_JSON" \
	'.result == "failed" and (.error | test("corrupt"))'
t_check "... the source serves" serving
dest_failed "corrupt" "corrupt"
mig_incoming "$to" --insecure
echo "flip-conn 3" >"$PX_FIFO"
MIG_JSON=$(timeout 60 "$RRVM" ctl "$SRC_CTL" migrate "$(rep_ip "$to"):7789" --insecure \
	--max-bandwidth "$CAP_MIB" --channels 2 --json 2>&1)
t_info "corrupt channel 1: $(mig_summary); proxy: $(grep '"flip"' "$PX_LOG" | tail -n 1)"
t_check "corrupt channel 1 of 2: the proxy flipped connection 3" \
	grep -q '"event": "flip", "conn": 3' "$PX_LOG"
t_check "... failed, the destination said corrupt on channel 1" json_true "$MIG_JSON" \
	'.result == "failed" and (.error | test("corrupt stream on channel 1")) and .channels == 2'
t_check "... the source serves" serving
dest_failed "corrupt channel 1" "corrupt stream on channel 1"
pid_stop "$PX_PID" 5

# migrate-cancel while auto-converge throttles: the throttle ends.
mig_incoming "$to" $(key)
timeout 90 "$RRVM" ctl "$SRC_CTL" migrate "$(rep_ip "$to"):$MIG_PORT" $(key) \
	--max-bandwidth "$CAP_MIB" --auto-converge --json >"$T_TMP/ac.json" 2>&1 &
M=$!
throttled() { json_true "$(ctl "$SRC_CTL" stats --json 2>/dev/null)" '.throttle.percent > 0'; }
t_check "auto-converge throttles the vCPU (within 20 s)" wait_for 20 throttled
ctl "$SRC_CTL" migrate-cancel >/dev/null 2>&1
wait "$M"
t_check "... cancelled" json_true "$(cat "$T_TMP/ac.json")" '.result == "cancelled" and .throttle_max > 0'
t_check "... the throttle ended, the source serves" serving
dest_failed "cancel while throttled" "cancel"

# The same load converges with auto-converge; the cap held.
migrate_ok "auto-converge $host->$to" "$SRC_PID" "$SRC_CTL" "$to" \
	--max-bandwidth "$CAP_MIB" --auto-converge --timeout 90
t_check "auto-converge: throttled, more than one round" json_true "$MIG_JSON" \
	'.throttle_max > 0 and .rounds >= 2'
bytes=$(jq -r .bytes_sent <<<"$MIG_JSON")
total=$(jq -r '.total_ms | floor' <<<"$MIG_JSON")
min_ms=$(( bytes * 1000 / (CAP_MIB << 20) ))
t_check "bandwidth cap: total ${total} ms >= bytes ${bytes} / ${CAP_MIB} MiB/s = ${min_ms} ms" \
	test "$total" -ge "$min_ms"
t_eq "PING from the destination" PONG "$(tb_rcli PING)"
pid_stop "$G_PID" 5
host=$to

# --------------------------------------------- 4. rrvm primary (VM role)
t_info "=== rrvm primary: refused while protected"
tb_t_pair_up buffered 20
mig_incoming bak $(key)
mig_run "$P_CTL" bak $(key)
t_check "protected: migrate refused, saying unprotect or switchover" json_true "$MIG_JSON" \
	'(.error | test("protected")) and (.error | test("unprotect"))'
t_check "... the primary serves" pid_alive "$P_PID"
pid_stop "$I_PID" 5
ctl "$P_CTL" unprotect >/dev/null
pid_stop "$B_PID" 5
migrate_ok "primary (unprotected) pri->bak" "$P_PID" "$P_CTL" bak
t_eq "PING from bak" PONG "$(tb_rcli PING)"
pid_stop "$G_PID" 5
tb_t_down
t_finish "5 kv migrations under load, http under wrk, refusals, faults, auto-converge"
