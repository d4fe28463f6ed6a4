# shellcheck shell=bash
# summary: checkpoint pause and bytes per epoch vs guest dirty rate, delta compression on/off
#
# checkpoint-cost — what an epoch costs the primary: the vCPU pause (flat
# with the two-phase collect, where early passes copy the dirty pages while
# the guest runs; growing with the pages dirtied in the epoch with
# DIRTY_LOG=legacy, where the whole copy is in the pause), and the bytes on
# the replication link, which grow with the pages unless they are
# delta-encoded against the backup's copy (`rrvm primary --compress auto`,
# the default) instead of sent raw (`--compress none`).
#
# For each COMPRESS (auto none) and each DIRTY_RATE (pages/s written by the
# kv guest's dirtier, `dirty=N dirty_mb=M`; 0 = dirtier off, the guest's own
# background), a fresh buffered pair at EPOCH ms, no client traffic. After
# WARMUP s, WINDOW s of epochs are sampled: the primary runs at
# --log-level debug and logs one line per epoch (pages, pause, bytes sent,
# raw bytes), so the medians and p90 are over real per-epoch values, for the
# epochs between two `ctl stats --json` snapshots (which also give the
# window's means, kept in raw/ as a cross-check). The dirtier writes one
# fresh 8-byte sequence number per page, cycling over a region sized to
# hold at least two epochs' pages (>= DIRTY_MB MiB): every dirty page really
# changed, by 8 bytes, so the delta is tiny and `auto` is near its best
# case; `none` sends 4 KiB per page. Bytes per epoch are the whole epoch
# on the wire: pages plus framing and the vCPU and device state, so an idle
# epoch is not free. auto and none alternate at every rate.
# Output: cost.csv (compress,dirty_rate_pps,epoch_ms,epochs,pages_median,
# pause_us_median,pause_us_p90,bytes_per_epoch_median,
# raw_bytes_per_epoch_median), raw/NAME.epochs.csv (one row per epoch),
# raw/NAME.stats.json (the two snapshots), logs/.

scenario_params() {
	sc_param COMPRESS "auto none" "auto none" "primary --compress values"
	sc_param DIRTY_RATES "0 1000 5000 10000 20000 50000 100000" "0 1000 10000 50000 100000" \
		"dirtier rates, pages/s (0 = dirtier off)"
	sc_param EPOCH 20 20 "checkpoint epoch, ms (a list measures each)"
	sc_param WINDOW 10 8 "seconds of epochs sampled per point"
	sc_param WARMUP 1 1 "seconds between protection and the window"
	sc_param DIRTY_MB 16 16 "dirtier region, MiB at least (grown to hold two epochs of pages)"
	sc_param DIRTY_LOG manual manual "KVM dirty log of the primary: manual (two-phase collect where KVM offers manual protect) or legacy (the whole collect in the pause; RRVM_DIRTY_LOG=legacy)"
	SC_SCHEMA[cost.csv]="compress,dirty_rate_pps,epoch_ms,epochs,pages_median,pause_us_median,pause_us_p90,bytes_per_epoch_median,raw_bytes_per_epoch_median"
}

# The largest dirtier region in a 64 MiB kv guest (the guest's heap needs
# the rest).
CK_MAX_MB=40

# ck_region_mb RATE EPOCH: MiB for the dirtier, holding 2 x RATE x EPOCH
# pages.
ck_region_mb() {
	local need=$(((2 * $1 * $2 / 1000 + 255) / 256))
	[ "$need" -ge "$DIRTY_MB" ] || need=$DIRTY_MB
	echo "$need"
}

# ck_epoch_lines LOG FROM TO: the per-epoch debug lines of the primary's
# LOG for epochs FROM < N <= TO, as "epoch,pages,pause_us,bytes,raw_bytes".
ck_epoch_lines() {
	sed -n 's/.*replication: epoch \([0-9]*\): \([0-9]*\) pages, pause \([0-9]*\) us, \([0-9]*\) bytes for \([0-9]*\) raw.*/\1,\2,\3,\4,\5/p' "$1" |
		awk -F, -v a="$2" -v b="$3" '$1 > a && $1 <= b'
}

