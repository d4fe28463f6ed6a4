#!/usr/bin/env bash
# `rrvm ctl SOCKET status|stats [--json]` against a running kv guest:
# human forms exit 0 with output (status mentions "running"); JSON forms are
# valid, carry every documented field as a number, state "running", and the
# counters and uptime grow after traffic. Errors: a nonexistent socket, a
# path that is not a socket and the socket of a monitor that has exited give
# a one-line error and a non-zero status (no hang).
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

t_init jq ping
t_needs_rrvm
guest_boot kv

t_check "control socket $G_CTL exists" wait_for 5 test -S "$G_CTL"

out=$(ctl "$G_CTL" status 2>&1)
t_eq "status: exit status" 0 "$?"
echo "$out" | sed 's/^/  | /'
t_check "status: mentions running" grep -qi running <<<"$out"

out=$(ctl "$G_CTL" stats 2>&1)
t_eq "stats: exit status" 0 "$?"
echo "$out" | sed 's/^/  | /'
# Text form: "label: value" lines, sections indented under "exits:" and
# "net:"; the guest has run, so it has exited to the VMM at least once.
t_check "stats: has an exits section" grep -q '^exits:$' <<<"$out"
t_check "stats: exits total is a positive count" \
	grep -Eq '^  total: +[1-9][0-9]*$' <<<"$out"
t_check "stats: has a net section with rx frames" grep -Eq '^  rx frames: +[0-9]+$' <<<"$out"

sj1=$(ctl "$G_CTL" status --json 2>&1)
t_eq "status --json: exit status" 0 "$?"
echo "$sj1" | sed 's/^/  | /'
t_check "status --json: valid JSON object" json_true "$sj1" 'type == "object"'
t_check "status --json: state is running" json_true "$sj1" '.state == "running"'
t_check "status --json: uptime_s is a number > 0" json_true "$sj1" '(.uptime_s | type) == "number" and .uptime_s > 0'

fields=(.uptime_s .exits.total .exits.io .exits.wait .exits.console .exits.other
	.net.rx_frames .net.rx_bytes .net.tx_frames .net.tx_bytes
	.net.rx_dropped .net.tx_dropped .wait_calls)
st1=$(ctl "$G_CTL" stats --json 2>&1)
t_eq "stats --json: exit status" 0 "$?"
echo "$st1" | sed 's/^/  | /'
t_check "stats --json: valid JSON object" json_true "$st1" 'type == "object"'
t_check "stats --json: state is running" json_true "$st1" '.state == "running"'
for f in "${fields[@]}"; do
	t_check "stats --json: $f is a number >= 0" json_true "$st1" "($f | type) == \"number\" and $f >= 0"
done
t_check "stats --json: exits.total >= exits.wait" json_true "$st1" '.exits.total >= .exits.wait'

c_exec ping -n -q -c 5 -i 0.2 -W 2 "$G_IP" >/dev/null 2>&1
sleep 0.2
st2=$(ctl "$G_CTL" stats --json 2>&1)
t_eq "stats --json after traffic: exit status" 0 "$?"
# shellcheck disable=SC2317 # called through t_check
grow() { # FIELD MIN_DELTA
	jq -n -e --argjson a "$st1" --argjson b "$st2" "(\$b$1 - \$a$1) >= $2" >/dev/null 2>&1
}
t_check "uptime_s grew" grow .uptime_s 0.2
t_check "exits.total grew" grow .exits.total 1
t_check "net.rx_frames grew by >= 5 (5 pings)" grow .net.rx_frames 5
t_check "net.tx_frames grew by >= 5 (5 replies)" grow .net.tx_frames 5
t_check "net.rx_bytes grew by >= 5 x 98" grow .net.rx_bytes 490
t_check "net.tx_bytes grew by >= 5 x 98" grow .net.tx_bytes 490

# ---------------------------------------------------------- checkpoint-probe
# Structure, not timing: this host is too noisy for timed asserts.
pj=$(ctl "$G_CTL" checkpoint-probe 5 20 --json)
t_check "checkpoint-probe --json: 5 epochs" json_true "$pj" '.epochs == 5'
t_check "checkpoint-probe --json: a pause was measured" json_true "$pj" '.pause_us.median > 0'
t_check "checkpoint-probe --json: the achieved period is reported" json_true "$pj" '.period_ms > 0'
t_check "checkpoint-probe --json: encoded <= uncompressed bytes" json_true "$pj" '.encoded_bytes <= .uncompressed_bytes'
pt=$(ctl "$G_CTL" checkpoint-probe 3 10)
t_check "checkpoint-probe text: names the achieved period" grep -q "achieved" <<<"$pt"
ctl_error_out=$(timeout 10 "$RRVM" ctl "$G_CTL" checkpoint-probe 0 10 2>&1)
t_check "checkpoint-probe 0 epochs is refused" test $? -ne 0

# ---------------------------------------------------------- errors
# ctl_error DESC SOCKET ARGS...: must fail with one line, no hang.
ctl_error() {
	local desc=$1 out rc
	shift
	out=$(timeout 10 "$RRVM" ctl "$@" </dev/null 2>&1)
	rc=$?
	echo "  -- $desc: status $rc: $(head -n 3 <<<"$out" | cut -c1-160)"
	t_check "$desc: non-zero exit, not a signal or hang ($rc)" \
		in_range "$rc" 1 123
	t_eq "$desc: exactly one line of output" 1 "$(grep -c . <<<"$out")"
}
ctl_error "status on a nonexistent socket" "$T_TMP/no-such.sock" status
ctl_error "stats --json on a nonexistent socket" "$T_TMP/no-such.sock" stats --json
: >"$T_TMP/plain-file"
ctl_error "status on a regular file" "$T_TMP/plain-file" status

kill -TERM "$G_PID"
if pid_wait "$G_PID" 5; then
	t_eq "rrvm exits 0 on SIGTERM" 0 "$RRVM_WAIT_RC"
else
	t_check "rrvm exits within 5 s of SIGTERM" false
fi
ctl_error "status after the monitor exited" "$G_CTL" status
t_finish
