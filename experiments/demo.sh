#!/usr/bin/env bash
# rrvm demo: a protected kv micro-VM loses its primary host and the backup
# takes over while real clients keep talking to it.
#
#   experiments/demo.sh [--mode MODE]     (make demo [MODE=MODE])
#
# MODE (default reverse) and the testbed topology it runs on:
#   reverse          rrvm primary --mode reverse, inline topology: the backup
#                    sits between the switch and the primary, logs every
#                    client->guest frame (capture in the kernel) and replays the log into
#                    the resumed VM after the failover (no output buffering)
#   reverse-mirror   the same with the mirror topology (the switch copies
#                    client->guest frames to the backup)
#   naive            reverse without a replay log, inline topology: exists to
#                    show the inconsistency; violations are EXPECTED
#   buffered         Remus-style output buffering, basic topology
#
# On a private four-host testbed (docs/testbed.md: client, switch, primary
# host, backup host, replication link), `rrvm primary --mode MODE` runs the
# kv guest and streams epochs to `rrvm backup`. The consistency client
# (INCR on one long-lived connection, unique-key SETs on a second, every
# reply checked) and a redis-benchmark SET load drive the guest; a few
# seconds in the primary is killed with kill -9. The backup sees the
# replication link close (or the heartbeats stop), fences the primary host
# off the LAN, restores the VM from the
# last committed epoch, announces it by gratuitous ARP and runs it; the
# clients carry on against it. Then a readable report (failover phases,
# outage seen by the client, increments acknowledged and lost, keys lost,
# whether the connection survived, replication figures from just before
# the kill) on stdout and everything as JSON in results/demo/LATEST.json
# (the daemons' logs in results/demo/logs/).
#
# Phases (one function each): check_env -> testbed_up -> start_pair ->
#   start_clients -> protected_run -> kill_primary -> after_failover ->
#   stop_clients -> verify -> testbed_down -> write_json + report.
#
# Environment: MODE (reverse), DEMO_EPOCH_MS (20), DEMO_DETECT_MS (500), DEMO_KILL_AFTER_S
# (4: seconds of protected traffic before the kill), DEMO_AFTER_S (3:
# seconds of traffic on the backup afterwards), DEMO_LOAD_CLIENTS (10),
# RRVM, RRVM_GUEST_DIR, RRVM_KEEP=1 (no cleanup). Needs root and /dev/kvm.
# Progress goes to stderr, the report to stdout. Exit status: 0 when the
# run was consistent as MODE promises (naive promises nothing: 0 whenever
# the demo ran to the end), 1 otherwise or on an error.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=SCRIPTDIR/lib/netns.sh
. "$ROOT/experiments/lib/netns.sh"
# shellcheck source=SCRIPTDIR/lib/rrvm.sh
. "$ROOT/experiments/lib/rrvm.sh"
# shellcheck source=SCRIPTDIR/lib/testbed.sh
. "$ROOT/experiments/lib/testbed.sh"

MODE=${MODE:-reverse}
while [ $# -gt 0 ]; do
	case "$1" in
	--mode) MODE=${2:-}; shift 2 || shift ;;
	--mode=*) MODE=${1#--mode=}; shift ;;
	-h | --help)
		sed -n '2,/^set -u/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*) echo "usage: $0 [--mode reverse|reverse-mirror|naive|buffered]" >&2; exit 2 ;;
	esac
done
EPOCH_MS=${DEMO_EPOCH_MS:-20}
DETECT_MS=${DEMO_DETECT_MS:-500}
KILL_AFTER=${DEMO_KILL_AFTER_S:-4}
AFTER=${DEMO_AFTER_S:-3}
LOAD_CLIENTS=${DEMO_LOAD_CLIENTS:-10}
OUT_DIR=$ROOT/results/demo
GUEST_IMG=$RRVM_GUEST_DIR/kv.elf
TB_CLI=$ROOT/experiments/testbed
PREFIX=rrvm-demo-$$
TOPOLOGY=      # basic | inline | mirror (from MODE)
PMODE=         # rrvm primary --mode

TMP=
PY=
P_PID='' P_CTL='' P_LOG=''
B_PID='' B_CTL='' B_LOG='' B_REPORT=''
CC_PID='' CC_OUT='' CC_CSV='' CC_LOG=''
RB_PID='' RB_LOG=''
STARTED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
declare -A R=()             # measured values, by name
R[pstats]=null R[bstatus]=null R[report]=null R[client]=null

