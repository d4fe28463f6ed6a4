#!/usr/bin/env bash
# rrvm failure-detection benchmark (issue 14, "Measure"): does the adaptive
# detector stay quiet under load, where does its threshold settle, how long
# are the silences it sees, and what real-time priority changes. Reports;
# asserts no timing. On a private four-host testbed (docs/testbed.md), each
# pair with the heartbeat path on both networks (--lan-peer/--lan-listen).
# The outage per fault kind is the failover-timeline scenario's job
# (experiments/run failover-timeline --set FAULTS="crash freeze links-down
# replication-link-down").
#
# Parts (BENCH_DETECT_PARTS, default both, in this order):
#  soak  for each mode of BENCH_DETECT_SOAK_MODES (buffered), a pair (epoch
#        20 ms) under redis-benchmark -t set -r 100000 -c 10 for
#        BENCH_DETECT_SOAK_S (600; --quick 30) s, no fault: every 5 s the
#        backup's status (the threshold now, per path the learned threshold,
#        inter-arrival mean and sigma, longest silence, lost datagrams, the
#        local stalls, the link's own longest silence). Recorded: false
#        failovers (any report is one), the threshold it settled at (median
#        and last sample), the longest silences, the primary's longest
#        heartbeat period.
#  rt    for each priority of BENCH_DETECT_PRIOS ("10 0 10": real-time,
#        normal scheduling, real-time again for drift), a pair with
#        --heartbeat-priority P under the same load for BENCH_DETECT_RT_S
#        (120; --quick 20) s: the same figures at the end.
#
# Output: results/bench-detect/TIMESTAMP/: soak.csv (one row per sample),
# soak-summary.csv, rt.csv, meta.json, raw/ (status and stats JSON), logs/.
#
# Environment (defaults; --quick changes the ones marked *):
#   BENCH_DETECT_PARTS="soak rt"
#   BENCH_DETECT_SOAK_MODES="buffered"   (buffered, reverse-inline, reverse-mirror)
#   BENCH_DETECT_SOAK_S=600 *(30)
#   BENCH_DETECT_PRIOS="10 0 10"
#   BENCH_DETECT_RT_S=120 *(20)
#   BENCH_DETECT_LOAD_CLIENTS=10
#   BENCH_DETECT_OUT=DIR
# Options: --quick (about two minutes), --help.
# Needs root (network namespaces), /dev/kvm, build/rrvm, jq, redis-benchmark.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=SCRIPTDIR/lib/netns.sh
. "$ROOT/experiments/lib/netns.sh"
# shellcheck source=SCRIPTDIR/lib/rrvm.sh
. "$ROOT/experiments/lib/rrvm.sh"
# shellcheck source=SCRIPTDIR/lib/testbed.sh
. "$ROOT/experiments/lib/testbed.sh"
# shellcheck source=SCRIPTDIR/lib/scenario.sh
. "$ROOT/experiments/lib/scenario.sh"

# shellcheck source=SCRIPTDIR/lib/bench.sh
BENCH_NAME=bench-detect
. "$ROOT/experiments/lib/bench.sh"
bench_args "$@"

PARTS=${BENCH_DETECT_PARTS:-soak rt}
SOAK_MODES=${BENCH_DETECT_SOAK_MODES:-buffered}
SOAK_S=${BENCH_DETECT_SOAK_S:-$(q 600 30)}
PRIOS=${BENCH_DETECT_PRIOS:-10 0 10}
RT_S=${BENCH_DETECT_RT_S:-$(q 120 20)}
LOAD_CLIENTS=${BENCH_DETECT_LOAD_CLIENTS:-10}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${BENCH_DETECT_OUT:-$ROOT/results/bench-detect/$STAMP}
LAN_PORT=7778
SAMPLE_S=5
TMP=''

check_env() {
	local t v
	is_root || fail "needs root (network namespaces)"
	why=$(rrvm_unavailable) || fail "cannot run rrvm here: $why"
	for t in ip jq redis-benchmark timeout awk; do
		command -v "$t" >/dev/null || fail "'$t' is not installed (make deps)"
	done
	for v in $PARTS; do
		case "$v" in soak | rt) ;; *) fail "unknown part '$v'" ;; esac
	done
	for v in $SOAK_MODES; do
		case "$v" in buffered | reverse-inline | reverse-mirror) ;; *) fail "unknown mode '$v'" ;; esac
	done
	for v in SOAK_S RT_S LOAD_CLIENTS; do
		[[ ${!v} =~ ^[1-9][0-9]*$ ]] || fail "$v must be a positive integer (got '${!v}')"
	done
	for v in $PRIOS; do
		if ! [[ $v =~ ^[0-9]+$ ]] || [ "$v" -gt 99 ]; then
			fail "bad priority '$v' (0..99)"
		fi
	done
}

