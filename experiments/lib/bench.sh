# shellcheck shell=bash
# What the subsystem benchmarks (experiments/bench-checkpoint.sh,
# bench-replication.sh) share: --quick/--help, full-or-quick defaults,
# fatal errors and non-fatal notes (counted into meta.json), and parts run
# with their CPU steal recorded. Set BENCH_NAME, source after netns.sh and
# rrvm.sh, then call bench_args "$@".

QUICK=0
FAILURES=0
declare -a NOTES=()
declare -A STEAL_PCT=() BUSY_LOAD=()
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
LOADAVG_END=''

# bench_args "$@": --quick, or --help (the script's header comment, up to
# `set -u`); anything else is a usage error.
bench_args() {
	local arg
	for arg in "$@"; do
		case "$arg" in
		--quick) QUICK=1 ;;
		-h | --help)
			sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
			exit 0
			;;
		*)
			echo "usage: $0 [--quick]" >&2
			exit 2
			;;
		esac
	done
}

q() { [ "$QUICK" = 1 ] && echo "$2" || echo "$1"; } # q FULL QUICK

fail() {
	say "$BENCH_NAME failed: $*"
	exit 1
}
note() { # a problem worth reporting, not fatal
	say "NOTE: $*"
	NOTES+=("$*")
	FAILURES=$((FAILURES + 1))
}

# run_part NAME FUNCTION: run it, recording steal % (NA if no ticks
# passed) and the load average.
run_part() {
	local a b
	a=$(cpu_ticks)
	"$2"
	b=$(cpu_ticks)
	STEAL_PCT[$1]=$(cpu_steal_pct "$a" "$b" NA)
	BUSY_LOAD[$1]=$(cut -d' ' -f1 /proc/loadavg)
	say "part $1: CPU steal ${STEAL_PCT[$1]}%, load average ${BUSY_LOAD[$1]}"
}
has_part() { [[ " $PARTS " == *" $1 "* ]]; }
