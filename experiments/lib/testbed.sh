# shellcheck shell=bash disable=SC2034 # TB_* are for the scripts that source this
# The rrvm network testbed: four network namespaces standing for a client, a
# switch, a primary host and a backup host on one LAN, plus a direct
# primary<->backup replication link. docs/testbed.md has the diagrams.
#
# Source it from bash (it defines functions and the TB_* variables below,
# for the default prefix; call tb_set_prefix to use another one, and
# tb_load_topology (or tb_set_topology) for the topology-specific names).
# The CLI is experiments/testbed (up|down|status|fence|unfence|rewire|env|
# exec).
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
# first recipient of the client's frames). Each host has an inline leg in
# front of the other: in host H, a bridge brinl (no address, ARP off, STP
# off, learning on) joins inl0 (peer of a switch port: port-inl for bak,
# port-inlp for pri) and inl1 (peer of the other host's uplink behind H:
# pri eth0 for bak's leg, bak eth1 for pri's leg). Each host also has a
# direct switch port (port-bak <-> bak eth0, port-pri <-> pri eth1). The
# state says which host is the primary, P, and which the capture host, C:
# P is reached only through C's leg (P's direct port and P's own leg are
# down: "standby"), C through its direct port. One path per host, so the
# switch sees no loop. "primary=pri" is the initial state (bak in front of
# pri, as before the legs were symmetric); `rewire` switches it. rrvm
# backup on C captures on inl0 (TB_BAK_CAPTURE_IF; an XDP program there
# steals the frames for the guest MAC before brinl sees them) and injects
# them on inl1 (TB_BAK_FORWARD_IF); brinl bridges everything else, so
# traffic flows through C even when no rrvm backup runs.
#
# Topology "mirror" (SPAN port): basic, plus a SPAN link to each host
# (switch port-mir <-> bak mir0, port-mirp <-> pri mir0; the switch ports
# in no bridge; mir0 no address, not bridged, promiscuous, ARP off) and, on
# the switch, an ingress qdisc on port-c with two u32 filters that copy the
# client's frames whose destination is the guest MAC (prio 10) or broadcast
# (prio 11) with one shared mirred action (index TB_MIR_ACTION_INDEX) to the
# capture host's SPAN port: port-mir in state primary=pri, port-mirp in
# primary=bak (`rewire` retargets the action: both filters at once). rrvm
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
#  - Fencing host X = cutting every link X can be reached by, whatever the
#    state: in basic and mirror its switch port (port-X); in inline the
#    other host's inl1 (the peer cuts X off), the other host's leg's switch
#    port, then X's direct port (e.g. fence pri: bak inl1, port-inl,
#    port-pri). So a fence command built once works after a rewire. A bridge
#    flushes the FDB entries learned on a port that goes down, so frames
#    for the guest MAC are then flooded and reach whichever host now runs
#    the guest (through port-bak). The fence is recorded in each cut
#    link's alias ("fenced"), so `up` leaves it down.
#  - The topology and, in inline and mirror, the state are recorded in the
#    switch bridge's alias ("rrvm-testbed topology=NAME[ primary=pri|bak]");
#    `up` keeps both, `up` with another topology refuses (or, with --force,
#    takes the testbed down and rebuilds it, primary=pri).

if [ -n "${RRVM_TESTBED_SH_LOADED:-}" ]; then
	return 0
fi
RRVM_TESTBED_SH_LOADED=1
TB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# ------------------------------------------------------------- fixed plan
TB_DEFAULT_PREFIX=rrvm-tb
TB_TOPOLOGIES="basic inline mirror"
TB_ROLES="c sw pri bak"
TB_HOSTS="pri bak"       # the two hosts; either can be the primary

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

# Inline wiring (topology inline). The names inside a host are the same on
# both hosts (inl0, inl1, brinl), so the capture options fit either one.
TB_INL_SW_PORT="port-inl"  # switch port towards bak's inline leg
TB_INLP_SW_PORT="port-inlp" # switch port towards pri's inline leg
TB_INL_IN=inl0           # a host's leg, switch side (capture here)
TB_INL_OUT=inl1          # a host's leg, other host's side (inject here)
TB_INL_BR=brinl          # a host's bridge inl0 + inl1 (no address, ARP off)
TB_INL_BR_MAC=02:77:00:00:00:13  # bak's brinl
TB_INLP_BR_MAC=02:77:00:00:00:14 # pri's brinl
TB_UPLINK2=eth1          # a host's second LAN port in inline: pri's direct
                         # port (peer of port-pri), bak's uplink behind
                         # pri's leg (peer of pri inl1)
# Mirror wiring (topology mirror).
TB_MIR_SW_PORT="port-mir"   # switch port of the copies to bak (in no bridge)
TB_MIRP_SW_PORT="port-mirp" # switch port of the copies to pri (in no bridge)
TB_MIR_DEV=mir0          # a host's SPAN port (no address; capture here)
TB_MIR_FROM="port-c"      # switch ports whose ingress is mirrored
TB_MIR_PRIO_GUEST=10     # u32 filter: ether dst = guest MAC
TB_MIR_PRIO_BCAST=11     # u32 filter: ether dst = ff:ff:ff:ff:ff:ff
TB_MIR_ACTION_INDEX=10   # the mirred action both filters share (rewire
                         # retargets it: one change moves both)

