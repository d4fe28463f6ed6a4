#!/usr/bin/env bash
# Live migration benchmark (docs/migration.md, "Numbers"): downtime as the
# clients see it and as the report says, total time, rounds and bytes, for
# a running kv guest moved back and forth between the testbed's two hosts
# (`rrvm run`/`rrvm incoming`, the replication link, a pre-shared key).
# Measures; asserts nothing about timings.
#
# Cases (BENCH_MIG_CASES):
#   idle     kv, 64 MiB, no load
#   load     kv, 64 MiB, redis-benchmark -t set -r 100000 -c 50 running
#   big      kv, 1 GiB, ~400 MB of values stored first (redis-benchmark -d
#            4000), then idle
#   cap16 cap64 cap128
#            kv, 64 MiB, ~32 MiB of values, --max-bandwidth 16/64/128 MiB/s
#   channels  the --channels sweep (docs/migration.md, "Channels"): a 1 GiB
#            kv guest holding ~400 MB of values, idle, then kv (64 MiB)
#            under redis-benchmark -c 50; each moved with --channels 1, 2,
#            4, over the secure link and --insecure, the configurations
#            interleaved (rep 1 of each, then rep 2...) so that the shared
#            machine's load falls on all alike. Cases big-chN[-insecure],
#            load-chN[-insecure].
# In every case the consistency client (INCR on one connection, its
# per-reply CSV) runs throughout: its longest gap between replies around a
# migration is the client-visible downtime of that migration.
# (The dirtier at 1k-200k pages/s, auto-converge off/on, is the migration
# scenario: experiments/run migration.)
#
# Output: results/bench-migration/TIMESTAMP/
#   migrations.csv   case,rep,result,rounds,pages_sent,bytes_sent,total_ms,
#                    downtime_ms,dest_downtime_ms,final_pages,late_frames,
#                    channels,bandwidth_mib_s,channel_cpu_ms (per channel,
#                    ';'-separated: CPU of each channel's encoder/sender
#                    thread on pre-copy rounds),client_stall_ms
#   summary.csv      case,n,completed,stall_ms_median,stall_ms_min,
#                    stall_ms_max,downtime_ms_median,total_ms_median,
#                    total_ms_min,total_ms_max,rounds_median,
#                    bytes_sent_median,mb_s_median (bytes sent / total
#                    time),sender_cpu_ms_median (all channels' threads)
#   meta.json, logs/, raw/ (each migration's JSON report)
#
# Environment: BENCH_MIG_CASES (default all), BENCH_MIG_REPS (default 5 *(2)
# for idle/load, 3 *(1) for the others and for each configuration of the
# channels sweep). Options: --quick, --help.
# Needs root (network namespaces), /dev/kvm, a built tree, jq, python3,
# redis-benchmark.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=SCRIPTDIR/lib/netns.sh
. "$ROOT/experiments/lib/netns.sh"
# shellcheck source=SCRIPTDIR/lib/rrvm.sh
. "$ROOT/experiments/lib/rrvm.sh"
# shellcheck source=SCRIPTDIR/lib/testbed.sh
. "$ROOT/experiments/lib/testbed.sh"
BENCH_NAME=bench-migration
# shellcheck source=SCRIPTDIR/lib/bench.sh
. "$ROOT/experiments/lib/bench.sh"
bench_args "$@"

CASES=${BENCH_MIG_CASES:-idle load big cap16 cap64 cap128 channels}
REPS_MAIN=${BENCH_MIG_REPS:-$(q 5 2)}
REPS_OTHER=${BENCH_MIG_REPS:-$(q 3 1)}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${BENCH_MIG_OUT:-$ROOT/results/bench-migration/$STAMP}
PORT=7788
TB=$ROOT/experiments/testbed

