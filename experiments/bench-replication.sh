#!/usr/bin/env bash
# rrvm replication benchmark (issue 4, "Measure"): what buffered (Remus)
# replication costs the kv guest's clients, what the checkpoints cost, how
# long a failover keeps a client waiting, and how low the failure detector's
# timeout can go on this host. Reports; asserts no timing. All in one run,
# side by side, on a private four-host testbed (docs/testbed.md).
#
#   client ── switch ── primary host: rrvm primary (kv guest)
#                    └─ backup host:  rrvm backup  ── replication link ──┘
#
# Parts (BENCH_REPL_PARTS, default the first three, in this order):
#  perf      for `none` (rrvm primary --mode none: same monitor, no
#            replication; run first and again last, to show the host's
#            drift) and `buffered` at each epoch of BENCH_REPL_EPOCHS
#            (10 25 50 100 ms), a fresh pair each:
#             - latency: redis-benchmark -t get,set -c 1 -P 1 --csv (one
#               request in flight): p50, p99, requests/s; every mode, none
#               included, under the same idle policy (BENCH_REPL_IDLE:
#               busy = a SCHED_IDLE busy loop per CPU, so no mode gains or
#               loses by how long idle CPUs take to wake; experiments/lib/
#               idle.sh);
#             - throughput: redis-benchmark -t get,set -c 50 --csv: req/s
#               (and p50/p99 under load);
#             - over both, from the primary's stats: checkpoints per second
#               achieved (epochs / wall time), mean achieved interval, late
#               epochs, pause per epoch (mean of the window; max since
#               boot), dirty pages and bytes sent per epoch, output hold.
#            Buffered requests wait for their epoch's acknowledgement (one
#            request per epoch per connection), so request counts are sized
#            to a time budget: n = BUDGET_S x clients x 1000 / epoch for
#            buffered, fixed counts for none.
#  failover  BENCH_REPL_KILLS (20; --quick 3) failovers, each a fresh
#            buffered pair (epoch BENCH_REPL_FO_EPOCH, 20 ms; default 500 ms
#            detect timeout; fence = pri's switch port down) with the
#            consistency client and redis-benchmark -t set -r 100000 -c 10
#            running, kill -9 of the primary at a random moment 1-3 s in:
#            the client's longest stall (the outage it saw), violations and
#            reconnects, and the backup report's phases. Median and max.
#  detect    how low the detect timeout can go before load causes a false
#            failover: for each of BENCH_REPL_DETECT (500 200 100 50 30 ms)
#            a buffered pair (epoch 20 ms) under redis-benchmark -t set
#            -r 100000 -c 50 for BENCH_REPL_DETECT_S (20; --quick 5) s,
#            without a kill. Recorded: whether (and when) the backup failed
#            over anyway, and its longest silence from the primary
#            (max_silence_ms: any timeout below it would have fired).
#  memory    (not a default part: BENCH_REPL_PARTS=memory) the primary's
#            memory and the bytes per epoch against `--delta-cache` (issue
#            13): for each size of BENCH_REPL_CACHES ("0 64M 1G"; "default"
#            passes no option, e.g. for a build without it) and each load of
#            BENCH_REPL_MEM_LOADS, a fresh buffered pair (epoch 20 ms) with a
#            BENCH_REPL_MEM_VM (1G) kv guest:
#             kv      fill: redis-benchmark -t set -n 160000 -r 100000
#                     -d 4000 -c 50 -P 16 (about 80k keys, 320 MB of
#                     values), then the window under redis-benchmark -t set
#                     -r 100000 -d 512 -c 20 (values of repeated 'x': the
#                     page content around them is the kv heap);
#             dirtier the guest's dirtier over BENCH_REPL_DIRTY_MB (330) MiB
#                     at BENCH_REPL_DIRTY_RATE (20000) pages/s, no client;
#                     the window starts after one pass over the region.
#            Recorded over a window of BENCH_REPL_MEM_WINDOW_S (10; --quick
#            5) s: bytes, raw bytes and pages per epoch, delta-cache hits,
#            misses and evictions; then VmRSS and VmHWM of the primary and
#            the backup (/proc/PID/status).
#
# Reverse replication (issue 5): the perf part also runs `reverse-inline`
# (rrvm primary --mode reverse, inline topology: the backup logs and
# forwards every client->guest frame) and `reverse-mirror` (mirror topology:
# the switch copies them to the backup) at the same epochs as buffered,
# with the fixed request counts of none (replies are not held), and prints
# each one's p50 against none's (targets: <= 1.05x mirror, <= 1.15x
# inline; reported, not asserted). The failover part also kills
# BENCH_REPL_REV_KILLS (20; --quick 2) reverse pairs per topology and
# records the outage and the replay (frames, bytes, time, suppressed,
# gaps). The testbed is rebuilt with the topology each config needs
# (basic for none and buffered).
#
# Part capture (issue 13; not in the default set: BENCH_REPL_PARTS=capture):
#            c50 GET throughput of reverse replication against unprotected,
#            per capture backend, in one run: for each of BENCH_REPL_CAP_REPS
#            (3; --quick 1) rounds, `none` (basic topology, first and last
#            of the round), then inline and mirror at each epoch of
#            BENCH_REPL_CAP_EPOCHS (20 10 ms) with each backend of
#            BENCH_REPL_CAP_BACKENDS (ringbuf xdp), a fresh pair each:
#            redis-benchmark -t get -c 50 -n BENCH_REPL_CAP_N (200000;
#            --quick 50000) -r 100000; the backup's CPU (all threads, from
#            /proc/PID/stat) and its capture thread's ("capture", from
#            /proc/PID/task/TID/stat) as % of one CPU over the benchmark,
#            and the backup's capture counters (gaps, drops).
#            capture.csv, and medians/spread in the table.
#
# Output: results/bench-replication/TIMESTAMP/
#   perf.csv, failover.csv (one row per kill), failover-summary.csv,
#   failover-reverse-{inline,mirror}.csv and -summary.csv,
#   detect.csv, meta.json, raw/ (stats, reports, client JSON, redis-benchmark
#   CSV), logs/ (rrvm, clients). A readable table on stdout, progress on
#   stderr.
#
# Environment (defaults; --quick changes the ones marked *):
#   BENCH_REPL_PARTS="perf failover detect"
#   BENCH_REPL_EPOCHS="10 25 50 100"
#   BENCH_REPL_BUDGET_S=4 *(1.5)     seconds per buffered redis-benchmark test
#   BENCH_REPL_LAT_N=10000 *(3000)   -c 1 requests per test, mode none
#   BENCH_REPL_TPUT_N=100000 *(30000) -c 50 requests per test, mode none
#   BENCH_REPL_KILLS=20 *(3)
#   BENCH_REPL_REV_KILLS=20 *(2)      per reverse topology
#   BENCH_REPL_REV_MODES="reverse-inline reverse-mirror"
#   BENCH_REPL_FO_EPOCH=20
#   BENCH_REPL_IDLE=busy              idle CPUs during the -c 1 latency runs:
#                                     busy, nice19 or none (idle.sh)
#   BENCH_REPL_DETECT="500 200 100 50 30"
#   BENCH_REPL_DETECT_S=20 *(5)
#   BENCH_REPL_CACHES="0 64M 1G"      --delta-cache sizes (memory part)
#   BENCH_REPL_MEM_LOADS="kv dirtier"
#   BENCH_REPL_MEM_VM=1G
#   BENCH_REPL_MEM_WINDOW_S=10 *(5)
#   BENCH_REPL_DIRTY_MB=330 BENCH_REPL_DIRTY_RATE=20000
#   BENCH_REPL_OUT=DIR
# Options: --quick (about two minutes), --help.
# Needs root (network namespaces), /dev/kvm, build/rrvm,
# build/consistency-client, jq, python3, redis-benchmark, redis-cli.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=SCRIPTDIR/lib/netns.sh
. "$ROOT/experiments/lib/netns.sh"
# shellcheck source=SCRIPTDIR/lib/rrvm.sh
. "$ROOT/experiments/lib/rrvm.sh"
# shellcheck source=SCRIPTDIR/lib/testbed.sh
. "$ROOT/experiments/lib/testbed.sh"
# shellcheck source=SCRIPTDIR/lib/idle.sh
. "$ROOT/experiments/lib/idle.sh"
# shellcheck source=SCRIPTDIR/lib/scenario.sh
. "$ROOT/experiments/lib/scenario.sh"