# ----------------------------------------------------- per-host wiring
# HOST is pri or bak; the wiring is the same for both, mirrored.
tb_peer() { [ "$1" = pri ] && echo bak || echo pri; }
# tb_inl_sw_port HOST: the switch port of HOST's inline leg (HOST in front).
tb_inl_sw_port() { [ "$1" = pri ] && echo "$TB_INLP_SW_PORT" || echo "$TB_INL_SW_PORT"; }
tb_inl_br_mac() { [ "$1" = pri ] && echo "$TB_INLP_BR_MAC" || echo "$TB_INL_BR_MAC"; }
# tb_inl_uplink HOST: HOST's uplink behind the other host's leg (the peer of
# the other host's inl1): pri eth0, bak eth1.
tb_inl_uplink() { [ "$1" = pri ] && echo "$TB_UPLINK" || echo "$TB_UPLINK2"; }
# tb_direct_uplink HOST [TOPOLOGY]: HOST's end of its own switch port
# (port-HOST): eth0, except pri's in inline (eth1: eth0 is behind bak).
tb_direct_uplink() {
	if [ "$1:${2:-$TB_TOPOLOGY}" = pri:inline ]; then echo "$TB_UPLINK2"; else echo "$TB_UPLINK"; fi
}
# tb_mir_sw_port HOST: the switch port of HOST's SPAN link.
tb_mir_sw_port() { [ "$1" = pri ] && echo "$TB_MIRP_SW_PORT" || echo "$TB_MIR_SW_PORT"; }
# tb_reach_port HOST TOPOLOGY PRIMARY: the switch port HOST is reached
# through in that state.
tb_reach_port() {
	if [ "$2" = inline ] && [ "$1" = "$3" ]; then
		tb_inl_sw_port "$(tb_peer "$1")"
	else
		tb_sw_port "$1"
	fi
}

# tb_set_topology basic|inline|mirror [pri|bak]: set the names that depend
# on the topology and the state (primary=pri by default; the testbed itself
# is not looked at; tb_load_topology does):
#   TB_TOPOLOGY
#   TB_PRIMARY           the primary host (pri|bak; empty in basic: nothing
#                        there depends on it)
#   TB_CAPTURE_HOST      the other one: the host in front of the primary
#                        (inline) or receiving the copies (mirror), where
#                        `rrvm backup` captures; empty in basic
#   TB_PRI_SW_PORT       switch port the pri host is reached through
#                        (port-pri; port-inl in inline when pri is primary)
#   TB_BAK_SW_PORT       the same for bak (port-bak; port-inlp in inline
#                        when bak is primary)
#   TB_BAK_CAPTURE_IF    where `rrvm backup` captures client->guest frames,
#                        in the capture host's namespace (inl0, mir0; empty
#                        in basic). The same name on both hosts.
#   TB_BAK_FORWARD_IF    where it injects them towards the primary (inl1 in
#                        inline; empty otherwise: the switch delivers them)
#   TB_FENCE_PRI_CMD, TB_FENCE_BAK_CMD
#                        one-line shell commands that fence the pri / bak
#                        host (as `experiments/testbed fence`, with plain
#                        `ip` calls: for `rrvm backup --fence-cmd`); the same
#                        in both states
#   TB_REWIRE_PRI_CMD, TB_REWIRE_BAK_CMD
#                        one-line shell commands that make pri / bak the
#                        primary (as `experiments/testbed rewire`: for
#                        `--rewire-cmd`)
tb_set_topology() {
	local p=${2:-pri}
	case "$p" in pri | bak) ;; *)
		echo "testbed: unknown primary host '$p' (pri or bak)" >&2
		return 2
		;;
	esac
	case "$1" in
	basic)
		TB_BAK_CAPTURE_IF=
		TB_BAK_FORWARD_IF=
		;;
	inline)
		TB_BAK_CAPTURE_IF=$TB_INL_IN
		TB_BAK_FORWARD_IF=$TB_INL_OUT
		;;
	mirror)
		TB_BAK_CAPTURE_IF=$TB_MIR_DEV
		TB_BAK_FORWARD_IF=
		;;
	*)
		echo "testbed: unknown topology '$1' (one of: $TB_TOPOLOGIES)" >&2
		return 2
		;;
	esac
	TB_TOPOLOGY=$1
	TB_PRIMARY=$p
	TB_CAPTURE_HOST=$(tb_peer "$p")
	if [ "$1" = basic ]; then
		TB_PRIMARY=
		TB_CAPTURE_HOST=
	fi
	TB_PRI_SW_PORT=$(tb_reach_port pri "$1" "$p")
	TB_BAK_SW_PORT=$(tb_reach_port bak "$1" "$p")
	TB_FENCE_PRI_CMD=$(tb_fence_cmd pri "$1")
	TB_FENCE_BAK_CMD=$(tb_fence_cmd bak "$1")
	TB_REWIRE_PRI_CMD=$(tb_rewire_cmd pri "$1")
	TB_REWIRE_BAK_CMD=$(tb_rewire_cmd bak "$1")
	return 0
}

