#!/usr/bin/env bash
# Snapshot and restore with a live TCP connection (issue 3 acceptance, part
# 1), on a private four-host testbed (docs/testbed.md).
#
# A scripted client in the client namespace holds ONE TCP connection to the
# kv guest for the whole test (it never reconnects: a broken connection is
# a failure). It writes 200 keys and INCRs a counter (-> 1), then:
#  (a) `rrvm ctl SOCK save FILE --stop` (human output): the summary names
#      the file, a page count > 0 and that the VM stopped; the monitor exits 0 on
#      its own. `rrvm restore FILE` on the SAME host (primary, same tap0):
#      over the same connection INCR gives exactly 2 and all 200 keys are
#      intact; the guest's INFO shows no new connection.
#  (b) `save --stop --json`: pages, raw_bytes, encoded_bytes > 0,
#      stopped = true; the monitor exits 0. The primary is fenced off the
#      LAN and the file restored on the BACKUP host (other namespace, its
#      own tap0, same guest IP/MAC): over the same connection INCR gives
#      exactly 3, all keys intact, no new connection, `rrvm ctl status`
#      works on the restored VM and the guest answers ping.
# The first request after each stop may wait for TCP retransmission (the
# client allows 15 s; the time it took is printed).
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

NKEYS=200
t_init_testbed python3 ping

# ------------------------------------------------- the one-connection client
# Reads commands from a FIFO ("SEQ VERB ARGS"), answers "SEQ OK ..." or
# "SEQ ERR ..." on stdout, one line each. Any socket error ends it (exit 3).
cat >"$T_TMP/client.py" <<'PY'
import socket, sys, time

host, port, fifo = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sock = socket.create_connection((host, port), timeout=5)
sock.settimeout(15)
local = "%s:%d" % sock.getsockname()
buf = b""

def out(s):
    sys.stdout.write(s + "\n")
    sys.stdout.flush()

def enc(*args):
    r = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        r += b"$%d\r\n%s\r\n" % (len(a), a)
    return r

def fill():
    global buf
    d = sock.recv(65536)
    if not d:
        raise ConnectionError("connection closed by the server")
    buf += d

def line():
    global buf
    while b"\r\n" not in buf:
        fill()
    l, buf = buf.split(b"\r\n", 1)
    return l

def reply():
    global buf
    l = line()
    t, v = l[:1], l[1:]
    if t == b"+":
        return v.decode()
    if t == b"-":
        return Exception(v.decode())
    if t == b":":
        return int(v)
    if t == b"$":
        n = int(v)
        if n < 0:
            return None
        while len(buf) < n + 2:
            fill()
        d, buf = buf[:n], buf[n + 2:]
        return d
    if t == b"*":
        return [reply() for _ in range(int(v))]
    raise ValueError("bad reply %r" % l)

def call(*args):
    sock.sendall(enc(*args))
    return reply()

def val(prefix, i):
    return ("%s-value-%d-" % (prefix, i) + "x" * (i % 97)).encode()

