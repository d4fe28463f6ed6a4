#!/usr/bin/env bash
# The reverse-replication wirings of experiments/testbed (docs/testbed.md),
# on a private prefix (rrvm-t-<pid>-tb), checked with real frames. A small
# Python "guest" on a host's tap0 (ARP and ping replies as 10.77.0.2,
# 52:54:00:77:00:02, logging every frame it gets) stands in for a VM, so
# most checks need no KVM.
#
# With KVM, `rrvm run` of the kv guest on the current primary's tap0 in
# each state too (TCP PING, exactly 5 pings, the capture host's capture
# interface counters grow, the primary's own do not).
#
# inline (`up --topology inline`), state primary=pri (bak in front of pri):
#  - status: 23 parts, all as planned; the standby links (port-pri,
#    port-inlp, pri inl1) down; each host's eth0/eth1 in its br0, brinl =
#    inl0 + inl1 in both hosts, no ARP; env and tb_load_topology give
#    TB_BAK_CAPTURE_IF=inl0, TB_BAK_FORWARD_IF=inl1, TB_PRIMARY=pri,
#    TB_CAPTURE_HOST=bak; a second `up` is a no-op;
#  - the client pings the primary host and the guest on the primary
#    through the backup's brinl, each ping answered exactly once (no DUP!,
#    a handful of frames to the client: no loop); a capture on bak's inl0
#    sees those frames (and the replies), pri's inl0 counters do not move;
#    the backup host answers ARP only on its own LAN port;
#  - `fence pri` cuts the primary (bak inl1, port-inl and port-pri down,
#    FENCED); the guest restarted on the backup's tap0 answers through
#    port-bak; `up` keeps the fence, `unfence pri` undoes it but leaves
#    port-pri down (standby); TB_FENCE_PRI_CMD does the same fence;
# state primary=bak (`rewire primary=bak`: pri in front of bak):
#  - the same checks, mirrored (port-inlp -> pri inl0 -[brinl]- inl1 -> bak
#    eth1); rewire again says already and changes nothing; `up` keeps the
#    state and takes down a standby link brought up by hand;
#  - fence pri (the capture host) and fence bak (the primary) cut the
#    right links and unfence brings back only what the state wants up; the
#    fence command built in state pri still cuts pri;
#  - the --rewire-cmd form (tb_rewire_cmd) both ways, idempotent, times
#    printed; with pri fenced, its links stay down through a rewire;
#  - a protection chain, pri -> bak -> pri, with the daemons' fence and
#    rewire commands: after each fence the guest restarted on the survivor
#    answers through its own port, after the unfence and the rewire through
#    the old primary's leg (a capture on its inl0 sees the frames);
#  - `up --topology basic` is refused (exit 2), nothing changed.
# mirror (`up --topology mirror --force` on the inline testbed rebuilds it):
#  - status: 17 parts and the tc filters as planned; the SPAN ports in no
#    bridge, mir0 promiscuous, ARP off; env gives TB_BAK_CAPTURE_IF=mir0;
#  - a capture on the capture host's mir0 gets exactly the client's frames
#    for the guest MAC and its broadcasts (ARP): every ping request to the
#    guest once, nothing for the hosts' MACs, nothing the primary or the
#    guest sent; the guest on the primary still gets them all; nothing is
#    sent on mir0, the primary's own mir0 gets nothing: in both states
#    (`rewire primary=bak` retargets both filters to port-mirp);
#  - a deleted filter makes status partial, `up` puts it back;
#  - `fence pri` is port-pri down, as in basic; fence in state bak;
#  - the --rewire-cmd form both ways;
#  - `down` removes everything.
# Needs root, ip, tc, jq, ping, tcpdump, python3 (KVM optional).
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
	# The bridge enables tap0 when it sees the carrier, asynchronously.
	tb_wait_forwarding 3 || t_fail "$1 tap0 does not forward"
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

