#!/usr/bin/env bash
# rrvm micro-benchmark: the kv micro-VM against a native redis-server, side
# by side in one run and one topology.
#
#   namespace A (client)                          namespace B (native)
#     redis-benchmark ──tap0 10.77.0.1── rrvm kv guest 10.77.0.2
#                     ──veth 10.77.1.1── veth 10.77.1.2 redis-server
#
# For each target, test (SET, GET) and client config (clients:pipeline) the
# benchmark runs R times, interleaving the targets (guest first on odd
# repetitions, native first on even ones). Per run: requests/s and latency
# percentiles from `redis-benchmark --csv`, and for the guest the VM exits
# during the run from `rrvm ctl stats --json` deltas. Reports medians with
# min/max and guest/native ratios; asserts nothing about timings.
#
# Output: results/bench/TIMESTAMP/
#   micro-vm.csv          one row per run (raw)
#   micro-vm-summary.csv  one row per test/config: medians, min/max, ratios
#   meta.json             commit, date, host, tool versions, parameters
#   logs/                 console of rrvm and redis-server
#
# Environment:
#   BENCH_REPS=5            repetitions
#   BENCH_REQUESTS=20000    requests per run at pipeline 1; a run with
#                           pipeline P sends BENCH_REQUESTS*P requests
#   BENCH_CONFIGS="50:1 50:16 1:1"   clients:pipeline list
#   BENCH_TESTS="set get"   redis-benchmark -t tests
#   BENCH_GUEST=auto|skip   skip the guest half (it is also skipped, with
#                           the reason, when rrvm cannot run here)
#   BENCH_OUT=DIR           output directory (default results/bench/TIMESTAMP)
# Needs root (network namespaces).
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=SCRIPTDIR/lib/netns.sh
. "$ROOT/experiments/lib/netns.sh"
# shellcheck source=SCRIPTDIR/lib/rrvm.sh
. "$ROOT/experiments/lib/rrvm.sh"

REPS=${BENCH_REPS:-5}
REQUESTS=${BENCH_REQUESTS:-20000}
CONFIGS=${BENCH_CONFIGS:-50:1 50:16 1:1}
TESTS=${BENCH_TESTS:-set get}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${BENCH_OUT:-$ROOT/results/bench/$STAMP}
GUEST_IMG=$RRVM_GUEST_DIR/kv.elf

HOST_IP=10.77.0.1
GUEST_IP=10.77.0.2
GUEST_MAC=52:54:00:77:00:02
NATIVE_CLIENT_IP=10.77.1.1
NATIVE_IP=10.77.1.2
PORT=6379

NS_A=
NS_B=
TMP=
GUEST=1
GUEST_SKIP_REASON=
GUEST_PID=
NATIVE_PID=
CTL=
FAILURES=0
CSV=
SUMMARY=
declare -a TARGETS=()

fail() {
	say "bench failed: $*"
	exit 1
}

# ---------------------------------------------------------------- phases
check_env() {
	local t why
	is_root || fail "needs root (network namespaces)"
	for t in ip ping jq redis-server redis-benchmark awk; do
		command -v "$t" >/dev/null || fail "'$t' is not installed (make deps)"
	done
	[[ $REPS =~ ^[1-9][0-9]*$ ]] || fail "BENCH_REPS must be a positive integer"
	[[ $REQUESTS =~ ^[1-9][0-9]*$ ]] || fail "BENCH_REQUESTS must be a positive integer"
	for t in $CONFIGS; do
		[[ $t =~ ^[1-9][0-9]*:[1-9][0-9]*$ ]] || fail "bad BENCH_CONFIGS entry '$t' (want clients:pipeline)"
	done
	if [ "${BENCH_GUEST:-auto}" = skip ]; then
		GUEST=0
		GUEST_SKIP_REASON="BENCH_GUEST=skip"
	elif ! why=$(rrvm_unavailable); then
		GUEST=0
		GUEST_SKIP_REASON=$why
	elif [ ! -f "$GUEST_IMG" ]; then
		GUEST=0
		GUEST_SKIP_REASON="$GUEST_IMG is missing (run make)"
	fi
	if [ $GUEST = 0 ]; then
		say "*** GUEST HALF SKIPPED: $GUEST_SKIP_REASON"
		say "*** measuring the native redis-server baseline only; no ratios"
		TARGETS=(native)
	else
		TARGETS=(guest native)
	fi
}

