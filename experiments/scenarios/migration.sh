# shellcheck shell=bash
# summary: live migration: downtime and total time vs guest dirty rate, auto-converge off/on; guest throughput under the throttle
#
# migration — what a live migration (`rrvm ctl SOCKET migrate`, pri -> bak
# over the replication link, docs/migration.md) costs as the guest dirties
# memory faster: for each RATE (pages/s the kv guest's dirtier writes:
# `dirty=RATE dirty_bytes=4096 dirty_mb=DIRTY_MB`, whole pages of fresh
# random bytes, nothing compresses) and each AUTO_CONVERGE (off, on), a
# fresh `rrvm run` on pri and `rrvm incoming` on bak, the consistency
# client (INCR, one connection) running the whole time, and one migration
# under a bandwidth cap of CAP MiB/s (`--max-bandwidth`), default
# downtime limit (300 ms), `--timeout TIMEOUT` (TIMEOUT_AC with
# auto-converge). Without auto-converge a
# guest that dirties faster than the cap never converges (timed out, the
# source runs on); with it the vCPU is throttled (QEMU's rule: 20 %, +10 %
# per step, up to 99 %) until the rest fits.
#
# Measured per migration: the source's report (result, rounds, bytes, total
# time, downtime as the source and the destination saw it, the throttle
# reached), the client's longest stall (the client-visible downtime), and
# per round a progress line (CLOCK_MONOTONIC-stamped: dirty rate, bandwidth,
# expected downtime, throttle); the client's per-reply CSV gives the guest's
# INCR throughput over time.
# Output: migration.csv (rate_pps,auto_converge,repeat,result,rounds,
# total_ms,downtime_ms,dest_downtime_ms,client_stall_ms,bytes_sent,
# throttle_max,first_dirty_pps), rounds.csv (rate_pps,auto_converge,repeat,
# round,t_s,pages,dirty_pps,bandwidth_mib_s,expected_ms,throttle),
# ops.csv (rate_pps,auto_converge,repeat,t_s,ops_per_s: INCR replies per
# 200 ms bin, t from the migration's start), raw/, logs/.

scenario_params() {
	sc_param RATES "1000 5000 20000 50000 100000 200000" "1000 20000 200000" \
		"dirtier rates, pages/s"
	sc_param AUTO_CONVERGE "off on" "off on" "auto-converge settings to compare"
	sc_param CAP 16 16 "--max-bandwidth, MiB/s"
	sc_param TIMEOUT 20 8 "--timeout without auto-converge, seconds (such a migration of a fast dirtier never converges: how long to show it)"
	sc_param TIMEOUT_AC 90 60 "--timeout with auto-converge, seconds"
	sc_param DIRTY_MB 16 16 "dirtier region, MiB"
	sc_param REPEATS 2 1 "migrations per point"
	SC_SCHEMA[migration.csv]="rate_pps,auto_converge,repeat,result,rounds,total_ms,downtime_ms,dest_downtime_ms,client_stall_ms,bytes_sent,throttle_max,first_dirty_pps"
	SC_SCHEMA[rounds.csv]="rate_pps,auto_converge,repeat,round,t_s,pages,dirty_pps,bandwidth_mib_s,expected_ms,throttle"
	SC_SCHEMA[ops.csv]="rate_pps,auto_converge,repeat,t_s,ops_per_s"
}

MG_PORT=7788

# mg_stamp: stamp each line of stdin with CLOCK_MONOTONIC seconds.
mg_stamp() {
	"$SC_PY" -u -c 'import sys, time
for line in sys.stdin:
    print("%.3f %s" % (time.monotonic(), line), end="", flush=True)'
}

