# shellcheck shell=bash disable=SC2034 # CH_* are for the scripts that source this
# Continuous protection on the testbed (issue 11; docs/design.md "Role
# changes"): a pair whose daemons can swap roles, a protection chain (kill
# -9 the primary, the backup takes over, a new backup starts on the dead
# host and the survivor protects the VM to it) and planned switchovers,
# each with what a driver measures around it. Used by
# tests/integration/test_protection_chain.sh and test_switchover.sh
# (through tests/integration/lib.sh) and by experiments/scenarios/
# protection-chain.sh; failure reasons are returned (CH_ERR), never
# asserted: the caller decides what is a failed check.
#
# Source after netns.sh, rrvm.sh and testbed.sh, on a running testbed whose
# TB_* names are loaded (tb_load_topology). The daemons authenticate with
# RRVM_KEY_FILE (rrvm_make_key).
#
# Every daemon of a chain can hold either role: it fences the other host
# before a takeover after a failure, listens on its own host's replication
# address when it is (or becomes) a backup, protects to the other host's
# when it is (or becomes) a primary and, in reverse mode, runs the
# testbed's rewire command for its own host first (capture point in front
# of it).
#
# The chain's state after chain_begin: the current primary CH_CUR_{HOST,
# PID,CTL,REPORT} and its backup CH_BK_{HOST,PID,CTL,REPORT} (REPORT:
# where that daemon writes its takeover reports, its --report; removed
# before each kill or switchover so a new one can be waited for).

CH_PORT=7777
CH_GUEST=${CH_GUEST:-$RRVM_GUEST_DIR/kv.elf}
CH_MEM=${CH_MEM:-64M}              # the guest's --mem
CH_PROTECT_TIMEOUT_S=20            # re-protection must finish within
CH_REPORT_TIMEOUT_MS=10000         # a takeover report must appear within
CH_ERR=''
CH_CUR_HOST='' CH_CUR_PID='' CH_CUR_CTL='' CH_CUR_REPORT=''
CH_BK_HOST='' CH_BK_PID='' CH_BK_CTL='' CH_BK_REPORT=''
CH_MONO_OFF_MS=''
CH_CLIENT_CSV=''                   # set: rounds end once the client answers again
CH_RESUME_TIMEOUT_MS=5000

# chain_mode MODE: the testbed topology and `rrvm primary --mode` of a
# chain mode, in CH_TOPO and CH_PMODE. 1 for an unknown mode.
chain_mode() {
	case "$1" in
	buffered) CH_TOPO=basic CH_PMODE=buffered ;;
	reverse-inline) CH_TOPO=inline CH_PMODE=reverse ;;
	reverse-mirror) CH_TOPO=mirror CH_PMODE=reverse ;;
	*) return 1 ;;
	esac
}

# chain_rep_addr HOST: HOST's replication address (ADDR:PORT).
chain_rep_addr() { echo "$(tb_host_rep_ip "$1"):$CH_PORT"; }

# _chain_role_opts HOST: the options every chain daemon on HOST has, in
# CH_OPTS: fence the other host; in inline and mirror capture on HOST's
# capture port (the same names on both hosts) and rewire for HOST.
_chain_role_opts() {
	CH_OPTS=(--fence-cmd "$(rrvm_tb_fence_cmd "$(tb_peer "$1")")")
	[ "${TB_TOPOLOGY:-basic}" = basic ] && return 0
	CH_OPTS+=(--topology "$TB_TOPOLOGY" --capture-if "$TB_BAK_CAPTURE_IF")
	[ -n "$TB_BAK_FORWARD_IF" ] && CH_OPTS+=(--forward-if "$TB_BAK_FORWARD_IF")
	CH_OPTS+=(--rewire-cmd "$(rrvm_tb_rewire_cmd "$1")")
}

# chain_backup_start HOST LOG CTL REPORT [rrvm option...]: `rrvm backup` on
# HOST, listening on HOST's replication address, re-protecting to the other
# host's after a takeover. PID in RRVM_LAST_PID. 0 once its control socket
# is up; 1 (CH_ERR) if it is not within 10 s.
chain_backup_start() {
	local h=$1 logf=$2 ctl=$3 report=$4
	shift 4
	_chain_role_opts "$h"
	CH_OPTS+=(--reprotect "$(chain_rep_addr "$(tb_peer "$h")")")
	[ "${TB_TOPOLOGY:-basic}" = basic ] ||
		CH_OPTS+=(--guest-mac "$TB_GUEST_MAC" --guest-ip "$TB_GUEST_IP")
	rm -f "$report"
	rrvm_backup_bg "$(tb_ns "$h")" "$logf" "$ctl" "$(chain_rep_addr "$h")" "$report" \
		"${CH_OPTS[@]}" "$@"
	wait_for 10 --pid "$RRVM_LAST_PID" test -S "$ctl" && return 0
	CH_ERR="rrvm backup on $h did not open its control socket: $(tail -n 5 "$logf" 2>/dev/null)"
	return 1
}

