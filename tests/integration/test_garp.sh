#!/usr/bin/env bash
# Gratuitous ARP at failover (arp/garp.c), on a LAN of its own (no VM, no
# rrvm binary: a small driver, build/tests/garp_send, calls garp_announce):
#
#   switch  sw: br0 = port-a + port-b + port-c (learning, STP off)
#   host A   a: eth0 = the guest MAC M, 10.77.0.2 (the old owner)
#   host B   b: br0 10.77.0.12 = eth0 (uplink, learning off) + tap0, the
#               shape of a backup host; the announcement is sent on br0
#   client   c: eth0 10.77.0.1, arp_accept=0
#
# 1. The client pings 10.77.0.2: the switch learns M on port-a and the
#    client's neighbour entry maps 10.77.0.2 to M. Then A falls silent.
# 2. B announces 10.77.0.2/M on br0 (3 frames, 20 ms apart: the failover
#    defaults) while the client captures. Checks: the switch now has M on
#    port-b (not port-a); the client saw exactly 3 ARP frames from M,
#    request/reply/request, with the expected fields, on schedule; its
#    entry still maps to M.
# 3. Client-side rules (docs/arp.md): an entry pointing at another MAC is
#    overridden; an unresolved (INCOMPLETE/FAILED) entry is resolved; no
#    entry is created while arp_accept=0, one is with arp_accept=1.
# 4. Failure modes: no such interface, interface down, no CAP_NET_RAW,
#    multicast MAC: exit 1 and exactly one line saying why; no carrier:
#    sent anyway (exit 0) with a one-line warning.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

IP=10.77.0.2
M=52:54:00:77:00:02
CLIENT_IP=10.77.0.1
CLIENT_MAC=02:77:00:00:00:01
B_IP=10.77.0.12
B_BR_MAC=02:77:00:00:00:12
OTHER_MAC=02:00:00:00:00:99
COUNT=3
INTERVAL=20
DRIVER=$ROOT/build/tests/garp_send

# ------------------------------------------------------------- setup
is_root || t_skip "needs root (network namespaces, packet sockets)"
for t in ip bridge gcc tcpdump tshark setpriv; do
	command -v "$t" >/dev/null 2>&1 || t_fail "required tool '$t' is not installed (make deps)"
done
[ -f /usr/include/libnet.h ] || t_fail "libnet headers are missing (libnet1-dev; make deps)"
rrvm_trap_cleanup
tmpdir_create T_TMP

# The driver: built here so the test needs no Makefile rule. Same warnings
# and sanitizers as the unit tests.
mkdir -p "$(dirname "$DRIVER")" || t_fail "cannot create $(dirname "$DRIVER")"
if ! out=$(cd "$ROOT" && gcc -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wshadow \
	-Wno-unused-parameter -D_GNU_SOURCE -Iinclude -I. \
	-fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined -o "$DRIVER.tmp.$$" \
	tests/integration/garp_send.c arp/garp.c common/log.c -lnet 2>&1); then
	rm -f "$DRIVER.tmp.$$"
	t_fail "building garp_send failed: $out"
fi
mv -f "$DRIVER.tmp.$$" "$DRIVER" || t_fail "cannot install $DRIVER"

ns_create NS_SW sw
ns_create NS_A a
ns_create NS_B b
ns_create NS_C c
for ns in "$NS_SW" "$NS_A" "$NS_B" "$NS_C"; do
	# No IPv6: A must stay silent after step 1 (no MLD/ND from M), and the
	# capture should hold only what we send.
	ns_exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1
done
setup_lan() {
	local r
	ip -n "$NS_SW" link add br0 type bridge stp_state 0 forward_delay 0 &&
		ip -n "$NS_SW" link set br0 up || return 1
	for r in a b c; do
		local ns_var="NS_${r^^}"
		ip -n "$NS_SW" link add "port-$r" type veth peer name eth0 netns "${!ns_var}" &&
			ip -n "$NS_SW" link set "port-$r" master br0 up || return 1
	done
	ip -n "$NS_A" link set eth0 address "$M" &&
		ip -n "$NS_A" addr add "$IP/24" dev eth0 &&
		ip -n "$NS_A" link set eth0 up || return 1
	ip -n "$NS_C" link set eth0 address "$CLIENT_MAC" &&
		ip -n "$NS_C" addr add "$CLIENT_IP/24" dev eth0 &&
		ip -n "$NS_C" link set eth0 up || return 1
	ns_exec "$NS_C" sysctl -q -w net.ipv4.conf.all.arp_accept=0 \
		net.ipv4.conf.eth0.arp_accept=0 >/dev/null || return 1
	# B: like a backup host of experiments/lib/testbed.sh.
	ip -n "$NS_B" link add br0 address "$B_BR_MAC" type bridge stp_state 0 forward_delay 0 &&
		ns_exec "$NS_B" ip tuntap add dev tap0 mode tap &&
		ip -n "$NS_B" link set tap0 master br0 up &&
		ip -n "$NS_B" link set eth0 master br0 up &&
		ip -n "$NS_B" link set dev eth0 type bridge_slave learning off &&
		ip -n "$NS_B" addr add "$B_IP/24" dev br0 &&
		ip -n "$NS_B" link set br0 up || return 1
	# A down interface for the failure cases.
	ip -n "$NS_B" link add dn0 type veth peer name dn1
}
setup_lan || t_fail "cannot build the LAN"

