#!/usr/bin/env bash
# The reverse-replication wirings of experiments/testbed (docs/testbed.md),
# on a private prefix (rrvm-t-<pid>-tb), checked with real frames. A small
# Python "guest" on a host's tap0 (ARP and ping replies as 10.77.0.2,
# 52:54:00:77:00:02, logging every frame it gets) stands in for a VM, so
# no KVM is needed.
#
# inline (`up --topology inline`):
#  - status: 16 parts, all as planned; no port-pri; the primary host's eth0
#    is the backup's inl1; brinl = inl0 + inl1, no ARP; env and
#    tb_load_topology give TB_BAK_CAPTURE_IF=inl0, TB_BAK_FORWARD_IF=inl1;
#    a second `up` is a no-op;
#  - the client pings the primary host and the guest on the primary
#    through the backup's brinl, and a capture on the backup's inl0 sees
#    those frames (and the replies); the backup host answers ARP only on
#    its own LAN port (one ARP reply, its br0 MAC);
#  - `fence pri` cuts the primary (inl1 and port-inl down, FENCED); the
#    guest restarted on the backup's tap0 answers through port-bak; `up`
#    keeps the fence, `unfence pri` undoes it; TB_FENCE_PRI_CMD does the
#    same fence;
#  - `up --topology basic` is refused (exit 2), nothing changed.
# mirror (`up --topology mirror --force` on the inline testbed rebuilds it):
#  - status: 15 parts and the tc filters as planned; port-mir in no
#    bridge, mir0 promiscuous, ARP off; env gives TB_BAK_CAPTURE_IF=mir0;
#  - a capture on the backup's mir0 gets exactly the client's frames for
#    the guest MAC and its broadcasts (ARP): every ping request to the
#    guest once, nothing for the hosts' MACs, nothing the primary or the
#    guest sent; the guest on the primary still gets them all; the backup
#    sends nothing on mir0;
#  - a deleted filter makes status partial, `up` puts it back;
#  - `fence pri` is port-pri down, as in basic;
#  - `down` removes everything.
# Needs root, ip, tc, jq, ping, tcpdump, python3 (no KVM).
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

is_root || t_skip "needs root (network namespaces)"
for t in ip tc jq ping tcpdump python3; do
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
# The interpreter itself (not a wrapper script): its PID is the one we stop.
PY=$(python3 -c 'import sys; print(sys.executable)') || t_fail "python3 does not run"

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
links_snapshot() {
	local r
	for r in $TB_ROLES; do
		echo "== $r"
		ip -n "$(tb_ns "$r")" -o link show 2>/dev/null | awk '{ print $1, $2 }'
	done
}
# shellcheck disable=SC2317 # the *_ping helpers are called through t_check
ns_ping() { ip netns exec "$1" ping -n -q -c1 -W1 "$2" >/dev/null 2>&1; } # NS IP
# shellcheck disable=SC2317
c_ping() { ns_ping "$TB_NS_C" "$1"; }
# shellcheck disable=SC2317
no_c_ping() { ! c_ping "$1"; }
# c_pings N IP: N pings from the client, 0.2 s apart; all must be answered.
# shellcheck disable=SC2317
c_pings() { ip netns exec "$TB_NS_C" ping -n -q -c "$1" -i 0.2 -W1 "$2" >/dev/null 2>&1; }

# ----------------------------------------------------- the stand-in guest
cat >"$T_TMP/tapguest.py" <<'EOF'
"""Attach to a TAP (carrier up) and act as the guest for ARP and ping;
print "ready", then one line per frame received: rx DST SRC what."""
import fcntl, os, signal, struct, sys

TUNSETIFF, IFF_TAP, IFF_NO_PI = 0x400454CA, 0x0002, 0x1000


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac_s(b):
    return ":".join("%02x" % x for x in b)


