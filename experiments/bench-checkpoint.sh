#!/usr/bin/env bash
# rrvm checkpoint benchmark (issue 3, "Measure"): pause time of an
# incremental checkpoint against the number of dirty pages, the checkpoint
# codec on the kv guest under redis-benchmark SET load, and full save and
# restore of an idle and of a loaded guest. Reports; asserts no timing.
#
#   namespace (client side)                    the guest
#     redis-benchmark, ping, the probe ──tap0 10.77.0.1── rrvm guest 10.77.0.2
#
# Parts (BENCH_CKPT_PARTS, default all three, in this order):
#  pause        echo guest (--mem 128M) with the guest dirtier on, for each
#               target T of dirty pages per epoch: `ctl checkpoint-probe
#               EPOCHS INTERVAL` reports pause (vCPU stopped for the
#               collect) with its split, and the dirty pages per epoch.
#               With KVM's manual dirty-log protect the probe's collect is
#               two-phase (most pages copied before the pause) and it
#               interleaves as many one-phase collects (the whole copy in
#               the pause, the old way): both pauses are in the same row,
#               measured in the same run under the same load.
#               The probe sleeps INTERVAL *after* encoding the previous
#               epoch, so an epoch lasts longer than INTERVAL and holds more
#               than rate*INTERVAL pages; the dirtier rate is therefore
#               calibrated: boot at T/INTERVAL pages/s, probe a few epochs,
#               scale the rate by T/achieved, reboot, until the achieved
#               median is within 10% of T (or the rounds run out). The rate
#               is capped (BENCH_CKPT_MAX_RATE) so the guest can keep up;
#               the interval grows for large T so T/INTERVAL stays under the
#               cap. Achieved pages are reported whatever they are.
#               T=0 is an idle baseline (dirtier off). For T >= 256 the
#               dirtier instead rewrites a whole region of round(T/256) MiB
#               every epoch (twice the covering rate), which pins the pages
#               per epoch whatever the epoch's length (see part_pause).
#  codec        kv guest (--mem 128M) while redis-benchmark -t set -r 100000
#               -c 20 -d SIZE runs: checkpoint-probe EPOCHS x 20 ms; bytes
#               raw (4 KiB pages) / encoded (XOR+RLE/LZ4, raw fallback) and
#               without compression (framing, zero pages elided), encode
#               MB/s. One run per value size (64 and 512 bytes).
#  saverestore  kv guest (64 MiB), idle and loaded (100k SETs of 512-byte
#               values with -r 100000, dirtier on). Per repetition: a client
#               holds one TCP connection (marker key written), `ctl save
#               FILE --stop`, wait for the monitor to exit, start `rrvm
#               restore` and time, from its start: the first `ctl status`
#               reply, the first PING answered on a NEW connection, then the
#               PING on the HELD connection; the marker key and DBSIZE are
#               checked. Repetition 1 saves the booted guest, the next ones
#               save the previous restore (a chain, as a backup would).
#
# Output: results/bench-checkpoint/TIMESTAMP/
#   pause.csv, pause-calibration.csv, codec.csv, save-restore.csv (one row
#   per repetition), save-restore-summary.csv (median/min/max), meta.json,
#   raw/ (every probe and save JSON), logs/ (rrvm consoles, clients).
#   A readable table on stdout, progress on stderr.
#
# Environment (defaults; --quick changes the ones marked *):
#   BENCH_CKPT_PARTS="pause codec saverestore"
#   BENCH_CKPT_PAGES="0 100 1000 10000"   dirty-page targets per epoch
#   BENCH_CKPT_INTERVAL_MS=50             probe interval (pause part)
#   BENCH_CKPT_MAX_RATE=100000            dirtier pages/s cap
#   BENCH_CKPT_EPOCHS=100 *(20)           probe epochs (pause part)
#   BENCH_CKPT_CAL_ROUNDS=4 *(2)          calibration rounds at most
#   BENCH_CKPT_CAL_EPOCHS=10 *(8)         epochs per calibration probe
#   BENCH_CKPT_PAUSE_MEM=128M
#   BENCH_CKPT_CODEC_SIZES="64 512"       redis-benchmark -d values
#   BENCH_CKPT_CODEC_EPOCHS=100 *(30)
#   BENCH_CKPT_CODEC_INTERVAL_MS=20
#   BENCH_CKPT_CODEC_MEM=128M             (100k keys of 512 B need > 64 MiB)
#   BENCH_CKPT_CODEC_WARMUP_S=1           load runs this long before probing
#   BENCH_CKPT_REPS=3 *(2)                save/restore repetitions
#   BENCH_CKPT_SR_MEM=64M
#   BENCH_CKPT_LOAD_SETS=100000           SETs before the loaded save
#   BENCH_CKPT_LOAD_SIZE=512
#   BENCH_CKPT_LOAD_DIRTY=10000           dirtier pages/s in the loaded guest
#   BENCH_CKPT_LOAD_DIRTY_MB=4            its region (64 MiB guest: 100k SETs
#                                         of 512 B plus a 16 MiB region OOM)
#   BENCH_CKPT_OUT=DIR                    output directory
# Options: --quick (about a minute), --help.
# Needs root (network namespaces), /dev/kvm, build/rrvm, jq, python3,
# redis-benchmark.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=SCRIPTDIR/lib/netns.sh
. "$ROOT/experiments/lib/netns.sh"
# shellcheck source=SCRIPTDIR/lib/rrvm.sh
. "$ROOT/experiments/lib/rrvm.sh"
# shellcheck source=SCRIPTDIR/lib/bench.sh
BENCH_NAME=bench-checkpoint
. "$ROOT/experiments/lib/bench.sh"
bench_args "$@"

