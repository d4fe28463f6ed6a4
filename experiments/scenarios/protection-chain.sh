# shellcheck shell=bash
# summary: continuous protection: outage and re-protection time per failover of a chain, and planned switchovers
#
# protection-chain — the VM stays protected through failures (issue 11):
# after a kill -9 of the primary the backup takes over, and once a new
# backup runs on the dead host (started with --reprotect-ready options)
# the survivor protects the VM to it — full checkpoint, then epochs, in
# the mode it ran in, the capture point moved in front of it in reverse
# mode — without stopping the VM. Repeated, the hosts alternate; one
# client connection lives through all of it: no violation, no reconnect
# in buffered and both reverse modes. A planned switchover (`rrvm ctl
# switchover`) moves the VM without a fence or a detect timeout; the
# client sees tens of milliseconds.
#
# Per mode, one pair whose daemons can swap roles (experiments/lib/
# chain.sh; kv guest, --mem MEM, EPOCH ms; FILL_MB MiB of random values
# written into it first), the consistency client (incr,keys, one
# connection each, per-reply CSV) and a redis-benchmark SET load of
# LOAD_CLIENTS connections running from the start to the end; then ROUNDS
# rounds of: a random DELAY_MIN_MS..DELAY_MAX_MS wait, kill -9 of the
# current primary, the backup's takeover report, the dead host unfenced, a
# new `rrvm backup` there, the survivor protected again (chain_round); then
# SWITCHOVERS switchovers (alternating direction) after the same waits
# (chain_switchover). The client is stopped (it reads every acknowledged
# key back) only at the end.
# Output: chain.csv (mode,round,from_host,to_host,outage_ms,reprotect_ms,
# violations,reconnects; outage = the client's stall across the takeover:
# per connection, last reply before -> first reply after the instant the
# report says the VM was restored on the survivor, the longest; reprotect
# = new backup started -> survivor protected (an epoch acknowledged after
# the full checkpoint), empty if it never was; violations (sum of the
# client's counters) and reconnects are the client's totals over the whole
# chain, switchovers included — it reports once, at the end — the same on
# every row of a mode), switchovers.csv (mode,switchover,from_host,to_host,
# outage_ms,stall_ms,handover_ms,restore_ms,announce_ms,first_frame_out_ms,
# protected_ms; outage as above; stall = the longest wait between replies
# from the request until 0.3 s after the pair is protected again;
# handover_ms from the `ctl switchover --json` reply; restore/announce/
# first_frame_out from the new primary's report; protected = request ->
# protected again), rounds.csv (per round and switchover: the phases, the
# stall while the new backup was brought in, the instants), raw/ (takeover
# reports, client JSON + CSV), logs/.

scenario_params() {
	sc_param MODES "buffered reverse-inline reverse-mirror" "buffered reverse-inline reverse-mirror" \
		"modes (buffered, reverse-inline, reverse-mirror)"
	sc_param ROUNDS 10 3 "kill rounds per mode (the hosts alternate)"
	sc_param SWITCHOVERS 6 2 "planned switchovers per mode after the rounds, alternating direction (0: none)"
	sc_param EPOCH 20 20 "checkpoint epoch, ms"
	sc_param DELAY_MIN_MS 600 600 "shortest wait before a kill or switchover, ms"
	sc_param DELAY_MAX_MS 1500 1500 "longest wait before a kill or switchover, ms"
	sc_param LOAD_CLIENTS 10 10 "redis-benchmark SET connections beside the consistency client"
	sc_param MEM 64M 64M "guest RAM (rrvm primary --mem: a multiple of 2M, e.g. 64M, 1G)"
	sc_param FILL_MB 0 0 "MiB of random 1 MiB values written into the kv before the chain (the full checkpoints then carry them)"
	SC_SCHEMA[chain.csv]="mode,round,from_host,to_host,outage_ms,reprotect_ms,violations,reconnects"
	[ "${SWITCHOVERS:-0}" = 0 ] ||
		SC_SCHEMA[switchovers.csv]="mode,switchover,from_host,to_host,outage_ms,stall_ms,handover_ms,restore_ms,announce_ms,first_frame_out_ms,protected_ms"
}

# pc_delay: a uniformly random wait between DELAY_MIN_MS and DELAY_MAX_MS.
pc_delay() {
	sleep "$(awk -v d=$((DELAY_MIN_MS + (RANDOM * 32768 + RANDOM) % (DELAY_MAX_MS - DELAY_MIN_MS + 1))) 'BEGIN { printf "%.3f", d / 1000 }')"
}