out("connected local=%s" % local)
requests = 0
with open(fifo, "r") as f:
    for cmd in f:
        w = cmd.split()
        if not w:
            continue
        seq, verb, args = w[0], w[1], w[2:]
        t0 = time.monotonic()
        try:
            if verb == "sets":
                n, prefix = int(args[0]), args[1]
                for i in range(n):
                    r = call("SET", "%s:%d" % (prefix, i), val(prefix, i))
                    requests += 1
                    if r != "OK":
                        raise RuntimeError("SET %s:%d -> %r" % (prefix, i, r))
                res = "set %d" % n
            elif verb == "check":
                n, prefix = int(args[0]), args[1]
                r = call("MGET", *["%s:%d" % (prefix, i) for i in range(n)])
                requests += 1
                bad = [i for i in range(n) if not isinstance(r, list) or r[i] != val(prefix, i)]
                if bad:
                    raise RuntimeError("%d of %d keys wrong or missing, first %s:%d = %r"
                                       % (len(bad), n, prefix, bad[0],
                                          r[bad[0]] if isinstance(r, list) else r))
                res = "intact %d" % n
            elif verb == "incr":
                r = call("INCR", args[0]); requests += 1
                if not isinstance(r, int):
                    raise RuntimeError("INCR -> %r" % r)
                res = "%d" % r
            elif verb == "conns":
                r = call("INFO", "stats"); requests += 1
                txt = r.decode() if isinstance(r, bytes) else str(r)
                v = [l.split(":")[1].strip() for l in txt.splitlines()
                     if l.startswith("total_connections_received:")]
                res = v[0] if v else "none"
            elif verb == "quit":
                out("%s OK bye local=%s requests=%d" % (seq, local, requests))
                sys.exit(0)
            else:
                raise RuntimeError("unknown verb " + verb)
        except (OSError, ConnectionError) as e:
            out("%s ERR connection: %s (local=%s)" % (seq, e, local))
            sys.exit(3)
        except Exception as e:
            out("%s ERR %s" % (seq, e))
            continue
        out("%s OK %s ms=%d" % (seq, res, (time.monotonic() - t0) * 1000))
PY

