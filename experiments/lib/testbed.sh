# shellcheck shell=bash disable=SC2034 # TB_* are for the scripts that source this
# The rrvm network testbed: four network namespaces standing for a client, a
# switch, a primary host and a backup host on one LAN, plus a direct
# primary<->backup replication link. docs/testbed.md has the diagram.
#
# Source it from bash (it defines functions and the TB_* variables below,
# for the default prefix; call tb_set_prefix to use another one). The CLI
# is experiments/testbed (up|down|status|fence|unfence).
#
# Everything the testbed makes lives inside its own namespaces: deleting
# them removes it all (nothing is created in the caller's namespace).
# Interface names are therefore the same in every testbed; only the
# namespace names carry the prefix, so several testbeds (a user's and a
# test's private one) can coexist.
#
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
#  - Fencing a host = taking its switch port down (port-pri / port-bak in
#    the switch). The switch then flushes the FDB entries learned on that
#    port, so frames for the guest MAC are flooded and reach whichever host
#    now runs the guest. The fence is recorded in the port's alias
#    ("fenced"), so `up` leaves a fenced port down.
#
# Topologies (--topology): only "basic" (both hosts are switch ports) is
# built now. "inline" (the backup between the switch and the primary) and
# "mirror" (the switch copies client->guest frames to the backup with tc
# u32 + mirred) are placeholders for the reverse-replication issue: see
# tb_up_inline / tb_up_mirror below and docs/testbed.md.

if [ -n "${RRVM_TESTBED_SH_LOADED:-}" ]; then
	return 0
fi
RRVM_TESTBED_SH_LOADED=1

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
	return 0
}
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
tb_is_fenced() { # pri|bak
	[ "$(tb_link_alias "$TB_NS_SW" "$(tb_sw_port "$1")")" = fenced ]
}
# The topology recorded in the switch bridge's alias, or empty.
tb_topology() {
	local a
	a=$(tb_link_alias "$TB_NS_SW" "$TB_SW_BR")
	case "$a" in
	"rrvm-testbed topology="*) echo "${a#rrvm-testbed topology=}" ;;
	esac
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