is_root || fail "needs root"
why=$(rrvm_unavailable) || fail "cannot run rrvm here: $why"
PY=$(rrvm_python) || fail "python3 does not run"
mkdir -p "$OUT/logs" "$OUT/raw" || fail "cannot create $OUT"
rrvm_trap_cleanup
tmpdir_create TMP
rrvm_make_key "$TMP" || fail "rrvm keygen failed"
tb_set_prefix "rrvm-bm-$$" || fail "bad testbed prefix"
for r in $TB_ROLES; do RRVM_NS_LIST+=("$(tb_ns "$r")"); done
"$TB" --prefix "$TB_PREFIX" up >/dev/null 2>&1 || fail "testbed up failed"
say "bench-migration: results in $OUT"
echo "case,rep,result,rounds,pages_sent,bytes_sent,total_ms,downtime_ms,dest_downtime_ms,final_pages,late_frames,channels,bandwidth_mib_s,channel_cpu_ms,client_stall_ms" >"$OUT/migrations.csv"

rep_ip() { [ "$1" = pri ] && echo "$TB_PRI_REP_IP" || echo "$TB_BAK_REP_IP"; }
other() { [ "$1" = pri ] && echo bak || echo pri; }
N=0

# vm_boot ROLE MEM [guest option...]: rrvm run there; VM_PID VM_CTL.
vm_boot() {
	local role=$1 mem=$2
	shift 2
	N=$((N + 1))
	VM_CTL=$TMP/vm.$N.ctl
	ns_bg "$(tb_ns "$role")" "$OUT/logs/vm.$N.$role.log" "$RRVM" run \
		--guest "$RRVM_GUEST_DIR/kv.elf" --tap "$TB_TAP" \
		--ip "$TB_GUEST_IP/$TB_LAN_PREFIX" --mac "$TB_GUEST_MAC" --gw "$TB_GUEST_GW" \
		--mem "$mem" --control "$VM_CTL" ${1:+-- "$@"}
	VM_PID=$RRVM_LAST_PID
	rrvm_wait_ready "$TB_NS_C" "$TB_GUEST_IP" 6379 "$VM_PID" 30 || fail "the guest did not come up"
}

# The link's security for both ends: the pre-shared key, or --insecure.
MIG_SEC=()
secure_link() { MIG_SEC=(--key-file "$RRVM_KEY_FILE"); }
secure_link

# migrate_once CASE REP FROM TO [migrate option...]: one migration; the
# VM is then TO's (VM_PID, VM_CTL). Appends t0,t1 (CLOCK_MONOTONIC ms) to
# WINDOWS for the client's stall.
migrate_once() {
	local c=$1 rep=$2 from=$3 to=$4 ctl pid t0 t1 json
	shift 4
	N=$((N + 1))
	ctl=$TMP/in.$N.ctl
	ns_bg "$(tb_ns "$to")" "$OUT/logs/in.$N.$to.log" "$RRVM" incoming \
		--listen "$(rep_ip "$to"):$PORT" --tap "$TB_TAP" --control "$ctl" \
		"${MIG_SEC[@]}"
	pid=$RRVM_LAST_PID
	wait_for 10 --pid "$pid" test -S "$ctl" || fail "rrvm incoming did not start"
	t0=$(mono_ms_py "$PY")
	json=$(timeout 300 "$RRVM" ctl "$VM_CTL" migrate "$(rep_ip "$to"):$PORT" \
		"${MIG_SEC[@]}" "$@" --json 2>&1)
	t1=$(mono_ms_py "$PY")
	echo "$json" >"$OUT/raw/$c.$rep.json"
	if jq -e '.result == "completed"' <<<"$json" >/dev/null 2>&1; then
		pid_wait "$VM_PID" 10 || note "$c.$rep: the source did not exit"
		VM_PID=$pid VM_CTL=$ctl
	else
		note "$c.$rep: $(jq -r '.error // .result' <<<"$json" 2>/dev/null || echo "$json")"
		pid_stop "$pid" 5
	fi
	ROWS+=("$c,$rep,$(jq -r '[.result, .rounds, .pages_sent, .bytes_sent, .total_ms, .downtime_ms, .dest_downtime_ms, .final_pages, .late_frames, .channels, .bandwidth_mib_s, ((.channel_cpu_ms // []) | map(tostring) | join(";"))] | map(tostring) | join(",")' <<<"$json" 2>/dev/null)")
	WINDOWS+=("$t0 $t1")
	say "  $c #$rep $from->$to: $(jq -c '{result, rounds, bytes_sent, total_ms, downtime_ms, dest_downtime_ms, channel_cpu_ms}' <<<"$json" 2>/dev/null)"
}

