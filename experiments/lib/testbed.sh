# shellcheck shell=bash disable=SC2034 # TB_* are for the scripts that source this
# The rrvm network testbed: four network namespaces standing for a client, a
# switch, a primary host and a backup host on one LAN, plus a direct
# primary<->backup replication link. docs/testbed.md has the diagrams.
#
# Source it from bash (it defines functions and the TB_* variables below,
# for the default prefix; call tb_set_prefix to use another one, and
# tb_load_topology (or tb_set_topology) for the topology-specific names).
# The CLI is experiments/testbed (up|down|status|fence|unfence|env|exec).
#
# Everything the testbed makes lives inside its own namespaces: deleting
# them removes it all (nothing is created in the caller's namespace).
# Interface names are therefore the same in every testbed; only the
# namespace names carry the prefix, so several testbeds (a user's and a
# test's private one) can coexist.
#
# Topology "basic" (the default):
#   namespace     role      interfaces
#   PREFIX-c      client    eth0 10.77.0.1/24 (MAC 02:77:00:00:00:01)
#   PREFIX-sw     switch    br0 (no address): port-c, port-pri, port-bak
#   PREFIX-pri    primary   br0 10.77.0.11/24 = eth0 (uplink) + tap0 (guest)
#                           rep0 192.168.100.1/24 (replication link)
#   PREFIX-bak    backup    br0 10.77.0.12/24 = eth0 (uplink) + tap0 (guest)
#                           rep0 192.168.100.2/24
#   guest (runs on tap0 of pri, or of bak after a failover)
#                           10.77.0.2/24, MAC 52:54:00:77:00:02, gw 10.77.0.1
#
# Topology "inline" (reverse replication, rRVM's choice: the backup is the
# first recipient of the client's frames). As basic, except that pri's
# eth0 is not on the switch: switch port-inl <-> bak inl0, bak inl1 <->
# pri eth0, and in bak a bridge brinl (no address, ARP off, STP off,
# learning on) joins inl0 and inl1, so traffic flows through the backup
# host even when no rrvm backup runs. rrvm backup captures on inl0
# (TB_BAK_CAPTURE_IF; an XDP program there steals the frames for the guest
# MAC before brinl sees them) and injects them on inl1 (TB_BAK_FORWARD_IF);
# everything else, including the guest's replies, is bridged by brinl. The
# backup keeps its own LAN port (port-bak <-> bak eth0, in bak br0 with
# tap0) for after a failover.
#
# Topology "mirror" (SPAN port): basic, plus switch port-mir <-> bak mir0
# (port-mir in no bridge; mir0 no address, not bridged, promiscuous, ARP
# off) and, on the switch, an ingress qdisc on port-c with two u32 filters
# that mirror (mirred egress mirror dev port-mir) the client's frames whose
# destination is the guest MAC (prio 10) or broadcast (prio 11). rrvm
# backup captures on mir0 (TB_BAK_CAPTURE_IF); it forwards nothing (the
# primary gets the frames from the switch).
#
# Design choices (docs/testbed.md explains them):
#  - STP is off on every bridge, so ports forward as soon as they are up.
#  - IPv6 is disabled in the testbed namespaces: no router solicitations,
#    DAD or MLD frames on the LAN, so captures and counters see only what
#    the experiment sends.
#  - Learning is off on each host bridge's uplink port (eth0): a host bridge
#    never believes the guest MAC is upstream, so frames for the guest that
#    reach a host are always handed to its tap0 (dropped there if no monitor
#    is attached). Without this, the backup's bridge could learn the guest
#    MAC on eth0 from flooded frames while the guest ran on the primary and
#    then drop client frames for the guest after a restore on the backup,
#    until the guest happened to send something. Costs nothing: a host
#    bridge has only two ports, and unknown unicast is not passed up to the
#    host stack.
#  - Fencing the primary = cutting the links it is reached by: in basic and
#    mirror its switch port (port-pri); in inline the backup's inl1 (the
#    backup cuts the primary off) and then switch port-inl. Fencing the
#    backup = its switch port port-bak, in every topology. A bridge
#    flushes the FDB entries learned on a port that goes down, so frames
#    for the guest MAC are then flooded and reach whichever host now runs
#    the guest (through port-bak). The fence is recorded in each cut
#    link's alias ("fenced"), so `up` leaves it down.
#  - The topology is recorded in the switch bridge's alias
#    ("rrvm-testbed topology=NAME"); `up` with another one refuses (or,
#    with --force, takes the testbed down and rebuilds it).

if [ -n "${RRVM_TESTBED_SH_LOADED:-}" ]; then
	return 0
fi
RRVM_TESTBED_SH_LOADED=1
TB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# ------------------------------------------------------------- fixed plan
TB_DEFAULT_PREFIX=rrvm-tb
TB_TOPOLOGIES="basic inline mirror"
TB_ROLES="c sw pri bak"

# The LAN (client, hosts, guest).
TB_LAN_NET=10.77.0.0
TB_LAN_PREFIX=24
TB_CLIENT_IP=10.77.0.1
TB_CLIENT_MAC=02:77:00:00:00:01
TB_CLIENT_DEV=eth0
TB_GUEST_IP=10.77.0.2
TB_GUEST_MAC=52:54:00:77:00:02
TB_GUEST_GW=$TB_CLIENT_IP
TB_GUEST_PORT_KV=6379
TB_PRI_LAN_IP=10.77.0.11
TB_BAK_LAN_IP=10.77.0.12
TB_PRI_BR_MAC=02:77:00:00:00:11
TB_BAK_BR_MAC=02:77:00:00:00:12
TB_SW_BR_MAC=02:77:00:00:00:fe

# Devices (the same names in every testbed: they live in its namespaces).
TB_SW_BR=br0           # the switch (a bridge in PREFIX-sw)
TB_HOST_BR=br0         # each host's local bridge (eth0 + tap0)
TB_UPLINK=eth0         # a host's (and the client's) LAN port
TB_TAP=tap0            # the guest's TAP in each host
TB_REP_DEV=rep0        # replication link end in each host

# The replication link (primary <-> backup only).
TB_REP_NET=192.168.100.0
TB_REP_PREFIX=24
TB_PRI_REP_IP=192.168.100.1
TB_BAK_REP_IP=192.168.100.2

