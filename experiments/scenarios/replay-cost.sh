# shellcheck shell=bash
# summary: replay-log size and replay time at failover vs epoch length and request rate
#
# replay-cost — what reverse replication pays at a failover: the backup
# replays the client frames it logged since the last committed epoch, so
# the replay set grows with the epoch and with the request rate, and the
# replay time with the set; both stay small next to detection.
#
# For each topology (inline, mirror), epoch and client count, KILLS rounds
# of: a fresh reverse pair (kv guest); CLIENTS consistency clients (INCR,
# one connection each, PIPELINE requests in flight, each its own counter),
# a closed loop, so the request rate is what the pair sustains and is
# measured, not set: rate_rps = replies of all clients in the RATE_WINDOW_MS
# before the kill (from their per-reply CSVs, CLOCK_MONOTONIC); the
# backup's `status --json` (.reverse.gaps = capture gaps) just before
# kill -9 of the primary at a random KILL_MIN_MS..KILL_MAX_MS after the
# clients' first replies; the backup's failover report (.replay:
# logged_frames = frames in the log at the failover, frames and bytes
# replayed, replay_ms, regenerated outputs suppressed); AFTER s more
# traffic; the clients stopped (their violations, if any, are noted).
# Output: replay.csv (topology,epoch_ms,rate_rps,kill,logged_frames,
# replay_frames,replay_bytes,replay_ms,suppressed,capture_gaps), raw/
# (per kill: NAME.kill.json with the report, status and client summaries;
# client JSON + CSV), logs/.

scenario_params() {
	sc_param TOPOLOGIES "inline mirror" "inline mirror" "testbed topologies (reverse-inline, reverse-mirror)"
	sc_param EPOCHS "10 20 50 100" "20 100" "checkpoint epochs, ms"
	sc_param CLIENTS "1 4 16" "1 4 16" "consistency clients (closed loop; the rate they reach is measured)"
	sc_param PIPELINE 1 1 "requests in flight per client"
	sc_param KILLS 3 1 "kills per point (a fresh pair each)"
	sc_param KILL_MIN_MS 1000 1000 "earliest kill after the clients' first replies, ms"
	sc_param KILL_MAX_MS 3000 2000 "latest kill after the clients' first replies, ms"
	sc_param RATE_WINDOW_MS 1000 1000 "the request rate is measured over this long before the kill, ms"
	sc_param AFTER 1 1 "seconds of client traffic after the backup's report"
	SC_SCHEMA[replay.csv]="topology,epoch_ms,rate_rps,kill,logged_frames,replay_frames,replay_bytes,replay_ms,suppressed,capture_gaps"
}

# rc_rate KILL_MONO_MS CSV...: replies per second of all CSVs in the
# RATE_WINDOW_MS before the kill (empty if unknown).
rc_rate() {
	local k=$1
	shift
	[ -n "$k" ] || return 0
	awk -F, -v k="$k" -v w="$RATE_WINDOW_MS" '
		$1 ~ /^[0-9]+$/ { t = $1 / 1e6; if (t > k - w && t <= k) n++ }
		END { printf "%.0f\n", n * 1000 / w }' "$@"
}

# rc_point TOPOLOGY EPOCH CLIENTS K: one kill round, one replay.csv row; a
# round without a row (the pair did not come up, a false failover before
# the kill, no report) is tried once more.
rc_point() {
	rc_kill "$@" "rc-$1-$2-c$3-$4" && return 0
	sc_note "rc-$1-$2-c$3-$4: no row; trying the round once more"
	rc_kill "$@" "rc-$1-$2-c$3-$4-retry" || sc_note "rc-$1-$2-c$3-$4: no row on the second try either"
}

