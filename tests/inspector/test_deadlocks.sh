#!/usr/bin/env bash
# tests/inspector/test_deadlocks.sh - the deadlock detector on the deadlock
# zoo (examples/deadlocks/): each program that deadlocks gets exactly one
# deadlock with the verdict, kind and set of tasks its header states, from
# a live pid, a dump and a recording; each look-alike gets none.
#
# For every program: start it, wait for "ready pid", then
#   report PID --json              exit 3 and the one deadlock (look-alikes:
#                                  exit 0 and .deadlocks == [])
#   dump PID, report DB --json     the same
#   record PID --duration 0.5, report DB --json   the same
# The root task is found in the dump's tasks table (the one without a
# parent), never assumed: where it belongs to the deadlock, its name and
# id must be there.  abba is also checked in depth: each task of the cycle
# waits on a mutex blocked by the other one, and the text report names the
# deadlock and both tasks.
#
# Stages undefined and thread run only abba, chan_cycle and ordered_locks,
# with report PID --json alone (the sanitizers are slow); plain and address
# run everything.
. "$(dirname "$0")/lib.sh"

Z=$EX/deadlocks

# PROGRAM VERDICT KIND TASKS: what report must find (TASKS: the names,
# comma-separated; "root" stands for the root task, whatever its name);
# "-" for a look-alike, which must yield no deadlock
zoo=(
	"abba definite cycle a,b"
	"self_relock definite cycle relocker"
	"three_locks definite cycle a,b,c"
	"join_cycle definite cycle a,b"
	"mutex_chan definite stall holder,sender,root"
	"chan_cycle likely stall a,b"
	"wg_never definite stall root"
	"cond_never definite stall waiter,root"
	"rwlock_reenter definite cycle reader,writer"
	"ordered_locks -"
	"timed_retry -"
	"slow_pipeline -"
	"long_sleepers -"
	"slow_pipe -"
	"request_reply -"
)
case $stage in
undefined | thread)
	quick=1
	only=" abba chan_cycle ordered_locks "
	;;
*)
	quick=0
	only=
	;;
esac

# sorted_names LIST - the comma-separated LIST sorted
sorted_names() {
	tr ',' '\n' <<<"$1" | sort | paste -sd ','
}

# check_json WHAT JSON STATUS VERDICT KIND TASKS ROOT_ID ROOT_NAME - the
# report in JSON (its exit status STATUS) has the expected deadlock (TASKS
# with "root" replaced by ROOT_NAME; ROOT_ID must then be among the ids),
# or none when VERDICT is "-"
check_json() {
	local what=$1 json=$2 status=$3 verdict=$4 kind=$5 tasks=$6 root_id=$7 root_name=$8
	if [ "$verdict" == - ]; then
		eq "$what: exit status 0 (no deadlock)" "$status" 0
		eq "$what: no deadlock" "$(jq -c .deadlocks "$json" 2>&1)" "[]"
		return
	fi
	eq "$what: exit status 3 (a deadlock)" "$status" 3
	eq "$what: exactly one deadlock" "$(jq '.deadlocks | length' "$json" 2>&1)" 1
	eq "$what: verdict" "$(jq -r '.deadlocks[0].verdict' "$json" 2>&1)" "$verdict"
	eq "$what: kind" "$(jq -r '.deadlocks[0].kind' "$json" 2>&1)" "$kind"
	local expected actual
	expected=$(sorted_names "$(sed "s/\(^\|,\)root\(,\|$\)/\1$root_name\2/" <<<"$tasks")")
	actual=$(jq -r '.deadlocks[0].tasks[]?.name' "$json" 2>&1 | sort | paste -sd ',')
	eq "$what: tasks" "$actual" "$expected"
	if [[ ",$tasks," == *,root,* ]]; then
		eq "$what: the root (id $root_id) is one of them" \
			"$(jq --argjson id "${root_id:-null}" '[.deadlocks[0].tasks[]? | select(.id == $id)] | length' "$json" 2>&1)" 1
	fi
}