PARTS=${BENCH_CKPT_PARTS:-pause codec saverestore}
PAGES_TARGETS=${BENCH_CKPT_PAGES:-0 100 1000 10000}
INTERVAL=${BENCH_CKPT_INTERVAL_MS:-50}
MAX_RATE=${BENCH_CKPT_MAX_RATE:-100000}
EPOCHS=${BENCH_CKPT_EPOCHS:-$(q 100 20)}
CAL_ROUNDS=${BENCH_CKPT_CAL_ROUNDS:-$(q 4 2)}
CAL_EPOCHS=${BENCH_CKPT_CAL_EPOCHS:-$(q 10 8)}
CAL_TOL_PCT=10
PAUSE_MEM=${BENCH_CKPT_PAUSE_MEM:-128M}
CODEC_SIZES=${BENCH_CKPT_CODEC_SIZES:-64 512}
CODEC_EPOCHS=${BENCH_CKPT_CODEC_EPOCHS:-$(q 100 30)}
CODEC_INTERVAL=${BENCH_CKPT_CODEC_INTERVAL_MS:-20}
CODEC_MEM=${BENCH_CKPT_CODEC_MEM:-128M}
CODEC_WARMUP=${BENCH_CKPT_CODEC_WARMUP_S:-1}
CODEC_KEYSPACE=100000
CODEC_CLIENTS=20
REPS=${BENCH_CKPT_REPS:-$(q 3 2)}
SR_MEM=${BENCH_CKPT_SR_MEM:-64M}
LOAD_SETS=${BENCH_CKPT_LOAD_SETS:-100000}
LOAD_SIZE=${BENCH_CKPT_LOAD_SIZE:-512}
LOAD_DIRTY=${BENCH_CKPT_LOAD_DIRTY:-10000}
LOAD_DIRTY_MB=${BENCH_CKPT_LOAD_DIRTY_MB:-4}
DIRTIER_MAX_RATE=1000000 # guest/services/lib/dirtier.h
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${BENCH_CKPT_OUT:-$ROOT/results/bench-checkpoint/$STAMP}

HOST_IP=10.77.0.1
GUEST_IP=10.77.0.2
GUEST_MAC=52:54:00:77:00:02
KV_PORT=6379
ECHO_PORT=7

NS=
TMP=
CTL=
PY=
MON_PID=    # the running monitor (rrvm run or rrvm restore), if any
mb_of() { # 128M / 64m / 1G -> MiB
	local v=${1^^}
	case "$v" in
	*G) echo $((${v%G} * 1024)) ;;
	*M) echo "${v%M}" ;;
	*) echo $((v >> 20)) ;;
	esac
}
fmt() { # fmt PRINTF-FORMAT VALUE: NA-safe number formatting
	awk -v f="$1" -v v="$2" 'BEGIN { if (v == "" || v == "NA") print "NA"; else printf f "\n", v }'
}

# ---------------------------------------------------------------- phases
check_env() {
	local t why v
	is_root || fail "needs root (network namespaces)"
	why=$(rrvm_unavailable) || fail "cannot run rrvm here: $why"
	for t in ip ping jq python3 redis-benchmark redis-cli timeout awk; do
		command -v "$t" >/dev/null || fail "'$t' is not installed (make deps)"
	done
	for t in echo kv; do
		[ -f "$RRVM_GUEST_DIR/$t.elf" ] || fail "$RRVM_GUEST_DIR/$t.elf is missing (run make)"
	done
	for v in INTERVAL MAX_RATE EPOCHS CAL_ROUNDS CAL_EPOCHS CODEC_EPOCHS \
		CODEC_INTERVAL CODEC_WARMUP REPS LOAD_SETS LOAD_SIZE LOAD_DIRTY LOAD_DIRTY_MB; do
		[[ ${!v} =~ ^[1-9][0-9]*$ ]] || fail "$v must be a positive integer (got '${!v}')"
	done
	for v in $PAGES_TARGETS; do
		[[ $v =~ ^[0-9]+$ ]] || fail "bad BENCH_CKPT_PAGES entry '$v'"
	done
	for v in $CODEC_SIZES; do
		[[ $v =~ ^[1-9][0-9]*$ ]] || fail "bad BENCH_CKPT_CODEC_SIZES entry '$v'"
	done
	for v in $PARTS; do
		case "$v" in pause | codec | saverestore) ;; *) fail "unknown part '$v'" ;; esac
	done
	[ "$MAX_RATE" -ge 1000 ] || fail "BENCH_CKPT_MAX_RATE must be at least 1000"
	[ "$MAX_RATE" -le $DIRTIER_MAX_RATE ] || fail "BENCH_CKPT_MAX_RATE is above the dirtier's $DIRTIER_MAX_RATE"
	# The interpreter itself, not a version-manager shim (a shim costs tens
	# of ms per start and may not resolve inside `ip netns exec`).
	PY=$(python3 -c 'import sys; print(sys.executable)') || fail "python3 does not run"
}

setup_net() {
	rrvm_trap_cleanup
	tmpdir_create TMP
	ns_create NS ckpt
	ns_add_tap "$NS" tap0 "$HOST_IP/24"
	mkdir -p "$OUT/logs" "$OUT/raw" || fail "cannot create $OUT"
	CTL=$TMP/rrvm.ctl
	write_client
	say "network: $NS, tap0 $HOST_IP -> guest $GUEST_IP; results in $OUT"
}

# boot NAME IMAGE PORT MEM [guest-option...]: start `rrvm run`, wait until
# the guest answers ping and a TCP connect on PORT. Sets MON_PID.
boot() {
	local name=$1 img=$RRVM_GUEST_DIR/$2.elf port=$3 mem=$4 rc
	shift 4
	stop_monitor
	ns_bg "$NS" "$OUT/logs/$name.log" "$RRVM" run --guest "$img" --tap tap0 \
		--ip "$GUEST_IP/24" --mac "$GUEST_MAC" --gw "$HOST_IP" --mem "$mem" \
		--control "$CTL" --log-level "${RRVM_LOG_LEVEL:-info}" ${1:+--} "$@"
	MON_PID=$RRVM_LAST_PID
	rrvm_wait_ready "$NS" "$GUEST_IP" "$port" "$MON_PID" 30
	rc=$?
	if [ $rc != 0 ]; then
		tail -n 20 "$OUT/logs/$name.log" | sed 's/^/    /' >&2
		fail "$name: guest did not come up ($([ $rc = 2 ] && echo "rrvm exited" || echo timeout); $OUT/logs/$name.log)"
	fi
}

stop_monitor() {
	if [ -n "$MON_PID" ]; then
		pid_stop "$MON_PID" 5
		MON_PID=
	fi
}

