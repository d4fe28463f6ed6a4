#!/usr/bin/env bash
# Guest faults and bad input.
#  1. For each crash kind (null, ud, gp, div) the guest is booted with
#     `crash=KIND crash_after_ms=N`: rrvm must exit with a non-zero status
#     (1..125, i.e. not killed by a signal) no later than 1 s after the crash
#     is due, and print a line containing "RIP". The crash is due at most N ms
#     after the guest first answers ping, so the deadline is
#     t(first ping reply) + N + 1000 ms (conservative: the guest's timer
#     started before that).
#  2. Bad input: random bytes / truncated ELF / missing file as --guest, a
#     nonexistent --tap, malformed --ip and --mac: exactly one line of output,
#     non-zero status (not a signal, not a hang: 10 s limit).
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

t_init ping
t_needs_rrvm

CRASH_AFTER=${RRVM_CRASH_AFTER_MS:-1000}
crash_img=${RRVM_CRASH_IMAGE:-}
if [ -z "$crash_img" ]; then
	crash_img=$(guest_image crash)
	[ -f "$crash_img" ] || crash_img=$(guest_image kv)
fi

for kind in null ud gp div; do
	echo "  -- crash=$kind"
	guest_start "$crash_img" "crash=$kind" "crash_after_ms=$CRASH_AFTER"
	wait_for "$BOOT_TIMEOUT" --pid "$G_PID" probe_ping "$T_NS" "$G_IP"
	rc=$?
	if [ $rc = 1 ]; then
		t_check "crash=$kind: guest answered ping or exited within ${BOOT_TIMEOUT}s" false
		pid_stop "$G_PID"
		t_dump_log
		continue
	fi
	if [ $rc = 0 ]; then
		t_ready=$(now_ms)
		deadline=$((t_ready + CRASH_AFTER + 1000))
		pid_wait_ms "$G_PID" $((deadline - $(now_ms)))
		exited=$?
		t_end=$(now_ms)
		if [ $exited != 0 ]; then
			t_check "crash=$kind: rrvm exited within 1 s of the crash (still running $((t_end - t_ready)) ms after the first ping reply)" false
			pid_wait "$G_PID" 10 || pid_stop "$G_PID"
		else
			t_check "crash=$kind: rrvm exited $((t_end - t_ready)) ms after the first ping reply (limit $((CRASH_AFTER + 1000)))" true
		fi
	else
		# Exited before answering ping: it crashed during boot or the crash
		# image does not answer ping. Timing cannot be checked.
		pid_wait "$G_PID" 1
		t_info "note: rrvm exited before the guest answered ping; timing not checked"
	fi
	st=${RRVM_WAIT_RC:-none}
	t_check "crash=$kind: exit status is an error, not a signal ($st)" \
		in_range "$st" 1 125
	if grep -q 'RIP' "$G_LOG"; then
		t_check "crash=$kind: error line contains RIP: $(grep -m1 'RIP' "$G_LOG" | cut -c1-160)" true
	else
		t_check "crash=$kind: error line contains RIP" false
		t_dump_log
	fi
done

# ---------------------------------------------------------- bad input
kv=$(guest_image kv)
[ -f "$kv" ] || t_fail "guest image $kv is missing (run make)"
head -c 65536 /dev/urandom >"$T_TMP/random.elf"
head -c 200 "$kv" >"$T_TMP/truncated.elf"

# bad_input DESC ARGS...: rrvm run ARGS must fail with one line of output.
bad_input() {
	local desc=$1 out rc lines
	shift
	out=$(c_exec timeout 10 "$RRVM" run "$@" </dev/null 2>&1)
	rc=$?
	lines=$(grep -c . <<<"$out")
	echo "  -- $desc: status $rc: $(head -n 3 <<<"$out" | cut -c1-160)"
	t_check "$desc: non-zero exit, not a signal or hang ($rc)" \
		in_range "$rc" 1 123
	t_eq "$desc: exactly one line of output" 1 "$lines"
}
ok_args=(--tap tap0 --ip "$G_IP/$G_PREFIX" --mac "$G_MAC" --gw "$G_HOST_IP")
bad_input "random bytes as ELF" --guest "$T_TMP/random.elf" "${ok_args[@]}"
bad_input "truncated ELF" --guest "$T_TMP/truncated.elf" "${ok_args[@]}"
bad_input "missing guest file" --guest "$T_TMP/no-such.elf" "${ok_args[@]}"
bad_input "nonexistent tap" --guest "$kv" --tap rrvmnosuch0 --ip "$G_IP/$G_PREFIX" --mac "$G_MAC"
for ip in 10.77.0.256/24 not-an-ip 10.77.0.2/33 10.77.0/24; do
	bad_input "bad --ip $ip" --guest "$kv" --tap tap0 --ip "$ip" --mac "$G_MAC"
done
for mac in 52:54:00:77:00 zz:54:00:77:00:02 52:54:00:77:00:02:03 52-54-00-77-00-0; do
	bad_input "bad --mac $mac" --guest "$kv" --tap tap0 --ip "$G_IP/$G_PREFIX" --mac "$mac"
done
t_finish