# fdb_ports MAC: the switch ports MAC is learned on (space-separated).
fdb_ports() {
	bridge -n "$NS_SW" fdb show br br0 |
		awk -v m="$1" '$1 == m && !/permanent/ { for (i = 2; i < NF; i++) if ($i == "dev") print $(i + 1) }' |
		sort | tr '\n' ' ' | sed 's/ $//'
}
# neigh_mac IP: the client's neighbour entry for IP: "MAC STATE", or
# "STATE" without an address, or "" when there is none.
neigh_of() {
	ip -n "$NS_C" neigh show "$1" dev eth0 |
		awk '{ for (i = 1; i <= NF; i++) if ($i == "lladdr") mac = $(i + 1); st = $NF }
		     END { if (NR) print (mac != "" ? mac " " : "") st }'
}
neigh_mac() { neigh_of "$1" | awk '{ print (NF > 1 ? $1 : "") }'; }

# indent [PREFIX]: stdin as "  | PREFIX<line>" (command output in the log).
indent() { sed "s/^/  | ${1:-}/"; }

# announce NS DEV IP MAC [driver options]: run the driver, output in $ANN_OUT.
announce() {
	local ns=$1 dev=$2 ip=$3 mac=$4
	shift 4
	ANN_OUT=$(ns_exec "$ns" timeout 20 "$DRIVER" "$@" "$dev" "$ip" "$mac" 2>&1)
	ANN_RC=$?
	indent <<<"$ANN_OUT"
}

# ------------------------------------------- 1. A owns M; C knows it
# STP off and forward_delay 0: ports forward at once, but a veth can take a
# moment to get carrier.
if ! wait_for 10 probe_ping "$NS_C" "$IP"; then
	t_fail "client cannot ping $IP on host A: the LAN does not work"
fi
t_eq "before: switch learned M on port-a" port-a "$(fdb_ports "$M")"
t_eq "before: client maps $IP to M" "$M" "$(neigh_mac "$IP")"
# A falls silent: it neither answers ARP nor sends anything else.
ip -n "$NS_A" link set dev eth0 arp off || t_fail "cannot silence host A"

# ----------------------------------------- 2. B announces on its br0
PCAP=$T_TMP/client.pcap
# --immediate-mode: without it, frames still in the kernel's capture
# buffer are lost when tcpdump is stopped. -Z root: T_TMP is private.
ns_bg "$NS_C" "$T_TMP/tcpdump.log" tcpdump -n -i eth0 --immediate-mode -U \
	-Z root -w "$PCAP" arp
TCPDUMP_PID=$RRVM_LAST_PID
wait_for 10 --pid "$TCPDUMP_PID" grep -q 'listening on' "$T_TMP/tcpdump.log" ||
	t_fail "tcpdump did not start: $(cat "$T_TMP/tcpdump.log")"

t0=$(now_ms)
announce "$NS_B" br0 "$IP" "$M" -c "$COUNT" -i "$INTERVAL"
t1=$(now_ms)
t_eq "garp_send br0 $IP $M -c $COUNT -i $INTERVAL: exit status" 0 "$ANN_RC"
t_check "br0 has carrier: no warning" lacks 'carrier' "$ANN_OUT"
t_info "garp_send took $((t1 - t0)) ms (process start and exit included)"
sleep 0.3 # let the last frame reach the capture
pid_stop "$TCPDUMP_PID" 5
indent "tcpdump: " <"$T_TMP/tcpdump.log"

t_eq "after: switch has M on port-b (the backup's port) only" port-b "$(fdb_ports "$M")"

frames=$(tshark -r "$PCAP" -Y "eth.src == $M" -T fields -E separator=' ' \
	-e frame.time_relative -e eth.src -e eth.dst -e arp.opcode \
	-e arp.src.hw_mac -e arp.src.proto_ipv4 -e arp.dst.hw_mac \
	-e arp.dst.proto_ipv4 -e frame.len 2>/dev/null)
