#!/usr/bin/env bash
# experiments/testbed on a private prefix (rrvm-t-<pid>-tb; docs/testbed.md):
#  - `up` builds client, switch, primary and backup namespaces; a second
#    `up` is a no-op (says "already up", no interface re-created);
#  - `status` (text and --json) shows every part, state "up", exit 0;
#  - the client pings both hosts' LAN addresses across the switch; the
#    hosts reach each other over the replication link, which is not on the
#    LAN;
#  - `fence pri` takes the primary off the LAN (and `up` leaves it fenced),
#    `unfence pri` puts it back;
#  - `rewire primary=bak` is a no-op that succeeds on basic (no capture
#    point); a bad host is refused (exit 2);
#  - a missing part makes status "partial" (exit 1) and `up` repairs it;
#  - on this basic testbed, --topology inline|mirror (without --force), an
#    unknown topology and a bad prefix are refused (exit 2) without
#    touching anything (the inline and mirror wirings themselves:
#    test_testbed_topologies);
#  - `down` refuses while a process runs in a testbed namespace, then
#    removes everything: no namespace left, status "down" (exit 3), a second
#    `down` is a no-op;
#  - a second testbed (another prefix, same addresses) works alongside and
#    is untouched by all of the above; `down --kill` stops a process left
#    in it and removes it.
# Needs root, ip and jq (no KVM: no guest is booted).
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

is_root || t_skip "needs root (network namespaces)"
for t in ip jq ping; do
	command -v "$t" >/dev/null 2>&1 || t_fail "required tool '$t' is not installed (make deps)"
done
# shellcheck source=SCRIPTDIR/../../experiments/lib/testbed.sh
. "$ROOT/experiments/lib/testbed.sh"
tb_set_prefix "$RRVM_NS_PREFIX-tb" || t_fail "bad prefix"
rrvm_trap_cleanup
tmpdir_create T_TMP
for r in $TB_ROLES; do
	RRVM_NS_LIST+=("$(tb_ns "$r")")
	[ -n "${RRVM_NS_REGISTRY:-}" ] && tb_ns "$r" >>"$RRVM_NS_REGISTRY"
done
TB=("$TB_CLI" --prefix "$TB_PREFIX")

# A second private testbed (prefix ...-tb2) runs alongside: it must work
# independently and survive everything done to the first one.
TB2_PREFIX=$RRVM_NS_PREFIX-tb2
for r in $TB_ROLES; do
	RRVM_NS_LIST+=("$TB2_PREFIX-$r")
	[ -n "${RRVM_NS_REGISTRY:-}" ] && echo "$TB2_PREFIX-$r" >>"$RRVM_NS_REGISTRY"
done
TB2=("$TB_CLI" --prefix "$TB2_PREFIX")

# run DESC EXPECTED_STATUS CMD...: run, show output, check the status.
# Output in $OUT.
run() {
	local desc=$1 want=$2 rc
	shift 2
	OUT=$("$@" 2>&1)
	rc=$?
	sed 's/^/  | /' <<<"$OUT"
	t_eq "$desc: exit status" "$want" "$rc"
}
# Interface list of every testbed namespace, with ifindexes (unchanged
# ifindexes = nothing was re-created).
links_snapshot() {
	local r
	for r in $TB_ROLES; do
		echo "== $r"
		ip -n "$(tb_ns "$r")" -o link show 2>/dev/null | awk '{ print $1, $2 }'
	done
}
# shellcheck disable=SC2317 # the *_ping helpers are called through t_check
c_ping() { ip netns exec "$TB_NS_C" ping -n -q -c1 -W1 "$1" >/dev/null 2>&1; }
# shellcheck disable=SC2317
ns_ping() { ip netns exec "$1" ping -n -q -c1 -W1 "$2" >/dev/null 2>&1; } # NS IP
# shellcheck disable=SC2317
no_c_ping() { ! c_ping "$1"; }

# ------------------------------------------------------------------- up
t0=$(now_ms)
run "up" 0 "${TB[@]}" up
t_info "up took $(( $(now_ms) - t0 )) ms"
snap1=$(links_snapshot)
run "up again" 0 "${TB[@]}" up
t_check "second up says 'already up'" grep -q "already up" <<<"$OUT"
t_eq "second up re-created nothing (same interfaces and ifindexes)" "$snap1" "$(links_snapshot)"

# --------------------------------------------------------------- status
run "status" 0 "${TB[@]}" status
for r in $TB_ROLES; do
	t_check "status names namespace $(tb_ns "$r")" grep -q "namespace $(tb_ns "$r") ($(tb_role_name "$r")): present" <<<"$OUT"
