#!/usr/bin/env bash
# Failover in buffered (Remus) mode under load (issue 4 acceptance), on a
# private four-host testbed (docs/testbed.md).
#
# ROUNDS times (RRVM_FAILOVER_ROUNDS, default 6), each with a fresh pair:
#  - `rrvm backup` in bak (default 500 ms detect timeout, fence = pri's
#    switch port down) and `rrvm primary --mode buffered --epoch 20` with
#    the kv guest in pri; the backup must acknowledge the full checkpoint;
#  - the consistency client (incr on one connection, unique-key SETs on a
#    second, every reply logged) and a redis-benchmark load (-t set
#    -r 100000 -c 10, under timeout) from the client;
#  - kill -9 of the primary at a random moment 0.8-2.5 s after the client
#    started;
#  - tb_t_check_failover (lib.sh): the backup's report within 10 s (fence,
#    announce ok, first frame seen); then zero violations (no lost or
#    repeated increment, no reset, no hang, no lost write), zero
#    reconnects (both client connections survived), every acknowledged key
#    present, replies after the kill, the benchmark still running without
#    error, the counter equal to the last acknowledged INCR, DBSIZE not
#    below the one acknowledged before the kill, the backup's VM answering
#    redis-cli on a new connection.
# Even rounds run the primary with a tiny delta cache (--delta-cache 256K,
# 64 pages) so that pages are evicted and go absolute while the load runs:
# the committed state must be exact all the same (the primary's stats must
# show evictions before the kill).
# Between rounds the pair is stopped, pri unfenced and the switch made to
# forget the guest on port-bak; the testbed stays up.
# Timings are printed, not asserted (the host is noisy): the backup's
# longest silence before each kill shows how close a false failover was.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

ROUNDS=${RRVM_FAILOVER_ROUNDS:-6}
EPOCH_MS=20
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || t_fail "RRVM_FAILOVER_ROUNDS must be a positive integer"

t_init_testbed redis-cli redis-benchmark ping
tb_t_rep_init

declare -a SUMMARY=()
stalls=()
for ((round = 1; round <= ROUNDS; round++)); do
	t_info "--- round $round of $ROUNDS"
	cache=()
	((round % 2 == 0)) && cache=(--delta-cache 256K)
	tb_t_pair_up buffered "$EPOCH_MS" "${cache[@]}"
	tb_t_cc_start
	tb_t_load_start
	delay=$((800 + RANDOM % 1701))
	wait_for 10 --pid "$CC_PID" test -s "$CC_CSV" || t_fail "the consistency client did not start: $(tail -n 5 "$CC_LOG")"
	sleep "$(awk -v d=$delay 'BEGIN { printf "%.3f", d / 1000 }')"
	if [ ${#cache[@]} -gt 0 ]; then
		ps=$(rrvm_repl_stats "$P_CTL" 2>/dev/null)
		t_check "round $round: the 256K delta cache evicted pages ($(jq -c .delta_cache <<<"$ps" 2>/dev/null))" \
			json_true "$ps" '.delta_cache.bytes_max == 262144 and .delta_cache.evictions > 0'
	fi
	t_info "round $round: kill -9 of the primary ${delay} ms after the client started${cache[*]:+ (${cache[*]})}"
	tb_t_check_failover "round $round"
	SUMMARY+=("round $round (kill at ${delay} ms): $FO_SUMMARY")
	stalls+=("$FO_STALL_MS")
	tb_t_pair_down
done

for line in "${SUMMARY[@]}"; do
	t_info "$line"
done
read -r med _ max _ <<<"$(printf '%s\n' "${stalls[@]}" | stats_summary)"
tb_t_down
t_finish "$ROUNDS failovers, client stall median $med ms, max $max ms"