# status_norm: what a command decides in status --json (not the counters,
# nor what the kernel updates later: operstate, a bridge's carrier).
status_norm() { jq -c '[.primary, .state, (.parts | map({role, dev, admin_up, master, alias, fenced, standby, ok}))]'; }
# link_stat ROLE DEV rx|tx: packets counter of DEV.
link_stat() { ip -j -s -n "$(tb_ns "$1")" link show dev "$2" | jq ".[0].stats64.$3.packets"; }
# ping_exact N IP: N pings from the client, its ARP cache flushed first (the
# ARP broadcast crosses the switch too): exactly N replies and no DUP! (a
# second path or a loop would deliver a frame twice).
# shellcheck disable=SC2317
ping_exact() {
	local out
	ip -n "$TB_NS_C" neigh flush all >/dev/null 2>&1
	out=$(ip netns exec "$TB_NS_C" ping -n -c "$1" -i 0.2 -W1 "$2" 2>&1)
	grep -q " $1 received" <<<"$out" && ! grep -q 'DUP!' <<<"$out" && return 0
	sed 's/^/    | /' <<<"$out"
	return 1
}
# fast_rewire HOST: run TB_REWIRE_<HOST>_CMD (the --rewire-cmd form) as a
# daemon would (/bin/sh -c), print its time; then the TB_* of the new state.
FAST_MS=()
fast_rewire() {
	local cmd t0 ms rc
	cmd=$(tb_rewire_cmd "$1")
	t0=$(now_ms)
	sh -c "$cmd"
	rc=$?
	ms=$(($(now_ms) - t0))
	FAST_MS+=("$ms")
	t_eq "fast rewire primary=$1 (tb_rewire_cmd, $ms ms): exit status" 0 "$rc"
	tb_load_topology
}

# The real guest (`rrvm run` of the kv image), when KVM is usable here.
T_NS=$TB_NS_C # guest_wait_ready pings from the client
HAVE_KVM=
if why=$(kvm_usable) && [ -x "$RRVM" ] && [ -f "$(guest_image kv)" ]; then
	HAVE_KVM=1
else
	t_info "no 'rrvm run' checks (stand-in guest only): ${why:-$RRVM or the kv image is missing}"
fi
# real_guest_check PRIMARY: `rrvm run` of the kv guest on PRIMARY's tap0;
# the client reaches it (TCP, and exactly 5 pings), through the capture
# interface of the other host (its RX counter grows), not PRIMARY's own.
real_guest_check() {
	local p=$1 c cif=$TB_BAK_CAPTURE_IF crx prx
	[ -n "$HAVE_KVM" ] || return 0
	c=$(tb_peer "$p")
	crx=$(link_stat "$c" "$cif" rx)
	prx=$(link_stat "$p" "$cif" rx)
	tb_t_guest_boot "$p" kv
	if command -v redis-cli >/dev/null 2>&1; then
		t_eq "primary=$p: rrvm run on $p: redis PING from the client" PONG \
			"$(ip netns exec "$TB_NS_C" timeout 10 redis-cli -h "$TB_GUEST_IP" -p "$TB_GUEST_PORT_KV" PING 2>&1)"
	fi
	t_check "primary=$p: rrvm run on $p: 5 pings from the client, 5 replies, no DUP!" ping_exact 5 "$TB_GUEST_IP"
	t_check "primary=$p: $c $cif's RX counter grew by at least 5" \
		test "$(($(link_stat "$c" "$cif" rx) - crx))" -ge 5
	t_eq "primary=$p: $p $cif's RX counter did not move" "$prx" "$(link_stat "$p" "$cif" rx)"
	pid_stop "$G_PID" 5
}

# inline_check PRIMARY: the stand-in guest on PRIMARY's tap0; the other
# host C is in front. The client reaches PRIMARY's host and the guest
# through C's brinl, each ping answered exactly once (no loop, no second
# path); a capture on C's inl0 sees those frames; PRIMARY's own inl0 gets
# nothing; C's host answers ARP only on its own port; few frames reach the
# client (a loop would flood it).
inline_check() {
	local p=$1 c pip cip pin0 cin0 ctx0 n
	c=$(tb_peer "$p")
	pip=$(tb_host_lan_ip "$p")
	cip=$(tb_host_lan_ip "$c")
	guest_on "$p"
	pin0=$(link_stat "$p" inl0 rx)
	cin0=$(link_stat "$c" inl0 rx)
	ctx0=$(link_stat sw port-c tx)
	cap_start "$c" inl0
	t_check "primary=$p: client pings the $p host $pip through $c's brinl: 2 replies, no DUP!" ping_exact 2 "$pip"
	t_check "primary=$p: client pings the guest on $p through $c's brinl: 5 replies, no DUP!" ping_exact 5 "$TB_GUEST_IP"
	t_check "primary=$p: client pings the $c host $cip: 2 replies, no DUP!" ping_exact 2 "$cip"
	t_check "primary=$p: the $p host pings the $c host on the LAN" ns_ping "$(tb_ns "$p")" "$cip"
	cap_stop
	n=$(($(link_stat sw port-c tx) - ctx0))
	t_check "primary=$p: no loop: the switch sent the client $n frames for 9 pings (at most 20)" test "$n" -le 20
	t_eq "primary=$p: $c inl0 saw the 2 echo requests to the $p host" 2 \
		"$(cap_count "> $(tb_host_br_mac "$p"), .*> $pip: ICMP echo request")"
	t_eq "primary=$p: $c inl0 saw the 5 echo requests to the guest" 5 \
		"$(cap_count "> $G, .*> $TB_GUEST_IP: ICMP echo request")"
	t_eq "primary=$p: $c inl0 saw the guest's 5 echo replies going back" 5 \
		"$(cap_count "^$G > $TB_CLIENT_MAC, .*ICMP echo reply")"
	t_eq "primary=$p: the guest on $p got exactly the 5 echo requests" 5 "$(grep -c 'echo-request' "$GUEST_LOG")"
	t_check "primary=$p: $c inl0's RX counter grew by at least 7" test "$(($(link_stat "$c" inl0 rx) - cin0))" -ge 7
	t_eq "primary=$p: $p inl0's RX counter did not move (its leg is standby)" "$pin0" "$(link_stat "$p" inl0 rx)"
	t_eq "primary=$p: the $c host did not answer the client's ARP through brinl" 0 \
		"$(cap_count "> $TB_CLIENT_MAC, .*Reply $cip is-at")"
	t_eq "primary=$p: nothing went out of $c inl0 from its brinl's own MAC" 0 "$(cap_count "^$(tb_inl_br_mac "$c") ")"
	t_eq "primary=$p: the client knows the $c host by its br0 MAC" "$(tb_host_br_mac "$c")" \
		"$(ip -n "$TB_NS_C" neigh show "$cip" | sed -n 's/.* lladdr \([^ ]*\).*/\1/p')"
	guest_off
}