mkfifo "$T_TMP/cmd.fifo"
CL_OUT=$T_TMP/client.out
CL_SEQ=0
# cl VERB ARGS...: one command to the client; its answer (after "SEQ ") in
# CL_ANS; status 0 if it said OK. Waits at most 20 s.
cl() {
	local line
	CL_SEQ=$((CL_SEQ + 1))
	echo "$CL_SEQ $*" >&"$CL_FD"
	CL_ANS=
	for ((i = 0; i < 400; i++)); do
		line=$(grep -m1 "^$CL_SEQ " "$CL_OUT")
		[ -n "$line" ] && break
		pid_alive "$CL_PID" || break
		sleep 0.05
	done
	[ -z "$line" ] && line=$(grep -m1 "^$CL_SEQ " "$CL_OUT")
	CL_ANS=${line#"$CL_SEQ "}
	echo "  client: $* -> ${CL_ANS:-no answer (client $(pid_alive "$CL_PID" && echo running || echo exited))}"
	[[ $CL_ANS == OK* ]]
}
cl_value() { awk '{ print $2 }' <<<"$CL_ANS"; } # "OK VALUE ms=N" -> VALUE

# shellcheck disable=SC2317 # used through t_check
mon_exited_0() { # PID DESC: the monitor exits 0 within 10 s of save --stop
	if pid_wait "$1" 10; then
		t_eq "$2: monitor exited on its own with status 0" 0 "$RRVM_WAIT_RC"
	else
		t_check "$2: monitor exited within 10 s of save --stop" false
		pid_stop "$1"
	fi
}

# ---------------------------------------------------------------- boot
tb_t_guest_boot pri kv
ns_bg "$TB_NS_C" "$CL_OUT" python3 "$T_TMP/client.py" "$TB_GUEST_IP" 6379 "$T_TMP/cmd.fifo"
CL_PID=$RRVM_LAST_PID
exec {CL_FD}<>"$T_TMP/cmd.fifo"
wait_for 10 --pid "$CL_PID" grep -q '^connected' "$CL_OUT" ||
	t_fail "client did not connect: $(cat "$CL_OUT")"
t_info "client $(head -n1 "$CL_OUT")"

t_check "write $NKEYS keys" cl sets $NKEYS k
t_check "INCR counter" cl incr counter
t_eq "counter is 1" 1 "$(cl_value)"
t_check "read all keys back" cl check $NKEYS k
cl conns
conns0=$(cl_value)
t_info "guest's total_connections_received: $conns0"

# ------------------------------------------- (a) restore on the same host
snap_a=$T_TMP/snap-a.rrvm
mon=$G_PID
out=$(ctl "$G_CTL" save "$snap_a" --stop 2>&1)
t_eq "(a) save --stop: exit status" 0 "$?"
t_info "$out"
t_check "(a) save: names the file" grep -qF "$snap_a" <<<"$out"
t_check "(a) save: page count > 0" matches "$out" 'pages:[[:space:]]+[1-9][0-9]*'
t_check "(a) save: says the VM stopped" grep -qi 'VM stopped' <<<"$out"
mon_exited_0 "$mon" "(a)"
t_check "(a) snapshot file is not empty" test -s "$snap_a"

tb_t_restore pri "$snap_a"
t0=$(now_ms)
if cl incr counter; then
	t_eq "(a) same connection: counter went on to exactly 2" 2 "$(cl_value)"
else
	t_check "(a) same connection: INCR answered after restore" false
fi
t_info "(a) first request after restore answered $(( $(now_ms) - t0 )) ms after restore started"
t_check "(a) all $NKEYS keys intact" cl check $NKEYS k
cl conns
t_eq "(a) guest saw no new connection" "$conns0" "$(cl_value)"
t_check "(a) restored monitor still running" pid_alive "$G_PID"

# --------------------------- (b) restore on the backup host after fencing
snap_b=$T_TMP/snap-b.rrvm
mon=$G_PID
sj=$(ctl "$G_CTL" save "$snap_b" --stop --json 2>&1)
t_eq "(b) save --stop --json: exit status" 0 "$?"
t_info "$sj"
t_check "(b) save --json: valid, saved names the file" json_true "$sj" ".saved == \"$snap_b\""
t_check "(b) save --json: pages, raw_bytes, encoded_bytes > 0" json_true "$sj" \
	'.pages > 0 and .raw_bytes > 0 and .encoded_bytes > 0 and .raw_bytes == .pages * 4096'
t_check "(b) save --json: stopped is true" json_true "$sj" '.stopped == true'
t_check "(b) save --json: pause_us is a number >= 0" json_true "$sj" '(.pause_us | type) == "number" and .pause_us >= 0'
mon_exited_0 "$mon" "(b)"

out=$("$TB_CLI" --prefix "$TB_PREFIX" fence pri 2>&1)
t_eq "fence pri: exit status ($out)" 0 "$?"
tb_t_restore bak "$snap_b"
t0=$(now_ms)
if cl incr counter; then
	t_eq "(b) same connection, now to the backup host: counter went on to exactly 3" 3 "$(cl_value)"
else
	t_check "(b) same connection: INCR answered after restore on the backup" false
fi
t_info "(b) first request after restore answered $(( $(now_ms) - t0 )) ms after restore started"
t_check "(b) all $NKEYS keys intact" cl check $NKEYS k
cl conns
t_eq "(b) guest saw no new connection" "$conns0" "$(cl_value)"
t_check "(b) INCR again: 4" cl incr counter
t_eq "(b) counter is 4" 4 "$(cl_value)"
st=$(ctl "$G_CTL" status --json 2>&1)
t_info "$st"
t_check "(b) rrvm ctl status --json on the restored VM: running, same IP and MAC" json_true "$st" \
	".state == \"running\" and .mac == \"$TB_GUEST_MAC\" and (.ip | startswith(\"$TB_GUEST_IP\"))"
t_check "(b) the guest answers ping from the client" quiet probe_ping "$TB_NS_C" "$TB_GUEST_IP"
read -r rx _ <<<"$(tap_counters bak)"
t_check "(b) the guest's frames leave through the backup's tap0 ($rx frames)" test "${rx:-0}" -gt 0
read -r rx _ <<<"$(tap_counters pri)"
t_info "primary tap0 counters: $(tap_counters pri)"

if cl quit; then
	t_check "client: same connection from start to end ($CL_ANS)" true
fi
exec {CL_FD}>&-
pid_wait "$CL_PID" 5 && t_eq "client exit status" 0 "$RRVM_WAIT_RC"
tb_t_down
t_finish
