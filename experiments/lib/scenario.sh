# shellcheck shell=bash
# The scenario driver's library (experiments/run): parameters, the results
# directory and its meta.json, progress lines, CPU-steal accounting, and a
# protected pair (rrvm primary + rrvm backup) on a private testbed in any
# mode. Scenarios (experiments/scenarios/NAME.sh) are sourced after it and
# define scenario_params and scenario_main; docs/experiments.md has the
# contract and the CSV schemas.
#
# Source after netns.sh, rrvm.sh, testbed.sh and idle.sh.

SC_NAME='' SC_QUICK=0 SC_OUT='' SC_TMP='' SC_STAMP='' SC_PREFIX=''
SC_STARTED='' SC_STEP=0 SC_STEPS=0 SC_T0=0 SC_FAILURES=0
SC_LOADAVG_START=''
SC_GUEST_KV=$RRVM_GUEST_DIR/kv.elf
SC_TB_CLI=$RRVM_ROOT/experiments/testbed
SC_REP_ADDR=''
declare -a SC_NOTES=() SC_PARAM_ORDER=()
declare -A SC_PARAM=() SC_PARAM_DESC=() SC_PARAM_SET=() SC_STEAL=()

# Current pair (sc_pair_up / sc_pair_down).
P_PID='' P_CTL='' P_LOG='' B_PID='' B_CTL='' B_LOG='' B_REPORT=''
SC_RUN=0

sc_fail() {
	say "$SC_NAME failed: $*"
	exit 1
}
# sc_note: a problem worth reporting in meta.json; the run goes on.
sc_note() {
	say "NOTE: $*"
	SC_NOTES+=("$*")
	SC_FAILURES=$((SC_FAILURES + 1))
}

# ------------------------------------------------------------- parameters
# sc_param NAME FULL QUICK DESCRIPTION: declare a parameter; its value is
# `--set NAME=VALUE` if given, else QUICK under --quick, else FULL. The
# value lands in the shell variable NAME and in meta.json's params.
sc_param() {
	local name=$1 full=$2 quick=$3
	SC_PARAM_ORDER+=("$name")
	SC_PARAM_DESC[$name]="$4 (default $full; --quick $quick)"
	if [ -n "${SC_PARAM_SET[$name]+x}" ]; then
		SC_PARAM[$name]=${SC_PARAM_SET[$name]}
	elif [ "$SC_QUICK" = 1 ]; then
		SC_PARAM[$name]=$quick
	else
		SC_PARAM[$name]=$full
	fi
	printf -v "$name" '%s' "${SC_PARAM[$name]}"
}

# sc_check_int NAME...: each parameter is a positive integer (or a list
# of them, space-separated).
sc_check_ints() {
	local n v
	for n in "$@"; do
		[ -n "${!n}" ] || sc_fail "parameter $n is empty"
		for v in ${!n}; do
			[[ $v =~ ^[1-9][0-9]*$ ]] || sc_fail "parameter $n: '$v' is not a positive integer"
		done
	done
}

# sc_idle_param: the IDLE parameter of a scenario that measures latency
# (experiments/lib/idle.sh): what idle CPUs do while a client measures,
# the same in every mode. meta.json's idle_policy records it; sc_cc and
# sc_idle_begin apply it.
SC_IDLE_POLICY=''
sc_idle_param() {
	sc_param IDLE busy busy "idle CPUs while latency is measured, every mode alike: busy (a SCHED_IDLE busy loop per CPU), nice19 (the loops at nice 19) or none (CPUs sleep)"
}
# sc_idle_check: experiments/run calls it before the scenario runs.
sc_idle_check() {
	local why
	[ -n "${SC_PARAM[IDLE]+x}" ] || return 0
	why=$(idle_policy_check "$IDLE") || sc_fail "parameter IDLE: $why"
	SC_IDLE_POLICY=$(idle_policy_describe "$IDLE")
}
# sc_idle_begin / sc_idle_end: around one latency measurement (no-ops in a
# scenario without the IDLE parameter).
sc_idle_begin() {
	[ -n "$SC_IDLE_POLICY" ] || return 0
	idle_loops_start "$IDLE" || sc_note "could not start the idle policy's busy loops ($IDLE)"
}
sc_idle_end() { idle_loops_stop; }