tap, ip = sys.argv[1], bytes(int(x) for x in sys.argv[2].split("."))
mac = bytes(int(x, 16) for x in sys.argv[3].split(":"))
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", tap.encode(), IFF_TAP | IFF_NO_PI))
print("ready", flush=True)
while True:
    f = os.read(fd, 65536)
    if len(f) < 14:
        continue
    dst, src, et = f[0:6], f[6:12], struct.unpack("!H", f[12:14])[0]
    what, out = "type=%04x" % et, None
    if et == 0x0806 and len(f) >= 42:
        op, tpa = struct.unpack("!H", f[20:22])[0], f[38:42]
        what = "arp op=%d tpa=%s" % (op, ".".join(map(str, tpa)))
        if op == 1 and tpa == ip:
            out = src + mac + f[12:20] + b"\0\2" + mac + ip + f[22:32]
    elif et == 0x0800 and len(f) >= 34:
        l4 = 14 + (f[14] & 15) * 4
        sip, dip = f[26:30], f[30:34]
        what = "ip proto=%d %s>%s" % (f[23], ".".join(map(str, sip)), ".".join(map(str, dip)))
        if f[23] == 1 and dip == ip and dst == mac and f[l4] == 8:
            what += " echo-request"
            icmp = bytearray(f[l4:])
            icmp[0], icmp[2:4] = 0, b"\0\0"
            icmp[2:4] = struct.pack("!H", csum(bytes(icmp)))
            iph = bytearray(f[14:l4])
            iph[12:16], iph[16:20], iph[10:12] = dip, sip, b"\0\0"
            iph[10:12] = struct.pack("!H", csum(bytes(iph)))
            out = src + mac + f[12:14] + bytes(iph) + bytes(icmp)
    print("rx %s %s %s" % (mac_s(dst), mac_s(src), what), flush=True)
    if out:
        os.write(fd, out)
EOF
GUEST_PID='' GUEST_LOG=''
# guest_on ROLE: start the stand-in on ROLE's tap0 (stops a previous one).
guest_on() {
	guest_off
	GUEST_LOG=$T_TMP/guest-$1.$(now_ms).log
	ns_bg "$(tb_ns "$1")" "$GUEST_LOG" "$PY" "$T_TMP/tapguest.py" "$TB_TAP" "$TB_GUEST_IP" "$TB_GUEST_MAC"
	GUEST_PID=$RRVM_LAST_PID
	wait_for 5 --pid "$GUEST_PID" grep -q ready "$GUEST_LOG" || t_fail "the stand-in guest did not attach to $1 tap0"
}
guest_off() {
	[ -n "$GUEST_PID" ] && pid_stop "$GUEST_PID" 2
	GUEST_PID=''
}
T_EXTRA_LOGS=()

# ------------------------------------------------------------- captures
CAP_PID='' CAP_FILE=''
# cap_start ROLE DEV: tcpdump on DEV in ROLE's namespace, into CAP_FILE.
cap_start() {
	CAP_FILE=$T_TMP/$1-$2.$(now_ms).pcap
	ns_bg "$(tb_ns "$1")" "$CAP_FILE.log" tcpdump -Z root -i "$2" --immediate-mode -U -n -s 256 -w "$CAP_FILE"
	CAP_PID=$RRVM_LAST_PID
	T_EXTRA_LOGS+=("$CAP_FILE.log")
	wait_for 5 --pid "$CAP_PID" grep -q "listening on" "$CAP_FILE.log" ||
		t_fail "tcpdump on $1 $2 did not start: $(cat "$CAP_FILE.log")"
}
# cap_stop: stop it; the frames (tcpdump -e text, no timestamps) in CAP.
cap_stop() {
	sleep 0.2
	pid_stop "$CAP_PID" 3
	CAP=$(tcpdump -r "$CAP_FILE" -n -e 2>/dev/null | cut -d' ' -f2-)
	t_info "captured $(grep -c . <<<"$CAP") frames:"
	sed 's/^/    | /' <<<"$CAP"
}
# cap_count REGEX: how many captured frames match.
cap_count() { grep -cE -- "$1" <<<"$CAP"; }
G=$TB_GUEST_MAC

