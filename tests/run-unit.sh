#!/bin/sh
# Run every unit-test binary given; print one summary line at the end.
# Exit non-zero if any test binary fails.
set -u
pass=0
fail=0
failed=""
for t in "$@"; do
	if "$t"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		failed="$failed $(basename "$t")"
	fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" = 0 ] || { echo "unit: failing:$failed" >&2; exit 1; }