# shellcheck source=SCRIPTDIR/lib/bench.sh
BENCH_NAME=bench-replication
. "$ROOT/experiments/lib/bench.sh"
bench_args "$@"

PARTS=${BENCH_REPL_PARTS:-perf failover detect}
EPOCHS=${BENCH_REPL_EPOCHS:-10 25 50 100}
BUDGET_S=${BENCH_REPL_BUDGET_S:-$(q 4 1.5)}
LAT_N=${BENCH_REPL_LAT_N:-$(q 10000 3000)}
TPUT_N=${BENCH_REPL_TPUT_N:-$(q 100000 30000)}
TPUT_C=50
KILLS=${BENCH_REPL_KILLS:-$(q 20 3)}
REV_KILLS=${BENCH_REPL_REV_KILLS:-$(q 20 2)}
REV_MODES=${BENCH_REPL_REV_MODES-reverse-inline reverse-mirror}
FO_EPOCH=${BENCH_REPL_FO_EPOCH:-20}
IDLE=${BENCH_REPL_IDLE:-busy}
DETECTS=${BENCH_REPL_DETECT:-500 200 100 50 30}
DETECT_S=${BENCH_REPL_DETECT_S:-$(q 20 5)}
CACHES=${BENCH_REPL_CACHES:-0 64M 1G}
MEM_LOADS=${BENCH_REPL_MEM_LOADS:-kv dirtier}
MEM_VM=${BENCH_REPL_MEM_VM:-1G}
MEM_WINDOW_S=${BENCH_REPL_MEM_WINDOW_S:-$(q 10 5)}
DIRTY_MB=${BENCH_REPL_DIRTY_MB:-330}
DIRTY_RATE=${BENCH_REPL_DIRTY_RATE:-20000}
CAP_REPS=${BENCH_REPL_CAP_REPS:-$(q 3 1)}
CAP_EPOCHS=${BENCH_REPL_CAP_EPOCHS:-20 10}
CAP_BACKENDS=${BENCH_REPL_CAP_BACKENDS:-ringbuf xdp}
CAP_N=${BENCH_REPL_CAP_N:-$(q 200000 50000)}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${BENCH_REPL_OUT:-$ROOT/results/bench-replication/$STAMP}
GUEST_IMG=$RRVM_GUEST_DIR/kv.elf
TB_CLI=$ROOT/experiments/testbed
PREFIX=''

TMP=''
P_PID='' P_CTL='' P_LOG=''
B_PID='' B_CTL='' B_LOG='' B_REPORT=''

# ---------------------------------------------------------------- setup
check_env() {
	local t v
	is_root || fail "needs root (network namespaces)"
	why=$(rrvm_unavailable) || fail "cannot run rrvm here: $why"
	[ -f "$GUEST_IMG" ] || fail "$GUEST_IMG is missing (run make)"
	[ -x "$RRVM_CC" ] || fail "$RRVM_CC is missing (run make)"
	for t in ip ping jq python3 redis-benchmark redis-cli timeout awk; do
		command -v "$t" >/dev/null || fail "'$t' is not installed (make deps)"
	done
	for v in $REV_MODES; do
		case "$v" in reverse-inline | reverse-mirror) ;; *) fail "unknown reverse mode '$v'" ;; esac
	done
	[[ $REV_KILLS =~ ^[0-9]+$ ]] || fail "REV_KILLS must be a number (got '$REV_KILLS')"
	if [ -n "$REV_MODES" ]; then
		for v in capture_xdp capture_ringbuf xdp_pass; do
			[ -f "$ROOT/build/bpf/$v.bpf.o" ] || fail "build/bpf/$v.bpf.o is missing (run make)"
		done
	fi
	for v in $CAP_BACKENDS; do
		case "$v" in ringbuf | xdp | pcap | auto) ;; *) fail "unknown capture backend '$v'" ;; esac
	done
	for v in LAT_N TPUT_N KILLS FO_EPOCH DETECT_S CAP_REPS CAP_N; do
		[[ ${!v} =~ ^[1-9][0-9]*$ ]] || fail "$v must be a positive integer (got '${!v}')"
	done
	[[ $BUDGET_S =~ ^[0-9]+(\.[0-9]+)?$ ]] || fail "BENCH_REPL_BUDGET_S must be a number"
	for v in $EPOCHS $DETECTS $CAP_EPOCHS; do
		[[ $v =~ ^[1-9][0-9]*$ ]] || fail "bad epoch / detect timeout '$v'"
	done
	for v in $PARTS; do
		case "$v" in perf | failover | detect | memory | capture) ;; *) fail "unknown part '$v'" ;; esac
	done
	for v in $MEM_LOADS; do
		case "$v" in kv | dirtier) ;; *) fail "unknown memory load '$v'" ;; esac
	done
	for v in MEM_WINDOW_S DIRTY_MB DIRTY_RATE; do
		[[ ${!v} =~ ^[1-9][0-9]*$ ]] || fail "$v must be a positive integer (got '${!v}')"
	done
	v=$(idle_policy_check "$IDLE") || fail "BENCH_REPL_IDLE: $v"
}

