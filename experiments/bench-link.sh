#!/usr/bin/env bash
# What securing the replication link costs (issue 12, docs/security.md
# "Cost"): epoch throughput on the link (MB/s of epoch bytes), the
# checkpoint pause, and the daemons' CPU, for the same guest load with the
# link unauthenticated (--insecure), authenticated and encrypted with
# ChaCha20-Poly1305 (forced: RRVM_SECURE_CIPHER=chacha20poly1305) and with
# AES-256-GCM (what two hosts with AES-NI negotiate). Reports; asserts no
# timing.
#
# For each dirty rate of BENCH_LINK_RATES (pages/s written by the kv
# guest's dirtier over BENCH_LINK_DIRTY_MB MiB; 0 = no dirtier) and each
# repetition, the three links in turn (order rotated per repetition, so
# drift hits all), each a fresh buffered pair at BENCH_LINK_EPOCH ms with
# `--compress none` (every dirty page crosses whole: the heaviest stream a
# rate makes). After the pair is protected and BENCH_LINK_WARMUP_S s, a
# window of BENCH_LINK_WINDOW_S s between two `ctl stats --json`
# snapshots: epoch bytes per second, epochs per second, achieved epoch
# interval, mean pause per epoch, late epochs, and the CPU (utime+stime, %
# of one CPU) of the primary and the backup process. Above the link's
# capacity epochs run late and MB/s is the link's ceiling for that cipher.
# (Here the guest's dirtier tops out near 25k pages/s, about 100 MB/s: each
# first write of a page in an epoch is a nested VM exit.)
#
# So the link's own ceiling is measured where one message is big: a full
# checkpoint. Part `full`: per link, a buffered pair with a
# BENCH_LINK_FULL_MEM kv guest holding BENCH_LINK_FULL_FILL_MB MiB of random
# values; then BENCH_LINK_REPS times the backup is replaced by a fresh one
# and the primary re-sends everything: full checkpoint bytes (from the
# primary's log) over the time from the new backup's start to the primary
# protected again (sent and acknowledged).
#
# Output: results/bench-link/TIMESTAMP/
#   points.csv   link,dirty_rate_pps,rep,epochs,interval_ms,pages_per_s,
#                mb_per_s,pause_us_mean,late_epochs,primary_cpu_pct,
#                backup_cpu_pct (pages_per_s: dirty pages the epochs carried,
#                what the guest achieved; each first write of a page in an
#                epoch is a nested VM exit here, so high rates are not
#                reached)
#   summary.csv  link,dirty_rate_pps,n,pages_per_s_median,mb_per_s_median,mb_per_s_min,
#                mb_per_s_max,interval_ms_median,pause_us_median,
#                primary_cpu_median,backup_cpu_median,mb_per_s_vs_insecure
#   full.csv     link,rep,full_bytes,reprotect_ms,mb_per_s
#   meta.json, raw/ (stats snapshots), logs/
#
# Environment (defaults; --quick changes the ones marked *):
#   BENCH_LINK_RATES="0 10000 50000 100000 200000" *("0 50000 200000")
#   BENCH_LINK_LINKS="insecure chacha20poly1305 aes256gcm"
#   BENCH_LINK_REPS=3 *(1)   BENCH_LINK_EPOCH=20   BENCH_LINK_DIRTY_MB=40
#   BENCH_LINK_WINDOW_S=8 *(4)   BENCH_LINK_WARMUP_S=1   BENCH_LINK_OUT=DIR
#   BENCH_LINK_PARTS="points full"   BENCH_LINK_FULL_MEM=1G
#   BENCH_LINK_FULL_FILL_MB=384 *(128)
# Options: --quick, --help.
# Needs root (network namespaces), /dev/kvm, a built tree, jq, python3.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=SCRIPTDIR/lib/netns.sh
. "$ROOT/experiments/lib/netns.sh"
# shellcheck source=SCRIPTDIR/lib/rrvm.sh
. "$ROOT/experiments/lib/rrvm.sh"
# shellcheck source=SCRIPTDIR/lib/testbed.sh
. "$ROOT/experiments/lib/testbed.sh"
# shellcheck source=SCRIPTDIR/lib/scenario.sh
. "$ROOT/experiments/lib/scenario.sh"
BENCH_NAME=bench-link
# shellcheck source=SCRIPTDIR/lib/bench.sh
. "$ROOT/experiments/lib/bench.sh"
bench_args "$@"

