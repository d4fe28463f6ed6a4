#!/usr/bin/env bash
# rrvm re-protection benchmark (issue 11, "Measure"): how long a survivor
# takes to be protected again after a failover (new `rrvm backup` started
# -> the survivor protected: full checkpoint sent and acknowledged), for a
# small and a large kv VM whose memory holds data, and what the client sees
# meanwhile. Goal: <= 1 s for 64 MiB. Reports; asserts no timing.
#
# It is the protection-chain scenario (experiments/scenarios/
# protection-chain.sh, one chain per mode and size, no switchovers) with
# MEM and FILL_MB set: before the chain, FILL_MB MiB of 1 MiB values from
# /dev/urandom are written into the kv (incompressible: the full checkpoint
# carries them as they are), then BENCH_REPROTECT_ROUNDS kills of the
# primary, each followed by a new backup on the dead host.
#
# Output: results/bench-reprotect/TIMESTAMP/
#   reprotect.csv   per size and mode: mem,fill_mb,mode,rounds,
#                   reprotect_ms_median,reprotect_ms_min,reprotect_ms_max,
#                   full_pages_median,full_mb_median,stall_ms_median,
#                   stall_ms_max,outage_ms_median,violations,reconnects
#                   (full_*: the re-protecting full checkpoints, from the
#                   survivors' logs; stall: the client's longest stall
#                   while the new backup was brought in)
#   MEM/            the scenario's results directory (chain.csv,
#                   rounds.csv, meta.json, raw/, logs/)
#   meta.json       commit, host, parameters, steal per size
# A table on stdout, progress on stderr.
#
# Environment (defaults; --quick changes the ones marked *):
#   BENCH_REPROTECT_SIZES="64M:24 1G:384"   MEM:FILL_MB pairs (3/8 of RAM
#                                           filled in each)
#   BENCH_REPROTECT_MODES="buffered reverse-mirror"
#   BENCH_REPROTECT_ROUNDS=5 *(2)
#   BENCH_REPROTECT_OUT=DIR
# Options: --quick (about two minutes), --help.
# Needs what experiments/run needs (root, /dev/kvm, a built tree).
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=SCRIPTDIR/lib/netns.sh
. "$ROOT/experiments/lib/netns.sh"
# shellcheck source=SCRIPTDIR/lib/rrvm.sh
. "$ROOT/experiments/lib/rrvm.sh"
# shellcheck source=SCRIPTDIR/lib/bench.sh
BENCH_NAME=bench-reprotect
. "$ROOT/experiments/lib/bench.sh"
bench_args "$@"

SIZES=${BENCH_REPROTECT_SIZES:-64M:24 1G:384}
MODES=${BENCH_REPROTECT_MODES:-buffered reverse-mirror}
ROUNDS=${BENCH_REPROTECT_ROUNDS:-$(q 5 2)}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${BENCH_REPROTECT_OUT:-$ROOT/results/bench-reprotect/$STAMP}

