# shellcheck shell=bash
# Common code for tests/integration/test_*.sh. Not a test itself.
#
# Each test: sources this file, calls t_init (which skips the test when it
# cannot run here), boots a guest with guest_boot, checks things with the
# t_* assertions, and ends with t_finish. Result line (last line printed):
#   PASS: NAME [detail]     exit 0
#   FAIL: NAME: reason      exit 1
#   SKIP: NAME: reason      exit 77
#
# Environment:
#   RRVM                path to the monitor (default build/rrvm)
#   RRVM_GUEST_DIR      guest images (default build/guest)
#   RRVM_BOOT_TIMEOUT   seconds to wait for a guest to answer (default 30)
#   RRVM_LOG_LEVEL      --log-level for rrvm run (default info)
#   RRVM_KEEP=1         leave namespaces/processes for debugging
#   RRVM_IT_NATIVE=1    self-test of the TEST LOGIC: instead of booting a
#                       guest, serve the same protocol natively (redis-server,
#                       python stand-ins) at the guest address behind a veth.
#                       Checks that need the monitor are skipped. Not part of
#                       the suite; used to validate the tests without a VM.

T_NAME=$(basename "$0" .sh)
T_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$T_DIR/../.." && pwd)
RRVM=${RRVM:-$ROOT/build/rrvm}
GUEST_DIR=${RRVM_GUEST_DIR:-$ROOT/build/guest}
BOOT_TIMEOUT=${RRVM_BOOT_TIMEOUT:-30}
NATIVE=${RRVM_IT_NATIVE:-0}

# shellcheck source=SCRIPTDIR/../../experiments/lib/netns.sh
. "$ROOT/experiments/lib/netns.sh"
# shellcheck source=SCRIPTDIR/../../experiments/lib/rrvm.sh
. "$ROOT/experiments/lib/rrvm.sh"   # parsers: rb_quiet_rows, wrk_summary

# The guest LAN.
G_HOST_IP=10.77.0.1
G_IP=10.77.0.2
G_PREFIX=24
G_MAC=52:54:00:77:00:02

T_FAILS=0
T_CHECKS=0
T_NS=           # client namespace (holds tap0, or veth0 in native mode)
T_SRV_NS=       # native mode only: namespace of the stand-in server
T_TMP=          # private temp dir
G_PID=          # the monitor (or stand-in) process
G_LOG=          # its console output (stdout+stderr)
G_CTL=          # its control socket

# ------------------------------------------------------------- results
t_result_pass() { echo "PASS: $T_NAME${1:+ ($1)}"; exit 0; }
t_skip() { echo "SKIP: $T_NAME: $*"; exit 77; }
t_fail() {
	echo "  FAIL: $*"
	t_dump_log
	echo "FAIL: $T_NAME: $*"
	exit 1
}

# Show the tail of the monitor's console (for failures).
t_dump_log() {
	local f
	if [ -n "$G_LOG" ] && [ -s "$G_LOG" ]; then
		echo "  --- last lines of $( [ "$NATIVE" = 1 ] && echo stand-in || echo rrvm ) output ($G_LOG) ---"
		tail -n 30 "$G_LOG" | sed 's/^/  | /'
	fi
	# Other logs a test asked to see on failure (T_EXTRA_LOGS, file names).
	for f in "${T_EXTRA_LOGS[@]}"; do
		if [ "$f" = "$G_LOG" ] || [ ! -s "$f" ]; then
			continue
		fi
		echo "  --- last lines of $f ---"
		tail -n 20 "$f" | sed 's/^/  | /'
	done
}
T_EXTRA_LOGS=()

t_info() { echo "  $*"; }
# t_ok DESC: record a check that was decided by the caller.
t_ok() {
	T_CHECKS=$((T_CHECKS + 1))
	echo "  ok: $*"
}

# t_check DESC CMD...: CMD must succeed.
t_check() {
	local desc=$1
	shift
	T_CHECKS=$((T_CHECKS + 1))
	if "$@"; then
		echo "  ok: $desc"
		return 0
	fi
	echo "  FAIL: $desc"
	T_FAILS=$((T_FAILS + 1))
	return 1
}