# sc_check_modes NAME ALLOWED...: every word of parameter NAME is allowed.
sc_check_modes() {
	local n=$1 v a ok
	shift
	for v in ${!n}; do
		ok=0
		for a in "$@"; do [ "$v" = "$a" ] && ok=1; done
		[ $ok = 1 ] || sc_fail "parameter $n: unknown mode '$v' (known: $*)"
	done
}

# ---------------------------------------------------------------- progress
# sc_steps N: the scenario has N steps (for the progress line's ETA).
sc_steps() { SC_STEPS=$1 SC_STEP=0 SC_T0=$(now_ms); }
# sc_step TEXT: the next step begins.
sc_step() {
	local el eta=''
	SC_STEP=$((SC_STEP + 1))
	el=$(( $(now_ms) - SC_T0 ))
	if [ "$SC_STEP" -gt 1 ] && [ "$SC_STEPS" -ge "$SC_STEP" ]; then
		eta=$(( el * (SC_STEPS - SC_STEP + 1) / (SC_STEP - 1) / 1000 ))
		eta=", ~$((eta / 60))m$((eta % 60))s left"
	fi
	say "[$SC_STEP/$SC_STEPS$eta] $*"
}

# ----------------------------------------------------------------- testbed
# sc_testbed_up: a private testbed (prefix rrvm-exp-PID) in the basic
# topology; removed on exit with everything we started.
sc_testbed_up() {
	local r out
	SC_PREFIX=rrvm-exp-$$
	tb_set_prefix "$SC_PREFIX" || sc_fail "bad testbed prefix"
	for r in $TB_ROLES; do
		RRVM_NS_LIST+=("$(tb_ns "$r")")
	done
	out=$("$SC_TB_CLI" --prefix "$SC_PREFIX" up 2>&1) || sc_fail "testbed up: $out"
	SC_REP_ADDR=$TB_BAK_REP_IP:7777
	tb_load_topology
	say "testbed $SC_PREFIX up"
}

# sc_topology_of MODE: the testbed topology MODE runs on.
sc_topology_of() {
	case "$1" in
	reverse-inline | naive) echo inline ;;
	reverse-mirror) echo mirror ;;
	*) echo basic ;;
	esac
}

# sc_use_topology basic|inline|mirror: rebuild the testbed if needed
# (nothing of ours may run in it then).
sc_use_topology() {
	local out
	[ "$(tb_topology)" = "$1" ] && { tb_load_topology; return 0; }
	out=$("$SC_TB_CLI" --prefix "$SC_PREFIX" up --topology "$1" --force 2>&1) ||
		{ sc_note "testbed up --topology $1: $out"; return 1; }
	tb_load_topology
	[ "$TB_TOPOLOGY" = "$1" ] || { sc_note "testbed is '$TB_TOPOLOGY', not '$1'"; return 1; }
}