testbed_up() {
	rrvm_trap_cleanup
	tmpdir_create TMP
	mkdir -p "$OUT/logs" "$OUT/raw" || fail "cannot create $OUT"
	SC_NAME=bench-detect SC_TMP=$TMP SC_OUT=$OUT
	sc_testbed_up
	say "results in $OUT"
}
sc_note() { note "$@"; }

# pair_up NAME MODE [option...]: sc_pair_up with the LAN heartbeat path.
pair_up() {
	local name=$1 mode=$2
	shift 2
	sc_pair_up "$name" "$mode" 20 --lan-listen "$TB_BAK_LAN_IP:$LAN_PORT" \
		--primary-opt --lan-peer --primary-opt "$TB_BAK_LAN_IP:$LAN_PORT" "$@"
}

# One CSV row of the figures in a backup status (see the header below).
SAMPLE_COLS="state,detect_threshold_ms,rep_threshold_ms,rep_mean_ms,rep_sigma_ms,rep_max_silence_ms,rep_lost,lan_threshold_ms,lan_mean_ms,lan_sigma_ms,lan_max_silence_ms,lan_lost,local_stalls,local_stall_max_ms,link_max_silence_ms,realtime"
sample_row() {
	jq -r '[.state, .detect_threshold_ms,
		.liveness.replication.threshold_ms, .liveness.replication.mean_ms,
		.liveness.replication.sigma_ms, .liveness.replication.max_silence_ms,
		.liveness.replication.lost,
		.liveness.lan.threshold_ms, .liveness.lan.mean_ms, .liveness.lan.sigma_ms,
		.liveness.lan.max_silence_ms, .liveness.lan.lost,
		.liveness.local_stalls, .liveness.local_stall_max_ms, .max_silence_ms,
		.liveness.realtime] | map(if . == null then "" else tostring end) | join(",")' <<<"$1"
}

# watch NAME SECONDS CSV PREFIX: sample the backup's status every
# SAMPLE_S s into CSV (rows prefixed PREFIX), stop early on a failover.
# Sets W_FAILOVER_S (empty: none) and W_LAST (the last status JSON).
watch() {
	local name=$1 secs=$2 csv=$3 prefix=$4 t0 st
	W_FAILOVER_S='' W_LAST='{}'
	t0=$(now_ms)
	while [ $(( $(now_ms) - t0 )) -lt $((secs * 1000)) ]; do
		sleep "$SAMPLE_S"
		if [ -s "$B_REPORT" ]; then
			W_FAILOVER_S=$(( ($(now_ms) - t0) / 1000 ))
			note "$name: FALSE FAILOVER after ${W_FAILOVER_S} s: $(jq -c '{detector, detect_threshold_ms, phases_ms}' "$B_REPORT" 2>/dev/null)"
			break
		fi
		st=$(rrvm_backup_status "$B_CTL" 2>/dev/null) || continue
		W_LAST=$st
		[ -n "$csv" ] && echo "$prefix,$(( ($(now_ms) - t0) / 1000 )),$(sample_row "$st")" >>"$csv"
	done
	printf '%s\n' "$W_LAST" >"$OUT/raw/$name.status.json"
}

# loaded NAME MODE SECONDS CSV PREFIX [pair option...]: a pair under the
# redis-benchmark load, watched (watch) for SECONDS, then torn down. Sets
# W_* and L_PRIMARY (the primary's replication stats at the end).
loaded() {
	local name=$1 mode=$2 secs=$3 csv=$4 prefix=$5 rb_pid
	shift 5
	L_PRIMARY='{}' W_FAILOVER_S='' W_LAST='{}'
	pair_up "$name" "$mode" "$@" || { sc_pair_down; return 1; }
	rrvm_load_bg "$TB_NS_C" "$OUT/logs/$name.redis-benchmark.log" -t set -r 100000 -c "$LOAD_CLIENTS"
	rb_pid=$RRVM_LAST_PID
	watch "$name" "$secs" "$csv" "$prefix"
	L_PRIMARY=$(rrvm_repl_stats "$P_CTL" 2>/dev/null) || L_PRIMARY='{}'
	printf '%s\n' "$L_PRIMARY" >"$OUT/raw/$name.primary.json"
	sc_pair_down "$rb_pid"
}