# Inline wiring (topology inline).
TB_INL_SW_PORT="port-inl" # switch port towards the backup's inline leg
TB_INL_IN=inl0           # bak: peer of port-inl (client side; capture here)
TB_INL_OUT=inl1          # bak: peer of pri's eth0 (primary side; inject here)
TB_INL_BR=brinl          # bak: bridge inl0 + inl1 (no address, ARP off)
TB_INL_BR_MAC=02:77:00:00:00:13
# Mirror wiring (topology mirror).
TB_MIR_SW_PORT="port-mir" # switch port the copies go out of (in no bridge)
TB_MIR_DEV=mir0          # bak: peer of port-mir (no address; capture here)
TB_MIR_FROM="port-c"      # switch ports whose ingress is mirrored
TB_MIR_PRIO_GUEST=10     # u32 filter: ether dst = guest MAC
TB_MIR_PRIO_BCAST=11     # u32 filter: ether dst = ff:ff:ff:ff:ff:ff

# tb_set_topology basic|inline|mirror: set the names that depend on the
# topology (the testbed itself is not looked at; tb_load_topology does):
#   TB_TOPOLOGY
#   TB_PRI_SW_PORT       switch port the primary host is reached through
#                        (port-pri; port-inl in inline)
#   TB_BAK_CAPTURE_IF    where `rrvm backup` captures client->guest frames,
#                        in the backup's namespace (inl0, mir0; empty in basic)
#   TB_BAK_FORWARD_IF    where it injects them towards the primary (inl1 in
#                        inline; empty otherwise: the switch delivers them)
#   TB_FENCE_PRI_CMD, TB_FENCE_BAK_CMD
#                        one-line shell commands that fence the primary /
#                        backup (as `experiments/testbed fence`, with plain
#                        `ip` calls: for `rrvm backup --fence-cmd`)
tb_set_topology() {
	case "$1" in
	basic)
		TB_PRI_SW_PORT="port-pri"
		TB_BAK_CAPTURE_IF=
		TB_BAK_FORWARD_IF=
		;;
	inline)
		TB_PRI_SW_PORT=$TB_INL_SW_PORT
		TB_BAK_CAPTURE_IF=$TB_INL_IN
		TB_BAK_FORWARD_IF=$TB_INL_OUT
		;;
	mirror)
		TB_PRI_SW_PORT="port-pri"
		TB_BAK_CAPTURE_IF=$TB_MIR_DEV
		TB_BAK_FORWARD_IF=
		;;
	*)
		echo "testbed: unknown topology '$1' (one of: $TB_TOPOLOGIES)" >&2
		return 2
		;;
	esac
	TB_TOPOLOGY=$1
	TB_FENCE_PRI_CMD=$(tb_fence_cmd pri "$1")
	TB_FENCE_BAK_CMD=$(tb_fence_cmd bak "$1")
	return 0
}

# tb_fence_parts pri|bak [TOPOLOGY]: the links that fencing a host takes
# down, in that order ("ROLE DEV" a line; ROLE = the namespace holding DEV).
# TOPOLOGY defaults to the running testbed's (basic if none).
tb_fence_parts() {
	local topo=${2:-}
	[ -n "$topo" ] || topo=$(tb_topology)
	case "$1:${topo:-basic}" in
	pri:inline) printf 'bak %s\nsw %s\n' "$TB_INL_OUT" "$TB_INL_SW_PORT" ;;
	pri:*) echo "sw port-pri" ;;
	bak:*) echo "sw port-bak" ;;
	*) return 1 ;;
	esac
}
# tb_fence_cmd pri|bak [TOPOLOGY]: one shell command line doing the fence
# (alias "fenced" + down on each link of tb_fence_parts, by plain `ip`
# calls: ~10 ms, against 100-200 ms for `experiments/testbed fence`).
tb_fence_cmd() {
	local r d cmd=
	while read -r r d; do
		cmd+="${cmd:+ && }ip -n $(tb_ns "$r") link set dev $d alias fenced down"
	done < <(tb_fence_parts "$1" "${2:-}")
	echo "$cmd"
}
# tb_fence_desc pri|bak [TOPOLOGY]: the fenced links, for messages.
tb_fence_desc() {
	local r d out=
	while read -r r d; do
		out+="${out:+ and }"
		case "$r" in
		sw) out+="switch port $d" ;;
		*) out+="$(tb_role_name "$r")'s $d" ;;
		esac
	done < <(tb_fence_parts "$1" "${2:-}")
	echo "$out"
}
# tb_load_topology: tb_set_topology with the running testbed's topology
# (basic if there is none). Call after `up` when a script needs
# TB_BAK_CAPTURE_IF & co.
tb_load_topology() {
	local t
	t=$(tb_topology)
	tb_set_topology "${t:-basic}"
}

# tb_set_prefix PREFIX: (re)compute the namespace names.
tb_set_prefix() {
	local p=${1:-$TB_DEFAULT_PREFIX}
	if ! [[ $p =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$ ]]; then
		echo "testbed: bad prefix '$p' (letters, digits, _ . -; at most 40)" >&2
		return 2
	fi
	TB_PREFIX=$p
	TB_NS_C=$p-c
	TB_NS_SW=$p-sw
	TB_NS_PRI=$p-pri
	TB_NS_BAK=$p-bak
	# The fence commands name the namespaces.
	if [ -n "${TB_TOPOLOGY:-}" ]; then
		tb_set_topology "$TB_TOPOLOGY" || return 2
	fi
	return 0
}
TB_TOPOLOGY=
tb_set_prefix "${RRVM_TESTBED_PREFIX:-$TB_DEFAULT_PREFIX}" || return 2

# tb_ns ROLE: namespace name of c|sw|pri|bak.
tb_ns() {
	case "$1" in
	c | client) echo "$TB_NS_C" ;;
	sw | switch) echo "$TB_NS_SW" ;;
	pri | primary) echo "$TB_NS_PRI" ;;
	bak | backup) echo "$TB_NS_BAK" ;;
	*) return 1 ;;
	esac
}
# tb_sw_port ROLE: the switch port a role is plugged into.
tb_sw_port() {
	case "$1" in
	c | pri | bak) echo "port-$1" ;;
	*) return 1 ;;
	esac
}
tb_role_name() {
	case "$1" in
	c) echo client ;; sw) echo switch ;; pri) echo primary ;; bak) echo backup ;;
	esac
}
tb_host_lan_ip() { [ "$1" = pri ] && echo "$TB_PRI_LAN_IP" || echo "$TB_BAK_LAN_IP"; }
tb_host_rep_ip() { [ "$1" = pri ] && echo "$TB_PRI_REP_IP" || echo "$TB_BAK_REP_IP"; }
tb_host_br_mac() { [ "$1" = pri ] && echo "$TB_PRI_BR_MAC" || echo "$TB_BAK_BR_MAC"; }
# Until a script asks for another one (tb_set_topology, tb_load_topology).
tb_set_topology basic