# sc_pair_up NAME MODE EPOCH_MS [--guest IMG] [--primary-opt OPT]...
#             [backup option...]:
# a fresh primary (kv guest unless --guest) and, unless MODE is none, a
# backup; switches the testbed to MODE's topology first. Waits until the
# guest answers on GUEST_PORT (default 6379) and the backup holds the full
# checkpoint. MODE: none, buffered, reverse-inline, reverse-mirror, naive.
# Returns 1 (noted) on failure; the caller then calls sc_pair_down.
SC_GUEST_PORT=6379
sc_pair_up() {
	local name=$1 mode=$2 epoch=$3 pmode img=$SC_GUEST_KV rc
	local -a popt=() bopt=()
	shift 3
	while [ $# -gt 0 ]; do
		case "$1" in
		--guest) img=$2; shift 2 ;;
		--primary-opt) popt+=("$2"); shift 2 ;;
		*) bopt+=("$1"); shift ;;
		esac
	done
	sc_use_topology "$(sc_topology_of "$mode")" || return 1
	pmode=$mode
	case "$mode" in
	reverse-* | naive)
		rrvm_reverse_args "$(sc_topology_of "$mode")"
		bopt=("${RRVM_REV_ARGS[@]}" "${bopt[@]}")
		[ "$mode" = naive ] || pmode=reverse
		;;
	none | buffered) ;;
	*) sc_note "$name: unknown mode '$mode'"; return 1 ;;
	esac
	SC_RUN=$((SC_RUN + 1))
	P_CTL=$SC_TMP/p.$SC_RUN.ctl P_LOG=$SC_OUT/logs/$name.primary.log
	B_CTL=$SC_TMP/b.$SC_RUN.ctl B_LOG=$SC_OUT/logs/$name.backup.log
	B_REPORT=$SC_OUT/raw/$name.failover.json
	B_PID=''
	if [ "$mode" != none ]; then
		rrvm_backup_bg "$TB_NS_BAK" "$B_LOG" "$B_CTL" "$SC_REP_ADDR" "$B_REPORT" \
			--fence-cmd "$(rrvm_tb_fence_cmd pri)" "${bopt[@]}"
		B_PID=$RRVM_LAST_PID
		wait_for 10 --pid "$B_PID" test -S "$B_CTL" || { sc_note "$name: rrvm backup did not start"; return 1; }
	fi
	rrvm_primary_bg "$TB_NS_PRI" "$P_LOG" "$P_CTL" "$img" "$SC_REP_ADDR" "$pmode" "$epoch" \
		--mem 64M "${popt[@]}"
	P_PID=$RRVM_LAST_PID
	rrvm_wait_ready "$TB_NS_C" "$TB_GUEST_IP" "$SC_GUEST_PORT" "$P_PID" 30
	rc=$?
	[ $rc = 0 ] || { sc_note "$name: the guest did not come up ($([ $rc = 2 ] && echo "rrvm exited" || echo timeout))"; return 1; }
	if [ "$mode" != none ]; then
		rrvm_wait_protected "$P_CTL" "$P_PID" 20 ||
			{ sc_note "$name: the backup did not acknowledge the full checkpoint"; return 1; }
	fi
	return 0
}

# sc_pair_down [PID...]: stop PIDs and the pair (by PID), then the testbed
# back to its initial state (tb_reset: both hosts unfenced, pri the
# primary, the switch's memory of the guest's MAC forgotten).
sc_pair_down() {
	local p
	for p in "$@" "$B_PID" "$P_PID"; do
		[ -n "$p" ] && pid_stop "$p" 5
	done
	B_PID='' P_PID=''
	tb_reset || sc_note "testbed reset failed"
}

# sc_cc NAME DURATION_S [option...]: the consistency client (incr, one
# connection) in the client namespace, in the foreground, under the
# scenario's idle policy (sc_idle_param); JSON in raw/NAME.json, per-reply
# CSV in raw/NAME.csv. Prints the JSON.
sc_cc() {
	local name=$1 dur=$2
	shift 2
	sc_idle_begin
	ns_exec "$TB_NS_C" "$RRVM_CC" --host "$TB_GUEST_IP" --mode incr --quiet \
		--duration "$dur" --out "$SC_OUT/raw/$name.json" --csv "$SC_OUT/raw/$name.csv" "$@" \
		>"$SC_OUT/logs/$name.client.log" 2>&1
	sc_idle_end
	jq -c . "$SC_OUT/raw/$name.json" 2>/dev/null || echo '{}'
}

