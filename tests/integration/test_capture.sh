#!/usr/bin/env bash
# The backup's capture backends (backup/capture_*.c, docs/capture.md) on a
# veth between two namespaces of our own; no VM, no rrvm binary. A small
# driver, build/tests/capture_probe (tests/integration/capture_probe.c,
# built here), opens a backend on B's end while A sends numbered frames
# from a packet socket (the same driver, `send`):
#
#   A: a0 02:77:00:00:00:0a  <--veth-->  b0 (B): capture for the guest MAC
#   A: a1 (4 queues)         <--veth-->  b1 (B): multi-queue XDP
#   A: a2 (XDP_PASS: NAPI)   <--veth-->  b2 (B): ringbuf forwards b0 -> b2
#
# 1. Exactness (RRVM_CAPTURE_EXACT guest frames, default 2,000, paced),
#    for ringbuf, xdp skb, xdp native and pcap: every guest frame exactly
#    once, in order; none of the frames for another MAC; broadcast ARP for
#    the guest IP only (or every broadcast without --guest-ip); stats
#    consistent. xdp and ringbuf steal (a tcpdump on b0 sees none of the
#    guest frames), pcap copies (it sees them all). inject: A receives
#    every injected frame (XSK TX ring, pcap_inject, and a packet socket
#    with --inject-if). ringbuf forwarding (inline): a2 receives exactly
#    the frames captured, in the kernel (XDP_REDIRECT b0 -> b2).
# 1b. ringbuf, nothing forwarded unlogged: with the reader stalled and a
#    64 KiB ring, frames that find the ring full are dropped, not
#    forwarded (a2 gets exactly what was captured); with a grant of N
#    frames (the consumer's room), exactly N are logged and forwarded and
#    the rest held back.
# 2. Throughput: RRVM_CAPTURE_FRAMES (default 100,000) small frames at full
#    speed per backend: frames/s and drops, reported, not asserted (and
#    appended as CSV rows to $RRVM_CAPTURE_CSV if set: time, run, backend,
#    mode, frames sent, send rate, captured, frames/s, reader CPU ns per
#    frame, matched, drops
#    kernel/user/iface, link drops). Drop
#    accounting: the same burst while the reader sleeps must be accounted
#    for frame by frame (matched == delivered + dropped).
# 3. auto picks ringbuf (xdp without its object, pcap without either);
#    ringbuf refuses an MTU its records cannot hold (auto then takes xdp);
#    multi-queue (one socket per queue) captures all.
# 4. Failure modes: a second capture on the same interface is refused; a
#    program left by a killed (-9) capture is replaced by the next one;
#    somebody else's XDP program is not replaced (auto falls back to pcap);
#    a missing BPF object; pcap refuses to "steal" on a bridge port; no
#    such interface. After every xdp run no XDP program is left on b0; xdp
#    keeps the interface promiscuous while open, and not after a crash.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

GUEST_MAC=52:54:00:77:00:02
GUEST_IP=10.77.0.2
SRC_MAC=02:77:00:00:00:0a
OTHER_MAC=02:00:00:00:00:99
INJ_MAC=02:00:00:00:00:aa
N_EXACT=${RRVM_CAPTURE_EXACT:-2000}
N_FAST=${RRVM_CAPTURE_FRAMES:-100000}
N_OTHER=$((N_EXACT / 2))
N_ARP=50
N_INJ=200
BUILD_DIR=$ROOT/build/tests
PROBE=$BUILD_DIR/capture_probe            # -O2: throughput
PROBE_ASAN=$BUILD_DIR/capture_probe.asan  # ASan/UBSan: everything else
# Found by the backends themselves: bpf/ next to the executable.
BPF_OBJ=$BUILD_DIR/bpf/capture_xdp.bpf.o
RB_OBJ=$BUILD_DIR/bpf/capture_ringbuf.bpf.o
PASS_OBJ=$BUILD_DIR/bpf/xdp_pass.bpf.o

# ------------------------------------------------------------- setup
is_root || t_skip "needs root (network namespaces, XDP, packet sockets)"
for t in ip gcc clang pkg-config tcpdump jq; do
	command -v "$t" >/dev/null 2>&1 || t_fail "required tool '$t' is not installed (make deps)"