# tb_exec ROLE CMD...: run CMD in a role's namespace.
tb_exec() {
	local ns
	ns=$(tb_ns "$1") || { echo "testbed: unknown role '$1'" >&2; return 2; }
	shift
	ip netns exec "$ns" "$@"
}

# ---------------------------------------------------------------- queries
tb_ns_exists() { [ -e "/run/netns/$1" ] || ip netns list 2>/dev/null | grep -q "^$1\( \|$\)"; }
tb_link_exists() { ip -n "$1" link show dev "$2" >/dev/null 2>&1; } # NS DEV
tb_link_alias() { # NS DEV
	ip -n "$1" -d link show dev "$2" 2>/dev/null | sed -n 's/^ *alias \(.*\)$/\1/p' | head -n1
}
# Is a host fenced? (The first link tb_fence_parts cuts carries the alias
# "fenced": port-pri / port-bak on the switch, or the backup's inl1.)
tb_is_fenced() { # pri|bak
	local r d
	read -r r d < <(tb_fence_parts "$1") || return 1
	[ "$(tb_link_alias "$(tb_ns "$r")" "$d")" = fenced ]
}
# The topology recorded in the switch bridge's alias, or empty. When the
# record is gone (e.g. the switch namespace was deleted) but the inline or
# mirror links survive, that topology.
tb_topology() {
	local a l
	a=$(tb_link_alias "$TB_NS_SW" "$TB_SW_BR")
	case "$a" in
	"rrvm-testbed topology="*)
		echo "${a#rrvm-testbed topology=}"
		return 0
		;;
	esac
	tb_ns_exists "$TB_NS_BAK" || return 0
	l=$(ip -n "$TB_NS_BAK" -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }')
	if grep -qxE "$TB_INL_BR|$TB_INL_IN|$TB_INL_OUT" <<<"$l"; then
		echo inline
	elif grep -qx "$TB_MIR_DEV" <<<"$l"; then
		echo mirror
	fi
}
# PIDs of processes in our namespaces (one a line: "NS PID COMM").
tb_pids() {
	local r ns p
	for r in $TB_ROLES; do
		ns=$(tb_ns "$r")
		tb_ns_exists "$ns" || continue
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			echo "$ns $p $(cat "/proc/$p/comm" 2>/dev/null || echo '?')"
		done
	done
}
# Do all of the testbed's namespaces exist?
tb_all_exist() {
	local r
	for r in $TB_ROLES; do
		tb_ns_exists "$(tb_ns "$r")" || return 1
	done
	return 0
}
# Does any of the testbed's namespaces exist?
tb_any_exists() {
	local r
	for r in $TB_ROLES; do
		tb_ns_exists "$(tb_ns "$r")" && return 0
	done
	return 1
}

# ------------------------------------------------------------------- up
_tb_run() { # CMD...: run, report a failure with the command line
	if ! "$@"; then
		echo "testbed: failed: $*" >&2
		return 1
	fi
}

_tb_ensure_ns() { # NS
	local ns=$1
	if ! tb_ns_exists "$ns"; then
		_tb_run ip netns add "$ns" || return 1
	fi
	_tb_run ip -n "$ns" link set lo up || return 1
	# No IPv6 chatter on the testbed LAN (see the header).
	ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1 || true
}

_tb_ensure_bridge() { # NS BR MAC
	local ns=$1 br=$2 mac=$3
	if ! tb_link_exists "$ns" "$br"; then
		_tb_run ip -n "$ns" link add "$br" address "$mac" type bridge \
			stp_state 0 forward_delay 0 || return 1
	fi
	_tb_run ip -n "$ns" link set "$br" up
}

# _tb_ensure_veth NS_A DEV_A NS_B DEV_B [MAC_B]: a veth pair with one end in
# each namespace. A half-present pair (one end missing) is replaced.
_tb_ensure_veth() {
	local nsa=$1 deva=$2 nsb=$3 devb=$4 macb=${5:-}
	if tb_link_exists "$nsa" "$deva" && tb_link_exists "$nsb" "$devb"; then
		return 0
	fi
	tb_link_exists "$nsa" "$deva" && ip -n "$nsa" link del "$deva" 2>/dev/null
	tb_link_exists "$nsb" "$devb" && ip -n "$nsb" link del "$devb" 2>/dev/null
	if [ -n "$macb" ]; then
		_tb_run ip -n "$nsa" link add "$deva" type veth peer name "$devb" \
			address "$macb" netns "$nsb"
	else
		_tb_run ip -n "$nsa" link add "$deva" type veth peer name "$devb" netns "$nsb"
	fi
}

_tb_ensure_addr() { # NS DEV ADDR/N
	_tb_run ip -n "$1" addr replace "$3" dev "$2"
}

# _tb_up_unless_fenced ROLE NS DEV: bring DEV up, unless its alias says it
# is part of ROLE's fence (then say so and leave it down).
_tb_up_unless_fenced() {
	local role=$1 ns=$2 dev=$3 where=
	if [ "$(tb_link_alias "$ns" "$dev")" = fenced ]; then
		[ "$ns" = "$TB_NS_SW" ] || where=" (in $ns)"
		echo "testbed: $(tb_role_name "$role") is fenced; leaving $dev$where down ('unfence $role' reconnects it)" >&2
		return 0
	fi
	_tb_run ip -n "$ns" link set "$dev" up
}