# mirror_check PRIMARY: the stand-in guest on PRIMARY's tap0; a capture on
# the other host's mir0 gets exactly the client's frames for the guest MAC
# and its broadcasts (each ping to the guest once, nothing for the hosts'
# MACs, nothing the hosts or the guest sent), while the guest gets them all
# from the switch; nothing is sent on mir0 and PRIMARY's own mir0 gets
# nothing.
mirror_check() {
	local p=$1 c ctx prx
	c=$(tb_peer "$p")
	guest_on "$p"
	ctx=$(link_stat "$c" mir0 tx)
	prx=$(link_stat "$p" mir0 rx)
	cap_start "$c" mir0
	t_check "primary=$p: client pings the guest on $p: 3 replies, no DUP!" ping_exact 3 "$TB_GUEST_IP"
	t_check "primary=$p: client pings the pri host: 2 replies, no DUP!" ping_exact 2 "$TB_PRI_LAN_IP"
	t_check "primary=$p: client pings the bak host: 2 replies, no DUP!" ping_exact 2 "$TB_BAK_LAN_IP"
	t_check "primary=$p: the $p host pings the client" ns_ping "$(tb_ns "$p")" "$TB_CLIENT_IP"
	cap_stop
	t_eq "primary=$p: $c mir0 got each echo request to the guest exactly once" 3 \
		"$(cap_count "^$TB_CLIENT_MAC > $G, .*> $TB_GUEST_IP: ICMP echo request")"
	t_check "primary=$p: $c mir0 got the client's ARP request for the guest (broadcast)" \
		grep -qE "^$TB_CLIENT_MAC > ff:ff:ff:ff:ff:ff, .*Request who-has $TB_GUEST_IP tell" <<<"$CAP"
	t_eq "primary=$p: $c mir0 got nothing addressed to another MAC (the hosts' pings)" "" \
		"$(awk '{ print $3 }' <<<"$CAP" | grep -vxE "$G,|ff:ff:ff:ff:ff:ff,|")"
	t_eq "primary=$p: $c mir0 got nothing but the client's frames (no replies)" "" \
		"$(awk '{ print $1 }' <<<"$CAP" | grep -vxE "$TB_CLIENT_MAC|")"
	t_eq "primary=$p: the guest on $p got the 3 echo requests" 3 "$(grep -c 'echo-request' "$GUEST_LOG")"
	t_eq "primary=$p: the $c host sent nothing on mir0" "$ctx" "$(link_stat "$c" mir0 tx)"
	t_eq "primary=$p: $p mir0 got nothing (the copies go to $c only)" "$prx" "$(link_stat "$p" mir0 rx)"
	guest_off
}

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
t_check "status --json: state up, topology inline, 23 parts all ok" json_true "$st" \
	'.state == "up" and .topology == "inline" and (.parts | length) == 23 and (.parts | all(.ok))'
t_check "status --json: switch ports port-c port-pri port-bak port-inl port-inlp" json_true "$st" \
	'[.parts[] | select(.role == "sw" and .kind == "veth") | .dev] == ["port-c", "port-pri", "port-bak", "port-inl", "port-inlp"]'
