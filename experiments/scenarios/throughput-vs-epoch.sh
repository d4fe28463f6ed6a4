# shellcheck shell=bash
# summary: throughput (and p50/p99) per mode across epochs, redis and http
#
# throughput-vs-epoch — what replication costs a loaded server: a buffered
# (Remus) connection completes about one request per epoch, so buffered
# throughput is roughly CLIENTS x 1000 / epoch requests/s and falls as the
# epoch grows; reverse replication releases output at once, so its
# throughput stays near the unreplicated baseline at every epoch (minus the
# checkpoint pauses and the backup's capture).
#
# For each mode and epoch, a fresh pair per guest: the kv guest under
# redis-benchmark (-t set,get -c CLIENTS -r 100000 --csv; REQUESTS per test,
# buffered sized to a time budget: n = BUDGET_S x CLIENTS x 1000 / epoch,
# at least 500), then the http guest (port 80, GET /) under wrk (-t 2
# -c CLIENTS -d DURATION --latency). `none` (the same monitor, no
# replication) is measured first and last: the same-run baseline and the
# host's drift (meta.json noise.baseline). A failed point is noted in
# meta.json and leaves no row; the run goes on.
# Output: throughput.csv (mode,epoch_ms,workload,clients,requests,rps,
# p50_ms,p99_ms; epoch_ms empty for none, whose rows come twice, first and
# last run in file order; workload redis-set, redis-get or http),
# raw/ (redis-benchmark CSV, wrk output, replication stats), logs/.

scenario_params() {
	sc_param MODES "buffered reverse-inline reverse-mirror" "buffered reverse-inline reverse-mirror" \
		"replicated modes to measure"
	sc_param EPOCHS "5 10 20 50 100 200" "10 50" "checkpoint epochs, ms"
	sc_param WORKLOADS "redis-set redis-get http" "redis-set redis-get http" \
		"workloads (redis-set, redis-get, http)"
	sc_param CLIENTS 50 50 "concurrent connections (redis-benchmark -c, wrk -c)"
	sc_param REQUESTS 100000 20000 "redis-benchmark requests per test, modes other than buffered"
	sc_param BUDGET_S 4 1.5 "buffered: seconds per redis-benchmark test (sizes -n)"
	sc_param DURATION 10 3 "wrk seconds per http point"
	# shellcheck disable=SC2034 # read by experiments/run
	SC_SCHEMA["throughput.csv"]="mode,epoch_ms,workload,clients,requests,rps,p50_ms,p99_ms"
}

TPUT_CSV='' TPUT_ROUND=''

# tput_row MODE EPOCH WORKLOAD REQUESTS RPS P50_MS P99_MS: one CSV row
# (rps to 0.1/s, latencies to 1 us). EPOCH empty for none; none's figures
# also go to the baseline list ($SC_TMP/baseline, with TPUT_ROUND).
tput_row() {
	[ "$1" = none ] && echo "$TPUT_ROUND $3 $5 $6 $7" >>"$SC_TMP/baseline"
	awk -v m="$1" -v e="$2" -v w="$3" -v c="$CLIENTS" -v n="$4" -v r="$5" -v a="$6" -v b="$7" '
		function num(x, fmt,   s) {
			if (x !~ /^[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/) return ""
			s = sprintf(fmt, x); if (s ~ /\./) sub(/\.?0+$/, "", s); return s
		}
		BEGIN { printf "%s,%s,%s,%d,%d,%s,%s,%s\n", m, e, w, c, n, num(r, "%.1f"), num(a, "%.3f"), num(b, "%.3f") }' >>"$TPUT_CSV"
}

# wrk_latency_ms FILE PCT: the PCT% line of wrk --latency's "Latency
# Distribution", in ms (empty if absent).
wrk_latency_ms() {
	awk -v p="$2%" '
		/Latency Distribution/ { d = 1; next }
		d && $1 == p {
			v = $2; u = v; sub(/[a-z]+$/, "", v); sub(/^[0-9.]+/, "", u)
			f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : (u == "h") ? 3600000 : -1
			if (f > 0) printf "%.3f\n", v * f
			exit
		}' "$1"
}

# tput_client TIMEOUT_S OUT ERR CMD...: a client in the client namespace
# (stdout to OUT, stderr to ERR) under a timeout; stopped early if the
# primary exits. Returns its exit status (124 timeout, 125 primary exited).
tput_client() {
	local to=$1 out=$2 err=$3 pid
	shift 3
	# shellcheck disable=SC2016 # $1 and $@ expand in the inner sh
	ns_bg "$TB_NS_C" "$err" timeout "$to" sh -c 'o=$1; shift; exec "$@" >"$o"' sh "$out" "$@"
	pid=$RRVM_LAST_PID
	while ! pid_wait_ms "$pid" 200; do
		if ! pid_alive "$P_PID"; then
			pid_stop "$pid" 2
			return 125
		fi
	done
	return "$RRVM_WAIT_RC"
}

# tput_why RC TIMEOUT_S: " (why)" for tput_client's own exit statuses.
tput_why() {
	case "$1" in
	124) echo " (timeout ${2}s)" ;;
	125) echo " (the primary exited)" ;;
	esac
}