# _tb_refence ROLE TOPOLOGY: if one of ROLE's fence links is marked fenced, mark
# them all (a re-created link has lost its alias).
_tb_refence() {
	local r d fenced='' parts
	parts=$(tb_fence_parts "$1" "$2")
	while read -r r d; do
		[ "$(tb_link_alias "$(tb_ns "$r")" "$d")" = fenced ] && fenced=1
	done <<<"$parts"
	[ -n "$fenced" ] || return 0
	while read -r r d; do
		tb_link_exists "$(tb_ns "$r")" "$d" || continue
		_tb_run ip -n "$(tb_ns "$r")" link set "$d" alias fenced || return 1
	done <<<"$parts"
}

# _tb_plug ROLE: veth from the switch port-ROLE to ROLE's eth0, port up
# unless fenced.
_tb_plug() {
	local role=$1 ns port mac=
	ns=$(tb_ns "$role")
	port=$(tb_sw_port "$role")
	[ "$role" = c ] && mac=$TB_CLIENT_MAC
	_tb_ensure_veth "$TB_NS_SW" "$port" "$ns" "$TB_UPLINK" ${mac:+"$mac"} || return 1
	_tb_run ip -n "$TB_NS_SW" link set "$port" master "$TB_SW_BR" || return 1
	_tb_up_unless_fenced "$role" "$TB_NS_SW" "$port" || return 1
	_tb_run ip -n "$ns" link set "$TB_UPLINK" up
}

# _tb_host ROLE: a host's local bridge (uplink + TAP) and its LAN address.
_tb_host() {
	local role=$1 ns
	ns=$(tb_ns "$role")
	_tb_ensure_bridge "$ns" "$TB_HOST_BR" "$(tb_host_br_mac "$role")" || return 1
	if ! tb_link_exists "$ns" "$TB_TAP"; then
		_tb_run ip netns exec "$ns" ip tuntap add dev "$TB_TAP" mode tap || return 1
	fi
	_tb_run ip -n "$ns" link set "$TB_TAP" master "$TB_HOST_BR" || return 1
	_tb_run ip -n "$ns" link set "$TB_TAP" up || return 1
	_tb_run ip -n "$ns" link set "$TB_UPLINK" master "$TB_HOST_BR" || return 1
	# See the header: the guest is never upstream of a host.
	_tb_run ip -n "$ns" link set dev "$TB_UPLINK" type bridge_slave learning off || return 1
	_tb_ensure_addr "$ns" "$TB_HOST_BR" "$(tb_host_lan_ip "$role")/$TB_LAN_PREFIX"
}

# _tb_switch TOPOLOGY: the four namespaces and the switch bridge, with the
# topology recorded in its alias.
_tb_switch() {
	local r
	for r in $TB_ROLES; do
		_tb_ensure_ns "$(tb_ns "$r")" || return 1
	done
	_tb_ensure_bridge "$TB_NS_SW" "$TB_SW_BR" "$TB_SW_BR_MAC" || return 1
	_tb_run ip -n "$TB_NS_SW" link set "$TB_SW_BR" alias "rrvm-testbed topology=$1"
}

# _tb_rep_link: the replication link (primary <-> backup only).
_tb_rep_link() {
	_tb_ensure_veth "$TB_NS_PRI" "$TB_REP_DEV" "$TB_NS_BAK" "$TB_REP_DEV" || return 1
	_tb_ensure_addr "$TB_NS_PRI" "$TB_REP_DEV" "$TB_PRI_REP_IP/$TB_REP_PREFIX" || return 1
	_tb_ensure_addr "$TB_NS_BAK" "$TB_REP_DEV" "$TB_BAK_REP_IP/$TB_REP_PREFIX" || return 1
	_tb_run ip -n "$TB_NS_PRI" link set "$TB_REP_DEV" up || return 1
	_tb_run ip -n "$TB_NS_BAK" link set "$TB_REP_DEV" up
}

# _tb_up_lan TOPOLOGY: basic's wiring (client, primary and backup on switch
# ports), the hosts' bridges and the replication link.
_tb_up_lan() {
	local r
	_tb_switch "$1" || return 1
	for r in c pri bak; do
		_tb_plug "$r" || return 1
	done
	_tb_ensure_addr "$TB_NS_C" "$TB_UPLINK" "$TB_CLIENT_IP/$TB_LAN_PREFIX" || return 1
	_tb_client_checksums
	_tb_host pri || return 1
	_tb_host bak || return 1
	_tb_rep_link
}

tb_up_basic() {
	_tb_up_lan basic
}

# A veth hands on TCP/UDP segments with the checksum left to "offload"
# (CHECKSUM_PARTIAL): the bytes on the virtual wire are not valid. A real
# NIC puts a valid checksum on the wire, and the backup's capture (XDP,
# pcap) logs and replays wire bytes, so the senders compute their own.
# A frame forwarded with XDP_REDIRECT also loses its checksum-pending
# state (docs/capture.md): with offload on, the receiver would drop it.
# _tb_tx_csum_off NS DEV
_tb_tx_csum_off() {
	if command -v ethtool >/dev/null 2>&1; then
		ip netns exec "$1" ethtool -K "$2" tx off >/dev/null 2>&1 || true
	fi
}
_tb_client_checksums() {
	_tb_tx_csum_off "$TB_NS_C" "$TB_UPLINK"
}

# _tb_backpressure NS DEV: a queue in front of a veth whose peer runs XDP.
# With the default noqueue, a frame that finds the peer's ring full is
# dropped before XDP sees it (neither captured nor forwarded); a pfifo
# makes the sender wait instead.
_tb_backpressure() {
	ip netns exec "$1" tc qdisc replace dev "$2" root pfifo >/dev/null 2>&1 ||
		echo "testbed: warning: cannot set a pfifo qdisc on $2 in $1" >&2
}

# The XDP program that only passes frames (backup/bpf/xdp_pass.bpf.c):
# build/bpf/xdp_pass.bpf.o, or built here with clang when missing.
_tb_xdp_pass_obj() {
	local obj=${RRVM_BPF_DIR:-$TB_ROOT/build/bpf}/xdp_pass.bpf.o src=$TB_ROOT/backup/bpf/xdp_pass.bpf.c
	if [ ! -r "$obj" ]; then
		obj=${TMPDIR:-/tmp}/rrvm-xdp_pass.$$.bpf.o
		clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -c "$src" -o "$obj" 2>/dev/null || {
			echo "testbed: cannot build $src (make, or install clang)" >&2
			return 1
		}
	fi
	echo "$obj"
}

