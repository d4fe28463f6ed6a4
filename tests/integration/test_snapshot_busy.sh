#!/usr/bin/env bash
# Snapshot of a busy VM (issue 3 acceptance, part 2), on a private
# four-host testbed (docs/testbed.md).
#
# The kv guest runs on the primary with the dirtier on (dirty=2000 pages/s)
# while redis-benchmark drives a SET load from the client
# (`-t set -n 200000 -c 20 -r 100000`, under timeout). While the load runs:
#  - three `rrvm ctl SOCK save FILE --json` WITHOUT --stop: each exits 0,
#    pages > 0, stopped = false, and the VM keeps serving (the monitor is
#    alive and the benchmark keeps making progress between saves);
#  - marker keys are written with redis-cli;
#  - one `save --stop --json`: stopped = true, the monitor exits 0.
# Then the primary is fenced and the last snapshot restored on the backup
# host: the service answers PING, every marker key has its value, DBSIZE
# > 0, `rrvm ctl status|stats --json` work on the restored VM, and the
# benchmark's own 20 connections carry on and it completes with exit 0.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

NMARK=20
t_init_testbed redis-cli redis-benchmark ping

rcli() { ip netns exec "$TB_NS_C" timeout 10 redis-cli -h "$TB_GUEST_IP" -p 6379 "$@" 2>&1; }
dbsize() { rcli DBSIZE; }
# shellcheck disable=SC2317 # called through wait_for / t_check
dbsize_over() { local n; n=$(dbsize); [[ $n =~ ^[0-9]+$ ]] && [ "$n" -gt "$1" ]; }
# shellcheck disable=SC2317 # called through t_check
bench_done() { grep -q 'requests per second' <(tr '\r' '\n' <"$BENCH_OUT"); }

tb_t_guest_boot pri kv dirty=2000
mon=$G_PID
ctl_sock=$G_CTL

# ------------------------------------------------------------- the load
BENCH_OUT=$T_TMP/bench.out
ns_bg "$TB_NS_C" "$BENCH_OUT" timeout 50 redis-benchmark -h "$TB_GUEST_IP" -p 6379 \
	-t set -n 200000 -c 20 -r 100000 -q
bench=$RRVM_LAST_PID
wait_for 10 --pid "$bench" dbsize_over 2000 ||
	t_fail "the benchmark did not get going (DBSIZE $(dbsize))"
t_info "load running: DBSIZE $(dbsize)"

# ------------------------------------------------- saves while busy
for i in 1 2 3; do
	n0=$(dbsize)
	sj=$(ctl "$ctl_sock" save "$T_TMP/busy-$i.rrvm" --json 2>&1)
	t_eq "busy save $i (no --stop): exit status" 0 "$?"
	t_info "$sj"
	t_check "busy save $i: pages > 0, encoded_bytes > 0, stopped false" json_true "$sj" \
		'.pages > 0 and .encoded_bytes > 0 and .stopped == false'
	t_check "busy save $i: monitor still running" pid_alive "$mon"
	t_check "busy save $i: benchmark still running" pid_alive "$bench"
	sleep 0.3
	n1=$(dbsize)
	t_check "busy save $i: the VM kept serving (DBSIZE $n0 -> $n1)" test "${n1:-0}" -ge "${n0:-0}"
done

# ----------------------------------------------------------- markers
for ((i = 0; i < NMARK; i++)); do
	printf 'SET marker:%d mark-%d-%s\n' "$i" "$i" "$RRVM_NS_PREFIX"
done | ip netns exec "$TB_NS_C" timeout 10 redis-cli -h "$TB_GUEST_IP" -p 6379 >"$T_TMP/markers.out" 2>&1
t_eq "$NMARK marker keys written (redis-cli said OK to each)" "$NMARK" "$(grep -c '^OK$' "$T_TMP/markers.out")"

# ------------------------------------------------- final save --stop
snap=$T_TMP/busy-final.rrvm
t_check "benchmark still running at the final save (it did not finish early)" pid_alive "$bench"
n_before=$(dbsize)
sj=$(ctl "$ctl_sock" save "$snap" --stop --json 2>&1)
t_eq "save --stop while busy: exit status" 0 "$?"
t_info "$sj"
t_check "save --stop: pages > 0, stopped true" json_true "$sj" '.pages > 0 and .stopped == true'
if pid_wait "$mon" 10; then
	t_eq "monitor exited on its own with status 0 after save --stop" 0 "$RRVM_WAIT_RC"
else
	t_check "monitor exited within 10 s of save --stop" false
	pid_stop "$mon"
fi
t_info "DBSIZE just before the final save: $n_before"

# ---------------------------------------------- restore on the backup
out=$("$TB_CLI" --prefix "$TB_PREFIX" fence pri 2>&1)
t_eq "fence pri: exit status ($out)" 0 "$?"
tb_t_restore bak "$snap"
t0=$(now_ms)
# shellcheck disable=SC2317 # called through wait_for
pong_ok() { [ "$(rcli PING)" = PONG ]; }
if wait_for 15 --pid "$G_PID" pong_ok; then
	t_check "restored service answers PING ($(( $(now_ms) - t0 )) ms after restore started)" true
else
	t_check "restored service answers PING within 15 s" false
fi
bad=0
for ((i = 0; i < NMARK; i++)); do
	v=$(rcli GET "marker:$i")
	[ "$v" = "mark-$i-$RRVM_NS_PREFIX" ] || { bad=$((bad + 1)); t_info "marker:$i = '$v'"; }
done
t_eq "all $NMARK marker keys present with their values" 0 "$bad"
n_after=$(dbsize)
t_check "DBSIZE > 0 after restore ($n_after; was $n_before at the save)" dbsize_over 0
t_check "DBSIZE after restore >= DBSIZE before the save" test "${n_after:-0}" -ge "${n_before:-1}"
st=$(ctl "$G_CTL" status --json 2>&1)
t_check "rrvm ctl status --json on the restored VM: running" json_true "$st" '.state == "running"'
st=$(ctl "$G_CTL" stats --json 2>&1)
t_check "rrvm ctl stats --json on the restored VM: valid, frames counted" json_true "$st" \
	'.net.rx_frames > 0 and .net.tx_frames > 0'

# The benchmark's connections survived the stop and the move.
if pid_wait "$bench" 40; then
	tr '\r' '\n' <"$BENCH_OUT" | grep 'requests per second' | sed 's/^/  | /'
	t_eq "redis-benchmark completed after the restore: exit status" 0 "$RRVM_WAIT_RC"
	t_check "redis-benchmark printed its SET result" bench_done
	t_check "no error in redis-benchmark output" lacks '[Ee]rror' "$(tr '\r' '\n' <"$BENCH_OUT")"
else
	t_check "redis-benchmark completed within 40 s of the restore" false
	tr '\r' '\n' <"$BENCH_OUT" | tail -n 3 | sed 's/^/  | /'
fi
t_check "restored monitor still running" pid_alive "$G_PID"
t_info "DBSIZE at the end: $(dbsize)"
tb_t_down
t_finish
