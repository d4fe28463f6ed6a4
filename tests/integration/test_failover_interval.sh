#!/usr/bin/env bash
# Epochs keep to the requested interval under load (issue 4 acceptance), on
# a private four-host testbed (docs/testbed.md).
#
# For each requested interval (RRVM_INTERVAL_EPOCHS, default "20 50" ms), a
# fresh buffered pair with the kv guest, under a redis-benchmark SET load
# (-t set -r 100000 -c 50 -d 256): after 1 s of warm-up, the primary's
# replication stats are read twice, WINDOW_S (4) s apart. From the deltas:
# the achieved interval (stats keep the running mean: mean x (epochs-1) is
# the total), epochs per second by the wall clock, late epochs (>= 2x the
# interval), the mean pause, pages and bytes per epoch. Asserted, generously
# (the host is noisy): epochs were taken, the achieved interval is at most
# 2x and at least 0.9x the requested one, the backup acknowledged them, the
# load ran without error and the backup never failed over. Printed:
# requested vs achieved and the rest, and the backup's longest silence.
#
# `--compress`: a bad value is refused (exit 2) and so is the option on
# `rrvm run`; the pairs above report "compress":"auto"; one more buffered
# pair at 20 ms with `--compress none` under the same load must report
# "compress":"none", stay protected, and send about the raw size (at least
# 90% of pages x 4 KiB: only zero pages are elided).
#
# `--delta-cache`: bad sizes are refused (exit 2) and so is the option on
# `rrvm run`; the pairs above report the default 64 MiB cache (the whole
# 64 MiB VM: hits, no eviction) and which collect runs (two-phase with
# KVM's manual dirty-log protect, one-phase without); one more pair at 20
# ms with `--delta-cache 0` under the same load sends no delta at all (no
# hit) and stays protected (bytes per epoch are printed).
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

INTERVALS=${RRVM_INTERVAL_EPOCHS:-20 50}
WINDOW_S=4
t_init_testbed redis-cli redis-benchmark ping
tb_t_rep_init

# --compress: refused when bad, or outside `rrvm primary`.
bad=$("$RRVM" primary --compress lz4 --guest "$(guest_image kv)" --tap tap0 \
	--ip 10.77.0.2/24 --mac 52:54:00:77:00:02 --backup 127.0.0.1:1 2>&1)
t_eq "primary --compress lz4: exit status 2" 2 "$?"
t_check "primary --compress lz4: says what is allowed" matches "$bad" "--compress 'lz4': use auto or none"
bad=$("$RRVM" run --compress none --guest "$(guest_image kv)" --tap tap0 \
	--ip 10.77.0.2/24 --mac 52:54:00:77:00:02 2>&1)
t_eq "run --compress none: exit status 2" 2 "$?"
t_check "run --compress none: belongs to rrvm primary" matches "$bad" "belongs to 'rrvm primary'"

# --delta-cache: refused when bad, or outside `rrvm primary`.
for size in 12X 100 65G -1; do
	bad=$("$RRVM" primary --delta-cache "$size" --guest "$(guest_image kv)" --tap tap0 \
		--ip 10.77.0.2/24 --mac 52:54:00:77:00:02 --backup 127.0.0.1:1 2>&1)
	t_eq "primary --delta-cache $size: exit status 2" 2 "$?"
	t_check "primary --delta-cache $size: says what is allowed" matches "$bad" "--delta-cache '$size': a size from 4K to 64G"
done
bad=$("$RRVM" run --delta-cache 1M --guest "$(guest_image kv)" --tap tap0 \
	--ip 10.77.0.2/24 --mac 52:54:00:77:00:02 2>&1)
t_eq "run --delta-cache 1M: exit status 2" 2 "$?"
t_check "run --delta-cache 1M: belongs to rrvm primary" matches "$bad" "belongs to 'rrvm primary'"