done
pkg-config --exists libxdp libbpf libpcap ||
	t_fail "libxdp/libbpf/libpcap development files are missing (make deps)"
rrvm_trap_cleanup
tmpdir_create T_TMP

# Build the BPF object and the driver here, so the test needs no Makefile
# rule. Each goes to a temporary name first: a failed build leaves no
# stale binary behind.
mkdir -p "$BUILD_DIR/bpf" || t_fail "cannot create $BUILD_DIR/bpf"
for obj in "$BPF_OBJ" "$RB_OBJ" "$PASS_OBJ"; do
	src=backup/bpf/$(basename "$obj" .o).c
	if ! out=$(cd "$ROOT" && clang -O2 -g -mcpu=v3 -target bpf -I/usr/include/x86_64-linux-gnu \
		-I. -c "$src" -o "$obj.tmp.$$" 2>&1); then
		rm -f "$obj.tmp.$$"
		t_fail "building $src failed: $out"
	fi
	mv -f "$obj.tmp.$$" "$obj" || t_fail "cannot install $obj"
done
CFLAGS=(-std=gnu11 -g -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
	-D_GNU_SOURCE -Iinclude -I.)
SRCS=(tests/integration/capture_probe.c backup/capture.c backup/capture_prog.c
	backup/capture_xdp.c backup/capture_ringbuf.c backup/capture_pcap.c common/log.c)
read -r -a LIBS <<<"$(pkg-config --libs libxdp libbpf libpcap)"
build() { # OUT FLAGS...
	local dst=$1 out
	shift
	if ! out=$(cd "$ROOT" && gcc "${CFLAGS[@]}" "$@" -o "$dst.tmp.$$" \
		"${SRCS[@]}" "${LIBS[@]}" 2>&1); then
		rm -f "$dst.tmp.$$"
		t_fail "building $(basename "$dst") failed: $out"
	fi
	mv -f "$dst.tmp.$$" "$dst" || t_fail "cannot install $dst"
}
build "$PROBE" -O2
build "$PROBE_ASAN" -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
t_info "built $(basename "$PROBE"), $(basename "$PROBE_ASAN") and the BPF objects in ${BUILD_DIR#"$ROOT/"}"

ns_create NS_A a
ns_create NS_B b
for ns in "$NS_A" "$NS_B"; do
	# No IPv6: nothing but our frames on the link (the XDP counters and
	# the "nothing else captured" checks are exact).
	ns_exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1
done
setup_links() {
	ip -n "$NS_A" link add a0 type veth peer name b0 netns "$NS_B" &&
		ip -n "$NS_A" link set a0 address "$SRC_MAC" up &&
		ip -n "$NS_B" link set b0 up &&
		ip -n "$NS_A" link add a1 numtxqueues 4 numrxqueues 4 type veth \
			peer name b1 netns "$NS_B" numtxqueues 4 numrxqueues 4 &&
		ip -n "$NS_A" link set a1 address "$SRC_MAC" up &&
		ip -n "$NS_B" link set b1 up &&
		ip -n "$NS_A" link add a2 type veth peer name b2 netns "$NS_B" &&
		ip -n "$NS_A" link set a2 up &&
		ip -n "$NS_B" link set b2 up &&
		# b2 takes XDP_REDIRECTed frames only if its peer runs NAPI.
		ip -n "$NS_A" link set dev a2 xdpdrv obj "$PASS_OBJ" sec xdp
}
setup_links || t_fail "cannot build the veth links"
# Predicates for wait_for / t_check (called indirectly).
# shellcheck disable=SC2317
link_up() { ip -n "$NS_B" link show "$1" | grep -q LOWER_UP; }
# shellcheck disable=SC2317
xdp_attached() { ip -n "$NS_B" link show "${1:-b0}" | grep -q 'prog/xdp'; }
# shellcheck disable=SC2317
no_xdp_left() { ! xdp_attached "$@"; }
if ! wait_for 10 link_up b0 || ! wait_for 10 link_up b1 || ! wait_for 10 link_up b2; then
	t_fail "the veths have no carrier"
