#!/bin/sh
# Run every unit-test binary given; print one summary line at the end, with
# the cases cmocka skipped (no /dev/kvm, no CAP_NET_RAW, ...) named: a skip
# is not a pass, and a run that skipped must say so.
# Exit non-zero if any test binary fails.
set -u
pass=0
fail=0
failed=""
skipped=""
log=$(mktemp) || exit 1
trap 'rm -f "$log"' EXIT
for t in "$@"; do
	"$t" >"$log" 2>&1
	rc=$?
	cat "$log"
	if [ $rc = 0 ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		failed="$failed $(basename "$t")"
	fi
	# cmocka lists each skipped case after its summary line "N test(s),
	# listed below"; the per-case lines name the case alone.
	for c in $(sed -n 's/^\[  SKIPPED \] \([A-Za-z_][A-Za-z0-9_]*\)$/\1/p' "$log" | sort -u); do
		skipped="$skipped $(basename "$t"):$c"
	done
done
nskip=$(echo "$skipped" | wc -w)
echo "unit: $pass passed, $fail failed, $nskip case(s) skipped"
[ "$nskip" = 0 ] || echo "unit: skipped:$skipped"
[ "$fail" = 0 ] || { echo "unit: failing:$failed" >&2; exit 1; }