# tb_fence_parts pri|bak [TOPOLOGY]: the links that fencing a host takes
# down, in that order ("ROLE DEV" a line; ROLE = the namespace holding DEV).
# TOPOLOGY defaults to the running testbed's (basic if none). The same in
# both states: every link the host can be reached by.
tb_fence_parts() {
	local topo=${2:-} peer
	[ -n "$topo" ] || topo=$(tb_topology)
	case "$1" in pri | bak) ;; *) return 1 ;; esac
	if [ "$topo" = inline ]; then
		peer=$(tb_peer "$1")
		printf '%s %s\nsw %s\n' "$peer" "$TB_INL_OUT" "$(tb_inl_sw_port "$peer")"
	fi
	echo "sw $(tb_sw_port "$1")"
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
	_tb_parts_desc < <(tb_fence_parts "$1" "${2:-}")
}
# _tb_parts_desc: "ROLE DEV" lines on stdin, as words.
_tb_parts_desc() {
	local r d out=
	while read -r r d; do
		out+="${out:+, }"
		case "$r" in
		sw) out+="switch $d" ;;
		*) out+="$r $d" ;;
		esac
	done
	echo "$out"
}

# The state (inline): which links are down so that each host is reached
# one way only. PRIMARY = P, the other host C:
#   standby (down): P's direct port, P's leg (P inl1, its switch port)
#   active (up unless fenced): C inl1, C's leg's switch port, C's direct port
# "ROLE DEV" a line; none in basic and mirror (mirror's state is the target
# of its tc action).
_tb_standby_parts() { # TOPOLOGY PRIMARY
	[ "$1" = inline ] || return 0
	printf 'sw %s\nsw %s\n%s %s\n' "$(tb_sw_port "$2")" "$(tb_inl_sw_port "$2")" "$2" "$TB_INL_OUT"
}
_tb_active_parts() { # TOPOLOGY PRIMARY
	local c
	[ "$1" = inline ] || return 0
	c=$(tb_peer "$2")
	printf '%s %s\nsw %s\nsw %s\n' "$c" "$TB_INL_OUT" "$(tb_inl_sw_port "$c")" "$(tb_sw_port "$c")"
}
# The switch bridge's alias: the topology and the state.
_tb_sw_alias() { # TOPOLOGY PRIMARY
	if [ "$1" = basic ]; then
		echo "rrvm-testbed topology=$1"
	else
		echo "rrvm-testbed topology=$1 primary=$2"
	fi
}

