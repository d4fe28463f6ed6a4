# shellcheck shell=bash
# Helpers for experiments that drive an rrvm guest with real clients:
# booting a guest on a TAP in one of our namespaces, reading its stats, and
# parsing redis-benchmark / wrk output. Source after netns.sh.

RRVM_ROOT=${RRVM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
RRVM=${RRVM:-$RRVM_ROOT/build/rrvm}
RRVM_GUEST_DIR=${RRVM_GUEST_DIR:-$RRVM_ROOT/build/guest}

# Why the monitor cannot run here (empty output and status 0 if it can).
rrvm_unavailable() {
	local why
	if ! is_root; then
		echo "not root"
		return 1
	fi
	if ! why=$(kvm_usable); then
		echo "no usable /dev/kvm: $why"
		return 1
	fi
	if [ ! -x "$RRVM" ]; then
		echo "$RRVM is missing (run make)"
		return 1
	fi
	return 0
}

# rrvm_boot NS TAP IP/N MAC GW IMAGE CTL LOG [guest-option...]: start
# `rrvm run` in NS in the background (PID in RRVM_LAST_PID).
rrvm_boot() {
	local ns=$1 tap=$2 ipn=$3 mac=$4 gw=$5 img=$6 ctl=$7 logf=$8
	shift 8
	local cmd=("$RRVM" run --guest "$img" --tap "$tap" --ip "$ipn" --mac "$mac"
		--gw "$gw" --control "$ctl" --log-level "${RRVM_LOG_LEVEL:-info}")
	[ $# -gt 0 ] && cmd+=(-- "$@")
	ns_bg "$ns" "$logf" "${cmd[@]}"
}

# rrvm_wait_ready NS IP PORT PID TIMEOUT_S: ping, then TCP connect.
# 0 ready, 1 timeout, 2 monitor exited.
rrvm_wait_ready() {
	local ns=$1 ip=$2 port=$3 pid=$4 timeout=${5:-30} rc
	wait_for "$timeout" --pid "$pid" probe_ping "$ns" "$ip" || return $?
	wait_for "$timeout" --pid "$pid" probe_tcp "$ns" "$ip" "$port"
	rc=$?
	return $rc
}

# rrvm_stats CTL: stats JSON on stdout (compact).
rrvm_stats() {
	timeout 10 "$RRVM" ctl "$1" stats --json
}

# json_delta BEFORE AFTER PATH: AFTER.PATH - BEFORE.PATH (empty on error).
json_delta() {
	jq -n --argjson a "$1" --argjson b "$2" "(\$b$3) - (\$a$3)" 2>/dev/null
}

# ------------------------------------------------------ redis-benchmark
# redis-benchmark 7.0 --csv prints a header
#   "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",
#   "p95_latency_ms","p99_latency_ms","max_latency_ms"
# and one row per test, all quoted.
# rb_csv_rows FILE: prints "TEST RPS AVG MIN P50 P95 P99 MAX" per test, with
# columns picked by header name (robust to reordering).
rb_csv_rows() {
	tr -d '\r' <"$1" | awk -F, '
		function unq(s) { gsub(/^"|"$/, "", s); return s }
		/^"test"/ { for (i = 1; i <= NF; i++) col[unq($i)] = i; hdr = 1; next }
		hdr && NF >= 2 {
			n = split("rps avg_latency_ms min_latency_ms p50_latency_ms p95_latency_ms p99_latency_ms max_latency_ms", want, " ")
			line = unq($1)
			for (k = 1; k <= n; k++) {
				v = (want[k] in col) ? unq($(col[want[k]])) : "NA"
				line = line " " v
			}
			print line
		}'
}

# rb_csv_get FILE TEST FIELD: one value; FIELD is rps|avg|min|p50|p95|p99|max.
rb_csv_get() {
	local idx
	case "$3" in
	rps) idx=2 ;; avg) idx=3 ;; min) idx=4 ;; p50) idx=5 ;;
	p95) idx=6 ;; p99) idx=7 ;; max) idx=8 ;;
	*) return 1 ;;
	esac
	rb_csv_rows "$1" | awk -v t="$2" -v i="$idx" '$1 == t { print $i; exit }'
}

# rb_quiet_rows FILE: "TEST RPS P50" per final line of -q output.
rb_quiet_rows() {
	tr '\r' '\n' <"$1" | sed -n \
		's/^\([A-Z_]*\): \([0-9.]*\) requests per second\(, p50=\([0-9.]*\) msec\)\{0,1\}.*/\1 \2 \4/p'
}

# ------------------------------------------------------------------ wrk
# wrk_summary FILE: "requests=N rps=X socket_errors=N non2xx=N"
wrk_summary() {
	awk '
		/ requests in / { req = $1 }
		/^Requests\/sec:/ { rps = $2 }
		/Socket errors:/ {
			for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) { v = $i; sub(/,/, "", v); se += v }
		}
		/Non-2xx or 3xx responses:/ { bad = $NF }
		END { printf "requests=%d rps=%s socket_errors=%d non2xx=%d\n", req, (rps == "" ? "NA" : rps), se, bad }
	' "$1"
}

# ------------------------------------------------------------ statistics
# stats_summary: reads numbers (one a line), prints "median min max n".
stats_summary() {
	sort -g | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "NA NA NA 0"; exit }
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.10g %s %s %d\n", m, v[1], v[NR], NR
		}'
}

# ratio A B [DIGITS]: A/B, or NA.
ratio() {
	awk -v a="$1" -v b="$2" -v d="${3:-3}" 'BEGIN {
		if (a == "" || b == "" || a == "NA" || b == "NA" || b + 0 == 0) print "NA"
		else printf "%.*f\n", d, a / b }'
}

# git commit of the tree (with -dirty), or "none".
git_describe() {
	local c
	c=$(git -C "$RRVM_ROOT" rev-parse HEAD 2>/dev/null) || { echo none; return; }
	if [ -n "$(git -C "$RRVM_ROOT" status --porcelain 2>/dev/null | head -n1)" ]; then
		c="$c-dirty"
	fi
	echo "$c"
}

# ------------------------------------------------------------ checkpoints
# json_get JSON PATH: one value of a JSON document (jq path, e.g. .pages.median),
# raw; empty if it is missing, null or the JSON is invalid.
json_get() {
	jq -r "($2) | if . == null then empty else . end" <<<"$1" 2>/dev/null
}

# rrvm_checkpoint_probe CTL EPOCHS INTERVAL_MS: `rrvm ctl CTL checkpoint-probe
# EPOCHS INTERVAL_MS --json` (one JSON object on stdout) under a timeout sized
# to the run (each epoch gets its interval plus 0.5 s for collect and encode).
rrvm_checkpoint_probe() {
	local t=$(($2 * ($3 + 500) / 1000 + 30))
	timeout "$t" "$RRVM" ctl "$1" checkpoint-probe "$2" "$3" --json
}

# rrvm_save CTL FILE [--stop]: `rrvm ctl CTL save FILE [--stop] --json`
# (JSON on stdout), under a 120 s timeout.
rrvm_save() {
	local ctl=$1 file=$2
	shift 2
	timeout 120 "$RRVM" ctl "$ctl" save "$file" "$@" --json
}

# rrvm_restore_bg NS TAP FILE CTL LOG: start `rrvm restore` in NS in the
# background (PID in RRVM_LAST_PID, cleaned up like rrvm_boot's).
rrvm_restore_bg() {
	ns_bg "$1" "$5" "$RRVM" restore "$3" --tap "$2" --control "$4" \
		--log-level "${RRVM_LOG_LEVEL:-info}"
}