indent "frame: " <<<"$frames"
t_eq "client captured exactly $COUNT ARP frames from M" "$COUNT" "$(grep -c . <<<"$frames")"
# Fields after the timestamp, frame by frame: request, reply, request.
want_req="$M ff:ff:ff:ff:ff:ff 1 $M $IP 00:00:00:00:00:00 $IP 42"
want_rep="$M ff:ff:ff:ff:ff:ff 2 $M $IP $M $IP 42"
k=0
first=
while read -r ts rest; do
	[ -n "$ts" ] || continue
	if ((k % 2 == 0)); then want=$want_req; form=request; else want=$want_rep; form=reply; fi
	t_eq "frame $((k + 1)): gratuitous $form (eth src/dst, op, sender, target, length)" "$want" "$rest"
	ms=$(awk -v t="$ts" 'BEGIN { printf "%d", t * 1000 }')
	[ -z "$first" ] && first=$ms
	off=$((ms - first))
	# On schedule: frame k leaves at k*interval after the first (absolute
	# deadlines), never early; late only by scheduling noise.
	t_check "frame $((k + 1)) at +${off} ms (due +$((k * INTERVAL)) ms)" \
		in_range "$off" $((k * INTERVAL - 2)) $((k * INTERVAL + 500))
	k=$((k + 1))
done <<<"$frames"
t_eq "client still maps $IP to M" "$M" "$(neigh_mac "$IP")"

# ------------------------------------------- 3. client-side rules
# An existing entry with another MAC (just updated, so within locktime):
# the request form is gratuitous to Linux and overrides it.
ip -n "$NS_C" neigh replace "$IP" lladdr "$OTHER_MAC" dev eth0 nud reachable ||
	t_fail "cannot plant a neighbour entry"
announce "$NS_B" br0 "$IP" "$M" -c 2 -i "$INTERVAL"
t_eq "entry pointing at $OTHER_MAC now maps $IP to M" "$M" "$(neigh_mac "$IP")"

# An unresolved entry (the client asked for 10.77.0.3; nobody answered).
ns_exec "$NS_C" ping -n -c 1 -W 1 10.77.0.3 >/dev/null 2>&1
before=$(neigh_of 10.77.0.3)
t_check "client has an unresolved entry for 10.77.0.3 ($before)" \
	matches "$before" '^(INCOMPLETE|FAILED)$'
announce "$NS_B" br0 10.77.0.3 "$M" -c 2 -i "$INTERVAL"
t_eq "unresolved entry for 10.77.0.3 now maps to M" "$M" "$(neigh_mac 10.77.0.3)"

# No entry and arp_accept=0: the announcement must not create one.
t_eq "no entry for 10.77.0.4 before" "" "$(neigh_of 10.77.0.4)"
announce "$NS_B" br0 10.77.0.4 "$M" -c 2 -i "$INTERVAL"
t_eq "arp_accept=0: still no entry for 10.77.0.4" "" "$(neigh_of 10.77.0.4)"
# The converse, so the check above can fail: arp_accept=1 creates it.
ns_exec "$NS_C" sysctl -q -w net.ipv4.conf.eth0.arp_accept=1 >/dev/null
announce "$NS_B" br0 10.77.0.5 "$M" -c 2 -i "$INTERVAL"
t_eq "arp_accept=1: entry for 10.77.0.5 created, maps to M" "$M" "$(neigh_mac 10.77.0.5)"
ns_exec "$NS_C" sysctl -q -w net.ipv4.conf.eth0.arp_accept=0 >/dev/null

# --------------------------------------------------- 4. failure modes
# fails_with DESC PATTERN: the last announce exited 1 with exactly one
# line matching PATTERN.
fails_with() {
	t_eq "$1: exit status 1" 1 "$ANN_RC"
	t_eq "$1: exactly one line of output" 1 "$(grep -c . <<<"$ANN_OUT")"
	t_check "$1: says '$2'" matches "$ANN_OUT" "$2"
}
announce "$NS_B" rrvmnosuch0 "$IP" "$M"
fails_with "no such interface" "rrvmnosuch0: no such interface"
announce "$NS_B" dn0 "$IP" "$M"
fails_with "interface down" "dn0: interface is down"
announce "$NS_B" br0 "$IP" 01:00:5e:00:00:01
fails_with "multicast MAC" "multicast"
if ns_exec "$NS_B" setpriv --reuid 65534 --regid 65534 --clear-groups test -x "$DRIVER"; then
	ANN_OUT=$(ns_exec "$NS_B" setpriv --reuid 65534 --regid 65534 --clear-groups \
		--inh-caps=-all timeout 20 "$DRIVER" br0 "$IP" "$M" 2>&1)
	ANN_RC=$?
	indent <<<"$ANN_OUT"
	fails_with "unprivileged (uid 65534)" "CAP_NET_RAW"
else
	t_info "note: $DRIVER is not executable by uid 65534; permission case not checked"
fi
# tap0 has no carrier (no monitor attached): sent anyway, with a warning.
announce "$NS_B" tap0 "$IP" "$M" -c 1
t_eq "no carrier: exit status 0" 0 "$ANN_RC"
t_check "no carrier: one warning line" matches "$(grep -c 'warn' <<<"$ANN_OUT")" '^1$'
t_check "no carrier: it says so" matches "$ANN_OUT" "tap0 has no carrier"

t_finish "switch FDB moved to port-b, $COUNT frames seen by the client"