# ------------------------------------------------------------------- meta
sc_write_meta() {
	local cpu params steal_total
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
	params=$(for n in "${SC_PARAM_ORDER[@]}"; do printf '%s\n%s\n' "$n" "${SC_PARAM[$n]}"; done |
		jq -Rn '[inputs] | [range(0; length; 2) as $i | {(.[$i] | ascii_downcase): .[$i + 1]}] | add // {}')
	steal_total=$(cpu_steal_pct "$SC_TICKS_START" "$(cpu_ticks)")
	jq -n --arg scenario "$SC_NAME" --arg stamp "$SC_STAMP" \
		--argjson quick "$([ "$SC_QUICK" = 1 ] && echo true || echo false)" \
		--arg commit "$(git -C "$RRVM_ROOT" rev-parse HEAD 2>/dev/null || echo unknown)" \
		--argjson dirty "$(git -C "$RRVM_ROOT" diff --quiet HEAD 2>/dev/null && echo false || echo true)" \
		--arg started "$SC_STARTED" --arg ended "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		--argjson params "$params" \
		--arg kernel "$(uname -r)" --argjson nproc "$(nproc)" --arg cpu "$cpu" \
		--argjson hypervisor "$(grep -qw hypervisor /proc/cpuinfo && echo true || echo false)" \
		--arg load_start "$SC_LOADAVG_START" --arg load_end "$(cut -d' ' -f1-3 /proc/loadavg)" \
		--argjson steal "$steal_total" \
		--arg rrvm_sha "$(sha256sum "$RRVM" | cut -d' ' -f1)" \
		--arg kv_sha "$(sha256sum "$SC_GUEST_KV" | cut -d' ' -f1)" \
		--arg rb "$(redis-benchmark --version 2>/dev/null)" --arg wrk "$(wrk -v 2>&1 | head -n1)" \
		--argjson noise "${SC_NOISE:-{\}}" --argjson failures "$SC_FAILURES" \
		--arg idle "$SC_IDLE_POLICY" \
		--args '{scenario: $scenario, stamp: $stamp, quick: $quick, commit: $commit, dirty: $dirty,
		  started: $started, ended: $ended, params: $params,
		  idle_policy: (if $idle == "" then null else $idle end),
		  host: {kernel: $kernel, nproc: $nproc, cpu: $cpu, hypervisor: $hypervisor,
		         loadavg_start: $load_start, loadavg_end: $load_end, steal_pct: $steal,
		         note: "other work on the host is not controlled; see load averages and steal"},
		  binaries: {rrvm_sha256: $rrvm_sha, kv_sha256: $kv_sha},
		  tools: {redis_benchmark: $rb, wrk: $wrk},
		  noise: $noise, failures: $failures, notes: $ARGS.positional}' \
		"${SC_NOTES[@]}" >"$SC_OUT/meta.json"
}

# sc_noise KEY JSON: add KEY to meta.json's noise object (a same-run
# baseline, a drift figure...).
SC_NOISE='{}'
sc_noise() { SC_NOISE=$(jq -c --arg k "$1" --argjson v "$2" '. + {($k): $v}' <<<"$SC_NOISE"); }

# sc_csv_check FILE COLUMNS: FILE has exactly this header and at least one
# row, and every row has as many fields (the schema promise of
# docs/experiments.md). 0 ok, 1 with a message.
sc_csv_check() {
	local f=$1 want=$2 got
	[ -s "$f" ] || { echo "$f: missing or empty" >&2; return 1; }
	got=$(head -n1 "$f")
	[ "$got" = "$want" ] || { echo "$f: header '$got', want '$want'" >&2; return 1; }
	awk -F, -v n="$(awk -F, '{ print NF; exit }' <<<"$want")" -v f="$f" '
		NR > 1 && NF != n { printf "%s:%d: %d fields, want %d\n", f, NR, NF, n > "/dev/stderr"; bad = 1 }
		END { if (NR < 2) { printf "%s: no data rows\n", f > "/dev/stderr"; bad = 1 }; exit bad }' "$f"
}

# sc_quantiles: read numbers on stdin, print "P50 P99 MAX COUNT" (NA if none).
sc_quantiles() {
	sort -g | awk '{ v[++n] = $1 }
		END { if (!n) { print "NA NA NA 0"; exit }
		      i = int(n * 0.99 + 0.5); if (i < 1) i = 1
		      print v[int((n + 1) / 2)], v[i], v[n], n }'
}

# sc_clients_start NAME LOAD_CLIENTS [client option...]: in the client
# namespace, the consistency client (incr,keys, until SIGTERM; JSON in
# raw/NAME.client.json, per-reply CSV raw/NAME.client.csv, log
# logs/NAME.client.log) and, unless LOAD_CLIENTS is 0, a redis-benchmark
# SET load of that many connections (logs/NAME.redis-benchmark.log); waits
# for the client's first reply (the CSV's second line). Sets SC_CC_PID and
# SC_RB_PID (empty without a load). 1 (noted) if the client did not start:
# the caller stops both.
SC_CC_PID='' SC_RB_PID=''
sc_clients_start() {
	local name=$1 lc=$2 csv=$SC_OUT/raw/$1.client.csv
	shift 2
	SC_RB_PID=''
	rrvm_cc_bg "$TB_NS_C" "$SC_OUT/logs/$name.client.log" "$SC_OUT/raw/$name.client.json" 0 \
		--csv "$csv" "$@"
	SC_CC_PID=$RRVM_LAST_PID
	if [ "$lc" -gt 0 ]; then
		rrvm_load_bg "$TB_NS_C" "$SC_OUT/logs/$name.redis-benchmark.log" -t set -r 100000 -c "$lc"
		SC_RB_PID=$RRVM_LAST_PID
	fi
	wait_for 10 --pid "$SC_CC_PID" awk 'NR == 2 { ok = 1; exit } END { exit !ok }' "$csv" && return 0
	sc_note "$name: the consistency client did not start: $(tail -n 2 "$SC_OUT/logs/$name.client.log" | tr '\n' ' ')"
	return 1
}