setup_net() {
	rrvm_trap_cleanup
	tmpdir_create TMP
	ns_create NS_A a
	ns_create NS_B b
	ns_add_tap "$NS_A" tap0 "$HOST_IP/24"
	ns_add_veth "$NS_A" veth-n "$NATIVE_CLIENT_IP/24" "$NS_B" veth-a "$NATIVE_IP/24"
	say "network: $NS_A (client; tap0 $HOST_IP -> guest $GUEST_IP; veth $NATIVE_CLIENT_IP) <-> $NS_B (native $NATIVE_IP)"
	mkdir -p "$OUT/logs" || fail "cannot create $OUT"
	CSV=$OUT/micro-vm.csv
	SUMMARY=$OUT/micro-vm-summary.csv
}

start_native() {
	ns_bg "$NS_B" "$OUT/logs/redis-server.log" redis-server --save '' \
		--appendonly no --port "$PORT" --bind "$NATIVE_IP" --daemonize no \
		--protected-mode no --dir "$TMP"
	NATIVE_PID=$RRVM_LAST_PID
	wait_for 15 --pid "$NATIVE_PID" probe_tcp "$NS_A" "$NATIVE_IP" "$PORT" ||
		fail "native redis-server did not start (see $OUT/logs/redis-server.log)"
	say "native: redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') at $NATIVE_IP:$PORT (pid $NATIVE_PID)"
}

start_guest() {
	local rc
	[ $GUEST = 1 ] || return 0
	CTL=$TMP/rrvm.ctl
	rrvm_boot "$NS_A" tap0 "$GUEST_IP/24" "$GUEST_MAC" "$HOST_IP" "$GUEST_IMG" \
		"$CTL" "$OUT/logs/rrvm.log"
	GUEST_PID=$RRVM_LAST_PID
	rrvm_wait_ready "$NS_A" "$GUEST_IP" "$PORT" "$GUEST_PID" 30
	rc=$?
	[ $rc = 0 ] || fail "kv guest did not come up (see $OUT/logs/rrvm.log)"
	say "guest: kv.elf at $GUEST_IP:$PORT (rrvm pid $GUEST_PID)"
}

target_ip() { [ "$1" = guest ] && echo "$GUEST_IP" || echo "$NATIVE_IP"; }

# run_one TARGET TEST CLIENTS PIPELINE REP: one redis-benchmark run, one CSV
# row. REP 0 is a warm-up (no row).
run_one() {
	local target=$1 test=$2 clients=$3 pipe=$4 rep=$5
	local n=$((REQUESTS * pipe)) ip f before='' after='' exits='' epr='' wc='' rx='' tx=''
	local name row
	ip=$(target_ip "$target")
	[ "$rep" = 0 ] && n=$((n / 10 > 1000 ? n / 10 : 1000))
	f=$TMP/run.csv
	if [ "$target" = guest ]; then
		pid_alive "$GUEST_PID" || { say "rrvm is no longer running"; FAILURES=$((FAILURES + 1)); return 1; }
		before=$(rrvm_stats "$CTL")
	fi
	if ! ns_exec "$NS_A" timeout 600 redis-benchmark -h "$ip" -p "$PORT" \
		-t "$test" -n "$n" -c "$clients" -P "$pipe" --csv >"$f" 2>"$f.err"; then
		say "redis-benchmark failed: $target $test c=$clients P=$pipe: $(tr '\r\n' '  ' <"$f.err" | cut -c1-200)"
		FAILURES=$((FAILURES + 1))
		return 1
	fi
	[ "$rep" = 0 ] && return 0
	if [ "$target" = guest ]; then
		after=$(rrvm_stats "$CTL")
		exits=$(json_delta "$before" "$after" .exits.total)
		wc=$(json_delta "$before" "$after" .wait_calls)
		rx=$(json_delta "$before" "$after" .net.rx_frames)
		tx=$(json_delta "$before" "$after" .net.tx_frames)
		epr=$(ratio "$exits" "$n" 4)
	fi
	name=$(tr '[:lower:]' '[:upper:]' <<<"$test")
	row=$(rb_csv_rows "$f" | awk -v t="$name" '$1 == t')
	if [ -z "$row" ]; then
		say "no $name row in redis-benchmark output ($target c=$clients P=$pipe)"
		FAILURES=$((FAILURES + 1))
		return 1
	fi
	# row: TEST RPS AVG MIN P50 P95 P99 MAX
	read -r _ rps avg min p50 p95 p99 max <<<"$row"
	echo "$(date -u +%Y-%m-%dT%H:%M:%SZ),$rep,$target,$name,$clients,$pipe,$n,$rps,$avg,$min,$p50,$p95,$p99,$max,$exits,$epr,$wc,$rx,$tx" >>"$CSV"
	say "  rep $rep $(printf '%-6s %-3s c=%-3s P=%-3s' "$target" "$name" "$clients" "$pipe") $(printf '%10s req/s  p50 %s ms' "$rps" "$p50")${epr:+  $epr exits/req}"
}