# redis_point NAME MODE EPOCH: redis-benchmark set/get on a kv pair.
redis_point() {
	local name=$1 mode=$2 epoch=$3 ep=$3 n tests='' t w r wl='' s0 s1 to rc
	[ "$mode" = none ] && ep=''
	for w in $WORKLOADS; do
		case "$w" in
		redis-set) tests+=${tests:+,}set ;;
		redis-get) tests+=${tests:+,}get ;;
		esac
	done
	[ -n "$tests" ] || return 0
	if [ "$mode" = buffered ]; then
		n=$(awk -v b="$BUDGET_S" -v e="$epoch" -v c="$CLIENTS" 'BEGIN { n = int(b * c * 1000 / e); print (n < 500 ? 500 : n) }')
		to=$(awk -v b="$BUDGET_S" 'BEGIN { printf "%d", 60 + 6 * b }')
	else
		n=$REQUESTS
		to=$((60 + 6 * REQUESTS / 2000))   # even at 2000 req/s, with room
	fi
	if ! sc_pair_up "$name" "$mode" "${epoch:-20}"; then
		sc_pair_down
		return 0
	fi
	s0=$(rrvm_repl_stats "$P_CTL" 2>/dev/null) || s0=null
	tput_client "$to" "$SC_OUT/raw/$name.csv" "$SC_OUT/logs/$name.redis-benchmark.err" \
		redis-benchmark -h "$TB_GUEST_IP" -p 6379 -t "$tests" -n "$n" -c "$CLIENTS" -r 100000 --csv
	rc=$?
	s1=$(rrvm_repl_stats "$P_CTL" 2>/dev/null) || s1=null
	printf '{"before":%s,"after":%s}\n' "${s0:-null}" "${s1:-null}" >"$SC_OUT/raw/$name.stats.json"
	[ $rc = 0 ] || sc_note "$name: redis-benchmark -t $tests -n $n exit status $rc$(tput_why $rc "$to"): $(tr '\r\n' '  ' <"$SC_OUT/logs/$name.redis-benchmark.err" | tail -c 200)"
	for w in $WORKLOADS; do
		case "$w" in
		redis-set) t=SET ;;
		redis-get) t=GET ;;
		*) continue ;;
		esac
		r=$(rb_csv_get "$SC_OUT/raw/$name.csv" "$t" rps 2>/dev/null)
		if [[ ${r:-} =~ ^[0-9.]+$ ]] && [ $rc = 0 ]; then
			tput_row "$mode" "$ep" "$w" "$n" "$r" \
				"$(rb_csv_get "$SC_OUT/raw/$name.csv" "$t" p50)" "$(rb_csv_get "$SC_OUT/raw/$name.csv" "$t" p99)"
			wl+=" $t $r req/s p50 $(rb_csv_get "$SC_OUT/raw/$name.csv" "$t" p50) ms;"
		elif [ $rc = 0 ]; then
			sc_note "$name: no $t result in redis-benchmark's CSV"
		fi
	done
	[ "$mode" != none ] && [ "$s0" != null ] && [ "$s1" != null ] &&
		[ "$(jq -n --argjson a "$s0" --argjson b "$s1" '($b.disconnects // 0) - ($a.disconnects // 0)' 2>/dev/null)" != 0 ] &&
		sc_note "$name: the primary lost its backup during the run"
	say "  $mode${ep:+ epoch $ep ms} redis (-c $CLIENTS, -n $n):${wl:- no result}"
	sc_pair_down
}