# check_abba JSON PID - each task of abba's cycle waits on a mutex and is
# blocked by the other one; the text report names the deadlock and both
check_abba() {
	local json=$1 pid=$2 text section
	eq "abba: both wait on a mutex, each blocked by the other" \
		"$(jq '.deadlocks[0].tasks as $t | [$t[] | . as $x
			| .waits_on.kind == "mutex" and .blocked_by == [$t[] | select(.id != $x.id) | .id]]
			| length == 2 and all' "$json" 2>&1)" true
	"$TS" report "$pid" >"$T/abba.txt" 2>&1
	# from the first line that speaks of a deadlock (not in a path such as
	# examples/deadlocks/) to the next blank line
	section=$(awk 'tolower($0) ~ /deadlock/ && tolower($0) !~ /deadlocks\// { on = 1 }
		on && /^[[:space:]]*$/ { exit } on' "$T/abba.txt")
	if [ -n "$section" ] && ! grep -qi 'no deadlock' <<<"$section" &&
		grep -qw a <<<"$section" && grep -qw b <<<"$section"; then
		pass "abba: the text report shows the deadlock with tasks a and b"
	else
		fail "abba: the text report shows the deadlock with tasks a and b" \
			"section: ${section:-(no line about a deadlock)}" "report: $(head -c 600 "$T/abba.txt")"
	fi
}

# run_one PROGRAM VERDICT KIND TASKS
run_one() {
	local prog=$1 verdict=$2 kind=${3:--} tasks=${4:--} pid out=$T/$1.out st
	local root_id= root_name=root

	bg "$Z/$prog" >"$out"
	pid=$!
	if ! wait_line "$out" '^ready pid' 20; then
		fail "$prog: never ready" "stdout: $(cat "$out")"
		kill -KILL "$pid" 2>/dev/null
		return
	fi
	pass "$prog: ready"

	st=$(status_of "$TS" report "$pid" --json)
	cp "$T/out" "$T/$prog.live.json"
	if [ $quick == 0 ]; then
		eq "$prog: dump" "$(status_of "$TS" dump "$pid" -o "$T/$prog.dump.db")" 0
		root_id=$(q "$T/$prog.dump.db" 'SELECT id FROM tasks WHERE parent_id IS NULL')
		root_name=$(q "$T/$prog.dump.db" 'SELECT name FROM tasks WHERE parent_id IS NULL')
	fi
	check_json "$prog: report PID" "$T/$prog.live.json" "$st" "$verdict" "$kind" "$tasks" \
		"$root_id" "$root_name"
	[ "$prog" == abba ] && check_abba "$T/$prog.live.json" "$pid"

	if [ $quick == 0 ]; then
		st=$(status_of "$TS" report "$T/$prog.dump.db" --json)
		check_json "$prog: report of the dump" "$T/out" "$st" "$verdict" "$kind" "$tasks" \
			"$root_id" "$root_name"
	fi
	# ASan: the look-alikes' recordings only in the plain stage (CI time)
	if [ $quick == 0 ] && { [ "$stage" != address ] || [ "$verdict" != - ]; }; then
		eq "$prog: record" \
			"$(status_of "$TS" record "$pid" -o "$T/$prog.rec.db" --duration 0.5)" 0
		st=$(status_of "$TS" report "$T/$prog.rec.db" --json)
		check_json "$prog: report of the recording" "$T/out" "$st" "$verdict" "$kind" \
			"$tasks" "$root_id" "$root_name"
	fi

	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f /dev/shm/taskscope."$pid".*
}

echo "# stage $stage"
for entry in "${zoo[@]}"; do
	read -r prog verdict kind tasks <<<"$entry"
	[ -z "$only" ] || [[ "$only" == *" $prog "* ]] || continue
	run_one "$prog" "$verdict" "$kind" "$tasks"
done
finish