# probe TAG EPOCHS INTERVAL: run checkpoint-probe; its JSON in PROBE_JSON
# (kept in raw/TAG.json). Returns 1 (noted) if it fails.
PROBE_JSON=
probe() {
	local tag=$1 out
	PROBE_JSON=
	if ! out=$(rrvm_checkpoint_probe "$CTL" "$2" "$3" 2>"$OUT/raw/$tag.err"); then
		note "$tag: checkpoint-probe $2 $3 failed: $(head -c 300 "$OUT/raw/$tag.err")"
		return 1
	fi
	if ! jq -e '.pages.median' >/dev/null 2>&1 <<<"$out"; then
		note "$tag: checkpoint-probe printed no usable JSON: $(head -c 300 <<<"$out")"
		return 1
	fi
	printf '%s\n' "$out" >"$OUT/raw/$tag.json"
	PROBE_JSON=$out
}

# ------------------------------------------------------------ part 1: pause
# next_rate CALCSV TARGET REGION_PAGES: the dirtier rate for the next
# calibration round (rate mode), from the rounds so far for TARGET (rate ->
# achieved median). Pages per epoch grow faster than the rate (the probe's
# epoch lengthens with the pages it encodes) or slower (the guest cannot
# keep up), so after two rounds the rate is interpolated in log-log space
# (secant on the last two rounds, ignored when noise makes it implausible);
# after one, scaled by target/achieved. A step is at most x2 or /2. A median
# at the region size is saturated (the dirtier wraps): counted as twice that.
next_rate() {
	awk -F, -v n="$2" -v region="$3" -v cap="$MAX_RATE" '
		NR > 1 && $1 == n {
			k++; r[k] = $5; m[k] = $8
			if (m[k] < 1) m[k] = 1
			if (m[k] >= 0.95 * region) m[k] = 2 * m[k]
		}
		END {
			b = 1
			if (k >= 2 && r[k] != r[k - 1] && m[k] != m[k - 1]) {
				b = (log(m[k]) - log(m[k - 1])) / (log(r[k]) - log(r[k - 1]))
				if (b < 0.3 || b > 3) b = 1
			}
			f = exp(log(n / m[k]) / b)
			if (f > 2) f = 2
			if (f < 0.5) f = 0.5
			x = int(r[k] * f + 0.5)
			if (x > cap) x = cap
			if (x < 1) x = 1
			print x
		}' "$1"
}