# chain_primary_start HOST LOG CTL REPORT PMODE EPOCH_MS [rrvm option...]
#   [-- guest option...]: the guest (CH_GUEST, --mem CH_MEM) under `rrvm
#   primary` on HOST, protecting to the other host, listening on HOST's
#   replication address once it has handed the VM over (it then writes its
#   own takeover reports to REPORT). PID in RRVM_LAST_PID (no wait).
chain_primary_start() {
	local h=$1 logf=$2 ctl=$3 report=$4 pmode=$5 epoch=$6
	shift 6
	_chain_role_opts "$h"
	CH_OPTS+=(--listen "$(chain_rep_addr "$h")" --report "$report")
	rm -f "$report"
	rrvm_primary_bg "$(tb_ns "$h")" "$logf" "$ctl" "$CH_GUEST" \
		"$(chain_rep_addr "$(tb_peer "$h")")" "$pmode" "$epoch" --mem "$CH_MEM" \
		"${CH_OPTS[@]}" "$@"
}

# chain_pair_up PMODE EPOCH_MS P_REPORT [primary option...]: a pair whose
# daemons can swap roles: the backup on bak (files B_LOG B_CTL B_REPORT),
# then the primary on pri (P_LOG P_CTL; its own takeover report P_REPORT).
# Sets B_PID and P_PID. 0 once the guest answers the client (ping, TCP
# 6379) and the backup holds the full checkpoint; else 1 with CH_ERR (stop
# what was started: B_PID, P_PID).
chain_pair_up() {
	local pmode=$1 epoch=$2 preport=$3 rc
	shift 3
	P_PID=''
	chain_backup_start bak "$B_LOG" "$B_CTL" "$B_REPORT" || { B_PID=$RRVM_LAST_PID; return 1; }
	B_PID=$RRVM_LAST_PID
	chain_primary_start pri "$P_LOG" "$P_CTL" "$preport" "$pmode" "$epoch" "$@"
	P_PID=$RRVM_LAST_PID
	rrvm_wait_ready "$TB_NS_C" "$TB_GUEST_IP" 6379 "$P_PID" "${RRVM_BOOT_TIMEOUT:-30}"
	rc=$?
	case $rc in
	1) CH_ERR="the guest did not answer ping and TCP 6379 in time"; return 1 ;;
	2) CH_ERR="rrvm primary exited during boot: $(tail -n 5 "$P_LOG" 2>/dev/null)"; return 1 ;;
	esac
	rrvm_wait_protected "$P_CTL" "$P_PID" "$CH_PROTECT_TIMEOUT_S"
	rc=$?
	case $rc in
	1) CH_ERR="the backup did not acknowledge a full checkpoint within $CH_PROTECT_TIMEOUT_S s: $RRVM_REPL"; return 1 ;;
	2) CH_ERR="rrvm primary exited before the backup held a checkpoint"; return 1 ;;
	esac
	return 0
}