# _tb_napi NS DEV: make DEV (the peer of a veth the backup's ring-buffer
# capture redirects into) take XDP_REDIRECTed frames: a veth accepts them
# only when its peer runs NAPI, which a native XDP program turns on (GRO
# would too, but it would merge the frames the primary digests).
_tb_napi() {
	local obj
	ip -n "$1" -d link show dev "$2" 2>/dev/null | grep -q 'prog/xdp' && return 0
	obj=$(_tb_xdp_pass_obj) || return 1
	_tb_run ip -n "$1" link set dev "$2" xdpdrv obj "$obj" sec xdp
	local rc=$?
	case "$obj" in "${TMPDIR:-/tmp}"/rrvm-xdp_pass.*) rm -f "$obj" ;; esac
	return $rc
}

# inline: the backup between the switch and the primary host.
#   switch br0 -- port-inl ==veth== inl0 --[bak brinl]-- inl1 ==veth== eth0 -- pri br0
# brinl (no address, ARP off, STP off, learning on) forwards everything by
# default; rrvm backup's XDP program on inl0 takes the client->guest frames
# before brinl sees them and injects them on inl1 once logged. The backup's
# own LAN port (port-bak <-> eth0 in bak br0, with tap0) is as in basic.
tb_up_inline() {
	local d
	_tb_switch inline || return 1
	_tb_plug c || return 1
	_tb_plug bak || return 1
	_tb_ensure_addr "$TB_NS_C" "$TB_UPLINK" "$TB_CLIENT_IP/$TB_LAN_PREFIX" || return 1
	_tb_client_checksums
	# Switch side of the inline leg.
	_tb_ensure_veth "$TB_NS_SW" "$TB_INL_SW_PORT" "$TB_NS_BAK" "$TB_INL_IN" || return 1
	_tb_run ip -n "$TB_NS_SW" link set "$TB_INL_SW_PORT" master "$TB_SW_BR" || return 1
	# Primary side: the primary host's uplink is the backup's inl1.
	_tb_ensure_veth "$TB_NS_BAK" "$TB_INL_OUT" "$TB_NS_PRI" "$TB_UPLINK" || return 1
	# A fence survives the re-creation of one of its two links.
	_tb_refence pri inline || return 1
	_tb_up_unless_fenced pri "$TB_NS_SW" "$TB_INL_SW_PORT" || return 1
	# The pass-through bridge. No address and no ARP: the backup host never
	# answers on it (with ARP on, it would answer the client's ARP for
	# 10.77.0.12 a second time, with brinl's MAC).
	_tb_ensure_bridge "$TB_NS_BAK" "$TB_INL_BR" "$TB_INL_BR_MAC" || return 1
	_tb_run ip -n "$TB_NS_BAK" link set "$TB_INL_BR" arp off || return 1
	for d in "$TB_INL_IN" "$TB_INL_OUT"; do
		_tb_run ip -n "$TB_NS_BAK" link set "$d" master "$TB_INL_BR" || return 1
		_tb_run ip -n "$TB_NS_BAK" link set dev "$d" type bridge_slave learning on || return 1
	done
	_tb_run ip -n "$TB_NS_BAK" link set "$TB_INL_IN" up || return 1
	_tb_up_unless_fenced pri "$TB_NS_BAK" "$TB_INL_OUT" || return 1
	_tb_run ip -n "$TB_NS_PRI" link set "$TB_UPLINK" up || return 1
	_tb_host pri || return 1
	_tb_host bak || return 1
	# What the ring-buffer capture's XDP_REDIRECT inl0 -> inl1 needs
	# (docs/testbed.md): NAPI on inl1's peer, checksums computed by the
	# senders, and queues instead of drops in front of the XDP veths.
	_tb_napi "$TB_NS_PRI" "$TB_UPLINK" || return 1
	_tb_tx_csum_off "$TB_NS_PRI" "$TB_UPLINK"
	_tb_backpressure "$TB_NS_SW" "$TB_INL_SW_PORT"
	_tb_backpressure "$TB_NS_BAK" "$TB_INL_OUT"
	_tb_rep_link
}