# ck_pct COLUMN P: nearest-rank P-th percentile of a column of the
# epoch CSV on stdin (empty if no rows).
ck_pct() {
	cut -d, -f"$1" | sort -g | awk -v p="$2" '
		{ v[++n] = $1 }
		END { if (!n) exit; i = int(n * p / 100); if (i < n * p / 100) i++; if (i < 1) i = 1; print v[i] }'
}

# ck_point COMPRESS RATE EPOCH: one point, one CSV row; a point whose
# pair failed (e.g. a false failover on a loaded host) is tried once more.
ck_point() {
	ck_measure "$1" "$2" "$3" "ck-$1-$2-$3" && return 0
	sc_note "ck-$1-$2-$3: no row; trying the point once more"
	ck_measure "$1" "$2" "$3" "ck-$1-$2-$3-retry" ||
		sc_note "ck-$1-$2-$3: no row on the second try either"
}

# ck_measure COMPRESS RATE EPOCH NAME: one pair, one window, one CSV row.
# 0 if the row was written, else 1 (noted).
ck_measure() {
	local c=$1 rate=$2 ep=$3 name=$4 mb s0 s1 w0 w1 e0 e1 rows n t0 t1 w ok=1
	local -a gopt=()
	if [ "$rate" -gt 0 ]; then
		mb=$(ck_region_mb "$rate" "$ep")
		if [ "$mb" -gt $CK_MAX_MB ]; then
			sc_note "$name: the dirtier would need $mb MiB (> $CK_MAX_MB in a 64 MiB guest); using $CK_MAX_MB, epochs may wrap the region"
			mb=$CK_MAX_MB
		fi
		gopt=(--primary-opt -- --primary-opt "dirty=$rate" --primary-opt "dirty_mb=$mb")
	fi
	t0=$(cpu_ticks)
	if sc_pair_up "$name" buffered "$ep" --primary-opt --compress --primary-opt "$c" \
		--primary-opt --log-level --primary-opt debug "${gopt[@]}"; then
		sleep "$WARMUP"
		s0=$(rrvm_repl_stats "$P_CTL") || s0=
		w0=$(now_ms)
		sleep "$WINDOW"
		s1=$(rrvm_repl_stats "$P_CTL") || s1=
		w1=$(now_ms)
		# The line of the last epoch may still be on its way.
		sleep 0.2
		ck_row "$c" "$rate" "$ep" "$name" "$s0" "$s1" $((w1 - w0)) && ok=0
	fi
	sc_pair_down
	t1=$(cpu_ticks)
	CK_STEAL=$(jq -c --arg k "$name" --argjson v "$(cpu_steal_pct "$t0" "$t1")" '. + {($k): $v}' <<<"$CK_STEAL")
	return $ok
}

# ck_row COMPRESS RATE EPOCH NAME STATS0 STATS1 WINDOW_MS: the CSV row
# from the primary's per-epoch log lines between the two snapshots.
ck_row() {
	local c=$1 rate=$2 ep=$3 name=$4 s0=$5 s1=$6 e0 e1 rows n w
	if [ -z "$s0" ] || [ -z "$s1" ]; then
		sc_note "$name: no stats from the primary"
		return 1
	fi
	printf '{"before":%s,"after":%s,"window_ms":%d}\n' "$s0" "$s1" "$7" >"$SC_OUT/raw/$name.stats.json"
	if ! jq -e --arg c "$c" '.compress == $c' <<<"$s1" >/dev/null; then
		sc_note "$name: the primary reports compress $(jq -r .compress <<<"$s1"), not $c"
		return 1
	fi
	if ! jq -e '.protected and .disconnects == 0' <<<"$s1" >/dev/null; then
		sc_note "$name: the pair was not protected throughout (false failover on a loaded host?): $(jq -c '{protected, disconnects, epochs, pause_us_max}' <<<"$s1")"
		return 1
	fi
	e0=$(jq -r .epochs <<<"$s0") e1=$(jq -r .epochs <<<"$s1")
	rows=$(ck_epoch_lines "$P_LOG" "$e0" "$e1")
	{ echo "epoch,pages,pause_us,bytes,raw_bytes"; [ -z "$rows" ] || echo "$rows"; } >"$SC_OUT/raw/$name.epochs.csv"
	n=0
	[ -z "$rows" ] || n=$(wc -l <<<"$rows")
	if [ "$n" -eq 0 ]; then
		sc_note "$name: no per-epoch lines in the primary's log (epochs $e0..$e1)"
		return 1
	fi
	[ "$n" -eq $((e1 - e0)) ] || sc_note "$name: $n per-epoch lines for $((e1 - e0)) epochs in the window"
	echo "$c,$rate,$ep,$n,$(ck_pct 2 50 <<<"$rows"),$(ck_pct 3 50 <<<"$rows"),$(ck_pct 3 90 <<<"$rows"),$(ck_pct 4 50 <<<"$rows"),$(ck_pct 5 50 <<<"$rows")" \
		>>"$SC_OUT/cost.csv"
	w=$(window_means "$s0" "$s1")
	say "  $c, $rate pages/s: $n epochs, pages median $(ck_pct 2 50 <<<"$rows"), pause median $(ck_pct 3 50 <<<"$rows") us (p90 $(ck_pct 3 90 <<<"$rows")), bytes median $(ck_pct 4 50 <<<"$rows") of $(ck_pct 5 50 <<<"$rows") raw; window means $w"
}

