#!/usr/bin/env bash
# tests/inspector/test_report.sh - `taskscope report --json` of the hang
# example names every blocked task with its wait (kind, resource) and its
# source location, and who blocks it; the same from a live pid, a
# SIGSTOPped pid, a dump, a recording and the leftover segment of the
# SIGKILLed program.  `export` of the recording is JSON a parser accepts,
# with every task.
. "$(dirname "$0")/lib.sh"

bg "$EX/hang" >"$T/hang.out"
pid=$!
wait_line "$T/hang.out" '^hung pid' 10 && pass "hang is hung" || fail "hang never said it hung"
grep '^blocked ' "$T/hang.out" >"$T/expected"
ge "blocked tasks announced" "$(wc -l <"$T/expected")" 8

# check_blocked WHAT JSON-FILE: every announced blocked task is in the report
check_blocked() {
	local what=$1 json=$2 name kind res loc
	while read -r _ name kind res loc; do
		jq -e --arg n "$name" --arg k "$kind" --arg r "$res" --arg l "$loc" \
			'[.blocked[] | select(.name == $n and .waits_on.op == $k and .waits_on.name == $r and .location == $l)] | length == 1' \
			"$json" >/dev/null &&
			pass "$what: $name blocked on $kind $res at $loc" ||
			fail "$what: $name blocked on $kind $res at $loc" \
				"report has: $(jq -c --arg n "$name" '[.blocked[] | select(.name == $n)]' "$json")"
	done <"$T/expected"
	eq "$what: the healthy ticker, if caught blocked, only sleeps, with a deadline" \
		"$(jq '[.blocked[] | select(.name == "ticker" and (.waits_on.op != "sleep" or .deadline_ns == null))] | length' "$json")" 0
	local holder reader
	holder=$(jq '[.blocked[] | select(.name == "holder") | .id][0]' "$json")
	reader=$(jq '[.blocked[] | select(.name == "reader") | .id][0]' "$json")
	eq "$what: locker is blocked by holder" \
		"$(jq -c '[.blocked[] | select(.name == "locker") | .blocked_by][0]' "$json")" "[$holder]"
	eq "$what: joiner is blocked by reader" \
		"$(jq -c '[.blocked[] | select(.name == "joiner") | .blocked_by][0]' "$json")" "[$reader]"
	eq "$what: the process" "$(jq -r '.process.pid, .process.name' "$json" | paste -sd ' ')" "$pid hang"
	ge "$what: blocked count" "$(jq .tasks.blocked "$json")" 8
	eq "$what: deadlocks is an array" "$(jq '.deadlocks | type' "$json")" '"array"'
	eq "$what: warnings is an array" "$(jq '.warnings | type' "$json")" '"array"'
}

eq "report of the live pid" "$(status_of "$TS" report "$pid" --json)" 0
cp "$T/out" "$T/live.json"
check_blocked live "$T/live.json"
"$TS" report "$pid" >"$T/text.out"
contains "the text report lists locker's wait" "$(cat "$T/text.out")" "mutex"
contains "and its location" "$(cat "$T/text.out")" "examples/hang.c:"

kill -STOP "$pid"
eq "report of the stopped pid" "$(status_of "$TS" report "$pid" --json)" 0
cp "$T/out" "$T/stopped.json"
check_blocked stopped "$T/stopped.json"
kill -CONT "$pid"

eq "dump" "$(status_of "$TS" dump "$pid" -o "$T/hang.db")" 0
eq "report of the dump" "$(status_of "$TS" report "$T/hang.db" --json)" 0
cp "$T/out" "$T/dump.json"
check_blocked dump "$T/dump.json"

eq "record" "$(status_of "$TS" record "$pid" -o "$T/rec.db" --duration 0.5)" 0
eq "report of the recording" "$(status_of "$TS" report "$T/rec.db" --json)" 0
cp "$T/out" "$T/rec.json"
check_blocked recording "$T/rec.json"

eq "export" "$(status_of "$TS" export "$T/rec.db" --format chrome -o "$T/trace.json")" 0
jq -e . "$T/trace.json" >/dev/null && pass "the trace is JSON" || fail "the trace is not JSON"
ntasks=$(q "$T/rec.db" 'SELECT count(*) FROM tasks')
eq "a thread_name per task" \
	"$(jq '[.traceEvents[] | select(.ph == "M" and .name == "thread_name" and .pid == 1)] | length' "$T/trace.json")" "$ntasks"
missing=$(q "$T/rec.db" 'SELECT id FROM tasks' | while read -r id; do
	jq -e --argjson id "$id" 'any(.traceEvents[]; .pid == 1 and .tid == $id and .ph == "X")' \
		"$T/trace.json" >/dev/null || echo "$id"
done)
eq "every task has a slice" "$missing" ""

kill -KILL "$pid"
wait "$pid" 2>/dev/null
eq "report of the killed program's segment" "$(status_of "$TS" report "$pid" --json)" 0
cp "$T/out" "$T/dead.json"
check_blocked dead "$T/dead.json"
finish
