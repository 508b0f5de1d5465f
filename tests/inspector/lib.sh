# tests/inspector/lib.sh - shared by the inspector's end-to-end tests.
#
# Each tests/inspector/test_*.sh is copied into BUILD/tests/inspector/ and
# run there by tests/run-unit.sh; it sources this file, which finds the
# real binaries of the same build directory:
#   $TS     BUILD/bin/taskscope
#   $EX     BUILD/examples
#   $stage  plain, address, undefined or thread: the build's sanitizer, from
#           the directory's name (build, build-address, build-undefined,
#           build-thread), for tests that do less under the slower ones
# and gives a scratch directory $T (removed at exit, with any process a
# test started through `bg` and the segments those processes left).
#
# Checks print "ok - what" or "not ok - what" plus details; `finish` ends
# the test: exit 0 only if every check passed and at least one ran.

set -uo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "$here/../.." && pwd)
TS=$BUILD/bin/taskscope
EX=$BUILD/examples
case ${BUILD##*/} in
build-address*) stage=address ;;
build-undefined*) stage=undefined ;;
build-thread*) stage=thread ;;
*) stage=plain ;;
esac
T=$(mktemp -d "${TMPDIR:-/tmp}/ts-e2e.XXXXXX")
checks=0
failures=0
bg_pids=()

cleanup() {
	local p
	for p in "${bg_pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
		rm -f /dev/shm/taskscope."$p".*
	done
	rm -rf "$T"
}
trap cleanup EXIT

for tool in sqlite3 jq; do
	command -v "$tool" >/dev/null || {
		echo "not ok - $tool is not installed (make deps)"
		exit 1
	}
done
[ -x "$TS" ] || {
	echo "not ok - $TS not built"
	exit 1
}

pass() {
	checks=$((checks + 1))
	echo "ok - $1"
}

fail() {
	checks=$((checks + 1))
	failures=$((failures + 1))
	echo "not ok - $1"
	shift
	local line
	for line in "$@"; do
		printf '    %s\n' "$line"
	done
	return 1
}

# eq WHAT ACTUAL EXPECTED
eq() {
	if [ "$2" == "$3" ]; then
		pass "$1"
	else
		fail "$1" "got:      $2" "expected: $3"
	fi
}

# ge WHAT ACTUAL MIN (integers)
ge() {
	if [[ "$2" =~ ^-?[0-9]+$ ]] && [ "$2" -ge "$3" ]; then
		pass "$1 ($2 >= $3)"
	else
		fail "$1" "got: $2, expected at least $3"
	fi
}

# contains WHAT TEXT NEEDLE
contains() {
	if [[ "$2" == *"$3"* ]]; then
		pass "$1"
	else
		fail "$1" "expected to find: $3" "in: ${2:0:600}"
	fi
}

# q DB SQL - one query's output
q() {
	sqlite3 -batch -noheader "$1" "$2" 2>&1
}

# bg CMD... - start a process in the background (killed at exit); its pid in $!
bg() {
	"$@" &
	bg_pids+=($!)
}

# wait_line FILE PATTERN SECONDS - until FILE has a line matching PATTERN
wait_line() {
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# status_of CMD... - the exit status of CMD (stdout/stderr to $T/out, $T/err)
status_of() {
	"$@" >"$T/out" 2>"$T/err"
	echo $?
}

# TUI tests drive the real program in tmux, on a private server:
# need_tmux fails the test without tmux; tm is tmux on the test's socket;
# wait_screen REGEX SECONDS waits until the test's own screen function (a
# capture-pane of its session) shows REGEX.
need_tmux() {
	command -v tmux >/dev/null && return 0
	echo "not ok - tmux is not installed (make deps)"
	exit 1
}
tm() { tmux -S "$T/tmux.sock" "$@"; }
wait_screen() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		screen | grep -qE -- "$1" && return 0
		sleep 0.1
	done
	return 1
}

finish() {
	echo "# $checks checks, $failures failed"
	[ "$checks" -gt 0 ] && [ "$failures" -eq 0 ]
	exit $?
}
