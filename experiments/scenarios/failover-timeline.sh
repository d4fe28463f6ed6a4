# shellcheck shell=bash
# summary: client replies and latency in 10 ms bins around a fault (kill -9, freeze, links down, replication link down) or a planned switchover, with the failover phases
#
# failover-timeline — what a client sees when the primary fails: its
# replies stop at the fault and resume once the backup has detected it,
# fenced the primary, restored the VM and announced it; in reverse modes
# the backup also replays the client->guest frames it logged since the last
# commit. Detection (docs/replication-protocol.md): a crash closes the
# replication link (detected at once); a frozen host or one with every link
# down falls silent on both heartbeat paths (the adaptive threshold, tens of
# ms); the replication link alone down is no failover at all (the LAN path
# still hears the primary): buffered clients wait until the primary gives
# its backup up, reverse clients see nothing. The outage is about the same
# in every mode: reverse replication does not make failover slower than
# buffered (Remus), which also waits for the client's retransmission.
#
# For each fault in FAULTS, mode and kill, a fresh pair (kv guest, EPOCH
# ms; with LAN=1 the heartbeat path over the LAN too, --lan-peer /
# --lan-listen) and the consistency client (incr,keys; every reply's
# CLOCK_MONOTONIC time in its CSV) plus a redis-benchmark SET load of
# LOAD_CLIENTS connections; the fault hits the primary at a random moment
# (CLOCK_MONOTONIC taken then): crash = kill -9, freeze = SIGSTOP (SIGCONT
# after the report), links-down = every link of the primary's host down
# (up after the report), replication-link-down = its rep0 down for
# LINK_DOWN_MS, switchover = `rrvm ctl PRIMARY switchover` (planned: the
# VM moves to the backup host with no detection and no fence; the
# comparison point for the faults). The clients run AFTER s past the report (or the link's
# return). Replies are binned by reply time from WINDOW_BEFORE ms before to
# WINDOW_AFTER ms after the fault; the phases come from the report's
# timeline_mono_ms.
# Output: bins.csv (mode,kill,t_ms,replies,p50_ms,max_ms,fault; t_ms = bin
# start relative to the fault, empty bins have replies 0 and empty
# latencies), phases.csv (mode,kill,phase,start_ms,end_ms,fault; detect =
# last thing heard from the primary -> decision, fence, restore, announce,
# replay (reverse modes), first_frame = announced -> first guest frame; an
# instant never reached is an empty cell; no rows without a failover),
# stalls.csv (per kill: client's longest stall, violations, reconnects, the
# reply gap around the fault, false failover, the report's detector and
# detect phase, fault), raw/, logs/.

FT_FAULTS="crash freeze links-down replication-link-down switchover"

scenario_params() {
	sc_param MODES "buffered reverse-inline reverse-mirror" "buffered reverse-inline reverse-mirror" \
		"modes to kill (buffered, reverse-inline, reverse-mirror, naive)"
	sc_param FAULTS "crash" "$FT_FAULTS" \
		"faults, side by side in the figure ($FT_FAULTS)"
	sc_param LAN 1 1 "1: the heartbeat path over the LAN too (--lan-peer/--lan-listen); 0: the replication link only"
	sc_param LINK_DOWN_MS 3000 1500 "replication-link-down: how long rep0 stays down, ms"
	sc_param KILLS 3 1 "kills per mode (a fresh pair each)"
	sc_param EPOCH 20 20 "checkpoint epoch, ms"
	sc_param WINDOW_BEFORE 500 500 "bins before the kill, ms (multiple of 10)"
	sc_param WINDOW_AFTER 1500 1500 "bins after the kill, ms (multiple of 10)"
	sc_param KILL_MIN_MS 1000 1000 "earliest kill after the client's first reply, ms"
	sc_param KILL_MAX_MS 3000 3000 "latest kill after the client's first reply, ms"
	sc_param AFTER 2 2 "seconds of client traffic after the backup's report"
	sc_param LOAD_CLIENTS 5 5 "redis-benchmark SET connections beside the consistency client"
	SC_SCHEMA[bins.csv]="mode,kill,t_ms,replies,p50_ms,max_ms,fault"
	SC_SCHEMA[phases.csv]="mode,kill,phase,start_ms,end_ms,fault"
}