t_check "status --json: brinl = inl0 + inl1 in each host, brinl without address and ARP" json_true "$st" \
	'[.parts[] | select(.master == "brinl") | "\(.role) \(.dev)"] == ["pri inl0", "pri inl1", "bak inl0", "bak inl1"]
	 and ([.parts[] | select(.dev == "brinl" and .kind == "bridge" and (.addresses | length) == 0)] | length) == 2'
t_check "status --json: both uplinks of each host in its br0" json_true "$st" \
	'[.parts[] | select(.master == "br0" and .role != "sw") | "\(.role) \(.dev)"]
	 == ["pri eth0", "pri eth1", "pri tap0", "bak eth0", "bak eth1", "bak tap0"]'
for h in pri bak; do
	t_check "$h brinl has ARP off (NOARP)" bash -c "ip -n '$(tb_ns "$h")' link show dev brinl | grep -q NOARP"
done
t_check "the primary host's eth0 is a veth to the backup's namespace" \
	bash -c "ip -n '$TB_NS_PRI' -o link show dev eth0 | grep -q 'link-netns $TB_NS_BAK'"
t_check "the backup host's eth1 is a veth to the primary's namespace (pri's leg)" \
	bash -c "ip -n '$TB_NS_BAK' -o link show dev eth1 | grep -q 'link-netns $TB_NS_PRI'"
t_check "status --json: wiring capture inl0, forward inl1, fence pri = bak inl1 + sw port-inl + sw port-pri" json_true "$st" \
	'.wiring.capture_if == "inl0" and .wiring.forward_if == "inl1" and .wiring.pri_sw_port == "port-inl"
	 and .wiring.fence.pri == ["bak inl1", "sw port-inl", "sw port-pri"]
	 and .wiring.fence.bak == ["pri inl1", "sw port-inlp", "sw port-bak"]
	 and .wiring.capture_xdp == null'
t_check "status --json: primary pri, capture host bak; standby = pri's direct port and pri's leg, all down" json_true "$st" \
	'.primary == "pri" and .capture_host == "bak" and .wiring.capture_host == "bak"
	 and .wiring.capture_sw_port == "port-inl" and .wiring.primary_uplink == "eth0" and .wiring.bak_sw_port == "port-bak"
	 and .wiring.standby == ["sw port-pri", "sw port-inlp", "pri inl1"]
	 and ([.parts[] | select(.standby) | "\(.role) \(.dev) \(.admin_up)"] == ["sw port-pri false", "sw port-inlp false", "pri inl1 false"])'
envout=$("${TB[@]}" env)
for v in TB_TOPOLOGY=inline TB_BAK_CAPTURE_IF=inl0 TB_BAK_FORWARD_IF=inl1 TB_PRI_SW_PORT=port-inl \
	TB_PRIMARY=pri TB_CAPTURE_HOST=bak TB_BAK_SW_PORT=port-bak; do
	t_check "env prints $v" grep -qx "$v" <<<"$envout"
done
tb_load_topology
t_eq "tb_load_topology: capture/forward interfaces, primary, capture host" "inline inl0 inl1 pri bak" \
	"$TB_TOPOLOGY $TB_BAK_CAPTURE_IF $TB_BAK_FORWARD_IF $TB_PRIMARY $TB_CAPTURE_HOST"

# Traffic through the backup host.
inline_check pri

# Fence: the backup cuts the primary off.
run "fence pri" 0 "${TB[@]}" fence pri
t_check "fence says what it cut" grep -q "(bak inl1, switch port-inl, switch port-pri down)" <<<"$OUT"
t_check "fenced: the client can no longer ping the primary host" no_c_ping "$TB_PRI_LAN_IP"
t_check "fenced: the client can no longer ping the guest on the primary" no_c_ping "$TB_GUEST_IP"
st=$("${TB[@]}" status --json)
t_check "status --json: pri fenced (port-pri, port-inl and bak inl1 down, FENCED), state up" json_true "$st" \
	'.fenced.pri and (.fenced.bak | not) and .state == "up"
	 and ([.parts[] | select(.fenced) | "\(.role) \(.dev) \(.admin_up)"] == ["sw port-pri false", "sw port-inl false", "bak inl1 false"])'
t_check "tb_is_fenced pri" tb_is_fenced pri
guest_on bak
t_check "failover: the client pings the guest now on the backup (through port-bak)" c_pings 2 "$TB_GUEST_IP"
run "up while pri is fenced" 0 "${TB[@]}" up
t_check "up left pri fenced" json_true "$("${TB[@]}" status --json)" '.fenced.pri'
guest_off
run "unfence pri" 0 "${TB[@]}" unfence pri
t_check "unfence says port-pri stays down (standby)" \
	grep -q "(bak inl1, switch port-inl up; switch port-pri left down: standby while primary=pri)" <<<"$OUT"