# ================================================================ inline
t_info "--- topology inline"
run "up --topology inline" 0 "${TB[@]}" up --topology inline
snap=$(links_snapshot)
run "up again (no --topology: keeps inline)" 0 "${TB[@]}" up
t_check "second up says 'already up (topology inline)'" grep -q "already up (topology inline)" <<<"$OUT"
t_eq "second up re-created nothing" "$snap" "$(links_snapshot)"
run "status" 0 "${TB[@]}" status
t_check "status names the inline path" grep -q "inline: switch port-inl -> bak inl0 -\[brinl\]- inl1 -> pri eth0" <<<"$OUT"
t_check "status has no part marked 'not as planned' or MISSING" lacks 'not as planned|MISSING' "$OUT"
st=$("${TB[@]}" status --json)
t_check "status --json: state up, topology inline, 16 parts all ok" json_true "$st" \
	'.state == "up" and .topology == "inline" and (.parts | length) == 16 and (.parts | all(.ok))'
t_check "status --json: switch ports port-c port-inl port-bak (no port-pri)" json_true "$st" \
	'[.parts[] | select(.role == "sw" and .kind == "veth") | .dev] == ["port-c", "port-inl", "port-bak"]'
t_check "status --json: brinl = inl0 + inl1, brinl without address and ARP" json_true "$st" \
	'[.parts[] | select(.master == "brinl") | .dev] == ["inl0", "inl1"]
	 and any(.parts[]; .dev == "brinl" and .kind == "bridge" and (.addresses | length) == 0)'
t_check "brinl has ARP off (NOARP)" bash -c "ip -n '$TB_NS_BAK' link show dev brinl | grep -q NOARP"
t_check "the primary host's eth0 is a veth to the backup's namespace" \
	bash -c "ip -n '$TB_NS_PRI' -o link show dev eth0 | grep -q 'link-netns $TB_NS_BAK'"
t_check "status --json: wiring capture inl0, forward inl1, fence pri = bak inl1 + sw port-inl" json_true "$st" \
	'.wiring.capture_if == "inl0" and .wiring.forward_if == "inl1" and .wiring.pri_sw_port == "port-inl"
	 and .wiring.fence.pri == ["bak inl1", "sw port-inl"] and .wiring.fence.bak == ["sw port-bak"]
	 and .wiring.capture_xdp == null'
envout=$("${TB[@]}" env)
for v in TB_TOPOLOGY=inline TB_BAK_CAPTURE_IF=inl0 TB_BAK_FORWARD_IF=inl1 TB_PRI_SW_PORT=port-inl; do
	t_check "env prints $v" grep -qx "$v" <<<"$envout"
done
tb_load_topology
t_eq "tb_load_topology: capture/forward interfaces" "inline inl0 inl1" \
	"$TB_TOPOLOGY $TB_BAK_CAPTURE_IF $TB_BAK_FORWARD_IF"

# Traffic through the backup host.
guest_on pri
cap_start bak inl0
t_check "client pings the primary host $TB_PRI_LAN_IP (2 pings, through brinl)" c_pings 2 "$TB_PRI_LAN_IP"
t_check "client pings the guest on the primary (3 pings, through brinl)" c_pings 3 "$TB_GUEST_IP"
t_check "client pings the backup host $TB_BAK_LAN_IP" c_ping "$TB_BAK_LAN_IP"
t_check "the primary host pings the backup host on the LAN (through brinl)" ns_ping "$TB_NS_PRI" "$TB_BAK_LAN_IP"
cap_stop
t_eq "inl0 saw the 2 echo requests to the primary host (dst 02:77:00:00:00:11)" 2 \
	"$(cap_count "> $TB_PRI_BR_MAC, .*> $TB_PRI_LAN_IP: ICMP echo request")"
t_eq "inl0 saw the 3 echo requests to the guest (dst $G)" 3 \
	"$(cap_count "> $G, .*> $TB_GUEST_IP: ICMP echo request")"
t_eq "inl0 saw the guest's 3 echo replies going back" 3 \
	"$(cap_count "^$G > $TB_CLIENT_MAC, .*ICMP echo reply")"
t_eq "the guest on the primary got the 3 echo requests" 3 "$(grep -c 'echo-request' "$GUEST_LOG")"
t_eq "the backup host did not answer the client's ARP through brinl" 0 \
	"$(cap_count "> $TB_CLIENT_MAC, .*Reply $TB_BAK_LAN_IP is-at")"