check_env() {
	local s
	is_root || fail "needs root (network namespaces)"
	[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || fail "BENCH_REPROTECT_ROUNDS must be a positive integer (got '$ROUNDS')"
	for s in $SIZES; do
		[[ $s =~ ^[1-9][0-9]*[MG]:[0-9]+$ ]] || fail "bad BENCH_REPROTECT_SIZES entry '$s' (want MEM:FILL_MB, e.g. 1G:384)"
	done
	[ -n "$MODES" ] || fail "BENCH_REPROTECT_MODES is empty"
	mkdir -p "$OUT" || fail "cannot create $OUT"
}

# full_sizes DIR MODE: "PAGES BYTES" of each re-protecting full checkpoint
# of MODE's chain (the survivors are the daemons started as backups).
full_sizes() {
	sed -n 's/.*full checkpoint sent (\([0-9]*\) pages, \([0-9]*\) bytes).*/\1 \2/p' "$1"/logs/"$2".backup*.log 2>/dev/null
}

# run_size MEM FILL: one scenario run, its reprotect.csv rows.
run_size() {
	local mem=$1 fill=$2 dir=$OUT/$1 m
	say "size $mem, $fill MiB filled: experiments/run protection-chain (modes $MODES, $ROUNDS rounds)"
	if ! "$ROOT/experiments/run" protection-chain --set MODES="$MODES" --set ROUNDS="$ROUNDS" \
		--set SWITCHOVERS=0 --set MEM="$mem" --set FILL_MB="$fill" --out "$dir" >/dev/null; then
		note "size $mem: the scenario failed (see above)"
		return
	fi
	[ "$(jq -r .failures "$dir/meta.json")" = 0 ] ||
		note "size $mem: the scenario noted $(jq -r '.notes | join("; ")' "$dir/meta.json")"
	STEAL_PCT[$mem]=$(jq -r .host.steal_pct "$dir/meta.json")
	for m in $MODES; do
		read -r rmed rmin rmax _ <<<"$(awk -F, -v m="$m" '$1 == m && $6 != "" { print $6 }' "$dir/chain.csv" | stats_summary)"
		read -r omed _ _ _ <<<"$(awk -F, -v m="$m" '$1 == m && $5 != "" { print $5 }' "$dir/chain.csv" | stats_summary)"
		read -r smed _ smax _ <<<"$(awk -F, -v m="$m" '$1 == "round" && $2 == m && $20 != "" { print $20 }' "$dir/rounds.csv" | stats_summary)"
		read -r pmed _ _ _ <<<"$(full_sizes "$dir" "$m" | awk '{ print $1 }' | stats_summary)"
		read -r bmed _ _ _ <<<"$(full_sizes "$dir" "$m" | awk '{ printf "%.1f\n", $2 / 1048576 }' | stats_summary)"
		echo "$mem,$fill,$m,$(awk -F, -v m="$m" '$1 == m' "$dir/chain.csv" | wc -l),$rmed,$rmin,$rmax,$pmed,$bmed,$smed,$smax,$omed,$(awk -F, -v m="$m" '$1 == m { v = $7; r = $8 } END { print v "," r }' "$dir/chain.csv")" >>"$OUT/reprotect.csv"
	done
}

write_meta() {
	local steal
	steal=$(for k in "${!STEAL_PCT[@]}"; do printf '%s\n%s\n' "$k" "${STEAL_PCT[$k]}"; done |
		jq -Rn '[inputs] | [range(0; length; 2) as $i | {(.[$i]): .[$i + 1]}] | add // {}')
	jq -n --arg stamp "$STAMP" --arg commit "$(git_describe)" --argjson quick "$([ "$QUICK" = 1 ] && echo true || echo false)" \
		--arg sizes "$SIZES" --arg modes "$MODES" --argjson rounds "$ROUNDS" \
		--arg kernel "$(uname -r)" --argjson nproc "$(nproc)" \
		--arg load_start "$LOADAVG_START" --arg load_end "$(cut -d' ' -f1-3 /proc/loadavg)" \
		--argjson steal "$steal" --argjson failures "$FAILURES" \
		'{benchmark: "reprotect", stamp: $stamp, commit: $commit, quick: $quick,
		  parameters: {sizes_mem_fill_mb: ($sizes | split(" ")), modes: ($modes | split(" ")),
		               rounds: $rounds, fill: "1 MiB values from /dev/urandom (incompressible)"},
		  host: {kernel: $kernel, nproc: $nproc, loadavg_start: $load_start, loadavg_end: $load_end,
		         steal_pct_per_size: $steal,
		         note: "a shared machine: other work is not controlled; see load and steal"},
		  failures: $failures, notes: $ARGS.positional}' --args "${NOTES[@]}" >"$OUT/meta.json"
}

print_table() {
	echo
	echo "rrvm re-protection: new backup started -> survivor protected (median [min-max] of $ROUNDS rounds)"
	echo
	awk -F, 'NR == 1 { next }
		!h++ { printf "%-5s %5s %-15s | %-22s | %8s %8s | %-17s | %8s | %s\n", "mem", "fill", "mode",
			"re-protection ms", "full pg", "full MB", "client stall ms", "outage", "violations/reconnects" }
		{ printf "%-5s %5s %-15s | %6s [%6s-%6s] | %8s %8s | %6s (max %6s) | %8s | %s/%s\n",
			$1, $2, $3, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 }' "$OUT/reprotect.csv"
	echo
	echo "client stall: its longest wait between replies while the new backup was brought in"
	echo "(buffered holds output until the full checkpoint is acknowledged). A shared machine:"
	echo "see meta.json for load and steal. Results: $OUT"
}

main() {
	local s
	check_env
	echo "mem,fill_mb,mode,rounds,reprotect_ms_median,reprotect_ms_min,reprotect_ms_max,full_pages_median,full_mb_median,stall_ms_median,stall_ms_max,outage_ms_median,violations,reconnects" >"$OUT/reprotect.csv"
	for s in $SIZES; do
		run_size "${s%%:*}" "${s##*:}"
	done
	write_meta
	print_table
	[ "$FAILURES" = 0 ] || { say "$FAILURES problem(s); see meta.json notes"; exit 1; }
}

main "$@"
