# shellcheck shell=bash
# summary: p50/p99 request latency per mode across checkpoint epochs
#
# latency-vs-epoch — the paper's central claim: a buffered (Remus) client
# waits for the epoch's acknowledgement, so its latency grows with the
# epoch; reverse replication releases output at once, so its latency stays
# flat near the unreplicated baseline at every epoch.
#
# For each mode and epoch, a fresh pair (kv guest) and the consistency
# client doing INCR over one connection, one request in flight, for
# DURATION seconds (buffered: long enough for at least 50 requests). `none`
# (the same monitor, no replication) is measured first and last: the
# same-run baseline and the host's drift (meta.json noise). Every client
# run, none included, has the same idle policy (IDLE, default one
# SCHED_IDLE busy loop per CPU: experiments/lib/idle.sh), recorded in
# meta.json idle_policy.
# Output: latency.csv (mode,epoch_ms,round,requests,p50_ms,p99_ms,max_ms,rps),
# raw/ (client JSON and per-reply CSV), logs/.

scenario_params() {
	sc_param MODES "buffered reverse-inline reverse-mirror" "buffered reverse-inline reverse-mirror" \
		"replicated modes to measure"
	sc_param EPOCHS "5 10 20 50 100 200" "5 20 100" "checkpoint epochs, ms"
	sc_param DURATION 5 2 "seconds of client traffic per point"
	sc_param ROUNDS 2 1 "repetitions of every replicated point"
	sc_idle_param
	SC_SCHEMA[latency.csv]="mode,epoch_ms,round,requests,p50_ms,p99_ms,max_ms,rps"
}

# lat_point NAME MODE EPOCH ROUND: one pair, one client run, one CSV row.
lat_point() {
	local name=$1 mode=$2 epoch=$3 round=$4 dur=$DURATION j
	[ "$mode" = buffered ] && dur=$(awk -v d="$DURATION" -v e="$epoch" 'BEGIN { m = 50 * e / 1000; print (m > d) ? m : d }')
	if sc_pair_up "$name" "$mode" "${epoch:-20}"; then
		j=$(sc_cc "$name" "$dur")
		jq -r --arg m "$mode" --arg e "$epoch" --arg r "$round" '
			def ms: . / 1000 * 100000 | round / 100000;
			[$m, $e, $r, .replies, (.latency_us.p50 | ms), (.latency_us.p99 | ms),
			 (.latency_us.max | ms), (if .duration_s > 0 then (.replies / .duration_s * 10 | round / 10) else null end)]
			| map(if . == null then "" else tostring end) | join(",")' <<<"$j" >>"$SC_OUT/latency.csv" ||
			sc_note "$name: no client report"
		say "  $mode${epoch:+ epoch $epoch ms}: p50 $(jq -r '.latency_us.p50' <<<"$j") us, p99 $(jq -r '.latency_us.p99' <<<"$j") us, $(jq -r .replies <<<"$j") requests"
	fi
	sc_pair_down
}

scenario_main() {
	local r m e first last
	sc_check_ints EPOCHS DURATION ROUNDS
	sc_check_modes MODES buffered reverse-inline reverse-mirror naive
	echo "mode,epoch_ms,round,requests,p50_ms,p99_ms,max_ms,rps" >"$SC_OUT/latency.csv"
	sc_steps $(( 2 + $(wc -w <<<"$MODES") * $(wc -w <<<"$EPOCHS") * ROUNDS ))
	sc_step "none (baseline, first)"
	lat_point none-1 none "" 1
	for ((r = 1; r <= ROUNDS; r++)); do
		for m in $MODES; do
			for e in $EPOCHS; do
				sc_step "$m epoch $e ms (round $r)"
				lat_point "$m-$e-$r" "$m" "$e" "$r"
			done
		done
	done
	sc_step "none (baseline, last)"
	lat_point none-2 none "" 2
	first=$(awk -F, '$1 == "none" && $3 == 1 { print $5 }' "$SC_OUT/latency.csv")
	last=$(awk -F, '$1 == "none" && $3 == 2 { print $5 }' "$SC_OUT/latency.csv")
	sc_noise baseline "$(jq -cn --arg a "$first" --arg b "$last" \
		'{none_p50_ms_first: ($a | tonumber? // null), none_p50_ms_last: ($b | tonumber? // null),
		  note: "none (no replication) measured first and last; their difference is the drift of the host"}')"
}
