#!/usr/bin/env bash
# rrvm demo: boot the kv micro-VM on a TAP in a private network namespace,
# drive it with real Redis clients, and report what was measured.
#
#   experiments/demo.sh            (make demo builds first, then runs this)
#
# Phases (one function each, so that a failover phase can be slotted in):
#   check_env -> setup_net -> boot_guest -> redis_cli_session ->
#   throughput -> latency -> report (stdout) + results/demo/LATEST.json
#
# Environment: DEMO_REQUESTS (default 20000), DEMO_LAT_REQUESTS (5000),
# DEMO_CLIENTS (50), RRVM, RRVM_GUEST_DIR, RRVM_KEEP=1 (no cleanup).
# Needs root and /dev/kvm. Progress goes to stderr, the report to stdout.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=SCRIPTDIR/lib/netns.sh
. "$ROOT/experiments/lib/netns.sh"
# shellcheck source=SCRIPTDIR/lib/rrvm.sh
. "$ROOT/experiments/lib/rrvm.sh"

REQUESTS=${DEMO_REQUESTS:-20000}
LAT_REQUESTS=${DEMO_LAT_REQUESTS:-5000}
CLIENTS=${DEMO_CLIENTS:-50}
OUT_DIR=$ROOT/results/demo
GUEST_IMG=$RRVM_GUEST_DIR/kv.elf
HOST_IP=10.77.0.1
GUEST_IP=10.77.0.2
GUEST_MAC=52:54:00:77:00:02
PORT=6379

NS=
TMP=
GUEST_PID=
CTL=
CONSOLE=
STARTED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
declare -a TRANSCRIPT=()    # "command<TAB>answer"
declare -A R=()             # measured values, by name

fail() {
	say "demo failed: $*"
	if [ -n "$CONSOLE" ] && [ -s "$CONSOLE" ]; then
		say "last lines of the rrvm console:"
		tail -n 20 "$CONSOLE" | sed 's/^/    /' >&2
	fi
	exit 1
}

# ---------------------------------------------------------------- phases
check_env() {
	local why t
	why=$(rrvm_unavailable) || fail "cannot run the demo: $why"
	[ -f "$GUEST_IMG" ] || fail "$GUEST_IMG is missing (run make)"
	for t in ip ping jq redis-cli redis-benchmark; do
		command -v "$t" >/dev/null || fail "'$t' is not installed (make deps)"
	done
}

setup_net() {
	say "network: namespace + TAP (host $HOST_IP, guest $GUEST_IP)"
	rrvm_trap_cleanup
	tmpdir_create TMP
	ns_create NS demo
	ns_add_tap "$NS" tap0 "$HOST_IP/24"
	CTL=$TMP/rrvm.ctl
	CONSOLE=$TMP/console.log
	say "  namespace $NS, tap0 $HOST_IP/24"
}

boot_guest() {
	local t0 rc
	say "boot: $(basename "$GUEST_IMG") on tap0 as $GUEST_IP ($GUEST_MAC)"
	t0=$(now_ms)
	rrvm_boot "$NS" tap0 "$GUEST_IP/24" "$GUEST_MAC" "$HOST_IP" "$GUEST_IMG" \
		"$CTL" "$CONSOLE"
	GUEST_PID=$RRVM_LAST_PID
	rrvm_wait_ready "$NS" "$GUEST_IP" "$PORT" "$GUEST_PID" 30
	rc=$?
	[ $rc = 2 ] && fail "rrvm exited during boot"
	[ $rc = 1 ] && fail "guest did not answer within 30 s"
	R[boot_ms]=$(( $(now_ms) - t0 ))
	say "  guest answers ping and TCP $PORT after ${R[boot_ms]} ms (rrvm pid $GUEST_PID)"
	say "  console so far:"
	head -n 8 "$CONSOLE" | sed 's/^/      | /' >&2
}

# cli CMD...: run one redis-cli command in the namespace, record it.
cli() {
	local ans
	ans=$(ns_exec "$NS" timeout 10 redis-cli -h "$GUEST_IP" -p "$PORT" "$@" 2>&1)
	TRANSCRIPT+=("$*"$'\t'"${ans//$'\n'/ | }")
	say "  redis-cli> $*  ->  ${ans//$'\n'/ | }"
}

redis_cli_session() {
	say "redis-cli: a few commands"
	cli PING
	cli SET demo:greeting "hello from the micro-VM"
	cli GET demo:greeting
	cli INCR demo:visits
	cli INCR demo:visits
	cli INCR demo:visits
	cli LPUSH demo:list one two three
	cli LRANGE demo:list 0 -1
	cli DEL demo:list
}