# rows_out CLIENT_CSV: ROWS with the client's longest stall around each
# migration, to migrations.csv.
rows_out() {
	local i w g
	for i in "${!ROWS[@]}"; do
		read -r -a w <<<"${WINDOWS[$i]}"
		g=$(cc_max_gap "$1" "$((w[0] - 200))" "$((w[1] + 1000))" | cut -d' ' -f1)
		echo "${ROWS[$i]},$g" >>"$OUT/migrations.csv"
	done
}

# case_start NAME MEM LOAD FILL: a VM on pri, FILL values of 4000 B
# stored, the consistency client running (CC_PID), redis-benchmark too if
# LOAD is 1 (RB_PID, else empty).
case_start() {
	local name=$1 mem=$2 load=$3 fill=$4
	vm_boot pri "$mem"
	if [ "$fill" -gt 0 ]; then
		ip netns exec "$TB_NS_C" redis-benchmark -h "$TB_GUEST_IP" -t set -n "$fill" \
			-r "$fill" -d 4000 -c 20 -q >"$OUT/logs/$name.fill.log" 2>&1 || note "$name: the fill failed"
	fi
	ns_bg "$TB_NS_C" "$OUT/logs/$name.client.log" "$RRVM_CC" --host "$TB_GUEST_IP" --mode incr \
		--quiet --duration 0 --out "$OUT/raw/$name.client.json" --csv "$OUT/raw/$name.client.csv"
	CC_PID=$RRVM_LAST_PID RB_PID=
	if [ "$load" = 1 ]; then
		rrvm_load_bg "$TB_NS_C" "$OUT/logs/$name.rb.log" -t set -r 100000 -c 50
		RB_PID=$RRVM_LAST_PID
	fi
	sleep 2
	ROWS=() WINDOWS=()
}

# case_end NAME: stop the load and the client, write the rows, stop the VM.
case_end() {
	[ -n "$RB_PID" ] && pid_stop "$RB_PID" 5
	kill -TERM "$CC_PID" 2>/dev/null
	pid_wait "$CC_PID" 20 || pid_stop "$CC_PID" 1
	rows_out "$OUT/raw/$1.client.csv"
	pid_stop "$VM_PID" 5
	tb_reset || note "testbed reset failed"
}

# What a case runs on: "64M, redis-benchmark -c 50, N values of 4000 B".
case_says() {
	echo "$1$([ "$2" = 1 ] && echo ", redis-benchmark -c 50")$([ "$3" -gt 0 ] && echo ", $3 values of 4000 B first")"
}

# run_case CASE REPS MEM LOAD FILL [migrate option...]
run_case() {
	local c=$1 reps=$2 mem=$3 load=$4 fill=$5 host=pri i
	shift 5
	say "case $c: $reps migrations ($(case_says "$mem" "$load" "$fill"))"
	case_start "$c" "$mem" "$load" "$fill"
	for i in $(seq 1 "$reps"); do
		migrate_once "$c" "$i" "$host" "$(other "$host")" "$@"
		host=$(other "$host")
		sleep 1.5
	done
	case_end "$c"
}

