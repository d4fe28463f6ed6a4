#!/usr/bin/env bash
# `rrvm restore` refuses bad snapshot files and starts nothing, on a private
# four-host testbed (docs/testbed.md).
#
# A good snapshot of the kv guest (with a known key) is taken with
# `save --stop` on the primary. Then, on the primary's now idle tap0, each
# of these must make `rrvm restore FILE --tap tap0` exit with an error
# status (not a signal or hang) within 5 s, printing exactly one line that
# names the file and says what is wrong:
#   - truncated copies: 1 byte, 24 bytes (one message header), 4096 bytes,
#     half, all but 4 bytes, all but 1 byte           -> "truncat..."
#   - one byte flipped at 1/4, 1/3, 1/2, 2/3, 3/4 of the file, in the
#     first message header, and the last byte        -> "corrupt ..."
#   - the BEGIN message's version set to 2 with valid CRCs -> "version"
#   - an empty file, a file of random bytes, a directory, a nonexistent path
# and nothing may start: tap0's carrier never comes up (carrier_changes
# unchanged), its RX/TX counters do not move, and the guest address does
# not answer the client. Finally the good file still restores: the guest
# answers PING and has its key (and tap0 shows the activity the checks
# above would have caught).
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

t_init_testbed redis-cli python3 ping

rcli() { ip netns exec "$TB_NS_C" timeout 10 redis-cli -h "$TB_GUEST_IP" -p 6379 "$@" 2>&1; }
# carrier_changes, rx_packets, tx_packets of the primary's tap0.
tap_state() {
	ip netns exec "$TB_NS_PRI" sh -c \
		"cat /sys/class/net/$TB_TAP/carrier_changes /sys/class/net/$TB_TAP/statistics/rx_packets /sys/class/net/$TB_TAP/statistics/tx_packets" |
		tr '\n' ' '
}

# ---------------------------------------------------- the good snapshot
tb_t_guest_boot pri kv
t_eq "SET a known key" OK "$(rcli SET snapkey "the-value-$RRVM_NS_PREFIX")"
good=$T_TMP/good.rrvm
mon=$G_PID
sj=$(ctl "$G_CTL" save "$good" --stop --json 2>&1)
t_eq "save --stop: exit status" 0 "$?"
t_info "$sj"
t_check "save --stop: pages > 0, stopped" json_true "$sj" '.pages > 0 and .stopped == true'
if pid_wait "$mon" 10; then
	t_eq "monitor exited 0 after save --stop" 0 "$RRVM_WAIT_RC"
else
	t_check "monitor exited within 10 s of save --stop" false
	pid_stop "$mon"
fi
size=$(stat -c %s "$good")
t_info "good snapshot: $size bytes"
[ "$size" -gt 8192 ] || t_fail "snapshot is implausibly small ($size bytes)"