# bench_run NAME OUTFILE ARGS...: redis-benchmark with stats before/after.
# Sets R[NAME_exits], R[NAME_frames_in], R[NAME_wait_calls].
bench_run() {
	local name=$1 outf=$2 before after
	shift 2
	before=$(rrvm_stats "$CTL") || fail "rrvm ctl stats failed"
	ns_exec "$NS" timeout 600 redis-benchmark -h "$GUEST_IP" -p "$PORT" "$@" \
		--csv >"$outf" 2>"$outf.err" || {
		cat "$outf.err" >&2
		fail "redis-benchmark $* failed"
	}
	after=$(rrvm_stats "$CTL") || fail "rrvm ctl stats failed"
	R[${name}_exits]=$(json_delta "$before" "$after" .exits.total)
	R[${name}_wait_calls]=$(json_delta "$before" "$after" .wait_calls)
	R[${name}_rx_frames]=$(json_delta "$before" "$after" .net.rx_frames)
	R[${name}_tx_frames]=$(json_delta "$before" "$after" .net.tx_frames)
}

throughput() {
	local t total=0
	say "throughput: redis-benchmark -t set,get,incr -n $REQUESTS -c $CLIENTS"
	bench_run tput "$TMP/tput.csv" -t set,get,incr -n "$REQUESTS" -c "$CLIENTS"
	for t in SET GET INCR; do
		R[tput_${t}_rps]=$(rb_csv_get "$TMP/tput.csv" "$t" rps)
		R[tput_${t}_p50]=$(rb_csv_get "$TMP/tput.csv" "$t" p50)
		R[tput_${t}_p99]=$(rb_csv_get "$TMP/tput.csv" "$t" p99)
		[ -n "${R[tput_${t}_rps]}" ] || fail "no $t result in redis-benchmark output"
		say "  $t: ${R[tput_${t}_rps]} req/s, p50 ${R[tput_${t}_p50]} ms"
		total=$((total + REQUESTS))
	done
	R[tput_requests]=$total
	R[tput_exits_per_req]=$(ratio "${R[tput_exits]}" "$total" 3)
	say "  exits: ${R[tput_exits]} for $total requests (${R[tput_exits_per_req]} per request)"
}

latency() {
	say "latency: redis-benchmark -t get -n $LAT_REQUESTS -c 1 -P 1 (one request in flight)"
	bench_run lat "$TMP/lat.csv" -t get -n "$LAT_REQUESTS" -c 1 -P 1
	local f
	for f in rps avg p50 p95 p99 max; do
		R[lat_$f]=$(rb_csv_get "$TMP/lat.csv" GET "$f")
	done
	[ -n "${R[lat_p50]}" ] || fail "no GET result in redis-benchmark output"
	R[lat_exits_per_req]=$(ratio "${R[lat_exits]}" "$LAT_REQUESTS" 3)
	say "  p50 ${R[lat_p50]} ms, p99 ${R[lat_p99]} ms, ${R[lat_exits_per_req]} exits per request"
}

final_stats() {
	R[final_stats]=$(rrvm_stats "$CTL") || R[final_stats]=null
	pid_alive "$GUEST_PID" || fail "rrvm is no longer running"
}

report() {
	local line
	cat <<REPORT

rrvm demo: kv micro-VM driven by redis-cli and redis-benchmark
===============================================================
guest      $(basename "$GUEST_IMG") on tap0 in namespace $NS, $GUEST_IP, booted in ${R[boot_ms]} ms

redis-cli session:
REPORT
	for line in "${TRANSCRIPT[@]}"; do
		printf '  > %-45s %s\n' "${line%%$'\t'*}" "${line#*$'\t'}"
	done
	cat <<REPORT

throughput (redis-benchmark -n $REQUESTS -c $CLIENTS -P 1):
  test        req/s     p50 ms   p99 ms
REPORT
	for t in SET GET INCR; do
		printf '  %-6s %10s %10s %8s\n' "$t" "${R[tput_${t}_rps]}" "${R[tput_${t}_p50]}" "${R[tput_${t}_p99]}"
	done
	cat <<REPORT
  VM exits: ${R[tput_exits]} for ${R[tput_requests]} requests = ${R[tput_exits_per_req]} per request

latency (GET, -n $LAT_REQUESTS -c 1 -P 1: one request in flight):
  p50 ${R[lat_p50]} ms   p95 ${R[lat_p95]} ms   p99 ${R[lat_p99]} ms   max ${R[lat_max]} ms   (${R[lat_rps]} req/s)
  VM exits: ${R[lat_exits]} for $LAT_REQUESTS requests = ${R[lat_exits_per_req]} per request

results: $OUT_DIR/LATEST.json
REPORT
}

