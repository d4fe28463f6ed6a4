#!/usr/bin/env bash
# Run every tests/integration/test_*.sh in turn, each under a time limit.
# Prints one result line per test and, last, exactly:
#   integration: N passed, N failed, N skipped
# Exit status: non-zero if any test failed.
#
# A test exits 0 (pass), 77 (skip) or anything else (fail; 124 = timed out).
# Full output of each test goes to $RRVM_IT_LOGDIR (default
# build/tests/integration/); a failing test's output is also printed.
#
# Usage: tests/run-integration.sh [-v] [NAME-PATTERN]
#   -v            print every test's output
#   NAME-PATTERN  only tests whose name contains it (e.g. kv)
# Environment: RRVM_IT_TIMEOUT (seconds per test, default 300), and the
# variables documented in tests/integration/lib.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
verbose=0
if [ "${1:-}" = -v ]; then
	verbose=1
	shift
fi
pattern=${1:-}
limit=${RRVM_IT_TIMEOUT:-300}
logdir=${RRVM_IT_LOGDIR:-$root/build/tests/integration}
mkdir -p "$logdir" || exit 1

# Why everything would skip (printed once, before the summary).
# shellcheck source=SCRIPTDIR/../experiments/lib/netns.sh
. "$root/experiments/lib/netns.sh"
skip_reason=
if ! is_root; then
	skip_reason="not root"
elif ! why=$(kvm_usable); then
	skip_reason="no usable /dev/kvm ($why)"
elif [ ! -x "${RRVM:-$root/build/rrvm}" ]; then
	skip_reason="${RRVM:-build/rrvm} is missing"
fi

pass=0
fail=0
skip=0
failed=()
for t in "$here"/integration/test_*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	[ -n "$pattern" ] && [[ $name != *"$pattern"* ]] && continue
	log=$logdir/$name.log
	registry=$logdir/$name.netns
	: >"$registry"
	start=$(date +%s.%N)
	# timeout: SIGTERM to the test's process group (the test's cleanup trap
	# stops its own monitor and namespaces), SIGKILL 15 s later.
	RRVM_NS_REGISTRY=$registry timeout -k 15 "$limit" bash "$t" >"$log" 2>&1 </dev/null
	rc=$?
	secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
	# Namespaces a killed test could not delete (only the ones it recorded).
	while read -r ns; do
		[ -n "$ns" ] || continue
		if ip netns list 2>/dev/null | grep -qx "$ns\( (id: [0-9]*)\)\?"; then
			echo "  (removing namespace $ns left by $name)"
			ip netns pids "$ns" 2>/dev/null | while read -r p; do kill -KILL "$p" 2>/dev/null; done
			ip netns delete "$ns" 2>/dev/null
		fi
	done <"$registry"
	rm -f "$registry"
	result=$(grep -E '^(PASS|FAIL|SKIP): ' "$log" | tail -n 1)
	case $rc in
	0)
		pass=$((pass + 1))
		echo "${result:-PASS: $name} [${secs}s]"
		;;
	77)
		skip=$((skip + 1))
		echo "${result:-SKIP: $name}"
		;;
	*)
		fail=$((fail + 1))
		failed+=("$name")
		if [ $rc = 124 ] || [ $rc = 137 ]; then
			result="FAIL: $name: timed out after ${limit}s"
		fi
		echo "${result:-FAIL: $name: exit status $rc} [${secs}s]"
		;;
	esac
	if [ $verbose = 1 ] || { [ $rc != 0 ] && [ $rc != 77 ]; }; then
		sed 's/^/    /' "$log"
	fi
done

if [ -n "$skip_reason" ] && [ $skip -gt 0 ]; then
	echo "integration: tests skipped: $skip_reason"
fi
[ ${#failed[@]} -gt 0 ] && echo "integration: failing: ${failed[*]} (logs in $logdir)"
echo "integration: $pass passed, $fail failed, $skip skipped"
[ $fail = 0 ]