# ------------------------------------------------------------ kill rounds
# sc_kill_round NAME MODE EPOCH_MS [option...] [-- sc_pair_up option...]:
# one randomized kill of the primary under client traffic, on a fresh pair
# (sc_pair_up NAME MODE EPOCH_MS, torn down again at the end):
#   the consistency client (incr,keys, until SIGTERM, per-reply CSV) and a
#   redis-benchmark SET load in the client namespace; a random delay; the
#   backup's status; kill -9 of the primary (CLOCK_MONOTONIC taken at that
#   instant); the backup's failover report; AFTER seconds more of traffic
#   on the backup's VM; SIGTERM to the client (it drains, reads every
#   acknowledged key back and reports); its JSON.
# Options:
#   --delay MIN_MS MAX_MS   kill this long (uniform) after the client's
#                           first reply (default 1000 3000)
#   --after S               traffic after the report, seconds (default 1)
#   --load-clients N        redis-benchmark -t set -r 100000 -c N (default
#                           10; 0: no load)
#   --stall-timeout MS      the client's --stall-timeout (e.g. 2000 for
#                           naive: a hung connection is reported, not
#                           waited on)
#   --report-timeout MS     wait this long for the report (default 15000)
#   --fault KIND            what happens to the primary (KR_FAULT, default
#                           crash): crash (kill -9), freeze (SIGSTOP; SIGCONT
#                           once the report is in), links-down (every link
#                           of the primary's host down; up again once the
#                           report is in), replication-link-down (the
#                           primary's rep0 down for --link-down MS, default
#                           3000: no failover is expected, no report waited
#                           for; a report is noted as a false failover),
#                           switchover (`rrvm ctl PRIMARY switchover`: a
#                           planned handover, the backup's report says
#                           reason handover)
# Sets (always, '{}'/empty when unknown):
#   KR_DELAY_MS, KR_KILL_MONO_MS (CLOCK_MONOTONIC ms, 3 decimals, of the
#   kill), KR_STOP_MONO_MS (of the client's SIGTERM), KR_KILL_TO_REPORT_MS,
#   KR_STATUS (backup `status --json` just before the kill), KR_REPORT
#   (failover report), KR_CLIENT (client JSON), KR_CLIENT_RC (0, 1
#   violations, 2 setup error, timeout), KR_CSV (the client's per-reply
#   CSV), KR_FALSE_FAILOVER (1: the backup was not replicating just before
#   the kill — it had already failed over), KR_OK (1: a kill, a report and
#   a client JSON).
# Files: raw/NAME.{client.json,client.csv,status.json,failover.json},
# logs/NAME.{client,redis-benchmark,primary,backup}.log.
# Returns 0 if KR_OK=1, else 1 (the problem noted). Never aborts the run.
SC_PY=''
KR_FAULT=crash KR_LINK_DOWN_MS=3000
KR_OK=0 KR_DELAY_MS='' KR_KILL_MONO_MS='' KR_STOP_MONO_MS='' KR_KILL_TO_REPORT_MS=''
KR_STATUS='{}' KR_REPORT='{}' KR_CLIENT='{}' KR_CLIENT_RC='' KR_CSV='' KR_FALSE_FAILOVER=0

