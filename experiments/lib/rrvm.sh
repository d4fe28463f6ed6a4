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
# to the run (each epoch gets its interval plus 0.5 s for collect and encode,
# twice: with a two-phase collect the probe interleaves as many one-phase
# epochs).
rrvm_checkpoint_probe() {
	local t=$((2 * $2 * ($3 + 500) / 1000 + 30))
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

# ------------------------------------------------------------ replication
# Primary/backup pairs (`rrvm primary` + `rrvm backup`, docs/replication-
# protocol.md). The guest address comes from RRVM_GUEST_IPN / _MAC / _GW,
# by default the testbed's (docs/testbed.md).
RRVM_GUEST_IPN=${RRVM_GUEST_IPN:-10.77.0.2/24}
RRVM_GUEST_MAC=${RRVM_GUEST_MAC:-52:54:00:77:00:02}
RRVM_GUEST_GW=${RRVM_GUEST_GW:-10.77.0.1}
RRVM_CC=${RRVM_CC:-$RRVM_ROOT/build/consistency-client}
RRVM_PROXY=${RRVM_PROXY:-$RRVM_ROOT/experiments/lib/corrupt_proxy.py}

# rrvm_make_key DIR: a fresh pre-shared key in DIR for both daemons of a
#   pair (`rrvm keygen`); sets RRVM_KEY_FILE, which rrvm_primary_bg and
#   rrvm_backup_bg then pass as --key-file.
rrvm_make_key() {
	RRVM_KEY_FILE=$1/psk
	rm -f "$RRVM_KEY_FILE"
	"$RRVM" keygen "$RRVM_KEY_FILE" >/dev/null
}

# How the replication link is secured: RRVM_KEY_FILE (a key made by
# `rrvm keygen`, the same for both daemons) or, without one, --insecure.
rrvm_link_args() {
	if [ -n "${RRVM_KEY_FILE:-}" ]; then
		echo "--key-file $RRVM_KEY_FILE"
	else
		echo "--insecure"
	fi
}

# rrvm_primary_bg NS LOG CTL IMAGE BACKUP MODE EPOCH_MS [rrvm-option...]
#   [-- guest-option...]: `rrvm primary` on tap0 of NS in the background
#   (PID in RRVM_LAST_PID).
rrvm_primary_bg() {
	local ns=$1 logf=$2 ctl=$3 img=$4 backup=$5 mode=$6 epoch=$7
	shift 7
	ns_bg "$ns" "$logf" "$RRVM" primary --guest "$img" --tap tap0 \
		--ip "$RRVM_GUEST_IPN" --mac "$RRVM_GUEST_MAC" --gw "$RRVM_GUEST_GW" \
		--backup "$backup" --mode "$mode" --epoch "$epoch" --control "$ctl" \
		--log-level "${RRVM_LOG_LEVEL:-info}" $(rrvm_link_args) "$@"
}

# rrvm_backup_bg NS LOG CTL LISTEN REPORT [rrvm-option...]: `rrvm backup`
#   on tap0 of NS in the background (PID in RRVM_LAST_PID). Options e.g.
#   --fence-cmd CMD, --detect-timeout MS.
rrvm_backup_bg() {
	local ns=$1 logf=$2 ctl=$3 listen=$4 report=$5
	shift 5
	ns_bg "$ns" "$logf" "$RRVM" backup --listen "$listen" --tap tap0 \
		--report "$report" --control "$ctl" \
		--log-level "${RRVM_LOG_LEVEL:-info}" $(rrvm_link_args) "$@"
}

# rrvm_tb_fence_cmd ROLE: a fence command for `rrvm backup --fence-cmd` that
#   does what `experiments/testbed fence ROLE` does (the links ROLE can be
#   reached by down, alias "fenced" so `status` shows it and `unfence`
#   undoes it) with plain `ip` calls instead of a shell script (about 10 ms
#   instead of 200). The same line cuts ROLE in either state (before and
#   after a rewire). Needs experiments/lib/testbed.sh (TB_NS_SW).
rrvm_tb_fence_cmd() {
	# The testbed knows which links fence a host in each topology.
	if declare -f tb_fence_cmd >/dev/null; then
		tb_fence_cmd "$1"
	else
		echo "ip -n $TB_NS_SW link set dev port-$1 alias fenced down"
	fi
}

# rrvm_tb_rewire_cmd ROLE: a command for `--rewire-cmd` of a daemon running
#   on the testbed host ROLE (pri|bak): makes ROLE the primary, i.e. moves
#   the capture point in front of it (`experiments/testbed rewire
#   primary=ROLE` as one line of `ip`/`tc` calls, tb_rewire_cmd; `true` in
#   basic). Needs experiments/lib/testbed.sh and the running topology.
rrvm_tb_rewire_cmd() {
	if declare -f tb_rewire_cmd >/dev/null; then
		tb_rewire_cmd "$1"
	else
		echo true
	fi
}

# rrvm_backup_status CTL: the backup's `status --json` (one line). Before a
#   failover: state waiting|replicating, committed_epoch, epochs_committed,
#   epochs_rejected, max_silence_ms...; after it, the VM's status.
rrvm_backup_status() {
	timeout 10 "$RRVM" ctl "$1" status --json
}

# rrvm_repl_stats CTL: the primary's `stats --json` .replication object.
rrvm_repl_stats() {
	local s
	s=$(rrvm_stats "$1") || return 1
	jq -c '.replication // empty' <<<"$s"
}

# rrvm_wait_protected CTL PID TIMEOUT_S [MIN_FULL_EPOCHS]: wait until the
#   primary says protected, has sent at least MIN_FULL_EPOCHS (default 1)
#   full checkpoints, and the backup acknowledged an epoch at least as new
#   as the last one sent when protection began (so it holds the full
#   checkpoint). 0 ok, 1 timeout, 2 PID exited. Last stats in RRVM_REPL.
RRVM_REPL=
rrvm_wait_protected() {
	local ctl=$1 pid=$2 deadline=$(( $(now_ms) + $3 * 1000 )) min=${4:-1} e=
	RRVM_REPL=
	while :; do
		pid_alive "$pid" || return 2
		RRVM_REPL=$(rrvm_repl_stats "$ctl" 2>/dev/null)
		if [ -n "$RRVM_REPL" ]; then
			if [ -z "$e" ]; then
				e=$(jq -r --argjson m "$min" \
					'select(.protected and .full_epochs >= $m) | .epochs' <<<"$RRVM_REPL")
			fi
			if [ -n "$e" ] && jq -e --argjson e "$e" '.protected and .acked_epoch >= $e' \
				<<<"$RRVM_REPL" >/dev/null; then
				return 0
			fi
		fi
		[ "$(now_ms)" -ge "$deadline" ] && return 1
		sleep 0.05
	done
}

# rrvm_wait_file FILE PID TIMEOUT_MS: wait until FILE exists and is not
#   empty. 0 ok, 1 timeout, 2 PID exited without writing it.
rrvm_wait_file() {
	local f=$1 pid=$2 deadline=$(( $(now_ms) + $3 ))
	while [ ! -s "$f" ]; do
		if ! pid_alive "$pid"; then
			[ -s "$f" ] && return 0
			return 2
		fi
		[ "$(now_ms)" -ge "$deadline" ] && return 1
		sleep 0.02
	done
	return 0
}

# rrvm_kill9 PID: kill -9 one of our background processes and reap it
#   quietly (no "Killed" job message). Returns 1 if it was already gone.
rrvm_kill9() {
	local pid=$1 was=0
	pid_alive "$pid" || was=1
	kill -KILL "$pid" 2>/dev/null
	{ wait "$pid"; } 2>/dev/null
	_pid_forget "$pid"
	return $was
}

# rrvm_cc_bg NS LOG OUT_JSON DURATION_S [option...]: the consistency client
#   (incr,keys against the guest's kv) in the background; DURATION 0 = until
#   SIGTERM (then it drains and reports). PID in RRVM_LAST_PID.
rrvm_cc_bg() {
	local ns=$1 logf=$2 out=$3 dur=$4 ip=${RRVM_GUEST_IPN%/*}
	shift 4
	ns_bg "$ns" "$logf" "$RRVM_CC" --host "$ip" --mode incr,keys \
		--duration "$dur" --out "$out" "$@"
}

# rrvm_load_bg NS LOG [redis-benchmark option...]: a redis-benchmark SET
#   load on the guest that runs until stopped (-n huge, under a 1 h
#   timeout; default -t set -r 100000 -c 10 -q). PID in RRVM_LAST_PID.
rrvm_load_bg() {
	local ns=$1 logf=$2 ip=${RRVM_GUEST_IPN%/*}
	shift 2
	[ $# -gt 0 ] || set -- -t set -r 100000 -c 10
	ns_bg "$ns" "$logf" timeout 3600 redis-benchmark -h "$ip" -p 6379 \
		-n 2000000000 -q "$@"
}

# rb_errors LOG: lines of a redis-benchmark log that report an error.
rb_errors() {
	tr '\r' '\n' <"$1" | grep -i -E 'error|reset|refused|closed' | head -n 3
}

# rrvm_python: the python3 interpreter itself (not a version-manager shim:
#   a shim costs tens of ms per start and may not resolve in `ip netns exec`).
rrvm_python() {
	python3 -c 'import sys; print(sys.executable)'
}

# mono_ms_py PY: CLOCK_MONOTONIC in ms (the clock of rrvm's logs and the
#   consistency client's CSV), via python (~20 ms).
mono_ms_py() {
	"$1" -c 'import time; print(time.monotonic_ns() // 1000000)'
}

# cc_max_gap CSV FROM_MS TO_MS: the longest wait between consecutive replies
#   (per mode) in a consistency-client CSV (t_ns,mode,value,latency_ns)
#   over replies in [FROM_MS, TO_MS] of CLOCK_MONOTONIC, in ms ("NA" if
#   fewer than two). Also counts: prints "GAP_MS REPLIES".
cc_max_gap() {
	awk -F, -v a="$2" -v b="$3" '
		NR == 1 && $1 !~ /^[0-9]+$/ { next }
		{ t = $1 / 1e6; m = $2 }
		t < a - 0 || t > b { if (t < a) last[m] = t; next }
		{
			n++
			if (m in last) { g = t - last[m]; if (g > max) max = g }
			last[m] = t
		}
		END { if (n < 2) print "NA", n + 0; else printf "%.1f %d\n", max, n }' "$1"
}

# cpu_ticks: "STEAL TOTAL" jiffies of all CPUs (/proc/stat). Steal is time
#   the hypervisor below us ran something else: on a shared VM it is what
#   makes pauses and tails jump by tens of ms.
cpu_ticks() {
	awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i; print $9, t; exit }' /proc/stat
}
# cpu_steal_pct A B [NONE]: steal % between two cpu_ticks readings (NONE,
#   default null, when no time passed).
cpu_steal_pct() {
	awk -v a="$1" -v b="$2" -v none="${3:-null}" 'BEGIN { split(a, x, " "); split(b, y, " ")
		if (y[2] - x[2] > 0) printf "%.1f", (y[1] - x[1]) * 100 / (y[2] - x[2]); else print none }'
}

# json_num VALUE: VALUE if it is a number, else null (for jq --argjson).
json_num() { [[ ${1:-} =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]] && echo "$1" || echo null; }

# cc_phase_stats CSV FROM_MS TO_MS: replies of a consistency-client CSV with
#   FROM < t <= TO (CLOCK_MONOTONIC ms): "REPLIES PER_S P50_US P99_US" (NA
#   when there are none). Both connections (incr and set) together.
cc_phase_stats() {
	awk -F, -v a="$2" -v b="$3" '$1 ~ /^[0-9]+$/ { t = $1 / 1e6; if (t > a && t <= b) printf "%.3f %.1f\n", t, $4 / 1000 }' "$1" |
		sort -k2,2g | awk '
		{ n++; v[n] = $2; if (mn == "" || $1 < mn) mn = $1; if ($1 > mx) mx = $1 }
		END {
			if (!n) { print "0 NA NA NA"; exit }
			i99 = int(n * 0.99 + 0.5); if (i99 < 1) i99 = 1
			printf "%d %.0f %.1f %.1f\n", n, (mx > mn) ? n * 1000 / (mx - mn) : 0, v[int((n + 1) / 2)], v[i99]
		}'
}

# rrvm_reverse_args TOPOLOGY: the `rrvm backup` options of reverse mode on
#   the testbed's TOPOLOGY (inline|mirror), in the array RRVM_REV_ARGS:
#   capture (--capture ${RRVM_CAPTURE:-auto}: ringbuf where it works) on
#   TB_BAK_CAPTURE_IF, forward on TB_BAK_FORWARD_IF
#   (inline), the guest's MAC and IP. Needs experiments/lib/testbed.sh and
#   tb_load_topology (or tb_set_topology) first.
RRVM_REV_ARGS=()
rrvm_reverse_args() {
	RRVM_REV_ARGS=(--topology "$1" --capture-if "$TB_BAK_CAPTURE_IF" --capture "${RRVM_CAPTURE:-auto}"
		--guest-mac "$TB_GUEST_MAC" --guest-ip "$TB_GUEST_IP")
	if [ "$1" = inline ] && [ -n "$TB_BAK_FORWARD_IF" ]; then
		RRVM_REV_ARGS+=(--forward-if "$TB_BAK_FORWARD_IF")
	fi
}
