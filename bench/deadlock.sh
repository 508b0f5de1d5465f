#!/usr/bin/env bash
# bench/deadlock.sh [--append] - the deadlock detector's table
# (`make bench-deadlock`, part of `make bench`): how long after the wait
# that closes a deadlock the verdict comes, and what the detector costs.
#
#  1. Latency.  For every deadlocking program of the zoo
#     (examples/deadlocks/), DEADLOCK_RUNS runs of: start it with
#     `--delay 1000` (it forms its deadlock a second later), attach
#     `taskscope record PID` at once, wait until the program says `ready`,
#     give the recorder a second more, stop it (SIGINT).  The latency of a
#     run is the verdict's found_ns - closed_ns in the recording (table
#     deadlocks): from the start of the newest wait in the deadlock to the
#     moment the detector confirmed it on the live state.  Then the same
#     for examples/deadlocks/chain: 100k tasks blocked in chains of 1000
#     (alive, not deadlocked) when the recorder attaches, then one more
#     chain of 1000 closing into a cycle.
#  2. CPU share.  `taskscope run --no-tui --record DB -- PROG` of a busy
#     program (stress: 10k tasks taking pairs of 100 mutexes; evgen at 1M
#     events/s): the detector's thread CPU time over taskscope's whole CPU
#     time (user + system, both threads), from the recorder's "detector:"
#     line.
#
# Output: the Markdown table on stdout, saved to $BENCH_OUT/deadlock.md
# (with --append: appended to $BENCH_OUT/results.md too); raw lines in
# $BENCH_OUT/deadlock.raw.
#
# Environment: BENCH_OUT (default build/bench), DEADLOCK_RUNS (3),
# DEADLOCK_PROGS (the zoo's deadlocking programs), BUILD (build).

set -uo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.." || exit 2

BUILD=${BUILD:-build}
OUT=${BENCH_OUT:-build/bench}
TS=$BUILD/bin/taskscope
ZOO=$BUILD/examples/deadlocks
RUNS=${DEADLOCK_RUNS:-3}
PROGS=${DEADLOCK_PROGS:-abba self_relock three_locks join_cycle mutex_chan chan_cycle wg_never cond_never rwlock_reenter}
append=0
[ "${1:-}" = --append ] && append=1

for f in "$TS" "$ZOO/chain" "$ZOO/stress" "$BUILD/examples/evgen"; do
	[ -x "$f" ] || {
		echo "deadlock.sh: $f not built (make)" >&2
		exit 1
	}
done
mkdir -p "$OUT"
tmp=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
		rm -f /dev/shm/taskscope."$p".*
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
raw=$OUT/deadlock.raw
: >"$raw"

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "n/a" }'; }