declare -a SUMMARY=()
for ep in $INTERVALS; do
	[[ $ep =~ ^[1-9][0-9]*$ ]] || t_fail "bad interval '$ep' in RRVM_INTERVAL_EPOCHS"
	t_info "--- epoch $ep ms"
	tb_t_pair_up buffered "$ep"
	tb_t_load_start -t set -r 100000 -c 50 -d 256
	sleep 1
	s0=$(rrvm_repl_stats "$P_CTL")
	w0=$(now_ms)
	sleep "$WINDOW_S"
	s1=$(rrvm_repl_stats "$P_CTL")
	w1=$(now_ms)
	t_info "stats at the start of the window: $s0"
	t_info "stats at its end:                 $s1"
	m=$(jq -cn --argjson a "$s0" --argjson b "$s1" --argjson ms $((w1 - w0)) '
		($b.epochs - $a.epochs) as $n
		| {epochs: $n,
		   achieved_ms: (if $n > 0 then ((($b.achieved_interval_ms * ($b.epochs - 1)) - ($a.achieved_interval_ms * ($a.epochs - 1))) / $n * 100 | round / 100) else null end),
		   per_s: ($n * 1000 / $ms * 10 | round / 10),
		   late: ($b.late_epochs - $a.late_epochs),
		   pause_us: (if $n > 0 then (($b.pause_us_avg * $b.epochs - $a.pause_us_avg * $a.epochs) / $n | round) else null end),
		   pages: (if $n > 0 then (($b.pages - $a.pages) / $n | round) else null end),
		   bytes: (if $n > 0 then (($b.bytes_sent - $a.bytes_sent) / $n | round) else null end),
		   acked_behind: ($b.epochs - $b.acked_epoch),
		   hold_ms_avg: $b.output.hold_ms_avg,
		   cumulative_ms: $b.achieved_interval_ms}')
	t_info "window: $m"
	ach=$(jq -r .achieved_ms <<<"$m")
	t_check "epoch $ep: epochs were taken in the window ($(jq -r .epochs <<<"$m"))" json_true "$m" '.epochs > 0'
	t_check "epoch $ep: achieved interval $ach ms <= 2 x $ep" json_true "$m" ".achieved_ms != null and .achieved_ms <= 2 * $ep"
	t_check "epoch $ep: achieved interval $ach ms >= 0.9 x $ep (no faster than asked)" json_true "$m" ".achieved_ms != null and .achieved_ms >= 0.9 * $ep"
	t_check "epoch $ep: the backup keeps up (at most 3 epochs unacknowledged)" json_true "$m" '.acked_behind <= 3'
	t_check "epoch $ep: protected throughout, one connection" json_true "$s1" '.protected == true and .connects == 1 and .disconnects == 0'
	t_check "epoch $ep: stats say compress auto (the default)" json_true "$s1" '.compress == "auto"'
	t_check "epoch $ep: stats name the collect and the dirty log" json_true "$s1" \
		'(.collect.kind == "two-phase" and .collect.dirty_log == "manual-protect") or (.collect.kind == "one-phase" and .collect.dirty_log == "get-clears")'
	t_check "epoch $ep: default delta cache, 64 MiB, deltas sent, nothing evicted" json_true "$s1" \
		'.delta_cache.bytes_max == 67108864 and .delta_cache.hits > 0 and .delta_cache.evictions == 0'
	[ "$(jq -r .collect.kind <<<"$s1")" = two-phase ] &&
		t_check "epoch $ep: two-phase: most pages copied before the pause" json_true "$s1" \
			'.collect.early_copies_avg > .collect.pause_pages_avg'
	t_check "epoch $ep: the load is running" pid_alive "$RB_PID"
	t_eq "epoch $ep: redis-benchmark reported no error" "" "$(rb_errors "$RB_LOG")"
	bs=$(rrvm_backup_status "$B_CTL")
	t_check "epoch $ep: the backup is replicating (no false failover)" json_true "$bs" '.state == "replicating"'
	sil=$(jq -r '.max_silence_ms // "?"' <<<"$bs")
	SUMMARY+=("$(printf 'requested %3d ms: achieved %6s ms (%s/s, %s late), pause %s us, %s pages and %s bytes per epoch, output held %s ms on average; backup longest silence %s ms' \
		"$ep" "$ach" "$(jq -r .per_s <<<"$m")" "$(jq -r .late <<<"$m")" "$(jq -r .pause_us <<<"$m")" \
		"$(jq -r .pages <<<"$m")" "$(jq -r .bytes <<<"$m")" "$(jq -r .hold_ms_avg <<<"$m")" "$sil")")
	tb_t_pair_down
done
# option_pair LABEL OPTION...: a buffered pair at 20 ms with OPTIONs under
# the SET load, a 2 s window: sets S1 (stats at its end) and M (epochs,
# bytes, raw in it), checks what every such pair must show, and adds the
# bytes per epoch to the summary. The caller checks its own option, then
# tb_t_pair_down.
option_pair() {
	local label=$1 s0 bs
	shift
	t_info "--- epoch 20 ms, $*"
	tb_t_pair_up buffered 20 "$@"
	tb_t_load_start -t set -r 100000 -c 50 -d 256
	sleep 1
	s0=$(rrvm_repl_stats "$P_CTL")
	sleep 2
	S1=$(rrvm_repl_stats "$P_CTL")
	M=$(jq -cn --argjson a "$s0" --argjson b "$S1" '
		{epochs: ($b.epochs - $a.epochs), bytes: ($b.bytes_sent - $a.bytes_sent),
		 raw: ($b.raw_bytes - $a.raw_bytes)}')
	t_info "$label, window: $M; delta cache $(jq -c .delta_cache <<<"$S1")"
	t_check "$label: protected throughout, one connection" json_true "$S1" '.protected == true and .connects == 1 and .disconnects == 0'
	t_check "$label: epochs with pages were sent" json_true "$M" '.epochs > 0 and .raw > 0'
	t_check "$label: the load is running" pid_alive "$RB_PID"
	bs=$(rrvm_backup_status "$B_CTL")
	t_check "$label: the backup is replicating" json_true "$bs" '.state == "replicating"'
	SUMMARY+=("$label at 20 ms: $(jq -r '"\(.bytes / (.epochs | if . > 0 then . else 1 end) | round) bytes per epoch for \(.raw / (.epochs | if . > 0 then . else 1 end) | round) raw"' <<<"$M")")
}

option_pair "compress none" --compress none
t_check "compress none: stats say compress none" json_true "$S1" '.compress == "none"'
t_check "compress none: bytes sent >= 90% of raw ($(jq -r '"\(.bytes) for \(.raw)"' <<<"$M"))" json_true "$M" '.bytes >= 0.9 * .raw'
tb_t_pair_down

option_pair "delta cache 0" --delta-cache 0
t_check "delta cache 0: stats say no cache, no hit, misses" json_true "$S1" \
	'.delta_cache.bytes_max == 0 and .delta_cache.hits == 0 and .delta_cache.misses > 0'
tb_t_pair_down

for line in "${SUMMARY[@]}"; do
	t_info "$line"
done
tb_t_down
t_finish "$(for line in "${SUMMARY[@]}"; do sed -E 's/^requested +([0-9]+) ms: achieved +([0-9.]+) ms.*/\1->\2 ms/' <<<"$line"; done | paste -sd' ')"