# _tb_plug ROLE: veth from the switch port-ROLE to ROLE's eth0, port up
# unless fenced.
_tb_plug() {
	local role=$1 ns port mac=
	ns=$(tb_ns "$role")
	port=$(tb_sw_port "$role")
	[ "$role" = c ] && mac=$TB_CLIENT_MAC
	_tb_ensure_veth "$TB_NS_SW" "$port" "$ns" "$TB_UPLINK" ${mac:+"$mac"} || return 1
	_tb_run ip -n "$TB_NS_SW" link set "$port" master "$TB_SW_BR" || return 1
	if [ "$(tb_link_alias "$TB_NS_SW" "$port")" = fenced ]; then
		echo "testbed: $(tb_role_name "$role") is fenced; leaving $port down ('unfence $role' reconnects it)" >&2
	else
		_tb_run ip -n "$TB_NS_SW" link set "$port" up || return 1
	fi
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

tb_up_basic() {
	local r
	for r in $TB_ROLES; do
		_tb_ensure_ns "$(tb_ns "$r")" || return 1
	done
	# The switch.
	_tb_ensure_bridge "$TB_NS_SW" "$TB_SW_BR" "$TB_SW_BR_MAC" || return 1
	_tb_run ip -n "$TB_NS_SW" link set "$TB_SW_BR" alias "rrvm-testbed topology=basic" || return 1
	# Client, primary and backup on switch ports.
	for r in c pri bak; do
		_tb_plug "$r" || return 1
	done
	_tb_ensure_addr "$TB_NS_C" "$TB_UPLINK" "$TB_CLIENT_IP/$TB_LAN_PREFIX" || return 1
	_tb_host pri || return 1
	_tb_host bak || return 1
	# The replication link.
	_tb_ensure_veth "$TB_NS_PRI" "$TB_REP_DEV" "$TB_NS_BAK" "$TB_REP_DEV" || return 1
	_tb_ensure_addr "$TB_NS_PRI" "$TB_REP_DEV" "$TB_PRI_REP_IP/$TB_REP_PREFIX" || return 1
	_tb_ensure_addr "$TB_NS_BAK" "$TB_REP_DEV" "$TB_BAK_REP_IP/$TB_REP_PREFIX" || return 1
	_tb_run ip -n "$TB_NS_PRI" link set "$TB_REP_DEV" up || return 1
	_tb_run ip -n "$TB_NS_BAK" link set "$TB_REP_DEV" up
}

# Placeholders for the reverse-replication issue. They will start from
# tb_up_basic's namespaces and change only the wiring:
#  inline: pri's uplink no longer goes to the switch; the backup gets a
#          second LAN leg (bak "down0" <-> pri "eth0") and forwards
#          client<->guest frames between its switch port and down0 after
#          logging them (rrvm backup owns that path; no bridge).
#  mirror: a capture link sw "port-mir" <-> bak "mir0", and on the switch
#          `tc qdisc add dev port-c handle ffff: ingress` +
#          `tc filter add dev port-c parent ffff: protocol all prio 10 u32
#           match ether dst $TB_GUEST_MAC action mirred egress mirror dev port-mir`.
tb_up_inline() {
	echo "testbed: topology 'inline' is not implemented yet (reverse-replication issue; see docs/testbed.md)" >&2
	return 2
}
tb_up_mirror() {
	echo "testbed: topology 'mirror' is not implemented yet (reverse-replication issue; see docs/testbed.md)" >&2
	return 2
}

# tb_up [TOPOLOGY]: build (or complete) the testbed; idempotent.
tb_up() {
	local topo=${1:-basic} have
	case " $TB_TOPOLOGIES " in
	*" $topo "*) ;;
	*)
		echo "testbed: unknown topology '$topo' (one of: $TB_TOPOLOGIES)" >&2
		return 2
		;;
	esac
	# Reserved wirings are refused before anything is looked at or changed.
	case "$topo" in
	inline) tb_up_inline || return ;;
	mirror) tb_up_mirror || return ;;
	esac
	have=$(tb_topology)
	if [ -n "$have" ] && [ "$have" != "$topo" ]; then
		echo "testbed: $TB_PREFIX is up with topology '$have'; run 'down' first to change it to '$topo'" >&2
		return 1
	fi
	case "$topo" in
	basic) tb_up_basic ;;
	esac
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
# tb_fence pri|bak / tb_unfence pri|bak: take a host off the LAN (its
# switch port down) or put it back.
tb_fence() {
	local role=$1 port
	case "$role" in pri | bak) ;; *)
		echo "testbed: fence: which host? pri or bak (got '$role')" >&2
		return 2
		;;
	esac
	port=$(tb_sw_port "$role")
	if ! tb_link_exists "$TB_NS_SW" "$port"; then
		echo "testbed: $TB_PREFIX has no switch port $port (is it up?)" >&2
		return 1
	fi
	_tb_run ip -n "$TB_NS_SW" link set "$port" alias fenced || return 1
	_tb_run ip -n "$TB_NS_SW" link set "$port" down
}
tb_unfence() {
	local role=$1 port
	case "$role" in pri | bak) ;; *)
		echo "testbed: unfence: which host? pri or bak (got '$role')" >&2
		return 2
		;;
	esac
	port=$(tb_sw_port "$role")
	if ! tb_link_exists "$TB_NS_SW" "$port"; then
		echo "testbed: $TB_PREFIX has no switch port $port (is it up?)" >&2
		return 1
	fi
	# An empty alias removes it.
	_tb_run ip -n "$TB_NS_SW" link set "$port" alias "" || return 1
	_tb_run ip -n "$TB_NS_SW" link set "$port" up
}

