# shellcheck shell=bash
# Shared shell helpers for rrvm's netns testbed: namespaces, TAP and veth
# plumbing, background processes, readiness polling and cleanup.
#
# Source it from bash (not sh). Everything a script creates through these
# helpers is recorded and torn down by rrvm_cleanup, which runs on EXIT (and
# on INT/TERM via exit):
#   - background processes: only the PIDs started with ns_bg/bg_start, by PID;
#   - namespaces: only those created with ns_create;
#   - temporary directories: only those created with tmpdir_create.
# Never kills by name, never touches other namespaces.
#
# Addresses: 10.77.0.0/24 is the guest LAN on a TAP (host side 10.77.0.1,
# guest 10.77.0.2); 10.77.1.0/24 is a veth link to a second namespace.
# Traffic only ever goes to these addresses inside namespaces we created, or
# to loopback.
#
# Environment:
#   RRVM_NS_REGISTRY  if set, each created namespace name is appended to this
#                     file (tests/run-integration.sh uses it to remove
#                     namespaces left behind by a test that was killed).
#   RRVM_KEEP=1       do not clean up (debugging); prints what was left.

if [ -n "${RRVM_NETNS_SH_LOADED:-}" ]; then
	return 0
fi
RRVM_NETNS_SH_LOADED=1

RRVM_NS_LIST=()      # namespaces we created
RRVM_PID_LIST=()     # background PIDs we started and have not reaped
RRVM_TMP_LIST=()     # temporary directories we created
RRVM_LAST_PID=
RRVM_CLEANED=

# Prefix for namespace names: unique per script instance.
RRVM_NS_PREFIX="rrvm-t-$$"

# ------------------------------------------------------------------ logging
log_ts() { date +%H:%M:%S; }
# Progress line on stderr.
say() { printf '[%s] %s\n' "$(log_ts)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Milliseconds since the epoch (bash 5: no fork).
now_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((t / 1000))
}

# ---------------------------------------------------------------- privilege
is_root() { [ "$(id -u)" = 0 ]; }

# Is /dev/kvm present and usable (opens read-write, KVM_GET_API_VERSION=12)?
# Prints the reason it is not on stdout and returns 1.
kvm_usable() {
	if [ ! -e /dev/kvm ]; then
		echo "/dev/kvm does not exist"
		return 1
	fi
	if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		echo "/dev/kvm is not readable and writable by uid $(id -u)"
		return 1
	fi
	if command -v python3 >/dev/null 2>&1; then
		local out
		if ! out=$(python3 -c '
import fcntl, os, sys
try:
    fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    v = fcntl.ioctl(fd, 0xAE00)  # KVM_GET_API_VERSION
except OSError as e:
    print("cannot use /dev/kvm: %s" % e.strerror); sys.exit(1)
if v != 12:
    print("unexpected KVM API version %d" % v); sys.exit(1)
' 2>&1); then
			echo "$out"
			return 1
		fi
	else
		# No python: at least check that it opens.
		if ! { : <>/dev/kvm; } 2>/dev/null; then
			echo "cannot open /dev/kvm"
			return 1
		fi
	fi
	return 0
}

# ------------------------------------------------------------------ cleanup
tmpdir_create() { # VAR -> creates a private temp dir, stores its path in VAR
	local __d
	__d=$(mktemp -d "${TMPDIR:-/tmp}/rrvm-t.XXXXXX") || die "mktemp failed"
	RRVM_TMP_LIST+=("$__d")
	printf -v "$1" '%s' "$__d"
}

_pid_forget() {
	local p keep=()
	for p in "${RRVM_PID_LIST[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	RRVM_PID_LIST=("${keep[@]}")
}

# Stop one of our background PIDs: SIGTERM, then SIGKILL after GRACE
# seconds (default 5). Reaps it. Returns its exit status (or 0 if it was
# not ours).
pid_stop() {
	local pid=$1 grace=${2:-5} i rc=0 ours=
	local p
	for p in "${RRVM_PID_LIST[@]}"; do
		[ "$p" = "$pid" ] && ours=1
	done
	[ -n "$ours" ] || return 0
	# Our unreaped child: its PID cannot have been reused.
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < grace * 10; i++)); do
			pid_alive "$pid" || break
			sleep 0.1
		done
		if pid_alive "$pid"; then
			say "pid $pid did not stop after SIGTERM; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null
		fi
	fi
	wait "$pid" 2>/dev/null
	rc=$?
	_pid_forget "$pid"
	return $rc
}