# mg_point RATE AC REPEAT: one migration, its rows. 0 or 1 (noted).
mg_point() {
	local rate=$1 ac=$2 rep=$3 name="mg-$1-$2-$3" src dst cc out json t0 stall
	local ctl_s=$SC_TMP/$name.src.ctl ctl_d=$SC_TMP/$name.dst.ctl
	local limit=$TIMEOUT
	local -a opt=(--max-bandwidth "$CAP")
	[ "$ac" = on ] && opt+=(--auto-converge) limit=$TIMEOUT_AC
	opt+=(--timeout "$limit")
	ns_bg "$TB_NS_PRI" "$SC_OUT/logs/$name.source.log" "$RRVM" run \
		--guest "$SC_GUEST_KV" --tap "$TB_TAP" --ip "$TB_GUEST_IP/$TB_LAN_PREFIX" \
		--mac "$TB_GUEST_MAC" --gw "$TB_GUEST_GW" --mem 64M --control "$ctl_s" \
		-- "dirty=$rate" dirty_bytes=4096 "dirty_mb=$DIRTY_MB"
	src=$RRVM_LAST_PID
	ns_bg "$TB_NS_BAK" "$SC_OUT/logs/$name.dest.log" "$RRVM" incoming \
		--listen "$TB_BAK_REP_IP:$MG_PORT" --tap "$TB_TAP" --control "$ctl_d" \
		--key-file "$RRVM_KEY_FILE"
	dst=$RRVM_LAST_PID
	if ! rrvm_wait_ready "$TB_NS_C" "$TB_GUEST_IP" 6379 "$src" 30 ||
		! wait_for 10 --pid "$dst" test -S "$ctl_d"; then
		sc_note "$name: the guest or rrvm incoming did not start"
		mg_down "$src" "$dst"
		return 1
	fi
	ns_bg "$TB_NS_C" "$SC_OUT/logs/$name.client.log" "$RRVM_CC" --host "$TB_GUEST_IP" \
		--mode incr --quiet --duration 0 --out "$SC_OUT/raw/$name.client.json" \
		--csv "$SC_OUT/raw/$name.client.csv"
	cc=$RRVM_LAST_PID
	# Let the dirtier fill its region and the client settle.
	sleep 2
	t0=$(mono_ms_py "$SC_PY")
	out=$SC_OUT/raw/$name.progress.txt
	timeout $((limit + 60)) "$RRVM" ctl "$ctl_s" migrate "$TB_BAK_REP_IP:$MG_PORT" \
		--key-file "$RRVM_KEY_FILE" "${opt[@]}" 2>&1 | mg_stamp >"$out"
	json=$(mg_report "$out")
	echo "$json" >"$SC_OUT/raw/$name.report.json"
	sleep 1
	kill -TERM "$cc" 2>/dev/null
	pid_wait "$cc" 20 || pid_stop "$cc" 1
	stall=$(jq -r '.longest_stall_ms // "NA"' "$SC_OUT/raw/$name.client.json" 2>/dev/null)
	mg_rows "$rate" "$ac" "$rep" "$json" "$out" "$t0" "$stall" "$SC_OUT/raw/$name.client.csv"
	say "  $rate pages/s, auto-converge $ac: $(jq -c '{result, rounds, total_ms, downtime_ms, throttle_max}' <<<"$json"), client stall $stall ms"
	mg_down "$src" "$dst"
	return 0
}

