#!/usr/bin/env bash
# tests/run-all.sh - the whole suite behind `make test' (and so .ci/run).
#
# Four stages, each a build of its own directory and a run of every test
# binary in it with tests/run-unit.sh:
#
#   plain      build/            the flags of this invocation
#   address    build-address/    ASan+UBSan, TSK_TEST_SCALE=0.1, leak checks
#   undefined  build-undefined/  UBSan,      TSK_TEST_SCALE=0.2
#   thread     build-thread/     TSan,       TSK_TEST_SCALE=0.05
#   fuzz       build-fuzz/       fuzz/run-check.sh: the segment fuzzer's seeds,
#                                regressions and seeded mutations (ASan+UBSan),
#                                plus a short libFuzzer run where clang has it
#
# The sanitizer builds run 5-20x slower; tests size their loops with
# tsk_test_scale() (tests/tsk_test.h), so the scale keeps the whole suite
# within ~10 minutes on two cores.  A stage that fails to build counts as
# one failure.  Every stage runs even after a failure, then a summary per
# stage and, last, the plain line `N passed, N failed` summing them all.
# Exit status 0 only if nothing failed.
#
# Environment:
#   MAKE              the make to call (set by the Makefile)
#   T                 only test binaries whose name contains T
#   TSK_TEST_STAGES   stages to run (default "plain address undefined thread fuzz")
#   TSK_BUILD_JOBS    parallel build jobs (default 2)
# Make variables given on the `make test' command line (WERROR=1, CC=...,
# CFLAGS=...) reach the stage builds through MAKEFLAGS.

set -uo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.." || exit 2

make_cmd=${MAKE:-make}
jobs=${TSK_BUILD_JOBS:-2}
stages=${TSK_TEST_STAGES:-plain address undefined thread fuzz}
filter=${T:-}
cc=${CC:-cc}

probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT

# probe_sanitizer FLAGS ENV... - compile and run a trivial program with a
# sanitizer; prints its output, fails if it cannot run here.
probe_sanitizer() {
	local flags=$1
	shift
	printf '#include <stdlib.h>\nint main(void) { free(malloc(8)); return 0; }\n' \
		>"$probe_dir/p.c"
	# shellcheck disable=SC2086
	"$cc" $flags "$probe_dir/p.c" -o "$probe_dir/p" 2>&1 || return 1
	env "$@" "$probe_dir/p" 2>&1
}

# LeakSanitizer needs ptrace (it stops the threads to scan their stacks);
# some containers forbid it and LSan then fails every test.  We keep leak
# checks on wherever LSan can run and say so loudly where it cannot.
asan_options=detect_leaks=1
if ! probe_sanitizer "-fsanitize=address" ASAN_OPTIONS=detect_leaks=1 >"$probe_dir/lsan" 2>&1; then
	echo "run-all: note: LeakSanitizer cannot run here (no ptrace?); address stage runs with detect_leaks=0:"
	sed 's/^/  | /' "$probe_dir/lsan" | head -5
	asan_options=detect_leaks=0
fi

# TSan maps fixed address ranges; with high mmap ASLR entropy
# (vm.mmap_rnd_bits > 28) older TSan runtimes abort with "unexpected memory
# mapping".  Then run the thread stage without ASLR, if personality() is allowed.
tsan_wrapper=
if [[ " $stages " == *" thread "* ]] &&
	! probe_sanitizer "-fsanitize=thread" >"$probe_dir/tsan" 2>&1; then
	if setarch "$(uname -m)" -R true 2>/dev/null &&
		setarch "$(uname -m)" -R "$probe_dir/p" >/dev/null 2>&1; then
		echo "run-all: note: TSan needs ASLR off here; thread stage runs under setarch -R"
		tsan_wrapper="setarch $(uname -m) -R"
	else
		echo "run-all: warning: a trivial TSan program fails here; the thread stage will too:"
		sed 's/^/  | /' "$probe_dir/tsan" | head -5
	fi
fi

ubsan_options=print_stacktrace=1:halt_on_error=1

total_pass=0
total_fail=0
summary=()

# run_stage NAME SANITIZE VAR=VALUE... - build and run one stage.
run_stage() {
	local name=$1 san=$2
	shift 2
	local dir=build${san:+-$san}
	local out=$probe_dir/stage-$name.out

	echo
	echo "==== stage $name: make SANITIZE=$san, tests in $dir/${*:+, $*}"
	if ! "$make_cmd" -j"$jobs" SANITIZE="$san" all tests; then
		echo "FAIL build ($name)"
		total_fail=$((total_fail + 1))
		summary+=("$(printf '%-10s build failed (counted as 1 failure)' "$name")")
		return
	fi

	env "$@" tests/run-unit.sh "$dir" ${filter:+"$filter"} | tee "$out"
	tally "$name" "${PIPESTATUS[0]}" "$out"
}

# tally NAME RC OUT - adds a stage's closing `N passed, N failed' line (the
# last line of OUT) to the totals.
tally() {
	local name=$1 rc=$2 out=$3
	local last
	last=$(tail -n 1 "$out")
	if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		local p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]}
		# A runner that fails without counting a failure still fails the stage.
		[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
		total_pass=$((total_pass + p))
		total_fail=$((total_fail + f))
		summary+=("$(printf '%-10s %s passed, %s failed' "$name" "$p" "$f")")
	else
		total_fail=$((total_fail + 1))
		summary+=("$(printf '%-10s no test results (counted as 1 failure)' "$name")")
	fi
}

# run_fuzz_stage - the segment fuzzer (fuzz/run-check.sh); a filter T runs
# it only when T is part of "fuzz probes reader".
run_fuzz_stage() {
	local out=$probe_dir/stage-fuzz.out

	echo
	echo "==== stage fuzz: fuzz/run-check.sh, in build-fuzz/"
	MAKE="$make_cmd" CC="$cc" ASAN_OPTIONS="$asan_options" UBSAN_OPTIONS="$ubsan_options" \
		fuzz/run-check.sh | tee "$out"
	tally fuzz "${PIPESTATUS[0]}" "$out"
}

start=$SECONDS
for stage in $stages; do
	case $stage in
	plain)
		run_stage plain "" ;;
	address)
		run_stage address address TSK_TEST_SCALE=0.1 \
			ASAN_OPTIONS="$asan_options" UBSAN_OPTIONS="$ubsan_options" ;;
	undefined)
		run_stage undefined undefined TSK_TEST_SCALE=0.2 \
			UBSAN_OPTIONS="$ubsan_options" ;;
	thread)
		run_stage thread thread TSK_TEST_SCALE=0.05 \
			TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
			${tsan_wrapper:+TSK_TEST_WRAPPER="$tsan_wrapper"} ;;
	fuzz)
		if [[ -z $filter || "fuzz probes reader" == *"$filter"* ]]; then
			run_fuzz_stage
		fi ;;
	*)
		echo "run-all: unknown stage '$stage'" >&2
		total_fail=$((total_fail + 1))
		summary+=("$(printf '%-10s unknown stage (counted as 1 failure)' "$stage")")
		;;
	esac
done

echo
echo "==== summary ($((SECONDS - start))s)"
for line in ${summary[@]+"${summary[@]}"}; do
	echo "$line"
done
echo "$total_pass passed, $total_fail failed"
[ $total_fail -eq 0 ]
