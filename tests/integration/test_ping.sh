#!/usr/bin/env bash
# Boot the kv guest on a TAP in a fresh namespace; ping it 5 times and expect
# all 5 replies. Then SIGTERM the monitor: it must exit 0.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

t_init ping
guest_boot kv

out=$(c_exec ping -n -c 5 -i 0.2 -W 2 "$G_IP" 2>&1)
echo "$out" | sed 's/^/  | /'
received=$(echo "$out" | sed -n 's/.* \([0-9]\+\) received.*/\1/p')
t_eq "5 of 5 echo replies" 5 "${received:-none}"
t_check "no duplicate or corrupted replies" lacks 'DUP!|wrong data' "$out"

if [ "$NATIVE" != 1 ]; then
	kill -TERM "$G_PID"
	if pid_wait "$G_PID" 5; then
		t_eq "rrvm exits 0 on SIGTERM" 0 "$RRVM_WAIT_RC"
	else
		t_check "rrvm exits within 5 s of SIGTERM" false
	fi
fi
t_finish