# tb_rewire_cmd pri|bak [TOPOLOGY]: one shell command line (for /bin/sh -c)
# doing what `experiments/testbed rewire primary=HOST` does, with plain
# `ip`/`tc` calls (for `--rewire-cmd`): record the state, then
#   inline: take down the new primary's direct port and leg (one `ip -b` in
#     the switch, one `ip` in the host), then bring up the capture host's
#     leg and direct port, each unless its alias says "fenced";
#   mirror: retarget the shared mirred action to the capture host's port;
#   basic: nothing to move (`true`).
tb_rewire_cmd() {
	local p=$1 topo=${2:-} c sw r d cmd
	[ -n "$topo" ] || topo=$(tb_topology)
	case "$p" in pri | bak) ;; *) return 1 ;; esac
	c=$(tb_peer "$p")
	sw=$(tb_ns sw)
	case "${topo:-basic}" in
	inline)
		cmd="printf '%s\\n' 'link set dev $TB_SW_BR alias \"$(_tb_sw_alias inline "$p")\"'"
		while read -r r d; do
			[ "$r" = sw ] && cmd+=" 'link set dev $d down'"
		done < <(_tb_standby_parts inline "$p")
		cmd+=" | ip -n $sw -b -"
		while read -r r d; do
			[ "$r" = sw ] || cmd+=" && ip -n $(tb_ns "$r") link set dev $d down"
		done < <(_tb_standby_parts inline "$p")
		cmd+=" && u() { case \$(ip -n \$1 -o link show dev \$2) in *'alias fenced') ;; *) ip -n \$1 link set dev \$2 up ;; esac; }"
		while read -r r d; do
			cmd+=" && u $(tb_ns "$r") $d"
		done < <(_tb_active_parts inline "$p")
		;;
	mirror)
		cmd="ip -n $sw link set dev $TB_SW_BR alias '$(_tb_sw_alias mirror "$p")'"
		cmd+=" && tc -n $sw actions replace action mirred egress mirror dev $(tb_mir_sw_port "$c") index $TB_MIR_ACTION_INDEX"
		;;
	*) cmd=true ;;
	esac
	echo "$cmd"
}
# tb_load_topology: tb_set_topology with the running testbed's topology
# (basic if there is none) and state. Call after `up` (or `rewire`) when a
# script needs TB_BAK_CAPTURE_IF, TB_CAPTURE_HOST & co.
tb_load_topology() {
	local t
	t=$(tb_topology)
	tb_set_topology "${t:-basic}" "$(tb_primary)"
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
		tb_set_topology "$TB_TOPOLOGY" "${TB_PRIMARY:-pri}" || return 2
	fi
	return 0
}
TB_TOPOLOGY=
TB_PRIMARY=
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
		a=${a#rrvm-testbed topology=}
		echo "${a%% *}"
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
# tb_primary: the running testbed's primary host (pri|bak) as recorded in
# the switch bridge's alias: pri when not recorded (the initial state);
# empty in basic or when there is no testbed.
tb_primary() {
	local a
	case "$(tb_topology)" in inline | mirror) ;; *) return 0 ;; esac
	a=$(tb_link_alias "$TB_NS_SW" "$TB_SW_BR")
	case " $a " in
	*" primary=bak "*) echo bak ;;
	*) echo pri ;;
	esac
}
# tb_capture_host: the other host (where `rrvm backup` captures); empty in
# basic.
tb_capture_host() {
	local p
	p=$(tb_primary)
	[ -n "$p" ] && tb_peer "$p"
	return 0
}
# tb_wait_forwarding [SECONDS]: wait (default 2 s) until every bridge port
# of the testbed that has a carrier forwards. A port's carrier change
# reaches its bridge asynchronously (linkwatch; for a TAP up to a second
# later) and until then the port drops frames: a link just brought up (or
# a TAP just opened by a monitor) is usable only after this. Returns 1 on
# timeout, naming the ports.
tb_wait_forwarding() {
	local end r late
	end=$(($(date +%s%3N) + ${1:-2} * 1000))
	while :; do
		late=
		for r in sw pri bak; do
			late+=$(bridge -n "$(tb_ns "$r")" link show 2>/dev/null | awk -v r="$r" '
				/[<,]LOWER_UP[,>]/ && !/ state forwarding / { d = $2; sub(/[@:].*/, "", d); printf " %s:%s", r, d }')
		done
		[ -z "$late" ] && return 0
		if [ "$(date +%s%3N)" -ge "$end" ]; then
			echo "testbed: bridge ports with a carrier but not forwarding after ${1:-2} s:$late" >&2
			return 1
		fi
		sleep 0.02
	done
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

# _tb_fence_owner TOPOLOGY ROLE DEV: the host whose fence cuts that link.
_tb_fence_owner() {
	local h
	for h in $TB_HOSTS; do
		if tb_fence_parts "$h" "$1" | grep -qxF "$2 $3"; then
			echo "$h"
			return 0
		fi
	done
	return 1
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

# _tb_sw_link PORT NS DEV [MAC]: a veth from switch PORT (in the switch
# bridge) to DEV in NS (up). PORT's admin state is the caller's business.
_tb_sw_link() {
	local port=$1 ns=$2 dev=$3 mac=${4:-}
	_tb_ensure_veth "$TB_NS_SW" "$port" "$ns" "$dev" ${mac:+"$mac"} || return 1
	_tb_run ip -n "$TB_NS_SW" link set "$port" master "$TB_SW_BR" || return 1
	_tb_run ip -n "$ns" link set "$dev" up
}

# _tb_plug ROLE: veth from the switch port-ROLE to ROLE's eth0, port up
# unless fenced.
_tb_plug() {
	local role=$1 mac=
	[ "$role" = c ] && mac=$TB_CLIENT_MAC
	_tb_sw_link "$(tb_sw_port "$role")" "$(tb_ns "$role")" "$TB_UPLINK" ${mac:+"$mac"} || return 1
	_tb_up_unless_fenced "$role" "$TB_NS_SW" "$(tb_sw_port "$role")"
}

# _tb_host ROLE [UPLINK...]: a host's local bridge (its uplinks, eth0 by
# default, + TAP) and its LAN address.
_tb_host() {
	local role=$1 ns d
	shift
	[ $# -gt 0 ] || set -- "$TB_UPLINK"
	ns=$(tb_ns "$role")
	_tb_ensure_bridge "$ns" "$TB_HOST_BR" "$(tb_host_br_mac "$role")" || return 1
	if ! tb_link_exists "$ns" "$TB_TAP"; then
		_tb_run ip netns exec "$ns" ip tuntap add dev "$TB_TAP" mode tap || return 1
	fi
	_tb_run ip -n "$ns" link set "$TB_TAP" master "$TB_HOST_BR" || return 1
	_tb_run ip -n "$ns" link set "$TB_TAP" up || return 1
	for d in "$@"; do
		_tb_run ip -n "$ns" link set "$d" master "$TB_HOST_BR" || return 1
		# See the header: the guest is never upstream of a host.
		_tb_run ip -n "$ns" link set dev "$d" type bridge_slave learning off || return 1
	done
	_tb_ensure_addr "$ns" "$TB_HOST_BR" "$(tb_host_lan_ip "$role")/$TB_LAN_PREFIX"
}

# _tb_switch TOPOLOGY PRIMARY: the four namespaces and the switch bridge,
# with the topology and the state recorded in its alias.
_tb_switch() {
	local r
	for r in $TB_ROLES; do
		_tb_ensure_ns "$(tb_ns "$r")" || return 1
	done
	_tb_ensure_bridge "$TB_NS_SW" "$TB_SW_BR" "$TB_SW_BR_MAC" || return 1
	_tb_run ip -n "$TB_NS_SW" link set "$TB_SW_BR" alias "$(_tb_sw_alias "$1" "$2")"
}

# _tb_rep_link: the replication link (primary <-> backup only).
_tb_rep_link() {
	_tb_ensure_veth "$TB_NS_PRI" "$TB_REP_DEV" "$TB_NS_BAK" "$TB_REP_DEV" || return 1
	_tb_ensure_addr "$TB_NS_PRI" "$TB_REP_DEV" "$TB_PRI_REP_IP/$TB_REP_PREFIX" || return 1
	_tb_ensure_addr "$TB_NS_BAK" "$TB_REP_DEV" "$TB_BAK_REP_IP/$TB_REP_PREFIX" || return 1
	_tb_run ip -n "$TB_NS_PRI" link set "$TB_REP_DEV" up || return 1
	_tb_run ip -n "$TB_NS_BAK" link set "$TB_REP_DEV" up
}

# _tb_client: the client on switch port-c.
_tb_client() {
	_tb_plug c || return 1
	_tb_ensure_addr "$TB_NS_C" "$TB_UPLINK" "$TB_CLIENT_IP/$TB_LAN_PREFIX" || return 1
	_tb_client_checksums
}

# _tb_up_lan TOPOLOGY PRIMARY: basic's wiring (client, primary and backup
# on switch ports), the hosts' bridges and the replication link.
_tb_up_lan() {
	local r
	_tb_switch "$1" "$2" || return 1
	_tb_client || return 1
	for r in $TB_HOSTS; do
		_tb_plug "$r" || return 1
		_tb_host "$r" || return 1
	done
	_tb_rep_link
}

tb_up_basic() {
	_tb_up_lan basic pri
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

# _tb_apply_state TOPOLOGY PRIMARY: the links the state decides, as it
# wants them. inline: the standby links down first (so there is no instant
# with two paths to a host: a loop), then the active ones up unless
# fenced; mirror: the copies to the capture host's SPAN port; basic:
# nothing.
_tb_apply_state() {
	local r d
	case "$1" in
	inline)
		while read -r r d; do
			_tb_run ip -n "$(tb_ns "$r")" link set "$d" down || return 1
		done < <(_tb_standby_parts "$1" "$2")
		while read -r r d; do
			_tb_up_unless_fenced "$(_tb_fence_owner "$1" "$r" "$d")" "$(tb_ns "$r")" "$d" || return 1
		done < <(_tb_active_parts "$1" "$2")
		;;
	mirror) _tb_mirror_apply "$2" ;;
	esac
}

# _tb_inline_leg HOST: HOST's inline leg, in front of the other host:
#   switch br0 -- PORT ==veth== inl0 --[HOST brinl]-- inl1 ==veth== UPLINK -- other br0
# PORT: port-inl for bak's leg, port-inlp for pri's; UPLINK: pri eth0
# (behind bak's leg), bak eth1 (behind pri's). brinl has no address and ARP
# off: the host never answers on it (with ARP on, it would answer the
# client's ARP for its own LAN address a second time, with brinl's MAC).
# STP off, learning on. PORT's and inl1's admin state is the state's
# (_tb_apply_state).
_tb_inline_leg() {
	local h=$1 ns peer d
	ns=$(tb_ns "$h")
	peer=$(tb_peer "$h")
	_tb_sw_link "$(tb_inl_sw_port "$h")" "$ns" "$TB_INL_IN" || return 1
	_tb_ensure_veth "$ns" "$TB_INL_OUT" "$(tb_ns "$peer")" "$(tb_inl_uplink "$peer")" || return 1
	_tb_run ip -n "$(tb_ns "$peer")" link set "$(tb_inl_uplink "$peer")" up || return 1
	_tb_ensure_bridge "$ns" "$TB_INL_BR" "$(tb_inl_br_mac "$h")" || return 1
	_tb_run ip -n "$ns" link set "$TB_INL_BR" arp off || return 1
	for d in "$TB_INL_IN" "$TB_INL_OUT"; do
		_tb_run ip -n "$ns" link set "$d" master "$TB_INL_BR" || return 1
		_tb_run ip -n "$ns" link set dev "$d" type bridge_slave learning on || return 1
	done
}

# inline PRIMARY: both hosts' legs and direct ports; the state takes down
# what would make a second path (docs/testbed.md). brinl forwards
# everything by default; rrvm backup's XDP program on the capture host's
# inl0 takes the client->guest frames before brinl sees them and injects
# them on inl1 once logged.
tb_up_inline() {
	local p=${1:-pri} h
	_tb_switch inline "$p" || return 1
	_tb_client || return 1
	for h in $TB_HOSTS; do
		_tb_sw_link "$(tb_sw_port "$h")" "$(tb_ns "$h")" "$(tb_direct_uplink "$h" inline)" || return 1
		_tb_inline_leg "$h" || return 1
	done
	# A fence survives the re-creation of one of its links.
	for h in $TB_HOSTS; do
		_tb_refence "$h" inline || return 1
	done
	for h in $TB_HOSTS; do
		_tb_host "$h" "$TB_UPLINK" "$TB_UPLINK2" || return 1
	done
	# What the ring-buffer capture's XDP_REDIRECT inl0 -> inl1 needs on
	# each leg (docs/testbed.md): NAPI on inl1's peer (the other host's
	# uplink behind the leg), checksums computed by the senders, and
	# queues instead of drops in front of the XDP veths.
	for h in $TB_HOSTS; do
		local peer
		peer=$(tb_peer "$h")
		_tb_napi "$(tb_ns "$peer")" "$(tb_inl_uplink "$peer")" || return 1
		_tb_tx_csum_off "$(tb_ns "$peer")" "$(tb_inl_uplink "$peer")"
		_tb_backpressure "$TB_NS_SW" "$(tb_inl_sw_port "$h")"
		_tb_backpressure "$(tb_ns "$h")" "$TB_INL_OUT"
	done
	_tb_apply_state inline "$p" || return 1
	_tb_rep_link
}

# The u32 filters of the mirror, one line each, as _tb_mirror_sig prints
# them: "PRIO protocol all VALUE/MASK@OFF VALUE/MASK@OFF mirror->DEV index N",
# copying to the SPAN port of PRIMARY's peer through the shared action.
_tb_mirror_want() { # PRIMARY
	local m=${TB_GUEST_MAC//:/} mir
	mir="mirror->$(tb_mir_sw_port "$(tb_peer "${1:-pri}")") index $TB_MIR_ACTION_INDEX"
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
			next
		}
		$1 == "index" && cur ~ / mirror->/ { cur = cur " index " $2 }
		END { flush() }'
}

# _tb_mirror_apply PRIMARY: the copies go to the capture host's SPAN port.
# The shared action is retargeted (or created) first: both filters follow
# at once. Filters not exactly as planned (deleted, made by hand, or
# holding the ifindex of a re-created port) are re-created with the
# ingress qdisc.
_tb_mirror_apply() {
	local to p
	to=$(tb_mir_sw_port "$(tb_peer "$1")")
	_tb_run ip netns exec "$TB_NS_SW" tc actions replace action mirred egress mirror \
		dev "$to" index "$TB_MIR_ACTION_INDEX" || return 1
	for p in $TB_MIR_FROM; do
		[ "$(_tb_mirror_sig "$p")" = "$(_tb_mirror_want "$1")" ] && continue
		ip netns exec "$TB_NS_SW" tc qdisc del dev "$p" ingress 2>/dev/null
		_tb_run ip netns exec "$TB_NS_SW" tc qdisc add dev "$p" handle ffff: ingress || return 1
		_tb_run ip netns exec "$TB_NS_SW" tc filter add dev "$p" parent ffff: protocol all \
			prio "$TB_MIR_PRIO_GUEST" u32 match ether dst "$TB_GUEST_MAC" \
			action mirred egress mirror dev "$to" index "$TB_MIR_ACTION_INDEX" || return 1
		_tb_run ip netns exec "$TB_NS_SW" tc filter add dev "$p" parent ffff: protocol all \
			prio "$TB_MIR_PRIO_BCAST" u32 match ether dst ff:ff:ff:ff:ff:ff \
			action mirred egress mirror dev "$to" index "$TB_MIR_ACTION_INDEX" || return 1
	done
}

# mirror PRIMARY: basic, plus a SPAN link to each host. The client's frames
# for the guest MAC and its broadcasts are copied, at the ingress of
# port-c, to the capture host's SPAN port (port-mir to bak, port-mirp to
# pri; in no bridge), whose peer is that host's mir0 (not bridged, no
# address, ARP off, promiscuous).
tb_up_mirror() {
	local p=${1:-pri} h port ns
	_tb_up_lan mirror "$p" || return 1
	for h in $TB_HOSTS; do
		port=$(tb_mir_sw_port "$h")
		ns=$(tb_ns "$h")
		_tb_ensure_veth "$TB_NS_SW" "$port" "$ns" "$TB_MIR_DEV" || return 1
		# Not a switch port: only the mirred action sends anything out of it.
		if ip -n "$TB_NS_SW" -o link show dev "$port" | grep -q ' master '; then
			_tb_run ip -n "$TB_NS_SW" link set "$port" nomaster || return 1
		fi
		_tb_run ip -n "$TB_NS_SW" link set "$port" up || return 1
		_tb_run ip -n "$ns" link set "$TB_MIR_DEV" arp off promisc on up || return 1
		# The mirrored copies queue, rather than drop, when mir0's XDP
		# lags.
		_tb_backpressure "$TB_NS_SW" "$port"
	done
	_tb_apply_state mirror "$p"
}

# tb_up [TOPOLOGY [--force]]: build (or complete) the testbed; idempotent.
# No TOPOLOGY: the running testbed's, or basic. The state (primary) is
# kept; primary=pri on a new testbed. A testbed up with another topology is
# refused (status 2, nothing touched), or with --force taken down (tb_down:
# refuses while processes run in it) and rebuilt, primary=pri.
tb_up() {
	local topo=${1:-} force=${2:-} have primary=pri
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
	elif [ -n "$have" ] && [ "$topo" != basic ]; then
		primary=$(tb_primary)
	fi
	case "$topo" in
	basic) tb_up_basic ;;
	inline) tb_up_inline "$primary" ;;
	mirror) tb_up_mirror "$primary" ;;
	esac || return 1
	tb_wait_forwarding 2
	tb_set_topology "$topo" "$primary"
}