fi

# ------------------------------------------------------------ helpers
indent() { sed "s/^/  | ${1:-}/"; }
# kv KEY LINE: the value of KEY=VALUE in LINE (empty if absent).
kv() { grep -oE "(^| )$1=[^ ]*" <<<"$2" | head -n 1 | cut -d= -f2; }
# a0's transmit drops: frames the veth itself lost (not the capture's).
link_drops() { ip -j -s -n "$NS_A" link show a0 | jq '.[0].stats64.tx.dropped'; }

# probe_start NAME [probe options] BACKEND IFNAME COUNT: the capture in B,
# in the background; waits until it is ready (or has exited). Sets P_OUT,
# P_ERR, P_PID.
P_N=0
probe_start() {
	local name=$1 bin=$PROBE_ASAN ready
	shift
	[ "${FAST:-0}" = 1 ] && bin=$PROBE
	P_N=$((P_N + 1))
	P_OUT=$T_TMP/$P_N.$name.out
	P_ERR=$T_TMP/$P_N.$name.err
	ready=$T_TMP/$P_N.$name.ready
	local args=("$@")
	local n=${#args[@]}
	# The last three are BACKEND IFNAME COUNT: the guest MAC goes between.
	# shellcheck disable=SC2016 # $1 and $@ expand in the inner sh
	ns_bg "$NS_B" "$P_ERR" sh -c 'out=$1; shift; exec "$@" >"$out"' sh "$P_OUT" "$bin" \
		--ready-file "$ready" "${args[@]:0:n-3}" "${args[n-3]}" \
		"${args[n-2]}" "$GUEST_MAC" "${args[n-1]}"
	P_PID=$RRVM_LAST_PID
	T_EXTRA_LOGS=("$P_ERR")
	wait_for 20 --pid "$P_PID" test -s "$ready"
}
# probe_end: wait for the probe's result line; sets RES (and RC).
probe_end() {
	if ! pid_wait "$P_PID" 60; then
		pid_stop "$P_PID" 2
		RES=
		RC=timeout
		return 1
	fi
	RC=$RRVM_WAIT_RC
	RES=$(grep '^result ' "$P_OUT" | tail -n 1)
	[ -n "$RES" ]
}
# probe_run NAME [probe options] BACKEND IFNAME COUNT: start and wait (no
# traffic): for the failure cases. Sets RES, RC, and ERRS (its log).
probe_run() {
	probe_start "$@"
	probe_end
	ERRS=$(grep -v ': debug: ' "$P_ERR")
}
# send IFNAME COUNT [send options]: A sends; sets SENT.
send() {
	local ifname=$1 count=$2
	shift 2
	SENT=$(ns_exec "$NS_A" timeout 60 "$PROBE" send "$@" "$ifname" \
		"$SRC_MAC" "$GUEST_MAC" "$count" 2>&1)
}

# tcpdump_start NS IFNAME FILTER: a capture to check what else saw the
# frames. -s/-B: libpcap's immediate mode uses snaplen-sized ring slots.
TD_PID=
tcpdump_start() {
	TD_PCAP=$T_TMP/td.$P_N.$1.pcap
	ns_bg "$1" "$T_TMP/td.$P_N.log" tcpdump -n -i "$2" -s 128 -B 8192 \
		--immediate-mode -U -Z root -w "$TD_PCAP" "$3"
	TD_PID=$RRVM_LAST_PID
	wait_for 10 --pid "$TD_PID" grep -q 'listening on' "$T_TMP/td.$P_N.log" ||
		t_fail "tcpdump did not start: $(cat "$T_TMP/td.$P_N.log")"
}
# tcpdump_count [FILTER]: stop it; frames in its file (matching FILTER).
tcpdump_count() {
	sleep 0.2
	pid_stop "$TD_PID" 5
	TD_PID=
	tcpdump -n -r "$TD_PCAP" "$@" 2>/dev/null | grep -c '^[0-9]'
}

# ------------------------------------------------- 1. exactness
# exact NAME BACKEND MODE GUEST_IP(0|1) INJECT(xsk|pcap|psock|fwd|none) TD(steal|copy|none)
# (fwd: ringbuf forwards each logged frame to b2 itself; a2 must get them)
exact() {
	local name=$1 be=$2 mode=$3 use_ip=$4 inj=$5 td=$6
	# --stats-hz: a second thread reads the stats meanwhile, as the
	# backup's control socket does.
	local opts=(--idle-ms 2000 --linger-ms 300 --stats-hz 200)
	[ -n "$mode" ] && opts+=(--xdp-mode "$mode")
	local want_arp_other=$N_ARP want_bcast=$N_ARP rows
	[ "$use_ip" = 1 ] && opts+=(--guest-ip "$GUEST_IP") && want_arp_other=0 && want_bcast=0
	case "$inj" in
	none) ;;
	fwd) opts+=(--steal --inject-if b2) ;;
	*) opts+=(--inject "$N_INJ" --inject-dst "$INJ_MAC") ;;
	esac
	[ "$inj" = psock ] && opts+=(--inject-if b0)
	[ "$be" = xdp ] && [ "$td" = steal ] && opts+=(--steal)
	t_info "--- $name: $be${mode:+ ($mode)}, $N_EXACT guest + $N_OTHER other + 2x$N_ARP ARP + $N_ARP broadcast frames at 20,000/s"
	if [ "$inj" = fwd ]; then
		tcpdump_start "$NS_A" a2 "ether dst $GUEST_MAC or ether broadcast"
	elif [ "$inj" != none ]; then
		tcpdump_start "$NS_A" a0 "ether dst $INJ_MAC"
	fi
	[ "$td" != none ] && {
		local td_a_pid=$TD_PID td_a_pcap=$TD_PCAP
		tcpdump_start "$NS_B" b0 "ether proto 0x88b5"
		local td_b_pid=$TD_PID td_b_pcap=$TD_PCAP
	}
	probe_start "$name" "${opts[@]}" "$be" b0 $((N_EXACT + N_ARP * (use_ip ? 1 : 3))) ||
		t_fail "$name: the probe did not start: $(tail -n 5 "$P_ERR")"
	send a0 "$N_EXACT" --pps 20000 --other "$N_OTHER" --other-mac "$OTHER_MAC" \
		--arp "$N_ARP" --bcast "$N_ARP" --guest-ip "$GUEST_IP"
	indent "send: " <<<"$SENT"
	probe_end || t_fail "$name: no result from the probe (exit ${RC:-?})"
	indent "probe: " <<<"$RES"
	grep -E ': (warn|error|info): ' "$P_ERR" | indent "log: "
	t_eq "$name: backend" "$be" "$(kv backend "$RES")"
	t_eq "$name: every guest frame once" "$N_EXACT" "$(kv guest "$RES")"
	t_eq "$name: no guest frame missing" 0 "$(kv seq_missing "$RES")"
	t_eq "$name: no guest frame duplicated or reordered" 0 "$(kv seq_dup "$RES")"
	t_eq "$name: no frame for the other MAC" 0 "$(kv other "$RES")"
	t_eq "$name: broadcast ARP for the guest IP" "$N_ARP" "$(kv arp_guest "$RES")"
	t_eq "$name: broadcast ARP for another IP" "$want_arp_other" "$(kv arp_other "$RES")"
	t_eq "$name: other broadcasts" "$want_bcast" "$(kv bcast "$RES")"
	t_eq "$name: nothing else" 0 "$(kv foreign "$RES")"
	t_eq "$name: time stamps are real time" 0 "$(kv ts_bad "$RES")"
	t_eq "$name: matched == delivered" "$(kv frames "$RES")" "$(kv matched "$RES")"
	t_eq "$name: no drops (kernel, user)" "0 0" "$(kv drops_kernel "$RES") $(kv drops_user "$RES")"
	t_check "$name: stats were read concurrently ($(kv stats_reads "$RES") times)" \
		in_range "$(kv stats_reads "$RES")" 1 1000000
	if [ "$be" = xdp ] || [ "$be" = ringbuf ]; then
		t_eq "$name: the program saw the rest (filtered)" \
			$((N_OTHER + (use_ip ? 2 * N_ARP : 0))) "$(kv filtered "$RES")"
		t_check "$name: no XDP program left on b0" no_xdp_left b0
	fi
	if [ "$td" != none ]; then
		TD_PID=$td_b_pid TD_PCAP=$td_b_pcap
		rows=$(tcpdump_count "ether dst $GUEST_MAC")
		if [ "$td" = steal ]; then
			t_eq "$name: stolen: the kernel (tcpdump on b0) saw no guest frame" 0 "$rows"
		else
			t_eq "$name: copied: the kernel (tcpdump on b0) saw every guest frame" "$N_EXACT" "$rows"
		fi
		TD_PID=$td_a_pid TD_PCAP=$td_a_pcap
	fi
	if [ "$inj" = fwd ]; then
		local fwd_want=$((N_EXACT + N_ARP))
		t_eq "$name: the kernel forwarded every logged frame" "$fwd_want 0" \
			"$(kv forwarded "$RES") $(kv forward_errors "$RES")"
		t_eq "$name: a2 received them (b0 -> b2 by XDP_REDIRECT)" "$fwd_want" "$(tcpdump_count)"
	elif [ "$inj" != none ]; then
		t_eq "$name: inject ($inj) accepted $N_INJ frames" "$N_INJ" "$(kv injected "$RES")"
		t_eq "$name: A received every injected frame" "$N_INJ" "$(tcpdump_count)"
	fi
}

