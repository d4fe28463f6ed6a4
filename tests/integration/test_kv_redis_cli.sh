#!/usr/bin/env bash
# The kv guest against the real redis-cli: exact answers for
# PING/SET/GET/INCR/DEL/LPUSH/LRANGE, a 1 MiB value round trip (sha256), and
# malformed RESP on one connection (error reply or close) while another
# connection keeps working.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

t_init redis-cli python3 sha256sum
guest_boot kv

# redis-cli with stdout not a terminal prints raw replies: OK, 1, bulk text.
rc() { c_exec timeout 10 redis-cli -h "$G_IP" -p 6379 "$@" 2>&1; }

key="it:$$:$RANDOM"
t_eq "PING" "PONG" "$(rc PING)"
t_eq "SET" "OK" "$(rc SET "$key" hello)"
t_eq "GET" "hello" "$(rc GET "$key")"
t_eq "SET overwrite" "OK" "$(rc SET "$key" "hello world")"
t_eq "GET value with a space" "hello world" "$(rc GET "$key")"
t_eq "GET missing key is nil (empty)" "" "$(rc GET "$key:missing")"
t_eq "INCR new key" "1" "$(rc INCR "$key:n")"
t_eq "INCR again" "2" "$(rc INCR "$key:n")"
t_eq "GET counter" "2" "$(rc GET "$key:n")"
t_eq "DEL existing key" "1" "$(rc DEL "$key")"
t_eq "GET after DEL" "" "$(rc GET "$key")"
t_eq "DEL missing key" "0" "$(rc DEL "$key")"
t_eq "LPUSH 3 elements" "3" "$(rc LPUSH "$key:l" a b c)"
t_eq "LPUSH 1 more" "4" "$(rc LPUSH "$key:l" d)"
t_eq "LRANGE 0 -1" $'d\nc\nb\na' "$(rc LRANGE "$key:l" 0 -1)"
t_eq "LRANGE 1 2" $'c\nb' "$(rc LRANGE "$key:l" 1 2)"
rc SET "$key:s" abc >/dev/null
t_check "INCR on a non-integer value is an error" matches "$(rc INCR "$key:s")" 'ERR'

# 1 MiB value (printable, so redis-cli's raw output is the value + "\n").
big=$T_TMP/big.val
head -c 786432 /dev/urandom | base64 -w0 >"$big"
t_eq "test value is 1 MiB" 1048576 "$(stat -c %s "$big")"
t_eq "SET 1 MiB value" "OK" "$(c_exec timeout 30 redis-cli -h "$G_IP" -x SET "$key:big" <"$big" 2>&1)"
c_exec timeout 30 redis-cli -h "$G_IP" GET "$key:big" >"$T_TMP/big.out" 2>&1
t_eq "GET 1 MiB value: size" 1048577 "$(stat -c %s "$T_TMP/big.out")"
t_eq "GET 1 MiB value: sha256" "$(sha256sum <"$big" | cut -d' ' -f1)" \
	"$(head -c 1048576 "$T_TMP/big.out" | sha256sum | cut -d' ' -f1)"

# Malformed RESP. Connection A is opened first and stays idle; B sends
# garbage and must get an error reply (-...) or be closed within 5 s; then A
# and a new connection C must still work.
out=$(c_exec timeout 30 python3 - "$G_IP" <<'PY' 2>&1
import socket, sys
ip = sys.argv[1]
def conn():
    s = socket.create_connection((ip, 6379), timeout=5)
    return s
def cmd(s, *args):
    msg = b"*%d\r\n" % len(args)
    for a in args:
        msg += b"$%d\r\n%s\r\n" % (len(a), a)
    s.sendall(msg)
    buf = b""
    while not buf.endswith(b"\r\n"):
        d = s.recv(4096)
        if not d:
            raise RuntimeError("closed")
        buf += d
    return buf
a = conn()
print("A-before", cmd(a, b"PING"))
for i, garbage in enumerate([b"*abc\r\n", b"*1\r\n$-7\r\nxyz\r\n",
                             b"*2\r\n$3\r\nGET\r\n$99999999999999999999\r\n",
                             b"\xff\xfe\x01 garbage\r\n"]):
    b = conn()
    b.sendall(garbage)
    got = b""
    try:
        while True:
            d = b.recv(4096)
            if not d:
                break
            got += d
            if got.startswith(b"-") and got.endswith(b"\r\n"):
                break
    except ConnectionResetError:
        got += b"<reset>"
    except socket.timeout:
        print("garbage%d: no error and no close within 5 s" % i)
        sys.exit(1)
    ok = got == b"" or got.startswith(b"-") or got == b"<reset>"
    print("garbage%d" % i, "error-or-close" if ok else "unexpected", got[:80])
    if not ok:
        sys.exit(1)
    b.close()
print("A-after", cmd(a, b"PING"))
c = conn()
print("C-new", cmd(c, b"PING"))
PY
)
status=$?
echo "$out" | sed 's/^/  | /'
t_eq "malformed RESP: error or close on the bad connection, others keep working" 0 "$status"
t_check "A still answers after the garbage" grep -q "A-after b'+PONG" <<<"$out"
t_check "a new connection works after the garbage" grep -q "C-new b'+PONG" <<<"$out"
t_eq "PING still works from redis-cli" "PONG" "$(rc PING)"
[ "$NATIVE" = 1 ] || t_check "monitor still running" guest_alive
t_finish