testbed_up() {
	local r out
	rrvm_trap_cleanup
	tmpdir_create TMP
	mkdir -p "$OUT/logs" "$OUT/raw" || fail "cannot create $OUT"
	# The pair and topology helpers are experiments/lib/scenario.sh's.
	SC_NAME=bench-replication SC_TMP=$TMP SC_OUT=$OUT
	sc_testbed_up
	PREFIX=$SC_PREFIX
	say "results in $OUT"
}

# A pair helper's problem is a note of this benchmark.
sc_note() { note "$@"; }
use_topology() { sc_use_topology "$@"; }
topology_of() { sc_topology_of "$@"; }
# pair_up NAME MODE EPOCH [backup option...]: sc_pair_up (kv guest, 64 MiB;
# reverse-inline / reverse-mirror on their topology, switched to if need be).
pair_up() { sc_pair_up "$@"; }
pair_down() { sc_pair_down "$@"; }

# ------------------------------------------------------------- part: perf
# rb NAME ARGS...: redis-benchmark --csv against the guest; CSV in raw/.
rb() {
	local name=$1
	shift
	if ! ns_exec "$TB_NS_C" timeout 300 redis-benchmark -h "$TB_GUEST_IP" -p 6379 "$@" --csv \
		>"$OUT/raw/$name.csv" 2>"$OUT/logs/$name.err"; then
		note "$name: redis-benchmark $* failed: $(tail -c 200 "$OUT/logs/$name.err")"
		return 1
	fi
}

# window A B WALL_MS: replication figures from two stats snapshots.
window() {
	jq -cn --argjson a "$1" --argjson b "$2" --argjson ms "$3" '
		($b.epochs - $a.epochs) as $n
		| def r(x; d): x * pow(10; d) | round / pow(10; d);
		{epochs: $n,
		 per_s: r($n * 1000 / $ms; 1),
		 interval_ms: (if $n > 0 then r((($b.achieved_interval_ms * ($b.epochs - 1)) - ($a.achieved_interval_ms * ([$a.epochs - 1, 0] | max))) / $n; 2) else null end),
		 late: ($b.late_epochs - $a.late_epochs),
		 pause_us: (if $n > 0 then r(($b.pause_us_avg * $b.epochs - $a.pause_us_avg * $a.epochs) / $n; 1) else null end),
		 pause_us_max: $b.pause_us_max,
		 pages: (if $n > 0 then r(($b.pages - $a.pages) / $n; 1) else null end),
		 bytes: (if $n > 0 then (($b.bytes_sent - $a.bytes_sent) / $n | round) else null end),
		 raw_bytes: (if $n > 0 then (($b.raw_bytes - $a.raw_bytes) / $n | round) else null end),
		 hold_ms_avg: $b.output.hold_ms_avg, dropped: $b.output.dropped,
		 disconnects: $b.disconnects}'
}