exact ringbuf-fwd ringbuf native 1 fwd steal
exact ringbuf-mirror ringbuf native 1 psock steal
exact ringbuf-allbcast ringbuf auto 0 none none
exact xdp-skb xdp skb 1 xsk steal
exact xdp-native xdp native 1 psock none
exact pcap pcap "" 1 pcap copy
exact xdp-allbcast xdp auto 0 none none
exact pcap-allbcast pcap "" 0 none none

# -------------------------------------------------- 2. throughput
BENCH=()
SUMMARY=
# fast NAME BACKEND MODE [probe options]: N_FAST guest frames (and a tenth
# as many for another MAC) at full speed.
fast() {
	local name=$1 be=$2 mode=$3 ld0 ld1 lost
	shift 3
	ld0=$(link_drops)
	FAST=1 probe_start "$name" --xdp-mode "${mode:-auto}" --idle-ms 2000 \
		--linger-ms 200 "$@" "$be" b0 "$N_FAST" ||
		t_fail "$name: the probe did not start: $(tail -n 5 "$P_ERR")"
	send a0 "$N_FAST" --other $((N_FAST / 10)) --other-mac "$OTHER_MAC"
	indent "send: " <<<"$SENT"
	probe_end || t_fail "$name: no result from the probe (exit ${RC:-?})"
	indent "probe: " <<<"$RES"
	ld1=$(link_drops)
	lost=$((ld1 - ld0))
	local fr mt dk du hd
	fr=$(kv frames "$RES") mt=$(kv matched "$RES")
	dk=$(kv drops_kernel "$RES") du=$(kv drops_user "$RES") hd=$(kv held "$RES")
	t_eq "$name: accounting: matched == delivered + dropped + held" "$mt" "$((fr + dk + du + hd))"
	t_eq "$name: every frame the link delivered was matched" "$((N_FAST - lost))" "$mt"
	t_eq "$name: nothing else captured" "0 0" "$(kv other "$RES") $(kv foreign "$RES")"
	[ "$be" != pcap ] && t_check "$name: no XDP program left on b0" no_xdp_left b0
	FAST_LINE="$name: sent $(kv pps "$SENT") frames/s; captured $fr of $N_FAST at $(kv fps "$RES") frames/s, reader CPU $(kv cpu_ns_per_frame "$RES") ns/frame; drops kernel $dk, user $du, iface $(kv drops_iface "$RES"), link $lost"
	FAST_FPS=$(kv fps "$RES")
	t_info "$FAST_LINE"
	# For make bench: one CSV row per run when asked.
	[ -n "${RRVM_CAPTURE_CSV:-}" ] &&
		echo "$(date +%s),$name,$be,${mode:-},$N_FAST,$(kv pps "$SENT"),$fr,$(kv fps "$RES"),$(kv cpu_ns_per_frame "$RES"),$mt,$dk,$du,$(kv drops_iface "$RES"),$lost" \
			>>"$RRVM_CAPTURE_CSV"
}