# ---------------------------------------------------------------- rewire
# tb_rewire pri|bak: make HOST the primary and the other host the capture
# point: record the state in the switch bridge's alias, then move the links
# (_tb_apply_state; a fenced link stays down). Idempotent. In basic there
# is nothing to move: returns 0 and records nothing. Status 2 for a bad
# HOST, 1 when the testbed is not up (or the failure of a command).
tb_rewire() {
	local p=$1 topo r d
	case "$p" in pri | bak) ;; *)
		echo "testbed: rewire: which host is to be the primary? primary=pri or primary=bak (got '$p')" >&2
		return 2
		;;
	esac
	topo=$(tb_topology)
	if [ -z "$topo" ] || ! tb_link_exists "$TB_NS_SW" "$TB_SW_BR"; then
		echo "testbed: $TB_PREFIX is not up (no switch)" >&2
		return 1
	fi
	if [ "$topo" != basic ]; then
		# Everything that moves must be there (else: run up).
		while read -r r d; do
			if ! tb_link_exists "$(tb_ns "$r")" "$d"; then
				echo "testbed: $TB_PREFIX has no $d in $(tb_ns "$r") ('up' repairs it)" >&2
				return 1
			fi
		done < <(_tb_standby_parts "$topo" "$p"; _tb_active_parts "$topo" "$p"
			[ "$topo" = mirror ] && echo "sw $(tb_mir_sw_port "$(tb_peer "$p")")")
		_tb_run ip -n "$TB_NS_SW" link set "$TB_SW_BR" alias "$(_tb_sw_alias "$topo" "$p")" || return 1
		_tb_apply_state "$topo" "$p" || return 1
		tb_wait_forwarding 2
	fi
	tb_set_topology "$topo" "$p"
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
# back. The links cut are tb_fence_parts' (every link the host can be
# reached by, in any state): each gets the alias "fenced" and goes down.
# unfence removes the aliases (in the reverse order) and brings up the
# links the current state wants up (tb_unfence_parts); a standby link
# stays down.
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
# tb_unfence_parts pri|bak: the fence links `unfence` brings up in the
# running testbed's state (the others are standby and stay down).
tb_unfence_parts() {
	local topo
	topo=$(tb_topology)
	tb_fence_parts "$1" "$topo" | grep -vxF -f <(_tb_standby_parts "$topo" "$(tb_primary)")
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
	local parts up r d
	parts=$(_tb_fence_check unfence "$1") || return
	up=$(tb_unfence_parts "$1")
	while read -r r d; do
		# An empty alias removes it.
		_tb_run ip -n "$(tb_ns "$r")" link set "$d" alias "" || return 1
		grep -qxF "$r $d" <<<"$up" || continue
		_tb_run ip -n "$(tb_ns "$r")" link set "$d" up || return 1
	done < <(tac <<<"$parts")
	tb_wait_forwarding 2
}