# Is PID still running (not a zombie)?
pid_alive() {
	local st
	kill -0 "$1" 2>/dev/null || return 1
	{ st=$(<"/proc/$1/stat"); } 2>/dev/null || return 1
	st=${st##*) }   # the command name in (...) may contain spaces
	st=${st%% *}
	[ "$st" != Z ]
}

# shellcheck disable=SC2034 # RRVM_WAIT_RC is read by callers
# pid_wait_ms PID MS: wait for one of our background PIDs to exit, at most
# MS milliseconds (<= 0: just check). On exit: reaps it, sets RRVM_WAIT_RC,
# returns 0. On timeout: returns 1, leaves it running.
pid_wait_ms() {
	local pid=$1 deadline
	deadline=$(( $(now_ms) + $2 ))
	RRVM_WAIT_RC=
	while pid_alive "$pid"; do
		[ "$(now_ms)" -ge "$deadline" ] && return 1
		sleep 0.02
	done
	wait "$pid" 2>/dev/null
	RRVM_WAIT_RC=$?
	_pid_forget "$pid"
	return 0
}

# pid_wait PID SECONDS (integer): as pid_wait_ms.
pid_wait() { pid_wait_ms "$1" $(( $2 * 1000 )); }

rrvm_cleanup() {
	local rc=$? pid ns d
	[ -n "$RRVM_CLEANED" ] && return $rc
	RRVM_CLEANED=1
	trap - INT TERM
	if [ "${RRVM_KEEP:-0}" = 1 ]; then
		say "RRVM_KEEP=1: leaving pids ${RRVM_PID_LIST[*]:-none}, namespaces ${RRVM_NS_LIST[*]:-none}, dirs ${RRVM_TMP_LIST[*]:-none}"
		return $rc
	fi
	for pid in "${RRVM_PID_LIST[@]}"; do
		pid_stop "$pid" 5 >/dev/null 2>&1
	done
	for ns in "${RRVM_NS_LIST[@]}"; do
		ip netns delete "$ns" 2>/dev/null
	done
	RRVM_NS_LIST=()
	for d in "${RRVM_TMP_LIST[@]}"; do
		case "$d" in
		*/rrvm-t.*) rm -rf -- "$d" ;;
		esac
	done
	RRVM_TMP_LIST=()
	return $rc
}

# Install the cleanup trap. Call once, early.
rrvm_trap_cleanup() {
	trap rrvm_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# --------------------------------------------------------------- namespaces
# ns_create VAR SUFFIX: create namespace rrvm-t-<pid>-SUFFIX with lo up;
# store its name in VAR.
ns_create() {
	local __name="$RRVM_NS_PREFIX-$2"
	ip netns add "$__name" || die "cannot create namespace $__name"
	RRVM_NS_LIST+=("$__name")
	if [ -n "${RRVM_NS_REGISTRY:-}" ]; then
		echo "$__name" >>"$RRVM_NS_REGISTRY"
	fi
	ip -n "$__name" link set lo up || die "cannot bring lo up in $__name"
	printf -v "$1" '%s' "$__name"
}

# Run a command inside a namespace (foreground).
ns_exec() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# ns_add_tap NS [DEV] [ADDR/PREFIX]: persistent TAP device in NS, addressed
# and up (default tap0, 10.77.0.1/24). It shows NO-CARRIER until a monitor
# attaches to it.
ns_add_tap() {
	local ns=$1 dev=${2:-tap0} addr=${3:-10.77.0.1/24}
	ns_exec "$ns" ip tuntap add dev "$dev" mode tap ||
		die "cannot create tap $dev in $ns"
	ip -n "$ns" addr add "$addr" dev "$dev" || die "cannot address $dev in $ns"
	ip -n "$ns" link set "$dev" up || die "cannot bring $dev up in $ns"
}

# ns_add_veth NS_A DEV_A ADDR_A NS_B DEV_B ADDR_B: veth pair between two of
# our namespaces (created directly inside them; nothing in the root ns).
ns_add_veth() {
	local nsa=$1 deva=$2 addra=$3 nsb=$4 devb=$5 addrb=$6
	ip -n "$nsa" link add "$deva" type veth peer name "$devb" netns "$nsb" ||
		die "cannot create veth $deva/$devb"
	ip -n "$nsa" addr add "$addra" dev "$deva" || die "cannot address $deva"
	ip -n "$nsb" addr add "$addrb" dev "$devb" || die "cannot address $devb"
	ip -n "$nsa" link set "$deva" up || die "cannot bring $deva up"
	ip -n "$nsb" link set "$devb" up || die "cannot bring $devb up"
}

# ---------------------------------------------------- background processes
# ns_bg NS LOGFILE CMD...: start CMD in NS in the background, stdout+stderr
# to LOGFILE, stdin from /dev/null. PID in RRVM_LAST_PID (it is CMD's own
# PID: `ip netns exec` execs it).
ns_bg() {
	local ns=$1 logf=$2
	shift 2
	ip netns exec "$ns" "$@" </dev/null >"$logf" 2>&1 &
	RRVM_LAST_PID=$!
	RRVM_PID_LIST+=("$RRVM_LAST_PID")
}

# bg_start LOGFILE CMD...: same, in the current namespace.
bg_start() {
	local logf=$1
	shift
	"$@" </dev/null >"$logf" 2>&1 &
	RRVM_LAST_PID=$!
	RRVM_PID_LIST+=("$RRVM_LAST_PID")
}

# --------------------------------------------------------------- readiness
# wait_for TIMEOUT_S [--pid PID] CMD...: poll CMD (quietly) every 0.1 s
# until it succeeds. Returns 0 when it does, 1 on timeout, 2 if PID (one we
# are watching, e.g. the monitor) exited first.
wait_for() {
	local timeout=$1 watch='' deadline
	shift
	if [ "${1:-}" = --pid ]; then
		watch=$2
		shift 2
	fi
	deadline=$(( $(now_ms) + timeout * 1000 ))
	while :; do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		if [ -n "$watch" ] && ! pid_alive "$watch"; then
			return 2
		fi
		[ "$(now_ms)" -ge "$deadline" ] && return 1
		sleep 0.1
	done
}

# Probes usable with wait_for (run inside NS).
probe_ping() { ip netns exec "$1" ping -n -q -c1 -W1 "$2"; }
probe_tcp() { # NS IP PORT
	# shellcheck disable=SC2016 # $0 $1 expand in the inner bash
	ip netns exec "$1" timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$2" "$3"
}
