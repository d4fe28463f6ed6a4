#!/usr/bin/env bash
# The scenario driver (experiments/run, docs/experiments.md) end to end:
# its usage errors, then the quick latency-vs-epoch scenario on one epoch
# (a private testbed, real pairs in every mode, the consistency client),
# its CSV against the documented schema, meta.json (with the idle policy),
# and its figure drawn by paper-figures/fig_latency_vs_epoch.py; then a
# minimal overhead run (none and reverse-mirror, one rate): a CPU row for
# every named thread, the ratio to none, and its figure.
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
for s in latency-vs-epoch latency-cdf throughput-vs-epoch failover-timeline consistency checkpoint-cost replay-cost overhead protection-chain migration; do
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
out=$("$RUN" latency-vs-epoch --quick --set IDLE=sometimes --out "$T_TMP/bad2" 2>&1)
t_eq "an unknown idle policy fails" 1 $?
t_check "... naming the known ones" contains "busy nice19 none" "$out"

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
t_check "... and the idle policy every mode ran under (busy loops by default)" \
	jq -e '.params.idle == "busy" and (.idle_policy | startswith("busy-loops sched_idle"))' <<<"$meta" >/dev/null

# --- its figure
/usr/bin/python3 "$RRVM_ROOT/paper-figures/fig_latency_vs_epoch.py" "$D" --out "$T_TMP/fig" >"$T_TMP/fig.log" 2>&1
t_eq "fig_latency_vs_epoch.py draws it" 0 $?
t_check "... a PNG" test -s "$T_TMP/fig/fig-latency-vs-epoch.png"
t_check "... and a PDF" test -s "$T_TMP/fig/fig-latency-vs-epoch.pdf"

# --- the overhead scenario, minimal: CPU per component, none and mirror
D=$T_TMP/ov
out=$("$RUN" overhead --quick --set MODES="none reverse-mirror" --set RATES=1000 --set DURATION=1 \
	--set LATENCY=0 --out "$D" 2>"$T_TMP/ov.log")
rc=$?
sed 's/^/  | /' "$T_TMP/ov.log" | tail -n 6
t_eq "experiments/run overhead exits 0" 0 $rc
t_eq "cpu.csv has the documented header" \
	"mode,rate_rps,achieved_rps,requests,window_s,host,component,cpu_us_per_req,cpu_pct" "$(head -n 1 "$D/cpu.csv" 2>/dev/null)"
comps=$(awk -F, 'NR > 1 { print $1 "/" $6 "/" $7 }' "$D/cpu.csv" | sort -u | tr '\n' ' ')
for c in none/primary/vcpu none/primary/control reverse-mirror/primary/vcpu reverse-mirror/primary/repl-epoch \
	reverse-mirror/primary/repl-ack reverse-mirror/primary/repl-heartbeat reverse-mirror/backup/main \
	reverse-mirror/backup/capture none/client/load-client none/system/softirq; do
	t_check "a row for $c (threads are named)" contains "$c" "$comps"
done
t_eq "none has no backup rows" "" "$(awk -F, '$1 == "none" && $6 == "backup"' "$D/cpu.csv")"
vcpu=$(awk -F, '$1 == "none" && $7 == "vcpu" { print $8 }' "$D/cpu.csv")
t_check "the vCPU thread costs something per request ($vcpu us)" awk -v v="${vcpu:-0}" 'BEGIN { exit !(v > 1) }'
t_eq "overhead.csv: none is 1.000x itself" "1.000" "$(awk -F, '$1 == "none" { print $12 }' "$D/overhead.csv")"
rel=$(awk -F, '$1 == "reverse-mirror" { print $12 }' "$D/overhead.csv")
t_check "overhead.csv: reverse-mirror has a ratio to none ($rel)" awk -v v="${rel:-x}" 'BEGIN { exit !(v + 0 > 0) }'
ach=$(awk -F, '$1 == "none" { print $3 }' "$D/overhead.csv")
t_check "the paced load achieved its 1000/s (${ach}/s)" awk -v v="${ach:-0}" 'BEGIN { exit !(v > 900 && v < 1100) }'
/usr/bin/python3 "$RRVM_ROOT/paper-figures/fig_overhead.py" "$D" --out "$T_TMP/fig" >"$T_TMP/fig.log" 2>&1
t_eq "fig_overhead.py draws it" 0 $?
t_finish