# --------------------------------------------------------------- status
# tb_status_json: one JSON object describing what exists (needs jq).
# "state": "up" (every planned part present, up, addressed and in the right
# bridge; a fenced port counts as planned), "partial", or "down" (no
# namespace exists).
tb_status_json() {
	local r ns exists pids links addrs raw='{}' spec
	# What should exist: role dev kind master address.
	spec="c $TB_UPLINK veth - $TB_CLIENT_IP/$TB_LAN_PREFIX
sw $TB_SW_BR bridge - -
sw port-c veth $TB_SW_BR -
sw port-pri veth $TB_SW_BR -
sw port-bak veth $TB_SW_BR -
pri $TB_HOST_BR bridge - $TB_PRI_LAN_IP/$TB_LAN_PREFIX
pri $TB_UPLINK veth $TB_HOST_BR -
pri $TB_TAP tap $TB_HOST_BR -
pri $TB_REP_DEV veth - $TB_PRI_REP_IP/$TB_REP_PREFIX
bak $TB_HOST_BR bridge - $TB_BAK_LAN_IP/$TB_LAN_PREFIX
bak $TB_UPLINK veth $TB_HOST_BR -
bak $TB_TAP tap $TB_HOST_BR -
bak $TB_REP_DEV veth - $TB_BAK_REP_IP/$TB_REP_PREFIX"
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
	printf '%s' "$raw" | jq -c --arg prefix "$TB_PREFIX" --arg topo "$(tb_topology)" \
		--arg spec "$spec" \
		--arg cip "$TB_CLIENT_IP/$TB_LAN_PREFIX" --arg cmac "$TB_CLIENT_MAC" \
		--arg gip "$TB_GUEST_IP/$TB_LAN_PREFIX" --arg gmac "$TB_GUEST_MAC" --arg ggw "$TB_GUEST_GW" \
		--arg pip "$TB_PRI_LAN_IP/$TB_LAN_PREFIX" --arg bip "$TB_BAK_LAN_IP/$TB_LAN_PREFIX" \
		--arg prep "$TB_PRI_REP_IP/$TB_REP_PREFIX" --arg brep "$TB_BAK_REP_IP/$TB_REP_PREFIX" \
		--arg tap "$TB_TAP" '
		. as $raw
		| [$spec | split("\n")[] | split(" ") | select(length == 5)
		   | {role: .[0], dev: .[1], kind: .[2], want_master: .[3], want_addr: .[4]}
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
		                                  rx_bytes: $l.stats64.rx.bytes, tx_bytes: $l.stats64.tx.bytes} else null end)}
		   | .fenced = (.alias == "fenced")
		   | .ok = (.present and (.admin_up or .fenced)
		            and ($s.want_master == "-" or .master == $s.want_master)
		            and ($s.want_addr == "-" or (.addresses | index($s.want_addr) != null)))
		  ] as $parts
		| def fenced($port): ($parts | map(select(.role == "sw" and .dev == $port and .fenced)) | length > 0);
		  def carrier($r): ($parts | map(select(.role == $r and .dev == $tap)) | first | .carrier // false);
		{prefix: $prefix,
		 topology: (if $topo == "" then null else $topo end),
		 state: (if ([$raw[] | .exists] | any) | not then "down"
		         elif ($parts | all(.ok)) then "up"
		         else "partial" end),
		 namespaces: ($raw | map_values({name, role, exists, pids})),
		 fenced: {pri: fenced("port-pri"), bak: fenced("port-bak")},
		 guest: {ip: $gip, mac: $gmac, gw: $ggw, tap: $tap,
		         attached: {pri: carrier("pri"), bak: carrier("bak")}},
		 addresses: {client: $cip, client_mac: $cmac, pri_lan: $pip, bak_lan: $bip,
		             pri_rep: $prep, bak_rep: $brep},
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
		            + (if .fenced then ", FENCED" else "" end)
		            + (if .ok then "" else "  <-- not as planned" end)
		       end)),
		"  guest: \(.guest.ip) \(.guest.mac) gw \(.guest.gw) on \(.guest.tap): attached in pri: \(onoff(.guest.attached.pri)), bak: \(onoff(.guest.attached.bak))",
		"  fenced: pri \(onoff(.fenced.pri)), bak \(onoff(.fenced.bak))",
		"  client \(.addresses.client) (\(.addresses.client_mac)); hosts \(.addresses.pri_lan) (pri), \(.addresses.bak_lan) (bak); replication \(.addresses.pri_rep) <-> \(.addresses.bak_rep)"
	' <<<"$j"
}