# sc_mono_offset_ns: CLOCK_REALTIME - CLOCK_MONOTONIC in ns (the best of
# five paired readings), so that bash's $EPOCHREALTIME (no fork) can be
# put on the monotonic axis of the client CSV and the failover report.
sc_mono_offset_ns() {
	[ -n "$SC_PY" ] || SC_PY=$(rrvm_python) || return 1
	"$SC_PY" -c '
import time
best = None
for _ in range(5):
    a = time.monotonic_ns(); r = time.clock_gettime_ns(time.CLOCK_REALTIME); b = time.monotonic_ns()
    if best is None or b - a < best[0]:
        best = (b - a, r - (a + b) // 2)
print(best[1])'
}

# sc_real_to_mono_ms EPOCHREALTIME OFFSET_NS: the instant in CLOCK_MONOTONIC ms.
sc_real_to_mono_ms() {
	local us=${1/./} ns
	ns=$(( 10#$us * 1000 - $2 ))
	printf '%d.%03d' $((ns / 1000000)) $(( (ns % 1000000) / 1000 ))
}

# sc_fault_links STATE [DEV...]: the primary host's links (default: every
# one of them) up or down, in one `ip` run.
sc_fault_links() {
	local st=$1 dev
	shift
	[ $# -gt 0 ] || set -- "$TB_UPLINK" "$TB_REP_DEV"
	for dev in "$@"; do
		echo "link set dev $dev $st"
	done | ip -n "$TB_NS_PRI" -batch - || sc_note "ip link set $* $st in pri failed"
}

# sc_fault_start / sc_fault_end: inject KR_FAULT on the primary, and end
# it (the frozen or cut-off primary comes back: it must stay fenced).
sc_fault_start() {
	case "$KR_FAULT" in
	crash) rrvm_kill9 "$P_PID" || sc_note "$1: the primary had already exited before the kill"
		P_PID='' ;;
	freeze) kill -STOP "$P_PID" 2>/dev/null || sc_note "$1: the primary had already exited" ;;
	links-down) sc_fault_links down ;;
	replication-link-down) sc_fault_links down "$TB_REP_DEV" ;;
	switchover)
		# Planned: the primary hands the VM over (final epoch, no fence)
		# and, started without --listen, ends.
		timeout 20 "$RRVM" ctl "$P_CTL" switchover >"$SC_OUT/raw/$1.switchover.txt" 2>&1 ||
			sc_note "$1: the switchover failed: $(head -c 300 "$SC_OUT/raw/$1.switchover.txt")"
		;;
	esac
}
sc_fault_end() {
	case "$KR_FAULT" in
	freeze) [ -n "$P_PID" ] && kill -CONT "$P_PID" 2>/dev/null ;;
	links-down) sc_fault_links up ;;
	replication-link-down) sc_fault_links up "$TB_REP_DEV" ;;
	esac
	return 0
}