# Two ways to get about N dirty pages per epoch:
#  region  (N >= 256): the dirtier cycles over a region of round(N/256) MiB
#          (within 10% of N pages) at twice the rate that covers it once per
#          interval, so every epoch dirties the whole region whatever its
#          length; rewrites within an epoch are cheap for the guest (no new
#          write fault). If the guest cannot cover the region in an epoch
#          (achieved median under 90%), the interval is doubled and retried.
#  rate    (N < 256): the dirtier writes at a calibrated rate over a region
#          of >= 2*N pages (see next_rate).
# In both, the rate is at most BENCH_CKPT_MAX_RATE (the interval grows to
# keep it there).
part_pause() {
	local csv=$OUT/pause.csv cal=$OUT/pause-calibration.csv
	local n interval rate mb round j achieved new mode region
	echo "target_pages,mode,interval_ms,dirty_rate_pps,dirty_mb,region_pages,rounds,epochs,pages_median,pages_p90,pages_max,within_10pct,pause_us_median,pause_us_p90,pause_us_max,dirty_log_us_median,copy_us_median,vcpu_state_us_median,copy_ns_per_page,stopped_us_median,stopped_us_p90,stopped_us_max,encode_MBps,ratio,collect,pages_in_pause_median,pages_in_pause_p90,early_us_median,early_copies_median,one_phase_pause_us_median,one_phase_pause_us_p90,one_phase_pages_median,one_phase_stopped_us_median" >"$csv"
	echo "target_pages,mode,round,interval_ms,dirty_rate_pps,dirty_mb,epochs,pages_median,pages_p90" >"$cal"
	say "part 1: pause vs dirty pages (echo guest, $PAUSE_MEM, targets: $PAGES_TARGETS)"
	for n in $PAGES_TARGETS; do
		interval=$INTERVAL round=0
		if [ "$n" = 0 ]; then
			mode=idle rate=0 mb=0 region=0
			boot "pause-0" echo "$ECHO_PORT" "$PAUSE_MEM"
			sleep 0.5
		else
			if [ "$n" -ge 256 ]; then
				mode=region
				mb=$(((n + 128) / 256))
				region=$((mb * 256))
				if [ $((2 * region * 1000 / interval)) -gt "$MAX_RATE" ]; then
					interval=$(((2 * region * 1000 + MAX_RATE - 1) / MAX_RATE))
				fi
				rate=$(((2 * region * 1000 + interval - 1) / interval))
			else
				mode=rate
				mb=$(((2 * n * 4096 + 1048575) / 1048576))
				region=$((mb * 256))
				rate=$((n * 1000 / interval))
			fi
			[ "$rate" -le "$MAX_RATE" ] || rate=$MAX_RATE
			[ "$mb" -lt "$(mb_of "$PAUSE_MEM")" ] ||
				fail "dirtier region $mb MiB does not fit a $PAUSE_MEM guest (BENCH_CKPT_PAUSE_MEM)"
			while :; do
				round=$((round + 1))
				boot "pause-$n" echo "$ECHO_PORT" "$PAUSE_MEM" "dirty=$rate" "dirty_mb=$mb"
				sleep 0.5 # the dirtier is at its rate; boot noise is over
				probe "pause-$n-cal$round" "$CAL_EPOCHS" "$interval" || break
				j=$PROBE_JSON
				achieved=$(json_get "$j" .pages.median)
				echo "$n,$mode,$round,$interval,$rate,$mb,$CAL_EPOCHS,$achieved,$(json_get "$j" .pages.p90)" >>"$cal"
				say "  target $n ($mode): round $round: $rate pages/s over $mb MiB, every $interval ms -> median $achieved pages/epoch"
				if [ $mode = region ]; then
					[ $((achieved * 10)) -ge $((region * 9)) ] && break
					[ "$round" -ge "$CAL_ROUNDS" ] && break
					interval=$((interval * 2))
				else
					awk -v a="$achieved" -v n="$n" -v t="$CAL_TOL_PCT" 'BEGIN { d = a - n; if (d < 0) d = -d; exit !(d * 100 <= t * n) }' && break
					[ "$round" -ge "$CAL_ROUNDS" ] && break
					new=$(next_rate "$cal" "$n" "$region")
					if [ "$new" = "$rate" ]; then
						say "  target $n: rate stays at $rate pages/s (cap BENCH_CKPT_MAX_RATE=$MAX_RATE)"
						break
					fi
					rate=$new
				fi
			done
		fi
		say "  target $n: measuring $EPOCHS epochs every $interval ms$([ "$rate" != 0 ] && echo " at $rate pages/s")"
		pid_alive "$MON_PID" || fail "rrvm exited (see $OUT/logs/pause-$n.log)"
		probe "pause-$n" "$EPOCHS" "$interval" || { stop_monitor; continue; }
		j=$PROBE_JSON
		jq -r --arg n "$n" --arg mode "$mode" --arg iv "$interval" --arg rate "$rate" \
			--arg mb "$mb" --arg region "$region" --arg rounds "$round" --argjson tol "$CAL_TOL_PCT" '
			($n | tonumber) as $t
			| [$n, $mode, $iv, $rate, $mb, $region, $rounds, .epochs,
			   .pages.median, .pages.p90, .pages.max,
			   (if $t == 0 then "" elif ((.pages.median - $t) | fabs) * 100 <= $tol * $t then "yes" else "no" end),
			   .pause_us.median, .pause_us.p90, .pause_us.max,
			   .pause_breakdown_us.dirty_log, .pause_breakdown_us.copy, .pause_breakdown_us.vcpu_state,
			   (if .pages.median > 0 then (.pause_breakdown_us.copy * 1000 / .pages.median | round) else "" end),
			   .stopped_us.median, .stopped_us.p90, .stopped_us.max, .encode_MBps, .ratio,
			   .collect, .pages_in_pause.median, .pages_in_pause.p90, .early.us_median, .early.copies_median,
			   (.one_phase.pause_us.median // ""), (.one_phase.pause_us.p90 // ""),
			   (.one_phase.pages.median // ""), (.one_phase.stopped_us.median // "")]
			| map(tostring) | join(",")' <<<"$j" >>"$csv"
		say "  target $n: pages median $(json_get "$j" .pages.median), $(json_get "$j" .collect) pause median $(json_get "$j" .pause_us.median) us p90 $(json_get "$j" .pause_us.p90) us ($(json_get "$j" .pages_in_pause.median) pages in the pause); one-phase in the same run: median $(json_get "$j" '.one_phase.pause_us.median // "-"') us p90 $(json_get "$j" '.one_phase.pause_us.p90 // "-"') us"
		stop_monitor
	done
}

# ------------------------------------------------------------ part 2: codec
# rb_overall_rps LOG: the last "overall" requests/s of a redis-benchmark -q
# progress line (the run is stopped by us, so there is no final line).
rb_overall_rps() {
	tr '\r' '\n' <"$1" | sed -n 's/.*rps=[0-9.]* (overall: \([0-9.]*\)).*/\1/p' | tail -n1
}

part_codec() {
	local csv=$OUT/codec.csv d j rb_pid s0 s1 t0 t1 rx rxps sets errs dbsize
	echo "value_bytes,clients,keyspace,epochs,interval_ms,pages_median,pages_p90,pages_max,raw_bytes,encoded_bytes,uncompressed_bytes,ratio_raw_encoded,ratio_raw_uncompressed,unchanged_pages,encode_MBps,pause_us_median,pause_us_p90,stopped_us_median,client_sets_per_s,guest_rx_frames_per_s,server_errors,dbsize_after" >"$csv"
	say "part 2: codec on kv under redis-benchmark SET load (sizes: $CODEC_SIZES)"
	for d in $CODEC_SIZES; do
		boot "codec-d$d" kv "$KV_PORT" "$CODEC_MEM"
		ns_bg "$NS" "$OUT/logs/codec-d$d-redis-benchmark.log" timeout 600 \
			redis-benchmark -h "$GUEST_IP" -p "$KV_PORT" -t set -n 100000000 \
			-r "$CODEC_KEYSPACE" -d "$d" -c "$CODEC_CLIENTS" -q
		rb_pid=$RRVM_LAST_PID
		sleep "$CODEC_WARMUP"
		pid_alive "$rb_pid" || fail "redis-benchmark -d $d stopped early: $(tr '\r' '\n' <"$OUT/logs/codec-d$d-redis-benchmark.log" | tail -n 3)"
		s0=$(rrvm_stats "$CTL")
		t0=$(now_ms)
		probe "codec-d$d" "$CODEC_EPOCHS" "$CODEC_INTERVAL"
		j=$PROBE_JSON
		t1=$(now_ms)
		s1=$(rrvm_stats "$CTL")
		if ! pid_alive "$rb_pid"; then
			note "codec -d $d: redis-benchmark ended during the probe (load not present throughout)"
		fi
		pid_stop "$rb_pid" 5
		[ -n "$j" ] || { stop_monitor; continue; }
		rx=$(json_delta "$s0" "$s1" .net.rx_frames)
		rxps=$(awk -v r="$rx" -v t=$((t1 - t0)) 'BEGIN { if (r == "" || t <= 0) print ""; else printf "%.0f", r * 1000 / t }')
		sets=$(rb_overall_rps "$OUT/logs/codec-d$d-redis-benchmark.log")
		errs=$(tr '\r' '\n' <"$OUT/logs/codec-d$d-redis-benchmark.log" | grep -ci 'error')
		[ "$errs" -gt 0 ] && note "codec -d $d: redis-benchmark reported $errs error line(s): $(tr '\r' '\n' <"$OUT/logs/codec-d$d-redis-benchmark.log" | grep -i -m1 error)"
		dbsize=$(ns_exec "$NS" timeout 5 redis-cli -h "$GUEST_IP" -p "$KV_PORT" dbsize 2>/dev/null | tr -dc 0-9)
		jq -r --arg d "$d" --arg c "$CODEC_CLIENTS" --arg ks "$CODEC_KEYSPACE" \
			--arg sets "$sets" --arg rxps "$rxps" --arg errs "$errs" --arg db "$dbsize" '
			[$d, $c, $ks, .epochs, .interval_ms, .pages.median, .pages.p90, .pages.max,
			 .raw_bytes, .encoded_bytes, .uncompressed_bytes, .ratio,
			 (if .uncompressed_bytes > 0 then (.raw_bytes / .uncompressed_bytes * 1000 | round / 1000) else "" end),
			 .unchanged_pages, .encode_MBps, .pause_us.median, .pause_us.p90, .stopped_us.median,
			 $sets, $rxps, $errs, $db] | map(tostring) | join(",")' <<<"$j" >>"$csv"
		say "  -d $d: raw $(json_get "$j" .raw_bytes) B -> encoded $(json_get "$j" .encoded_bytes) B ($(json_get "$j" .ratio)x), $(json_get "$j" .encode_MBps) MB/s, load ${sets:-?} SET/s"
		stop_monitor
	done
}

# ------------------------------------------------------ part 3: save/restore
# The client that holds a connection across save and restore and times the
# restored guest. Runs inside the namespace. Protocol with this script:
# it writes DIR/ready (JSON) once connected, waits for DIR/go (holding t0,
# the restore's start, as seconds since the epoch), measures, writes
# DIR/result (JSON) and exits.
write_client() {
	cat >"$TMP/client.py" <<'PYEOF'
import json, os, socket, subprocess, sys, time

ip, port, rrvm, ctl, d, marker = sys.argv[1:7]
port = int(port)

def put(name, obj):
    tmp = os.path.join(d, name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.rename(tmp, os.path.join(d, name))

class Conn:
    def __init__(self, timeout):
        self.s = socket.create_connection((ip, port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
    def settimeout(self, t):
        self.s.settimeout(t)
    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by the guest")
            self.buf += chunk
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l
    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        l = self.line()
        if l[:1] == b"$":
            n = int(l[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                chunk = self.s.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed by the guest")
                self.buf += chunk
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v.decode()
        if l[:1] == b"-":
            raise RuntimeError("server error: " + l.decode())
        return l[1:].decode()

res = {"error": None}
try:
    held = Conn(5)
    held.settimeout(10)
    value = "v-%d-%s" % (os.getpid(), marker)
    assert held.cmd("SET", marker, value) == "OK"
    assert held.cmd("PING") == "PONG"
    put("ready", {"dbsize_before": int(held.cmd("DBSIZE"))})

    deadline = time.time() + 300
    while not os.path.exists(os.path.join(d, "go")):
        if time.time() > deadline:
            raise TimeoutError("no go from the script")
        time.sleep(0.001)
    t0 = float(open(os.path.join(d, "go")).read())
    ms = lambda: round((time.time() - t0) * 1000, 2)

    # 1. the control socket answers
    deadline = time.time() + 60
    while True:
        r = subprocess.run([rrvm, "ctl", ctl, "status"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=5)
        if r.returncode == 0:
            res["ctl_ms"] = ms()
            break
        if time.time() > deadline:
            raise TimeoutError("ctl status never answered")
        time.sleep(0.002)
    # 2. a new connection: connect (short timeouts, retried) + PING
    deadline = time.time() + 60
    tries = 0
    while True:
        tries += 1
        try:
            c = Conn(0.05)
            c.settimeout(2)
            if c.cmd("PING") == "PONG":
                res["ping_new_ms"] = ms()
                break
        except (OSError, ConnectionError):
            pass
        if time.time() > deadline:
            raise TimeoutError("no PING answer on a new connection")
        time.sleep(0.002)
    res["new_conn_tries"] = tries
    # 3. the held connection
    held.settimeout(30)
    res["same_ok"] = held.cmd("PING") == "PONG"
    if res["same_ok"]:
        res["ping_same_ms"] = ms()
    res["marker_ok"] = held.cmd("GET", marker) == value
    res["dbsize_after"] = int(c.cmd("DBSIZE"))
except Exception as e:  # report, do not hide
    res["error"] = "%s: %s" % (type(e).__name__, e)
put("result", res)
PYEOF
}

# wait_file FILE SECONDS PID: until FILE exists (0), PID exits (2), timeout (1).
wait_file() {
	local f=$1 deadline=$(($(now_ms) + $2 * 1000)) pid=$3
	while [ ! -e "$f" ]; do
		pid_alive "$pid" || { [ -e "$f" ] && return 0; return 2; }
		[ "$(now_ms)" -ge "$deadline" ] && return 1
		sleep 0.01
	done
	return 0
}

# sr_rep SCENARIO REP: one save --stop + restore of the running monitor.
sr_rep() {
	local sc=$1 rep=$2 dir=$TMP/sr-$1-$2 file=$TMP/snap-$1-$2.rrvm
	local cl_pid sj t_save0 t_save1 t_exit t0 res src fbytes
	src=$([ "$rep" = 1 ] && echo run || echo restore)
	mkdir -p "$dir"
	pid_alive "$MON_PID" || { note "$sc rep $rep: the monitor is not running"; return 1; }
	ns_bg "$NS" "$OUT/logs/sr-$sc-$rep-client.log" timeout 400 "$PY" "$TMP/client.py" \
		"$GUEST_IP" "$KV_PORT" "$RRVM" "$CTL" "$dir" "bench-ckpt:$sc:$rep"
	cl_pid=$RRVM_LAST_PID
	if ! wait_file "$dir/ready" 20 "$cl_pid"; then
		note "$sc rep $rep: the client did not connect: $(cat "$dir/result" "$OUT/logs/sr-$sc-$rep-client.log" 2>/dev/null | head -c 300)"
		pid_stop "$cl_pid" 2
		return 1
	fi
	t_save0=$(now_ms)
	if ! sj=$(rrvm_save "$CTL" "$file" --stop 2>"$OUT/raw/save-$sc-$rep.err"); then
		note "$sc rep $rep: save failed: $(head -c 300 "$OUT/raw/save-$sc-$rep.err")"
		pid_stop "$cl_pid" 2
		return 1
	fi
	t_save1=$(now_ms)
	printf '%s\n' "$sj" >"$OUT/raw/save-$sc-$rep.json"
	if ! pid_wait_ms "$MON_PID" 30000; then
		note "$sc rep $rep: the monitor did not exit within 30 s of save --stop"
		pid_stop "$MON_PID" 5
	elif [ "$RRVM_WAIT_RC" != 0 ]; then
		note "$sc rep $rep: the monitor exited with status $RRVM_WAIT_RC after save --stop"
	fi
	t_exit=$(now_ms)
	MON_PID=
	fbytes=$(stat -c %s "$file" 2>/dev/null)
	t0=$EPOCHREALTIME
	rrvm_restore_bg "$NS" tap0 "$file" "$CTL" "$OUT/logs/sr-$sc-$rep-restore.log"
	MON_PID=$RRVM_LAST_PID
	printf '%s\n' "$t0" >"$dir/go.tmp" && mv "$dir/go.tmp" "$dir/go"
	if ! pid_wait "$cl_pid" 130; then
		note "$sc rep $rep: the client did not finish"
		pid_stop "$cl_pid" 2
	fi
	res=$(cat "$dir/result" 2>/dev/null)
	[ -n "$res" ] || res='{"error":"no result from the client"}'
	printf '%s\n' "$res" >"$OUT/raw/restore-$sc-$rep.json"
	if [ -n "$(json_get "$res" .error)" ]; then
		note "$sc rep $rep: restore check: $(json_get "$res" .error)"
		pid_alive "$MON_PID" || note "$sc rep $rep: rrvm restore exited: $(tail -n 3 "$OUT/logs/sr-$sc-$rep-restore.log" | tr '\n' ' ')"
	fi
	[ "$(json_get "$res" .marker_ok)" = false ] && note "$sc rep $rep: the marker key was lost or changed"
	local before after
	before=$(jq -r .dbsize_before "$dir/ready" 2>/dev/null)
	after=$(json_get "$res" .dbsize_after)
	[ -n "$after" ] && [ "$after" != "$before" ] && note "$sc rep $rep: DBSIZE $before before save, $after after restore"
	jq -r --arg sc "$sc" --arg rep "$rep" --arg src "$src" --arg fb "$fbytes" \
		--arg sw $((t_save1 - t_save0)) --arg ex $((t_exit - t_save1)) \
		--arg before "$before" --argjson r "$res" '
		[$sc, $rep, $src, .pages, .raw_bytes, .encoded_bytes, $fb, .pause_us, $sw, $ex,
		 ($r.ctl_ms // ""), ($r.ping_new_ms // ""), ($r.ping_same_ms // ""),
		 ($r.same_ok // false), ($r.marker_ok // false), $before, ($r.dbsize_after // ""),
		 ($r.error // "" | gsub(","; ";"))] | map(tostring) | join(",")' <<<"$sj" >>"$OUT/save-restore.csv"
	say "  $sc rep $rep: save $(json_get "$sj" .pages) pages, $(json_get "$sj" .encoded_bytes) B, pause $(json_get "$sj" .pause_us) us, wall $((t_save1 - t_save0)) ms; restore: ctl $(json_get "$res" .ctl_ms) ms, new-conn PING $(json_get "$res" .ping_new_ms) ms, held-conn PING $(json_get "$res" .ping_same_ms) ms"
}

load_guest() {
	local log=$OUT/logs/sr-loaded-load.log errs
	say "  loading: $LOAD_SETS SETs of $LOAD_SIZE B (-r 100000 -c 20)"
	if ! ns_exec "$NS" timeout 300 redis-benchmark -h "$GUEST_IP" -p "$KV_PORT" -t set \
		-n "$LOAD_SETS" -r 100000 -d "$LOAD_SIZE" -c 20 -q >"$log" 2>&1; then
		note "loaded: redis-benchmark failed: $(tr '\r' '\n' <"$log" | tail -n 2 | tr '\n' ' ')"
	fi
	errs=$(tr '\r' '\n' <"$log" | grep -ci error)
	[ "$errs" -gt 0 ] && note "loaded: redis-benchmark reported errors: $(tr '\r' '\n' <"$log" | grep -i -m1 error) (guest too small? BENCH_CKPT_SR_MEM / BENCH_CKPT_LOAD_DIRTY_MB)"
	LOAD_RPS=$(rb_quiet_rows "$log" | awk '$1 == "SET" { print $2 }' | tail -n1)
	LOAD_DBSIZE=$(ns_exec "$NS" timeout 5 redis-cli -h "$GUEST_IP" -p "$KV_PORT" dbsize 2>/dev/null | tr -dc 0-9)
	say "  loaded: ${LOAD_RPS:-?} SET/s, ${LOAD_DBSIZE:-?} keys"
}

part_saverestore() {
	local sc rep
	LOAD_RPS=''
	LOAD_DBSIZE=''
	echo "scenario,rep,saved_from,pages,raw_bytes,encoded_bytes,file_bytes,save_pause_us,save_wall_ms,monitor_exit_ms,restore_ctl_ms,restore_ping_new_ms,restore_ping_same_ms,same_conn_ok,marker_ok,dbsize_before,dbsize_after,error" >"$OUT/save-restore.csv"
	say "part 3: full save --stop and restore, kv guest $SR_MEM, $REPS repetitions (chained)"
	for sc in idle loaded; do
		if [ $sc = idle ]; then
			boot "sr-idle" kv "$KV_PORT" "$SR_MEM"
		else
			boot "sr-loaded" kv "$KV_PORT" "$SR_MEM" "dirty=$LOAD_DIRTY" "dirty_mb=$LOAD_DIRTY_MB"
			load_guest
		fi
		for ((rep = 1; rep <= REPS; rep++)); do
			sr_rep "$sc" "$rep" || break
		done
		stop_monitor
	done
	summarize_sr
}

# col FILE SCENARIO COLUMN: non-empty values of COLUMN (by header name).
col() {
	awk -F, -v sc="$2" -v name="$3" '
		NR == 1 { for (i = 1; i <= NF; i++) idx[$i] = i; next }
		$1 == sc && $(idx[name]) != "" { print $(idx[name]) }' "$1"
}

summarize_sr() {
	local f=$OUT/save-restore.csv s=$OUT/save-restore-summary.csv sc m line ok n
	local metrics="pages encoded_bytes file_bytes save_pause_us save_wall_ms monitor_exit_ms restore_ctl_ms restore_ping_new_ms restore_ping_same_ms"
	line=scenario,reps
	for m in $metrics; do line+=",${m}_median,${m}_min,${m}_max"; done
	echo "$line,all_ok" >"$s"
	for sc in idle loaded; do
		n=$(col "$f" $sc rep | wc -l)
		[ "$n" -gt 0 ] || continue
		line="$sc,$n"
		for m in $metrics; do
			read -r med mn mx _ <<<"$(col "$f" $sc "$m" | stats_summary)"
			line+=",$med,$mn,$mx"
		done
		ok=$(awk -F, -v sc=$sc 'NR > 1 && $1 == sc && !($14 == "true" && $15 == "true" && $18 == "") { bad = 1 } END { print bad ? "no" : "yes" }' "$f")
		echo "$line,$ok" >>"$s"
	done
}

# ------------------------------------------------------------------ report
write_meta() {
	local cpu
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
	jq -n \
		--arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg stamp "$STAMP" \
		--arg commit "$(git_describe)" --arg kernel "$(uname -r)" \
		--argjson nproc "$(nproc)" --arg cpu "$cpu" \
		--argjson hypervisor "$(grep -qw hypervisor /proc/cpuinfo && echo true || echo false)" \
		--arg rrvm_sha256 "$(sha256sum "$RRVM" | cut -d' ' -f1)" \
		--arg kv_sha256 "$(sha256sum "$RRVM_GUEST_DIR/kv.elf" | cut -d' ' -f1)" \
		--arg echo_sha256 "$(sha256sum "$RRVM_GUEST_DIR/echo.elf" | cut -d' ' -f1)" \
		--arg redis_benchmark "$(redis-benchmark --version)" \
		--argjson quick "$([ $QUICK = 1 ] && echo true || echo false)" \
		--arg parts "$PARTS" --arg targets "$PAGES_TARGETS" \
		--argjson interval "$INTERVAL" --argjson max_rate "$MAX_RATE" \
		--argjson epochs "$EPOCHS" --argjson cal_rounds "$CAL_ROUNDS" \
		--argjson cal_epochs "$CAL_EPOCHS" --arg pause_mem "$PAUSE_MEM" \
		--arg codec_sizes "$CODEC_SIZES" --argjson codec_epochs "$CODEC_EPOCHS" \
		--argjson codec_interval "$CODEC_INTERVAL" --arg codec_mem "$CODEC_MEM" \
		--argjson reps "$REPS" --arg sr_mem "$SR_MEM" --argjson load_sets "$LOAD_SETS" \
		--argjson load_size "$LOAD_SIZE" --argjson load_dirty "$LOAD_DIRTY" \
		--argjson load_dirty_mb "$LOAD_DIRTY_MB" \
		--arg load_rps "${LOAD_RPS:-}" --arg load_dbsize "${LOAD_DBSIZE:-}" \
		--arg load_start "$LOADAVG_START" --arg load_end "$LOADAVG_END" \
		--argjson steal "$(for k in "${!STEAL_PCT[@]}"; do printf '%s\n%s\n' "$k" "${STEAL_PCT[$k]}"; done | jq -Rn '[inputs] | [range(0; length; 2) as $i | {(.[$i]): (.[$i + 1] | tonumber? // .)}] | add // {}')" \
		--argjson failures "$FAILURES" \
		--args '{
		  benchmark: "checkpoint", date: $date, stamp: $stamp, commit: $commit, quick: $quick,
		  host: {kernel: $kernel, nproc: $nproc, cpu: $cpu, hypervisor: $hypervisor,
		         loadavg_start: $load_start, loadavg_end: $load_end, cpu_steal_pct_by_part: $steal,
		         note: "other work on the host is not controlled; see the load averages"},
		  binaries: {rrvm_sha256: $rrvm_sha256, kv_sha256: $kv_sha256, echo_sha256: $echo_sha256},
		  tools: {redis_benchmark: $redis_benchmark},
		  parts: ($parts | split(" ") | map(select(. != ""))),
		  pause: {guest: "echo", mem: $pause_mem,
		          targets: ($targets | split(" ") | map(select(. != "") | tonumber)),
		          interval_ms: $interval, max_rate_pps: $max_rate, epochs: $epochs,
		          calibration: {rounds_max: $cal_rounds, epochs: $cal_epochs, tolerance_pct: 10},
		          note: "probe epoch = sleep(interval) + collect + encode + apply; dirtier rate calibrated so the achieved median is near the target"},
		  codec: {guest: "kv", mem: $codec_mem, value_sizes: ($codec_sizes | split(" ") | map(select(. != "") | tonumber)),
		          epochs: $codec_epochs, interval_ms: $codec_interval,
		          load: "redis-benchmark -t set -r 100000 -c 20 -d SIZE (values are repeated x bytes)"},
		  save_restore: {guest: "kv", mem: $sr_mem, reps: $reps, chained: true,
		                 loaded: {sets: $load_sets, value_bytes: $load_size, keyspace: 100000,
		                          dirty_pps: $load_dirty, dirty_mb: $load_dirty_mb,
		                          load_sets_per_s: $load_rps, keys: $load_dbsize},
		                 timing: "restore times are from the start of rrvm restore: first ctl status reply, then first PING on a new connection, then PING on the connection held across save"},
		  failures: $failures, notes: $ARGS.positional
		}' "${NOTES[@]}" >"$OUT/meta.json"
}

print_table() {
	local f
	echo
	echo "rrvm checkpoint benchmark ($([ $QUICK = 1 ] && echo quick || echo full)) -- $(nproc) CPUs, kernel $(uname -r), commit $(git_describe | cut -c1-12)$(git_describe | grep -o -- '-dirty$')"
	echo "load average at start: $LOADAVG_START, at end: $LOADAVG_END; CPU steal by part: $(for k in pause codec saverestore; do [ -n "${STEAL_PCT[$k]:-}" ] && printf '%s %s%% ' "$k" "${STEAL_PCT[$k]}"; done)"
	echo "(other work on this host and its hypervisor is not controlled: high steal or load inflates p90/max pauses)"
	f=$OUT/pause.csv
	if [ -s "$f" ] && [ "$(wc -l <"$f")" -gt 1 ]; then
		echo
		echo "1. Pause vs dirty pages: echo guest $PAUSE_MEM, checkpoint-probe (target: pause median <= 100 us, flat from 100 to 10,000 pages)"
		awk -F, '
			NR == 1 { next }
			!h++ {
				printf "%7s %-6s %6s %8s %4s | %-20s | %-26s | %-22s | %7s | %-17s\n", "target", "mode", "every", "rate/s", "MiB",
					"pages med/p90/max", "pause us med/p90/max", "split: log/copy/state", "ns/page", "stopped med/p90"
				printf "%s\n", "-----------------------------------------------------------------------------------------------------------------------------------"
			}
			{
				printf "%7s %-6s %4sms %8s %4s | %5s/%5s/%6s%s | %7.0f/%7.0f/%8.0f | %5.0f/%7.0f/%6.0f | %7s | %7.0f/%7.0f\n",
					$1, $2, $3, $4, $5, $9, $10, $11, ($12 == "no" ? " !" : "  "), $13, $14, $15, $16, $17, $18, $19, $20, $21
			}' "$f"
		echo "   target = dirty pages wanted per epoch; '!' = achieved median more than 10% off the target."
		echo "   mode region: the dirtier rewrites a whole round(target/256) MiB region every epoch; rate: calibrated dirtier rate."
		echo "   pause = vCPU stopped for the collect (dirty log + copy + vCPU/device state); stopped = as seen by the caller, with the kick."
		awk -F, '
			NR == 1 { next }
			!h++ {
				printf "\n%7s | %-9s | %-15s | %-16s | %-18s | %-22s\n", "target", "collect", "pause med/p90",
					"in pause med/p90", "early us/copies", "one-phase med/p90 us"
				printf "%s\n", "---------------------------------------------------------------------------------------------------"
			}
			{ printf "%7s | %-9s | %6.0f/%7.0f | %7s/%7s | %8.0f/%8s | %9s/%9s\n",
				$1, $25, $13, $14, $26, $27, $28, $29, ($30 == "" ? "-" : sprintf("%.0f", $30)), ($31 == "" ? "-" : sprintf("%.0f", $31)) }' "$f"
		echo "   two-phase: early passes copy while the guest runs (early us/copies, medians); the pause copies only what was written since."
		echo "   one-phase: the same VM and load, collects interleaved with the two-phase ones, everything copied in the pause (the old way)."
	fi
	f=$OUT/codec.csv
	if [ -s "$f" ] && [ "$(wc -l <"$f")" -gt 1 ]; then
		echo
		echo "2. Codec: kv guest $CODEC_MEM under redis-benchmark -t set -r 100000 -c 20, $CODEC_EPOCHS epochs x $CODEC_INTERVAL ms (target: >= 3x smaller)"
		awk -F, '
			NR == 1 { next }
			!h++ {
				printf "%6s | %10s | %12s | %12s | %12s | %7s | %9s | %7s | %9s | %10s | %s\n", "-d", "pages/ep", "raw B", "encoded B",
					"no-compr B", "raw/enc", "unchanged", "enc MB/s", "pause us", "load SET/s", "errors"
				printf "%s\n", "---------------------------------------------------------------------------------------------------------------------"
			}
			{ printf "%6s | %4s/%5s | %12s | %12s | %12s | %6.2fx | %8.1f%% | %8.0f | %9.0f | %10.0f | %s\n",
				$1, $6, $7, $9, $10, $11, $12, ($9 > 0 ? $14 * 4096 * 100 / $9 : 0), $15, $16, $19, $21 }' "$f"
		echo "   raw = dirty pages x 4 KiB; encoded = XOR delta + RLE/LZ4 with raw fallback; no-compr = same framing, pages raw (zero pages elided)."
		echo "   unchanged = dirty pages identical to the receiver's copy (rewritten with the same bytes). pages/ep = median/p90."
		echo "   redis-benchmark values are repeated 'x' bytes: the ratio is on compressible data."
	fi
	f=$OUT/save-restore-summary.csv
	if [ -s "$f" ] && [ "$(wc -l <"$f")" -gt 1 ]; then
		echo
		echo "3. Full save --stop and restore: kv guest $SR_MEM (median [min-max] of $REPS; loaded = ${LOAD_DBSIZE:-?} keys of $LOAD_SIZE B + dirtier $LOAD_DIRTY pages/s over $LOAD_DIRTY_MB MiB)"
		awk -F, '
			function t(i) { return sprintf("%.1f [%.1f-%.1f]", $i, $(i + 1), $(i + 2)) }
			NR == 1 { next }
			!h++ {
				printf "%-7s | %6s | %9s | %-22s | %-20s | %-20s | %-20s | %-20s | %s\n", "guest", "pages", "file MiB",
					"save pause us", "save wall ms", "restore: ctl ms", "PING new conn ms", "PING held conn ms", "ok"
				printf "%s\n", "----------------------------------------------------------------------------------------------------------------------------------------------------"
			}
			{ printf "%-7s | %6.0f | %9.2f | %-22s | %-20s | %-20s | %-20s | %-20s | %s\n",
				$1, $3, $9 / 1048576, t(12), t(15), t(21), t(24), t(27), $30 }' "$f"
		echo "   restore times from the start of 'rrvm restore'; held conn = the TCP connection opened before the save; ok = held connection, marker key and no errors in every repetition."
	fi
	if [ ${#NOTES[@]} -gt 0 ]; then
		echo
		echo "problems (${#NOTES[@]}):"
		printf '  - %s\n' "${NOTES[@]}"
	fi
	echo
	echo "results: $OUT"
}

main() {
	check_env
	setup_net
	say "rrvm checkpoint bench$([ $QUICK = 1 ] && echo " (--quick)"): parts: $PARTS"
	has_part pause && run_part pause part_pause
	has_part codec && run_part codec part_codec
	has_part saverestore && run_part saverestore part_saverestore
	stop_monitor
	LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)
	write_meta
	print_table
	if [ "$FAILURES" -gt 0 ]; then
		say "$FAILURES problem(s); see above"
		exit 1
	fi
}

main "$@"
