# shellcheck shell=bash
# CPU accounting by thread, for experiments that charge CPU time to the
# components of a run (experiments/scenarios/overhead.sh): snapshots of
# every thread of some processes (by thread name, /proc/PID/task/TID/comm;
# the daemons name theirs: vcpu work runs on the main thread, then
# repl-epoch, repl-ack, repl-heartbeat, capture, control...), of the
# kernel's ksoftirqd threads, and of the system-wide CPU and softirq
# counters; and the difference of two snapshots.
#
# Per-thread time is sum_exec_runtime (/proc/PID/task/TID/schedstat, ns;
# needs CONFIG_SCHED_INFO), not utime+stime (10 ms ticks). On a kernel
# without CONFIG_IRQ_TIME_ACCOUNTING (this one) the softirq work a thread's
# syscall triggers — e.g. a frame it sends crossing the veths and bridge to
# the receiver's socket — runs in that thread's context and is part of its
# time; softirq run on an otherwise idle CPU or in ksoftirqd is not. The
# system-wide softirq counter (/proc/stat) is a tick sample that overlaps
# both: it is reported beside the threads, never added to them.
#
# Source after netns.sh.

CPUACCT_KSOFTIRQD=''   # "TID TID..." of ksoftirqd/N, found once

# cpuacct_available: 0 if per-thread runtimes can be read here (else a
# reason on stdout, status 1).
cpuacct_available() {
	[ -r /proc/self/schedstat ] && return 0
	echo "/proc/PID/schedstat is missing (kernel without CONFIG_SCHED_INFO)"
	return 1
}

# cpuacct_threads PID ROLE [MAIN_NAME]: one line per thread of PID:
# "ROLE NAME TID RUNTIME_NS". NAME is the thread's comm, or MAIN_NAME for
# the main thread (TID = PID) when given. Nothing if PID is gone.
cpuacct_threads() {
	local pid=$1 role=$2 main=${3:-} t tid comm st
	for t in /proc/"$pid"/task/*; do
		tid=${t##*/}
		{ comm=$(<"$t/comm") && st=$(<"$t/schedstat"); } 2>/dev/null || continue
		[ -n "$main" ] && [ "$tid" = "$pid" ] && comm=$main
		echo "$role ${comm// /_} $tid ${st%% *}"
	done
}

# cpuacct_ksoftirqd: the kernel's softirq threads as "kernel ksoftirqd TID
# RUNTIME_NS" lines (softirq work deferred to them, on any CPU).
cpuacct_ksoftirqd() {
	local d c t
	if [ -z "$CPUACCT_KSOFTIRQD" ]; then
		for d in /proc/[0-9]*; do
			{ c=$(<"$d/comm"); } 2>/dev/null || continue
			[[ $c == ksoftirqd/* ]] && CPUACCT_KSOFTIRQD+=" ${d#/proc/}"
		done
	fi
	for t in $CPUACCT_KSOFTIRQD; do
		cpuacct_threads "$t" kernel ksoftirqd
	done
}

# cpuacct_system: "system NAME 0 VALUE" lines: busy_ns (all CPUs, not
# idle, iowait or steal), softirq_ns and steal_ns from /proc/stat (USER_HZ
# ticks, so 10 ms resolution), and net_rx / net_tx: softirqs raised
# (/proc/softirqs, all CPUs; a count, not time).
cpuacct_system() {
	local hz
	hz=$(getconf CLK_TCK 2>/dev/null) || hz=100
	awk -v hz="$hz" '
		FILENAME == "/proc/stat" && $1 == "cpu" {
			ns = 1e9 / hz
			printf "system busy_ns 0 %.0f\n", ($2 + $3 + $4 + $7 + $8) * ns
			printf "system softirq_ns 0 %.0f\n", $8 * ns
			printf "system steal_ns 0 %.0f\n", $9 * ns
		}
		FILENAME == "/proc/softirqs" && ($1 == "NET_RX:" || $1 == "NET_TX:") {
			s = 0; for (i = 2; i <= NF; i++) s += $i
			printf "system %s 0 %d\n", tolower(substr($1, 1, length($1) - 1)), s
		}' /proc/stat /proc/softirqs
}

# cpuacct_snapshot FILE [PID ROLE MAIN_NAME]...: every thread of each
# PID (MAIN_NAME may be "-" for none), ksoftirqd and the system counters
# into FILE, stamped with CLOCK_REALTIME ("time ns 0 NS" first).
cpuacct_snapshot() {
	local f=$1 us
	shift
	us=${EPOCHREALTIME/./}
	{
		echo "time ns 0 ${us}000"
		while [ $# -ge 3 ]; do
			[ -n "$1" ] && cpuacct_threads "$1" "$2" "${3#-}"
			shift 3
		done
		cpuacct_ksoftirqd
		cpuacct_system
	} >"$f"
}

# cpuacct_delta BEFORE AFTER: "ROLE NAME DELTA_NS" per role and name (the
# threads of one name summed), over the threads in AFTER: one that started
# in between counts from 0; one that ended in between is lost (and named
# in a "lost ROLE/NAME" line on stderr). "time ns DELTA" is the wall time.
cpuacct_delta() {
	awk '
		FNR == 1 { file++ }
		file == 1 { before[$1 SUBSEP $2 SUBSEP $3] = $4; next }
		{
			k = $1 SUBSEP $2 SUBSEP $3
			d = $4 - ((k in before) ? before[k] : 0)
			if (d < 0) d = 0
			sum[$1 " " $2] += d
			seen[k] = 1
			if (!($1 " " $2 in order)) { order[$1 " " $2] = ++n; name[n] = $1 " " $2 }
		}
		END {
			for (k in before) if (!(k in seen)) {
				split(k, p, SUBSEP)
				if (p[1] != "time") printf "lost %s/%s\n", p[1], p[2] > "/dev/stderr"
			}
			for (i = 1; i <= n; i++) printf "%s %.0f\n", name[i], sum[name[i]]
		}' "$1" "$2"
}