# The u32 filters of the mirror, one line each, as _tb_mirror_sig prints
# them: "PRIO protocol all VALUE/MASK@OFF VALUE/MASK@OFF mirror->DEV".
_tb_mirror_want() {
	local m=${TB_GUEST_MAC//:/} mir="mirror->$TB_MIR_SW_PORT"
	m=${m,,}
	echo "$TB_MIR_PRIO_GUEST protocol all 0000${m:0:4}/0000ffff@-16 ${m:4:8}/ffffffff@-12 $mir"
	echo "$TB_MIR_PRIO_BCAST protocol all 0000ffff/0000ffff@-16 ffffffff/ffffffff@-12 $mir"
}
# _tb_mirror_sig PORT: the ingress u32 filters on a switch port, normalized.
_tb_mirror_sig() {
	ip netns exec "$TB_NS_SW" tc filter show dev "$1" ingress 2>/dev/null | awk '
		function flush() { if (cur != "") print cur; cur = "" }
		/^filter / && / fh [0-9a-f]+:[0-9a-f]*:[0-9a-f]+/ {
			flush()
			for (i = 1; i <= NF; i++) {
				if ($i == "pref") p = $(i + 1)
				if ($i == "protocol") pr = $(i + 1)
			}
			cur = p " protocol " pr
			next
		}
		/^filter / { flush(); next }
		$1 == "match" && $3 == "at" { cur = cur " " $2 "@" $4; next }
		/mirred \(Egress Mirror to device / {
			d = $0; sub(/.*to device /, "", d); sub(/\).*/, "", d)
			cur = cur " mirror->" d
		}
		END { flush() }'
}

# mirror: basic, plus a SPAN port. The client's frames for the guest MAC
# and its broadcasts are copied, at the ingress of port-c, to port-mir
# (in no bridge), whose peer is the backup's mir0 (not bridged, no
# address, ARP off, promiscuous).
tb_up_mirror() {
	local p
	_tb_up_lan mirror || return 1
	_tb_ensure_veth "$TB_NS_SW" "$TB_MIR_SW_PORT" "$TB_NS_BAK" "$TB_MIR_DEV" || return 1
	# Not a switch port: only the mirred action sends anything out of it.
	if ip -n "$TB_NS_SW" -o link show dev "$TB_MIR_SW_PORT" | grep -q ' master '; then
		_tb_run ip -n "$TB_NS_SW" link set "$TB_MIR_SW_PORT" nomaster || return 1
	fi
	_tb_run ip -n "$TB_NS_SW" link set "$TB_MIR_SW_PORT" up || return 1
	_tb_run ip -n "$TB_NS_BAK" link set "$TB_MIR_DEV" arp off promisc on up || return 1
	# The mirrored copies queue, rather than drop, when mir0's XDP lags.
	_tb_backpressure "$TB_NS_SW" "$TB_MIR_SW_PORT"
	for p in $TB_MIR_FROM; do
		[ "$(_tb_mirror_sig "$p")" = "$(_tb_mirror_want)" ] && continue
		ip netns exec "$TB_NS_SW" tc qdisc del dev "$p" ingress 2>/dev/null
		_tb_run ip netns exec "$TB_NS_SW" tc qdisc add dev "$p" handle ffff: ingress || return 1
		_tb_run ip netns exec "$TB_NS_SW" tc filter add dev "$p" parent ffff: protocol all \
			prio "$TB_MIR_PRIO_GUEST" u32 match ether dst "$TB_GUEST_MAC" \
			action mirred egress mirror dev "$TB_MIR_SW_PORT" || return 1
		_tb_run ip netns exec "$TB_NS_SW" tc filter add dev "$p" parent ffff: protocol all \
			prio "$TB_MIR_PRIO_BCAST" u32 match ether dst ff:ff:ff:ff:ff:ff \
			action mirred egress mirror dev "$TB_MIR_SW_PORT" || return 1
	done
}

# tb_up [TOPOLOGY [--force]]: build (or complete) the testbed; idempotent.
# No TOPOLOGY: the running testbed's, or basic. A testbed up with another
# topology is refused (status 2, nothing touched), or with --force taken
# down (tb_down: refuses while processes run in it) and rebuilt.
tb_up() {
	local topo=${1:-} force=${2:-} have
	have=$(tb_topology)
	[ -n "$topo" ] || topo=${have:-basic}
	case " $TB_TOPOLOGIES " in
	*" $topo "*) ;;
	*)
		echo "testbed: unknown topology '$topo' (one of: $TB_TOPOLOGIES)" >&2
		return 2
		;;
	esac
	if [ -n "$have" ] && [ "$have" != "$topo" ]; then
		if [ "$force" != --force ]; then
			echo "testbed: $TB_PREFIX is up with topology '$have'; run 'down' first (or 'up --topology $topo --force') to change it to '$topo'" >&2
			return 2
		fi
		echo "testbed: $TB_PREFIX is up with topology '$have': --force, taking it down to rebuild it as '$topo'" >&2
		tb_down '' || return 1
	fi
	case "$topo" in
	basic) tb_up_basic ;;
	inline) tb_up_inline ;;
	mirror) tb_up_mirror ;;
	esac || return 1
	tb_set_topology "$topo"
}

# ----------------------------------------------------------------- down
# tb_down [--kill]: delete the namespaces. Refuses while processes run in
# them unless --kill (then SIGTERM each by PID, SIGKILL after 3 s).
tb_down() {
	local kill=${1:-} r ns procs p i
	procs=$(tb_pids)
	if [ -n "$procs" ]; then
		if [ "$kill" != --kill ]; then
			echo "testbed: processes still run in $TB_PREFIX (stop them, or 'down --kill'):" >&2
			sed 's/^/  /' <<<"$procs" >&2
			return 1
		fi
		while read -r _ p _; do
			kill -TERM "$p" 2>/dev/null
		done <<<"$procs"
		for ((i = 0; i < 30; i++)); do
			[ -z "$(tb_pids)" ] && break
			sleep 0.1
		done
		for p in $(tb_pids | awk '{ print $2 }'); do
			kill -KILL "$p" 2>/dev/null
		done
	fi
	for r in $TB_ROLES; do
		ns=$(tb_ns "$r")
		if tb_ns_exists "$ns"; then
			_tb_run ip netns delete "$ns" || return 1
		fi
	done
	return 0
}

# --------------------------------------------------------------- fencing
# tb_fence pri|bak / tb_unfence pri|bak: take a host off the LAN or put it
# back. The links cut are tb_fence_parts' (topology-dependent): each gets
# the alias "fenced" and goes down (unfence: in the reverse order, alias
# removed, up).
_tb_fence_check() { # fence|unfence ROLE -> the parts on stdout
	local what=$1 role=$2 parts r d
	case "$role" in pri | bak) ;; *)
		echo "testbed: $what: which host? pri or bak (got '$role')" >&2
		return 2
		;;
	esac
	parts=$(tb_fence_parts "$role")
	while read -r r d; do
		if ! tb_link_exists "$(tb_ns "$r")" "$d"; then
			if [ "$r" = sw ]; then
				echo "testbed: $TB_PREFIX has no switch port $d (is it up?)" >&2
			else
				echo "testbed: $TB_PREFIX has no $d in $(tb_ns "$r") (is it up?)" >&2
			fi
			return 1
		fi
	done <<<"$parts"
	echo "$parts"
}
tb_fence() {
	local parts r d
	parts=$(_tb_fence_check fence "$1") || return
	while read -r r d; do
		_tb_run ip -n "$(tb_ns "$r")" link set "$d" alias fenced || return 1
		_tb_run ip -n "$(tb_ns "$r")" link set "$d" down || return 1
	done <<<"$parts"
}
tb_unfence() {
	local parts r d
	parts=$(_tb_fence_check unfence "$1") || return
	while read -r r d; do
		# An empty alias removes it.
		_tb_run ip -n "$(tb_ns "$r")" link set "$d" alias "" || return 1
		_tb_run ip -n "$(tb_ns "$r")" link set "$d" up || return 1
	done < <(tac <<<"$parts")
}

