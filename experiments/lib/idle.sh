# shellcheck shell=bash
# Equal idle conditions for latency measurements. On this host an idle CPU
# costs 50-65 us to wake up (docs/experiments.md, "Idle policy"): a
# 1-client request/reply whose threads sleep between requests pays it
# several times per request, while a mode that keeps a CPU busy (the
# reverse backup's capture spin) does not, and would look faster than the
# unprotected baseline for that reason alone. So every mode, the baseline
# included, is measured with the same policy:
#
#   busy    one busy loop per CPU, pinned, SCHED_IDLE (and nice 19): no CPU
#           ever enters its idle state, and any runnable task preempts the
#           loop at once (the default)
#   nice19  the same loops at nice 19 under the normal scheduler (what the
#           issue's first measurement used; a woken task may wait for the
#           loop's slice)
#   none    nothing: idle CPUs sleep (the pre-2026-12 figures)
#
# The loops burn every otherwise idle cycle, so CPU-time accounting is done
# without them (experiments/scenarios/overhead.sh measures CPU and latency
# in separate runs). Loops are started and stopped by PID.
#
# Source after netns.sh.

IDLE_POLICIES="busy nice19 none"
IDLE_LOOP_PIDS=()

# idle_policy_check POLICY: 0 if known, else a message on stdout and 1.
idle_policy_check() {
	case "$1" in
	busy | nice19 | none) return 0 ;;
	esac
	echo "unknown idle policy '$1' (known: $IDLE_POLICIES)"
	return 1
}

# idle_policy_describe POLICY: the words for meta.json and captions.
idle_policy_describe() {
	case "$1" in
	busy) echo "busy-loops sched_idle x$(nproc)" ;;
	nice19) echo "busy-loops nice19 x$(nproc)" ;;
	none) echo "none (idle CPUs sleep)" ;;
	esac
}

# idle_loops_start POLICY: one low-priority busy loop per CPU (none: no-op).
# Returns 1 if a loop could not be started (the others are stopped).
idle_loops_start() {
	local cpu n
	[ "$1" = none ] && return 0
	[ ${#IDLE_LOOP_PIDS[@]} = 0 ] || idle_loops_stop
	n=$(nproc)
	for ((cpu = 0; cpu < n; cpu++)); do
		# nice, chrt and taskset exec each other: the PID is the loop's.
		if [ "$1" = busy ]; then
			bg_start /dev/null nice -n 19 chrt -i 0 taskset -c "$cpu" \
				sh -c 'while :; do :; done'
		else
			bg_start /dev/null nice -n 19 taskset -c "$cpu" \
				sh -c 'while :; do :; done'
		fi
		IDLE_LOOP_PIDS+=("$RRVM_LAST_PID")
	done
	sleep 0.05
	for cpu in "${IDLE_LOOP_PIDS[@]}"; do
		pid_alive "$cpu" || { idle_loops_stop; return 1; }
	done
	return 0
}

# idle_loops_stop: stop the loops idle_loops_start started (by PID).
idle_loops_stop() {
	local p
	for p in "${IDLE_LOOP_PIDS[@]}"; do
		pid_stop "$p" 2
	done
	IDLE_LOOP_PIDS=()
}