t_eq "nothing went out of inl0 from brinl's own MAC" 0 "$(cap_count "^$TB_INL_BR_MAC ")"
t_eq "the client knows the backup host by its br0 MAC" "$TB_BAK_BR_MAC" \
	"$(ip -n "$TB_NS_C" neigh show "$TB_BAK_LAN_IP" | sed -n 's/.* lladdr \([^ ]*\).*/\1/p')"

# Fence: the backup cuts the primary off.
run "fence pri" 0 "${TB[@]}" fence pri
t_check "fence says what it cut" grep -q "backup's inl1 and switch port port-inl down" <<<"$OUT"
t_check "fenced: the client can no longer ping the primary host" no_c_ping "$TB_PRI_LAN_IP"
t_check "fenced: the client can no longer ping the guest on the primary" no_c_ping "$TB_GUEST_IP"
st=$("${TB[@]}" status --json)
t_check "status --json: pri fenced (inl1 and port-inl down, FENCED), state up" json_true "$st" \
	'.fenced.pri and (.fenced.bak | not) and .state == "up"
	 and ([.parts[] | select(.fenced) | "\(.role) \(.dev) \(.admin_up)"] == ["sw port-inl false", "bak inl1 false"])'
t_check "tb_is_fenced pri" tb_is_fenced pri
guest_on bak
t_check "failover: the client pings the guest now on the backup (through port-bak)" c_pings 2 "$TB_GUEST_IP"
run "up while pri is fenced" 0 "${TB[@]}" up
t_check "up left pri fenced" json_true "$("${TB[@]}" status --json)" '.fenced.pri'
guest_off
run "unfence pri" 0 "${TB[@]}" unfence pri
t_check "unfenced: the client pings the primary host again" c_ping "$TB_PRI_LAN_IP"
t_check "status --json: nothing fenced" json_true "$("${TB[@]}" status --json)" '(.fenced.pri or .fenced.bak) | not'
t_eq "TB_FENCE_PRI_CMD" \
	"ip -n $TB_NS_BAK link set dev inl1 alias fenced down && ip -n $TB_NS_SW link set dev port-inl alias fenced down" \
	"$TB_FENCE_PRI_CMD"
t_check "TB_FENCE_PRI_CMD runs" sh -c "$TB_FENCE_PRI_CMD"
t_check "TB_FENCE_PRI_CMD fenced the primary (status)" json_true "$("${TB[@]}" status --json)" '.fenced.pri and .state == "up"'
t_check "TB_FENCE_PRI_CMD: the client cannot ping the primary host" no_c_ping "$TB_PRI_LAN_IP"
run "unfence pri" 0 "${TB[@]}" unfence pri

# Changing the topology needs --force.
snap=$(links_snapshot)
run "up --topology basic on the inline testbed (refused)" 2 "${TB[@]}" up --topology basic
t_check "the refusal says how to change it" grep -q "up with topology 'inline'; run 'down' first" <<<"$OUT"
t_eq "the refusal changed nothing" "$snap" "$(links_snapshot)"

# ================================================================ mirror
t_info "--- topology mirror"
run "up --topology mirror --force (rebuilds the inline testbed)" 0 "${TB[@]}" up --topology mirror --force
t_check "up says it rebuilt" grep -q "taking it down to rebuild it as 'mirror'" <<<"$OUT"
run "status" 0 "${TB[@]}" status
t_check "status: tc filters as planned" grep -q "tc filters as planned" <<<"$OUT"
t_check "status has no part marked 'not as planned' or MISSING" lacks 'not as planned|MISSING' "$OUT"
st=$("${TB[@]}" status --json)
t_check "status --json: state up, topology mirror, 15 parts all ok, mirror ok" json_true "$st" \
	'.state == "up" and .topology == "mirror" and (.parts | length) == 15 and (.parts | all(.ok))
	 and .wiring.mirror.ok and .wiring.mirror.from == ["port-c"] and .wiring.mirror.to == "port-mir"'
t_check "status --json: port-mir in no bridge, mir0 promiscuous and in no bridge" json_true "$st" \
	'any(.parts[]; .dev == "port-mir" and .master == null and .admin_up)
	 and any(.parts[]; .dev == "mir0" and .master == null and .promisc and (.addresses | length) == 0)'