# --------------------------------------------------------------- status
# _tb_spec TOPOLOGY: what should exist, one part a line:
#   ROLE DEV KIND MASTER ADDRESS [FLAGS [QDISC]]
# MASTER: the bridge it must be in, "none" (in no bridge) or "-" (either);
# ADDRESS: "-" for none required; FLAGS: comma-separated link flags that
# must be set (promisc, noarp; xdp: an XDP program attached), "-" for none;
# QDISC: the root qdisc it must have (pfifo), "-" for any.
_tb_spec() {
	local topo=$1 swports="port-c port-pri port-bak" p
	[ "$topo" = inline ] && swports="port-c $TB_INL_SW_PORT port-bak"
	echo "c $TB_UPLINK veth - $TB_CLIENT_IP/$TB_LAN_PREFIX"
	echo "sw $TB_SW_BR bridge - -"
	for p in $swports; do
		if [ "$p" = "$TB_INL_SW_PORT" ]; then
			echo "sw $p veth $TB_SW_BR - - pfifo"
		else
			echo "sw $p veth $TB_SW_BR -"
		fi
	done
	[ "$topo" = mirror ] && echo "sw $TB_MIR_SW_PORT veth none - - pfifo"
	echo "pri $TB_HOST_BR bridge - $TB_PRI_LAN_IP/$TB_LAN_PREFIX"
	if [ "$topo" = inline ]; then
		echo "pri $TB_UPLINK veth $TB_HOST_BR - xdp"
	else
		echo "pri $TB_UPLINK veth $TB_HOST_BR -"
	fi
	echo "pri $TB_TAP tap $TB_HOST_BR -"
	echo "pri $TB_REP_DEV veth - $TB_PRI_REP_IP/$TB_REP_PREFIX"
	echo "bak $TB_HOST_BR bridge - $TB_BAK_LAN_IP/$TB_LAN_PREFIX"
	echo "bak $TB_UPLINK veth $TB_HOST_BR -"
	echo "bak $TB_TAP tap $TB_HOST_BR -"
	case "$topo" in
	inline)
		echo "bak $TB_INL_BR bridge - - noarp"
		echo "bak $TB_INL_IN veth $TB_INL_BR -"
		echo "bak $TB_INL_OUT veth $TB_INL_BR - - pfifo"
		;;
	mirror) echo "bak $TB_MIR_DEV veth none - promisc,noarp" ;;
	esac
	echo "bak $TB_REP_DEV veth - $TB_BAK_REP_IP/$TB_REP_PREFIX"
}

