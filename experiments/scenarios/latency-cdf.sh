# shellcheck shell=bash
# summary: full request-latency distribution (CDF) per mode at one epoch
#
# latency-cdf — the whole distribution behind latency-vs-epoch's p50/p99 at
# one epoch: buffered (Remus) replies wait for the epoch's acknowledgement,
# so nearly every request sits between one and two epochs; reverse
# replication releases output at once, so its CDF should lie on top of the
# unreplicated one, with only the checkpoint pauses in the tail.
#
# Per mode, a fresh pair (kv guest) and the consistency client doing INCR
# over one connection, one request in flight, for DURATION seconds
# (buffered: long enough for at least MIN_REQUESTS requests, about one per
# epoch), under the same idle policy in every mode (IDLE, default one
# SCHED_IDLE busy loop per CPU: experiments/lib/idle.sh; meta.json
# idle_policy). Every reply's latency comes from the client's per-reply CSV. To
# keep samples.csv a sane size a mode with more than MAX_SAMPLES replies is
# thinned to MAX_SAMPLES evenly spaced replies (in time order, i.e. a
# uniform systematic subsample); meta.json noise.samples gives per mode the
# p50/p99/max and count over ALL replies and how many rows were kept.
# Output: samples.csv (mode,epoch_ms,latency_us; epoch_ms empty for none),
# raw/MODE.json (client report), raw/MODE.csv.gz (every reply), logs/.

scenario_params() {
	sc_param MODES "none buffered reverse-inline reverse-mirror" "none buffered reverse-inline reverse-mirror" \
		"modes to measure (none = no replication)"
	sc_param EPOCH 20 20 "checkpoint epoch, ms"
	sc_param DURATION 10 4 "seconds of client traffic per mode"
	sc_param MIN_REQUESTS 1000 200 "buffered: run at least this many epochs' worth of requests"
	sc_param MAX_SAMPLES 20000 5000 "samples.csv rows per mode (evenly spaced subsample above it)"
	sc_idle_param
	# shellcheck disable=SC2034 # read by experiments/run
	SC_SCHEMA["samples.csv"]="mode,epoch_ms,latency_us"
}

# cdf_point MODE: one pair, one client run, the mode's rows of samples.csv.
cdf_point() {
	local mode=$1 name=cdf-$1 dur=$DURATION j raw q kept ep=$EPOCH p50 p99 max n
	[ "$mode" = none ] && ep=''
	[ "$mode" = buffered ] &&
		dur=$(awk -v d="$DURATION" -v n="$MIN_REQUESTS" -v e="$EPOCH" 'BEGIN { m = n * e / 1000; print (m > d) ? m : d }')
	raw=$SC_OUT/raw/$name.csv
	if sc_pair_up "$name" "$mode" "$EPOCH"; then
		j=$(sc_cc "$name" "$dur")
		if [ "$(jq -r 'has("ok")' <<<"$j" 2>/dev/null)" != true ]; then
			sc_note "$name: no client report: $(tr '\n' ' ' <"$SC_OUT/logs/$name.client.log" | tail -c 200)"
		elif [ "$(jq -r '.ok' <<<"$j")" != true ]; then
			sc_note "$name: the consistency client reported a problem: $(jq -c '{violations, examples: (.examples // [])[:2]}' <<<"$j")"
		fi
		# Latencies (us, 0.1 us) of every INCR reply, in time order.
		awk -F, '$1 ~ /^[0-9]+$/ && $2 == "incr" { printf "%.1f\n", $4 / 1000 }' "$raw" 2>/dev/null >"$SC_TMP/lat"
		q=$(sc_quantiles <"$SC_TMP/lat")   # P50 P99 MAX COUNT
		if [ "${q##* }" = 0 ]; then
			sc_note "$name: no replies in $raw"
		else
			# Keep row i (1-based) when floor(i*M/n) steps: exactly min(n, M) rows, evenly spaced.
			awk -v n="${q##* }" -v m="$MAX_SAMPLES" -v mode="$mode" -v ep="$ep" '
				{ i++; if (n <= m || int(i * m / n) != int((i - 1) * m / n)) { print mode "," ep "," $1; k++ } }
				END { print k > "/dev/stderr" }' "$SC_TMP/lat" >>"$SC_OUT/samples.csv" 2>"$SC_TMP/kept"
			kept=$(<"$SC_TMP/kept")
			read -r p50 p99 max n <<<"$q"
			cdf_noise_sample "$mode" "$(jq -cn --argjson a "$p50" --argjson b "$p99" --argjson c "$max" \
				--argjson n "$n" --argjson k "$kept" --argjson d "$dur" \
				'{p50_us: $a, p99_us: $b, max_us: $c, count: $n, kept: $k, duration_s: $d}')"
			say "  $mode${ep:+ epoch $ep ms}: p50 $p50 us, p99 $p99 us, max $max us, $n replies ($kept kept)"
		fi
		[ -f "$raw" ] && gzip -f "$raw"
	fi
	sc_pair_down
}

# cdf_noise_sample MODE JSON: noise.samples.MODE = JSON.
CDF_SAMPLES='{}'
cdf_noise_sample() {
	CDF_SAMPLES=$(jq -c --arg m "$1" --argjson v "$2" '. + {($m): $v}' <<<"$CDF_SAMPLES")
}

scenario_main() {
	local m
	sc_check_ints EPOCH DURATION MIN_REQUESTS MAX_SAMPLES
	sc_check_modes MODES none buffered reverse-inline reverse-mirror naive
	echo "mode,epoch_ms,latency_us" >"$SC_OUT/samples.csv"
	sc_steps "$(wc -w <<<"$MODES")"
	for m in $MODES; do
		sc_step "$m$([ "$m" = none ] || echo " epoch $EPOCH ms")"
		cdf_point "$m"
	done
	sc_noise samples "$CDF_SAMPLES"
	sc_noise subsampling "$(jq -cn --argjson m "$MAX_SAMPLES" \
		'{max_rows_per_mode: $m, method: "a mode with n > max replies keeps max of them, evenly spaced in time order (row i kept when floor(i*max/n) steps); noise.samples quantiles are over all n replies, latency in us from the client CSV (CLOCK_MONOTONIC send to reply)"}')"
}