# sc_kill_primary NAME DELAY_MIN_MS DELAY_MAX_MS REPORT_TIMEOUT_MS: after a
# uniformly random delay, read the backup's status (raw/NAME.status.json;
# a failover already under way is noted as false), inject the fault
# (KR_FAULT, default kill -9 of P_PID) and wait for the backup's report
# (B_REPORT; replication-link-down: wait KR_LINK_DOWN_MS, bring the link
# back, expect no report), then end the fault. Sets KR_DELAY_MS,
# KR_STATUS, KR_FALSE_FAILOVER, KR_KILL_REAL ($EPOCHREALTIME at the kill),
# KR_OFFSET_NS (sc_mono_offset_ns, empty if unreadable) and
# KR_KILL_TO_REPORT_MS.
# shellcheck disable=SC2034 # KR_* are read by the callers
sc_kill_primary() {
	local name=$1 dmin=$2 dmax=$3 rto=$4 t0 rc
	t0=$(now_ms)
	KR_FALSE_FAILOVER=0
	KR_DELAY_MS=$((dmin + (RANDOM * 32768 + RANDOM) % (dmax - dmin + 1)))
	KR_OFFSET_NS=$(sc_mono_offset_ns) || KR_OFFSET_NS=''
	rc=$(( KR_DELAY_MS - ($(now_ms) - t0) ))
	[ "$rc" -gt 0 ] && sleep "$(awk -v d="$rc" 'BEGIN { printf "%.3f", d / 1000 }')"
	KR_STATUS=$(rrvm_backup_status "$B_CTL" 2>/dev/null) || KR_STATUS=''
	[ -n "$KR_STATUS" ] && jq -e . >/dev/null 2>&1 <<<"$KR_STATUS" || KR_STATUS='{}'
	printf '%s\n' "$KR_STATUS" >"$SC_OUT/raw/$name.status.json"
	if [ "$(json_get "$KR_STATUS" .state)" != replicating ] || [ -s "$B_REPORT" ]; then
		KR_FALSE_FAILOVER=1
		sc_note "$name: the backup was not replicating just before the kill (false failover under host load?): $(jq -c '{state, max_silence_ms}' <<<"$KR_STATUS" 2>/dev/null)"
	fi
	KR_KILL_REAL=$EPOCHREALTIME
	sc_fault_start "$name"
	# A signal takes effect at once; a link is down once `ip` returned
	# (its start-up alone can take tens of ms on a loaded host).
	case "$KR_FAULT" in *down) KR_KILL_REAL=$EPOCHREALTIME ;; esac
	if [ "$KR_FAULT" = replication-link-down ]; then
		sleep "$(awk -v d="$KR_LINK_DOWN_MS" 'BEGIN { printf "%.3f", d / 1000 }')"
		sc_fault_end
		KR_KILL_TO_REPORT_MS=''
		if [ -s "$B_REPORT" ]; then
			KR_FALSE_FAILOVER=1
			sc_note "$name: the backup failed over although only the replication link was down"
		fi
		return 0
	fi
	rrvm_wait_file "$B_REPORT" "$B_PID" "$rto"
	rc=$?
	KR_KILL_TO_REPORT_MS=$(( $(now_ms) - ${KR_KILL_REAL/./} / 1000 ))
	[ $rc = 0 ] || sc_note "$name: no failover report ($([ $rc = 2 ] && echo "the backup exited" || echo "$rto ms timeout"))"
	sc_fault_end
	return 0
}

# shellcheck disable=SC2034 # KR_* are read by the scenarios
sc_kill_round() {
	local name=$1 mode=$2 epoch=$3
	local dmin=1000 dmax=3000 after=1 lc=10 rto=15000 cc_pid='' rb_pid='' off off2 t_kill t_stop
	local -a ccopt=() popt=()
	shift 3
	KR_FAULT=crash KR_LINK_DOWN_MS=3000
	KR_OK=0 KR_DELAY_MS='' KR_KILL_MONO_MS='' KR_STOP_MONO_MS='' KR_KILL_TO_REPORT_MS=''
	KR_STATUS='{}' KR_REPORT='{}' KR_CLIENT='{}' KR_CLIENT_RC='' KR_FALSE_FAILOVER=0
	KR_CSV=$SC_OUT/raw/$name.client.csv
	while [ $# -gt 0 ]; do
		case "$1" in
		--delay) dmin=$2 dmax=$3; shift 3 ;;
		--after) after=$2; shift 2 ;;
		--load-clients) lc=$2; shift 2 ;;
		--stall-timeout) ccopt+=(--stall-timeout "$2"); shift 2 ;;
		--report-timeout) rto=$2; shift 2 ;;
		--fault) KR_FAULT=$2; shift 2 ;;
		--link-down) KR_LINK_DOWN_MS=$2; shift 2 ;;
		--) shift; popt=("$@"); break ;;
		*) sc_note "$name: sc_kill_round: unknown option '$1'"; return 1 ;;
		esac
	done
	if ! sc_pair_up "$name" "$mode" "$epoch" "${popt[@]}"; then
		sc_pair_down
		return 1
	fi
	# The delay runs from the client's first reply.
	if ! sc_clients_start "$name" "$lc" "${ccopt[@]}"; then
		sc_pair_down "$SC_CC_PID" "$SC_RB_PID"
		return 1
	fi
	cc_pid=$SC_CC_PID rb_pid=$SC_RB_PID
	sc_kill_primary "$name" "$dmin" "$dmax" "$rto"
	off=$KR_OFFSET_NS t_kill=$KR_KILL_REAL
	sleep "$after"
	[ -z "$B_PID" ] || pid_alive "$B_PID" || sc_note "$name: the backup's VM exited after the failover"
	t_stop=$EPOCHREALTIME
	kill -TERM "$cc_pid" 2>/dev/null
	if pid_wait "$cc_pid" 30; then KR_CLIENT_RC=$RRVM_WAIT_RC; else pid_stop "$cc_pid" 1; KR_CLIENT_RC=timeout; fi
	[ -n "$rb_pid" ] && pid_stop "$rb_pid" 3
	# The offset again: a clock step in between would misplace the kill.
	off2=$(sc_mono_offset_ns) || off2=''
	if [ -n "$off" ]; then
		KR_KILL_MONO_MS=$(sc_real_to_mono_ms "$t_kill" "$off")
		KR_STOP_MONO_MS=$(sc_real_to_mono_ms "$t_stop" "$off")
		if [ -n "$off2" ] && [ $(( off2 > off ? off2 - off : off - off2 )) -gt 2000000 ]; then
			sc_note "$name: CLOCK_REALTIME moved against CLOCK_MONOTONIC by $(( (off2 - off) / 1000 )) us during the round"
		fi
	else
		sc_note "$name: cannot read CLOCK_MONOTONIC (python3)"
	fi
	KR_REPORT=$(jq -c . "$B_REPORT" 2>/dev/null) || KR_REPORT=''
	[ -n "$KR_REPORT" ] || KR_REPORT='{}'
	KR_CLIENT=$(jq -c . "$SC_OUT/raw/$name.client.json" 2>/dev/null) || KR_CLIENT=''
	[ -n "$KR_CLIENT" ] || { KR_CLIENT='{}'; sc_note "$name: no consistency-client report (exit status $KR_CLIENT_RC)"; }
	[ "$KR_CLIENT_RC" = timeout ] && sc_note "$name: the consistency client did not finish within 30 s of SIGTERM"
	sc_pair_down "$cc_pid" "$rb_pid"
	[ "$KR_REPORT" != '{}' ] || [ "$KR_FAULT" = replication-link-down ] &&
		[ "$KR_CLIENT" != '{}' ] && [ -n "$KR_KILL_MONO_MS" ] && KR_OK=1
	[ "$KR_OK" = 1 ]
}