# tb_status_json: one JSON object describing what exists (needs jq).
# "state": "up" (every planned part present, up, addressed and in the right
# bridge, and in mirror the tc filters as planned; a fenced link counts as
# planned), "partial", or "down" (no namespace exists).
tb_status_json() {
	local r ns exists pids links addrs raw='{}' spec topo fpri fbak mhave='' mwant=''
	topo=$(tb_topology)
	spec=$(_tb_spec "${topo:-basic}")
	fpri=$(tb_fence_parts pri "${topo:-basic}")
	fbak=$(tb_fence_parts bak "${topo:-basic}")
	if [ "$topo" = mirror ]; then
		mwant=$(_tb_mirror_want)
		tb_ns_exists "$TB_NS_SW" && mhave=$(_tb_mirror_sig "$TB_MIR_FROM")
	fi
	# One JSON object of everything `ip` says, then a single jq pass (jq
	# startups dominate the cost). Names are validated by tb_set_prefix and
	# `ip -j` prints valid JSON, so plain printf is safe here.
	raw='{'
	for r in $TB_ROLES; do
		ns=$(tb_ns "$r")
		exists=false pids='' links='[]' addrs='[]'
		if tb_ns_exists "$ns"; then
			exists=true
			pids=$(ip netns pids "$ns" 2>/dev/null | paste -sd,)
			links=$(ip -j -s -d -n "$ns" link show 2>/dev/null) || links='[]'
			addrs=$(ip -j -n "$ns" addr show 2>/dev/null) || addrs='[]'
		fi
		[ "$raw" = '{' ] || raw+=','
		raw+=$(printf '"%s":{"name":"%s","role":"%s","exists":%s,"pids":[%s],"links":%s,"addrs":%s}' \
			"$r" "$ns" "$(tb_role_name "$r")" "$exists" \
			"$pids" "${links:-[]}" "${addrs:-[]}")
	done
	raw+='}'
	printf '%s' "$raw" | jq -c --arg prefix "$TB_PREFIX" --arg topo "$topo" \
		--arg spec "$spec" --arg fpri "$fpri" --arg fbak "$fbak" \
		--arg mfrom "$TB_MIR_FROM" --arg mto "$TB_MIR_SW_PORT" --arg mhave "$mhave" --arg mwant "$mwant" \
		--arg inlport "$TB_INL_SW_PORT" --arg inlin "$TB_INL_IN" --arg inlout "$TB_INL_OUT" \
		--arg inlbr "$TB_INL_BR" --arg mirdev "$TB_MIR_DEV" \
		--arg cip "$TB_CLIENT_IP/$TB_LAN_PREFIX" --arg cmac "$TB_CLIENT_MAC" \
		--arg gip "$TB_GUEST_IP/$TB_LAN_PREFIX" --arg gmac "$TB_GUEST_MAC" --arg ggw "$TB_GUEST_GW" \
		--arg pip "$TB_PRI_LAN_IP/$TB_LAN_PREFIX" --arg bip "$TB_BAK_LAN_IP/$TB_LAN_PREFIX" \
		--arg prep "$TB_PRI_REP_IP/$TB_REP_PREFIX" --arg brep "$TB_BAK_REP_IP/$TB_REP_PREFIX" \
		--arg tap "$TB_TAP" '
		def lines($s): $s | split("\n") | map(select(length > 0));
		. as $raw
		| [lines($spec)[] | split(" ") | select(length >= 5)
		   | {role: .[0], dev: .[1], kind: .[2], want_master: .[3], want_addr: .[4],
		      want_flags: ((.[5] // "-") | if . == "-" then [] else ascii_upcase | split(",") | map(select(length > 0)) end),
		      want_qdisc: (.[6] // "-")}
		   | . as $s
		   | ($raw[$s.role]) as $n
		   | ($n.links | map(select(.ifname == $s.dev)) | first) as $l
		   | ($n.addrs | map(select(.ifname == $s.dev)) | first) as $a
		   | {role: $s.role, ns: $n.name, dev: $s.dev, kind: $s.kind,
		      present: ($l != null),
		      admin_up: (($l.flags // []) | index("UP") != null),
		      carrier: (($l.flags // []) | index("LOWER_UP") != null),
		      operstate: ($l.operstate // null),
		      master: ($l.master // null),
		      alias: ($l.ifalias // null),
		      mac: ($l.address // null),
		      addresses: (($a.addr_info // []) | map(select(.family == "inet") | "\(.local)/\(.prefixlen)")),
		      stats: (if $l.stats64 then {rx_packets: $l.stats64.rx.packets, tx_packets: $l.stats64.tx.packets,
		                                  rx_bytes: $l.stats64.rx.bytes, tx_bytes: $l.stats64.tx.bytes} else null end),
		      promisc: (($l.flags // []) | index("PROMISC") != null),
		      qdisc: ($l.qdisc // null),
		      xdp: (if $l.xdp then {mode: ({"1": "native", "2": "skb", "3": "hw"}[$l.xdp.mode | tostring] // "multi"),
		                            prog_id: ($l.xdp.prog.id // null), prog: ($l.xdp.prog.name // null)}
		            else null end)}
		   | .fenced = (.alias == "fenced")
		   | . as $p
		   | .ok = (.present and (.admin_up or .fenced)
		            and ($s.want_master == "-"
		                 or (if $s.want_master == "none" then .master == null else .master == $s.want_master end))
		            and ($s.want_addr == "-" or (.addresses | index($s.want_addr) != null))
		            and ($s.want_flags | all(. as $f | if $f == "XDP" then $l.xdp != null
		                                               else ($l.flags // []) | index($f) != null end))
		            and ($s.want_qdisc == "-" or $l.qdisc == $s.want_qdisc))
		  ] as $parts
		| def fenced($rd): ($rd | split(" ")) as $x
		    | ($parts | map(select(.role == $x[0] and .dev == $x[1] and .fenced)) | length > 0);
		  def carrier($r): ($parts | map(select(.role == $r and .dev == $tap)) | first | .carrier // false);
		  def part($r; $d): ($parts | map(select(.role == $r and .dev == $d)) | first);
		(if $topo == "mirror" then
		   {from: ($mfrom | split(" ")), to: $mto, to_backup: $mirdev,
		    want: lines($mwant), filters: lines($mhave), ok: ($mhave == $mwant)}
		 else null end) as $mirror
		| {prefix: $prefix,
		 topology: (if $topo == "" then null else $topo end),
		 state: (if ([$raw[] | .exists] | any) | not then "down"
		         elif ($parts | all(.ok)) and ($mirror == null or $mirror.ok) then "up"
		         else "partial" end),
		 namespaces: ($raw | map_values({name, role, exists, pids})),
		 fenced: {pri: fenced(lines($fpri)[0]), bak: fenced(lines($fbak)[0])},
		 guest: {ip: $gip, mac: $gmac, gw: $ggw, tap: $tap,
		         attached: {pri: carrier("pri"), bak: carrier("bak")}},
		 addresses: {client: $cip, client_mac: $cmac, pri_lan: $pip, bak_lan: $bip,
		             pri_rep: $prep, bak_rep: $brep},
		 wiring: {pri_sw_port: (if $topo == "inline" then $inlport else "port-pri" end),
		          capture_if: (if $topo == "inline" then $inlin elif $topo == "mirror" then $mirdev else null end),
		          forward_if: (if $topo == "inline" then $inlout else null end),
		          bridge: (if $topo == "inline" then $inlbr else null end),
		          capture_xdp: (if $topo == "inline" then part("bak"; $inlin).xdp
		                        elif $topo == "mirror" then part("bak"; $mirdev).xdp else null end),
		          fence: {pri: lines($fpri), bak: lines($fbak)},
		          mirror: $mirror},
		 parts: $parts}'
}

# tb_status_text: the same, for humans.
tb_status_text() {
	local j
	j=$(tb_status_json) || return 1
	jq -r '
		def onoff(b): if b then "yes" else "no" end;
		"testbed \(.prefix): \(.state)" + (if .topology then " (topology \(.topology))" else "" end),
		(.namespaces | to_entries[] | .value
		  | "  namespace \(.name) (\(.role)): " + (if .exists then "present" + (if (.pids | length) > 0 then ", processes: \(.pids | map(tostring) | join(" "))" else "" end) else "MISSING" end)),
		(.parts[]
		  | "    \(.role) \(.dev) [\(.kind)]: "
		    + (if .present | not then "MISSING"
		       else (if .admin_up then "up" else "down" end)
		            + (if .carrier then "" else ", no carrier" end)
		            + (if .master then ", in \(.master)" else "" end)
		            + (if (.addresses | length) > 0 then ", " + (.addresses | join(" ")) else "" end)
		            + (if .promisc then ", promisc" else "" end)
		            + (if .xdp then ", xdp" else "" end)
		            + (if .fenced then ", FENCED" else "" end)
		            + (if .ok then "" else "  <-- not as planned" end)
		       end)),
		(if .topology == "inline" then
		   "  inline: switch \(.wiring.pri_sw_port) -> bak \(.wiring.capture_if) -[\(.wiring.bridge)]- \(.wiring.forward_if) -> pri eth0; rrvm backup captures on \(.wiring.capture_if), injects on \(.wiring.forward_if)"
		   + (if .wiring.capture_xdp then " (an XDP program is attached to \(.wiring.capture_if))" else " (no XDP program attached: \(.wiring.bridge) forwards everything)" end)
		 elif .topology == "mirror" then
		   "  mirror: ingress of \(.wiring.mirror.from | join(" ")), ether dst \(.guest.mac) or broadcast -> \(.wiring.mirror.to) -> bak \(.wiring.capture_if): "
		   + (if .wiring.mirror.ok then "tc filters as planned" else "tc filters NOT as planned  <-- not as planned" end)
		 else empty end),
		"  guest: \(.guest.ip) \(.guest.mac) gw \(.guest.gw) on \(.guest.tap): attached in pri: \(onoff(.guest.attached.pri)), bak: \(onoff(.guest.attached.bak))",
		"  fenced: pri \(onoff(.fenced.pri)), bak \(onoff(.fenced.bak))",
		"  client \(.addresses.client) (\(.addresses.client_mac)); hosts \(.addresses.pri_lan) (pri), \(.addresses.bak_lan) (bak); replication \(.addresses.pri_rep) <-> \(.addresses.bak_rep)"
	' <<<"$j"
}
