#!/bin/sh
# Build a libFuzzer target and run it for a while.
#
#   tests/fuzz/run.sh TARGET SECONDS
#
# TARGET is the name after fuzz_ in tests/fuzz/fuzz_TARGET.c (ckpt_decoder,
# secure_channel, frame_parse, resp, http, vm_profile).
# Builds into $BUILD/fuzz/ (default build/fuzz/) with clang's libFuzzer plus
# ASan/UBSan, writes fresh seeds into $BUILD/fuzz/seeds/TARGET/ (and copies
# tests/fuzz/corpus/TARGET/ if it exists), and grows the working corpus
# $BUILD/fuzz/corpus/TARGET/ across runs: nothing in the source tree is
# modified. Exits non-zero if the build fails or the fuzzer finds a crash,
# leak, timeout or broken invariant (the reproducer is left in
# $BUILD/fuzz/artifacts/TARGET/). The fuzzer's log is $BUILD/fuzz/TARGET.log
# (FUZZ_VERBOSE=1 prints it as it runs).
#
# Needs clang and libFuzzer (Debian: clang, libclang-rt-14-dev), liblz4-dev
# and libsodium-dev.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

if [ $# -ne 2 ]; then
	echo "usage: $0 TARGET SECONDS" >&2
	exit 2
fi
TARGET=$1
SECS=$2
case "$SECS" in
'' | *[!0-9]*)
	echo "run.sh: SECONDS must be a number" >&2
	exit 2
	;;
esac

BUILD=${BUILD:-build}
CLANG=${CLANG:-clang}
CFLAGS="-std=gnu11 -g -O1 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
-D_GNU_SOURCE -Iinclude -I."

# SEEDFLAGS: extra flags for the seed generator's build (frame_parse's
# generator is its fuzz target built with -DFUZZ_GEN_SEEDS). EXTRA: flags
# for both builds (guest service code built for the host, as the unit tests
# do, against tests/unit/fake_service.c).
SEEDFLAGS=""
EXTRA=""
GUEST_HOST_FLAGS="-Iguest/services -Iguest/net -Itests/unit -DRRVM_UNIT_TEST=1"
case "$TARGET" in
ckpt_decoder)
	SRCS="vmm/ckpt_codec.c vmm/ckpt_page.c vmm/ckpt_crc.c common/repl_protocol.c"
	LIBS="-llz4 -lpthread"
	SEEDGEN=tests/fuzz/gen_ckpt_seeds.c
	;;
secure_channel)
	SRCS="common/secure_transport.c common/secure_handshake.c \
common/secure_record.c common/transport_tcp.c common/log.c"
	LIBS="-lsodium"
	SEEDGEN=tests/fuzz/fuzz_secure_channel.c
	SEEDFLAGS="-DFUZZ_GEN_SEEDS"
	;;
resp)
	SRCS="guest/services/kv/resp.c guest/services/kv/resp_reply.c \
guest/services/kv/kv_store.c guest/services/kv/kv_commands.c \
guest/services/kv/kv_keys.c guest/services/kv/kv_strings.c \
guest/services/kv/kv_lists.c guest/services/kv/kv_service.c \
guest/services/lib/option_parse.c tests/unit/fake_service.c"
	LIBS=""
	EXTRA="$GUEST_HOST_FLAGS"
	SEEDGEN=tests/fuzz/fuzz_resp.c
	SEEDFLAGS="-DFUZZ_GEN_SEEDS"
	;;
http)
	SRCS="guest/services/http/http_parser.c guest/services/http/http_service.c \
guest/services/http/http_store.c guest/services/lib/option_parse.c \
tests/unit/fake_service.c"
	LIBS=""
	EXTRA="$GUEST_HOST_FLAGS"
	SEEDGEN=tests/fuzz/fuzz_http.c
	SEEDFLAGS="-DFUZZ_GEN_SEEDS"
	;;
frame_parse)
	SRCS="netstate/frame.c netstate/frame_build.c netstate/flow.c \
netstate/replay_gate.c netstate/replay_audit.c common/log.c common/report.c"
	LIBS=""
	SEEDGEN=tests/fuzz/fuzz_frame_parse.c
	SEEDFLAGS="-DFUZZ_GEN_SEEDS"
	;;
