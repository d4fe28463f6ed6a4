#!/usr/bin/env bash
# The kv guest with a small heap (--mem 16M, about 1 MiB of heap) filled
# with SETs until it answers -OOM: Redis's noeviction behaviour. Writes get
# "-OOM command not allowed when used memory > 'maxmemory'."; GET, DEL and
# PING keep working on the connections that were open while it filled and
# on new ones; no connection is reset or closed; a redis-benchmark GET run
# with 50 clients completes; writes work again once DEL has freed memory.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

t_init redis-cli redis-benchmark python3
t_needs_rrvm
G_MEM=16M guest_boot kv

rc() { c_exec timeout 10 redis-cli -h "$G_IP" -p 6379 "$@" 2>&1; }

heap=$(grep -o 'maxmemory [0-9]* KiB of a [0-9]* KiB heap' "$G_LOG")
t_info "guest: $heap"
t_check "the guest reports its maxmemory at start" test -n "$heap"

# Fill with redis-benchmark first: it stops at the first error reply.
bench=$(c_exec timeout 60 redis-benchmark -h "$G_IP" -t set -n 200000 \
	-d 1000 -r 100000000 -c 20 -P 16 -q 2>&1 | tr '\r' '\n' | tail -n 3)
t_info "redis-benchmark SET: $(tail -n 1 <<<"$bench")"
t_check "redis-benchmark's SETs end in the maxmemory -OOM error" \
	contains "OOM command not allowed when used memory > 'maxmemory'" "$bench"

out=$(c_exec timeout 60 python3 - "$G_IP" <<'PY' 2>&1
import socket, sys
ip = sys.argv[1]
OOM = b"-OOM command not allowed when used memory > 'maxmemory'."

class Conn:
    def __init__(self):
        self.s = socket.create_connection((ip, 6379), timeout=10)
        self.buf = b""
    def _fill(self):
        d = self.s.recv(65536)
        if not d:
            raise RuntimeError("connection closed by the server")
        self.buf += d
    def reply(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        if line[:1] == b"$" and int(line[1:]) >= 0:
            n = int(line[1:])
            while len(self.buf) < n + 2:
                self._fill()
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return b"$" + v
        return line
    def send(self, *cmds):
        out = b""
        for args in cmds:
            out += b"*%d\r\n" % len(args)
            for a in args:
                out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
    def cmd(self, *args):
        self.send(args)
        return self.reply()

try:
    a, b = Conn(), Conn()  # open before the store fills up
    print("A ping", a.cmd(b"PING"))
    val = b"v" * 1000
    # Keys we know exist (the store may already be full from the benchmark).
    a.cmd(b"DEL", b"keep:1", b"keep:2", b"keep:3")
    for k in (b"keep:1", b"keep:2", b"keep:3"):
        print("A set", k.decode(), a.cmd(b"SET", k, val[:10]))
    sets, first_oom = 0, None
    while first_oom is None and sets < 100000:
        a.send(*[(b"SET", b"fill:%d" % (sets + j), val) for j in range(64)])
        for j in range(64):
            r = a.reply()
            if r != b"+OK" and first_oom is None:
                first_oom = r
        sets += 64
    print("fill sets", sets, "first refusal", first_oom)
    print("A set-refused", a.cmd(b"SET", b"more", val) == OOM)
    print("A get", a.cmd(b"GET", b"keep:1"))
    print("A ping-after", a.cmd(b"PING"))
    print("B get", b.cmd(b"GET", b"keep:1"))
    print("B incr-refused", b.cmd(b"INCR", b"counter") == OOM)
    print("B ping", b.cmd(b"PING"))
    c = Conn()
    print("C ping", c.cmd(b"PING"))
    print("C get", c.cmd(b"GET", b"keep:3"))
    print("C lpush-refused", c.cmd(b"LPUSH", b"list", b"x") == OOM)
    # Deletes work (last: they free memory).
    print("A del", a.cmd(b"DEL", b"keep:2"))
    # Free memory: delete what we filled, then writes work again.
    c.send(*[(b"DEL", b"fill:%d" % i) for i in range(sets)])
    for i in range(sets):
        c.reply()
    print("C set-after-del", c.cmd(b"SET", b"again", b"1"))
    print("A get-after-del", a.cmd(b"GET", b"again"))
except Exception as e:  # a reset or close is the failure we look for
    print("ERROR", type(e).__name__, e)
    sys.exit(1)
PY
)
status=$?
echo "$out" | sed 's/^/  | /'
t_eq "no connection was reset or closed" 0 "$status"
t_check "the fill ended in the maxmemory -OOM refusal" \
	contains "first refusal b\"-OOM command not allowed" "$out"
t_check "a full store refuses SET on the filling connection" contains "A set-refused True" "$out"
t_check "GET works on the filling connection" contains "A get b'\\\$vvvvvvvvvv'" "$out"
t_check "DEL works on the filling connection" contains "A del b':1'" "$out"
t_check "PING works on the filling connection" contains "A ping-after b'\+PONG'" "$out"
t_check "GET works on a connection opened before" contains "B get b'\\\$vvvvvvvvvv'" "$out"
t_check "INCR is refused there" contains "B incr-refused True" "$out"
t_check "a new connection is accepted and answers PING" contains "C ping b'\+PONG'" "$out"
t_check "GET works on the new connection" contains "C get b'\\\$vvvvvvvvvv'" "$out"
t_check "LPUSH is refused there" contains "C lpush-refused True" "$out"
t_check "writes work again after DEL freed memory" contains "C set-after-del b'\+OK'" "$out"
t_check "and are seen by the first connection" contains "A get-after-del b'\\\$1'" "$out"

# Fill again, then many clients reading at once must all be served.
c_exec timeout 60 redis-benchmark -h "$G_IP" -t set -n 200000 -d 1000 \
	-r 100000000 -c 20 -P 16 -q >/dev/null 2>&1
info=$(rc INFO memory | tr -d '\r')
used=$(sed -n 's/^used_memory://p' <<<"$info")
max=$(sed -n 's/^maxmemory://p' <<<"$info")
t_info "after the second fill: used_memory $used, maxmemory $max"
t_check "full again (used_memory within 10% of maxmemory)" \
	test "$((used * 10))" -ge "$((max * 9))"
bench=$(c_exec timeout 60 redis-benchmark -h "$G_IP" -t get,ping -n 20000 \
	-c 50 -P 16 -q 2>&1 | tr '\r' '\n')
t_check "redis-benchmark GET/PING with 50 clients completes on a full store" \
	lacks "Error|error|reset|closed" "$bench"
t_check "it reports GET throughput" contains "^ *GET: [0-9.]+ requests per second" "$bench"
info=$(rc INFO)
t_check "INFO shows the noeviction policy" contains "maxmemory_policy:noeviction" "$info"
t_check "INFO counts the refused writes" contains "rejected_oom_commands:[1-9]" "$info"
t_check "monitor still running" guest_alive
t_finish
