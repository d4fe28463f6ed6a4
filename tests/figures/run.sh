#!/usr/bin/env bash
# Tests for paper-figures/fig_*.py: each script draws its figure from its
# sample under paper-figures/samples/, and refuses broken input loudly
# (non-zero exit, a message on stderr naming the problem, no traceback).
# Usage, from anywhere: bash tests/figures/run.sh
# Prints "figures: N passed, M failed"; exit status 1 if any failed.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FIG=$ROOT/paper-figures
# Debian's python has matplotlib; a python3 earlier on PATH may not.
PY=/usr/bin/python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/figtest.XXXXXX") || exit 1
# Background figure runs are waited for before the end; on an interrupt,
# stop them before removing their directory.
trap 'kill $(jobs -p) 2>/dev/null; wait; rm -rf "$TMP"' EXIT

pass=0
fail=0
failed=""

ok() { pass=$((pass + 1)); }
bad() {
	fail=$((fail + 1))
	failed="$failed $1"
	echo "FAIL $1: $2" >&2
	[ -s "$TMP/stderr" ] && sed 's/^/    stderr: /' "$TMP/stderr" | head -n 5 >&2
}

if [ ! -x "$PY" ] || ! "$PY" -c 'import matplotlib, numpy' 2>/dev/null; then
	echo "figures: $PY with matplotlib and numpy is needed (apt install python3-matplotlib)" >&2
	echo "figures: 0 passed, 1 failed"
	exit 1
fi

# run SCRIPT ARGS...: stdout and stderr into $TMP, exit status in $rc.
run() {
	local script=$1
	shift
	timeout 120 "$PY" "$script" "$@" >"$TMP/stdout" 2>"$TMP/stderr"
	rc=$?
}

# start_positive SCENARIO SCRIPT: draw the sample in the background (the
# matplotlib runs dominate the time; two CPUs halve it).
start_positive() {
	local scn=$1 script=$2 o=$TMP/pos-$1
	mkdir -p "$o"
	(
		timeout 120 "$PY" "$script" "$FIG/samples/$scn" --out "$o/out" >"$o/stdout" 2>"$o/stderr"
		echo $? >"$o/rc"
	) &
}

# check_positive SCENARIO: the sample gave a PNG and a PDF.
check_positive() {
	local scn=$1 name="$1/sample" o=$TMP/pos-$1 png pdf sig
	cp "$o/stderr" "$TMP/stderr" 2>/dev/null
	rc=$(cat "$o/rc" 2>/dev/null || echo none)
	if [ "$rc" != 0 ]; then
		bad "$name" "exit status $rc on the sample"
		return
	fi
	png=$o/out/fig-$scn.png
	pdf=$o/out/fig-$scn.pdf
	if [ ! -s "$png" ] || [ ! -s "$pdf" ]; then
		bad "$name" "missing or empty $png or $pdf"
		return
	fi
	sig=$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')
	if [ "$sig" != 89504e470d0a1a0a ]; then
		bad "$name" "$png does not start with the PNG signature ($sig)"
		return
	fi
	if [ "$(head -c 5 "$pdf")" != "%PDF-" ]; then
		bad "$name" "$pdf does not start with %PDF-"
		return
	fi
	if ! grep -qF "$png" "$o/stdout"; then
		bad "$name" "the written paths are not printed"
		return
	fi
	ok
}

# negative NAME SCRIPT DIR PATTERN...: the script must fail on DIR with a
# message on stderr matching every PATTERN (extended regex, any case).
negative() {
	local name=$1 script=$2 dir=$3 pat
	shift 3
	run "$script" "$dir" --out "$TMP/neg-out"
	if [ "$rc" = 0 ]; then
		bad "$name" "exit status 0 on broken input"
		return
	fi
	if grep -q Traceback "$TMP/stderr"; then
		bad "$name" "a Python traceback instead of a message"
		return
	fi
	for pat in "$@"; do
		if ! grep -qiE -- "$pat" "$TMP/stderr"; then
			bad "$name" "stderr does not mention '$pat'"
			return
		fi
	done
	ok
}

# edit CSV OP COLUMN: drop COLUMN, or make its first data cell non-numeric.
edit() {
	"$PY" - "$@" <<'EOF'
import csv, sys
path, op, col = sys.argv[1:4]
with open(path, newline="") as f:
    rows = list(csv.reader(f))
i = rows[0].index(col)
if op == "drop":
    rows = [r[:i] + r[i + 1:] for r in rows]
else:
    rows[1][i] = "n/a"
with open(path, "w", newline="") as f:
    csv.writer(f, lineterminator="\n").writerows(rows)
EOF
}

