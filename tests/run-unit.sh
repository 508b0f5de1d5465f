#!/usr/bin/env bash
# tests/run-unit.sh BUILD_DIR [filter] - run the cmocka test binaries of one build.
#
# Runs every executable BUILD_DIR/tests/*/test_* (only those whose name,
# e.g. runtime/test_chan, contains filter), one at a time, each under
# timeout(1), stdin from /dev/null, stdout and stderr to
# BUILD_DIR/test-logs/<name>.log.  Prints one line per binary,
#   PASS runtime/test_chan 0.42s
#   FAIL runtime/test_sched 300.00s (timeout)
# then the last lines of every failing log, then the summary line
#   N passed, N failed
# which tests/run-all.sh parses.  The unit counted is the test binary.
#
# Exit status: 0 all passed, 1 some failed, 2 nothing to run or bad usage
# (no summary line then).
#
# Environment:
#   TSK_TEST_TIMEOUT  seconds per binary (default 300)
#   TSK_TEST_WRAPPER  command put in front of each binary, e.g.
#                     "valgrind -q --error-exitcode=1" or "setarch x86_64 -R"
#   TSK_TEST_TAIL     lines of a failing log to print (default 40)
#   TSK_TEST_SCALE, ASAN_OPTIONS, ... are passed through to the tests.

set -uo pipefail
export LC_ALL=C

usage() {
	echo "usage: $0 BUILD_DIR [filter]" >&2
	exit 2
}

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	usage
fi
build=${1%/}
filter=${2:-}
timeout_s=${TSK_TEST_TIMEOUT:-300}
tail_n=${TSK_TEST_TAIL:-40}
read -r -a wrapper <<<"${TSK_TEST_WRAPPER:-}"
logdir=$build/test-logs

if [ ! -d "$build/tests" ]; then
	echo "run-unit: no $build/tests: build the tests first (make tests)" >&2
	exit 2
fi

bins=()
while IFS= read -r bin; do
	name=${bin#"$build/tests/"}
	[[ -z $filter || $name == *"$filter"* ]] && bins+=("$bin")
done < <(find "$build/tests" -type f -name 'test_*' -perm -u+x | sort)

if [ ${#bins[@]} -eq 0 ]; then
	echo "run-unit: no test binaries in $build/tests${filter:+ matching \"$filter\"}" >&2
	exit 2
fi

if [ ${#bins[@]} -eq 1 ]; then what="1 test binary"; else what="${#bins[@]} test binaries"; fi
echo "run-unit: $what in $build (timeout ${timeout_s}s each)"

# timeout(1) runs the test in its own process group, out of reach of a
# terminal's ^C; so run it in the background and forward INT/TERM to it.
# (fd 3: the real stderr, as the trap may run inside `wait ... 2>/dev/null')
exec 3>&2
child=
trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; wait; echo "run-unit: interrupted" >&3; exit 130' INT TERM

pass=0
fail=0
failed_logs=()
for bin in "${bins[@]}"; do
	name=${bin#"$build/tests/"}
	log=$logdir/$name.log
	mkdir -p "$(dirname "$log")"

	start=$EPOCHREALTIME
	timeout --kill-after=10 "$timeout_s" ${wrapper[@]+"${wrapper[@]}"} "$bin" \
		</dev/null >"$log" 2>&1 &
	child=$!
	# (braces and 2>/dev/null: no "Killed"/"Segmentation fault" job notice)
	{ wait "$child"; } 2>/dev/null
	rc=$?
	child=
	end=$EPOCHREALTIME
	secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')

	if [ $rc -eq 0 ]; then
		pass=$((pass + 1))
		echo "PASS $name ${secs}s"
		continue
	fi
	fail=$((fail + 1))
	failed_logs+=("$name:$log")
	case $rc in
	124) why="timeout after ${timeout_s}s" ;;
	137) why="killed after timeout" ;;
	*)
		if [ $rc -gt 128 ]; then
			why="signal $(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))"
		else
			why="exit $rc"
		fi
		;;
	esac
	echo "FAIL $name ${secs}s ($why)"
	echo "=== $why" >>"$log"
done

for entry in ${failed_logs[@]+"${failed_logs[@]}"}; do
	name=${entry%%:*}
	log=${entry#*:}
	echo
	echo "---- $name: last $tail_n lines of $log ----"
	tail -n "$tail_n" "$log"
done
[ $fail -eq 0 ] || echo

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
