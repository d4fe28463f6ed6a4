#!/usr/bin/env bash
# `rrvm keygen FILE`: writes a fresh key file (mode 0600, the documented
# two-line format, a different key each time), says what it did, refuses to
# overwrite (exit 1, the old key untouched) or to follow a planted symlink,
# explains itself with --help (exit 0) and rejects bad usage (exit 2).
# Needs no guest; it runs as root like the rest of the suite.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

t_init stat
t_needs_rrvm

key=$T_TMP/link.key
out=$("$RRVM" keygen "$key" 2>&1)
t_eq "keygen: exit status" 0 "$?"
t_check "keygen says what it wrote" contains "wrote a new 256-bit key to $key" "$out"
t_eq "key file mode" 600 "$(stat -c %a "$key")"
t_eq "first line" "rrvm-psk-v1" "$(head -n 1 "$key")"
t_check "second line: 64 hex digits" matches "$(sed -n 2p "$key")" '^[0-9a-f]{64}$'
t_eq "two lines" 2 "$(wc -l <"$key")"

before=$(sha256sum <"$key")
out=$("$RRVM" keygen "$key" 2>&1)
t_eq "keygen over an existing file: exit status" 1 "$?"
t_check "it refuses to overwrite" contains "refusing to overwrite" "$out"
t_eq "the old key is untouched" "$before" "$(sha256sum <"$key")"

"$RRVM" keygen "$T_TMP/other.key" >/dev/null 2>&1
t_check "a second key differs" test "$(sed -n 2p "$key")" != "$(sed -n 2p "$T_TMP/other.key")"

ln -s "$T_TMP/target" "$T_TMP/planted.key"
"$RRVM" keygen "$T_TMP/planted.key" >/dev/null 2>&1
t_eq "a planted symlink: exit status" 1 "$?"
t_check "nothing written through it" test ! -e "$T_TMP/target"

out=$("$RRVM" keygen --help 2>&1)
t_eq "--help: exit status" 0 "$?"
t_check "--help explains --key-file" contains "--key-file FILE" "$out"
t_check "--help gives the mode" contains "mode 0600|0600" "$out"
"$RRVM" keygen >/dev/null 2>&1
t_eq "no FILE: exit status 2" 2 "$?"
"$RRVM" keygen a b >/dev/null 2>&1
t_eq "two FILEs: exit status 2" 2 "$?"
t_check "rrvm --help lists keygen" contains "keygen" "$("$RRVM" --help)"
t_finish