# scenario, CSV checked, a required column to drop, a numeric column to spoil
scenarios=""
while read -r scn csv dropcol numcol; do
	[ -n "$scn" ] || continue
	script=$FIG/fig_${scn//-/_}.py
	sample=$FIG/samples/$scn
	if [ ! -f "$script" ] || [ ! -f "$sample/$csv" ]; then
		bad "$scn" "no $script or no $sample/$csv"
		continue
	fi
	start_positive "$scn" "$script"
	scenarios="$scenarios $scn"

	negative "$scn/no-results-dir" "$script" "$TMP/absent-$scn" "absent-$scn" "missing|no such"

	# fresh NAME: a copy of the sample to break, path in $d.
	fresh() { d=$TMP/$scn-$1; rm -rf "$d"; cp -r "$sample" "$d"; }

	fresh no-csv
	rm -f "$d/$csv"
	negative "$scn/no-csv" "$script" "$d" "$csv" "missing|no such"

	fresh header-only
	head -n 1 "$sample/$csv" >"$d/$csv"
	negative "$scn/header-only" "$script" "$d" "$csv" "header only|no data"

	fresh empty-csv
	: >"$d/$csv"
	negative "$scn/empty-csv" "$script" "$d" "$csv" "empty"

	fresh no-column
	edit "$d/$csv" drop "$dropcol"
	negative "$scn/no-column-$dropcol" "$script" "$d" \
		"$csv" "missing required column" "\\b$dropcol\\b"

	fresh non-numeric
	edit "$d/$csv" spoil "$numcol"
	negative "$scn/non-numeric-$numcol" "$script" "$d" "$csv:2" "'$numcol'" "not a number"

	fresh no-meta
	rm -f "$d/meta.json"
	negative "$scn/no-meta" "$script" "$d" "meta.json" "missing|no such"
done <<'EOF'
latency-vs-epoch    latency.csv    p50_ms         rps
latency-cdf         samples.csv    latency_us     latency_us
throughput-vs-epoch throughput.csv workload       rps
failover-timeline   bins.csv       replies        t_ms
consistency         kills.csv      violations     lost_increments
checkpoint-cost     cost.csv       pause_us_p90   pages_median
replay-cost         replay.csv     replay_ms      replay_frames
overhead            cpu.csv        component      cpu_us_per_req
migration           migration.csv  throttle_max   total_ms
protection-chain    chain.csv      reprotect_ms   outage_ms
EOF

# protection-chain's optional inputs: drawn without them; checked like the
# others when present; rows that contradict themselves refused.
PC_SCRIPT=$FIG/fig_protection_chain.py
PC_SAMPLE=$FIG/samples/protection-chain
pc_fresh() { d=$TMP/pc-$1; rm -rf "$d"; cp -r "$PC_SAMPLE" "$d"; }
pc_fresh bare
rm -f "$d/switchovers.csv" "$d/rounds.csv"
run "$PC_SCRIPT" "$d" --out "$TMP/pc-bare-out"
if [ "$rc" = 0 ] && [ -s "$TMP/pc-bare-out/fig-protection-chain.png" ]; then ok; else
	bad protection-chain/without-optional "exit status $rc without switchovers.csv and rounds.csv"; fi
pc_fresh sw-nonnum
edit "$d/switchovers.csv" spoil handover_ms
negative protection-chain/switchovers-non-numeric "$PC_SCRIPT" "$d" "switchovers.csv:2" "'handover_ms'" "not a number"
pc_fresh sw-nocol
edit "$d/switchovers.csv" drop stall_ms
negative protection-chain/switchovers-no-column "$PC_SCRIPT" "$d" "switchovers.csv" "missing required column" "stall_ms"
pc_fresh sw-empty
: >"$d/switchovers.csv"
negative protection-chain/switchovers-empty "$PC_SCRIPT" "$d" "switchovers.csv" "empty"
pc_fresh rounds-nocol
edit "$d/rounds.csv" drop reprotect_stall_ms
negative protection-chain/rounds-no-column "$PC_SCRIPT" "$d" "rounds.csv" "missing required column" "reprotect_stall_ms"
pc_fresh same-host
sed -i '2s/,pri,bak,/,pri,pri,/' "$d/chain.csv"
negative protection-chain/same-host "$PC_SCRIPT" "$d" "chain.csv:2" "from_host and to_host"
pc_fresh dup-round
sed -n 2p "$PC_SAMPLE/chain.csv" >>"$d/chain.csv"
negative protection-chain/duplicate-round "$PC_SCRIPT" "$d" "chain.csv" "twice"
pc_fresh bad-host
sed -i '2s/,pri,bak,/,pri,elsewhere,/' "$d/chain.csv"
negative protection-chain/unknown-host "$PC_SCRIPT" "$d" "chain.csv:2" "to_host" "elsewhere"
pc_fresh negative
sed -i '2s/^\([^,]*,[^,]*,[^,]*,[^,]*,\)[^,]*/\1-5/' "$d/chain.csv"
negative protection-chain/negative-outage "$PC_SCRIPT" "$d" "chain.csv:2" "outage_ms" "negative"

# The caption states the idle policy of a latency run, and a latency
# figure warns when a run did not record one (docs/experiments.md).
if "$PY" - "$FIG" <<'PYEOF' >"$TMP/stdout" 2>"$TMP/stderr"; then ok; else bad figlib/idle-policy "caption or idle_note wrong"; fi
import sys
sys.path.insert(0, sys.argv[1])
import figlib
meta = {"scenario": "x", "idle_policy": "busy-loops sched_idle x2"}
assert "busy-loops sched_idle x2" in " ".join(figlib.caption(meta, width=400))
assert figlib.idle_note(meta) == ""
assert "not equalised" in figlib.idle_note({"scenario": "x"})
assert "idle" not in " ".join(figlib.caption({"scenario": "x"}, width=400))
PYEOF

wait
for scn in $scenarios; do
	check_positive "$scn"
done

echo "figures: $pass passed, $fail failed"
[ "$fail" = 0 ] || { echo "figures: failing:$failed" >&2; exit 1; }