# ft_bins MODE KILL CSV KILL_MONO_MS FAULT: bins.csv rows of one kill.
ft_bins() {
	awk -F, -v k="$4" -v a="$WINDOW_BEFORE" -v b="$WINDOW_AFTER" '
		NR > 1 && $1 ~ /^[0-9]+$/ {
			t = $1 / 1e6 - k
			if (t >= -a && t < b) printf "%d %.6f\n", int((t + a) / 10), $4 / 1e6
		}' "$3" | sort -k1,1n -k2,2g | awk -v m="$1" -v kill="$2" -v a="$WINDOW_BEFORE" -v b="$WINDOW_AFTER" -v f="$5" '
		{ n[$1]++; v[$1, n[$1]] = $2 }
		END {
			for (i = 0; i < (a + b) / 10; i++) {
				if (n[i]) printf "%s,%s,%d,%d,%.3f,%.3f,%s\n", m, kill, i * 10 - a, n[i], v[i, int((n[i] + 1) / 2)], v[i, n[i]], f
				else printf "%s,%s,%d,0,,,%s\n", m, kill, i * 10 - a, f
			}
		}'
}

# ft_gap CSV KILL_MONO_MS: the longest wait between consecutive replies
# (any connection) that spans the kill or starts after it, within the
# window: "FROM_MS TO_MS GAP_MS" relative to the kill (empty if none).
ft_gap() {
	awk -F, -v k="$2" -v a="$WINDOW_BEFORE" -v b="$WINDOW_AFTER" '
		NR > 1 && $1 ~ /^[0-9]+$/ { t = $1 / 1e6 - k; if (t >= -a && t < b) print t }' "$1" |
		sort -g | awk '
		NR > 1 && $1 > 0 && $1 - p > g { g = $1 - p; f = p; to = $1 }
		{ p = $1 }
		END { if (g > 0) printf "%.1f %.1f %.1f\n", f, to, g }'
}

# ft_kill FAULT MODE K: one kill, its rows in the three CSVs.
ft_kill() {
	local fault=$1 mode=$2 k=$3 name=$1-$2-$3 gap viol stall
	local -a opt=(--delay "$KILL_MIN_MS" "$KILL_MAX_MS" --after "$AFTER" --load-clients "$LOAD_CLIENTS"
		--fault "$fault" --link-down "$LINK_DOWN_MS")
	[ "$mode" = naive ] && opt+=(--stall-timeout 2000)
	if [ "$LAN" = 1 ]; then
		opt+=(-- --lan-listen "$TB_BAK_LAN_IP:7778" --primary-opt --lan-peer --primary-opt "$TB_BAK_LAN_IP:7778")
	fi
	sc_kill_round "$name" "$mode" "$EPOCH" "${opt[@]}"
	[ -n "$KR_DELAY_MS" ] || return 0 # no pair or no client: noted already
	if [ -z "$KR_KILL_MONO_MS" ] || [ ! -s "$KR_CSV" ]; then
		sc_note "$name: no kill time or no client CSV; no bins"
		return 0
	fi
	if [ -n "$KR_STOP_MONO_MS" ] && awk -v s="$KR_STOP_MONO_MS" -v k="$KR_KILL_MONO_MS" -v b="$WINDOW_AFTER" 'BEGIN { exit !(s < k + b) }'; then
		sc_note "$name: the client stopped $(awk -v s="$KR_STOP_MONO_MS" -v k="$KR_KILL_MONO_MS" 'BEGIN { printf "%.0f", s - k }') ms after the kill, before the window's end ($WINDOW_AFTER ms): the last bins are empty for that reason"
	fi
	ft_bins "$mode" "$k" "$KR_CSV" "$KR_KILL_MONO_MS" "$fault" >>"$SC_OUT/bins.csv"
	if [ "$KR_REPORT" != '{}' ]; then
		jq -r --arg m "$mode" --arg k "$k" --arg f "$fault" --argjson t "$KR_KILL_MONO_MS" '
			def rel: if . == null or . == 0 then null else ((. - $t) * 1000 | round / 1000) end;
			.timeline_mono_ms as $l |
			if $l == null then error("no timeline_mono_ms in the report (old build/rrvm? run make)") else . end |
			[["detect", $l.last_rx, $l.detected], ["fence", $l.detected, $l.fenced],
			 ["restore", $l.fenced, $l.restored], ["announce", $l.restored, $l.announced]]
			+ (if .replay != null then [["replay", .replay.started_mono_ms, .replay.finished_mono_ms]] else [] end)
			+ [["first_frame", $l.announced, $l.first_frame_out]]
			| .[] | [$m, $k, .[0], (.[1] | rel), (.[2] | rel), $f]
			| map(if . == null then "" else tostring end) | join(",")' <<<"$KR_REPORT" >>"$SC_OUT/phases.csv" ||
			sc_note "$name: unreadable failover report"
	fi
	read -r -a gap <<<"$(ft_gap "$KR_CSV" "$KR_KILL_MONO_MS")"
	viol=$(jq -r '[.violations[]?] | add // empty' <<<"$KR_CLIENT")
	stall=$(json_get "$KR_CLIENT" .longest_stall_ms)
	jq -rn --arg m "$mode" --arg k "$k" --arg d "$KR_DELAY_MS" --arg ff "$KR_FALSE_FAILOVER" --arg fault "$fault" \
		--argjson c "$KR_CLIENT" --argjson f "$KR_REPORT" --arg t "$KR_KILL_MONO_MS" \
		--arg g0 "${gap[0]:-}" --arg g1 "${gap[1]:-}" --arg g2 "${gap[2]:-}" --arg w "$KR_KILL_TO_REPORT_MS" --arg rc "$KR_CLIENT_RC" '
		def rel: if . == null or . == 0 then null else ((. - ($t | tonumber)) * 10 | round / 10) end;
		[$m, $k, $d, $ff, $c.longest_stall_ms, ([$c.violations[]?] | add), $c.reconnects, $rc,
		 $g0, $g1, $g2, ($f.timeline_mono_ms.last_rx | rel), ($f.timeline_mono_ms.first_frame_out | rel), $w, $f.total_ms,
		 $f.detector, $f.phases_ms.detect, $f.detect_threshold_ms, $fault]
		| map(if . == null then "" else tostring end) | join(",")' >>"$SC_OUT/stalls.csv"
	say "  $fault $mode kill $k at ${KR_DELAY_MS} ms$(json_get "$KR_REPORT" .detector | sed 's/^/ (/; s/$/)/'): replies stop for ${gap[2]:-?} ms (${gap[0]:-?} -> ${gap[1]:-?} ms), client's longest stall ${stall:-?} ms, violations ${viol:-?}, report after ${KR_KILL_TO_REPORT_MS:-?} ms$([ "$KR_FALSE_FAILOVER" = 1 ] && echo ", FALSE FAILOVER before the kill")"
}