t_check "unfenced: the client pings the primary host again" c_ping "$TB_PRI_LAN_IP"
t_check "status --json: nothing fenced, all as planned (port-pri down again)" json_true "$("${TB[@]}" status --json)" \
	'((.fenced.pri or .fenced.bak) | not) and .state == "up"'
t_eq "TB_FENCE_PRI_CMD" \
	"ip -n $TB_NS_BAK link set dev inl1 alias fenced down && ip -n $TB_NS_SW link set dev port-inl alias fenced down && ip -n $TB_NS_SW link set dev port-pri alias fenced down" \
	"$TB_FENCE_PRI_CMD"
t_check "TB_FENCE_PRI_CMD runs" sh -c "$TB_FENCE_PRI_CMD"
t_check "TB_FENCE_PRI_CMD fenced the primary (status)" json_true "$("${TB[@]}" status --json)" '.fenced.pri and .state == "up"'
t_check "TB_FENCE_PRI_CMD: the client cannot ping the primary host" no_c_ping "$TB_PRI_LAN_IP"
run "unfence pri" 0 "${TB[@]}" unfence pri

# ------------------------------------------- inline: either host primary
t_info "--- inline: rewire primary=bak (pri in front of bak) and back"
real_guest_check pri
FENCE_PRI_AT_START=$TB_FENCE_PRI_CMD # built in state pri, used in state bak
snap=$(links_snapshot)
t0=$(now_ms)
run "rewire primary=bak" 0 "${TB[@]}" rewire primary=bak
t_info "rewire (testbed command): $(($(now_ms) - t0)) ms"
t_check "rewire says the new path" \
	grep -q "primary=bak (was pri): switch port-inlp -> pri inl0 -\[brinl\]- inl1 -> bak eth1" <<<"$OUT"
t_eq "rewire re-created nothing" "$snap" "$(links_snapshot)"
st=$("${TB[@]}" status --json)
t_check "status --json: primary bak, capture host pri, 23 parts all ok, standby = bak's direct port and leg, down" json_true "$st" \
	'.state == "up" and .primary == "bak" and .capture_host == "pri" and (.parts | length) == 23 and (.parts | all(.ok))
	 and .wiring.capture_sw_port == "port-inlp" and .wiring.primary_uplink == "eth1"
	 and .wiring.pri_sw_port == "port-pri" and .wiring.bak_sw_port == "port-inlp"
	 and .wiring.standby == ["sw port-bak", "sw port-inl", "bak inl1"]
	 and ([.parts[] | select(.standby) | "\(.role) \(.dev) \(.admin_up)"] == ["sw port-bak false", "sw port-inl false", "bak inl1 false"])
	 and ([.parts[] | select((.standby | not) and (.admin_up | not))] | length) == 0'
run "status (text)" 0 "${TB[@]}" status
t_check "status names the path through pri" \
	grep -q "inline: switch port-inlp -> pri inl0 -\[brinl\]- inl1 -> bak eth1" <<<"$OUT"
t_check "status names the state" grep -q "up (topology inline, primary=bak)" <<<"$OUT"
envout=$("${TB[@]}" env)
for v in TB_PRIMARY=bak TB_CAPTURE_HOST=pri TB_PRI_SW_PORT=port-pri TB_BAK_SW_PORT=port-inlp \
	TB_BAK_CAPTURE_IF=inl0 TB_BAK_FORWARD_IF=inl1; do
	t_check "env prints $v" grep -qx "$v" <<<"$envout"
done
tb_load_topology
t_eq "tb_load_topology: primary, capture host" "bak pri" "$TB_PRIMARY $TB_CAPTURE_HOST"
run "rewire primary=bak again" 0 "${TB[@]}" rewire primary=bak
t_check "the second rewire says already" grep -q "primary=bak (already)" <<<"$OUT"
t_eq "the second rewire changed nothing (links)" "$snap" "$(links_snapshot)"
t_eq "the second rewire changed nothing (status)" "$(status_norm <<<"$st")" "$("${TB[@]}" status --json | status_norm)"
inline_check bak
real_guest_check bak

# up keeps the state, and repairs it: a standby link brought up by hand
# is a loop.
run "up (keeps primary=bak)" 0 "${TB[@]}" up
t_check "up says already up, primary=bak" grep -q "already up (topology inline), primary=bak" <<<"$OUT"
ip -n "$TB_NS_SW" link set dev port-bak up
run "status with the standby port-bak up" 1 "${TB[@]}" status
t_check "status marks port-bak as not as planned" grep -qE 'sw port-bak .*standby  <-- not as planned' <<<"$OUT"
run "up repairs it" 0 "${TB[@]}" up
t_check "status --json after repair: up, primary bak, port-bak down" json_true "$("${TB[@]}" status --json)" \
	'.state == "up" and .primary == "bak" and any(.parts[]; .dev == "port-bak" and (.admin_up | not))'

