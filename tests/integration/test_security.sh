#!/usr/bin/env bash
# Only the real primary can feed a backup (issue 12), on the basic testbed
# with a buffered pair that authenticates with a pre-shared key, the
# consistency client running:
#  1. intruders: a second `rrvm primary` (the echo guest on its own TAP)
#     pointed at the same backup with no key (--insecure), with a wrong
#     key, and with the RIGHT key (another primary run): each is refused
#     and counted, the real pair's epochs and acks go on, the backup stays
#     with the real session; then kill -9 of the real primary: the backup
#     fails over to the REAL VM (kv at 10.77.0.2), 0 violations;
#  2. a recorded stream: the replication link captured with tcpdump while
#     a client stores a secret value; the value is not in the capture (a
#     plaintext --insecure pair's capture does contain it: the control);
#     the recorded primary->backup bytes replayed to a fresh backup with
#     the same key are refused and nothing is committed;
#  3. control sockets: created 0600; another user cannot connect; with the
#     file opened up (chmod 666) the server still refuses the other user
#     (peer credentials); an unknown command is an error (exit 1);
#  4. a client that connects to the backup's control socket and says
#     nothing does not delay the failover (detector link-closed, detect
#     phase well below the timeout);
#  5. `ctl save` onto a symlink replaces the link, never writes through it;
#  6. out-of-range numeric options exit 2 with a message.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

t_init_testbed redis-cli redis-benchmark ping jq tcpdump tshark setpriv
tb_t_rep_init
KEY=$RRVM_KEY_FILE

# ------------------------------------------------ 6. option range errors
bad_opt() { # DESC WANT-REGEX CMD...
	local desc=$1 want=$2 out rc
	shift 2
	out=$("$@" 2>&1)
	rc=$?
	t_eq "6: $desc: exit status 2" 2 "$rc"
	t_check "6: $desc: says why ($out)" matches "$out" "$want"
}
bad_opt "--detect-timeout 4294967297" "detect-timeout '4294967297': out of range" \
	"$RRVM" backup --listen 127.0.0.1:1 --tap none --insecure --detect-timeout 4294967297
bad_opt "--capture-spin 99999999999" "capture-spin '99999999999': out of range" \
	"$RRVM" backup --listen 127.0.0.1:1 --tap none --insecure --capture-spin 99999999999
bad_opt "--epoch 0" "epoch '0': out of range" \
	"$RRVM" primary --guest x --tap t --ip 10.0.0.2/24 --mac 52:54:00:00:00:01 \
	--backup 127.0.0.1:1 --insecure --epoch 0
bad_opt "--epoch 1x" "epoch '1x': not a number" \
	"$RRVM" primary --guest x --tap t --ip 10.0.0.2/24 --mac 52:54:00:00:00:01 \
	--backup 127.0.0.1:1 --insecure --epoch 1x
bad_opt "neither --key-file nor --insecure" "needs --key-file" \
	"$RRVM" backup --listen 127.0.0.1:1 --tap none

# ------------------------------------------------------------ the pair
tb_t_pair_up buffered 20
tb_t_cc_start
wait_for 10 --pid "$CC_PID" test -s "$CC_CSV" || t_fail "the consistency client did not start"