part_perf() {
	local csv=$OUT/perf.csv cfg mode ep name nlat ntput s0 s1 w0 w1 w t f row
	local topo
	echo "mode,epoch_ms,lat_requests,get_p50_ms,get_p99_ms,get_rps_c1,set_p50_ms,set_p99_ms,set_rps_c1,tput_requests,get_rps_c50,get_p50_ms_c50,get_p99_ms_c50,set_rps_c50,set_p50_ms_c50,set_p99_ms_c50,epochs,checkpoints_per_s,interval_ms,late_epochs,pause_us_mean,pause_us_max,pages_per_epoch,bytes_per_epoch,raw_bytes_per_epoch,hold_ms_avg,output_dropped,disconnects,wall_s" >"$csv"
	say "part perf: none, buffered${REV_MODES:+ and $REV_MODES} at epochs $EPOCHS ms"
	# none runs first and again last: the host's drift shows in the two.
	for cfg in none:1 $(for m in buffered $REV_MODES; do for ep in $EPOCHS; do echo "$m:$ep"; done; done) none:2; do
		mode=${cfg%%:*}
		ep=20
		[ "$mode" != none ] && ep=${cfg#*:}
		name=perf-$mode-${cfg#*:}
		topo=$(topology_of "$mode")
		use_topology "$topo" || continue
		if [ "$mode" != buffered ]; then
			nlat=$LAT_N ntput=$TPUT_N
		else
			nlat=$(awk -v b="$BUDGET_S" -v e="$ep" 'BEGIN { n = int(b * 1000 / e); print (n < 50 ? 50 : n) }')
			ntput=$(awk -v b="$BUDGET_S" -v e="$ep" -v c="$TPUT_C" 'BEGIN { n = int(b * c * 1000 / e); print (n < 500 ? 500 : n) }')
		fi
		say "  $name: latency (-c 1, $nlat requests per test), throughput (-c $TPUT_C, $ntput per test)"
		pair_up "$name" "$mode" "$ep" || { pair_down; continue; }
		s0=$(rrvm_repl_stats "$P_CTL") || s0=null
		w0=$(now_ms)
		idle_loops_start "$IDLE" || note "$name: could not start the idle policy's busy loops"
		rb "$name-lat" -t get,set -n "$nlat" -c 1 -P 1 -r 100000
		idle_loops_stop
		rb "$name-tput" -t get,set -n "$ntput" -c "$TPUT_C" -r 100000
		w1=$(now_ms)
		s1=$(rrvm_repl_stats "$P_CTL") || s1=null
		printf '{"before":%s,"after":%s}\n' "$s0" "$s1" >"$OUT/raw/$name.stats.json"
		if [ "$mode" != none ] && [ "$s0" != null ] && [ "$s1" != null ]; then
			w=$(window "$s0" "$s1" $((w1 - w0)))
		else
			w='{}'
		fi
		row="$mode,$ep,$nlat"
		[ "$mode" = none ] && row="$mode,,$nlat"
		for t in GET SET; do
			for f in p50 p99 rps; do
				row+=",$(rb_csv_get "$OUT/raw/$name-lat.csv" "$t" "$f" 2>/dev/null)"
			done
		done
		row+=",$ntput"
		for t in GET SET; do
			for f in rps p50 p99; do
				row+=",$(rb_csv_get "$OUT/raw/$name-tput.csv" "$t" "$f" 2>/dev/null)"
			done
		done
		row+=",$(jq -r '[.epochs, .per_s, .interval_ms, .late, .pause_us, .pause_us_max, .pages, .bytes, .raw_bytes, .hold_ms_avg, .dropped, .disconnects] | map(if . == null then "" else tostring end) | join(",")' <<<"$w")"
		row+=",$(awk -v ms=$((w1 - w0)) 'BEGIN { printf "%.1f", ms / 1000 }')"
		echo "$row" >>"$csv"
		say "  $name: GET p50 $(rb_csv_get "$OUT/raw/$name-lat.csv" GET p50) ms p99 $(rb_csv_get "$OUT/raw/$name-lat.csv" GET p99) ms; -c $TPUT_C SET $(rb_csv_get "$OUT/raw/$name-tput.csv" SET rps) req/s; $(jq -r 'if .epochs then "\(.per_s) checkpoints/s, pause \(.pause_us) us, \(.bytes) B/epoch" else "" end' <<<"$w")"
		[ "$mode" != none ] && [ "$(jq -r '.disconnects // 0' <<<"$w")" != 0 ] && note "$name: the primary lost its backup during the run"
		pair_down
	done
}

# ---------------------------------------------------------- part: failover
part_failover() {
	local m
	use_topology basic && failover_runs buffered "$KILLS" "$OUT/failover.csv" "$OUT/failover-summary.csv"
	[ "$REV_KILLS" -gt 0 ] || return 0
	for m in $REV_MODES; do
		use_topology "$(topology_of "$m")" || continue
		failover_runs "$m" "$REV_KILLS" "$OUT/failover-$m.csv" "$OUT/failover-$m-summary.csv"
	done
	use_topology basic
}

# failover_runs MODE KILLS CSV SUMMARY_CSV
failover_runs() {
	local mode=$1 kills=$2 csv=$3 k name delay cc_pid rb_pid cc_out rc st sil fo ccj wall t0 gaps
	echo "kill,delay_ms,committed_epoch,detect_ms,fence_ms,restore_ms,announce_ms,first_frame_ms,total_ms,kill_to_report_ms,longest_stall_ms,violations,reconnects,lost_increments,keys_lost,replies,client_exit,backup_max_silence_ms,fence_status,announce_status,first_frame_seen,replay_logged_frames,replay_frames,replay_bytes,replay_ms,replay_suppressed,replay_finished,capture_gaps" >"$csv"
	say "part failover: $kills kills of the primary ($mode, epoch $FO_EPOCH ms, under load)"
	for ((k = 1; k <= kills; k++)); do
		name=failover-$([ "$mode" = buffered ] || echo "$mode-")$k
		pair_up "$name" "$mode" "$FO_EPOCH" || { pair_down; continue; }
		cc_out=$OUT/raw/$name.client.json
		rrvm_cc_bg "$TB_NS_C" "$OUT/logs/$name.client.log" "$cc_out" 0
		cc_pid=$RRVM_LAST_PID
		rrvm_load_bg "$TB_NS_C" "$OUT/logs/$name.redis-benchmark.log" -t set -r 100000 -c 10
		rb_pid=$RRVM_LAST_PID
		delay=$((1000 + RANDOM % 2001))
		sleep "$(awk -v d=$delay 'BEGIN { printf "%.3f", d / 1000 }')"
		st=$(rrvm_backup_status "$B_CTL" 2>/dev/null)
		sil=$(json_get "$st" .max_silence_ms)
		gaps=$(json_get "$st" .reverse.gaps)
		[ "$(json_get "$st" .state)" = replicating ] || note "$name: the backup was not replicating before the kill (false failover?): $st"
		t0=$(now_ms)
		rrvm_kill9 "$P_PID"
		rrvm_wait_file "$B_REPORT" "$B_PID" 15000
		rc=$?
		wall=$(( $(now_ms) - t0 ))
		[ $rc = 0 ] || note "$name: no failover report ($([ $rc = 2 ] && echo "backup exited" || echo "15 s timeout"))"
		sleep 1
		kill -TERM "$cc_pid" 2>/dev/null
		if pid_wait "$cc_pid" 30; then rc=$RRVM_WAIT_RC; else pid_stop "$cc_pid" 1; rc=timeout; fi
		fo=$(jq -c . "$B_REPORT" 2>/dev/null) || fo=
		[ -n "$fo" ] || fo='{}'
		ccj=$(jq -c . "$cc_out" 2>/dev/null) || ccj=
		[ -n "$ccj" ] || ccj='{}'
		[ "$rc" = 0 ] || note "$name: consistency client exit status $rc: $(jq -c '.violations // empty' <<<"$ccj")"
		jq -rn --argjson f "$fo" --argjson c "$ccj" --arg k "$k" --arg d "$delay" --arg w "$wall" \
			--arg rc "$rc" --arg sil "$sil" --arg gaps "$gaps" '
			[$k, $d, $f.committed_epoch, $f.phases_ms.detect, $f.phases_ms.fence, $f.phases_ms.restore,
			 $f.phases_ms.announce, $f.phases_ms.first_frame_out, $f.total_ms, $w,
			 $c.longest_stall_ms, ([$c.violations[]?] | add), $c.reconnects, $c.lost_increments,
			 $c.keys_lost, $c.replies, $rc, $sil, $f.fence_status, $f.announce_status, $f.first_frame_seen,
			 $f.replay.logged_frames, $f.replay.frames, $f.replay.bytes, $f.replay.replay_ms, $f.replay.suppressed,
			 $f.replay.finished, $gaps]
			| map(if . == null then "" else tostring end) | join(",")' >>"$csv"
		say "  $mode kill $k/$kills at ${delay} ms: stall $(json_get "$ccj" .longest_stall_ms) ms, report total $(json_get "$fo" .total_ms) ms, violations $(jq -r '[.violations[]?] | add' <<<"$ccj"), reconnects $(json_get "$ccj" .reconnects)$(jq -r 'if .replay then ", replayed \(.replay.frames) frames in \(.replay.replay_ms) ms, \(.replay.suppressed) suppressed" else "" end' <<<"$fo")"
		pair_down "$rb_pid"
	done
	summarize_failover "$csv" "$4"
}

# col FILE COLUMN: non-empty values of COLUMN (by header name).
col() {
	awk -F, -v name="$2" '
		NR == 1 { for (i = 1; i <= NF; i++) idx[$i] = i; next }
		$(idx[name]) != "" { print $(idx[name]) }' "$1"
}

summarize_failover() {
	local f=$1 s=$2 m ms
	ms="longest_stall_ms detect_ms fence_ms restore_ms announce_ms first_frame_ms total_ms kill_to_report_ms backup_max_silence_ms violations reconnects"
	[ "$f" = "$OUT/failover.csv" ] || ms+=" replay_logged_frames replay_frames replay_bytes replay_ms replay_suppressed capture_gaps"
	echo "metric,n,median,min,max" >"$s"
	for m in $ms; do
		read -r med mn mx n <<<"$(col "$f" "$m" | stats_summary)"
		echo "$m,$n,$med,$mn,$mx" >>"$s"
	done
}

# ------------------------------------------------------------ part: detect
part_detect() {
	local csv=$OUT/detect.csv d name rb_pid t0 st sil last fo_at state errs
	echo "detect_timeout_ms,duration_s,false_failover,failover_after_s,max_silence_ms,epochs,late_epochs,load_errors" >"$csv"
	say "part detect: false failovers under load (redis-benchmark -c 50) for $DETECT_S s at each detect timeout: $DETECTS ms"
	for d in $DETECTS; do
		name=detect-$d
		pair_up "$name" buffered 20 --detect-timeout "$d" || { pair_down; continue; }
		rrvm_load_bg "$TB_NS_C" "$OUT/logs/$name.redis-benchmark.log" -t set -r 100000 -c 50
		rb_pid=$RRVM_LAST_PID
		t0=$(now_ms)
		sil='' fo_at='' last=''
		while [ $(( $(now_ms) - t0 )) -lt $((DETECT_S * 1000)) ]; do
			sleep 0.5
			if [ -s "$B_REPORT" ]; then
				fo_at=$(awk -v ms=$(( $(now_ms) - t0 )) 'BEGIN { printf "%.1f", ms / 1000 }')
				break
			fi
			st=$(rrvm_backup_status "$B_CTL" 2>/dev/null) || continue
			state=$(json_get "$st" .state)
			[ "$state" = replicating ] || continue
			sil=$(json_get "$st" .max_silence_ms)
		done
		last=$(rrvm_repl_stats "$P_CTL" 2>/dev/null) || last='{}'
		errs=$(rb_errors "$OUT/logs/$name.redis-benchmark.log" | head -n1)
		if [ -n "$fo_at" ]; then
			say "  detect $d ms: FALSE FAILOVER after ${fo_at} s (longest silence seen before: ${sil:-?} ms): $(jq -c '{detect: .phases_ms.detect, committed_epoch}' "$B_REPORT" 2>/dev/null)"
		else
			say "  detect $d ms: no failover in $DETECT_S s; longest silence ${sil:-?} ms"
		fi
		echo "$d,$DETECT_S,$([ -n "$fo_at" ] && echo yes || echo no),${fo_at},${sil},$(json_get "$last" .epochs),$(json_get "$last" .late_epochs),${errs//,/;}" >>"$csv"
		pair_down "$rb_pid"
	done
}

# ------------------------------------------------------------ part: memory
# kib_of PID FIELD: a /proc/PID/status field (VmRSS, VmHWM) in KiB.
kib_of() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null
}

part_memory() {
	local csv=$OUT/memory.csv c load name s0 s1 w0 w1 w rb_pid fill_pid fill_s t0 dbsize
	local -a popt
	echo "delta_cache,load,vm_mem,epochs,pages_per_epoch,bytes_per_epoch,raw_bytes_per_epoch,delta_hits,delta_misses,delta_evictions,cache_bytes_used,primary_rss_mib,primary_hwm_mib,backup_rss_mib,backup_hwm_mib,dbsize,fill_s,pause_us_mean,disconnects" >"$csv"
	say "part memory: $MEM_VM kv guest, delta cache $CACHES, loads $MEM_LOADS"
	use_topology basic || return 0
	for load in $MEM_LOADS; do
		for c in $CACHES; do
			name=memory-$load-$c
			popt=(--primary-opt --mem --primary-opt "$MEM_VM")
			[ "$c" = default ] || popt+=(--primary-opt --delta-cache --primary-opt "$c")
			[ "$load" = dirtier ] && popt+=(--primary-opt -- --primary-opt "dirty=$DIRTY_RATE" --primary-opt "dirty_mb=$DIRTY_MB")
			say "  $name: boot"
			pair_up "$name" buffered 20 "${popt[@]}" || { pair_down; continue; }
			t0=$(now_ms) rb_pid=''
			if [ "$load" = kv ]; then
				ns_bg "$TB_NS_C" "$OUT/logs/$name.fill.log" timeout 600 redis-benchmark \
					-h "$TB_GUEST_IP" -p 6379 -q -t set -n 160000 -r 100000 -d 4000 -c 50 -P 16
				fill_pid=$RRVM_LAST_PID
				# A failover in the middle would leave the fill waiting.
				while pid_alive "$fill_pid" && [ ! -s "$B_REPORT" ] && pid_alive "$P_PID"; do
					sleep 0.5
				done
				if pid_alive "$fill_pid"; then
					note "$name: the pair broke during the fill (false failover on a loaded host?): $(cat "$B_REPORT" 2>/dev/null | head -c 300)"
					pair_down "$fill_pid"
					continue
				fi
				fill_s=$(awk -v ms=$(( $(now_ms) - t0 )) 'BEGIN { printf "%.1f", ms / 1000 }')
				rrvm_load_bg "$TB_NS_C" "$OUT/logs/$name.redis-benchmark.log" -t set -r 100000 -d 512 -c 20
				rb_pid=$RRVM_LAST_PID
				sleep 1
			else
				# One pass over the region: every page dirtied once.
				sleep "$(awk -v mb="$DIRTY_MB" -v r="$DIRTY_RATE" 'BEGIN { printf "%.1f", mb * 256 / r + 1 }')"
				fill_s=$(awk -v ms=$(( $(now_ms) - t0 )) 'BEGIN { printf "%.1f", ms / 1000 }')
			fi
			s0=$(rrvm_repl_stats "$P_CTL") || s0=null
			w0=$(now_ms)
			sleep "$MEM_WINDOW_S"
			s1=$(rrvm_repl_stats "$P_CTL") || s1=null
			w1=$(now_ms)
			dbsize=$(ns_exec "$TB_NS_C" timeout 10 redis-cli -h "$TB_GUEST_IP" DBSIZE 2>/dev/null)
			printf '{"before":%s,"after":%s}\n' "$s0" "$s1" >"$OUT/raw/$name.stats.json"
			if [ "$s0" = null ] || [ "$s1" = null ]; then
				note "$name: no stats from the primary"
				pair_down $rb_pid
				continue
			fi
			w=$(window "$s0" "$s1" $((w1 - w0)))
			echo "$c,$load,$MEM_VM,$(jq -r --argjson a "$s0" --argjson b "$s1" '
				[.epochs, .pages, .bytes, .raw_bytes,
				 (($b.delta_cache.hits // 0) - ($a.delta_cache.hits // 0)),
				 (($b.delta_cache.misses // 0) - ($a.delta_cache.misses // 0)),
				 (($b.delta_cache.evictions // 0) - ($a.delta_cache.evictions // 0)),
				 ($b.delta_cache.bytes_used // "")]
				| map(if . == null then "" else tostring end) | join(",")' <<<"$w"),$(awk -v k="$(kib_of "$P_PID" VmRSS)" 'BEGIN { printf "%.0f", k / 1024 }'),$(awk -v k="$(kib_of "$P_PID" VmHWM)" 'BEGIN { printf "%.0f", k / 1024 }'),$(awk -v k="$(kib_of "$B_PID" VmRSS)" 'BEGIN { printf "%.0f", k / 1024 }'),$(awk -v k="$(kib_of "$B_PID" VmHWM)" 'BEGIN { printf "%.0f", k / 1024 }'),${dbsize:-},$fill_s,$(json_get "$w" .pause_us),$(json_get "$w" .disconnects)" >>"$csv"
			say "  $name: $(tail -n1 "$csv")"
			[ "$(json_get "$w" .disconnects)" = 0 ] || note "$name: the primary lost its backup during the window"
			pair_down $rb_pid
		done
	done
}

# ------------------------------------------------------------ part: capture
# ticks PID [TID]: utime + stime of a process (or one of its threads).
ticks() {
	local f=/proc/$1/stat
	[ -n "${2:-}" ] && f=/proc/$1/task/$2/stat
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "$f" 2>/dev/null
}
# capture_tid PID: the backup's capture thread (named capture).
capture_tid() {
	local t
	for t in /proc/"$1"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = capture ] && { basename "$t"; return 0; }
	done
	return 1
}
# cap_run NAME MODE EPOCH TOPOLOGY BACKEND REP: one pair, one measurement.
cap_run() {
	local name=$1 mode=$2 ep=$3 topo=$4 be=$5 rep=$6 tid='' b0='' b1='' c0='' c1='' w0 w1 rps st bcpu='' ccpu=''
	local hz
	hz=$(getconf CLK_TCK)
	if [ "$mode" = none ]; then
		pair_up "$name" none "$ep" || { pair_down; return 1; }
	else
		RRVM_CAPTURE=$be pair_up "$name" "$mode" "$ep" || { pair_down; return 1; }
		tid=$(capture_tid "$B_PID") || note "$name: no capture thread in the backup"
	fi
	if [ -n "$B_PID" ]; then
		b0=$(ticks "$B_PID")
		[ -n "$tid" ] && c0=$(ticks "$B_PID" "$tid")
	fi
	w0=$(now_ms)
	rb "$name" -t get -n "$CAP_N" -c "$TPUT_C" -r 100000
	w1=$(now_ms)
	if [ -n "$B_PID" ]; then
		b1=$(ticks "$B_PID")
		[ -n "$tid" ] && c1=$(ticks "$B_PID" "$tid")
		bcpu=$(awk -v a="$b0" -v b="$b1" -v ms=$((w1 - w0)) -v hz="$hz" 'BEGIN { if (a != "" && b != "") printf "%.1f", (b - a) * 100000 / hz / ms }')
		ccpu=$(awk -v a="$c0" -v b="$c1" -v ms=$((w1 - w0)) -v hz="$hz" 'BEGIN { if (a != "" && b != "") printf "%.1f", (b - a) * 100000 / hz / ms }')
		st=$(rrvm_backup_status "$B_CTL" 2>/dev/null) || st='{}'
		printf '%s\n' "$st" >"$OUT/raw/$name.status.json"
	else
		st='{}'
	fi
	rps=$(rb_csv_get "$OUT/raw/$name.csv" GET rps 2>/dev/null)
	echo "$rep,$topo,$ep,$mode,$(jq -r '.reverse.capture // ""' <<<"$st"),$rps,$bcpu,$ccpu,$(jq -r '[.reverse.gaps, .reverse.kernel_drops, .reverse.overflow_dropped] | map(if . == null then "" else tostring end) | join(",")' <<<"$st"),$(awk -v ms=$((w1 - w0)) 'BEGIN { printf "%.1f", ms / 1000 }')" >>"$OUT/capture.csv"
	say "  $name: c$TPUT_C GET ${rps:-?} req/s${bcpu:+; backup CPU $bcpu%}${ccpu:+, capture thread $ccpu%}$(jq -r 'if .reverse then "; gaps \(.reverse.gaps), kernel drops \(.reverse.kernel_drops)" else "" end' <<<"$st")"
	pair_down
}

part_capture() {
	local rep topo ep be mode
	echo "rep,topology,epoch_ms,mode,capture,get_rps_c50,backup_cpu_pct,capture_thread_cpu_pct,gaps,kernel_drops,held,wall_s" >"$OUT/capture.csv"
	say "part capture: c$TPUT_C GET, none vs reverse with $CAP_BACKENDS, inline and mirror, epochs $CAP_EPOCHS ms, $CAP_REPS round(s)"
	for ((rep = 1; rep <= CAP_REPS; rep++)); do
		use_topology basic && cap_run "cap-$rep-none-a" none 20 basic none "$rep"
		for topo in inline mirror; do
			use_topology "$topo" || continue
			for ep in $CAP_EPOCHS; do
				for be in $CAP_BACKENDS; do
					mode=reverse-$topo
					cap_run "cap-$rep-$topo-$ep-$be" "$mode" "$ep" "$topo" "$be" "$rep"
				done
			done
		done
		use_topology basic && cap_run "cap-$rep-none-b" none 20 basic none "$rep"
	done
}

# ------------------------------------------------------------------ report
write_meta() {
	local cpu
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
	jq -n \
		--arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg stamp "$STAMP" \
		--arg commit "$(git_describe)" --arg kernel "$(uname -r)" \
		--argjson nproc "$(nproc)" --arg cpu "$cpu" \
		--argjson hypervisor "$(grep -qw hypervisor /proc/cpuinfo && echo true || echo false)" \
		--arg rrvm_sha256 "$(sha256sum "$RRVM" | cut -d' ' -f1)" \
		--arg kv_sha256 "$(sha256sum "$GUEST_IMG" | cut -d' ' -f1)" \
		--arg redis_benchmark "$(redis-benchmark --version)" \
		--argjson quick "$([ $QUICK = 1 ] && echo true || echo false)" \
		--arg parts "$PARTS" --arg epochs "$EPOCHS" --arg budget "$BUDGET_S" \
		--argjson lat_n "$LAT_N" --argjson tput_n "$TPUT_N" --argjson tput_c "$TPUT_C" \
		--argjson kills "$KILLS" --argjson fo_epoch "$FO_EPOCH" \
		--arg rev_modes "$REV_MODES" --argjson rev_kills "$REV_KILLS" \
		--arg detects "$DETECTS" --argjson detect_s "$DETECT_S" \
		--arg caches "$CACHES" --arg mem_loads "$MEM_LOADS" --arg mem_vm "$MEM_VM" \
		--argjson mem_window_s "$MEM_WINDOW_S" --argjson dirty_mb "$DIRTY_MB" --argjson dirty_rate "$DIRTY_RATE" \
		--arg load_start "$LOADAVG_START" --arg load_end "$LOADAVG_END" \
		--argjson steal "$(for k in "${!STEAL_PCT[@]}"; do printf '%s\n%s\n' "$k" "${STEAL_PCT[$k]}"; done | jq -Rn '[inputs] | [range(0; length; 2) as $i | {(.[$i]): (.[$i + 1] | tonumber? // .)}] | add // {}')" \
		--argjson failures "$FAILURES" --arg idle "$(idle_policy_describe "$IDLE")" \
		--args '{
		  benchmark: "replication", date: $date, stamp: $stamp, commit: $commit, quick: $quick,
		  idle_policy: $idle,
		  host: {kernel: $kernel, nproc: $nproc, cpu: $cpu, hypervisor: $hypervisor,
		         loadavg_start: $load_start, loadavg_end: $load_end, cpu_steal_pct_by_part: $steal,
		         note: "other work on the host is not controlled; see the load averages and steal"},
		  binaries: {rrvm_sha256: $rrvm_sha256, kv_sha256: $kv_sha256},
		  tools: {redis_benchmark: $redis_benchmark},
		  testbed: "basic for none/buffered, inline for reverse-inline, mirror for reverse-mirror (docs/testbed.md), private prefix; guest kv.elf 64 MiB",
		  parts: ($parts | split(" ") | map(select(. != ""))),
		  perf: {modes: ("none, buffered" + (if $rev_modes == "" then "" else ", " + ($rev_modes | split(" ") | map(select(. != "")) | join(", ")) end)),
		         reverse_p50_targets: {"reverse-mirror": 1.05, "reverse-inline": 1.15}, epochs_ms: ($epochs | split(" ") | map(select(. != "") | tonumber)),
		         latency: "redis-benchmark -t get,set -c 1 -P 1 -r 100000 --csv, under idle_policy",
		         throughput: ("redis-benchmark -t get,set -c " + ($tput_c | tostring) + " -r 100000 --csv"),
		         requests: {none_latency: $lat_n, none_throughput: $tput_n,
		                    buffered: ("budget " + $budget + " s per test: n = budget x clients x 1000 / epoch (at least 50 / 500)")},
		         replication: "from the primary stats before/after both redis-benchmark runs"},
		  failover: {kills: $kills, reverse_kills_per_topology: $rev_kills, epoch_ms: $fo_epoch, detect_timeout_ms: 500,
		             load: "consistency-client incr,keys + redis-benchmark -t set -r 100000 -c 10",
		             kill_at: "uniform 1-3 s after the clients start"},
		  detect: {timeouts_ms: ($detects | split(" ") | map(select(. != "") | tonumber)), seconds_each: $detect_s,
		           epoch_ms: 20, load: "redis-benchmark -t set -r 100000 -c 50",
		           note: "max_silence_ms = longest gap between bytes from the primary since the first commit; a detect timeout below it fires"},
		  memory: {delta_caches: ($caches | split(" ") | map(select(. != ""))), loads: ($mem_loads | split(" ") | map(select(. != ""))),
		           vm_mem: $mem_vm, window_s: $mem_window_s, epoch_ms: 20,
		           kv: "fill redis-benchmark -t set -n 160000 -r 100000 -d 4000 -c 50 -P 16; window redis-benchmark -t set -r 100000 -d 512 -c 20",
		           dirtier: {region_mib: $dirty_mb, pages_per_s: $dirty_rate},
		           rss: "VmRSS and VmHWM of rrvm primary and rrvm backup after the window"},
		  failures: $failures, notes: $ARGS.positional
		}' "${NOTES[@]}" >"$OUT/meta.json"
}

print_table() {
	local f
	echo
	echo "rrvm replication benchmark ($([ $QUICK = 1 ] && echo quick || echo full)) -- $(nproc) CPUs, kernel $(uname -r), commit $(git_describe | cut -c1-12)$(git_describe | grep -o -- '-dirty$')"
	echo "load average at start: $LOADAVG_START, at end: $LOADAVG_END; CPU steal by part: $(for k in perf failover detect memory capture; do [ -n "${STEAL_PCT[$k]:-}" ] && printf '%s %s%% ' "$k" "${STEAL_PCT[$k]}"; done)"
	echo "(other work on this host and its hypervisor is not controlled: steal inflates tails and pauses)"
	echo "idle CPUs during the -c 1 latency runs, every mode alike: $(idle_policy_describe "$IDLE")"
	f=$OUT/perf.csv
	if [ -s "$f" ] && [ "$(wc -l <"$f")" -gt 1 ]; then
		echo
		echo "1. Request latency and throughput, kv guest (redis-benchmark; latency -c 1 -P 1, throughput -c $TPUT_C)"
		awk -F, '
			NR == 1 { next }
			!h++ {
				printf "%-14s %5s | %-21s | %-21s | %-17s | %6s %7s %4s | %8s %8s %8s %8s\n", "mode", "epoch",
					"GET p50/p99 ms (c1)", "SET p50/p99 ms (c1)", "c50 GET/SET req/s", "ckpt/s", "intv ms", "late",
					"pause us", "max us", "pages/ep", "bytes/ep"
				printf "%s\n", "----------------------------------------------------------------------------------------------------------------------------------------"
			}
			function v(x) { return x == "" ? "-" : x }
			{ printf "%-14s %5s | %9s/%9s  | %9s/%9s  | %8s/%8s | %6s %7s %4s | %8s %8s %8s %8s\n",
				$1, ($2 == "" ? "-" : $2 "ms"), v($4), v($5), v($7), v($8), v($11), v($14),
				v($18), v($19), v($20), v($21), v($22), v($23), v($24) }' "$f"
		awk -F, 'NR == 1 { next }
			$1 == "none" && $4 != "" { n++; g += $4; s += $7; tg += $11; ts += $14; next }
			$1 != "none" { b[++m] = $0 }
			END {
				if (!n) exit
				g /= n; s /= n; tg /= n; ts /= n
				printf "   against none (mean of its %d runs: GET p50 %.3f ms, c50 GET %.0f SET %.0f req/s):\n", n, g, tg, ts
				for (i = 1; i <= m; i++) {
					split(b[i], x, ",")
					tgt = (x[1] == "reverse-mirror" ? " (target <= x1.05)" : (x[1] == "reverse-inline" ? " (target <= x1.15)" : ""))
					printf "   %-14s %4sms: GET p50 x%.2f, SET p50 x%.2f%s; c50 throughput GET %.0f%%, SET %.0f%% of none\n", x[1], x[2], (g > 0 ? x[4] / g : 0), (s > 0 ? x[7] / s : 0), tgt, (tg > 0 ? x[11] * 100 / tg : 0), (ts > 0 ? x[14] * 100 / ts : 0)
				}
			}' "$f"
		echo "   none runs first and again last: the difference between its two rows is the host's drift during the part."
		echo "   ckpt/s = checkpoints per second achieved over both runs; intv = mean achieved interval; late = epochs >= 2x the interval;"
		echo "   pause = vCPU stopped for the collect (mean over the window; max since boot); bytes/ep = bytes sent on the replication link per epoch."
	fi
	f=$OUT/failover-summary.csv
	if [ -s "$f" ] && [ "$(wc -l <"$f")" -gt 1 ]; then
		echo
		echo "2. Failover under load: $(($(wc -l <"$OUT/failover.csv") - 1)) kills of the primary (buffered, epoch $FO_EPOCH ms, detect timeout 500 ms)"
		awk -F, 'NR == 1 { printf "   %-26s %4s %10s %10s %10s\n", "", "n", "median", "min", "max"; next }
			{ printf "   %-26s %4s %10s %10s %10s\n", $1, $2, $3, $4, $5 }' "$f"
		awk -F, 'NR == 1 { next } { n++; if ($12 != "0") bad++; if ($13 != "0") rc++ }
			END { printf "   consistency: %d of %d runs with a violation, %d with a reconnect\n", bad, n, rc }' "$OUT/failover.csv"
		echo "   longest_stall_ms = the longest wait for a reply the consistency client saw (the outage); the rest from the backup's report."
	fi
	local m
	for m in $REV_MODES; do
		f=$OUT/failover-$m-summary.csv
		[ -s "$f" ] && [ "$(wc -l <"$f")" -gt 1 ] || continue
		echo
		echo "2$([ "$m" = reverse-inline ] && echo b || echo c). Failover under load: $(($(wc -l <"$OUT/failover-$m.csv") - 1)) kills of the primary ($m: rrvm primary --mode reverse, $(topology_of "$m") topology, epoch $FO_EPOCH ms)"
		awk -F, 'NR == 1 { printf "   %-26s %4s %10s %10s %10s\n", "", "n", "median", "min", "max"; next }
			{ printf "   %-26s %4s %10s %10s %10s\n", $1, $2, $3, $4, $5 }' "$f"
		awk -F, 'NR == 1 { next } { n++; if ($12 != "0") bad++; if ($13 != "0") rc++ }
			END { printf "   consistency: %d of %d runs with a violation, %d with a reconnect\n", bad, n, rc }' "$OUT/failover-$m.csv"
		echo "   replay_* from the failover report (frames replayed of those logged, time, regenerated outputs suppressed); capture_gaps from the backup's status just before the kill."
	done
	f=$OUT/memory.csv
	if [ -s "$f" ] && [ "$(wc -l <"$f")" -gt 1 ]; then
		echo
		echo "4. Primary memory and bytes per epoch vs --delta-cache ($MEM_VM kv guest, buffered, epoch 20 ms, $MEM_WINDOW_S s windows)"
		awk -F, 'NR == 1 { printf "   %-8s %-8s | %8s %10s %10s | %8s %8s %8s | %9s %9s | %9s %9s\n", "cache", "load", "pages/ep", "bytes/ep", "raw/ep",
				"hits", "misses", "evicted", "P RSS MiB", "P HWM MiB", "B RSS MiB", "keys"; next }
			{ printf "   %-8s %-8s | %8s %10s %10s | %8s %8s %8s | %9s %9s | %9s %9s\n", $1, $2, $5, $6, $7, $8, $9, $10, $12, $13, $14, $16 }' "$f"
		echo "   P = rrvm primary, B = rrvm backup (VmRSS after the window; HWM = peak); the guest's memory is inside the primary's RSS."
	fi
	f=$OUT/capture.csv
	if [ -s "$f" ] && [ "$(wc -l <"$f")" -gt 1 ]; then
		echo
		echo "5. Capture backends: c$TPUT_C GET throughput against none (mean of each round's two none runs), $CAP_REPS round(s); median [min-max] over rounds"
		printf "   %-24s %22s %22s %22s %6s\n" "topology epoch backend" "GET / none" "backup CPU %" "capture thread CPU %" "gaps"
		awk -F, 'NR == 1 { next }
			$4 == "none" { nsum[$1] += $6; nn[$1]++; next }
			{ k = $2 " " $3 "ms " $5; keys[k] = 1; ratio[k, ++cnt[k]] = $6; rnd[k, cnt[k]] = $1
			  bc[k, cnt[k]] = $7; cc[k, cnt[k]] = $8; gaps[k] += $9 }
			function med(a, k, n,    i, j, t, v) { for (i = 1; i <= n; i++) v[i] = a[k, i]
				for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
				lo = v[1]; hi = v[n]; return (n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2) }
			END {
				for (k in keys) {
					n = cnt[k]
					for (i = 1; i <= n; i++) { r = rnd[k, i]; rr[k, i] = (nn[r] ? ratio[k, i] / (nsum[r] / nn[r]) : 0) }
					m1 = med(rr, k, n); l1 = lo; h1 = hi
					m2 = med(bc, k, n); l2 = lo; h2 = hi
					m3 = med(cc, k, n); l3 = lo; h3 = hi
					printf "   %-24s %8.2f [%.2f-%.2f] %10.1f [%.1f-%.1f] %10.1f [%.1f-%.1f] %6d\n", k, m1, l1, h1, m2, l2, h2, m3, l3, h3, gaps[k]
				}
			}' "$f" | sort
		echo "   (targets: >= 0.75 at 20 ms, >= 0.65 at 10 ms; backup CPU <= 10 % of a CPU at 40k req/s). CPU = utime+stime over the benchmark's wall time."
	fi
	f=$OUT/detect.csv
	if [ -s "$f" ] && [ "$(wc -l <"$f")" -gt 1 ]; then
		echo
		echo "3. Detect timeout vs false failover (buffered, epoch 20 ms, redis-benchmark -c 50, $DETECT_S s each)"
		awk -F, 'NR == 1 { printf "   %10s %16s %18s %16s\n", "timeout ms", "false failover", "after s", "max silence ms"; next }
			{ printf "   %10s %16s %18s %16s\n", $1, $3, ($4 == "" ? "-" : $4), ($5 == "" ? "?" : $5) }' "$f"
		echo "   max silence = the longest gap the backup saw between bytes from the primary (heartbeat every 5 ms): a timeout below it fires."
	fi
	if [ ${#NOTES[@]} -gt 0 ]; then
		echo
		echo "problems (${#NOTES[@]}):"
		printf '  - %s\n' "${NOTES[@]}"
	fi
	echo
	echo "results: $OUT"
}

testbed_down() {
	local out
	pair_down
	out=$("$TB_CLI" --prefix "$PREFIX" down 2>&1) || note "testbed down: $out"
}

main() {
	check_env
	testbed_up
	say "rrvm replication bench$([ $QUICK = 1 ] && echo " (--quick)"): parts: $PARTS"
	has_part perf && run_part perf part_perf
	has_part failover && run_part failover part_failover
	has_part detect && run_part detect part_detect
	has_part memory && run_part memory part_memory
	has_part capture && run_part capture part_capture
	testbed_down
	LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)
	write_meta
	print_table
	if [ "$FAILURES" -gt 0 ]; then
		say "$FAILURES problem(s); see above"
		exit 1
	fi
}

main "$@"