# wait_for FILE REGEX SECONDS
wait_for() {
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# latency_run LINE_TO_WAIT_FOR PROG ARGS...: prints "latency_ms verdict kind ntasks" or FAIL
latency_run() {
	local want=$1
	shift
	local db=$tmp/l.db out=$tmp/prog.out
	rm -f "$db" "$db"-wal "$db"-shm
	"$@" >"$out" 2>/dev/null &
	local pid=$!
	pids+=("$pid")
	local i
	for ((i = 0; i < 200; i++)); do
		ls /dev/shm/taskscope."$pid".* >/dev/null 2>&1 && break
		sleep 0.01
	done
	# chain: attach once its 100k tasks are in place, before it closes its ring
	[ "$want" = closed ] && wait_for "$out" '^ready' 60
	"$TS" record "$pid" -o "$db" >"$tmp/rec.out" 2>"$tmp/rec.err" &
	local rec=$!
	if ! wait_for "$out" "^$want" 60; then
		kill -INT "$rec"
		wait "$rec"
		kill -KILL "$pid"
		echo FAIL
		return
	fi
	sleep 1
	kill -INT "$rec"
	wait "$rec"
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	rm -f /dev/shm/taskscope."$pid".*
	cat "$tmp/rec.err" >>"$raw"
	local row
	row=$(sqlite3 -separator ' ' "$db" \
		"SELECT (found_ns - closed_ns) / 1e6, verdict, kind, ntasks FROM deadlocks ORDER BY id LIMIT 1" 2>/dev/null)
	[ -n "$row" ] && echo "$row" || echo FAIL
}

# cpu_run PROG ARGS...: prints the detector's share in % or FAIL
cpu_run() {
	rm -f "$tmp/c.db"*
	"$TS" run --no-tui --record "$tmp/c.db" -- "$@" >/dev/null 2>"$tmp/cpu.err"
	local line
	line=$(grep 'detector:' "$tmp/cpu.err" | tail -n 1)
	echo "$line" >>"$raw"
	[ -z "$line" ] && {
		echo FAIL
		return
	}
	sed -E 's/.*CPU ([0-9.]+) s of taskscope.s ([0-9.]+) s \(([0-9.]+)%.*/\1 \2 \3/' <<<"$line"
}

table() {
	printf '\n### Deadlock detector: latency and cost\n\n'
	printf 'Latency: from the start of the wait that closes the deadlock to the confirmed verdict (deadlocks.found_ns - closed_ns), `taskscope record` attached live; median of %s runs.\n\n' "$RUNS"
	printf '| program | verdict | tasks | latency (median) | runs (ms) |\n'
	printf '|---|---|--:|--:|---|\n'
	local prog
	for prog in $PROGS chain; do
		: >"$tmp/runs"
		local i
		for ((i = 0; i < RUNS; i++)); do
			if [ "$prog" = chain ]; then
				latency_run closed "$ZOO/chain" --tasks 100000 --length 1000 --delay 2000 >>"$tmp/runs"
			else
				latency_run ready "$ZOO/$prog" --delay 1000 >>"$tmp/runs"
			fi
		done
		if grep -q FAIL "$tmp/runs"; then
			printf '| %s | no verdict in %s | | | |\n' "$prog" "$(grep -c FAIL "$tmp/runs") run(s)"
			continue
		fi
		local med verdict all
		med=$(awk '{ print $1 }' "$tmp/runs" | median)
		verdict=$(awk 'NR == 1 { print $2 " " $3 }' "$tmp/runs")
		all=$(awk '{ printf "%s%.1f", (NR > 1 ? ", " : ""), $1 }' "$tmp/runs")
		printf '| %s | %s | %s | %.1f ms | %s |\n' "$prog" "$verdict" \
			"$(awk 'NR == 1 { print $4 }' "$tmp/runs")" "$med" "$all"
	done
	printf '\nCPU: the detector'"'"'s thread CPU time over all of taskscope'"'"'s (user + system) while `taskscope run --record` records a busy program; median of %s runs.\n\n' "$RUNS"
	printf '| program | detector CPU | taskscope CPU | share (median) |\n'
	printf '|---|--:|--:|--:|\n'
	local spec
	for spec in "stress --tasks 10000 --mutexes 100 --duration 5" \
		"evgen --rate 1000000 --duration 3 --pairs 4 --workers 1"; do
		: >"$tmp/runs"
		for ((i = 0; i < RUNS; i++)); do
			# shellcheck disable=SC2086
			set -- $spec
			local bin=$ZOO/$1
			[ "$1" = evgen ] && bin=$BUILD/examples/evgen
			shift
			cpu_run "$bin" "$@" >>"$tmp/runs"
		done
		if grep -q FAIL "$tmp/runs"; then
			printf '| %s | failed | | |\n' "$spec"
			continue
		fi
		printf '| %s | %.3f s | %.3f s | %.2f%% |\n' "$spec" \
			"$(awk '{ print $1 }' "$tmp/runs" | median)" \
			"$(awk '{ print $2 }' "$tmp/runs" | median)" \
			"$(awk '{ print $3 }' "$tmp/runs" | median)"
	done
	printf '\nTargets: latency under 100 ms, detector under 5%% of the inspector'"'"'s CPU.\n'
}

table | tee "$OUT/deadlock.md"
[ "$append" = 1 ] && cat "$OUT/deadlock.md" >>"$OUT/results.md"
exit 0