# ------------------------------------------------------- the bad files
# cut NAME BYTES: the first BYTES bytes of the good file.
cut_file() { head -c "$2" "$good" >"$T_TMP/$1"; }
# flip NAME OFFSET: the good file with the byte at OFFSET inverted.
flip_file() {
	cp "$good" "$T_TMP/$1"
	python3 - "$T_TMP/$1" "$2" <<'PY'
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0xFF]))
PY
}
# version_file NAME: BEGIN's version (first payload word) set to 2, with the
# header CRC (CRC32C of header with crc = 0, then payload) recomputed, so
# only the version is wrong (docs/checkpoint-format.md, vmm/ckpt_codec.h).
version_file() {
	cp "$good" "$T_TMP/$1"
	python3 - "$T_TMP/$1" <<'PY'
import struct, sys
path = sys.argv[1]
tab = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    tab.append(c)
def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = tab[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF
with open(path, "r+b") as f:
    data = bytearray(f.read())
    magic, typ, flags, length, crc, epoch = struct.unpack_from("<IHHIIQ", data, 0)
    assert magic == 0x4B435252 and typ == 1, "first message is not BEGIN"
    struct.pack_into("<I", data, 24, 2)  # ckpt_begin.version
    hdr = bytearray(data[0:24])
    struct.pack_into("<I", hdr, 12, 0)
    struct.pack_into("<I", data, 12, crc32c(bytes(hdr) + bytes(data[24:24 + length])))
    f.seek(0)
    f.write(data)
PY
}

cases=()    # "NAME|WHAT|EXPECTED-REGEX" (file is $T_TMP/NAME)
for cut in 1 24 4096 $((size / 2)) $((size - 4)) $((size - 1)); do
	cut_file "cut-$cut" "$cut"
	cases+=("cut-$cut|truncated to $cut bytes|truncat")
done
for frac in "1 4" "1 3" "1 2" "2 3" "3 4"; do
	read -r a b <<<"$frac"
	off=$((size * a / b))
	flip_file "flip-$off" "$off"
	cases+=("flip-$off|byte $off ($a/$b) flipped|corrupt|CRC|bad|invalid")
done
flip_file flip-4 4    # the type field of the first header
cases+=("flip-4|byte 4 (first message type) flipped|corrupt|CRC|bad|invalid|type")
flip_file "flip-last" $((size - 1))
cases+=("flip-last|last byte flipped|corrupt|CRC|bad|invalid")
if version_file version-2; then
	cases+=("version-2|BEGIN version 2 (valid CRCs)|version")
else
	t_check "could build a version-2 file (python)" false
fi
: >"$T_TMP/empty"
cases+=("empty|empty file|empty|regular file|truncat")
head -c 65536 /dev/urandom >"$T_TMP/random"
cases+=("random|64 KiB of random bytes|magic|corrupt|bad")
mkdir "$T_TMP/a-directory"
cases+=("a-directory|a directory|regular file|directory")
cases+=("no-such-file|a nonexistent path|No such file|does not exist|not found")

ok_cases=0
for c in "${cases[@]}"; do
	name=${c%%|*}
	rest=${c#*|}
	what=${rest%%|*}
	want=${rest#*|}
	file=$T_TMP/$name
	before=$(tap_state)
	t0=$(now_ms)
	out=$(ip netns exec "$TB_NS_PRI" timeout 10 "$RRVM" restore "$file" --tap "$TB_TAP" \
		--control "$T_TMP/bad.ctl" </dev/null 2>&1)
	rc=$?
	ms=$(( $(now_ms) - t0 ))
	after=$(tap_state)
	echo "  -- $what: status $rc after $ms ms: $(head -n 3 <<<"$out" | cut -c1-200)"
	fails0=$T_FAILS
	t_check "$what: error status, not a signal or hang ($rc)" in_range "$rc" 1 123
	t_check "$what: refused within 5 s ($ms ms)" test "$ms" -lt 5000
	t_eq "$what: exactly one line of output" 1 "$(grep -c . <<<"$out")"
	t_check "$what: the line names the file" grep -qF "$file" <<<"$out"
	t_check "$what: the line says what is wrong (/$want/)" grep -qiE "$want" <<<"$out"
	t_eq "$what: tap0 untouched (carrier_changes rx tx)" "$before" "$after"
	t_check "$what: no control socket left" test ! -e "$T_TMP/bad.ctl"
	[ "$T_FAILS" = "$fails0" ] && ok_cases=$((ok_cases + 1))
done
t_info "$ok_cases of ${#cases[@]} bad files refused cleanly"
t_check "nothing answers at the guest address" quiet sh -c \
	"! ip netns exec '$TB_NS_C' ping -n -q -c2 -i0.2 -W1 '$TB_GUEST_IP'"
t_eq "the good snapshot is unchanged by all this" "$size" "$(stat -c %s "$good")"

# -------------------------------------------- the good file still works
before=$(tap_state)
tb_t_restore pri "$good"
# shellcheck disable=SC2317 # called through wait_for
pong_ok() { [ "$(rcli PING)" = PONG ]; }
if wait_for 15 --pid "$G_PID" pong_ok; then
	t_check "good snapshot restores: PING answered" true
else
	t_check "good snapshot restores: PING answered within 15 s" false
fi
t_eq "restored guest has its key" "the-value-$RRVM_NS_PREFIX" "$(rcli GET snapkey)"
read -r cc0 rx0 _ <<<"$before"
read -r cc1 rx1 _ <<<"$(tap_state)"
t_check "a real restore does show on tap0 (carrier_changes $cc0 -> $cc1, rx $rx0 -> $rx1)" \
	test "$cc1" -gt "$cc0" -a "$rx1" -gt "$rx0"
tb_t_down
t_finish