part_soak() {
	local csv=$OUT/soak.csv sum=$OUT/soak-summary.csv mode st p
	echo "mode,t_s,$SAMPLE_COLS" >"$csv"
	echo "mode,duration_s,false_failover,threshold_median_ms,threshold_last_ms,rep_max_silence_ms,lan_max_silence_ms,link_max_silence_ms,local_stalls,local_stall_max_ms,rep_lost,lan_lost,primary_max_beat_period_ms,realtime" >"$sum"
	say "part soak: $SOAK_MODES under redis-benchmark -c $LOAD_CLIENTS for $SOAK_S s each"
	for mode in $SOAK_MODES; do
		loaded "soak-$mode" "$mode" "$SOAK_S" "$csv" "$mode" || continue
		st=$W_LAST p=$L_PRIMARY
		echo "$mode,$SOAK_S,$([ -n "$W_FAILOVER_S" ] && echo yes || echo no),$(awk -F, -v m="$mode" '$1 == m && $4 != "" { print $4 }' "$csv" | stats_summary | cut -d' ' -f1),$(json_get "$st" .detect_threshold_ms),$(json_get "$st" .liveness.replication.max_silence_ms),$(json_get "$st" .liveness.lan.max_silence_ms),$(json_get "$st" .max_silence_ms),$(json_get "$st" .liveness.local_stalls),$(json_get "$st" .liveness.local_stall_max_ms),$(json_get "$st" .liveness.replication.lost),$(json_get "$st" .liveness.lan.lost),$(json_get "$p" .heartbeat_path.max_period_ms),$(json_get "$st" .liveness.realtime)" >>"$sum"
		say "  $mode: $(tail -n 1 "$sum")"
	done
}

part_rt() {
	local csv=$OUT/rt.csv prio st p i=0
	echo "round,heartbeat_priority,duration_s,false_failover,primary_realtime,primary_max_beat_period_ms,$SAMPLE_COLS" >"$csv"
	say "part rt: --heartbeat-priority $PRIOS, $RT_S s each under redis-benchmark -c $LOAD_CLIENTS"
	for prio in $PRIOS; do
		i=$((i + 1))
		loaded "rt-$i-prio$prio" buffered "$RT_S" "" "" --heartbeat-priority "$prio" \
			--primary-opt --heartbeat-priority --primary-opt "$prio" || continue
		st=$W_LAST p=$L_PRIMARY
		echo "$i,$prio,$RT_S,$([ -n "$W_FAILOVER_S" ] && echo yes || echo no),$(json_get "$p" .heartbeat_path.realtime),$(json_get "$p" .heartbeat_path.max_period_ms),$(sample_row "$st")" >>"$csv"
		say "  priority $prio: $(tail -n 1 "$csv")"
	done
}

write_meta() {
	jq -n --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg stamp "$STAMP" \
		--arg commit "$(git_describe)" --arg kernel "$(uname -r)" \
		--argjson nproc "$(nproc)" --argjson quick "$([ "$QUICK" = 1 ] && echo true || echo false)" \
		--arg parts "$PARTS" --arg soak_modes "$SOAK_MODES" --argjson soak_s "$SOAK_S" \
		--arg prios "$PRIOS" --argjson rt_s "$RT_S" --argjson load "$LOAD_CLIENTS" \
		--arg load_start "$LOADAVG_START" --arg load_end "$LOADAVG_END" \
		--argjson steal "$(for k in "${!STEAL_PCT[@]}"; do printf '%s\n%s\n' "$k" "${STEAL_PCT[$k]}"; done | jq -Rn '[inputs] | [range(0; length; 2) as $i | {(.[$i]): (.[$i + 1] | tonumber? // .)}] | add // {}')" \
		--argjson failures "$FAILURES" \
		--args '{benchmark: "detect", date: $date, stamp: $stamp, commit: $commit, quick: $quick,
		  params: {parts: $parts, soak_modes: $soak_modes, soak_s: $soak_s, priorities: $prios,
		           rt_s: $rt_s, load_clients: $load},
		  host: {kernel: $kernel, nproc: $nproc, loadavg_start: $load_start, loadavg_end: $load_end,
		         cpu_steal_pct_by_part: $steal,
		         note: "other work on the host is not controlled; see the load averages and steal"},
		  failures: $failures, notes: $ARGS.positional}' "${NOTES[@]}" >"$OUT/meta.json"
}

check_env
testbed_up
has_part soak && run_part soak part_soak
has_part rt && run_part rt part_rt
LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)
write_meta
for f in soak-summary.csv rt.csv; do
	[ -s "$OUT/$f" ] && { echo "== $f"; column -t -s, "$OUT/$f"; }
done
say "bench-detect done: $OUT ($FAILURES note(s))"
echo "$OUT"