t_info "--- throughput: $N_FAST small frames at full speed (numbers, not asserts)"
for spec in "ringbuf ringbuf native" "xdp-skb xdp skb" "xdp-native xdp native" "pcap pcap"; do
	read -r name be mode <<<"$spec"
	fast "$name" "$be" "$mode"
	BENCH+=("$FAST_LINE")
	SUMMARY+="${SUMMARY:+, }$name $FAST_FPS/s"
done
t_info "--- drop accounting: the same burst while the reader sleeps 1.5 s"
for spec in "ringbuf ringbuf native --ring-bytes 1048576" "xdp-native xdp native" "pcap pcap"; do
	read -r name be mode extra <<<"$spec"
	# shellcheck disable=SC2086 # extra: options, word-split on purpose
	fast "$name-stalled" "$be" "$mode" --delay-ms 1500 $extra
	BENCH+=("$FAST_LINE (reader stalled: the rate is how fast it drains)")
done

# ------------------------------- 1b. ringbuf: nothing forwarded unlogged
# fwd_run NAME COUNT [probe options]: ringbuf forwarding b0 -> b2 while A
# sends COUNT guest frames at full speed; a2 must get exactly the frames
# the probe captured. Sets RES, FWD_SEEN.
fwd_run() {
	local name=$1 count=$2
	shift 2
	tcpdump_start "$NS_A" a2 "ether dst $GUEST_MAC"
	FAST=1 probe_start "$name" --xdp-mode native --steal --inject-if b2 \
		--idle-ms 2000 --linger-ms 200 --timeout-ms 8000 "$@" ringbuf b0 "$count" ||
		t_fail "$name: the probe did not start: $(tail -n 5 "$P_ERR")"
	send a0 "$count"
	indent "send: " <<<"$SENT"
	probe_end || t_fail "$name: no result from the probe (exit ${RC:-?})"
	indent "probe: " <<<"$RES"
	FWD_SEEN=$(tcpdump_count)
}
t_info "--- ringbuf, full ring: reader stalled 1.5 s, 64 KiB ring, $N_FAST frames"
ld0=$(link_drops)
fwd_run rb-full "$N_FAST" --ring-bytes 65536 --delay-ms 1500
lost=$(( $(link_drops) - ld0 ))
cap=$(kv frames "$RES")
t_check "rb-full: the ring filled (kernel drops $(kv drops_kernel "$RES"))" \
	in_range "$(kv drops_kernel "$RES")" 1 "$N_FAST"