# mg_report PROGRESS: the report as JSON, from the text reply's fields.
mg_report() {
	sed 's/^[0-9.]* //' "$1" | awk -F': *' '
		/^result:/ { r = $2 }
		/^pre-copy rounds:/ { rounds = $2 }
		/^bytes sent:/ { b = $2 }
		/^total time:/ { t = $NF + 0 }
		/^downtime \(source/ { split($NF, x, " "); d = x[1] + 0 }
		/^downtime \(destination/ { split($NF, x, " "); dd = x[1] + 0 }
		/^throttle reached/ { th = $2 }
		/^error:/ { if (r == "") r = "error" }
		END {
			printf "{\"result\":\"%s\",\"rounds\":%d,\"bytes_sent\":%d,\"total_ms\":%.1f,\"downtime_ms\":%.2f,\"dest_downtime_ms\":%.2f,\"throttle_max\":%d}\n",
				(r == "" ? "none" : r), rounds, b, t, d, dd, th
		}'
}

# mg_rows RATE AC REPEAT JSON PROGRESS T0_MS STALL CLIENT_CSV
mg_rows() {
	local rate=$1 ac=$2 rep=$3 json=$4 prog=$5 t0=$6 stall=$7 csv=$8 first
	first=$(sed -n 's/^[0-9.]* round 0: .*dirty rate \([0-9]*\) pages\/s.*/\1/p' "$prog" | head -n 1)
	jq -r --arg r "$rate" --arg a "$ac" --arg n "$rep" --arg s "$stall" --arg f "${first:-NA}" \
		'[$r, $a, $n, .result, .rounds, .total_ms, (if .result == "completed" then .downtime_ms else "NA" end),
		  (if .result == "completed" then .dest_downtime_ms else "NA" end),
		  $s, .bytes_sent, .throttle_max, $f] | map(tostring) | join(",")' \
		<<<"$json" >>"$SC_OUT/migration.csv"
	awk -v r="$rate" -v a="$ac" -v n="$rep" -v t0="$t0" '
		/ round [0-9]+: / {
			t = $1 - t0 / 1000
			match($0, / round [0-9]+:/); k = substr($0, RSTART + 7, RLENGTH - 8)
			match($0, /: [0-9]+ pages/); p = substr($0, RSTART + 2, RLENGTH - 8)
			match($0, /dirty rate [0-9]+/); d = substr($0, RSTART + 11, RLENGTH - 11)
			match($0, /bandwidth [0-9.]+/); b = substr($0, RSTART + 10, RLENGTH - 10)
			e = "NA"; if (match($0, /downtime [0-9.]+ ms/)) e = substr($0, RSTART + 9, RLENGTH - 12)
			match($0, /throttle [0-9]+/); th = substr($0, RSTART + 9, RLENGTH - 9)
			printf "%s,%s,%s,%s,%.3f,%s,%s,%s,%s,%s\n", r, a, n, k, t, p, d, b, e, th
		}' "$prog" >>"$SC_OUT/rounds.csv"
	[ -s "$csv" ] || return 0
	awk -F, -v r="$rate" -v a="$ac" -v n="$rep" -v t0="$t0" '
		$2 == "incr" { b = int(($1 / 1e6 - t0) / 200); c[b]++; if (b > max) max = b; if (b < min || !seen++) min = b }
		END { for (i = min; i <= max; i++) printf "%s,%s,%s,%.1f,%d\n", r, a, n, i * 0.2, (c[i] + 0) * 5 }
	' "$csv" >>"$SC_OUT/ops.csv"
}

mg_down() {
	local p
	for p in "$@"; do
		[ -n "$p" ] && pid_stop "$p" 5
	done
	tb_reset || sc_note "testbed reset failed"
}

scenario_main() {
	local rate ac rep
	sc_check_ints RATES CAP TIMEOUT TIMEOUT_AC DIRTY_MB REPEATS
	sc_check_modes AUTO_CONVERGE off on
	SC_PY=$(rrvm_python) || sc_fail "python3 does not run"
	echo "rate_pps,auto_converge,repeat,result,rounds,total_ms,downtime_ms,dest_downtime_ms,client_stall_ms,bytes_sent,throttle_max,first_dirty_pps" >"$SC_OUT/migration.csv"
	echo "rate_pps,auto_converge,repeat,round,t_s,pages,dirty_pps,bandwidth_mib_s,expected_ms,throttle" >"$SC_OUT/rounds.csv"
	echo "rate_pps,auto_converge,repeat,t_s,ops_per_s" >"$SC_OUT/ops.csv"
	sc_steps $(($(wc -w <<<"$RATES") * $(wc -w <<<"$AUTO_CONVERGE") * REPEATS))
	for rep in $(seq 1 "$REPEATS"); do
		for rate in $RATES; do
			for ac in $AUTO_CONVERGE; do
				sc_step "rate $rate pages/s, auto-converge $ac, repeat $rep"
				mg_point "$rate" "$ac" "$rep" || true
			done
		done
	done
}
