#!/usr/bin/env bash
# fuzz/run-check.sh - the fuzz stage of `make test' (tests/run-all.sh) and
# `make fuzz-check': short, deterministic by default, and runnable on a
# machine without libFuzzer.
#
# Steps, each one PASS or FAIL line:
#   build     the plain driver (fuzz_replay, $CC + ASan/UBSan) and the seeds
#   replay    every seed and every fuzz/regress/ input, once
#   mutate    FUZZ_MUTATIONS (default 500) seeded mutations of every seed
#   libfuzzer `make fuzz' for FUZZ_CHECK_SECONDS (default 10) when clang can
#             link -fsanitize=fuzzer; otherwise a SKIP line that says why
# then the line `N passed, N failed' (tests/run-all.sh parses it).
# A failing step leaves its log in build-fuzz/check-<step>.log and prints
# its tail.  Exit status 0 only if nothing failed.
#
# Environment: MAKE, CC, FUZZ_CC (default clang), FUZZ_SEED (default 1),
# FUZZ_MUTATIONS, FUZZ_CHECK_SECONDS, ASAN_OPTIONS (detect_leaks=0 is
# passed on to libFuzzer too).

set -uo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.." || exit 2

make_cmd=${MAKE:-make}
fuzz_cc=${FUZZ_CC:-clang}
seed=${FUZZ_SEED:-1}
mutations=${FUZZ_MUTATIONS:-500}
seconds=${FUZZ_CHECK_SECONDS:-10}
out=build-fuzz
mkdir -p "$out"

pass=0
fail=0

# step NAME COMMAND... - runs one step, logs it, counts it.
step() {
	local name=$1
	shift
	local log=$out/check-$name.log
	local start=$SECONDS
	if "$@" >"$log" 2>&1; then
		pass=$((pass + 1))
		echo "PASS fuzz/$name $((SECONDS - start))s"
		return 0
	fi
	fail=$((fail + 1))
	echo "FAIL fuzz/$name $((SECONDS - start))s"
	echo "---- last 30 lines of $log ----"
	tail -n 30 "$log"
	return 1
}

regress=()
[ -d fuzz/regress ] && regress=(fuzz/regress)

if step build "$make_cmd" --no-print-directory fuzz-replay-build; then
	step replay "$out/fuzz_replay" "$out/seeds" ${regress[@]+"${regress[@]}"}
	step mutate "$out/fuzz_replay" -mutate "$mutations" -seed "$seed" \
		-artifact "$out/mutate-last-input" "$out/seeds"
fi

# libFuzzer needs clang's runtime (Debian: libclang-rt-14-dev).
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
	>"$probe/p.c"
if command -v "$fuzz_cc" >/dev/null 2>&1 &&
	"$fuzz_cc" -fsanitize=fuzzer,address "$probe/p.c" -o "$probe/p" >/dev/null 2>&1; then
	extra=
	[[ ${ASAN_OPTIONS:-} == *detect_leaks=0* ]] && extra=-detect_leaks=0
	step libfuzzer "$make_cmd" --no-print-directory fuzz FUZZ_SECONDS="$seconds" \
		FUZZ_CC="$fuzz_cc" ${extra:+FUZZ_EXTRA=$extra}
else
	echo "SKIP fuzz/libfuzzer: $fuzz_cc cannot link -fsanitize=fuzzer (install libclang-rt-14-dev)"
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