vm_profile)
	SRCS="vmm/vm_profile.c vmm/cpu_features.c vmm/boot_info.c \
vmm/ckpt_codec.c vmm/ckpt_page.c vmm/ckpt_crc.c"
	LIBS="-llz4 -lsodium -lpthread"
	SEEDGEN=tests/fuzz/fuzz_vm_profile.c
	SEEDFLAGS="-DFUZZ_GEN_SEEDS"
	;;
*)
	echo "run.sh: unknown target '$TARGET' (known: ckpt_decoder," \
		"secure_channel, frame_parse, resp, http, vm_profile)" >&2
	exit 2
	;;
esac

OUT=$BUILD/fuzz
BIN=$OUT/fuzz_$TARGET
CORPUS=$OUT/corpus/$TARGET
SEEDS=$OUT/seeds/$TARGET
ARTIFACTS=$OUT/artifacts/$TARGET
LOG=$OUT/$TARGET.log
mkdir -p "$CORPUS" "$SEEDS" "$ARTIFACTS"

if ! command -v "$CLANG" >/dev/null 2>&1; then
	echo "run.sh: $CLANG not found (Debian: clang libclang-rt-14-dev)" >&2
	exit 1
fi
# shellcheck disable=SC2086 # word splitting of the flag lists is intended
if ! $CLANG $CFLAGS -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -fno-omit-frame-pointer \
	-fsanitize-coverage-ignorelist=tests/fuzz/coverage-ignore.txt \
	$EXTRA -o "$BIN" "tests/fuzz/fuzz_$TARGET.c" $SRCS $LIBS; then
	echo "run.sh: building $BIN failed (libFuzzer and the sanitizer" \
		"runtimes are in Debian's libclang-rt-14-dev)" >&2
	exit 1
fi
# shellcheck disable=SC2086
$CLANG $CFLAGS $EXTRA $SEEDFLAGS -o "$OUT/gen_$TARGET" "$SEEDGEN" $SRCS $LIBS
"$OUT/gen_$TARGET" "$SEEDS"
if [ -d "tests/fuzz/corpus/$TARGET" ]; then
	cp -f "tests/fuzz/corpus/$TARGET"/* "$SEEDS"/ 2>/dev/null || true
fi

echo "fuzz: $TARGET for ${SECS}s (corpus $CORPUS, log $LOG)"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
set +e
if [ "${FUZZ_VERBOSE:-0}" = 1 ]; then
	{
		"$BIN" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
			-max_len=65536 -print_final_stats=1 \
			-artifact_prefix="$ARTIFACTS/" "$CORPUS" "$SEEDS" 2>&1
		echo $? >"$OUT/$TARGET.rc"
	} | tee "$LOG"
	rc=$(cat "$OUT/$TARGET.rc")
else
	"$BIN" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
		-max_len=65536 -print_final_stats=1 \
		-artifact_prefix="$ARTIFACTS/" "$CORPUS" "$SEEDS" >"$LOG" 2>&1
	rc=$?
fi
set -e

runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$LOG" | tail -n 1)
cov=$(grep -o 'cov: [0-9]*' "$LOG" | tail -n 1 | cut -d' ' -f2)
if [ "$rc" != 0 ]; then
	echo "fuzz: $TARGET FAILED (exit $rc); from $LOG:" >&2
	# The report from its first line (ASan, UBSan, our CHECK, a timeout).
	first=$(grep -n -m 1 -E '==ERROR|runtime error|invariant failed|deadly signal|ALARM|out-of-memory' "$LOG" | cut -d: -f1)
	if [ -n "$first" ]; then
		sed -n "${first},$((first + 40))p" "$LOG" >&2
	else
		tail -n 40 "$LOG" >&2
	fi
	echo "fuzz: reproducer(s) in $ARTIFACTS/" >&2
	exit 1
fi
echo "fuzz: $TARGET clean: ${runs:-?} runs, coverage ${cov:-?}, corpus $(find "$CORPUS" -type f | wc -l) files"
