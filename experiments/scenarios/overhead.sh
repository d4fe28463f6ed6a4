# shellcheck shell=bash
# summary: CPU per request of each component (vCPU, replication threads, backup, softirq) per mode and rate
#
# overhead — what protection costs in CPU. When the backup is another
# machine, the number that matters is the primary host's CPU per request:
# reverse replication adds the checkpoints (a pause on the vCPU thread to
# collect dirty pages, the repl-epoch thread encoding and sending them, the
# ack and heartbeat threads) but, unlike buffered (Remus), holds no output;
# the goal is primary-host CPU per request <= 1.10x the unprotected VM's.
#
# Per mode a fresh pair (kv guest, epoch EPOCH_MS, the mode's testbed
# topology); per offered rate, on that pair, the consistency client's paced
# open-loop load (--mode load: LOAD_OP on 10000 keys, RATE requests/s over
# CONNECTIONS connections) for DURATION seconds, twice:
#  1. CPU: no busy loops (they would take every idle cycle); every thread of
#     the primary and the backup (/proc/PID/task/*/schedstat, by thread
#     name), the ksoftirqd threads, /proc/stat (softirq, busy, steal) and
#     /proc/softirqs sampled just before and after; the client's own CPU
#     from its report. Divided by the replies: CPU-us per request.
#  2. latency (LATENCY=1): the same load again under the idle policy (IDLE,
#     every mode alike, experiments/lib/idle.sh): p50/p99 from each
#     request's due time.
# On one machine the kernel's network work is charged to whichever thread
# sends (no CONFIG_IRQ_TIME_ACCOUNTING here) or, on an idle CPU, to softirq
# only: primary-host CPU is the primary process's threads; softirq is
# reported beside, not added (docs/experiments.md).
# Output: cpu.csv (per component), overhead.csv (per point, with
# primary_rel_none), raw/ (client JSON, CPU snapshots), logs/.

scenario_params() {
	sc_param MODES "none buffered reverse-inline reverse-mirror" "none buffered reverse-inline reverse-mirror" \
		"modes to measure (none, the unprotected VM, is the baseline of primary_rel_none)"
	sc_param RATES "1000 2000 5000 10000" "2000 8000" "offered request rates, requests/s (paced, open loop)"
	sc_param EPOCH_MS 20 20 "checkpoint epoch, ms"
	sc_param DURATION 8 3 "seconds of load per rate and phase"
	sc_param CONNECTIONS 4 4 "connections the load is spread over"
	sc_param LOAD_OP set set "the load's request: set, get or incr"
	sc_param LATENCY 1 1 "1: also measure latency under the idle policy (a second run per rate); 0: CPU only"
	sc_idle_param
	# shellcheck disable=SC2034 # read by experiments/run
	SC_SCHEMA["cpu.csv"]=$OV_CPU_COLS
	# shellcheck disable=SC2034
	SC_SCHEMA["overhead.csv"]=$OV_SUM_COLS
}

OV_CPU_COLS="mode,rate_rps,achieved_rps,requests,window_s,host,component,cpu_us_per_req,cpu_pct"
OV_SUM_COLS="mode,rate_rps,achieved_rps,requests,primary_us_per_req,backup_us_per_req,client_us_per_req,ksoftirqd_us_per_req,softirq_us_per_req,busy_us_per_req,net_rx_per_req,primary_rel_none,steal_pct,lat_achieved_rps,lat_p50_us,lat_p99_us,cpu_run_p50_us,cpu_run_p99_us"
OV_KEYSPACE=10000
OV_WINDOW=256

# ov_load NAME RATE: the paced load in the client namespace, in the
# foreground; prints its JSON ('{}' if none). Exit status: the client's.
ov_load() {
	local name=$1 rate=$2 rc
	ns_exec "$TB_NS_C" timeout $((DURATION + 60)) "$RRVM_CC" --host "$TB_GUEST_IP" --mode load \
		--rate "$rate" --connections "$CONNECTIONS" --window "$OV_WINDOW" --load-op "$LOAD_OP" \
		--keyspace "$OV_KEYSPACE" --duration "$DURATION" --quiet --out "$SC_OUT/raw/$name.json" \
		>"$SC_OUT/logs/$name.client.log" 2>&1
	rc=$?
	jq -c . "$SC_OUT/raw/$name.json" 2>/dev/null || echo '{}'
	return $rc
}

# ov_snapshot FILE: the pair's threads, ksoftirqd, system counters.
# shellcheck disable=SC2153 # P_PID and B_PID are sc_pair_up's
ov_snapshot() { cpuacct_snapshot "$1" "$P_PID" primary vcpu "$B_PID" backup main; }