done
t_check "status has no part marked 'not as planned' or MISSING" lacks 'not as planned|MISSING' "$OUT"
st=$("${TB[@]}" status --json 2>&1)
t_eq "status --json: exit status" 0 "$?"
t_check "status --json: state up, topology basic" json_true "$st" '.state == "up" and .topology == "basic"'
t_check "status --json: all four namespaces exist" json_true "$st" '[.namespaces[] | .exists] | length == 4 and all'
t_check "status --json: 13 parts, all ok" json_true "$st" '(.parts | length) == 13 and (.parts | all(.ok))'
for part in "c eth0 $TB_CLIENT_IP/24" "sw br0" "sw port-c" "sw port-pri" "sw port-bak" \
	"pri br0 $TB_PRI_LAN_IP/24" "pri eth0" "pri tap0" "pri rep0 $TB_PRI_REP_IP/24" \
	"bak br0 $TB_BAK_LAN_IP/24" "bak eth0" "bak tap0" "bak rep0 $TB_BAK_REP_IP/24"; do
	read -r role dev addr <<<"$part"
	t_check "status --json: $role $dev present and up${addr:+ with $addr}" json_true "$st" \
		"any(.parts[]; .role == \"$role\" and .dev == \"$dev\" and .present and .admin_up
		     and (\"$addr\" == \"\" or (.addresses | index(\"$addr\") != null)))"
done
t_check "status --json: tap0 of pri and bak are in br0" json_true "$st" \
	'[.parts[] | select(.dev == "tap0") | .master] == ["br0", "br0"]'
t_check "status --json: switch ports are in the switch bridge" json_true "$st" \
	'[.parts[] | select(.role == "sw" and .kind == "veth") | .master] == ["br0", "br0", "br0"]'
t_check "status --json: guest $TB_GUEST_IP/24 $TB_GUEST_MAC, nothing fenced, not attached" json_true "$st" \
	".guest.ip == \"$TB_GUEST_IP/24\" and .guest.mac == \"$TB_GUEST_MAC\"
	 and (.fenced | .pri or .bak | not) and (.guest.attached | .pri or .bak | not)"
t_check "client eth0 has the documented MAC $TB_CLIENT_MAC" json_true "$st" \
	"any(.parts[]; .role == \"c\" and .dev == \"eth0\" and .mac == \"$TB_CLIENT_MAC\")"
envout=$("${TB[@]}" env)
t_check "env prints TB_NS_PRI=$TB_NS_PRI" grep -qx "TB_NS_PRI=$TB_NS_PRI" <<<"$envout"
t_check "env prints TB_TOPOLOGY=basic, no capture interface" \
	grep -qzE "TB_TOPOLOGY=basic.*TB_BAK_CAPTURE_IF=''" <<<"$envout"
t_eq "the fence command is the switch port's" \
	"ip -n $TB_NS_SW link set dev port-pri alias fenced down" "$(tb_fence_cmd pri)"

# ------------------------------------------------------------ traffic
t_check "client pings the primary host $TB_PRI_LAN_IP across the switch" c_ping "$TB_PRI_LAN_IP"
t_check "client pings the backup host $TB_BAK_LAN_IP across the switch" c_ping "$TB_BAK_LAN_IP"
t_check "primary pings the backup on the LAN" ns_ping "$TB_NS_PRI" "$TB_BAK_LAN_IP"
t_check "primary pings the backup over the replication link ($TB_BAK_REP_IP)" \
	ns_ping "$TB_NS_PRI" "$TB_BAK_REP_IP"
t_check "the client cannot reach the replication link ($TB_PRI_REP_IP)" no_c_ping "$TB_PRI_REP_IP"
t_check "IPv6 is off in the testbed namespaces" \
	test "$(ip netns exec "$TB_NS_SW" sysctl -n net.ipv6.conf.all.disable_ipv6)" = 1

# A second testbed with the same addresses, side by side.
run "up of a second testbed ($TB2_PREFIX)" 0 "${TB2[@]}" up
t_check "second testbed: its client pings its primary host" ns_ping "$TB2_PREFIX-c" "$TB_PRI_LAN_IP"

# ------------------------------------------------------------ fencing
run "fence pri" 0 "${TB[@]}" fence pri
t_check "fenced: client can no longer ping the primary host" no_c_ping "$TB_PRI_LAN_IP"
t_check "fenced: client still pings the backup host" c_ping "$TB_BAK_LAN_IP"
st=$("${TB[@]}" status --json)
t_check "status --json: pri fenced, state still up" json_true "$st" '.fenced.pri and (.fenced.bak | not) and .state == "up"'
run "up while pri is fenced" 0 "${TB[@]}" up
t_check "up left pri fenced" no_c_ping "$TB_PRI_LAN_IP"
run "unfence pri" 0 "${TB[@]}" unfence pri
t_check "unfenced: client pings the primary host again" c_ping "$TB_PRI_LAN_IP"
st=$("${TB[@]}" status --json)
t_check "status --json: nothing fenced" json_true "$st" '(.fenced.pri or .fenced.bak) | not'
run "fence with no host" 2 "${TB[@]}" fence c

# ------------------------------------------------------------- rewire
# Basic has no capture point: rewire is a no-op that succeeds.
snap=$(ip -n "$TB_NS_SW" link show)
run "rewire primary=bak on basic" 0 "${TB[@]}" rewire primary=bak
t_check "rewire on basic says there is nothing to move" grep -q "topology basic: nothing to move" <<<"$OUT"
t_eq "rewire on basic changed nothing in the switch" "$snap" "$(ip -n "$TB_NS_SW" link show)"
t_check "status --json on basic: no primary, no capture host" json_true "$("${TB[@]}" status --json)" \
	'.primary == null and .capture_host == null and .wiring.standby == [] and .state == "up"'
t_eq "the fast rewire command on basic is 'true'" "true true" "$(tb_rewire_cmd pri basic) $(tb_rewire_cmd bak basic)"
run "rewire with a bad host (refused)" 2 "${TB[@]}" rewire primary=c
t_check "the refusal says what is expected" grep -q "rewire primary=pri|bak" <<<"$OUT"
run "rewire with no host (refused)" 2 "${TB[@]}" rewire

# ------------------------------------------------------ partial + repair
ip -n "$TB_NS_BAK" link del "$TB_TAP"
ip -n "$TB_NS_SW" link set port-bak down
run "status with bak tap0 deleted and port-bak down" 1 "${TB[@]}" status
t_check "status marks the missing tap0" grep -qE 'bak tap0 \[tap\]: MISSING' <<<"$OUT"
t_check "status marks port-bak as not as planned" grep -qE 'sw port-bak .*not as planned' <<<"$OUT"
t_eq "status --json: state partial" partial "$("${TB[@]}" status --json | jq -r .state)"
run "up repairs it" 0 "${TB[@]}" up
t_eq "status --json after repair: state up" up "$("${TB[@]}" status --json | jq -r .state)"
t_check "client pings the backup host after repair" c_ping "$TB_BAK_LAN_IP"

# -------------------------------------------------------------- refusals
snap2=$(links_snapshot)
for topo in inline mirror; do
	run "up --topology $topo on the basic testbed (refused)" 2 "${TB[@]}" up --topology "$topo"
	t_eq "up --topology $topo: one line of output" 1 "$(grep -c . <<<"$OUT")"
	t_check "up --topology $topo: says to run down first (or --force)" \
		grep -q "up with topology 'basic'; run 'down' first (or 'up --topology $topo --force')" <<<"$OUT"
done
run "up --topology nonsense" 2 "${TB[@]}" up --topology nonsense
run "bad prefix" 2 "$TB_CLI" --prefix 'bad/prefix' status
t_eq "refusals changed nothing" "$snap2" "$(links_snapshot)"

# ------------------------------------------------------------------ down
ns_bg "$TB_NS_PRI" "$T_TMP/sleep.log" sleep 60
sleeper=$RRVM_LAST_PID
run "down while a process runs in pri" 1 "${TB[@]}" down
t_check "down names the process ($sleeper)" grep -q "$sleeper" <<<"$OUT"
t_check "the namespaces are still there" tb_ns_exists "$TB_NS_PRI"
pid_stop "$sleeper" 2
t0=$(now_ms)
run "down" 0 "${TB[@]}" down
t_info "down took $(( $(now_ms) - t0 )) ms"
left=$(ip netns list | awk '{ print $1 }' | grep "^$TB_PREFIX-" | tr '\n' ' ')
t_eq "no testbed namespace left in 'ip netns list'" "" "$left"
run "status after down" 3 "${TB[@]}" status
t_eq "status --json after down: state down" down "$("${TB[@]}" status --json | jq -r .state)"
run "down again" 0 "${TB[@]}" down
t_check "second down says 'already down'" grep -q "already down" <<<"$OUT"
run "rewire on a testbed that is down (refused)" 1 "${TB[@]}" rewire primary=bak
t_check "the refusal says it is not up" grep -q "is not up" <<<"$OUT"
t_check "the refused rewire created nothing" bash -c "! ip netns list | grep -q '^$TB_PREFIX-'"
t_eq "the second testbed is untouched: state up" up "$("${TB2[@]}" status --json | jq -r .state)"
t_check "the second testbed still works (client pings its backup host)" \
	ns_ping "$TB2_PREFIX-c" "$TB_BAK_LAN_IP"
ns_bg "$TB2_PREFIX-bak" "$T_TMP/sleep2.log" sleep 60
sleeper=$RRVM_LAST_PID
run "down --kill of the second testbed (a process of ours runs in its bak)" 0 "${TB2[@]}" down --kill
if pid_wait "$sleeper" 5; then
	t_check "down --kill stopped the process ($sleeper)" true
else
	t_check "down --kill stopped the process ($sleeper)" false
	pid_stop "$sleeper" 1
fi
left=$(ip netns list | awk '{ print $1 }' | grep "^$RRVM_NS_PREFIX-" | tr '\n' ' ')
t_eq "no namespace of this test left" "" "$left"
t_finish
