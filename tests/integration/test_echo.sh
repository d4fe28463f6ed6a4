#!/usr/bin/env bash
# The echo guest (port 7): random bytes come back byte for byte over TCP
# (several sizes up to 1 MiB, two connections at once, write-while-reading)
# and over UDP (datagrams of 1..1400 bytes, each echoed exactly).
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

t_init python3
guest_boot echo

out=$(c_exec timeout 90 python3 - "$G_IP" <<'PY' 2>&1
import os, select, socket, sys, threading
ip = sys.argv[1]
fails = 0

def tcp_echo(size, chunk):
    data = os.urandom(size)
    s = socket.create_connection((ip, 7), timeout=10)
    s.setblocking(False)
    sent, got = 0, bytearray()
    while len(got) < size:
        w = [s] if sent < size else []
        r, w, _ = select.select([s], w, [], 10)
        if not r and not w:
            raise RuntimeError("stalled at sent=%d got=%d" % (sent, len(got)))
        if w:
            sent += s.send(data[sent:sent + chunk])
        if r:
            d = s.recv(262144)
            if not d:
                raise RuntimeError("closed at got=%d" % len(got))
            got += d
    s.close()
    return bytes(got) == data

for size, chunk in [(1, 1), (100, 100), (1460, 1460), (4096, 512),
                    (65536, 65536), (1 << 20, 16384)]:
    try:
        ok = tcp_echo(size, chunk)
    except Exception as e:
        ok = False
        print("tcp %d: %s" % (size, e))
    print("tcp %7d bytes: %s" % (size, "ok" if ok else "MISMATCH"))
    fails += not ok

# Two connections at once.
res = []
def worker():
    try:
        res.append(tcp_echo(200000, 8192))
    except Exception as e:
        print("tcp concurrent: %s" % e)
        res.append(False)
ts = [threading.Thread(target=worker) for _ in range(2)]
for t in ts: t.start()
for t in ts: t.join()
ok = res == [True, True]
print("tcp 2 concurrent connections: %s" % ("ok" if ok else "MISMATCH"))
fails += not ok

u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(1.0)
for size in [1, 64, 512, 1024, 1400, 1472]:
    data = os.urandom(size)
    ok = False
    for attempt in range(3):  # UDP may drop; retry
        u.sendto(data, (ip, 7))
        try:
            while True:
                d, peer = u.recvfrom(65536)
                if d == data and peer == (ip, 7):
                    ok = True
                    break
                print("udp %d: unexpected datagram of %d bytes from %s" % (size, len(d), peer))
        except socket.timeout:
            pass
        if ok:
            break
    print("udp %5d bytes: %s" % (size, "ok" if ok else "NO ECHO"))
    fails += not ok
sys.exit(1 if fails else 0)
PY
)
status=$?
while IFS= read -r line; do
	case "$line" in
	tcp*": ok" | udp*": ok") t_check "$line" true ;;
	tcp* | udp*) t_check "$line" false ;;
	*) echo "  | $line" ;;
	esac
done <<<"$out"
t_eq "echo client exit status" 0 "$status"
[ "$NATIVE" = 1 ] || t_check "monitor still running" guest_alive
t_finish