# tb_reset: back to the initial state between two experiments on a
# running testbed: both hosts unfenced, pri the primary (inline, mirror),
# the switch's learned MACs forgotten (so the next guest is found wherever
# it runs). Sets the TB_* of the state.
tb_reset() {
	local h
	for h in $TB_HOSTS; do
		if tb_is_fenced "$h"; then
			tb_unfence "$h" || return 1
		fi
	done
	if [ "$(tb_primary)" = bak ]; then
		tb_rewire pri || return 1
	fi
	_tb_run ip -n "$TB_NS_SW" link set dev "$TB_SW_BR" type bridge fdb_flush
}

# --------------------------------------------------------------- status
# _tb_spec TOPOLOGY: what should exist, one part a line:
#   ROLE DEV KIND MASTER ADDRESS [FLAGS [QDISC]]
# MASTER: the bridge it must be in, "none" (in no bridge) or "-" (either);
# ADDRESS: "-" for none required; FLAGS: comma-separated link flags that
# must be set (promisc, noarp). Whether a link must be up or down (standby)
# is the state's (_tb_standby_parts).
_tb_spec() {
	local topo=$1 swports="port-c port-pri port-bak" p h
	[ "$topo" = inline ] && swports+=" $TB_INL_SW_PORT $TB_INLP_SW_PORT"
	echo "c $TB_UPLINK veth - $TB_CLIENT_IP/$TB_LAN_PREFIX"
	echo "sw $TB_SW_BR bridge - -"
	for p in $swports; do
		# The legs' switch ports queue in front of the XDP veths.
		if [ "$p" = "$TB_INL_SW_PORT" ] || [ "$p" = "$TB_INLP_SW_PORT" ]; then
			echo "sw $p veth $TB_SW_BR - - pfifo"
		else
			echo "sw $p veth $TB_SW_BR -"
		fi
	done
	if [ "$topo" = mirror ]; then
		for h in $TB_HOSTS; do
			echo "sw $(tb_mir_sw_port "$h") veth none - - pfifo"
		done
	fi
	for h in $TB_HOSTS; do
		echo "$h $TB_HOST_BR bridge - $(tb_host_lan_ip "$h")/$TB_LAN_PREFIX"
		# In inline, the uplink behind the other host's leg runs an XDP
		# pass program: NAPI, so redirected frames are taken.
		if [ "$topo" = inline ] && [ "$(tb_inl_uplink "$h")" = "$TB_UPLINK" ]; then
			echo "$h $TB_UPLINK veth $TB_HOST_BR - xdp"
		else
			echo "$h $TB_UPLINK veth $TB_HOST_BR -"
		fi
		if [ "$topo" = inline ]; then
			if [ "$(tb_inl_uplink "$h")" = "$TB_UPLINK2" ]; then
				echo "$h $TB_UPLINK2 veth $TB_HOST_BR - xdp"
			else
				echo "$h $TB_UPLINK2 veth $TB_HOST_BR -"
			fi
		fi
		echo "$h $TB_TAP tap $TB_HOST_BR -"
		case "$topo" in
		inline)
			echo "$h $TB_INL_BR bridge - - noarp"
			echo "$h $TB_INL_IN veth $TB_INL_BR -"
			echo "$h $TB_INL_OUT veth $TB_INL_BR - - pfifo"
			;;
		mirror) echo "$h $TB_MIR_DEV veth none - promisc,noarp" ;;
		esac
		echo "$h $TB_REP_DEV veth - $(tb_host_rep_ip "$h")/$TB_REP_PREFIX"
	done
}

