#!/usr/bin/env bash
# redis-benchmark against the kv guest: `-t ping,set,get,incr -n 20000 -q`
# (50 parallel clients, the default) must finish with exit status 0, print a
# requests-per-second figure for each of PING_INLINE, PING_MBULK, SET, GET,
# INCR, and no error. `rrvm ctl SOCKET stats --json` must be valid JSON whose
# counters grew over the run.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

t_init redis-benchmark jq
guest_boot kv

stats_json() { ctl "$G_CTL" stats --json; }

if [ "$NATIVE" != 1 ]; then
	before=$(stats_json) || t_fail "rrvm ctl stats --json failed before the run"
fi

c_exec timeout 300 redis-benchmark -h "$G_IP" -p 6379 -t ping,set,get,incr \
	-n 20000 -q >"$T_TMP/bench.out" 2>"$T_TMP/bench.err"
status=$?
tr '\r' '\n' <"$T_TMP/bench.out" | grep 'requests per second' | sed 's/^/  | /'
sed 's/^/  | stderr: /' "$T_TMP/bench.err"
t_eq "redis-benchmark exit status" 0 "$status"
# "NAME RPS P50" per final result line (progress updates are separated by
# carriage returns).
results=$(rb_quiet_rows "$T_TMP/bench.out")
for name in PING_INLINE PING_MBULK SET GET INCR; do
	rps=$(awk -v n="$name" '$1 == n { print $2 }' <<<"$results")
	t_check "$name has a requests-per-second figure (${rps:-none})" \
		awk -v r="${rps:-0}" 'BEGIN { exit !(r > 0) }'
done
t_eq "exactly 5 result lines" 5 "$(grep -c . <<<"$results")"
t_check "no error in redis-benchmark output" \
	lacks '[Ee][Rr][Rr][Oo][Rr]' "$(cat "$T_TMP/bench.out" "$T_TMP/bench.err" | tr '\r' '\n')"

if [ "$NATIVE" != 1 ]; then
	t_check "monitor still running" guest_alive
	after=$(stats_json)
	t_eq "stats --json exit status" 0 "$?"
	t_check "stats --json is valid JSON" json_true "$after" .
	echo "$after" | jq -c . | sed 's/^/  | /'
	for f in .exits.total .exits.wait .net.rx_frames .net.rx_bytes \
		.net.tx_frames .net.tx_bytes .wait_calls; do
		t_check "$f is a number > 0" json_true "$after" "($f | type) == \"number\" and $f > 0"
	done
	for f in .exits.io .exits.console .exits.other .net.rx_dropped .net.tx_dropped; do
		t_check "$f is a number" json_true "$after" "($f | type) == \"number\""
	done
	d_exits=$(jq -n --argjson a "$after" --argjson b "$before" '$a.exits.total - $b.exits.total' 2>/dev/null)
	d_rx=$(jq -n --argjson a "$after" --argjson b "$before" '$a.net.rx_frames - $b.net.rx_frames' 2>/dev/null)
	t_check "exits grew during the run (+${d_exits:-?})" test "${d_exits:-0}" -gt 0
	t_check "rx_frames grew by at least 100000 (5 x 20000 requests; +${d_rx:-?})" \
		test "${d_rx:-0}" -ge 100000
	t_info "exits per request over the run: $(awk -v e="${d_exits:-0}" 'BEGIN { printf "%.3f", e / 100000 }')"
fi
t_finish