scenario_main() {
	local m k
	local f
	sc_check_ints KILLS EPOCH WINDOW_BEFORE WINDOW_AFTER KILL_MIN_MS KILL_MAX_MS AFTER LOAD_CLIENTS LINK_DOWN_MS
	sc_check_modes MODES buffered reverse-inline reverse-mirror naive
	# shellcheck disable=SC2086 # the list, one word each
	sc_check_modes FAULTS $FT_FAULTS
	case "$LAN" in 0 | 1) ;; *) sc_fail "LAN must be 0 or 1" ;; esac
	if [ $((WINDOW_BEFORE % 10)) != 0 ] || [ $((WINDOW_AFTER % 10)) != 0 ]; then
		sc_fail "WINDOW_BEFORE and WINDOW_AFTER must be multiples of 10 ms"
	fi
	[ "$KILL_MAX_MS" -ge "$KILL_MIN_MS" ] || sc_fail "KILL_MAX_MS < KILL_MIN_MS"
	[ "$KILL_MIN_MS" -ge "$WINDOW_BEFORE" ] || sc_note "KILL_MIN_MS < WINDOW_BEFORE: the first bins of an early kill precede the client's start"
	echo "mode,kill,t_ms,replies,p50_ms,max_ms,fault" >"$SC_OUT/bins.csv"
	echo "mode,kill,phase,start_ms,end_ms,fault" >"$SC_OUT/phases.csv"
	echo "mode,kill,delay_ms,false_failover,longest_stall_ms,violations,reconnects,client_exit,gap_from_ms,gap_to_ms,gap_ms,last_rx_ms,first_frame_out_ms,kill_to_report_ms,report_total_ms,detector,detect_ms,detect_threshold_ms,fault" >"$SC_OUT/stalls.csv"
	sc_steps $(( $(wc -w <<<"$FAULTS") * $(wc -w <<<"$MODES") * KILLS ))
	for f in $FAULTS; do
		for m in $MODES; do
			for ((k = 1; k <= KILLS; k++)); do
				sc_step "$f $m kill $k/$KILLS"
				ft_kill "$f" "$m" "$k"
			done
		done
	done
	sc_noise kills "$(awk -F, 'NR > 1 { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", $1, $2, $5, $6, $7, $11, $4, $19, $16 }' "$SC_OUT/stalls.csv" |
		jq -Rsc '[split("\n")[] | select(length > 0) | split("\t") |
			{mode: .[0], kill: (.[1] | tonumber), longest_stall_ms: (.[2] | tonumber? // null),
			 violations: (.[3] | tonumber? // null), reconnects: (.[4] | tonumber? // null),
			 reply_gap_ms: (.[5] | tonumber? // null), false_failover: (.[6] == "1"),
			 fault: .[7], detector: (if .[8] == "" then null else .[8] end)}]
		| {per_kill: ., note: "longest_stall_ms is the consistency client'"'"'s; reply_gap_ms the longest gap between replies at or after the kill in its CSV (stalls.csv); a false failover (host stall > detect timeout before the kill) misplaces the kill"}')"
}