write_json() {
	local transcript
	mkdir -p "$OUT_DIR" || fail "cannot create $OUT_DIR"
	transcript=$(for line in "${TRANSCRIPT[@]}"; do
		jq -n --arg c "${line%%$'\t'*}" --arg a "${line#*$'\t'}" '{command: $c, answer: $a}'
	done | jq -s .)
	num() { [[ ${1:-} =~ ^-?[0-9]+(\.[0-9]+)?$ ]] && echo "$1" || echo null; }
	jq -n \
		--arg started "$STARTED_AT" \
		--arg finished "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		--arg commit "$(git_describe)" \
		--arg kernel "$(uname -r)" \
		--argjson nproc "$(nproc)" \
		--arg guest "$(basename "$GUEST_IMG")" \
		--arg guest_ip "$GUEST_IP" \
		--argjson boot_ms "$(num "${R[boot_ms]}")" \
		--argjson transcript "$transcript" \
		--argjson requests "$REQUESTS" --argjson clients "$CLIENTS" \
		--argjson lat_requests "$LAT_REQUESTS" \
		--argjson set_rps "$(num "${R[tput_SET_rps]}")" --argjson set_p50 "$(num "${R[tput_SET_p50]}")" --argjson set_p99 "$(num "${R[tput_SET_p99]}")" \
		--argjson get_rps "$(num "${R[tput_GET_rps]}")" --argjson get_p50 "$(num "${R[tput_GET_p50]}")" --argjson get_p99 "$(num "${R[tput_GET_p99]}")" \
		--argjson incr_rps "$(num "${R[tput_INCR_rps]}")" --argjson incr_p50 "$(num "${R[tput_INCR_p50]}")" --argjson incr_p99 "$(num "${R[tput_INCR_p99]}")" \
		--argjson tput_exits "$(num "${R[tput_exits]}")" --argjson tput_epr "$(num "${R[tput_exits_per_req]}")" \
		--argjson tput_wait "$(num "${R[tput_wait_calls]}")" \
		--argjson tput_rx "$(num "${R[tput_rx_frames]}")" --argjson tput_tx "$(num "${R[tput_tx_frames]}")" \
		--argjson lat_rps "$(num "${R[lat_rps]}")" --argjson lat_avg "$(num "${R[lat_avg]}")" \
		--argjson lat_p50 "$(num "${R[lat_p50]}")" --argjson lat_p95 "$(num "${R[lat_p95]}")" \
		--argjson lat_p99 "$(num "${R[lat_p99]}")" --argjson lat_max "$(num "${R[lat_max]}")" \
		--argjson lat_exits "$(num "${R[lat_exits]}")" --argjson lat_epr "$(num "${R[lat_exits_per_req]}")" \
		--argjson lat_wait "$(num "${R[lat_wait_calls]}")" \
		--argjson final_stats "${R[final_stats]}" \
		'{
		  demo: "kv micro-VM with real Redis clients",
		  started: $started, finished: $finished, commit: $commit,
		  host: {kernel: $kernel, nproc: $nproc},
		  guest: {image: $guest, ip: $guest_ip, boot_ms: $boot_ms},
		  redis_cli: $transcript,
		  throughput: {
		    params: {requests_per_test: $requests, clients: $clients, pipeline: 1},
		    SET: {rps: $set_rps, p50_ms: $set_p50, p99_ms: $set_p99},
		    GET: {rps: $get_rps, p50_ms: $get_p50, p99_ms: $get_p99},
		    INCR: {rps: $incr_rps, p50_ms: $incr_p50, p99_ms: $incr_p99},
		    exits: $tput_exits, exits_per_request: $tput_epr, wait_calls: $tput_wait,
		    rx_frames: $tput_rx, tx_frames: $tput_tx
		  },
		  latency: {
		    params: {test: "GET", requests: $lat_requests, clients: 1, pipeline: 1},
		    rps: $lat_rps, avg_ms: $lat_avg, p50_ms: $lat_p50, p95_ms: $lat_p95,
		    p99_ms: $lat_p99, max_ms: $lat_max,
		    exits: $lat_exits, exits_per_request: $lat_epr, wait_calls: $lat_wait
		  },
		  final_stats: $final_stats
		}' >"$OUT_DIR/LATEST.json.tmp" || fail "cannot write JSON"
	mv "$OUT_DIR/LATEST.json.tmp" "$OUT_DIR/LATEST.json"
}

main() {
	check_env
	setup_net
	boot_guest
	redis_cli_session
	throughput
	latency
	final_stats
	write_json
	report
	say "cleaning up (stopping rrvm, deleting $NS)"
}

main "$@"