# Fencing in state bak.
guest_on bak
run "fence pri (the capture host)" 0 "${TB[@]}" fence pri
t_check "fence pri: the client cannot ping the pri host" no_c_ping "$TB_PRI_LAN_IP"
t_check "fence pri: the guest on bak still answers through pri's leg" ping_exact 2 "$TB_GUEST_IP"
t_check "status --json: pri fenced (port-pri, port-inl, bak inl1 down), state up" json_true "$("${TB[@]}" status --json)" \
	'.fenced.pri and (.fenced.bak | not) and .state == "up"
	 and ([.parts[] | select(.fenced) | "\(.role) \(.dev) \(.admin_up)"] == ["sw port-pri false", "sw port-inl false", "bak inl1 false"])'
run "unfence pri" 0 "${TB[@]}" unfence pri
t_check "unfence pri: only port-pri up (the rest is standby)" \
	grep -q "(switch port-pri up; bak inl1, switch port-inl left down: standby while primary=bak)" <<<"$OUT"
t_check "unfenced: the client pings the pri host" ping_exact 2 "$TB_PRI_LAN_IP"
t_check "status --json: nothing fenced, all as planned" json_true "$("${TB[@]}" status --json)" \
	'((.fenced.pri or .fenced.bak) | not) and .state == "up" and (.parts | all(.ok))'
run "fence bak (the primary)" 0 "${TB[@]}" fence bak
t_check "fence bak says what it cut" grep -q "(pri inl1, switch port-inlp, switch port-bak down)" <<<"$OUT"
t_check "fence bak: the client cannot ping the bak host" no_c_ping "$TB_BAK_LAN_IP"
t_check "fence bak: the client cannot ping the guest on bak" no_c_ping "$TB_GUEST_IP"
t_check "fence bak: the client still pings the pri host" c_ping "$TB_PRI_LAN_IP"
run "unfence bak" 0 "${TB[@]}" unfence bak
t_check "unfence bak: the client pings the guest on bak again (exactly)" ping_exact 2 "$TB_GUEST_IP"
t_check "the fence command built in state pri runs in state bak" sh -c "$FENCE_PRI_AT_START"
t_check "... and cuts the pri host off" no_c_ping "$TB_PRI_LAN_IP"
t_check "... status: pri fenced, state up" json_true "$("${TB[@]}" status --json)" '.fenced.pri and .state == "up"'
run "unfence pri" 0 "${TB[@]}" unfence pri
guest_off

# The --rewire-cmd form (one line of ip calls), both ways.
fast_rewire pri
t_check "fast rewire: status says primary pri, everything as planned" json_true "$("${TB[@]}" status --json)" \
	'.state == "up" and .primary == "pri" and (.parts | all(.ok)) and .wiring.standby == ["sw port-pri", "sw port-inlp", "pri inl1"]'
snap=$(links_snapshot)
fast_rewire pri
t_check "fast rewire again (idempotent): still primary pri, all as planned" json_true "$("${TB[@]}" status --json)" \
	'.state == "up" and .primary == "pri" and (.parts | all(.ok))'
t_eq "fast rewire again re-created nothing" "$snap" "$(links_snapshot)"
guest_on pri
t_check "after the fast rewire: the guest on pri answers exactly" ping_exact 3 "$TB_GUEST_IP"
guest_off
fast_rewire bak
fast_rewire pri
fast_rewire bak
t_check "fast rewire to bak: primary bak, all as planned" json_true "$("${TB[@]}" status --json)" \
	'.state == "up" and .primary == "bak" and (.parts | all(.ok))'
# A fenced link stays down through a rewire.
run "fence pri (state bak)" 0 "${TB[@]}" fence pri
fast_rewire pri
t_check "fast rewire to pri with pri fenced: port-inl and bak inl1 stay down (fenced), port-bak up" \
	json_true "$("${TB[@]}" status --json)" \
	'.state == "up" and .primary == "pri" and .fenced.pri
	 and ([.parts[] | select(.admin_up | not) | select(.role == "sw" or .dev == "inl1") | "\(.role) \(.dev)"]
	      == ["sw port-pri", "sw port-inl", "sw port-inlp", "pri inl1", "bak inl1"])'