RATES=${BENCH_LINK_RATES:-$(q "0 10000 50000 100000 200000" "0 50000 200000")}
LINKS=${BENCH_LINK_LINKS:-insecure chacha20poly1305 aes256gcm}
REPS=${BENCH_LINK_REPS:-$(q 3 1)}
EPOCH=${BENCH_LINK_EPOCH:-20}
DIRTY_MB=${BENCH_LINK_DIRTY_MB:-40}
WINDOW_S=${BENCH_LINK_WINDOW_S:-$(q 8 4)}
WARMUP_S=${BENCH_LINK_WARMUP_S:-1}
PARTS=${BENCH_LINK_PARTS:-points full}
FULL_MEM=${BENCH_LINK_FULL_MEM:-1G}
FULL_FILL_MB=${BENCH_LINK_FULL_FILL_MB:-$(q 384 128)}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${BENCH_LINK_OUT:-$ROOT/results/bench-link/$STAMP}
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)

is_root || fail "needs root (network namespaces)"
why=$(rrvm_unavailable) || fail "cannot run rrvm here: $why"
PY=$(rrvm_python) || fail "python3 does not run"
for v in REPS EPOCH DIRTY_MB WINDOW_S FULL_FILL_MB; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || fail "BENCH_LINK_$v must be a positive integer (got '${!v}')"
done
[[ $WARMUP_S =~ ^[0-9]+$ ]] || fail "BENCH_LINK_WARMUP_S must be a whole number of seconds"
for v in $RATES; do
	[[ $v =~ ^[0-9]+$ ]] && [ "$v" -le 1000000 ] || fail "bad dirty rate '$v' (0..1000000 pages/s)"
done
for v in $PARTS; do
	case "$v" in points | full) ;; *) fail "unknown part '$v' (points, full)" ;; esac
done
for v in $LINKS; do
	case "$v" in insecure | chacha20poly1305 | aes256gcm) ;;
	*) fail "unknown link '$v' (insecure, chacha20poly1305, aes256gcm)" ;;
	esac
done

rrvm_trap_cleanup
tmpdir_create TMP
mkdir -p "$OUT/logs" "$OUT/raw" || fail "cannot create $OUT"
SC_NAME=bench-link SC_TMP=$TMP SC_OUT=$OUT
sc_note() { note "$@"; }
sc_testbed_up
rrvm_make_key "$TMP" || fail "rrvm keygen failed"
KEY=$RRVM_KEY_FILE
say "bench-link: results in $OUT"
echo "link,dirty_rate_pps,rep,epochs,interval_ms,pages_per_s,mb_per_s,pause_us_mean,late_epochs,primary_cpu_pct,backup_cpu_pct" >"$OUT/points.csv"

# ticks PID: utime + stime of a whole process (clock ticks).
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null; }

# use_link LINK: the daemons started next inherit the key (or its
# absence) and the cipher choice.
use_link() {
	case "$1" in
	insecure) RRVM_KEY_FILE='' ;;
	*) RRVM_KEY_FILE=$KEY ;;
	esac
	if [ "$1" = chacha20poly1305 ]; then
		export RRVM_SECURE_CIPHER=chacha20poly1305
	else
		unset RRVM_SECURE_CIPHER
	fi
}