t_check "status --json: the basic ports are there (port-pri), no inline parts" json_true "$st" \
	'[.parts[] | select(.role == "sw" and .master == "br0") | .dev] == ["port-c", "port-pri", "port-bak"]
	 and ([.parts[] | select(.dev | test("inl"))] | length) == 0'
envout=$("${TB[@]}" env)
for v in TB_TOPOLOGY=mirror TB_BAK_CAPTURE_IF=mir0 "TB_BAK_FORWARD_IF=''" TB_PRI_SW_PORT=port-pri; do
	t_check "env prints $v" grep -qx "$v" <<<"$envout"
done
tc_out=$(ip netns exec "$TB_NS_SW" tc filter show dev port-c ingress)
t_eq "two mirred filters on port-c's ingress, to port-mir" 2 \
	"$(grep -c 'mirred (Egress Mirror to device port-mir)' <<<"$tc_out")"

guest_on pri
mir_tx0=$(ip -j -s -n "$TB_NS_BAK" link show dev mir0 | jq '.[0].stats64.tx.packets')
cap_start bak mir0
t_check "client pings the guest on the primary (3 pings)" c_pings 3 "$TB_GUEST_IP"
t_check "client pings the primary host (2 pings)" c_pings 2 "$TB_PRI_LAN_IP"
t_check "client pings the backup host (2 pings)" c_pings 2 "$TB_BAK_LAN_IP"
t_check "the primary host pings the client" ns_ping "$TB_NS_PRI" "$TB_CLIENT_IP"
cap_stop
t_eq "mir0 got each echo request to the guest exactly once" 3 \
	"$(cap_count "^$TB_CLIENT_MAC > $G, .*> $TB_GUEST_IP: ICMP echo request")"
t_check "mir0 got the client's ARP request for the guest (broadcast)" \
	grep -qE "^$TB_CLIENT_MAC > ff:ff:ff:ff:ff:ff, .*Request who-has $TB_GUEST_IP tell" <<<"$CAP"
t_eq "mir0 got nothing addressed to another MAC (the hosts' pings)" "" \
	"$(awk '{ print $3 }' <<<"$CAP" | grep -vxE "$G,|ff:ff:ff:ff:ff:ff,|")"
t_eq "mir0 got nothing but the client's frames (no replies)" "" \
	"$(awk '{ print $1 }' <<<"$CAP" | grep -vxE "$TB_CLIENT_MAC|")"
t_eq "the guest on the primary got the 3 echo requests" 3 "$(grep -c 'echo-request' "$GUEST_LOG")"
t_eq "the backup sent nothing on mir0" "$mir_tx0" \
	"$(ip -j -s -n "$TB_NS_BAK" link show dev mir0 | jq '.[0].stats64.tx.packets')"
guest_off

# Repair.
ip netns exec "$TB_NS_SW" tc filter del dev port-c ingress prio 11
run "status with the broadcast filter deleted" 1 "${TB[@]}" status
t_check "status says the filters are not as planned" grep -q "tc filters NOT as planned" <<<"$OUT"
run "up repairs it" 0 "${TB[@]}" up
t_check "status --json after repair: up, mirror ok" json_true "$("${TB[@]}" status --json)" \
	'.state == "up" and .wiring.mirror.ok and .topology == "mirror"'

# Fence: as in basic.
run "fence pri" 0 "${TB[@]}" fence pri
t_check "fence is switch port port-pri" grep -q "(switch port port-pri down)" <<<"$OUT"
t_check "fenced: the client can no longer ping the primary host" no_c_ping "$TB_PRI_LAN_IP"
run "unfence pri" 0 "${TB[@]}" unfence pri
t_check "unfenced: the client pings the primary host" c_ping "$TB_PRI_LAN_IP"

# ------------------------------------------------------------------ down
run "down" 0 "${TB[@]}" down
left=$(ip netns list | awk '{ print $1 }' | grep "^$RRVM_NS_PREFIX-" | tr '\n' ' ')
t_eq "no namespace of this test left" "" "$left"
t_finish