# ov_cpu_point MODE RATE: phase 1; one line into $SC_TMP/points:
# "MODE RATE ACHIEVED REPLIES PRIMARY BACKUP CLIENT KSOFTIRQD SOFTIRQ BUSY
# NET_RX STEAL P50 P99" (us per request; NA when unknown); rows of cpu.csv.
ov_cpu_point() {
	local mode=$1 rate=$2 name=ov-$1-$2-cpu j rc n ach win_ns cl
	ov_snapshot "$SC_OUT/raw/$name.before"
	j=$(ov_load "$name" "$rate")
	rc=$?
	ov_snapshot "$SC_OUT/raw/$name.after"
	[ $rc = 0 ] || sc_note "$name: client exit status $rc: $(tail -c 200 "$SC_OUT/logs/$name.client.log" | tr '\n' ' ')"
	n=$(json_get "$j" .load.replies)
	ach=$(json_get "$j" .load.achieved_rps)
	if [ -z "$n" ] || [ "$n" = 0 ]; then
		sc_note "$name: no replies"
		return 1
	fi
	cl=$(json_get "$j" '.cpu_us.user + .cpu_us.system')
	cpuacct_delta "$SC_OUT/raw/$name.before" "$SC_OUT/raw/$name.after" 2>"$SC_TMP/lost" >"$SC_TMP/delta"
	[ -s "$SC_TMP/lost" ] && sc_note "$name: threads ended during the window: $(tr '\n' ' ' <"$SC_TMP/lost")"
	echo "client load-client ${cl:-0}000" >>"$SC_TMP/delta"
	win_ns=$(awk '$1 == "time" { print $3 }' "$SC_TMP/delta")
	# Rows of cpu.csv: every thread name of the primary and backup, the
	# client, ksoftirqd, and the system-wide softirq and busy samples.
	awk -v m="$mode" -v r="$rate" -v a="$ach" -v n="$n" -v w="$win_ns" '
		$1 == "time" || ($1 == "system" && $2 !~ /^(softirq|busy)_ns$/) { next }
		{
			comp = $2; sub(/_ns$/, "", comp)
			printf "%s,%s,%s,%d,%.3f,%s,%s,%.3f,%.2f\n", m, r, a, n, w / 1e9, $1, comp,
				$3 / 1000 / n, $3 * 100 / w
		}' "$SC_TMP/delta" >>"$SC_OUT/cpu.csv"
	awk -v m="$mode" -v r="$rate" -v a="$ach" -v n="$n" -v w="$win_ns" -v np="$(nproc)" \
		-v p50="$(json_get "$j" .load.latency_us.p50)" -v p99="$(json_get "$j" .load.latency_us.p99)" '
		{ v[$1 " " $2] += $3; if ($1 != "system" && $1 != "time") h[$1] += $3 }
		END {
			printf "%s %s %s %d %.3f %.3f %.3f %.3f %.3f %.3f %.3f %.1f %s %s\n", m, r, a, n,
				h["primary"] / 1000 / n, h["backup"] / 1000 / n, h["client"] / 1000 / n,
				h["kernel"] / 1000 / n, v["system softirq_ns"] / 1000 / n, v["system busy_ns"] / 1000 / n,
				v["system net_rx"] / n, v["system steal_ns"] * 100 / (w * np), p50, p99
		}' "$SC_TMP/delta" >>"$SC_TMP/points"
	say "  $mode $rate/s: $(awk '{ printf "primary %s us/req, backup %s, client %s, softirq %s (%s replies, %s/s achieved)", $5, $6, $7, $9, $4, $3 }' <(tail -n 1 "$SC_TMP/points"))"
}

# ov_lat_point MODE RATE: phase 2 under the idle policy; "MODE RATE
# ACHIEVED P50 P99" into $SC_TMP/lat.
ov_lat_point() {
	local mode=$1 rate=$2 name=ov-$1-$2-lat j rc
	sc_idle_begin
	j=$(ov_load "$name" "$rate")
	rc=$?
	sc_idle_end
	[ $rc = 0 ] || sc_note "$name: client exit status $rc: $(tail -c 200 "$SC_OUT/logs/$name.client.log" | tr '\n' ' ')"
	echo "$mode $rate $(json_get "$j" .load.achieved_rps) $(json_get "$j" .load.latency_us.p50) $(json_get "$j" .load.latency_us.p99)" >>"$SC_TMP/lat"
	say "  $mode $rate/s under '$SC_IDLE_POLICY': p50 $(json_get "$j" .load.latency_us.p50) us, p99 $(json_get "$j" .load.latency_us.p99) us"
}