t_eq "rb-full: every frame the link delivered accounted for (captured + ring full)" \
	"$((N_FAST - lost))" "$((cap + $(kv drops_kernel "$RES")))"
t_eq "rb-full: forwarded == captured (nothing forwarded unlogged)" "$cap" "$(kv forwarded "$RES")"
# a2 may itself drop a few of a burst; it must never see more than was logged.
t_check "rb-full: a2 received the captured frames, no more ($FWD_SEEN of $cap)" \
	in_range "$FWD_SEEN" $((cap * 9 / 10)) "$cap"
t_eq "rb-full: captured in order, none twice, none left behind" "0 0" \
	"$(kv seq_dup "$RES") $(kv pending "$RES")"
t_info "--- ringbuf, the consumer's room: a grant of 300 frames, 2,000 sent"
fwd_run rb-grant 2000 --grant 300
t_eq "rb-grant: exactly the granted frames logged and forwarded" "300 300" \
	"$(kv frames "$RES") $(kv forwarded "$RES")"
t_eq "rb-grant: the rest held back, not forwarded" 1700 "$(kv held "$RES")"
t_eq "rb-grant: a2 received only those" 300 "$FWD_SEEN"
t_eq "rb-grant: the first 300, in order" "0 0" "$(kv seq_missing "$RES") $(kv seq_dup "$RES")"
t_check "rb-grant: no XDP program left on b0" no_xdp_left b0