# pc_event KIND MODE N FROM TO REPORT EVENT_MONO START_MONO PROTECTED_MONO
#   MS HANDOVER_MS: record a round (KIND round: EVENT = the kill, START =
#   the new backup started, MS = reprotect_ms) or a switchover (KIND
#   switchover: EVENT = START = the request, MS = request -> protected);
#   the rows are written once the client has stopped (its CSV is complete).
PC_EVENTS=()
pc_event() { PC_EVENTS+=("$(jq -cn --args '$ARGS.positional' -- "$@")"); }

# pc_mode MODE: one chain (pair, client, rounds, switchovers) and its rows.
pc_mode() {
	local mode=$1 r s cc_pid rb_pid client csv rc ok=1
	chain_mode "$mode"
	sc_use_topology "$CH_TOPO" || return 0
	SC_RUN=$((SC_RUN + 1))
	P_LOG=$SC_OUT/logs/$mode.primary.log P_CTL=$SC_TMP/$SC_RUN.p.ctl
	B_LOG=$SC_OUT/logs/$mode.backup.log B_CTL=$SC_TMP/$SC_RUN.b.ctl B_REPORT=$SC_TMP/$SC_RUN.b.report.json
	CH_MEM=$MEM
	if ! chain_pair_up "$CH_PMODE" "$EPOCH" "$SC_TMP/$SC_RUN.p.report.json"; then
		sc_note "$mode: the pair did not come up: $CH_ERR"
		sc_pair_down
		return 0
	fi
	sc_fill_random "$mode" "$FILL_MB" || { sc_pair_down; return 0; }
	csv=$SC_OUT/raw/$mode.client.csv
	if ! sc_clients_start "$mode" "$LOAD_CLIENTS"; then
		sc_pair_down "$SC_CC_PID" "$SC_RB_PID"
		return 0
	fi
	cc_pid=$SC_CC_PID rb_pid=$SC_RB_PID
	chain_begin "$P_PID" "$P_CTL" "$SC_TMP/$SC_RUN.p.report.json" "$B_PID" "$B_CTL" "$B_REPORT" ||
		sc_fail "python3 cannot read CLOCK_MONOTONIC"
	CH_CLIENT_CSV=$csv
	PC_EVENTS=()
	for ((r = 1; r <= ROUNDS && ok; r++)); do
		sc_step "$mode round $r/$ROUNDS: kill the primary on $CH_CUR_HOST"
		chain_round "$SC_OUT/logs/$mode.backup-$r.$CH_CUR_HOST.log" "$SC_TMP/$SC_RUN.r$r.ctl" \
			"$SC_TMP/$SC_RUN.r$r.report.json" "$DELAY_MIN_MS" "$DELAY_MAX_MS"
		rc=$?
		[ "$(json_get "$CH_R_STATUS" .state)" = replicating ] ||
			sc_note "$mode round $r: the backup was not replicating just before the kill: $(jq -c '{state, max_silence_ms}' <<<"${CH_R_STATUS:-null}" 2>/dev/null)"
		[ -n "$CH_R_REPORT" ] && printf '%s\n' "$CH_R_REPORT" >"$SC_OUT/raw/$mode.round-$r.report.json"
		if [ -n "$CH_R_REPORT" ]; then
			pc_event round "$mode" "$r" "$CH_R_FROM" "$CH_R_TO" "$CH_R_REPORT" "$CH_R_KILL_MONO" \
				"$CH_R_START_MONO" "$CH_R_PROTECTED_MONO" "$CH_R_REPROTECT_MS" ""
		fi
		say "  $mode round $r: $CH_R_FROM -> $CH_R_TO, report $(jq -c '{reason, detector, phases_ms}' <<<"${CH_R_REPORT:-null}" 2>/dev/null), re-protected in ${CH_R_REPROTECT_MS:-(never)} ms"
		[ $rc = 0 ] || { sc_note "$mode round $r: $CH_ERR; the chain stops here"; ok=0; }
		[ "$CH_R_RESUMED" = 0 ] && sc_note "$mode round $r: the client did not answer within $CH_RESUME_TIMEOUT_MS ms of the re-protection"
	done
	for ((s = 1; s <= SWITCHOVERS && ok; s++)); do
		sc_step "$mode switchover $s/$SWITCHOVERS: $CH_CUR_HOST -> $CH_BK_HOST"
		pc_delay
		chain_switchover
		rc=$?
		[ -n "$CH_S_REPORT" ] && printf '%s\n' "$CH_S_REPORT" >"$SC_OUT/raw/$mode.switchover-$s.report.json"
		if [ -n "$CH_S_REPORT" ]; then
			pc_event switchover "$mode" "$s" "$CH_S_FROM" "$CH_S_TO" "$CH_S_REPORT" "$CH_S_REQ_MONO" \
				"$CH_S_REQ_MONO" "$CH_S_PROTECTED_MONO" "$CH_S_PROTECT_MS" "$(json_get "$CH_S_REPLY" .handover_ms)"
		fi
		say "  $mode switchover $s: $CH_S_FROM -> $CH_S_TO, $(jq -c '{handover_ms, epoch}' <<<"${CH_S_REPLY:-null}" 2>/dev/null || echo "$CH_S_REPLY"), protected again after ${CH_S_PROTECT_MS:-(never)} ms"
		[ $rc = 0 ] || { sc_note "$mode switchover $s: $CH_ERR; the chain stops here"; ok=0; }
		[ "$CH_S_RESUMED" = 0 ] && sc_note "$mode switchover $s: the client did not answer within $CH_RESUME_TIMEOUT_MS ms of the re-protection"
	done
	sleep 1
	pid_alive "$rb_pid" || sc_note "$mode: redis-benchmark stopped during the chain: $(rb_errors "$SC_OUT/logs/$mode.redis-benchmark.log" | tr '\n' ' ')"
	[ -z "$(rb_errors "$SC_OUT/logs/$mode.redis-benchmark.log")" ] ||
		sc_note "$mode: redis-benchmark reported errors: $(rb_errors "$SC_OUT/logs/$mode.redis-benchmark.log" | tr '\n' ' ')"
	kill -TERM "$cc_pid" 2>/dev/null
	if pid_wait "$cc_pid" 30; then rc=$RRVM_WAIT_RC; else pid_stop "$cc_pid" 1; rc=timeout; fi
	client=$(jq -c . "$SC_OUT/raw/$mode.client.json" 2>/dev/null)
	[ -n "$client" ] || { client='{}'; sc_note "$mode: no consistency-client report (exit status $rc)"; }
	P_PID=$CH_CUR_PID B_PID=$CH_BK_PID
	sc_pair_down "$rb_pid"
	pc_rows "$mode" "$csv" "$client"
	say "  $mode client: $(jq -c '{replies, violations: ([.violations[]?] | add), reconnects, keys_acked, keys_lost, longest_stall_ms}' <<<"$client")"
	[ "$(jq -r '[.violations[]?] | add // 0' <<<"$client")" = 0 ] || sc_note "$mode: the client saw violations: $(jq -c .violations <<<"$client")"
	[ "$(jq -r '.reconnects // 0' <<<"$client")" = 0 ] || sc_note "$mode: the client reconnected $(jq -r .reconnects <<<"$client") times"
}