fail() {
	say "demo failed: $*"
	local f
	for f in "$B_LOG" "$P_LOG"; do
		if [ -n "$f" ] && [ -s "$f" ]; then
			say "last lines of $(basename "$f"):"
			tail -n 15 "$f" | sed 's/^/    /' >&2
		fi
	done
	exit 1
}

# ---------------------------------------------------------------- phases
check_env() {
	local why t
	case "$MODE" in
	reverse | reverse-inline) MODE=reverse PMODE=reverse TOPOLOGY=inline ;;
	reverse-mirror) PMODE=reverse TOPOLOGY=mirror ;;
	naive) PMODE=naive TOPOLOGY=inline ;;
	buffered) PMODE=buffered TOPOLOGY=basic ;;
	none) fail "MODE=none has no backup, so nothing to fail over to; use MODE=reverse or buffered" ;;
	*) fail "unknown MODE '$MODE' (reverse, reverse-mirror, naive, buffered)" ;;
	esac
	for t in EPOCH_MS DETECT_MS KILL_AFTER AFTER LOAD_CLIENTS; do
		[[ ${!t} =~ ^[1-9][0-9]*$ ]] || fail "$t must be a positive integer (got '${!t}')"
	done
	why=$(rrvm_unavailable) || fail "cannot run the demo: $why"
	[ -f "$GUEST_IMG" ] || fail "$GUEST_IMG is missing (run make)"
	[ -x "$RRVM_CC" ] || fail "$RRVM_CC is missing (run make)"
	for t in ip ping jq python3 redis-cli redis-benchmark; do
		command -v "$t" >/dev/null || fail "'$t' is not installed (make deps)"
	done
	PY=$(rrvm_python) || fail "python3 does not run"
	if [ "$TOPOLOGY" != basic ]; then
		[ -f "$ROOT/build/bpf/capture_xdp.bpf.o" ] || fail "build/bpf/capture_xdp.bpf.o is missing (run make)"
	fi
}

testbed_up() {
	local r out
	rrvm_trap_cleanup
	tmpdir_create TMP
	rrvm_make_key "$TMP" || fail "rrvm keygen failed"
	tb_set_prefix "$PREFIX" || fail "bad testbed prefix $PREFIX"
	# Recorded first: the EXIT trap deletes them whatever happens.
	for r in $TB_ROLES; do
		RRVM_NS_LIST+=("$(tb_ns "$r")")
	done
	say "testbed: up under prefix $PREFIX, topology $TOPOLOGY (client, switch, primary host, backup host)"
	out=$("$TB_CLI" --prefix "$PREFIX" up --topology "$TOPOLOGY" 2>&1) || fail "testbed up: $out"
	say "  $out"
	tb_load_topology || fail "testbed: cannot load topology $TOPOLOGY"
	[ "$TB_TOPOLOGY" = "$TOPOLOGY" ] || fail "testbed came up as '$TB_TOPOLOGY', not '$TOPOLOGY'"
}