# ---------------------------------------------------------- 1. intruders
ip -n "$TB_NS_PRI" tuntap add dev tap1 mode tap || t_fail "cannot make tap1"
ip -n "$TB_NS_PRI" link set tap1 up
wrong=$T_TMP/wrong.key
"$RRVM" keygen "$wrong" >/dev/null || t_fail "keygen failed"
refused0=$(b_status_get .connections_refused)
intrude() { # LABEL LINK-OPTION...
	local label=$1 log=$T_TMP/intruder.$1.log ictl=$T_TMP/intruder.$1.ctl pid s0 s1 is
	shift
	s0=$(rrvm_repl_stats "$P_CTL")
	ns_bg "$TB_NS_PRI" "$log" "$RRVM" primary --guest "$(guest_image echo)" \
		--tap tap1 --ip 10.99.0.2/24 --mac 52:54:00:99:00:02 \
		--backup "$REP_LISTEN" --mode buffered --mem 32M --control "$ictl" "$@"
	pid=$RRVM_LAST_PID
	sleep 1.5
	s1=$(rrvm_repl_stats "$P_CTL")
	is=$(rrvm_repl_stats "$ictl")
	t_check "1: $label intruder: the real pair's acks went on meanwhile" \
		json_true "$s1" ".acked_epoch > $(jq .acked_epoch <<<"$s0") + 10 and .protected == true and .connects == 1"
	t_check "1: $label intruder: not one of its epochs was acknowledged ($is)" \
		json_true "$is" '.acked_epoch == 0'
	t_info "1: $label intruder's log: $(grep -m1 -E 'BACKUP LOST|cannot reach|closed the link|handshake' "$log")"
	pid_stop "$pid" 5
}
intrude no-key --insecure
intrude wrong-key --key-file "$wrong"
intrude same-key --key-file "$KEY"
st=$(rrvm_backup_status "$B_CTL")
t_info "1: backup after the intruders: $st"
t_check "1: the backup refused and counted all three ($refused0 before)" \
	json_true "$st" ".connections_refused >= ${refused0:-0} + 3 and .state == \"replicating\""
t_check "1: the backup says why it refused the same-key intruder" \
	grep -q "refused a second primary" "$B_LOG"
t_check "1: ... and the ones without the key" grep -qE "refused a connection .*(authenticat|HELLO|key)" "$B_LOG"
ip -n "$TB_NS_PRI" link del tap1

# ------------------------------------------ 3. control socket permissions
t_eq "3: the backup's control socket is mode 0600" 600 "$(stat -c %a "$B_CTL")"
t_eq "3: the primary's control socket is mode 0600" 600 "$(stat -c %a "$P_CTL")"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
out=$(as_nobody "$RRVM" ctl "$B_CTL" status 2>&1)
t_check "3: another user cannot connect ($out)" test $? -ne 0
# Open the way (the directory and the socket) so that only the server's
# peer-credential check stands between the other user and the backup.
chmod o+x "$T_TMP"
chmod 666 "$B_CTL"
out=$(as_nobody "$RRVM" ctl "$B_CTL" status 2>&1)
rc=$?
t_check "3: with the file opened up, the server still refuses the other user (exit $rc)" test "$rc" -ne 0
t_check "3: ... saying permission denied ($out)" matches "$out" "^error: permission denied"
chmod 600 "$B_CTL"
chmod o-x "$T_TMP"
out=$(ctl "$B_CTL" no-such-command 2>&1)
t_eq "3: an unknown command exits 1" 1 "$?"
t_check "3: ... and names it" matches "$out" "unknown command 'no-such-command'"

# ---------------------------------------------------- 5. save onto a link
victim=$T_TMP/victim
echo "precious" >"$victim"
ln -s "$victim" "$T_TMP/snap.link"
out=$(ctl "$P_CTL" save "$T_TMP/snap.link" 2>&1)
t_eq "5: save onto a symlink: exit status" 0 "$?"
t_eq "5: the symlink's target is untouched" precious "$(cat "$victim")"
t_check "5: the path is now a regular file (the link was replaced)" \
	test -f "$T_TMP/snap.link" -a ! -L "$T_TMP/snap.link"