# pc_rows MODE CSV CLIENT_JSON: chain.csv, switchovers.csv and rounds.csv
# rows of the recorded events, with the client's stalls.
pc_rows() {
	local mode=$1 csv=$2 client=$3 e kind n from to rep ev start prot ms hms tk gap gfrom gto rst viol recon
	viol=$(jq -r '[.violations[]?] | add // empty' <<<"$client")
	recon=$(jq -r '.reconnects // empty' <<<"$client")
	for e in "${PC_EVENTS[@]}"; do
		{ read -r kind; read -r _; read -r n; read -r from; read -r to; read -r rep; read -r ev
		  read -r start; read -r prot; read -r ms; read -r hms; } < <(jq -r '.[]' <<<"$e")
		tk=$(chain_takeover_mono "$rep" "$ev")
		read -r gap gfrom gto <<<"$(chain_stall_at "$csv" "$tk")"
		[ "$gap" = NA ] && gap=''
		rst=''
		if [ "$kind" = round ]; then
			[ -n "$prot" ] && rst=$(chain_reprotect_stall "$csv" "$gto" "$start" "$prot")
			[ "$rst" = NA ] && rst=''
			echo "$mode,$n,$from,$to,$gap,$ms,$viol,$recon" >>"$SC_OUT/chain.csv"
		else
			# The stall from the request on, takeover included.
			[ -n "$prot" ] && rst=$(chain_max_stall "$csv" "$ev" "$(awk -v p="$prot" 'BEGIN { printf "%.3f", p + 300 }')")
			[ "$rst" = NA ] && rst=''
			jq -rn --arg m "$mode" --arg n "$n" --arg f "$from" --arg t "$to" --arg g "$gap" --arg s "$rst" \
				--arg h "$hms" --arg p "$ms" --argjson r "$rep" '
				[$m, $n, $f, $t, $g, $s, $h, $r.phases_ms.restore, $r.phases_ms.announce, $r.phases_ms.first_frame_out, $p]
				| map(if . == null then "" else tostring end) | join(",")' >>"$SC_OUT/switchovers.csv"
		fi
		jq -rn --arg k "$kind" --arg m "$mode" --arg n "$n" --arg f "$from" --arg t "$to" --arg g "$gap" \
			--arg gf "$gfrom" --arg gt "$gto" --arg s "$rst" --arg e "$ev" --arg st "$start" --arg p "$prot" \
			--arg ms "$ms" --argjson r "$rep" '
			def rel: if . == null or . == "" or . == "NA" or . == 0 then null else ((tonumber - ($e | tonumber)) * 1000 | round / 1000) end;
			[$k, $m, $n, $f, $t, $r.reason, $r.detector, $r.phases_ms.detect, $r.phases_ms.fence, $r.phases_ms.restore,
			 $r.phases_ms.announce, $r.phases_ms.first_frame_out, ($r.replay.frames // null), $g, ($gf | rel), ($gt | rel),
			 ($st | rel), ($p | rel), $ms, $s]
			| map(if . == null then "" else tostring end) | join(",")' >>"$SC_OUT/rounds.csv"
	done
}

scenario_main() {
	local m
	sc_check_ints ROUNDS EPOCH DELAY_MIN_MS DELAY_MAX_MS LOAD_CLIENTS
	sc_check_modes MODES buffered reverse-inline reverse-mirror
	[[ $SWITCHOVERS =~ ^[0-9]+$ ]] || sc_fail "parameter SWITCHOVERS: '$SWITCHOVERS' is not a non-negative integer"
	[[ $FILL_MB =~ ^[0-9]+$ ]] || sc_fail "parameter FILL_MB: '$FILL_MB' is not a non-negative integer"
	[[ $MEM =~ ^[1-9][0-9]*[MG]$ ]] || sc_fail "parameter MEM: '$MEM' is not a size like 64M or 1G"
	[ "$DELAY_MAX_MS" -ge "$DELAY_MIN_MS" ] || sc_fail "DELAY_MAX_MS < DELAY_MIN_MS"
	echo "mode,round,from_host,to_host,outage_ms,reprotect_ms,violations,reconnects" >"$SC_OUT/chain.csv"
	[ "$SWITCHOVERS" = 0 ] ||
		echo "mode,switchover,from_host,to_host,outage_ms,stall_ms,handover_ms,restore_ms,announce_ms,first_frame_out_ms,protected_ms" >"$SC_OUT/switchovers.csv"
	echo "kind,mode,n,from_host,to_host,reason,detector,detect_ms,fence_ms,restore_ms,announce_ms,first_frame_out_ms,replay_frames,outage_ms,outage_from_ms,outage_to_ms,backup_start_ms,protected_ms,reprotect_ms,reprotect_stall_ms" >"$SC_OUT/rounds.csv"
	sc_steps $(( $(wc -w <<<"$MODES") * (ROUNDS + SWITCHOVERS) ))
	for m in $MODES; do
		pc_mode "$m"
	done
	sc_noise summary "$(pc_summary)"
}

# pc_summary: per mode, medians and ranges of chain.csv and switchovers.csv
# (JSON for meta.json's noise).
pc_summary() {
	/usr/bin/python3 - "$SC_OUT" <<'EOF'
import csv, json, os, statistics, sys
out = sys.argv[1]
def rows(name):
    p = os.path.join(out, name)
    if not os.path.exists(p):
        return []
    with open(p) as f:
        return list(csv.DictReader(f))
def stat(vals):
    v = [float(x) for x in vals if x not in ("", None)]
    if not v:
        return None
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}
res = {}
for r in rows("chain.csv"):
    res.setdefault(r["mode"], {"rounds": []})["rounds"].append(r)
for r in rows("switchovers.csv"):
    res.setdefault(r["mode"], {"rounds": []}).setdefault("sw", []).append(r)
det = rows("rounds.csv")
summary = {}
for m, d in res.items():
    rr = d["rounds"]
    s = {"rounds": len(rr), "outage_ms": stat(r["outage_ms"] for r in rr),
         "reprotect_ms": stat(r["reprotect_ms"] for r in rr),
         "reprotect_stall_ms": stat(r["reprotect_stall_ms"] for r in det if r["mode"] == m and r["kind"] == "round"),
         "violations": rr[0]["violations"] if rr else None, "reconnects": rr[0]["reconnects"] if rr else None}
    sw = d.get("sw", [])
    if sw:
        s["switchovers"] = {"n": len(sw), "outage_ms": stat(r["outage_ms"] for r in sw),
                            "stall_ms": stat(r["stall_ms"] for r in sw),
                            "handover_ms": stat(r["handover_ms"] for r in sw),
                            "protected_ms": stat(r["protected_ms"] for r in sw)}
    summary[m] = s
print(json.dumps({"per_mode": summary, "note": "violations and reconnects are the client's totals over the whole chain of a mode (switchovers included); outage = stall across the takeover's restore instant"}))
EOF
}