# point LINK RATE REP: one pair, one window, one row.
point() {
	local link=$1 rate=$2 rep=$3 name="$1-$2-$3" s0 s1 w0 w1 p0 p1 b0 b1 row
	local -a gopt=()
	[ "$rate" -gt 0 ] && gopt=(--primary-opt -- --primary-opt "dirty=$rate"
		--primary-opt "dirty_mb=$DIRTY_MB")
	use_link "$link"
	if sc_pair_up "$name" buffered "$EPOCH" --primary-opt --compress \
		--primary-opt none "${gopt[@]}"; then
		sleep "$WARMUP_S"
		s0=$(rrvm_repl_stats "$P_CTL") p0=$(ticks "$P_PID") b0=$(ticks "$B_PID") w0=$(now_ms)
		sleep "$WINDOW_S"
		s1=$(rrvm_repl_stats "$P_CTL") p1=$(ticks "$P_PID") b1=$(ticks "$B_PID") w1=$(now_ms)
		printf '{"before":%s,"after":%s,"window_ms":%d}\n' "${s0:-null}" "${s1:-null}" \
			$((w1 - w0)) >"$OUT/raw/$name.stats.json"
		if [ -z "$s0" ] || [ -z "$s1" ] || [ -z "$p1" ] || [ -z "$b1" ]; then
			note "$name: no stats from the pair"
		elif ! jq -e '.protected and .disconnects == 0' <<<"$s1" >/dev/null; then
			note "$name: the pair was not protected throughout: $(jq -c '{protected, disconnects}' <<<"$s1")"
		else
			row=$(jq -rn --argjson a "$s0" --argjson b "$s1" --argjson w $((w1 - w0)) \
				--argjson pt $((p1 - p0)) --argjson bt $((b1 - b0)) --argjson hz "$HZ" '
				($b.epochs - $a.epochs) as $n
				| [$n,
				   (if $n > 0 then (($b.achieved_interval_ms * ($b.epochs - 1)) - ($a.achieved_interval_ms * ($a.epochs - 1))) / $n else 0 end),
				   (($b.pages - $a.pages) / ($w / 1000)),
				   (($b.bytes_sent - $a.bytes_sent) / ($w / 1000) / 1e6),
				   (if $n > 0 then ($b.pause_us_avg * $b.epochs - $a.pause_us_avg * $a.epochs) / $n else 0 end),
				   ($b.late_epochs - $a.late_epochs),
				   ($pt / $hz / ($w / 1000) * 100),
				   ($bt / $hz / ($w / 1000) * 100)]
				| map(. * 100 | round / 100 | tostring) | join(",")')
			echo "$link,$rate,$rep,$row" >>"$OUT/points.csv"
			say "  $link, $rate pages/s #$rep: epochs,interval_ms,pages/s,MB/s,pause_us,late,P%,B% = $row"
		fi
	fi
	sc_pair_down
}

run_points() {
	local rep rate link i n
	read -ra L <<<"$LINKS"
	n=${#L[@]}
	for rep in $(seq 1 "$REPS"); do
		for rate in $RATES; do
			for i in $(seq 0 $((n - 1))); do
				link=${L[$(((i + rep - 1) % n))]}
				point "$link" "$rate" "$rep"
			done
		done
	done
}
# full_count: full checkpoints the current primary has logged as sent.
full_count() { grep -c 'full checkpoint sent' "$P_LOG"; }

# full_link LINK: one pair with a filled guest; REPS re-protections.
full_link() {
	local link=$1 name=full-$1 rep t0 t1 bytes full0 bl ms
	use_link "$link"
	sc_pair_up "$name" buffered "$EPOCH" --primary-opt --mem --primary-opt "$FULL_MEM" ||
		{ sc_pair_down; return 0; }
	sc_fill_random "$name" "$FULL_FILL_MB" || { sc_pair_down; return 0; }
	for rep in $(seq 1 "$REPS"); do
		pid_stop "$B_PID" 5
		full0=$(full_count)
		bl=$OUT/logs/$name.$rep.backup.log
		t0=$(now_ms)
		rrvm_backup_bg "$TB_NS_BAK" "$bl" "$B_CTL" "$SC_REP_ADDR" "$B_REPORT" \
			--fence-cmd "$(rrvm_tb_fence_cmd pri)"
		B_PID=$RRVM_LAST_PID
		# Protected again: a new full checkpoint sent, then acknowledged.
		if ! wait_for 120 --pid "$B_PID" test_more_fulls "$full0" ||
			! rrvm_wait_protected "$P_CTL" "$P_PID" 120 "$((full0 + 1))"; then
			note "$name.$rep: not protected again within 120 s"
			break
		fi
		t1=$(now_ms)
		bytes=$(sed -n 's/.*full checkpoint sent ([0-9]* pages, \([0-9]*\) bytes).*/\1/p' "$P_LOG" | tail -n 1)
		ms=$((t1 - t0))
		echo "$link,$rep,$bytes,$ms,$(awk -v b="$bytes" -v t="$ms" 'BEGIN { printf "%.1f", b / 1e6 / (t / 1000) }')" >>"$OUT/full.csv"
		say "  $name #$rep: $bytes bytes in $ms ms"
	done
	sc_pair_down
}
test_more_fulls() { [ "$(full_count)" -gt "$1" ]; }

run_full() {
	local link
	echo "link,rep,full_bytes,reprotect_ms,mb_per_s" >"$OUT/full.csv"
	say "part full: $FULL_MEM guest, $FULL_FILL_MB MiB of random values, $REPS re-protections per link"
	for link in $LINKS; do
		full_link "$link"
	done
}

[[ " $PARTS " == *" points "* ]] && run_part points run_points
[[ " $PARTS " == *" full "* ]] && run_part full run_full
unset RRVM_SECURE_CIPHER

"$PY" - "$OUT/points.csv" >"$OUT/summary.csv" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print("link,dirty_rate_pps,n,pages_per_s_median,mb_per_s_median,mb_per_s_min,"
      "mb_per_s_max,interval_ms_median,pause_us_median,primary_cpu_median,"
      "backup_cpu_median,mb_per_s_vs_insecure")
med = {}
for r in rows:
    med.setdefault((r["link"], r["dirty_rate_pps"]), []).append(r)
def m(rs, k, f=statistics.median):
    return f(float(r[k]) for r in rs)
for (link, rate), rs in med.items():
    base = med.get(("insecure", rate))
    vs = "%.2f" % (m(rs, "mb_per_s") / m(base, "mb_per_s")) \
        if base and m(base, "mb_per_s") > 0 else "NA"
    print("%s,%s,%d,%.0f,%.1f,%.1f,%.1f,%.2f,%.0f,%.1f,%.1f,%s" % (
        link, rate, len(rs), m(rs, "pages_per_s"), m(rs, "mb_per_s"), m(rs, "mb_per_s", min),
        m(rs, "mb_per_s", max), m(rs, "interval_ms"), m(rs, "pause_us_mean"),
        m(rs, "primary_cpu_pct"), m(rs, "backup_cpu_pct"), vs))
EOF
jq -n --arg stamp "$STAMP" --arg commit "$(git -C "$ROOT" rev-parse HEAD 2>/dev/null)" \
	--arg rates "$RATES" --arg links "$LINKS" --argjson reps "$REPS" --argjson epoch "$EPOCH" \
	--argjson window "$WINDOW_S" --argjson quick "$([ "$QUICK" = 1 ] && echo true || echo false)" \
	--arg la0 "$LOADAVG_START" --arg la1 "$(cut -d' ' -f1-3 /proc/loadavg)" \
	--arg steal "${STEAL_PCT[points]:-NA}" --arg aes "$(grep -qw aes /proc/cpuinfo && echo yes || echo no)" \
	--argjson failures "$FAILURES" \
	'{bench: "link", stamp: $stamp, commit: $commit, quick: $quick, rates: $rates,
	  links: $links, reps: $reps, epoch_ms: $epoch, window_s: $window,
	  host: {loadavg_start: $la0, loadavg_end: $la1, steal_pct: $steal, cpu_aes: $aes},
	  failures: $failures, notes: $ARGS.positional}' --args "${NOTES[@]}" >"$OUT/meta.json"
"$SC_TB_CLI" --prefix "$SC_PREFIX" down >/dev/null 2>&1 || note "testbed down failed"
column -s, -t <"$OUT/summary.csv"
if [ -s "$OUT/full.csv" ]; then
	"$PY" - "$OUT/full.csv" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print("full checkpoint: link, n, MB/s median (min-max), re-protect ms median")
for l in dict.fromkeys(r["link"] for r in rows):
    rs = [r for r in rows if r["link"] == l]
    v = [float(r["mb_per_s"]) for r in rs]
    print("  %-18s %d  %.0f (%.0f-%.0f)  %.0f" % (l, len(rs), statistics.median(v),
          min(v), max(v), statistics.median(float(r["reprotect_ms"]) for r in rs)))
EOF
fi
say "bench-link done: $OUT ($FAILURES notes)"
