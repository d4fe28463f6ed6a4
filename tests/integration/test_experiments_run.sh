#!/usr/bin/env bash
# The scenario driver (experiments/run, docs/experiments.md) end to end:
# its usage errors, then the quick latency-vs-epoch scenario on one epoch
# (a private testbed, real pairs in every mode, the consistency client),
# its CSV against the documented schema, meta.json, and its figure drawn by
# paper-figures/fig_latency_vs_epoch.py.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

T_NAME=experiments_run
is_root || t_skip "needs root (network namespaces)"
why=$(kvm_usable) || t_skip "no usable /dev/kvm: $why"
[ -x "$RRVM" ] || t_skip "$RRVM is missing (run make)"
RUN=$RRVM_ROOT/experiments/run
rrvm_trap_cleanup
tmpdir_create T_TMP

# --- usage
out=$("$RUN" --list 2>&1)
for s in latency-vs-epoch latency-cdf throughput-vs-epoch failover-timeline consistency checkpoint-cost replay-cost; do
	t_check "--list names $s" contains "$s" "$out"
done
out=$("$RUN" no-such-scenario 2>&1)
t_eq "an unknown scenario is a usage error" 2 $?
t_check "... and the message lists the scenarios" contains "latency-cdf" "$out"
out=$("$RUN" latency-vs-epoch --set BOGUS=1 2>&1)
t_eq "an unknown parameter is a usage error" 2 $?
t_check "... naming it" contains "BOGUS" "$out"
out=$("$RUN" latency-vs-epoch --quick --set EPOCHS=abc --out "$T_TMP/bad" 2>&1)
t_eq "a malformed parameter value fails" 1 $?
t_check "... saying why" contains "not a positive integer" "$out"

# --- one quick run
D=$T_TMP/lve
out=$("$RUN" latency-vs-epoch --quick --set EPOCHS=20 --set DURATION=1 --out "$D" 2>"$T_TMP/run.log")
rc=$?
sed 's/^/  | /' "$T_TMP/run.log" | tail -n 12
t_eq "experiments/run latency-vs-epoch --quick exits 0" 0 $rc
t_eq "it prints its results directory" "$D" "$(tail -n 1 <<<"$out")"
csv=$D/latency.csv
t_eq "latency.csv has the documented header" "mode,epoch_ms,round,requests,p50_ms,p99_ms,max_ms,rps" "$(head -n 1 "$csv" 2>/dev/null)"
t_eq "one row per point: none twice, 3 replicated modes once" \
	"buffered none none reverse-inline reverse-mirror" \
	"$(tail -n +2 "$csv" | cut -d, -f1 | sort | tr '\n' ' ' | sed 's/ $//')"
bad=$(awk -F, 'NR > 1 && (NF != 8 || $4 !~ /^[1-9][0-9]*$/ || $5 !~ /^[0-9.]+$/ || $5 <= 0 || $6 < $5 || $7 < $6 || ($1 == "none") != ($2 == ""))' "$csv")
t_eq "every row is well formed (counts > 0, p50 <= p99 <= max, epoch only when replicated)" "" "$bad"
# Semantics, not speed: buffered output waits for the epoch's ack, reverse
# output does not (two orders of magnitude apart here).
b=$(awk -F, '$1 == "buffered" { print $5 }' "$csv")
r=$(awk -F, '$1 == "reverse-inline" { print $5 }' "$csv")
t_check "buffered p50 ($b ms) is at least half the 20 ms epoch" awk -v b="${b:-0}" 'BEGIN { exit !(b >= 10) }'
t_check "reverse-inline p50 ($r ms) is below buffered's" awk -v b="${b:-0}" -v r="${r:-1e9}" 'BEGIN { exit !(r < b) }'
meta=$(cat "$D/meta.json" 2>/dev/null)
t_check "meta.json names the scenario, commit, params, times and steal" \
	jq -e '.scenario == "latency-vs-epoch" and (.commit | length) == 40 and .params.epochs == "20" and .quick == true and (.started | length) > 0 and (.ended | length) > 0 and (.host.steal_pct | type) == "number" and (.noise.baseline.none_p50_ms_first | type) == "number"' <<<"$meta" >/dev/null

# --- its figure
/usr/bin/python3 "$RRVM_ROOT/paper-figures/fig_latency_vs_epoch.py" "$D" --out "$T_TMP/fig" >"$T_TMP/fig.log" 2>&1
t_eq "fig_latency_vs_epoch.py draws it" 0 $?
t_check "... a PNG" test -s "$T_TMP/fig/fig-latency-vs-epoch.png"
t_check "... and a PDF" test -s "$T_TMP/fig/fig-latency-vs-epoch.pdf"
t_finish