# rc_kill TOPOLOGY EPOCH CLIENTS K NAME: one round, one replay.csv row.
# 0 if the row was written, else 1 (noted).
rc_kill() {
	local topo=$1 ep=$2 nc=$3 k=$4 name=$5 i t_kill delay off rate
	local status='{}' report='{}' clients='[]' kill_mono='' false_fo=0 wall row
	local -a pids=() csvs=() jsons=()
	if ! sc_pair_up "$name" "reverse-$topo" "$ep"; then
		sc_pair_down
		return 1
	fi
	for ((i = 1; i <= nc; i++)); do
		csvs+=("$SC_OUT/raw/$name.client$i.csv")
		jsons+=("$SC_OUT/raw/$name.client$i.json")
		ns_bg "$TB_NS_C" "$SC_OUT/logs/$name.client$i.log" "$RRVM_CC" --host "$TB_GUEST_IP" \
			--mode incr --key "replay-cost:$k:$i" --pipeline "$PIPELINE" --duration 0 --quiet \
			--out "${jsons[-1]}" --csv "${csvs[-1]}"
		pids+=("$RRVM_LAST_PID")
	done
	# The delay runs from the moment every client has its first reply.
	for ((i = 0; i < nc; i++)); do
		if ! wait_for 10 --pid "${pids[i]}" awk 'NR == 2 { ok = 1; exit } END { exit !ok }' "${csvs[i]}"; then
			sc_note "$name: consistency client $((i + 1)) did not start: $(tail -n 2 "$SC_OUT/logs/$name.client$((i + 1)).log" | tr '\n' ' ')"
			sc_pair_down "${pids[@]}"
			return 1
		fi
	done
	sc_kill_primary "$name" "$KILL_MIN_MS" "$KILL_MAX_MS" 15000
	delay=$KR_DELAY_MS status=$KR_STATUS false_fo=$KR_FALSE_FAILOVER
	off=$KR_OFFSET_NS t_kill=$KR_KILL_REAL wall=$KR_KILL_TO_REPORT_MS
	sleep "$AFTER"
	for ((i = 0; i < nc; i++)); do
		kill -TERM "${pids[i]}" 2>/dev/null
	done
	for ((i = 0; i < nc; i++)); do
		pid_wait "${pids[i]}" 30 || { pid_stop "${pids[i]}" 1; sc_note "$name: client $((i + 1)) did not finish within 30 s of SIGTERM"; }
	done
	[ -n "$off" ] && kill_mono=$(sc_real_to_mono_ms "$t_kill" "$off")
	[ -n "$kill_mono" ] || sc_note "$name: cannot read CLOCK_MONOTONIC (python3): no rate"
	rate=$(rc_rate "$kill_mono" "${csvs[@]}")
	report=$(jq -c . "$B_REPORT" 2>/dev/null) || report=''
	[ -n "$report" ] || report='{}'
	clients=$(jq -cs 'map({replies, reconnects, longest_stall_ms, lost_increments, violations})' "${jsons[@]}" 2>/dev/null) || clients='[]'
	sc_pair_down "${pids[@]}"
	jq -n --arg name "$name" --arg topo "$topo" --argjson ep "$ep" --argjson nc "$nc" \
		--argjson pipeline "$PIPELINE" --argjson k "$k" --argjson delay "$delay" \
		--arg kill_mono "$kill_mono" --arg rate "$rate" --argjson wall "$wall" \
		--argjson false_fo "$false_fo" --argjson status "$status" --argjson report "$report" \
		--argjson clients "$clients" \
		'{name: $name, topology: $topo, epoch_ms: $ep, clients: $nc, pipeline: $pipeline, kill: $k,
		  delay_ms: $delay, kill_mono_ms: ($kill_mono | tonumber? // null),
		  rate_rps: ($rate | tonumber? // null), kill_to_report_ms: $wall,
		  false_failover_before_kill: ($false_fo == 1), backup_status_before_kill: $status,
		  failover_report: $report, clients_summary: $clients}' >"$SC_OUT/raw/$name.kill.json"
	if [ "$(jq '[.[].violations // {} | to_entries[].value] | add // 0' <<<"$clients")" != 0 ]; then
		sc_note "$name: the clients saw violations: $(jq -c '[.[].violations]' <<<"$clients")$([ "$false_fo" = 1 ] && echo " (after a false failover)")"
	fi
	if [ "$false_fo" = 1 ]; then
		sc_note "$name: no row: the report is of a false failover, not of the kill"
		return 1
	fi
	if [ "$report" = '{}' ] || [ "$(jq -r '.replay | type' <<<"$report")" != object ]; then
		[ "$report" = '{}' ] || sc_note "$name: the failover report has no replay section"
		return 1
	fi
	row=$(jq -rn --arg t "$topo" --arg e "$ep" --arg r "$rate" --arg k "$k" \
		--argjson f "$report" --argjson s "$status" '
		[$t, $e, $r, $k, $f.replay.logged_frames, $f.replay.frames, $f.replay.bytes,
		 $f.replay.replay_ms, $f.replay.suppressed, $s.reverse.gaps]
		| map(if . == null then "" else tostring end) | join(",")')
	echo "$row" >>"$SC_OUT/replay.csv"
	say "  $topo epoch $ep ms, $nc clients ($rate req/s), kill $k at $delay ms: $(jq -r '.replay | "logged \(.logged_frames) frames, replayed \(.frames) (\(.bytes) bytes) in \(.replay_ms) ms, \(.suppressed) suppressed"' <<<"$report"), capture gaps $(json_get "$status" .reverse.gaps)"
	return 0
}

scenario_main() {
	local t e c k
	sc_check_ints EPOCHS CLIENTS PIPELINE KILLS KILL_MIN_MS KILL_MAX_MS RATE_WINDOW_MS AFTER
	sc_check_modes TOPOLOGIES inline mirror
	[ "$KILL_MAX_MS" -ge "$KILL_MIN_MS" ] || sc_fail "KILL_MAX_MS < KILL_MIN_MS"
	[ "$KILL_MIN_MS" -ge "$RATE_WINDOW_MS" ] || sc_fail "KILL_MIN_MS < RATE_WINDOW_MS (the rate window would start before the load)"
	echo "topology,epoch_ms,rate_rps,kill,logged_frames,replay_frames,replay_bytes,replay_ms,suppressed,capture_gaps" >"$SC_OUT/replay.csv"
	sc_steps $(( $(wc -w <<<"$TOPOLOGIES") * $(wc -w <<<"$EPOCHS") * $(wc -w <<<"$CLIENTS") * KILLS ))
	for t in $TOPOLOGIES; do
		for ((k = 1; k <= KILLS; k++)); do
			for e in $EPOCHS; do
				for c in $CLIENTS; do
					sc_step "reverse-$t epoch $e ms, $c clients, kill $k/$KILLS"
					rc_point "$t" "$e" "$c" "$k"
				done
			done
		done
	done
	sc_noise method "$(jq -cn --arg w "$RATE_WINDOW_MS" '{rate: ("rate_rps = replies of all consistency clients (closed loop, INCR) in the " + $w + " ms before the kill: the load is a client count, the rate is what the pair sustained"),
		capture_gaps: "backup status .reverse.gaps just before the kill (cumulative since the backup started)",
		order: "kill rounds outermost within a topology, so every point gets a round before any gets a second"}')"
}