# tb_status_json: one JSON object describing what exists (needs jq).
# "state": "up" (every planned part present, up, addressed and in the right
# bridge, and in mirror the tc filters as planned; a fenced link counts as
# planned), "partial", or "down" (no namespace exists).
tb_status_json() {
	local r ns exists pids links addrs raw='{}' spec topo fpri fbak mhave='' mwant=''
	local prim capt='' standby capport='' puplink=''
	topo=$(tb_topology)
	prim=$(tb_primary)
	[ -n "$prim" ] && capt=$(tb_peer "$prim")
	spec=$(_tb_spec "${topo:-basic}")
	fpri=$(tb_fence_parts pri "${topo:-basic}")
	fbak=$(tb_fence_parts bak "${topo:-basic}")
	standby=$(_tb_standby_parts "${topo:-basic}" "$prim")
	case "$topo" in
	inline)
		capport=$(tb_inl_sw_port "$capt")
		puplink=$(tb_inl_uplink "$prim")
		;;
	mirror)
		capport=$(tb_mir_sw_port "$capt")
		mwant=$(_tb_mirror_want "$prim")
		tb_ns_exists "$TB_NS_SW" && mhave=$(_tb_mirror_sig "$TB_MIR_FROM")
		;;
	esac
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
		--arg mfrom "$TB_MIR_FROM" --arg mhave "$mhave" --arg mwant "$mwant" \
		--arg prim "$prim" --arg capt "$capt" --arg standby "$standby" --arg capport "$capport" \
		--arg puplink "$puplink" --arg priport "$(tb_reach_port pri "${topo:-basic}" "$prim")" \
		--arg bakport "$(tb_reach_port bak "${topo:-basic}" "$prim")" \
		--arg inlin "$TB_INL_IN" --arg inlout "$TB_INL_OUT" \
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
		   | "\(.role) \(.dev)" as $k
		   | .standby = any(lines($standby)[]; . == $k)
		   | .ok = (.present
		            and (if .standby then (.admin_up | not) else (.admin_up or .fenced) end)
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
		  def str($s): if $s == "" then null else $s end;
		(if $topo == "mirror" then
		   {from: ($mfrom | split(" ")), to: $capport, to_host: $capt, to_backup: $mirdev,
		    want: lines($mwant), filters: lines($mhave), ok: ($mhave == $mwant)}
		 else null end) as $mirror
		| {prefix: $prefix,
		 topology: str($topo),
		 primary: str($prim),
		 capture_host: str($capt),
		 state: (if ([$raw[] | .exists] | any) | not then "down"
		         elif ($parts | all(.ok)) and ($mirror == null or $mirror.ok) then "up"
		         else "partial" end),
		 namespaces: ($raw | map_values({name, role, exists, pids})),
		 fenced: {pri: fenced(lines($fpri)[0]), bak: fenced(lines($fbak)[0])},
		 guest: {ip: $gip, mac: $gmac, gw: $ggw, tap: $tap,
		         attached: {pri: carrier("pri"), bak: carrier("bak")}},
		 addresses: {client: $cip, client_mac: $cmac, pri_lan: $pip, bak_lan: $bip,
		             pri_rep: $prep, bak_rep: $brep},
		 wiring: {pri_sw_port: $priport, bak_sw_port: $bakport,
		          capture_host: str($capt),
		          capture_sw_port: str($capport),
		          capture_if: (if $topo == "inline" then $inlin elif $topo == "mirror" then $mirdev else null end),
		          forward_if: (if $topo == "inline" then $inlout else null end),
		          bridge: (if $topo == "inline" then $inlbr else null end),
		          primary_uplink: str($puplink),
		          capture_xdp: (if $topo == "inline" then part($capt; $inlin).xdp
		                        elif $topo == "mirror" then part($capt; $mirdev).xdp else null end),
		          standby: lines($standby),
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
		"testbed \(.prefix): \(.state)" + (if .topology then " (topology \(.topology)" + (if .primary then ", primary=\(.primary)" else "" end) + ")" else "" end),
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
		            + (if .standby then ", standby" else "" end)
		            + (if .ok then "" else "  <-- not as planned" end)
		       end)),
		(if .topology == "inline" then
		   "  inline: switch \(.wiring.capture_sw_port) -> \(.capture_host) \(.wiring.capture_if) -[\(.wiring.bridge)]- \(.wiring.forward_if) -> \(.primary) \(.wiring.primary_uplink); rrvm backup captures on \(.wiring.capture_if), injects on \(.wiring.forward_if)"
		   + (if .wiring.capture_xdp then " (an XDP program is attached to \(.capture_host) \(.wiring.capture_if))" else " (no XDP program attached: \(.wiring.bridge) forwards everything)" end)
		 elif .topology == "mirror" then
		   "  mirror: ingress of \(.wiring.mirror.from | join(" ")), ether dst \(.guest.mac) or broadcast -> \(.wiring.mirror.to) -> \(.capture_host) \(.wiring.capture_if): "
		   + (if .wiring.mirror.ok then "tc filters as planned" else "tc filters NOT as planned  <-- not as planned" end)
		 else empty end),
		(if .primary then
		   "  primary=\(.primary): capture host \(.capture_host); pri reached through switch \(.wiring.pri_sw_port), bak through \(.wiring.bak_sw_port)"
		   + (if (.wiring.standby | length) > 0 then "; standby (down, or the switch would see a loop): \(.wiring.standby | join(", "))" else "" end)
		 else empty end),
		"  guest: \(.guest.ip) \(.guest.mac) gw \(.guest.gw) on \(.guest.tap): attached in pri: \(onoff(.guest.attached.pri)), bak: \(onoff(.guest.attached.bak))",
		"  fenced: pri \(onoff(.fenced.pri)), bak \(onoff(.fenced.bak))",
		"  client \(.addresses.client) (\(.addresses.client_mac)); hosts \(.addresses.pri_lan) (pri), \(.addresses.bak_lan) (bak); replication \(.addresses.pri_rep) <-> \(.addresses.bak_rep)"
	' <<<"$j"
}