# ------------------------------------------- 3. auto, multi-queue
t_info "--- auto"
probe_run auto --timeout-ms 200 auto b0 1
t_eq "auto: picks ringbuf" ringbuf "$(kv backend "$RES")"
t_check "auto: no XDP program left on b0" no_xdp_left b0
probe_run auto-no-rb --ringbuf-obj /nonexistent/capture_ringbuf.bpf.o --timeout-ms 200 auto b0 1
t_eq "auto without the ringbuf object: picks xdp" xdp "$(kv backend "$RES")"
t_info "--- an MTU a ring record cannot hold"
ip -n "$NS_B" link set dev b0 mtu 4000 || t_fail "cannot set b0's MTU"
probe_run rb-mtu --timeout-ms 200 ringbuf b0 1
t_eq "ringbuf at MTU 4000: refused (EMSGSIZE)" -90 "$(kv error "$RES")"
t_check "ringbuf at MTU 4000: says why" matches "$ERRS" "do not fit"
probe_run rb-mtu-auto --timeout-ms 200 auto b0 1
t_eq "auto at MTU 4000: falls back to xdp" xdp "$(kv backend "$RES")"
ip -n "$NS_B" link set dev b0 mtu 1500 || t_fail "cannot restore b0's MTU"

t_info "--- multi-queue: b1 has 4 receive queues, two senders on two CPUs"
probe_start mq --xdp-mode native --idle-ms 2000 --linger-ms 200 xdp b1 $((2 * N_EXACT)) ||
	t_fail "mq: the probe did not start: $(tail -n 5 "$P_ERR")"
# Native XDP on veth: a frame lands on the queue of the CPU that sent it.
ncpu=$(nproc)
senders=()
for c in 0 1; do
	ns_exec "$NS_A" taskset -c $((c % ncpu)) "$PROBE" send --pps 20000 a1 "$SRC_MAC" \
		"$GUEST_MAC" "$N_EXACT" >"$T_TMP/mq.send.$c" 2>&1 &
	senders+=($!)
done
wait "${senders[@]}"
probe_end || t_fail "mq: no result from the probe (exit ${RC:-?})"
indent "probe: " <<<"$RES"
perq=$(grep -o 'per queue:.*' "$P_ERR")
t_info "multi-queue split: $perq"
t_check "mq: 4 queues bound" matches "$(grep -o '[0-9]* queues' "$P_ERR")" '^4 queues$'
t_eq "mq: every frame from both senders" $((2 * N_EXACT)) "$(kv guest "$RES")"
t_eq "mq: no drops" "0 0" "$(kv drops_kernel "$RES") $(kv drops_user "$RES")"
t_check "mq: no XDP program left on b1" no_xdp_left b1

# -------------------------------------------------- 4. failure modes
t_info "--- a second capture on the same interface"
probe_start holder --steal --timeout-ms 60000 xdp b0 1000000 ||
	t_fail "holder: the probe did not start: $(tail -n 5 "$P_ERR")"
HOLDER_PID=$P_PID
promiscuity() { ip -d -n "$NS_B" link show "$1" | grep -oE 'promiscuity [0-9]+' | cut -d' ' -f2; }
t_eq "xdp holds b0 promiscuous while it runs" 1 "$(promiscuity b0)"
probe_run second --timeout-ms 200 xdp b0 1
t_eq "second xdp capture on b0: refused (EBUSY)" -16 "$(kv error "$RES")"
t_check "second: says who holds it" matches "$ERRS" "already captured by process $HOLDER_PID"
probe_run second-rb --timeout-ms 200 ringbuf b0 1
t_eq "a ringbuf capture on b0 beside it: refused (EBUSY)" -16 "$(kv error "$RES")"