t_check "... the pri host is still off the LAN" no_c_ping "$TB_PRI_LAN_IP"
run "rewire primary=pri with pri fenced (testbed command)" 0 "${TB[@]}" rewire primary=pri
t_check "... says the fenced links stay down" grep -q "primary is fenced; leaving port-inl down" <<<"$OUT"
run "unfence pri" 0 "${TB[@]}" unfence pri
t_check "unfence pri in state pri: the client pings the pri host" ping_exact 2 "$TB_PRI_LAN_IP"
t_check "status --json: primary pri, nothing fenced, all as planned" json_true "$("${TB[@]}" status --json)" \
	'.state == "up" and .primary == "pri" and ((.fenced.pri or .fenced.bak) | not) and (.parts | all(.ok))'
t_info "fast rewire times (ms, machine shared): ${FAST_MS[*]}"

# The protection chain as the daemons will run it (issue 11), with the
# stand-in guest: the primary dies, the survivor fences it (its fence
# command), takes over on its own port, the old primary's host is
# unfenced, a new backup there captures on its inl0, and the survivor's
# --rewire-cmd puts that host in front of it. Twice: the roles alternate.
# chain_round OLD NEW
chain_round() {
	local old=$1 new=$2
	guest_on "$old"
	t_check "chain $old->$new: the guest on $old answers (primary=$old)" ping_exact 2 "$TB_GUEST_IP"
	guest_off # the primary dies
	t_check "chain $old->$new: $new's fence command (tb_fence_cmd $old) runs" sh -c "$(tb_fence_cmd "$old")"
	guest_on "$new"
	t_check "chain $old->$new: after the fence, the guest on $new answers through its own port" \
		ping_exact 3 "$TB_GUEST_IP"
	t_check "chain $old->$new: status: still primary=$old, $old fenced, as planned" \
		json_true "$("${TB[@]}" status --json)" \
		".primary == \"$old\" and .fenced.$old and .state == \"up\" and (.parts | all(.ok))"
	run "chain $old->$new: unfence $old" 0 "${TB[@]}" unfence "$old"
	t_check "chain $old->$new: the guest on $new still answers, exactly" ping_exact 3 "$TB_GUEST_IP"
	cap_start "$old" inl0 # the new backup on the old primary's host
	t_check "chain $old->$new: $new's rewire command (tb_rewire_cmd $new) runs" sh -c "$(tb_rewire_cmd "$new")"
	tb_wait_forwarding 3
	t_check "chain $old->$new: after the rewire, the guest on $new answers through $old's leg" \
		ping_exact 3 "$TB_GUEST_IP"
	cap_stop
	t_eq "chain $old->$new: $old inl0 saw the 3 echo requests to the guest" 3 \
		"$(cap_count "> $G, .*> $TB_GUEST_IP: ICMP echo request")"
	t_check "chain $old->$new: status: primary=$new, capture host $old, as planned" \
		json_true "$("${TB[@]}" status --json)" \
		".primary == \"$new\" and .capture_host == \"$old\" and .state == \"up\" and (.parts | all(.ok))"
	guest_off
}
t_info "--- inline: a protection chain (failover, then rewire), twice"
chain_round pri bak
chain_round bak pri
tb_load_topology

# Changing the topology needs --force.
snap=$(links_snapshot)
run "up --topology basic on the inline testbed (refused)" 2 "${TB[@]}" up --topology basic
t_check "the refusal says how to change it" grep -q "up with topology 'inline'; run 'down' first" <<<"$OUT"
t_eq "the refusal changed nothing" "$snap" "$(links_snapshot)"

# ================================================================ mirror
t_info "--- topology mirror"
run "up --topology mirror --force (rebuilds the inline testbed)" 0 "${TB[@]}" up --topology mirror --force
tb_load_topology
t_check "up says it rebuilt" grep -q "taking it down to rebuild it as 'mirror'" <<<"$OUT"
run "status" 0 "${TB[@]}" status
t_check "status: tc filters as planned" grep -q "tc filters as planned" <<<"$OUT"
t_check "status has no part marked 'not as planned' or MISSING" lacks 'not as planned|MISSING' "$OUT"
st=$("${TB[@]}" status --json)
t_check "status --json: state up, topology mirror, 17 parts all ok, mirror ok" json_true "$st" \
	'.state == "up" and .topology == "mirror" and (.parts | length) == 17 and (.parts | all(.ok))
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

mirror_check pri
real_guest_check pri

# Repair.
ip netns exec "$TB_NS_SW" tc filter del dev port-c ingress prio 11
run "status with the broadcast filter deleted" 1 "${TB[@]}" status
t_check "status says the filters are not as planned" grep -q "tc filters NOT as planned" <<<"$OUT"
run "up repairs it" 0 "${TB[@]}" up
t_check "status --json after repair: up, mirror ok" json_true "$("${TB[@]}" status --json)" \
	'.state == "up" and .wiring.mirror.ok and .topology == "mirror"'