# ov_pair_ok NAME DISCONNECTS_BEFORE: the pair is still up and, if
# replicated, never lost its backup since.
ov_pair_ok() {
	local s
	pid_alive "$P_PID" || { sc_note "$1: the primary exited"; return 1; }
	[ -n "$B_PID" ] || return 0
	pid_alive "$B_PID" || { sc_note "$1: the backup exited"; return 1; }
	s=$(rrvm_repl_stats "$P_CTL" 2>/dev/null) || return 0
	[ "$(json_get "$s" .disconnects)" = "$2" ] || { sc_note "$1: the primary lost its backup during the point"; return 1; }
}

scenario_main() {
	local m r d0 why
	sc_check_ints RATES EPOCH_MS DURATION CONNECTIONS
	sc_check_modes MODES none buffered reverse-inline reverse-mirror
	sc_check_modes LOAD_OP set get incr
	[[ $LATENCY =~ ^[01]$ ]] || sc_fail "parameter LATENCY: '$LATENCY' is not 0 or 1"
	for r in $RATES; do
		[ "$r" -le 1000000 ] || sc_fail "parameter RATES: $r is above the client's 1000000"
	done
	why=$(cpuacct_available) || sc_fail "$why"
	echo "$OV_CPU_COLS" >"$SC_OUT/cpu.csv"
	: >"$SC_TMP/points"
	: >"$SC_TMP/lat"
	sc_steps "$(wc -w <<<"$MODES")"
	for m in $MODES; do
		sc_step "$m$([ "$m" = none ] || echo " epoch $EPOCH_MS ms"): rates $RATES"
		if sc_pair_up "ov-$m" "$m" "$EPOCH_MS"; then
			d0=$(json_get "$(rrvm_repl_stats "$P_CTL" 2>/dev/null)" .disconnects)
			for r in $RATES; do
				# A point during which the pair broke is not the mode's cost.
				if ov_cpu_point "$m" "$r" && ! ov_pair_ok "ov-$m-$r" "$d0"; then
					sed -i "/^$m $r /d" "$SC_TMP/points"
					sed -i "/^$m,$r,/d" "$SC_OUT/cpu.csv"
				fi
				[ "$LATENCY" = 1 ] && ov_lat_point "$m" "$r"
			done
		fi
		sc_pair_down
	done
	ov_summary
}

# The CPU points joined with the latency points, and primary CPU per
# request relative to none at the same rate.
ov_summary() {
	echo "$OV_SUM_COLS" >"$SC_OUT/overhead.csv"
	awk -v lat="$LATENCY" '
		function f(x) { return (x == "" || x == "NA" || x == "null") ? "" : x }
		FILENAME ~ /lat$/ { la[$1 " " $2] = $3; l50[$1 " " $2] = $4; l99[$1 " " $2] = $5; next }
		{ row[++n] = $0; if ($1 == "none") base[$2] = $5 }
		END {
			for (i = 1; i <= n; i++) {
				split(row[i], p, " ")
				k = p[1] " " p[2]
				rel = (p[2] in base && base[p[2]] > 0) ? sprintf("%.3f", p[5] / base[p[2]]) : ""
				printf "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", p[1], p[2], p[3], p[4],
					p[5], p[6], p[7], p[8], p[9], p[10], p[11], rel, p[12],
					f(la[k]), f(l50[k]), f(l99[k]), f(p[13]), f(p[14])
			}
		}' "$SC_TMP/lat" "$SC_TMP/points" >>"$SC_OUT/overhead.csv"
	sc_noise method "$(jq -cn --arg idle "$SC_IDLE_POLICY" '{
		cpu: "phase 1 per rate, no busy loops: sum_exec_runtime of every thread of the primary (main thread = vcpu) and backup from /proc/PID/task/*/schedstat, ksoftirqd threads, /proc/stat softirq/busy/steal (10 ms ticks, system-wide, overlapping the threads), /proc/softirqs NET_RX; the client from its getrusage; divided by the replies",
		latency: ("phase 2 per rate, the same load under idle policy " + $idle + "; p50/p99 from each request due time"),
		primary_rel_none: "primary_us_per_req / none primary_us_per_req at the same rate"}')"
	awk -F, 'NR > 1 && $12 != "" { printf "  %s %s/s: primary %s us/req = %sx none%s\n", $1, $2, $5, $12, ($15 != "" ? ", p50 " $15 " us" : "") }' "$SC_OUT/overhead.csv" >&2
}
