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
	if [ -n "$G_LOG" ] && [ -s "$G_LOG" ]; then
		echo "  --- last lines of $( [ "$NATIVE" = 1 ] && echo stand-in || echo rrvm ) output ($G_LOG) ---"
		tail -n 30 "$G_LOG" | sed 's/^/  | /'
	fi
}

t_info() { echo "  $*"; }

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
		--mac "$G_MAC" --gw "$G_HOST_IP" --mem 64M --control "$G_CTL"
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
	tb_set_prefix "$RRVM_NS_PREFIX-tb" || t_fail "bad testbed prefix"
	rrvm_trap_cleanup
	tmpdir_create T_TMP
	# Record the names before creating anything: cleanup (and
	# run-integration.sh, if this test is killed) removes them.
	for r in $TB_ROLES; do
		RRVM_NS_LIST+=("$(tb_ns "$r")")
		[ -n "${RRVM_NS_REGISTRY:-}" ] && tb_ns "$r" >>"$RRVM_NS_REGISTRY"
	done
	out=$("$TB_CLI" --prefix "$TB_PREFIX" up 2>&1) || t_fail "testbed up failed: $out"
	t_info "$out"
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