t_info "--- the holder is killed (-9): its program stays; the next open replaces it"
kill -KILL "$HOLDER_PID"
pid_wait "$HOLDER_PID" 5 2>/dev/null # (no "Killed" job notice)
t_check "after kill -9 the program is still attached" xdp_attached b0
t_eq "after kill -9 b0 is no longer promiscuous (the kernel dropped the hold)" 0 "$(promiscuity b0)"
probe_run after-kill --timeout-ms 200 xdp b0 1
t_eq "after kill -9: xdp opens" xdp "$(kv backend "$RES")"
t_check "after kill -9: the stale program was replaced" matches "$ERRS" "replacing a stale capture program"
t_check "after kill -9: closed cleanly, nothing left" no_xdp_left b0

t_info "--- somebody else's XDP program"
cat >"$T_TMP/other.bpf.c" <<'EOF'
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp") int other_pass(struct xdp_md *ctx) { return XDP_PASS; }
char _license[] SEC("license") = "GPL";
EOF
clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -c "$T_TMP/other.bpf.c" \
	-o "$T_TMP/other.bpf.o" || t_fail "cannot build the foreign XDP program"
ip -n "$NS_B" link set dev b0 xdpgeneric obj "$T_TMP/other.bpf.o" sec xdp ||
	t_fail "cannot attach the foreign XDP program"
probe_run foreign --timeout-ms 200 xdp b0 1
t_eq "foreign program: xdp refuses (EBUSY)" -16 "$(kv error "$RES")"
t_check "foreign program: says so" matches "$ERRS" "already has an XDP program \\(other_pass"
probe_run foreign-rb --timeout-ms 200 ringbuf b0 1
t_eq "foreign program: ringbuf refuses (EBUSY)" -16 "$(kv error "$RES")"
probe_run foreign-auto --timeout-ms 200 auto b0 1
t_eq "foreign program: auto falls back to pcap" pcap "$(kv backend "$RES")"
t_check "foreign program: left in place" matches "$(ip -n "$NS_B" link show b0)" 'name other_pass'
ip -n "$NS_B" link set dev b0 xdpgeneric off || t_fail "cannot detach the foreign program"

t_info "--- a missing BPF object"
probe_run no-obj --xdp-obj /nonexistent/capture_xdp.bpf.o --timeout-ms 200 xdp b0 1
t_eq "missing object: xdp fails (ENOENT)" -2 "$(kv error "$RES")"
probe_run no-obj-auto --xdp-obj /nonexistent/capture_xdp.bpf.o \
	--ringbuf-obj /nonexistent/capture_ringbuf.bpf.o --timeout-ms 200 auto b0 1
t_eq "missing objects: auto falls back to pcap" pcap "$(kv backend "$RES")"

t_info "--- steal on a bridge port"
if ! ip -n "$NS_B" link add br0 type bridge || ! ip -n "$NS_B" link set b0 master br0; then
	t_fail "cannot bridge b0"
fi
probe_run pcap-steal --steal --timeout-ms 200 pcap b0 1
t_eq "pcap --steal on a bridge port: refused (EOPNOTSUPP)" -95 "$(kv error "$RES")"
t_check "pcap --steal: says why" matches "$ERRS" "bridge port"
probe_run pcap-copy --timeout-ms 200 pcap b0 1
t_eq "pcap without --steal on a bridge port: opens" pcap "$(kv backend "$RES")"
probe_run xdp-steal --steal --timeout-ms 200 xdp b0 1
t_eq "xdp --steal on a bridge port: opens" xdp "$(kv backend "$RES")"
ip -n "$NS_B" link set b0 nomaster && ip -n "$NS_B" link del br0

t_info "--- no such interface"
for be in xdp pcap; do
	probe_run "nodev-$be" --timeout-ms 200 "$be" rrvmnosuch0 1
	t_eq "$be on a missing interface: ENODEV" -19 "$(kv error "$RES")"
	t_eq "$be on a missing interface: exit status 1" 1 "$RC"
done

t_info "--- capture frames/s (frames of 60 bytes; 'sent' is the sender's rate, which bounds the rest)"
for l in "${BENCH[@]}"; do
	t_info "$l"
done
t_finish "exact on ringbuf, xdp skb/native and pcap; nothing forwarded unlogged; $N_FAST frames captured at $SUMMARY"