# ---------------------------------------------------- 2. a recorded stream
# capture_link NS FILE: the replication link's TCP 7777, both ways, while a
# client writes SECRET; stops after 1.5 s.
SECRET="rrvm-secret-$RANDOM$RANDOM$RANDOM"
capture_link() {
	local pcap=$1 tpid
	ip netns exec "$TB_NS_BAK" tcpdump -i "$TB_REP_DEV" -U -w "$pcap" \
		"tcp port 7777" >/dev/null 2>&1 &
	tpid=$!
	sleep 0.5
	t_eq "2: SET of the secret acknowledged" OK "$(tb_rcli SET rrvm:secret "$SECRET")"
	sleep 1
	kill -INT "$tpid" 2>/dev/null
	wait "$tpid" 2>/dev/null
}
PCAP=$T_TMP/link.pcap
capture_link "$PCAP"
t_check "2: the capture holds the replication stream" test "$(stat -c %s "$PCAP")" -gt 20000
t_eq "2: the secret is not in the capture of the authenticated link" 0 \
	"$(grep -a -c -- "$SECRET" "$PCAP")"
# The primary->backup bytes of that capture, replayed to a fresh backup.
STREAM=$T_TMP/stream.bin
tshark -r "$PCAP" -q -z "follow,tcp,raw,0" 2>/dev/null |
	awk '/^=+$/ { n++; next } n == 1 && /^[0-9a-f]+$/ { print }' |
	xxd -r -p >"$STREAM"
t_check "2: the recorded primary->backup bytes were extracted ($(stat -c %s "$STREAM") bytes)" \
	test "$(stat -c %s "$STREAM")" -gt 10000
R_LOG=$T_TMP/replayed.log R_CTL=$T_TMP/replayed.ctl
rrvm_backup_bg "$TB_NS_BAK" "$R_LOG" "$R_CTL" "$TB_BAK_REP_IP:7788" "$T_TMP/replayed.json"
R_PID=$RRVM_LAST_PID
wait_for 10 --pid "$R_PID" test -S "$R_CTL" || t_fail "2: the fresh backup did not start"
ip netns exec "$TB_NS_PRI" "$T_PY" - "$TB_BAK_REP_IP" 7788 "$STREAM" <<'PY'
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
try:
    s.sendall(open(sys.argv[3], "rb").read())
    time.sleep(2.5)
except OSError:
    pass
s.close()
PY
rst=$(rrvm_backup_status "$R_CTL")
t_info "2: fresh backup after the replayed stream: $rst"
t_check "2: the replay committed nothing" json_true "$rst" '.epochs_committed == 0 and .committed_epoch == 0 and .state == "waiting"'
t_check "2: it refused the replayed connection (logged)" grep -q "refused a connection" "$R_LOG"
pid_stop "$R_PID" 5

# ------------------------------------- 4. a silent control client, failover
ip netns exec "$TB_NS_BAK" "$T_PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
time.sleep(30)' "$B_CTL" &
SILENT=$!
sleep 0.3
tb_t_check_failover "4: failover with a silent control client"
t_check "4: the detector is the closed link, detect well below the timeout" \
	json_true "$FO_JSON" '.detector == "link-closed" and .phases_ms.detect < 250'
t_check "4: the backup went live with the real VM (kv's address)" \
	json_true "$FO_JSON" '.guest_ip == "10.77.0.2/24"'
t_eq "4: the secret is there" "$SECRET" "$(tb_rcli GET rrvm:secret)"
kill "$SILENT" 2>/dev/null
wait "$SILENT" 2>/dev/null
tb_t_pair_down

# ------------------------------------------- 2. the control: plaintext
RRVM_KEY_FILE=
tb_t_pair_up buffered 20
SECRET="rrvm-secret-$RANDOM$RANDOM$RANDOM"
capture_link "$T_TMP/plain.pcap"
t_check "2 (control): an --insecure pair's capture does hold the secret" \
	test "$(grep -a -c -- "$SECRET" "$T_TMP/plain.pcap")" -gt 0
t_check "2 (control): its status says the link is unauthenticated" \
	json_true "$(rrvm_backup_status "$B_CTL")" '.link_security | test("UNAUTHENTICATED")'
tb_t_pair_down
tb_t_down
t_finish