measure() {
	local rep cfg clients pipe test target order
	echo "timestamp,rep,target,test,clients,pipeline,requests,rps,avg_ms,min_ms,p50_ms,p95_ms,p99_ms,max_ms,exits,exits_per_req,wait_calls,rx_frames,tx_frames" >"$CSV"
	say "warm-up"
	for target in "${TARGETS[@]}"; do
		for test in $TESTS; do
			run_one "$target" "$test" 50 1 0
		done
	done
	for ((rep = 1; rep <= REPS; rep++)); do
		say "repetition $rep of $REPS"
		if ((rep % 2)); then
			order=("${TARGETS[@]}")
		else
			order=()
			for ((i = ${#TARGETS[@]} - 1; i >= 0; i--)); do order+=("${TARGETS[i]}"); done
		fi
		for cfg in $CONFIGS; do
			clients=${cfg%%:*}
			pipe=${cfg##*:}
			for test in $TESTS; do
				for target in "${order[@]}"; do
					run_one "$target" "$test" "$clients" "$pipe" "$rep"
				done
			done
		done
	done
}

# col TARGET TEST CLIENTS PIPE COLUMN: the values of COLUMN (by header name)
# for matching rows, one per line.
col() {
	awk -F, -v tg="$1" -v ts="$2" -v c="$3" -v p="$4" -v name="$5" '
		NR == 1 { for (i = 1; i <= NF; i++) idx[$i] = i; next }
		$3 == tg && $4 == ts && $5 == c && $6 == p && $(idx[name]) != "" { print $(idx[name]) }
	' "$CSV"
}

summarize() {
	local cfg clients pipe test name g_rps n_rps g_p50 n_p50 g_epr
	echo "test,clients,pipeline,reps,guest_rps_median,guest_rps_min,guest_rps_max,native_rps_median,native_rps_min,native_rps_max,rps_ratio_guest_native,guest_p50_ms_median,guest_p50_ms_min,guest_p50_ms_max,native_p50_ms_median,native_p50_ms_min,native_p50_ms_max,p50_ratio_guest_native,guest_exits_per_req_median" >"$SUMMARY"
	for cfg in $CONFIGS; do
		clients=${cfg%%:*}
		pipe=${cfg##*:}
		for test in $TESTS; do
			name=$(tr '[:lower:]' '[:upper:]' <<<"$test")
			read -r g_rps g_rps_min g_rps_max g_n <<<"$(col guest "$name" "$clients" "$pipe" rps | stats_summary)"
			read -r n_rps n_rps_min n_rps_max n_n <<<"$(col native "$name" "$clients" "$pipe" rps | stats_summary)"
			read -r g_p50 g_p50_min g_p50_max _ <<<"$(col guest "$name" "$clients" "$pipe" p50_ms | stats_summary)"
			read -r n_p50 n_p50_min n_p50_max _ <<<"$(col native "$name" "$clients" "$pipe" p50_ms | stats_summary)"
			read -r g_epr _ _ _ <<<"$(col guest "$name" "$clients" "$pipe" exits_per_req | stats_summary)"
			echo "$name,$clients,$pipe,$(( g_n > n_n ? g_n : n_n )),$g_rps,$g_rps_min,$g_rps_max,$n_rps,$n_rps_min,$n_rps_max,$(ratio "$g_rps" "$n_rps" 3),$g_p50,$g_p50_min,$g_p50_max,$n_p50,$n_p50_min,$n_p50_max,$(ratio "$g_p50" "$n_p50" 3),$g_epr" >>"$SUMMARY"
		done
	done
}

print_table() {
	echo
	echo "rrvm bench: kv micro-VM vs native redis-server (median of $REPS; [min-max])"
	[ $GUEST = 1 ] || echo "*** GUEST HALF SKIPPED: $GUEST_SKIP_REASON -- native baseline only"
	echo
	awk -F, '
		function r(x) { return x == "NA" ? "NA" : sprintf("%.0f", x) }
		function m(x) { return x == "NA" ? "NA" : sprintf("%.3f", x) }
		NR == 1 { next }
		{
			if (!hdr++) {
				printf "%-4s %4s %3s | %-26s | %-26s | %6s | %-21s | %-21s | %6s | %s\n", "test", "c", "P",
					"guest req/s", "native req/s", "ratio", "guest p50 ms", "native p50 ms", "ratio", "exits/req"
				printf "%s\n", "-----------------------------------------------------------------------------------------------------------------------------------------"
			}
			printf "%-4s %4s %3s | %8s [%7s-%7s] | %8s [%7s-%7s] | %6s | %5s [%5s-%5s] | %5s [%5s-%5s] | %6s | %s\n",
				$1, $2, $3, r($5), r($6), r($7), r($8), r($9), r($10), $11,
				m($12), m($13), m($14), m($15), m($16), m($17), $18, $19
		}' "$SUMMARY"
	echo
	echo "ratio = guest/native (req/s: higher is better for the guest; p50: lower is better)."
	echo "requests per run: $REQUESTS x pipeline depth. exits/req: VM exits (rrvm ctl stats) per request."
	echo "results: $OUT"
}

write_meta() {
	local cpu
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
	jq -n \
		--arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		--arg stamp "$STAMP" \
		--arg commit "$(git_describe)" \
		--arg kernel "$(uname -r)" \
		--argjson nproc "$(nproc)" \
		--arg cpu "$cpu" \
		--arg redis_server "$(redis-server --version)" \
		--arg redis_benchmark "$(redis-benchmark --version)" \
		--arg guest_image "$GUEST_IMG" \
		--arg guest_sha256 "$( [ -f "$GUEST_IMG" ] && sha256sum "$GUEST_IMG" | cut -d' ' -f1)" \
		--argjson guest_included "$( [ $GUEST = 1 ] && echo true || echo false)" \
		--arg guest_skip_reason "$GUEST_SKIP_REASON" \
		--argjson reps "$REPS" --argjson requests "$REQUESTS" \
		--arg configs "$CONFIGS" --arg tests "$TESTS" \
		--argjson failures "$FAILURES" \
		'{
		  benchmark: "micro-vm", date: $date, stamp: $stamp, commit: $commit,
		  host: {kernel: $kernel, nproc: $nproc, cpu: $cpu},
		  tools: {redis_server: $redis_server, redis_benchmark: $redis_benchmark},
		  guest: {included: $guest_included, skip_reason: $guest_skip_reason,
		          image: $guest_image, image_sha256: $guest_sha256,
		          ip: "10.77.0.2", path: "client netns -> tap0 -> rrvm"},
		  native: {ip: "10.77.1.2", path: "client netns -> veth -> redis-server netns",
		           args: "--save \"\" --appendonly no --port 6379 --daemonize no"},
		  parameters: {reps: $reps, requests_per_run_at_pipeline_1: $requests,
		               requests_scale_with_pipeline: true,
		               configs_clients_pipeline: ($configs | split(" ") | map(select(. != ""))),
		               tests: ($tests | split(" ") | map(select(. != ""))),
		               order: "targets interleaved; guest first on odd repetitions",
		               warmup: "one short run per target and test, discarded"},
		  failures: $failures
		}' >"$OUT/meta.json"
}

main() {
	check_env
	setup_net
	start_native
	start_guest
	measure
	summarize
	write_meta
	print_table
	if [ "$FAILURES" -gt 0 ]; then
		say "$FAILURES run(s) failed; see above"
		exit 1
	fi
}

main "$@"