# Fence: as in basic (in either state: nothing is standby in mirror).
# mirror_fence HOST: fence cuts port-HOST only, unfence puts it back.
mirror_fence() {
	local ip
	ip=$(tb_host_lan_ip "$1")
	run "fence $1" 0 "${TB[@]}" fence "$1"
	t_check "fence $1 is switch port port-$1" grep -q "(switch port-$1 down)" <<<"$OUT"
	t_check "fenced: the client can no longer ping the $1 host" no_c_ping "$ip"
	run "unfence $1" 0 "${TB[@]}" unfence "$1"
	t_check "unfenced: the client pings the $1 host" ping_exact 2 "$ip"
}
mirror_fence pri

# ------------------------------------------- mirror: either host primary
t_info "--- mirror: rewire primary=bak (copies to pri) and back"
FENCE_PRI_AT_START=$TB_FENCE_PRI_CMD
run "rewire primary=bak" 0 "${TB[@]}" rewire primary=bak
t_check "rewire says where the copies go" \
	grep -q "primary=bak (was pri): client frames for the guest copied to port-mirp -> pri mir0" <<<"$OUT"
st=$("${TB[@]}" status --json)
t_check "status --json: primary bak, copies to port-mirp (pri), filters as planned, 17 parts all ok" json_true "$st" \
	'.state == "up" and .primary == "bak" and .capture_host == "pri" and (.parts | length) == 17 and (.parts | all(.ok))
	 and .wiring.mirror.ok and .wiring.mirror.to == "port-mirp" and .wiring.mirror.to_host == "pri"
	 and .wiring.capture_sw_port == "port-mirp" and .wiring.standby == []'
tc_out=$(ip netns exec "$TB_NS_SW" tc filter show dev port-c ingress)
t_eq "both filters now mirror to port-mirp (one shared action)" 2 \
	"$(grep -c 'mirred (Egress Mirror to device port-mirp)' <<<"$tc_out")"
envout=$("${TB[@]}" env)
for v in TB_PRIMARY=bak TB_CAPTURE_HOST=pri TB_BAK_CAPTURE_IF=mir0 TB_PRI_SW_PORT=port-pri TB_BAK_SW_PORT=port-bak; do
	t_check "env prints $v" grep -qx "$v" <<<"$envout"
done
tb_load_topology
mirror_check bak
real_guest_check bak
run "rewire primary=bak again" 0 "${TB[@]}" rewire primary=bak
t_check "the second rewire says already" grep -q "primary=bak (already)" <<<"$OUT"
run "up (keeps primary=bak)" 0 "${TB[@]}" up
t_check "up says already up, primary=bak" grep -q "already up (topology mirror), primary=bak" <<<"$OUT"
t_check "status --json: still copies to port-mirp" json_true "$("${TB[@]}" status --json)" \
	'.state == "up" and .primary == "bak" and .wiring.mirror.ok and .wiring.mirror.to == "port-mirp"'
mirror_fence bak
t_check "the fence command built in state pri cuts pri in state bak" sh -c "$FENCE_PRI_AT_START"
t_check "... the client can no longer ping the pri host" no_c_ping "$TB_PRI_LAN_IP"
run "unfence pri" 0 "${TB[@]}" unfence pri
t_check "unfenced: the client pings the pri host" ping_exact 2 "$TB_PRI_LAN_IP"
FAST_MS=()
fast_rewire pri
t_check "fast rewire to pri: copies to port-mir again, as planned" json_true "$("${TB[@]}" status --json)" \
	'.state == "up" and .primary == "pri" and .wiring.mirror.ok and .wiring.mirror.to == "port-mir"'
fast_rewire pri
t_check "fast rewire again (idempotent): as planned" json_true "$("${TB[@]}" status --json)" \
	'.state == "up" and .primary == "pri" and .wiring.mirror.ok'
fast_rewire bak
t_check "fast rewire to bak: copies to port-mirp" json_true "$("${TB[@]}" status --json)" \
	'.state == "up" and .primary == "bak" and .wiring.mirror.ok and .wiring.mirror.to == "port-mirp"'
fast_rewire pri
t_info "fast rewire times (ms, machine shared): ${FAST_MS[*]}"
mirror_check pri

# ------------------------------------------------------------------ down
run "down" 0 "${TB[@]}" down
left=$(ip netns list | awk '{ print $1 }' | grep "^$RRVM_NS_PREFIX-" | tr '\n' ' ')
t_eq "no namespace of this test left" "" "$left"
t_finish
