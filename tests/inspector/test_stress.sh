#!/usr/bin/env bash
# tests/inspector/test_stress.sh - the deadlock detector under load
# (examples/deadlocks/stress.c): no false positive in a recording of heavy
# lock contention, and the one two-task cycle when it forms among
# thousands of tasks.
#
# Plain stage:
#   stress --tasks 10000 --mutexes 100 --duration 10, recorded from its
#   start (record PID --duration 10): the program ends with "done", and the
#   report of the recording finds no deadlock (exit 0);
#   stress --invert, recorded 2 s: the report finds exactly one deadlock,
#   definite, a cycle of two tasks: "inverter" (waiting on m0) and a
#   worker (waiting on m1); the program is still stuck.
# Other stages (sanitizers are slow): stress --tasks 500 --duration 2,
# recorded, no deadlock.
. "$(dirname "$0")/lib.sh"

S=$EX/deadlocks/stress

# contention SECS ARGS... - runs stress --duration SECS ARGS, recorded
# from its start for SECS: it must end with "done" and exit 0, and the
# recording must have no deadlock
contention() {
	local secs=$1 pid st
	shift
	bg "$S" --duration "$secs" "$@" >"$T/stress.out"
	pid=$!
	if ! wait_line "$T/stress.out" '^ready pid' 20; then
		fail "stress $*: never ready" "stdout: $(cat "$T/stress.out")"
		return
	fi
	# --max-size: the history is not the point (the recorder loses most of
	# the tens of millions of events anyway), the live detector is
	eq "stress $*: record" \
		"$(status_of "$TS" record "$pid" -o "$T/stress.db" --duration "$secs" --max-size 32M)" 0
	wait "$pid"
	eq "stress $*: exit status" $? 0
	contains "stress $*: it ended" "$(cat "$T/stress.out")" "done rounds"
	st=$(status_of "$TS" report "$T/stress.db" --json)
	[ "$st" == 0 ] || echo "    report's stderr: $(head -c 400 "$T/err")"
	eq "stress $*: report exit status 0 (no deadlock)" "$st" 0
	eq "stress $*: no deadlock" "$(jq -c .deadlocks "$T/out" 2>&1)" "[]"
	rm -f /dev/shm/taskscope."$pid".*
}

# inversion - records stress --invert for 2 s: one cycle, the inverter and
# a worker
inversion() {
	local pid st json=$T/invert.json
	bg "$S" --invert >"$T/invert.out"
	pid=$!
	if ! wait_line "$T/invert.out" '^ready pid' 20; then
		fail "stress --invert: never ready" "stdout: $(cat "$T/invert.out")"
		return
	fi
	eq "stress --invert: record" \
		"$(status_of "$TS" record "$pid" -o "$T/invert.db" --duration 2 --max-size 32M)" 0
	kill -0 "$pid" 2>/dev/null && pass "stress --invert: still stuck after 2 s" ||
		fail "stress --invert: still stuck after 2 s" "stdout: $(cat "$T/invert.out")"
	st=$(status_of "$TS" report "$T/invert.db" --json)
	cp "$T/out" "$json"
	eq "stress --invert: report exit status 3 (a deadlock)" "$st" 3
	eq "stress --invert: exactly one deadlock" "$(jq '.deadlocks | length' "$json" 2>&1)" 1
	eq "stress --invert: verdict" "$(jq -r '.deadlocks[0].verdict' "$json" 2>&1)" definite
	eq "stress --invert: kind" "$(jq -r '.deadlocks[0].kind' "$json" 2>&1)" cycle
	eq "stress --invert: two tasks" "$(jq '.deadlocks[0].tasks | length' "$json" 2>&1)" 2
	eq "stress --invert: the inverter, waiting on m0" \
		"$(jq -r '.deadlocks[0].tasks[]? | select(.name == "inverter") | .waits_on.name' "$json" 2>&1)" m0
	eq "stress --invert: and a worker, waiting on m1" \
		"$(jq -r '.deadlocks[0].tasks[]? | select(.name != "inverter")
			| "\(.name | test("^worker-[0-9]+$")) \(.waits_on.name)"' "$json" 2>&1)" "true m1"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f /dev/shm/taskscope."$pid".*
}

echo "# stage $stage"
if [ "$stage" == plain ]; then
	contention 10 --tasks 10000 --mutexes 100
	inversion
else
	contention 2 --tasks 500
fi
finish