# window_means BEFORE AFTER: the window's means from the cumulative stats.
window_means() {
	jq -cn --argjson a "$1" --argjson b "$2" '
		($b.epochs - $a.epochs) as $n
		| if $n <= 0 then {epochs: 0} else
		  {epochs: $n, interval_ms: ((($b.achieved_interval_ms * ($b.epochs - 1)) - ($a.achieved_interval_ms * ($a.epochs - 1))) / $n * 100 | round / 100),
		   pause_us: (($b.pause_us_avg * $b.epochs - $a.pause_us_avg * $a.epochs) / $n | round),
		   pages: (($b.pages - $a.pages) / $n | round),
		   bytes: (($b.bytes_sent - $a.bytes_sent) / $n | round),
		   raw_bytes: (($b.raw_bytes - $a.raw_bytes) / $n | round),
		   late: ($b.late_epochs - $a.late_epochs)} end'
}

scenario_main() {
	local c r e
	CK_STEAL='{}'
	sc_check_ints EPOCH WINDOW WARMUP DIRTY_MB
	sc_check_modes COMPRESS auto none
	sc_check_modes DIRTY_LOG manual legacy
	[ "$(wc -w <<<"$DIRTY_LOG")" = 1 ] || sc_fail "parameter DIRTY_LOG: one value, manual or legacy"
	# The primaries inherit it (vmm/vm_dirty.c).
	export RRVM_DIRTY_LOG=$DIRTY_LOG
	for r in $DIRTY_RATES; do
		if ! [[ $r =~ ^[0-9]+$ ]] || [ "$r" -gt 1000000 ]; then
			sc_fail "parameter DIRTY_RATES: '$r' is not a rate in 0..1000000 pages/s"
		fi
	done
	echo "compress,dirty_rate_pps,epoch_ms,epochs,pages_median,pause_us_median,pause_us_p90,bytes_per_epoch_median,raw_bytes_per_epoch_median" \
		>"$SC_OUT/cost.csv"
	# auto and none alternate at every point: drift of the host hits both.
	sc_steps $(( $(wc -w <<<"$EPOCH") * $(wc -w <<<"$COMPRESS") * $(wc -w <<<"$DIRTY_RATES") ))
	for e in $EPOCH; do
		for r in $DIRTY_RATES; do
			for c in $COMPRESS; do
				sc_step "compress $c, dirtier $r pages/s, epoch $e ms"
				ck_point "$c" "$r" "$e"
			done
		done
	done
	sc_noise steal_pct_by_point "$CK_STEAL"
	sc_noise method "$(jq -cn '{per_epoch: "medians and p90 over every epoch of the window, from the primary'"'"'s per-epoch debug log line (replication: epoch N: P pages, pause U us, B bytes for R raw); raw/*.stats.json holds the cumulative stats before and after (means)",
		dirtier: "one fresh 8-byte sequence number written per page, cycling over the region: every dirty page differs from the backup'"'"'s copy by 8 bytes",
		load: "none besides the dirtier (kv guest idle)",
		dirty_log: "'"$DIRTY_LOG"'"}')"
}