# sweep NAME REPS MEM LOAD FILL: the channels sweep on one VM (moved back
# and forth), configurations interleaved: for each rep, --channels 1 2 4
# over the secure link, then over --insecure.
sweep() {
	local name=$1 reps=$2 mem=$3 load=$4 fill=$5 host=pri i n sec
	say "channels sweep $name: $reps x (1 2 4 channels) x (secure, insecure) ($(case_says "$mem" "$load" "$fill"))"
	case_start "$name" "$mem" "$load" "$fill"
	for i in $(seq 1 "$reps"); do
		for sec in "" -insecure; do
			if [ -n "$sec" ]; then MIG_SEC=(--insecure); else secure_link; fi
			for n in 1 2 4; do
				migrate_once "$name-ch$n$sec" "$i" "$host" "$(other "$host")" --channels "$n"
				host=$(other "$host")
				sleep 1.5
			done
		done
	done
	secure_link
	case_end "$name"
}

part_cases() {
	local c
	for c in $CASES; do
		case "$c" in
		idle) run_case idle "$REPS_MAIN" 64M 0 0 ;;
		load) run_case load "$REPS_MAIN" 64M 1 0 ;;
		big) run_case big "$REPS_OTHER" 1G 0 100000 ;;
		cap*) run_case "$c" "$REPS_OTHER" 64M 0 8000 --max-bandwidth "${c#cap}" ;;
		channels)
			sweep big "$REPS_OTHER" 1G 0 100000
			sweep load "$REPS_OTHER" 64M 1 0
			;;
		*) fail "unknown case '$c'" ;;
		esac
	done
}
run_part cases part_cases

# Summary: medians per case.
"$PY" - "$OUT/migrations.csv" >"$OUT/summary.csv" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print("case,n,completed,stall_ms_median,stall_ms_min,stall_ms_max,downtime_ms_median,total_ms_median,total_ms_min,total_ms_max,rounds_median,bytes_sent_median,mb_s_median,sender_cpu_ms_median")
def num(v):
    try:
        return float(v)
    except ValueError:
        return None
for c in dict.fromkeys(r["case"] for r in rows):
    rs = [r for r in rows if r["case"] == c]
    ok = [r for r in rs if r["result"] == "completed"]
    for r in ok:
        t = num(r["total_ms"])
        r["mb_s"] = "%.1f" % (num(r["bytes_sent"]) / 1e3 / t) if t else ""
        cpu = [num(x) for x in r.get("channel_cpu_ms", "").split(";")]
        r["cpu"] = "%.1f" % sum(cpu) if cpu and None not in cpu else ""
    def med(k, f=statistics.median):
        v = [num(r[k]) for r in ok if num(r[k]) is not None]
        return "%.1f" % f(v) if v else "NA"
    print(",".join([c, str(len(rs)), str(len(ok)), med("client_stall_ms"),
                    med("client_stall_ms", min), med("client_stall_ms", max),
                    med("downtime_ms"), med("total_ms"), med("total_ms", min),
                    med("total_ms", max), med("rounds"), med("bytes_sent"),
                    med("mb_s"), med("cpu")]))
EOF
LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)
jq -n --arg stamp "$STAMP" --arg commit "$(git -C "$ROOT" rev-parse HEAD 2>/dev/null)" \
	--arg cases "$CASES" --argjson quick "$([ "$QUICK" = 1 ] && echo true || echo false)" \
	--arg la0 "$LOADAVG_START" --arg la1 "$LOADAVG_END" --arg steal "${STEAL_PCT[cases]}" \
	--argjson failures "$FAILURES" \
	'{bench: "migration", stamp: $stamp, commit: $commit, quick: $quick, cases: $cases,
	  host: {loadavg_start: $la0, loadavg_end: $la1, steal_pct: $steal,
	         note: "shared machine: other agents run builds and KVM tests"},
	  failures: $failures, notes: $ARGS.positional}' --args "${NOTES[@]}" >"$OUT/meta.json"
"$TB" --prefix "$TB_PREFIX" down >/dev/null 2>&1 || note "testbed down failed"
column -s, -t <"$OUT/summary.csv"
say "bench-migration done: $OUT ($FAILURES notes)"