# chain_begin P_PID P_CTL P_REPORT B_PID B_CTL B_REPORT: the chain starts
# from a pair (primary on pri, backup on bak); reads the clock offset
# chain_mono_ms needs (python, once).
chain_begin() {
	CH_CUR_HOST=pri CH_CUR_PID=$1 CH_CUR_CTL=$2 CH_CUR_REPORT=$3
	CH_BK_HOST=bak CH_BK_PID=$4 CH_BK_CTL=$5 CH_BK_REPORT=$6
	CH_MONO_OFF_MS=$("$(rrvm_python)" -c '
import time
a = time.monotonic_ns(); r = time.time_ns(); b = time.monotonic_ns()
print((r - (a + b) // 2) / 1e6)') || return 1
}

# chain_mono_ms: CLOCK_MONOTONIC now, ms with 3 decimals (the clock of the
# consistency client's CSV and the takeover reports), without a fork:
# $EPOCHREALTIME minus the offset chain_begin read.
chain_mono_ms() {
	awk -v r="$EPOCHREALTIME" -v o="$CH_MONO_OFF_MS" 'BEGIN { printf "%.3f\n", r * 1000 - o }'
}

# chain_wait_protected CTL PID TIMEOUT_S: poll the primary at CTL every 20
# ms until it is protected again (protected, connected, an epoch
# acknowledged: the backup holds the full checkpoint). 0 ok, 1 timeout, 2
# PID exited.
chain_wait_protected() {
	local ctl=$1 pid=$2 deadline=$(( $(now_ms) + $3 * 1000 ))
	while :; do
		pid_alive "$pid" || return 2
		chain_json_true "$(rrvm_repl_stats "$ctl" 2>/dev/null)" \
			'.protected == true and .connects >= 1 and .acked_epoch > 0' && return 0
		[ "$(now_ms)" -ge "$deadline" ] && return 1
		sleep 0.02
	done
}
# chain_json_true JSON JQ_EXPR: the expression is true on JSON.
chain_json_true() { jq -e "$2" <<<"$1" >/dev/null 2>&1; }

# chain_client_resumed MONO_MS: with CH_CLIENT_CSV set (a consistency
# client's per-reply CSV), wait up to CH_RESUME_TIMEOUT_MS until it holds a
# reply later than MONO_MS, so that a stall still running (e.g. a rewire's)
# does not spill into the next event's measurement. The client writes its
# CSV through a stdio buffer: up to a buffer's worth of replies late (about
# 0.1 s at 1 000 replies/s). 0 resumed (or no CSV to watch), 1 not.
chain_client_resumed() {
	local deadline=$(( $(now_ms) + CH_RESUME_TIMEOUT_MS ))
	[ -n "$CH_CLIENT_CSV" ] || return 0
	while :; do
		tail -c 256 "$CH_CLIENT_CSV" 2>/dev/null | awk -F, -v x="$1" '
			$1 ~ /^[0-9]+$/ && $1 / 1e6 > x { ok = 1 } END { exit !ok }' && return 0
		[ "$(now_ms)" -ge "$deadline" ] && return 1
		sleep 0.05
	done
}

# chain_round NEW_LOG NEW_CTL NEW_REPORT [DELAY_MIN_MS DELAY_MAX_MS]: one
# round of the chain, after a uniformly random delay (default 600-1500 ms):
#   the backup's status (CH_R_STATUS: it must be replicating); kill -9 of
#   the current primary (CH_R_KILL_MONO); the backup's takeover report
#   (CH_R_REPORT, '' if none within CH_REPORT_TIMEOUT_MS); the dead host
#   unfenced; a new `rrvm backup` there (files NEW_*), re-protecting to the
#   survivor (CH_R_START_MONO); the survivor protected again
#   (CH_R_PROTECTED_MONO; CH_R_REPROTECT_MS = backup started -> protected,
#   '' if not within CH_PROTECT_TIMEOUT_S); then the roles swap: the
#   survivor is the current primary, the new daemon its backup; with
#   CH_CLIENT_CSV, the client answering again (chain_client_resumed;
#   CH_R_RESUMED 1 or 0).
# CH_R_FROM, CH_R_TO: the dead host and the survivor's. Returns 0 if the
# VM is protected again, 1 (CH_ERR) if not, with as much set as was done.
chain_round() {
	local nlog=$1 nctl=$2 nreport=$3 dmin=${4:-600} dmax=${5:-1500} t0 rc new_pid out
	CH_R_FROM=$CH_CUR_HOST CH_R_TO=$CH_BK_HOST
	CH_R_STATUS='' CH_R_REPORT='' CH_R_KILL_MONO='' CH_R_START_MONO='' CH_R_PROTECTED_MONO=''
	CH_R_REPROTECT_MS='' CH_R_RESUMED='' CH_ERR=''
	sleep "$(awk -v d=$((dmin + RANDOM % (dmax - dmin + 1))) 'BEGIN { printf "%.3f", d / 1000 }')"
	CH_R_STATUS=$(rrvm_backup_status "$CH_BK_CTL" 2>/dev/null)
	rm -f "$CH_BK_REPORT"
	CH_R_KILL_MONO=$(chain_mono_ms)
	rrvm_kill9 "$CH_CUR_PID"
	rrvm_wait_file "$CH_BK_REPORT" "$CH_BK_PID" "$CH_REPORT_TIMEOUT_MS"
	rc=$?
	CH_R_REPORT=$(jq -c . "$CH_BK_REPORT" 2>/dev/null)
	if [ $rc != 0 ] || [ -z "$CH_R_REPORT" ]; then
		CH_ERR="no takeover report from $CH_BK_HOST ($([ $rc = 2 ] && echo "its daemon exited" || echo "timeout"))"
		return 1
	fi
	# The dead host comes back as the new backup.
	if tb_is_fenced "$CH_R_FROM" && ! out=$(tb_unfence "$CH_R_FROM" 2>&1); then
		CH_ERR="testbed unfence $CH_R_FROM failed: $out"
		return 1
	fi
	t0=$(now_ms)
	CH_R_START_MONO=$(chain_mono_ms)
	chain_backup_start "$CH_R_FROM" "$nlog" "$nctl" "$nreport" || return 1
	new_pid=$RRVM_LAST_PID
	chain_wait_protected "$CH_BK_CTL" "$CH_BK_PID" "$CH_PROTECT_TIMEOUT_S"
	rc=$?
	if [ $rc = 0 ]; then
		CH_R_REPROTECT_MS=$(( $(now_ms) - t0 ))
		CH_R_PROTECTED_MONO=$(chain_mono_ms)
	else
		CH_ERR="the VM on $CH_R_TO is not protected again within $CH_PROTECT_TIMEOUT_S s$([ $rc = 2 ] && echo " (its daemon exited)"): $(rrvm_repl_stats "$CH_BK_CTL" 2>&1)"
	fi
	_chain_swap
	CH_BK_HOST=$CH_R_FROM CH_BK_PID=$new_pid CH_BK_CTL=$nctl CH_BK_REPORT=$nreport
	[ $rc = 0 ] || return 1
	chain_client_resumed "$CH_R_PROTECTED_MONO" && CH_R_RESUMED=1 || CH_R_RESUMED=0
	return 0
}

# _chain_swap: the backup becomes the current primary and the primary its
# backup (the caller replaces the backup when the primary died).
_chain_swap() {
	local h=$CH_CUR_HOST p=$CH_CUR_PID c=$CH_CUR_CTL r=$CH_CUR_REPORT
	CH_CUR_HOST=$CH_BK_HOST CH_CUR_PID=$CH_BK_PID CH_CUR_CTL=$CH_BK_CTL CH_CUR_REPORT=$CH_BK_REPORT
	CH_BK_HOST=$h CH_BK_PID=$p CH_BK_CTL=$c CH_BK_REPORT=$r
}

# chain_switchover: a planned switchover of the current primary (`rrvm ctl
# switchover --json`) to its backup. Sets
#   CH_S_FROM, CH_S_TO        the hosts
#   CH_S_REQ_MONO             just before the request
#   CH_S_RC, CH_S_REPLY       the ctl exit status and reply (handed_over,
#                             epoch, handover_ms)
#   CH_S_REPORT               the new primary's report (reason handover)
#   CH_S_PROTECTED_MONO       the new primary protected again, to the old
#                             primary's host (CH_S_PROTECT_MS from the
#                             request)
#   CH_S_OLD_STATUS           the old primary's daemon: status --json once
#                             it is the backup, replicating
#   CH_S_RESUMED              with CH_CLIENT_CSV: 1 once the client answered
#                             after that, 0 if not (chain_client_resumed)
# and swaps the roles. Returns 0 when all of it happened, 1 (CH_ERR) at the
# first step that did not (the roles are swapped only once the handover
# was acknowledged).
chain_switchover() {
	local t0 rc
	CH_S_FROM=$CH_CUR_HOST CH_S_TO=$CH_BK_HOST CH_ERR=''
	CH_S_REPLY='' CH_S_REPORT='' CH_S_PROTECTED_MONO='' CH_S_PROTECT_MS='' CH_S_OLD_STATUS=''
	CH_S_RESUMED=''
	rm -f "$CH_BK_REPORT" "$CH_CUR_REPORT"
	t0=$(now_ms)
	CH_S_REQ_MONO=$(chain_mono_ms)
	CH_S_REPLY=$(timeout 20 "$RRVM" ctl "$CH_CUR_CTL" switchover --json 2>&1)
	CH_S_RC=$?
	if [ "$CH_S_RC" != 0 ] || ! chain_json_true "$CH_S_REPLY" '.handed_over == true'; then
		CH_ERR="switchover $CH_S_FROM -> $CH_S_TO refused or failed (exit $CH_S_RC): $CH_S_REPLY"
		return 1
	fi
	rrvm_wait_file "$CH_BK_REPORT" "$CH_BK_PID" "$CH_REPORT_TIMEOUT_MS"
	CH_S_REPORT=$(jq -c . "$CH_BK_REPORT" 2>/dev/null)
	# Handed over: whatever follows, the roles have swapped.
	_chain_swap
	if [ -z "$CH_S_REPORT" ]; then
		CH_ERR="no takeover report from the new primary on $CH_S_TO"
		return 1
	fi
	chain_wait_protected "$CH_CUR_CTL" "$CH_CUR_PID" "$CH_PROTECT_TIMEOUT_S"
	rc=$?
	if [ $rc != 0 ]; then
		CH_ERR="the new primary on $CH_S_TO is not protected again within $CH_PROTECT_TIMEOUT_S s: $(rrvm_repl_stats "$CH_CUR_CTL" 2>&1)"
		return 1
	fi
	CH_S_PROTECT_MS=$(( $(now_ms) - t0 ))
	CH_S_PROTECTED_MONO=$(chain_mono_ms)
	if ! wait_for 10 --pid "$CH_BK_PID" chain_is_replicating_backup "$CH_BK_CTL"; then
		CH_ERR="the old primary on $CH_S_FROM is not a replicating backup: $(rrvm_backup_status "$CH_BK_CTL" 2>&1)"
		return 1
	fi
	CH_S_OLD_STATUS=$(rrvm_backup_status "$CH_BK_CTL" 2>/dev/null)
	chain_client_resumed "$CH_S_PROTECTED_MONO" && CH_S_RESUMED=1 || CH_S_RESUMED=0
	return 0
}
# shellcheck disable=SC2317 # called through wait_for
chain_is_replicating_backup() {
	chain_json_true "$(rrvm_backup_status "$1" 2>/dev/null)" '.role == "backup" and .state == "replicating"'
}

# chain_stall_at CSV MONO_MS: the client's stall across an instant: per
# connection of a consistency-client CSV (t_ns,mode,value,latency_ns), the
# wait from its last reply at or before MONO_MS to its first reply after
# it; the longest of them: "GAP_MS FROM_MS TO_MS" (CLOCK_MONOTONIC), or
# "NA NA NA" when no connection has replies on both sides. At a takeover's
# restore instant (the VM runs on neither host) it is the outage the
# client saw, whatever its cause (a kill or a switchover).
chain_stall_at() {
	awk -F, -v x="$2" '
		$1 !~ /^[0-9]+$/ { next }
		{ t = $1 / 1e6; m = $2 }
		t <= x { before[m] = t; next }
		!(m in after) { after[m] = t }
		END {
			for (m in after) if (m in before && after[m] - before[m] > g) {
				g = after[m] - before[m]; f = before[m]; to = after[m] }
			if (g > 0) printf "%.1f %.3f %.3f\n", g, f, to; else print "NA NA NA"
		}' "$1"
}

# chain_takeover_mono REPORT_JSON [FALLBACK_MS]: the instant a takeover
# report says the VM was restored on the new host (timeline_mono_ms.restored;
# FALLBACK_MS if the report has none).
chain_takeover_mono() {
	local t
	t=$(jq -r '.timeline_mono_ms.restored // 0' <<<"${1:-null}" 2>/dev/null)
	if [ -z "$t" ] || [ "$t" = 0 ]; then t=${2:-}; fi
	echo "$t"
}

# chain_max_stall CSV FROM_MS TO_MS: the client's longest wait between two
# consecutive replies on a connection of a consistency-client CSV that
# overlaps [FROM, TO] (CLOCK_MONOTONIC ms): a stall that began before FROM
# or ended after TO counts whole. Prints the gap in ms, or NA.
chain_max_stall() {
	awk -F, -v a="$2" -v b="$3" '
		$1 !~ /^[0-9]+$/ { next }
		{ t = $1 / 1e6; m = $2 }
		(m in last) && t > a && last[m] < b && t - last[m] > g { g = t - last[m] }
		{ last[m] = t }
		END { if (g > 0) printf "%.1f\n", g; else print "NA" }' "$1"
}

# chain_reprotect_stall CSV TAKEOVER_TO_MS START_MS PROTECTED_MS: the
# client's longest stall while a new backup was brought in (chain_max_stall
# over [START, PROTECTED + 300 ms]), not counting the takeover's own stall
# (replies up to TAKEOVER_TO_MS, chain_stall_at's TO: a takeover stall
# still running when the backup started is the outage, not this). Prints
# the gap in ms, or NA.
chain_reprotect_stall() {
	local a=$3
	[ -n "$2" ] && [ "$2" != NA ] && a=$(awk -v a="$3" -v t="$2" 'BEGIN { printf "%.3f\n", (t >= a ? t + 0.001 : a) }')
	chain_max_stall "$1" "$a" "$(awk -v p="$4" 'BEGIN { printf "%.3f\n", p + 300 }')"
}