start_pair() {
	local t0 rc
	local -a extra=()
	P_CTL=$TMP/primary.ctl P_LOG=$TMP/primary.log
	B_CTL=$TMP/backup.ctl B_LOG=$TMP/backup.log B_REPORT=$TMP/failover.json
	if [ "$TOPOLOGY" != basic ]; then
		rrvm_reverse_args "$TOPOLOGY"
		extra=("${RRVM_REV_ARGS[@]}")
	fi
	say "backup: rrvm backup on $TB_BAK_REP_IP:7777 in the backup host, detect timeout $DETECT_MS ms, fence = $(tb_fence_desc pri) down"
	[ ${#extra[@]} -gt 0 ] && say "  $TOPOLOGY topology: captures client->guest frames on $TB_BAK_CAPTURE_IF (--capture ${RRVM_CAPTURE:-auto})${TB_BAK_FORWARD_IF:+, forwards them to the primary on $TB_BAK_FORWARD_IF}"
	rrvm_backup_bg "$TB_NS_BAK" "$B_LOG" "$B_CTL" "$TB_BAK_REP_IP:7777" "$B_REPORT" \
		--detect-timeout "$DETECT_MS" --fence-cmd "$(rrvm_tb_fence_cmd pri)" "${extra[@]}"
	B_PID=$RRVM_LAST_PID
	wait_for 10 --pid "$B_PID" test -S "$B_CTL" || fail "rrvm backup did not start"
	say "primary: rrvm primary --mode $PMODE --epoch $EPOCH_MS with $(basename "$GUEST_IMG") ($TB_GUEST_IP) in the primary host"
	t0=$(now_ms)
	rrvm_primary_bg "$TB_NS_PRI" "$P_LOG" "$P_CTL" "$GUEST_IMG" "$TB_BAK_REP_IP:7777" \
		"$PMODE" "$EPOCH_MS" --mem 64M
	P_PID=$RRVM_LAST_PID
	rrvm_wait_ready "$TB_NS_C" "$TB_GUEST_IP" 6379 "$P_PID" 30
	rc=$?
	[ $rc = 2 ] && fail "rrvm primary exited during boot"
	[ $rc = 1 ] && fail "the guest did not answer within 30 s"
	R[boot_ms]=$(( $(now_ms) - t0 ))
	rrvm_wait_protected "$P_CTL" "$P_PID" 20 ||
		fail "the backup did not acknowledge the full checkpoint: ${RRVM_REPL:-no stats}"
	R[protected_ms]=$(( $(now_ms) - t0 ))
	say "  guest answers after ${R[boot_ms]} ms; protected (backup holds the full checkpoint) after ${R[protected_ms]} ms"
}

start_clients() {
	CC_OUT=$TMP/client.json CC_CSV=$TMP/client.csv CC_LOG=$TMP/client.log
	RB_LOG=$TMP/redis-benchmark.log
	say "clients: consistency-client (INCR + unique-key SETs) and redis-benchmark -t set -r 100000 -c $LOAD_CLIENTS"
	local -a ccopt=()
	# naive: a connection left hanging is a violation to report, not to wait on.
	[ "$PMODE" = naive ] && ccopt=(--stall-timeout 2000)
	rrvm_cc_bg "$TB_NS_C" "$CC_LOG" "$CC_OUT" 0 --csv "$CC_CSV" "${ccopt[@]}"
	CC_PID=$RRVM_LAST_PID
	rrvm_load_bg "$TB_NS_C" "$RB_LOG" -t set -r 100000 -c "$LOAD_CLIENTS"
	RB_PID=$RRVM_LAST_PID
	wait_for 10 --pid "$CC_PID" test -s "$CC_CSV" ||
		fail "the consistency client did not start: $(tail -n 3 "$CC_LOG")"
	R[cc_start_mono]=$(mono_ms_py "$PY")
}

protected_run() {
	local i
	say "protected run: $KILL_AFTER s of traffic"
	for ((i = 1; i <= KILL_AFTER; i++)); do
		sleep 1
		pid_alive "$P_PID" || fail "rrvm primary exited"
		say "  t=${i}s: $(rrvm_repl_stats "$P_CTL" | jq -r '"epoch \(.epochs), acked \(.acked_epoch), pause avg \(.pause_us_avg) us, \(.bytes_sent) bytes sent"')"
	done
	# Figures from just before the kill.
	R[pstats]=$(rrvm_repl_stats "$P_CTL") || R[pstats]=null
	R[bstatus]=$(rrvm_backup_status "$B_CTL") || R[bstatus]=null
	R[dbsize_before]=$(ns_exec "$TB_NS_C" timeout 5 redis-cli -h "$TB_GUEST_IP" DBSIZE 2>/dev/null | tr -dc 0-9)
	if ! pid_alive "$B_PID"; then
		pid_wait "$B_PID" 1
		fail "rrvm backup exited (status ${RRVM_WAIT_RC:-?}) before the kill"
	fi
	[ "$(json_get "${R[bstatus]}" .state)" = replicating ] ||
		say "  NOTE: the backup is not replicating before the kill: ${R[bstatus]}"
}

kill_primary() {
	local t0 rc
	R[kill_mono]=$(mono_ms_py "$PY")
	t0=$(now_ms)
	say "kill -9 of the primary (pid $P_PID)"
	rrvm_kill9 "$P_PID"
	rrvm_wait_file "$B_REPORT" "$B_PID" 15000
	rc=$?
	if [ $rc = 2 ]; then
		pid_wait "$B_PID" 1
		fail "no failover report: rrvm backup exited (status ${RRVM_WAIT_RC:-?}) before failing over"
	fi
	[ $rc = 0 ] || fail "no failover report within 15 s"
	R[report_wall_ms]=$(( $(now_ms) - t0 ))
	R[report]=$(jq -c . "$B_REPORT") || fail "unreadable report $B_REPORT"
	R[report_mono]=$(mono_ms_py "$PY")
	say "  the backup took over: report after ${R[report_wall_ms]} ms (committed epoch $(json_get "${R[report]}" .committed_epoch))"
}

after_failover() {
	say "after the failover: $AFTER s of traffic on the backup's VM"
	sleep "$AFTER"
	pid_alive "$B_PID" || fail "the backup's VM exited"
	R[cc_alive]=$(pid_alive "$CC_PID" && echo true || echo false)
	R[rb_alive]=$(pid_alive "$RB_PID" && echo true || echo false)
	R[rb_errors]=$(rb_errors "$RB_LOG" | head -n1)
}

stop_clients() {
	say "stopping the clients (the consistency client drains and reads every acknowledged key back)"
	kill -TERM "$CC_PID" 2>/dev/null
	if pid_wait "$CC_PID" 30; then
		R[cc_rc]=$RRVM_WAIT_RC
	else
		pid_stop "$CC_PID" 1
		R[cc_rc]=timeout
	fi
	pid_stop "$RB_PID" 3
	R[client]=$(jq -c . "$CC_OUT" 2>/dev/null) || R[client]=null
	[ -n "${R[client]}" ] || R[client]=null
	# Request rate and latency by phase, from the client's reply log.
	local b d a
	read -r -a b <<<"$(cc_phase_stats "$CC_CSV" 0 "${R[kill_mono]}")"
	read -r -a d <<<"$(cc_phase_stats "$CC_CSV" "${R[kill_mono]}" "${R[report_mono]}")"
	read -r -a a <<<"$(cc_phase_stats "$CC_CSV" "${R[report_mono]}" 1e18)"
	R[phases]=$(jq -cn --argjson b0 "$(json_num "${b[0]}")" --argjson b1 "$(json_num "${b[1]}")" --argjson b2 "$(json_num "${b[2]}")" \
		--argjson d0 "$(json_num "${d[0]}")" \
		--argjson a0 "$(json_num "${a[0]}")" --argjson a1 "$(json_num "${a[1]}")" --argjson a2 "$(json_num "${a[2]}")" '
		{before: {replies: $b0, per_s: $b1, latency_us_p50: $b2},
		 during: {replies: $d0},
		 after: {replies: $a0, per_s: $a1, latency_us_p50: $a2}}')
	[ -n "${R[phases]}" ] || R[phases]=null
}

verify() {
	local cli=(ns_exec "$TB_NS_C" timeout 5 redis-cli -h "$TB_GUEST_IP")
	R[ping]=$("${cli[@]}" PING 2>&1)
	R[counter]=$("${cli[@]}" GET consistency:ctr 2>&1)
	R[dbsize_after]=$("${cli[@]}" DBSIZE 2>&1 | tr -dc 0-9)
	R[vm_status]=$(timeout 10 "$RRVM" ctl "$B_CTL" status --json 2>/dev/null) || R[vm_status]=null
	local c=${R[client]}
	R[consistent]=false
	if [ "${R[cc_rc]}" = 0 ] && json_true_ "$c" '.ok and .reconnects == 0 and .keys_lost == 0' &&
		[ "${R[counter]}" = "$(json_get "$c" .last_value)" ]; then
		R[consistent]=true
	fi
}
json_true_() { jq -e "$2" <<<"$1" >/dev/null 2>&1; }

testbed_down() {
	local p out r left=
	say "testbed: down (stopping the backup's VM first)"
	for p in "$CC_PID" "$RB_PID" "$B_PID" "$P_PID"; do
		[ -n "$p" ] && pid_stop "$p" 5
	done
	out=$("$TB_CLI" --prefix "$PREFIX" down 2>&1) || say "  testbed down: $out"
	for r in $TB_ROLES; do
		tb_ns_exists "$(tb_ns "$r")" && left="$left $(tb_ns "$r")"
	done
	[ -z "$left" ] || say "  NOTE: namespaces left:$left (removed on exit)"
}

# ---------------------------------------------------------------- output
write_json() {
	mkdir -p "$OUT_DIR" || fail "cannot create $OUT_DIR"
	jq -n \
		--arg started "$STARTED_AT" --arg finished "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		--arg commit "$(git_describe)" --arg kernel "$(uname -r)" --argjson nproc "$(nproc)" \
		--arg mode "$MODE" --arg pmode "$PMODE" --arg topology "$TOPOLOGY" --arg prefix "$PREFIX" --arg guest "$(basename "$GUEST_IMG")" \
		--arg guest_ip "$TB_GUEST_IP" --arg guest_mac "$TB_GUEST_MAC" \
		--argjson epoch_ms "$EPOCH_MS" --argjson detect_ms "$DETECT_MS" \
		--argjson kill_after "$KILL_AFTER" --argjson after "$AFTER" --argjson load_clients "$LOAD_CLIENTS" \
		--argjson boot_ms "$(json_num "${R[boot_ms]:-}")" --argjson protected_ms "$(json_num "${R[protected_ms]:-}")" \
		--argjson pstats "${R[pstats]}" --argjson bstatus "${R[bstatus]}" \
		--argjson report "${R[report]}" --argjson report_wall_ms "$(json_num "${R[report_wall_ms]:-}")" \
		--argjson client "${R[client]}" --arg cc_rc "${R[cc_rc]:-}" --argjson phases "${R[phases]:-null}" \
		--argjson cc_alive "${R[cc_alive]:-null}" --argjson rb_alive "${R[rb_alive]:-null}" \
		--arg rb_errors "${R[rb_errors]:-}" \
		--arg ping "${R[ping]:-}" --arg counter "${R[counter]:-}" \
		--argjson dbsize_before "$(json_num "${R[dbsize_before]:-}")" --argjson dbsize_after "$(json_num "${R[dbsize_after]:-}")" \
		--argjson vm_status "${R[vm_status]:-null}" --argjson consistent "${R[consistent]:-false}" \
		'{
		  demo: "failover of a protected kv micro-VM under load",
		  started: $started, finished: $finished, commit: $commit,
		  host: {kernel: $kernel, nproc: $nproc},
		  mode: $mode, primary_mode: $pmode, testbed: {prefix: $prefix, topology: $topology},
		  violations_expected: ($pmode == "naive"),
		  guest: {image: $guest, ip: $guest_ip, mac: $guest_mac, boot_ms: $boot_ms, protected_ms: $protected_ms},
		  params: {epoch_ms: $epoch_ms, detect_timeout_ms: $detect_ms, kill_after_s: $kill_after,
		           after_s: $after, load: ("redis-benchmark -t set -r 100000 -c " + ($load_clients | tostring))},
		  before_kill: {primary_replication: $pstats, backup: $bstatus, dbsize: $dbsize_before},
		  failover: {report: $report, kill_to_report_ms: $report_wall_ms},
		  replay: (if ($pmode == "reverse" or $pmode == "naive") then
		           {frames: ($report.replay.frames // null), logged_frames: ($report.replay.logged_frames // null),
		            bytes: ($report.replay.bytes // null), replay_ms: ($report.replay.replay_ms // null),
		            suppressed: ($report.replay.suppressed // null), finished: ($report.replay.finished // null),
		            gaps: ($bstatus.reverse.gaps // null),
		            capture_before_kill: ($bstatus.reverse // null),
		            audit: ($report.replay.audit // null)}
		           else null end),
		  client: {report: $client, exit_status: $cc_rc, phases: $phases,
		           survived_failover: $cc_alive,
		           increments_acknowledged: (if $client then ($client.last_value // 0) - ($client.initial_value // 0) else null end),
		           increments_lost: (if $client then $client.lost_increments else null end),
		           increments_rewound: (if $client then $client.rewound_increments else null end),
		           keys_acknowledged: (if $client then $client.keys_acked else null end),
		           keys_lost: (if $client then $client.keys_lost else null end),
		           connection_survived: (if $client then ($client.reconnects == 0 and $client.violations.reset == 0) else null end),
		           outage_ms: (if $client then $client.longest_stall_ms else null end)},
		  load: {running_after_failover: $rb_alive, error: (if $rb_errors == "" then null else $rb_errors end)},
		  after: {ping: $ping, counter: $counter, dbsize: $dbsize_after, vm_status: $vm_status},
		  consistent: $consistent
		}' >"$OUT_DIR/LATEST.json.tmp" || fail "cannot write JSON"
	mv "$OUT_DIR/LATEST.json.tmp" "$OUT_DIR/LATEST.json"
	# The daemons' logs beside the report (the temp dir goes on exit).
	mkdir -p "$OUT_DIR/logs" &&
		cp -f "$P_LOG" "$OUT_DIR/logs/primary.log" 2>/dev/null
	cp -f "$B_LOG" "$OUT_DIR/logs/backup.log" 2>/dev/null
}

report() {
	jq -r --arg out "$OUT_DIR/LATEST.json" '
	def f(x; d): if x == null then "?" else (x * pow(10; d) | round / pow(10; d) | tostring) end;
	def lpad(n): tostring as $s | if ($s | length) >= n then $s else ((" " * (n - ($s | length))) + $s) end;
	def ms(x): f(x; 1) | lpad(7);
	def mb(x): if x == null then "?" else ((x / 1048576 * 10 | round / 10 | tostring) + " MiB") end;
	. as $r | $r.before_kill.primary_replication as $p | $r.failover.report as $f | $r.client.report as $c |
	"",
	"rrvm demo: \($r.mode) replication and failover of the kv micro-VM",
	"===================================================================",
	"testbed    \($r.testbed.prefix)-{c,sw,pri,bak}: client, switch, primary host, backup host",
	"guest      \($r.guest.image) at \($r.guest.ip) (\($r.guest.mac)) under rrvm primary --mode \($r.mode) --epoch \($r.params.epoch_ms);",
	"           answering after \($r.guest.boot_ms) ms, protected after \($r.guest.protected_ms) ms",
	"clients    consistency-client (INCR on one connection, unique-key SETs on another)",
	"           and \($r.params.load)",
	"",
	"replication until the kill (primary, \($r.params.kill_after_s) s of traffic):",
	(if $p then
	"  epochs      \($p.epochs) (\($p.full_epochs) full), acknowledged up to \($p.acked_epoch); every \($p.achieved_interval_ms) ms (requested \($p.epoch_ms), \($p.late_epochs) late)",
	"  pause       \(f($p.pause_us_avg; 0)) us per epoch on average, \(f($p.pause_us_max / 1000; 1)) ms at most",
	"  bytes       \(mb($p.bytes_sent)) sent for \(mb($p.raw_bytes)) of dirty pages (\($p.pages) pages; \(if $p.epochs > 0 then ($p.bytes_sent / $p.epochs | round | tostring) else "?" end) bytes per epoch)",
	(if $r.primary_mode == "buffered" then
	"  output      held \($p.output.hold_ms_avg) ms on average (at most \($p.output.hold_ms_max) ms) until its epoch was acknowledged"
	else "  output      released at once (not held for the epoch; \($p.output.hold_ms_max) ms at most)" end)
	else "  (no stats)" end),
	"  backup      committed epoch \($r.before_kill.backup.committed_epoch // "?"), longest silence from the primary \($r.before_kill.backup.max_silence_ms // "?") ms",
	"",
	(if $r.replay then
	"capture on the backup until the kill (\($r.testbed.topology) topology):",
	(if $r.replay.capture_before_kill then ($r.replay.capture_before_kill as $v |
	"  \($v.capture) on the \($v.topology) leg: \($v.captured) frames captured, \($v.forwarded) forwarded, \($v.kernel_drops) kernel drops, \($v.overflow_dropped) dropped on overflow",
	"  replay log  \($v.log_frames) frames (\($v.log_bytes) bytes) held at the kill, \($v.trimmed) trimmed by committed epochs, \($v.gaps) capture gaps")
	else "  (no capture figures)" end),
	""
	else empty end),
	"kill -9 of the primary; the backup took over (report \($r.failover.kill_to_report_ms) ms after the kill):",
	(if $f then
	"  detect        \(ms($f.phases_ms.detect)) ms   (decided by \($f.detector // "?"); silence threshold \($f.detect_threshold_ms // "?") ms, at most \($f.detect_timeout_ms) ms)",
	"  fence         \(ms($f.phases_ms.fence)) ms   (primary host off the switch, status \($f.fence_status))",
	"  restore       \(ms($f.phases_ms.restore)) ms   (VM built from committed epoch \($f.committed_epoch))",
	"  announce      \(ms($f.phases_ms.announce)) ms   (gratuitous ARP on \($f.announce_dev), status \($f.announce_status))",
	"  first frame   \(ms($f.phases_ms.first_frame_out)) ms",
	"  total         \(ms($f.total_ms)) ms   from the primary'"'"'s last word to the first frame out"
	else "  (no report)" end),
	(if $r.replay then
	"",
	(if $r.primary_mode == "naive" then
	"replay: none (naive mode keeps NO replay log by design: what the primary received since the last commit is gone)",
	"  capture gaps           \($r.replay.gaps // "?") (digests with no captured frame, counted by the backup before the kill)"
	else
	"replay of the log into the resumed VM:",
	"  frames replayed        \($r.replay.frames // "?") of \($r.replay.logged_frames // "?") logged (\($r.replay.bytes // "?") bytes)\(if $r.replay.finished == false then ", NOT FINISHED" else "" end)",
	"  replay time            \(f($r.replay.replay_ms; 2)) ms",
	"  outputs suppressed     \($r.replay.suppressed // "?") (regenerated guest output the client already had)",
	"  capture gaps           \($r.replay.gaps // "?") (frames the primary received that the backup never captured)",
	(if $r.replay.audit then ($r.replay.audit as $a |
	"  audit                  \($a.flows.replayed // "?") flow(s) replayed, \($a.flows.diverged // "?") diverged, gate waits \($a.gate.waits // "?") (\($a.gate.timeouts // "?") timeouts)")
	else empty end)
	end)
	else empty end),
	"",
	"what the clients saw:",
	(if $c then
	"  outage                 \(f($c.longest_stall_ms; 0)) ms (longest wait for a reply)",
	"  increments             \($r.client.increments_acknowledged) acknowledged (\($c.first_value)..\($c.last_value)), \($c.lost_increments) lost, \($c.rewound_increments) repeated",
	"  keys                   \($c.keys_acked) acknowledged, \($c.keys_verified) read back, \($c.keys_lost) lost",
	"  connection survived    \(if $r.client.connection_survived then "yes" else "NO" end) (\($c.reconnects) reconnects, \($c.violations.reset) resets)",
	"  violations             \(if $c.ok then "none" else ($c.violations | to_entries | map(select(.value > 0) | "\(.key) \(.value)") | join(", ")) end)",
	(if $r.client.phases then
	"  request rate           \($r.client.phases.before.per_s)/s (both connections) before the kill (p50 \(f($r.client.phases.before.latency_us_p50 | if . == null then null else . / 1000 end; 2)) ms\(if $r.primary_mode == "buffered" then ": each reply waits for its epoch" else ": replies released at once" end)),",
	"                         \($r.client.phases.after.per_s)/s on the backup afterwards (p50 \(f($r.client.phases.after.latency_us_p50 | if . == null then null else . / 1000 end; 2)) ms, unprotected)"
	else empty end)
	else "  (no client report)" end),
	"  redis-benchmark        \(if $r.load.running_after_failover then "still running after the failover" else "STOPPED" end)\(if $r.load.error then ", error: " + $r.load.error else ", no error" end)",
	"  after (new connection) PING \($r.after.ping), counter \($r.after.counter) (last acknowledged \($c.last_value // "?")), DBSIZE \($r.after.dbsize) (\($r.before_kill.dbsize) acknowledged before the kill)",
	"",
	(if $r.violations_expected then
	"result: naive mode keeps no replay log, so violations are EXPECTED here (the problem reverse mode solves): \(if $r.consistent then "this kill happened to expose none - run it again" else "NOT CONSISTENT, as expected (see violations above)" end)"
	else
	"result: \(if $r.consistent then "CONSISTENT - nothing acknowledged was lost and the connections survived" else "NOT CONSISTENT (see above)" end)"
	end),
	"results: \($out)"
	' "$OUT_DIR/LATEST.json"
}

main() {
	check_env
	testbed_up
	start_pair
	start_clients
	protected_run
	kill_primary
	after_failover
	stop_clients
	verify
	testbed_down
	write_json
	report
	[ "$PMODE" = naive ] && exit 0
	[ "${R[consistent]}" = true ] || exit 1
}

main "$@"
