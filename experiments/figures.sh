#!/usr/bin/env bash
# make figures: every scenario's quick run (experiments/run SCENARIO
# --quick), then every paper figure from it (paper-figures/fig_*.py), in
# about 15 minutes on a 2-core machine. Figures land in each run's results
# directory and, together, in results/figures/ (PNG + PDF), with an index
# (results/figures/index.txt: figure, results directory, commit).
#
# usage: experiments/figures.sh [--full] [SCENARIO...]
#   --full      the full scenarios instead of --quick (hours, not minutes)
#   SCENARIO    only these (default: all; see experiments/run --list)
# Exit status: 0 every figure drawn, 1 a scenario or a figure failed (the
# others still run).
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=--quick
declare -a WANT=()
for a in "$@"; do
	case "$a" in
	--full) QUICK= ;;
	-h | --help) sed -n '2,/^set -u/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-*) echo "figures: unknown option '$a'" >&2; exit 2 ;;
	*) WANT+=("$a") ;;
	esac
done

# scenario -> figure script (one figure per scenario).
declare -A FIG=(
	[latency-vs-epoch]=fig_latency_vs_epoch.py
	[latency-cdf]=fig_latency_cdf.py
	[throughput-vs-epoch]=fig_throughput_vs_epoch.py
	[failover-timeline]=fig_failover_timeline.py
	[consistency]=fig_consistency.py
	[checkpoint-cost]=fig_checkpoint_cost.py
	[replay-cost]=fig_replay_cost.py
	[overhead]=fig_overhead.py
	[migration]=fig_migration.py
	[protection-chain]=fig_protection_chain.py
)
ORDER="latency-vs-epoch latency-cdf throughput-vs-epoch failover-timeline consistency checkpoint-cost replay-cost overhead protection-chain migration"
[ ${#WANT[@]} -gt 0 ] && ORDER="${WANT[*]}"
for s in $ORDER; do
	[ -n "${FIG[$s]:-}" ] || { echo "figures: no scenario '$s' (known: ${!FIG[*]})" >&2; exit 2; }
done

OUT=$ROOT/results/figures
mkdir -p "$OUT" || exit 1
: >"$OUT/index.txt"
n=0 total=$(wc -w <<<"$ORDER") failed=0 t0=$(date +%s)
for s in $ORDER; do
	n=$((n + 1))
	echo "figures: [$n/$total] $s: experiments/run $s $QUICK ($(( $(date +%s) - t0 )) s so far)" >&2
	dir=$("$ROOT/experiments/run" "$s" $QUICK)
	rc=$?
	dir=$(tail -n 1 <<<"$dir")
	if [ $rc != 0 ] || [ ! -d "$dir" ]; then
		echo "figures: $s FAILED (see the lines above); no figure" >&2
		failed=$((failed + 1))
		continue
	fi
	if ! /usr/bin/python3 "$ROOT/paper-figures/${FIG[$s]}" "$dir" >&2; then
		echo "figures: ${FIG[$s]} FAILED on $dir" >&2
		failed=$((failed + 1))
		continue
	fi
	for f in "$dir"/fig-*.png "$dir"/fig-*.pdf; do
		[ -e "$f" ] && cp -f "$f" "$OUT/"
	done
	printf '%s\t%s\t%s\n' "${FIG[$s]%.py}" "$dir" "$(jq -r .commit "$dir/meta.json" 2>/dev/null)" >>"$OUT/index.txt"
done
echo "figures: $((total - failed)) of $total drawn in $(( $(date +%s) - t0 )) s: $OUT" >&2
ls "$OUT"/*.png 2>/dev/null
[ $failed = 0 ]