# sc_fill_random NAME MB: MB MiB of incompressible values (SET fill:N,
# 1 MiB of /dev/urandom each) written into the kv guest through
# SC_FILL_STREAMS parallel `redis-cli --pipe` connections (in buffered mode
# one connection moves about one TCP window per epoch: a few MB/s). 0 ok,
# 1 noted.
SC_FILL_STREAMS=8
sc_fill_random() {
	local name=$1 mb=$2 t0 k v i n=0 pids=() used
	[ "$mb" -gt 0 ] || return 0
	t0=$(now_ms)
	for ((k = 0; k < SC_FILL_STREAMS; k++)); do
		(
			for ((i = k; i < mb; i += SC_FILL_STREAMS)); do
				# shellcheck disable=SC2016 # RESP, not shell: $ is literal
				printf '*3\r\n$3\r\nSET\r\n$%d\r\nfill:%d\r\n$1048576\r\n' $((5 + ${#i})) "$i"
				head -c 1048576 /dev/urandom
				printf '\r\n'
			done | ip netns exec "$TB_NS_C" timeout 600 redis-cli -h "$TB_GUEST_IP" --pipe
		) >"$SC_TMP/fill.$k.out" 2>&1 &
		pids+=($!)
	done
	for k in "${pids[@]}"; do wait "$k"; done
	for ((k = 0; k < SC_FILL_STREAMS; k++)); do
		v=$(sed -n 's/.*errors: 0, replies: \([0-9]*\)$/\1/p' "$SC_TMP/fill.$k.out" | tail -n 1)
		n=$((n + ${v:-0}))
	done
	if [ "$n" != "$mb" ]; then
		sc_note "$name: filling $mb MiB failed ($n values stored): $(tail -q -n 1 "$SC_TMP"/fill.*.out | sort -u | tr '\n' ' ')"
		return 1
	fi
	used=$(ip netns exec "$TB_NS_C" timeout 10 redis-cli -h "$TB_GUEST_IP" INFO memory | tr -d '\r' | sed -n 's/^used_memory:\([0-9]*\)$/\1/p')
	say "  $name: $mb MiB of random values written in $(( $(now_ms) - t0 )) ms (kv used_memory ${used:-?} bytes)"
}