# http_point NAME MODE EPOCH: wrk on an http pair.
http_point() {
	local name=$1 mode=$2 epoch=$3 ep=$3 out s0 s1 sum req rps se bad p50 p99 rc ok
	[ "$mode" = none ] && ep=''
	# shellcheck disable=SC2034 # sc_pair_up waits for this port
	SC_GUEST_PORT=80
	sc_pair_up "$name" "$mode" "${epoch:-20}" --guest "$RRVM_GUEST_DIR/http.elf"
	ok=$?
	# shellcheck disable=SC2034
	SC_GUEST_PORT=6379
	if [ $ok != 0 ]; then
		sc_pair_down
		return 0
	fi
	out=$SC_OUT/raw/$name.wrk.txt
	s0=$(rrvm_repl_stats "$P_CTL" 2>/dev/null) || s0=null
	tput_client $((DURATION + 60)) "$out" "$SC_OUT/logs/$name.wrk.err" \
		wrk -t 2 -c "$CLIENTS" -d "${DURATION}s" --latency "http://$TB_GUEST_IP/"
	rc=$?
	s1=$(rrvm_repl_stats "$P_CTL" 2>/dev/null) || s1=null
	printf '{"before":%s,"after":%s}\n' "${s0:-null}" "${s1:-null}" >"$SC_OUT/raw/$name.stats.json"
	sum=$(wrk_summary "$out")   # requests=N rps=X socket_errors=N non2xx=N
	read -r req rps se bad <<<"$(tr -s ' ' '\n' <<<"$sum" | cut -d= -f2 | tr '\n' ' ')"
	p50=$(wrk_latency_ms "$out" 50)
	p99=$(wrk_latency_ms "$out" 99)
	if [ $rc = 0 ] && [ "${req:-0}" -gt 0 ] && [[ $rps =~ ^[0-9.]+$ ]]; then
		tput_row "$mode" "$ep" http "$req" "$rps" "$p50" "$p99"
		{ [ "${se:-0}" = 0 ] && [ "${bad:-0}" = 0 ]; } ||
			sc_note "$name: wrk saw $se socket errors (incl. timeouts) and $bad non-2xx/3xx responses"
	else
		sc_note "$name: wrk exit status $rc$(tput_why $rc $((DURATION + 60))), $sum: $(cat "$out" "$SC_OUT/logs/$name.wrk.err" 2>/dev/null | tr '\n' ' ' | tail -c 200)"
	fi
	[ "$mode" != none ] && [ "$s0" != null ] && [ "$s1" != null ] &&
		[ "$(jq -n --argjson a "$s0" --argjson b "$s1" '($b.disconnects // 0) - ($a.disconnects // 0)' 2>/dev/null)" != 0 ] &&
		sc_note "$name: the primary lost its backup during the run"
	say "  $mode${ep:+ epoch $ep ms} http (-c $CLIENTS, ${DURATION}s): $rps req/s, p50 ${p50:-?} ms, p99 ${p99:-?} ms, $req requests"
	sc_pair_down
}

# tput_point NAME MODE EPOCH: every workload at one point.
tput_point() {
	local name=$1 mode=$2 epoch=$3 what="$2${3:+ epoch $3 ms}"
	if [ "$HAS_REDIS" = 1 ]; then
		sc_step "$what: redis-benchmark${4:+ ($4)}"
		redis_point "$name-redis" "$mode" "$epoch"
	fi
	if [ "$HAS_HTTP" = 1 ]; then
		sc_step "$what: wrk${4:+ ($4)}"
		http_point "$name-http" "$mode" "$epoch"
	fi
}

HAS_REDIS=0 HAS_HTTP=0
scenario_main() {
	local m e w per
	sc_check_ints EPOCHS CLIENTS REQUESTS DURATION
	{ [[ $BUDGET_S =~ ^[0-9]+(\.[0-9]+)?$ ]] && awk -v b="$BUDGET_S" 'BEGIN { exit !(b > 0) }'; } ||
		sc_fail "parameter BUDGET_S: '$BUDGET_S' is not a positive number"
	sc_check_modes MODES buffered reverse-inline reverse-mirror naive
	sc_check_modes WORKLOADS redis-set redis-get http
	for w in $WORKLOADS; do
		case "$w" in
		redis-*) HAS_REDIS=1 ;;
		http) HAS_HTTP=1 ;;
		esac
	done
	[ -x "$RRVM_GUEST_DIR/http.elf" ] || [ "$HAS_HTTP" = 0 ] || sc_fail "$RRVM_GUEST_DIR/http.elf is missing (run make)"
	[ "$HAS_HTTP" = 0 ] || command -v wrk >/dev/null || sc_fail "'wrk' is not installed (make deps)"
	TPUT_CSV=$SC_OUT/throughput.csv
	echo "mode,epoch_ms,workload,clients,requests,rps,p50_ms,p99_ms" >"$TPUT_CSV"
	per=$((HAS_REDIS + HAS_HTTP))
	sc_steps $(( per * (2 + $(wc -w <<<"$MODES") * $(wc -w <<<"$EPOCHS")) ))
	TPUT_ROUND=first
	tput_point none-1 none "" "baseline, first"
	for m in $MODES; do
		for e in $EPOCHS; do
			tput_point "$m-$e" "$m" "$e"
		done
	done
	TPUT_ROUND=last
	tput_point none-2 none "" "baseline, last"
	# ROUND WORKLOAD RPS P50 P99 per none row (raw, before rounding).
	touch "$SC_TMP/baseline"
	sc_noise baseline "$(jq -Rn 'def n: tonumber? // null;
			reduce (inputs | split(" ")) as $r ({};
				.[$r[1]] += {("rps_" + $r[0]): ($r[2] | n), ("p50_ms_" + $r[0]): ($r[3] | n), ("p99_ms_" + $r[0]): ($r[4] | n)})
			| . + {note: "none (no replication) measured first and last, per workload; their difference is the drift of the host"}' <"$SC_TMP/baseline")"
}