# Quote a value for display, at most 200 characters.
_t_show() {
	local q
	q=$(printf '%q' "$1")
	if [ ${#q} -gt 200 ]; then
		q="${q:0:200}... (${#1} chars)"
	fi
	printf '%s' "$q"
}

# t_eq DESC EXPECTED ACTUAL
t_eq() {
	T_CHECKS=$((T_CHECKS + 1))
	if [ "$2" == "$3" ]; then
		echo "  ok: $1"
		return 0
	fi
	echo "  FAIL: $1"
	echo "        expected: $(_t_show "$2")"
	echo "        got:      $(_t_show "$3")"
	T_FAILS=$((T_FAILS + 1))
	return 1
}

# t_finish [detail]: PASS if no check failed.
t_finish() {
	if [ "$T_FAILS" -gt 0 ]; then
		t_dump_log
		echo "FAIL: $T_NAME: $T_FAILS of $T_CHECKS checks failed"
		exit 1
	fi
	t_result_pass "$T_CHECKS checks${1:+, $1}"
}

# ------------------------------------------------------------- setup
# t_init [tool...]: skip unless we can run here; check tools; set up the
# namespace(s) and cleanup trap. Tools missing is a failure, not a skip.
t_init() {
	local why t
	is_root || t_skip "needs root (network namespaces, TAP devices)"
	if [ "$NATIVE" != 1 ]; then
		why=$(kvm_usable) || t_skip "no usable /dev/kvm: $why"
		[ -x "$RRVM" ] || t_skip "$RRVM is missing (run make)"
	fi
	for t in ip "$@"; do
		command -v "$t" >/dev/null 2>&1 || t_fail "required tool '$t' is not installed (make deps)"
	done
	rrvm_trap_cleanup
	tmpdir_create T_TMP
	ns_create T_NS c
	if [ "$NATIVE" = 1 ]; then
		t_info "RRVM_IT_NATIVE=1: testing the test against native stand-ins, not rrvm"
		ns_create T_SRV_NS s
		ns_add_veth "$T_NS" veth0 "$G_HOST_IP/$G_PREFIX" "$T_SRV_NS" veth1 "$G_IP/$G_PREFIX"
	else
		ns_add_tap "$T_NS" tap0 "$G_HOST_IP/$G_PREFIX"
	fi
}

# Skip a test (or part of one) that needs the real monitor in native mode.
t_needs_rrvm() {
	[ "$NATIVE" = 1 ] && t_skip "needs the real monitor (RRVM_IT_NATIVE=1)"
	return 0
}

guest_image() { # SERVICE -> path
	echo "$GUEST_DIR/$1.elf"
}

# guest_start SERVICE|IMAGE.elf [guest-option...]: start rrvm run on tap0
# (no wait). SERVICE is kv, http, echo, ... (build/guest/SERVICE.elf).
# G_MEM (default 64M) is its --mem.
# Sets G_PID, G_LOG, G_CTL (fresh names for every boot).
G_BOOTS=0
guest_start() {
	local svc=$1 img name
	shift
	case "$svc" in
	*/* | *.elf) img=$svc ;;
	*) img=$(guest_image "$svc") ;;
	esac
	name=$(basename "$img" .elf)
	G_BOOTS=$((G_BOOTS + 1))
	G_LOG=$T_TMP/$name.$G_BOOTS.console.log
	G_CTL=$T_TMP/$name.$G_BOOTS.ctl
	if [ "$NATIVE" = 1 ]; then
		standin_start "$name" "$@"
		return
	fi
	[ -f "$img" ] || t_fail "guest image $img is missing (run make)"
	local cmd=("$RRVM" run --guest "$img" --tap tap0 --ip "$G_IP/$G_PREFIX"
		--mac "$G_MAC" --gw "$G_HOST_IP" --mem "${G_MEM:-64M}" --control "$G_CTL"
		--log-level "${RRVM_LOG_LEVEL:-info}")
	[ $# -gt 0 ] && cmd+=(-- "$@")
	t_info "boot: ${cmd[*]#"$ROOT/"}"
	ns_bg "$T_NS" "$G_LOG" "${cmd[@]}"
	G_PID=$RRVM_LAST_PID
}

# guest_wait_ready [TCP_PORT]: wait until the guest answers ping (and
# accepts TCP on PORT if given). Fails the test on timeout or if the
# monitor exits.
guest_wait_ready() {
	local port=${1:-} t0 rc
	t0=$(now_ms)
	wait_for "$BOOT_TIMEOUT" --pid "$G_PID" probe_ping "$T_NS" "$G_IP"
	rc=$?
	if [ $rc = 2 ]; then
		pid_wait "$G_PID" 1
		t_fail "monitor exited during boot (exit status ${RRVM_WAIT_RC:-?})"
	fi
	[ $rc = 1 ] && t_fail "guest did not answer ping within ${BOOT_TIMEOUT}s"
	if [ -n "$port" ]; then
		wait_for "$BOOT_TIMEOUT" --pid "$G_PID" probe_tcp "$T_NS" "$G_IP" "$port"
		rc=$?
		[ $rc = 2 ] && t_fail "monitor exited during boot"
		[ $rc = 1 ] && t_fail "guest did not accept TCP on port $port within ${BOOT_TIMEOUT}s"
	fi
	t_info "guest ready after $(( $(now_ms) - t0 )) ms"
}

# guest_boot SERVICE [guest-option...]: start and wait for readiness.
guest_boot() {
	local port=
	case "$1" in
	kv) port=6379 ;;
	http) port=80 ;;
	echo) port=7 ;;
	esac
	guest_start "$@"
	guest_wait_ready "$port"
}

# The guest must still be running (it did not crash under load).
guest_alive() { pid_alive "$G_PID"; }

# Run a client command in the client namespace.
c_exec() { ns_exec "$T_NS" "$@"; }

# Predicates for t_check.
matches() { [[ $1 =~ $2 ]]; }              # TEXT EXTENDED-REGEX
lacks() { ! grep -qE -- "$1" <<<"$2"; }     # PATTERN TEXT
contains() { grep -qE -- "$1" <<<"$2"; }    # PATTERN TEXT
file_lacks() { ! grep -qE -- "$1" "$2"; }   # PATTERN FILE
in_range() { [[ $1 =~ ^[0-9]+$ ]] && (($1 >= $2 && $1 <= $3)); } # N LO HI

# json_true JSON JQ_EXPR: the jq expression evaluates to true on JSON.
json_true() { jq -e "$2" <<<"$1" >/dev/null 2>&1; }

# rrvm ctl with a time limit.
ctl() { timeout 10 "$RRVM" ctl "$@"; }

# --------------------------------------------- native stand-ins (self-test)
standin_start() {
	local svc=$1
	case "$svc" in
	kv)
		ns_bg "$T_SRV_NS" "$G_LOG" redis-server --save '' --appendonly no \
			--protected-mode no --port 6379 --bind "$G_IP" --daemonize no --dir "$T_TMP"
		;;
	echo | http)
		ns_bg "$T_SRV_NS" "$G_LOG" python3 "$T_DIR/selftest/standin.py" "$svc" "$G_IP"
		;;
	*) t_skip "no native stand-in for guest '$svc'" ;;
	esac
	G_PID=$RRVM_LAST_PID
}

# ------------------------------------------- the four-host testbed (tests)
# Tests that need a client, a switch, a primary and a backup host build a
# private testbed (experiments/testbed, docs/testbed.md) under a prefix of
# their own, rrvm-t-<pid>-tb, so they never touch a user's testbed.
#
# t_init_testbed [tool...]: as t_init, but instead of a single namespace
# with a TAP, brings up a private testbed. Sets TB_* (experiments/lib/
# testbed.sh), TB_CLI (the script) and T_NS (= the client namespace, so
# guest_wait_ready / c_exec / probe_* run from the client). Its namespaces
# are removed on exit even if `testbed down` is never reached.
TB_CLI=$ROOT/experiments/testbed
t_init_testbed() {
	local why t r out
	is_root || t_skip "needs root (network namespaces, TAP devices)"
	[ "$NATIVE" = 1 ] && t_skip "needs the real monitor (RRVM_IT_NATIVE=1)"
	why=$(kvm_usable) || t_skip "no usable /dev/kvm: $why"
	[ -x "$RRVM" ] || t_skip "$RRVM is missing (run make)"
	for t in ip jq "$@"; do
		command -v "$t" >/dev/null 2>&1 || t_fail "required tool '$t' is not installed (make deps)"
	done
	# shellcheck source=SCRIPTDIR/../../experiments/lib/testbed.sh
	. "$ROOT/experiments/lib/testbed.sh"
	# shellcheck source=SCRIPTDIR/../../experiments/lib/chain.sh
	. "$ROOT/experiments/lib/chain.sh"
	tb_set_prefix "$RRVM_NS_PREFIX-tb" || t_fail "bad testbed prefix"
	rrvm_trap_cleanup
	tmpdir_create T_TMP
	# Record the names before creating anything: cleanup (and
	# run-integration.sh, if this test is killed) removes them.
	for r in $TB_ROLES; do
		RRVM_NS_LIST+=("$(tb_ns "$r")")
		[ -n "${RRVM_NS_REGISTRY:-}" ] && tb_ns "$r" >>"$RRVM_NS_REGISTRY"
	done
	out=$("$TB_CLI" --prefix "$TB_PREFIX" up \
		${TB_T_TOPOLOGY:+--topology "$TB_T_TOPOLOGY"} 2>&1) ||
		t_fail "testbed up failed: $out"
	t_info "$out"
	[ -n "${TB_T_TOPOLOGY:-}" ] && tb_load_topology
	T_NS=$TB_NS_C
}

# tb_t_guest_start ROLE SERVICE [guest-option...]: `rrvm run` of a guest
# image on ROLE's (pri|bak) tap0 with the testbed's guest address (no wait).
# Sets G_PID, G_LOG, G_CTL like guest_start.
tb_t_guest_start() {
	local role=$1 svc=$2 img name
	shift 2
	img=$(guest_image "$svc")
	[ -f "$img" ] || t_fail "guest image $img is missing (run make)"
	name=$(basename "$img" .elf)
	G_BOOTS=$((G_BOOTS + 1))
	G_LOG=$T_TMP/$name.$G_BOOTS.$role.console.log
	G_CTL=$T_TMP/$name.$G_BOOTS.$role.ctl
	local cmd=("$RRVM" run --guest "$img" --tap "$TB_TAP"
		--ip "$TB_GUEST_IP/$TB_LAN_PREFIX" --mac "$TB_GUEST_MAC" --gw "$TB_GUEST_GW"
		--mem 64M --control "$G_CTL" --log-level "${RRVM_LOG_LEVEL:-info}")
	[ $# -gt 0 ] && cmd+=(-- "$@")
	t_info "boot in $role: ${cmd[*]#"$ROOT/"}"
	ns_bg "$(tb_ns "$role")" "$G_LOG" "${cmd[@]}"
	G_PID=$RRVM_LAST_PID
}

# tb_t_rewire pri|bak: `testbed rewire primary=ROLE` (fails the test if it
# fails) and the TB_* names of the new state (TB_PRIMARY, TB_CAPTURE_HOST,
# TB_PRI_SW_PORT...).
tb_t_rewire() {
	local out
	out=$("$TB_CLI" --prefix "$TB_PREFIX" rewire "primary=$1" 2>&1) ||
		t_fail "testbed rewire primary=$1 failed: $out"
	t_info "$out"
	tb_load_topology
}

# tb_t_guest_boot ROLE SERVICE [guest-option...]: start and wait until the
# guest answers the client (ping, and TCP on the service's port).
tb_t_guest_boot() {
	local port=
	case "$2" in kv) port=6379 ;; http) port=80 ;; echo) port=7 ;; esac
	tb_t_guest_start "$@"
	guest_wait_ready "$port"
}

# tb_t_restore ROLE FILE: `rrvm restore FILE` on ROLE's tap0 in the
# background (no wait). Sets G_PID, G_LOG, G_CTL.
tb_t_restore() {
	local role=$1 file=$2
	G_BOOTS=$((G_BOOTS + 1))
	G_LOG=$T_TMP/restore.$G_BOOTS.$role.console.log
	G_CTL=$T_TMP/restore.$G_BOOTS.$role.ctl
	t_info "restore in $role: rrvm restore $file --tap $TB_TAP --control $G_CTL"
	ns_bg "$(tb_ns "$role")" "$G_LOG" "$RRVM" restore "$file" --tap "$TB_TAP" \
		--control "$G_CTL" --log-level "${RRVM_LOG_LEVEL:-info}"
	G_PID=$RRVM_LAST_PID
}

# tb_t_down: stop our monitors and bring the private testbed down; checks
# that none of its namespaces is left.
tb_t_down() {
	local pid out r left=
	for pid in "${RRVM_PID_LIST[@]}"; do
		pid_stop "$pid" 5
	done
	out=$("$TB_CLI" --prefix "$TB_PREFIX" down 2>&1)
	t_eq "testbed down: exit status (${out//$'\n'/; })" 0 "$?"
	for r in $TB_ROLES; do
		tb_ns_exists "$(tb_ns "$r")" && left="$left $(tb_ns "$r")"
	done
	t_eq "no testbed namespace left" "" "$left"
}

# tap_counters ROLE: "RX_PACKETS TX_PACKETS" of ROLE's tap0 (host side: RX
# = frames the monitor wrote, i.e. the guest sent; TX = frames the host
# handed to the monitor).
tap_counters() {
	ip -j -s -n "$(tb_ns "$1")" link show dev "$TB_TAP" |
		jq -r '.[0].stats64 | "\(.rx.packets) \(.tx.packets)"'
}

# quiet CMD...: run CMD with its output discarded (for t_check).
quiet() { "$@" >/dev/null 2>&1; }

# ------------------------------ replication pairs on the testbed (tests)
# A primary (`rrvm primary` in pri) replicating to a backup (`rrvm backup`
# in bak) over the replication link; the backup's fence takes pri off the
# switch (rrvm_tb_fence_cmd, experiments/lib/rrvm.sh). Fresh file names for
# every pair. Call after t_init_testbed.
#   P_PID P_LOG P_CTL                 the primary
#   B_PID B_LOG B_CTL B_REPORT        the backup (after a failover: the VM)
#   CC_PID CC_OUT CC_LOG CC_CSV       the consistency client
#   RB_PID RB_LOG                     the redis-benchmark load
REP_LISTEN= # ADDR:PORT the backup listens on (tb_t_rep_init)
P_PID='' P_LOG='' P_CTL='' B_PID='' B_LOG='' B_CTL='' B_REPORT=''
CC_PID='' CC_OUT='' CC_LOG='' CC_CSV='' RB_PID='' RB_LOG=''
T_PAIR=0
T_PY=

tb_t_rep_init() {
	REP_LISTEN=$TB_BAK_REP_IP:7777
	command -v "$RRVM_CC" >/dev/null 2>&1 || [ -x "$RRVM_CC" ] ||
		t_skip "$RRVM_CC is missing (run make)"
	T_PY=$(rrvm_python) || t_fail "python3 does not run"
	# The pair authenticates with a key of its own (--key-file).
	rrvm_make_key "$T_TMP" || t_fail "rrvm keygen failed"
}

# tb_t_backup_start [rrvm-option...]: the backup, listening on REP_LISTEN.
# shellcheck disable=SC2120 # options are for tests that want them
tb_t_backup_start() {
	T_PAIR=$((T_PAIR + 1))
	B_LOG=$T_TMP/backup.$T_PAIR.log
	B_CTL=$T_TMP/backup.$T_PAIR.ctl
	B_REPORT=$T_TMP/failover.$T_PAIR.json
	rm -f "$B_REPORT"
	rrvm_backup_bg "$TB_NS_BAK" "$B_LOG" "$B_CTL" "$REP_LISTEN" "$B_REPORT" \
		--fence-cmd "$(rrvm_tb_fence_cmd pri)" "$@"
	B_PID=$RRVM_LAST_PID
	T_EXTRA_LOGS+=("$B_LOG")
	wait_for 10 --pid "$B_PID" test -S "$B_CTL" ||
		t_fail "rrvm backup did not open its control socket: $(tail -n 5 "$B_LOG")"
}

# tb_t_primary_start MODE EPOCH_MS [rrvm-option...] [-- guest-option...]:
# the kv guest under `rrvm primary --backup ${P_BACKUP:-REP_LISTEN}`.
tb_t_primary_start() {
	local mode=$1 epoch=$2
	shift 2
	P_LOG=$T_TMP/primary.$T_PAIR.log
	P_CTL=$T_TMP/primary.$T_PAIR.ctl
	rrvm_primary_bg "$TB_NS_PRI" "$P_LOG" "$P_CTL" "$(guest_image kv)" \
		"${P_BACKUP:-$REP_LISTEN}" "$mode" "$epoch" --mem 64M "$@"
	P_PID=$RRVM_LAST_PID
	T_EXTRA_LOGS+=("$P_LOG")
	G_PID=$P_PID
	G_LOG=$P_LOG
}

# tb_t_pair_up MODE EPOCH_MS [primary option...]: backup, then primary;
# waits until the guest answers the client (ping + TCP 6379) and the
# backup holds the full checkpoint. Fails the test otherwise.
tb_t_pair_up() {
	local t0 rc
	t0=$(now_ms)
	tb_t_backup_start
	tb_t_primary_start "$@"
	guest_wait_ready 6379
	rrvm_wait_protected "$P_CTL" "$P_PID" 20
	rc=$?
	[ $rc = 2 ] && t_fail "rrvm primary exited before the backup held a checkpoint"
	[ $rc = 1 ] && t_fail "the backup did not acknowledge a full checkpoint within 20 s: $RRVM_REPL"
	t_info "pair $T_PAIR up ($1, epoch $2 ms) in $(( $(now_ms) - t0 )) ms: primary pid $P_PID, backup pid $B_PID"
}

# tb_t_retopology TOPOLOGY: the private testbed in TOPOLOGY (rebuilt with
# `up --force` when it has another; stop the pair first).
tb_t_retopology() {
	local out
	[ "$(tb_topology)" = "$1" ] && { TB_T_TOPOLOGY=$1; tb_load_topology; return 0; }
	out=$("$TB_CLI" --prefix "$TB_PREFIX" up --topology "$1" --force 2>&1) ||
		t_fail "testbed up --topology $1 failed: $out"
	TB_T_TOPOLOGY=$1
	tb_load_topology
	t_info "testbed now $1"
}

# tb_t_sym_pair_up MODE EPOCH_MS PRIMARY_REPORT [primary option...]: a pair
# whose daemons can swap roles (issue 11; chain_pair_up, experiments/lib/
# chain.sh): the backup on bak re-protects to pri's replication address
# after a takeover; the primary on pri listens there as a backup after a
# switchover, fences bak and writes its own takeover report to
# PRIMARY_REPORT. In inline/mirror each gets the capture options for its
# own host and the testbed's rewire command (the new primary puts the
# other host's capture in front of itself). Sets P_* and B_* as
# tb_t_pair_up; fails the test if the pair does not come up protected.
tb_t_sym_pair_up() {
	local mode=$1 epoch=$2 t0
	t0=$(now_ms)
	T_PAIR=$((T_PAIR + 1))
	B_LOG=$T_TMP/backup.$T_PAIR.log B_CTL=$T_TMP/backup.$T_PAIR.ctl B_REPORT=$T_TMP/failover.$T_PAIR.json
	P_LOG=$T_TMP/primary.$T_PAIR.log P_CTL=$T_TMP/primary.$T_PAIR.ctl
	T_EXTRA_LOGS+=("$B_LOG" "$P_LOG")
	CH_MEM=64M
	chain_pair_up "$@"
	local rc=$?
	G_PID=$P_PID G_LOG=$P_LOG
	[ $rc = 0 ] || t_fail "symmetric pair ($mode, ${TB_TOPOLOGY:-basic}): $CH_ERR"
	t_info "symmetric pair $T_PAIR up ($mode, ${TB_TOPOLOGY:-basic}, epoch $epoch ms) in $(( $(now_ms) - t0 )) ms: primary pid $P_PID, backup pid $B_PID"
}

# tb_t_cc_start [option...]: the consistency client (incr,keys, until
# SIGTERM) from the client namespace, with a CSV of every reply.
tb_t_cc_start() {
	CC_OUT=$T_TMP/cc.$T_PAIR.json
	CC_LOG=$T_TMP/cc.$T_PAIR.log
	CC_CSV=$T_TMP/cc.$T_PAIR.csv
	rrvm_cc_bg "$TB_NS_C" "$CC_LOG" "$CC_OUT" 0 --csv "$CC_CSV" "$@"
	CC_PID=$RRVM_LAST_PID
	T_EXTRA_LOGS+=("$CC_LOG")
}

# tb_t_cc_stop: SIGTERM the client, wait for its report (drain included).
# Sets CC_RC (0 no violation, 1 violations, 2 setup error) and CC_JSON.
tb_t_cc_stop() {
	CC_RC=
	CC_JSON=
	if pid_alive "$CC_PID"; then
		kill -TERM "$CC_PID" 2>/dev/null
	fi
	if pid_wait "$CC_PID" 30; then
		CC_RC=$RRVM_WAIT_RC
	else
		pid_stop "$CC_PID" 1
		CC_RC=timeout
	fi
	CC_JSON=$(jq -c . "$CC_OUT" 2>/dev/null)
	[ -n "$CC_JSON" ] || CC_JSON=null
}

# tb_t_load_start [redis-benchmark option...]: the redis-benchmark load
# (default -t set -r 100000 -c 10) from the client namespace.
tb_t_load_start() {
	RB_LOG=$T_TMP/rb.$T_PAIR.log
	rrvm_load_bg "$TB_NS_C" "$RB_LOG" "$@"
	RB_PID=$RRVM_LAST_PID
}

# tb_t_failover [TIMEOUT_S]: the fault (FO_FAULT, a function; default
# kill -9 of the primary), then wait for the backup's report (default
# 10 s). Sets FO_JSON (null if none) and FO_WALL_MS (fault -> report file
# seen). Returns 1 if there was no report.
FO_FAULT=tb_t_fault_kill9
FO_KILL_DETECTORS='link-closed|silence|both-paths-silent'
tb_t_fault_kill9() { rrvm_kill9 "$P_PID" || t_info "the primary had already exited"; }
tb_t_failover() {
	local t0 rc
	t0=$(now_ms)
	"$FO_FAULT"
	rrvm_wait_file "$B_REPORT" "$B_PID" $(( ${1:-10} * 1000 ))
	rc=$?
	if [ $rc = 2 ]; then
		pid_wait "$B_PID" 1
		t_info "rrvm backup exited (status ${RRVM_WAIT_RC:-?}) without a failover report"
	fi
	FO_WALL_MS=$(( $(now_ms) - t0 ))
	FO_JSON=$(jq -c . "$B_REPORT" 2>/dev/null)
	[ -n "$FO_JSON" ] || FO_JSON=null
	G_PID=$B_PID
	G_LOG=$B_LOG
	G_CTL=$B_CTL
	return $((rc != 0))
}

# tb_t_pair_down: stop the client, the load, the backup (or the VM it
# became) and the primary (ours, by PID), then put the testbed back as it
# was (tb_reset): both hosts unfenced, pri the primary (rewire, in inline
# and mirror) and the switch's memory of the guest forgotten (FDB flush),
# so the next pair's guest is found on pri.
tb_t_pair_down() {
	local p
	for p in "$CC_PID" "$RB_PID" "$B_PID" "$P_PID"; do
		[ -n "$p" ] && pid_stop "$p" 5
	done
	CC_PID='' RB_PID='' B_PID='' P_PID=''
	tb_reset || t_fail "testbed reset failed"
}

# b_status_get JQ: one field of the backup's status --json (empty if none).
b_status_get() {
	jq -r "($1) // empty" <<<"$(rrvm_backup_status "$B_CTL" 2>/dev/null)" 2>/dev/null
}

# tb_rcli ARGS...: redis-cli against the guest from the client (10 s limit).
tb_rcli() {
	ip netns exec "$TB_NS_C" timeout 10 redis-cli -h "$TB_GUEST_IP" -p 6379 "$@" 2>&1
}

# tb_t_check_failover LABEL [SETTLE_S]: the failover part of the issue 4
# acceptance, with the consistency client (tb_t_cc_start) and usually a
# load (tb_t_load_start) running on the pair:
#  before the kill: the backup is still replicating (no false failover
#    yet), DBSIZE acknowledged by the guest;
#  kill -9 of the primary (or the fault FO_FAULT names); the backup's
#    report arrives within 10 s, with fence_status 0, announce_status 0,
#    first_frame_seen, a committed epoch > 0, a detector matching
#    FO_DETECTOR (a regex; default: link-closed, or the heartbeat
#    silence when it beat the closed link: a killed process's sockets
#    close only after its memory is torn down) and a detect phase below
#    half the detect timeout (no waiting for the timeout; issue 14);
#  FO_AFTER (a function, if set) runs then: the end of the fault (e.g.
#    SIGCONT of a frozen primary), before the traffic settles;
#  SETTLE_S (default 1.5) s of traffic on the backup's VM, then: the client
#    and the load are still running (the load with no error), the client
#    reports no violation of any kind, no reconnect (the same connections
#    survived), every acknowledged key read back, replies after the kill;
#    redis-cli on a new connection: PING, the counter equals the client's
#    last INCR reply, DBSIZE >= the acknowledged DBSIZE before the kill;
#    `rrvm ctl status` of the backup's VM says running.
# Sets FO_JSON, CC_JSON, FO_STALL_MS, FO_SUMMARY (one line).
tb_t_check_failover() {
	local label=$1 settle=${2:-1.5} st db0 db1 ctr kill_mono after errs sil pstats
	st=$(rrvm_backup_status "$B_CTL" 2>/dev/null)
	sil=$(jq -r '.max_silence_ms // "?"' <<<"$st" 2>/dev/null)
	if ! t_check "$label: backup still replicating before the kill (longest silence so far ${sil} ms)" \
		json_true "$st" '.state == "replicating"'; then
		t_info "backup status: $st"
		[ -s "$B_REPORT" ] && t_info "FALSE FAILOVER before the kill: $(cat "$B_REPORT")"
	fi
	pstats=$(rrvm_repl_stats "$P_CTL" 2>/dev/null)
	db0=$(tb_rcli DBSIZE)
	kill_mono=$(mono_ms_py "$T_PY")
	tb_t_failover 10
	t_check "$label: failover report written within 10 s of kill -9 (${FO_WALL_MS} ms)" \
		test "$FO_JSON" != null
	t_info "$label: primary before the kill: $pstats"
	t_info "$label: report: $FO_JSON"
	t_check "$label: report: committed epoch > 0, fence and announce status 0, first frame seen" \
		json_true "$FO_JSON" '.committed_epoch > 0 and .fence_status == 0 and .announce_status == 0 and .first_frame_seen == true'
	t_check "$label: report: decided by $(jq -r .detector <<<"$FO_JSON")" \
		matches "$(jq -r .detector <<<"$FO_JSON")" "^(${FO_DETECTOR:-$FO_KILL_DETECTORS})\$"
	t_check "$label: report: detect phase $(jq -r .phases_ms.detect <<<"$FO_JSON") ms < half the detect timeout ($(jq -r .detect_timeout_ms <<<"$FO_JSON") ms)" \
		json_true "$FO_JSON" '.phases_ms.detect < .detect_timeout_ms / 2'
	[ -n "${FO_AFTER:-}" ] && "$FO_AFTER"
	# The timeline drivers place on their clients' clock: in order, and
	# the replay (reverse) inside the failover.
	t_check "$label: report: CLOCK_MONOTONIC timeline in order" \
		json_true "$FO_JSON" '.timeline_mono_ms as $t | $t.last_rx > 0 and $t.last_rx <= $t.detected and $t.detected <= $t.fenced and $t.fenced <= $t.restored and $t.restored <= $t.announced and $t.announced <= $t.first_frame_out and (.replay == null or (.replay.started_mono_ms >= $t.fenced and .replay.finished_mono_ms >= .replay.started_mono_ms))'
	sleep "$settle"
	t_check "$label: the backup's VM is running" pid_alive "$B_PID"
	t_check "$label: the consistency client is still running" pid_alive "$CC_PID"
	if [ -n "$RB_PID" ]; then
		t_check "$label: redis-benchmark still running after the failover" pid_alive "$RB_PID"
		errs=$(rb_errors "$RB_LOG")
		t_eq "$label: redis-benchmark reported no error" "" "$errs"
	fi
	tb_t_cc_stop
	t_eq "$label: consistency client exit status (0 = no violation)" 0 "$CC_RC"
	t_check "$label: no violation of any kind" json_true "$CC_JSON" \
		'.ok == true and ([.violations[]] | add) == 0'
	t_eq "$label: reconnects (0 = the same connections survived)" 0 "$(jq -r .reconnects <<<"$CC_JSON")"
	t_check "$label: every acknowledged key read back, none lost" json_true "$CC_JSON" \
		'.keys_lost == 0 and .final_verify_complete == true and .keys_acked > 0 and .keys_verified >= .keys_acked'
	after=$(awk -F, -v k="$kill_mono" '$1 ~ /^[0-9]+$/ && $1 / 1e6 > k { n++ } END { print n + 0 }' "$CC_CSV")
	t_check "$label: the client got replies after the kill ($after)" test "$after" -gt 0
	if [ "$CC_JSON" != null ]; then
		t_info "$label: client: $(jq -c '{replies, first_value, last_value, lost_increments, keys_acked, keys_lost, longest_stall_ms, reconnects, violations, latency_us}' <<<"$CC_JSON")"
	fi
	t_eq "$label: PING on a new connection to the backup's VM" PONG "$(tb_rcli PING)"
	ctr=$(tb_rcli GET consistency:ctr)
	t_eq "$label: the counter equals the client's last acknowledged INCR" \
		"$(jq -r '.last_value // "none"' <<<"$CC_JSON")" "$ctr"
	db1=$(tb_rcli DBSIZE)
	t_check "$label: DBSIZE $db1 >= $db0 acknowledged before the kill" \
		test "${db1//[^0-9]/}0" -ge "${db0//[^0-9]/}0"
	st=$(ctl "$B_CTL" status --json 2>&1)
	t_check "$label: rrvm ctl status on the backup's VM: running" json_true "$st" '.state == "running"'
	FO_STALL_MS=$(jq -r '.longest_stall_ms // "NA"' <<<"$CC_JSON")
	FO_SUMMARY="committed epoch $(jq -r .committed_epoch <<<"$FO_JSON"), detector $(jq -r .detector <<<"$FO_JSON") (threshold $(jq -r .detect_threshold_ms <<<"$FO_JSON") ms), detect $(jq -r .phases_ms.detect <<<"$FO_JSON") ms, fence $(jq -r .phases_ms.fence <<<"$FO_JSON"), restore $(jq -r .phases_ms.restore <<<"$FO_JSON"), announce $(jq -r .phases_ms.announce <<<"$FO_JSON"), first frame $(jq -r .phases_ms.first_frame_out <<<"$FO_JSON") ms; client stall $FO_STALL_MS ms, $(jq -r .replies <<<"$CC_JSON") replies, reconnects $(jq -r .reconnects <<<"$CC_JSON"); backup's longest silence before the kill $sil ms"
	t_info "$label: $FO_SUMMARY"
}

# tb_t_reverse_pair_up MODE: like tb_t_pair_up for the reverse-replication
# topologies (TB_T_TOPOLOGY inline|mirror): the backup captures with
# --capture ${RRVM_CAPTURE:-auto} (auto: ringbuf here) on the topology's
# capture port (and forwards on inline), then the primary
# in MODE (reverse|naive) with a 20 ms epoch (REVERSE_EPOCH_MS). More
# backup options may follow MODE.
tb_t_reverse_pair_up() {
	local mode=$1 t0 rc
	shift
	local -a fwd=()
	t0=$(now_ms)
	[ -n "$TB_BAK_FORWARD_IF" ] && fwd=(--forward-if "$TB_BAK_FORWARD_IF")
	tb_t_backup_start --topology "$TB_TOPOLOGY" \
		--capture-if "$TB_BAK_CAPTURE_IF" "${fwd[@]}" --capture "${RRVM_CAPTURE:-auto}" \
		--guest-mac "$TB_GUEST_MAC" --guest-ip "$TB_GUEST_IP" "$@"
	tb_t_primary_start "$mode" "${REVERSE_EPOCH_MS:-20}"
	guest_wait_ready 6379
	rrvm_wait_protected "$P_CTL" "$P_PID" 20
	rc=$?
	[ $rc = 0 ] || t_fail "the backup did not acknowledge a full checkpoint ($mode): $(tail -n 5 "$B_LOG")"
	t_info "pair $T_PAIR up ($mode, $TB_TOPOLOGY, epoch ${REVERSE_EPOCH_MS:-20} ms) in $(( $(now_ms) - t0 )) ms"
}
