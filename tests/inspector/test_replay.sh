#!/usr/bin/env bash
# tests/inspector/test_replay.sh - `taskscope replay` driven in tmux
# (send-keys, capture-pane) over a recording of the deadlock zoo's
# three_locks, every answer checked against the DB with sqlite3:
#   - at the end: root blocked on join:a, a b c on mutexes m2 m3 m1, the
#     DEADLOCK banner, the polls, busy time and wakes of the tasks table;
#   - g to a time before the workers were spawned: root alone, no banner,
#     each task in the state the DB's spans give at that time;
#   - ] and [ move the header's time to the next and previous span
#     boundary (the smallest after, the largest before, from the DB), and
#     the rows follow; { } move by a twentieth of the history and stop at
#     its start; g +10ms and -1s are relative;
#   - p: "Deadlocks (0)" one ns before the deadlock's found_ns, the chain
#     in the DB's order at found_ns; Enter on it opens the detail with the
#     wait-for chain round the cycle;
#   - a bad g input says "not a time" and leaves the cursor; --at starts
#     there; q exits 0 and restores the terminal, SIGTERM restores it too;
#   - a live process by pid and by segment path: dumped, the deadlock found.
# And without the TUI: --help, usage errors (exit 2), a missing, a text,
# an empty and a truncated file (exit 1, one line on stderr, no crash).
. "$(dirname "$0")/lib.sh"

need_tmux
# the session the checks read: each replay gets its own (killing the last
# session ends the server, and a new one could race with its exit)
sess=rp
screen() { tm capture-pane -p -t "$sess"; }
# the header's "at TIME of END"
header_time() {
	screen | head -n 1 | sed -n 's/^replay .*  at \(.*\) of [0-9.]* [a-z]*  .*/\1/p'
}
# fmt_ns NS - the time as ts_fmt_ns writes it (util.c)
fmt_ns() {
	awk -v v="$1" 'BEGIN { a = v < 0 ? -v : v
		if (a >= 1e9) printf "%.2f s", v / 1e9
		else if (a >= 1e6) printf "%.2f ms", v / 1e6
		else if (a >= 1e3) printf "%.1f us", v / 1e3
		else printf "%d ns", v }'
}
# expect_time WHAT NS - the header shows NS
expect_time() {
	local want
	want=$(fmt_ns "$2")
	if wait_screen "  at $want of " 5; then
		pass "$1: the header shows $want"
	else
		fail "$1: the header shows $want" "header: $(screen | head -n 1)"
	fi
}
# goto TIME - g, TIME, Enter
goto() {
	tm send-keys -t "$sess" g
	tm send-keys -t "$sess" -l -- "$1"
	tm send-keys -t "$sess" Enter
}
# states_at NS - "id name state" of each task alive at NS, from the spans
# (docs/SCHEMA.md, "Tasks alive at time T")
states_at() {
	q "$db" "SELECT t.id, t.name,
		(SELECT CASE WHEN s.stop_ns <= $1 THEN 'blocked' WHEN s.run_ns <= $1 THEN 'running'
			WHEN s.state0 = 1 THEN 'ready' ELSE 'unknown' END
		 FROM spans s WHERE s.task = t.id AND s.start_ns <= $1
		 ORDER BY s.start_ns DESC LIMIT 1)
		FROM tasks t WHERE (t.spawned_ns IS NULL OR t.spawned_ns <= $1)
		AND (t.ended_ns IS NULL OR t.ended_ns > $1) ORDER BY t.id" | tr '|' ' '
}
# expect_rows WHAT NS - the table has one row per task alive at NS, in
# the state the DB gives
expect_rows() {
	local what=$1 id name state n=0
	while read -r id name state; do
		n=$((n + 1))
		screen | grep -qE "^ +$id $name +$state" ||
			fail "$what: row $id $name $state" "$(screen)"
	done < <(states_at "$2")
	eq "$what: one row per task alive ($n)" "$(screen | grep -cE '^ +[0-9]+ [a-z]')" "$n"
}
# absent WHAT REGEX - the screen does not show REGEX
absent() {
	if screen | grep -qE "$2"; then
		fail "$1" "$(screen)"
	else
		pass "$1"
	fi
}
# next_time NS / prev_time NS - the nearest span boundary after / before NS
boundaries="SELECT start_ns AS t FROM spans UNION SELECT run_ns FROM spans
	UNION SELECT stop_ns FROM spans UNION SELECT end_ns FROM spans"
next_time() { q "$db" "SELECT min(t) FROM ($boundaries) WHERE t > $1"; }
prev_time() { q "$db" "SELECT max(t) FROM ($boundaries) WHERE t < $1"; }

# ---- without the TUI --------------------------------------------------------------

eq "replay --help: exit 0" "$(status_of "$TS" replay --help)" 0
contains "replay --help: the synopsis" "$(cat "$T/out")" "taskscope replay DB|PID|SEGMENT"
eq "replay without a target: exit 2" "$(status_of "$TS" replay)" 2
eq "replay with two targets: exit 2" "$(status_of "$TS" replay "$T/x.db" "$T/y.db")" 2
eq "replay --at xyz: exit 2" "$(status_of "$TS" replay "$T/x.db" --at xyz)" 2
contains "replay --at xyz: says why" "$(cat "$T/err")" "bad --at 'xyz'"
eq "replay --at 1x: exit 2" "$(status_of "$TS" replay "$T/x.db" --at 1x)" 2
# bad_file WHAT PATH NEEDLE - exit 1, one line on stderr naming the
# problem, nothing on stdout
bad_file() {
	eq "$1: exit 1" "$(status_of "$TS" replay "$2" </dev/null)" 1
	eq "$1: one line on stderr" "$(wc -l <"$T/err")" 1
	contains "$1: says why" "$(cat "$T/err")" "$3"
	eq "$1: nothing on stdout" "$(wc -c <"$T/out")" 0
}
bad_file "a missing file" "$T/missing.db" "No such file"
echo "not a history" >"$T/text.db"
bad_file "a text file" "$T/text.db" "text.db: not a taskscope"
: >"$T/empty.db"
bad_file "an empty file" "$T/empty.db" "empty.db: "

# ---- the recording ------------------------------------------------------------------

db=$T/a.db
bg "$TS" run --no-tui --record "$db" -- "$EX/deadlocks/three_locks" --delay 200 \
	>"$T/run.out" 2>"$T/run.err"
run_pid=$!
wait_line "$T/run.out" '^ready pid' 20 || fail "three_locks never ready" "$(cat "$T/run.err")"
for ((i = 0; i < 100; i++)); do
	[ "$(q "$db" 'SELECT count(*) FROM deadlocks')" == 1 ] && break
	sleep 0.1
done
kill -TERM "$run_pid"
wait "$run_pid"
eq "run: three_locks killed by the SIGTERM passed on (128 + 15)" "$?" 143
# the segment of run's child, which died of the signal
child=$(sed -n 's/^ready pid \([0-9]*\).*/\1/p' "$T/run.out")
[ -n "$child" ] && rm -f /dev/shm/taskscope."$child".*
eq "the recording is complete, with one deadlock" \
	"$(q "$db" 'SELECT complete, (SELECT count(*) FROM deadlocks) FROM process')" "1|1"

cp "$db" "$T/half.db"
truncate -s $(($(stat -c %s "$db") / 2)) "$T/half.db"
bad_file "a DB truncated to half" "$T/half.db" "half.db: damaged taskscope database"

root_id=$(q "$db" 'SELECT id FROM tasks WHERE parent_id IS NULL')
spawned=$(q "$db" 'SELECT min(spawned_ns) FROM tasks WHERE parent_id IS NOT NULL')
root_start=$(q "$db" "SELECT min(start_ns) FROM spans WHERE task = $root_id")
found=$(q "$db" 'SELECT found_ns FROM deadlocks')
first=$(q "$db" "SELECT min((SELECT first_ns FROM process), (SELECT min(t) FROM ($boundaries)))")
last=$(q "$db" "SELECT max((SELECT last_ns FROM process), (SELECT max(t) FROM ($boundaries)))")
twentieth=$(((last - first) / 20))
before=$(((root_start + spawned) / 2))
echo "# root $root_id from $root_start, workers spawned at $spawned, deadlock found at $found," \
	"history [$first, $last]"

# ---- the TUI --------------------------------------------------------------------------

tm new-session -d -s "$sess" -x 120 -y 30 "$TS replay $db; echo REPLAY-EXIT \$?; sleep 30"
trap 'tm kill-server 2>/dev/null; cleanup' EXIT

wait_screen '^ +4 c ' 10 && pass "the table shows the tasks" ||
	fail "the table shows the tasks" "$(screen)"
expect_time "at the start of the replay (its end)" "$last"
for row in "$root_id root +blocked.* join:a" "2 a +blocked.* mutex:m2" "3 b +blocked.* mutex:m3" \
	"4 c +blocked.* mutex:m1"; do
	screen | grep -qE "^ +$row" && pass "at the end: row $row" || fail "at the end: row $row" "$(screen)"
done
screen | grep -q 'DEADLOCK (1)' && pass "at the end: the deadlock banner" ||
	fail "at the end: the deadlock banner" "$(screen)"
expect_rows "at the end" "$last"
# the counters at the end are those the recorder wrote in the tasks table
while read -r id polls; do
	eq "at the end: task $id's POLLS" "$(screen | awk -v id="$id" '$1 == id { print $NF }')" "$polls"
done < <(q "$db" 'SELECT id, polls FROM tasks ORDER BY id' | tr '|' ' ')
tm send-keys -t "$sess" Home Enter
wait_screen 'Wait-for chain' 5 || fail "Enter opens the root's detail" "$(screen)"
want=$(q "$db" "SELECT polls || ' polls, busy ', busy_ns, ', ' || wakes || ' wakes (' ||
	self_wakes || ' by itself)' FROM tasks WHERE id = $root_id" |
	while IFS='|' read -r a busy b; do echo "$a$(fmt_ns "$busy")$b"; done)
contains "at the end: the root's detail has the DB's counters" "$(screen)" "$want"
tm send-keys -t "$sess" Escape
wait_screen '^ +ID NAME' 5 || fail "Esc back to the table" "$(screen)"

goto "${before}ns"
expect_time "g before the spawns" "$before"
expect_rows "before the spawns" "$before"
screen | grep -qE "^ +$root_id root +blocked .* sleep" && pass "before the spawns: root sleeps" ||
	fail "before the spawns: root sleeps" "$(screen)"
absent "before the spawns: no banner" 'DEADLOCK'

t1=$(next_time "$before")
tm send-keys -t "$sess" ']'
expect_time "] steps to the next span boundary" "$t1"
expect_rows "after ]" "$t1"
t2=$(prev_time "$t1")
tm send-keys -t "$sess" '['
expect_time "[ steps back to the previous span boundary" "$t2"
expect_rows "after [" "$t2"
tm send-keys -t "$sess" ']' ']'
expect_time "] ] steps two boundaries on" "$(next_time "$t1")"

goto "${before}ns"
expect_time "g back before the spawns" "$before"
tm send-keys -t "$sess" '}'
expect_time "} jumps a twentieth on" $((before + twentieth))
tm send-keys -t "$sess" '{' '{'
expect_time "{ { jump two twentieths back" $((before - twentieth))
goto "+10ms"
expect_time "g +10ms" $((before - twentieth + 10000000))
goto "-1s"
expect_time "g -1s stops at the history's start" "$first"
tm send-keys -t "$sess" '{'
expect_time "{ at the start stays there" "$first"

goto "${before}ns"
expect_time "g back before the spawns, again" "$before"
goto "abc"
wait_screen "not a time: 'abc'" 5 && pass "g abc: not a time" || fail "g abc: not a time" "$(screen)"
expect_time "g abc: the cursor stays" "$before"

tm send-keys -t "$sess" p
wait_screen '^Deadlocks \(0\)' 5 && pass "p at the start: Deadlocks (0)" ||
	fail "p at the start: Deadlocks (0)" "$(screen)"
goto "$((found - 1))ns"
expect_time "g to the ns before the deadlock was found" $((found - 1))
wait_screen '^Deadlocks \(0\)' 5 && pass "p before found_ns: Deadlocks (0)" ||
	fail "p before found_ns: Deadlocks (0)" "$(screen)"
absent "before found_ns: no banner" 'DEADLOCK'
goto "${found}ns"
wait_screen '^Deadlocks \(1\)' 5 && pass "p at found_ns: Deadlocks (1)" ||
	fail "p at found_ns: Deadlocks (1)" "$(screen)"
screen | grep -q 'DEADLOCK (1)' && pass "at found_ns: the banner" ||
	fail "at found_ns: the banner" "$(screen)"
screen | grep -q '1. definite cycle, 3 tasks:' && pass "p: a definite cycle of 3 tasks" ||
	fail "p: a definite cycle of 3 tasks" "$(screen)"
# the chain in the DB's order: each waits on the mutex the next holds
chain=$(q "$db" "SELECT d.task, t.name, r.name FROM deadlock_tasks d JOIN tasks t ON t.id = d.task
	JOIN resources r ON r.id = d.object ORDER BY d.pos" | tr '|' ' ')
shown=$(screen | sed -n 's/^ *\(->\)\{0,1\} *task \([0-9]*\) "\([a-z]*\)" waits on mutex:\(m[0-9]\)$/\2 \3 \4/p')
eq "p: the chain, in order" "$shown" "$chain"
first_member=$(head -n 1 <<<"$chain" | cut -d' ' -f1,2)
tm send-keys -t "$sess" j Enter
wait_screen 'Wait-for chain' 5 && pass "Enter on the deadlock opens the detail" ||
	fail "Enter on the deadlock opens the detail" "$(screen)"
screen | grep -q "^task ${first_member% *} \"${first_member#* }\"  blocked" &&
	pass "the detail is its first task's" || fail "the detail is its first task's" "$(screen)"
screen | grep -q "back to task ${first_member% *}: a cycle" && pass "the chain goes round the cycle" ||
	fail "the chain goes round the cycle" "$(screen)"
tm send-keys -t "$sess" Escape
wait_screen '^Deadlocks \(1\)' 5 && pass "Esc back to the problems" || fail "Esc back" "$(screen)"

tm send-keys -t "$sess" t
wait_screen '^ +ID NAME' 5 && pass "t: back to the tasks" || fail "t: back to the tasks" "$(screen)"
tm send-keys -t "$sess" q
wait_screen 'REPLAY-EXIT 0' 5 && pass "q quits with status 0" || fail "q quits" "$(screen)"
absent "the terminal is restored (the table is gone)" 'WAITS ON|^replay '

# --at: the cursor starts there
sess=rp-at
tm new-session -d -s "$sess" -x 120 -y 30 "$TS replay $db --at 150ms; echo REPLAY-EXIT \$?; sleep 30"
expect_time "--at 150ms" 150000000
expect_rows "--at 150ms" 150000000
# SIGTERM ends it as q does, and restores the terminal
rp_pid=$(pgrep -P "$(tm list-panes -t "$sess" -F '#{pane_pid}')" -f 'replay')
kill -TERM "$rp_pid"
wait_screen 'REPLAY-EXIT ' 5 && pass "SIGTERM ends the replay" || fail "SIGTERM ends the replay" "$(screen)"
absent "SIGTERM: the terminal is restored" 'WAITS ON|^replay '

# a live process, by pid and by its segment: dumped first, the detector run
bg "$EX/deadlocks/three_locks" >"$T/z.out"
pid=$!
wait_line "$T/z.out" '^ready pid' 20 || fail "three_locks never ready"
n=0
for target in "$pid" /dev/shm/taskscope."$pid".*; do
	n=$((n + 1))
	sess=rp-live$n
	tm new-session -d -s "$sess" -x 120 -y 30 "$TS replay $target; echo REPLAY-EXIT \$?; sleep 30"
	wait_screen '^ +4 c +blocked.* mutex:m1' 10 && pass "replay ${target##*/}: the tasks" ||
		fail "replay ${target##*/}: the tasks" "$(screen)"
	screen | grep -q 'DEADLOCK (1)' && pass "replay ${target##*/}: the deadlock banner" ||
		fail "replay ${target##*/}: the deadlock banner" "$(screen)"
	tm send-keys -t "$sess" q
	wait_screen 'REPLAY-EXIT 0' 5 && pass "replay ${target##*/}: q quits with status 0" ||
		fail "replay ${target##*/}: q quits" "$(screen)"
done
kill -0 "$pid" && pass "the program still runs" || fail "the program died"

# a history without deadlocks (no sorting of an empty list of them)
"$TS" run --no-tui --record "$T/demo.db" -- "$EX/demo" 300 >/dev/null 2>&1
eq "demo recorded" "$?" 0
sess=rp-demo
tm new-session -d -s "$sess" -x 120 -y 30 "$TS replay $T/demo.db; echo REPLAY-EXIT \$?; sleep 30"
wait_screen '^replay demo' 10
tm send-keys -t "$sess" h # at its end every task is done: h shows finished tasks
wait_screen '^ +[0-9]+ reporter +done' 10 && pass "a history without deadlocks: the tasks" ||
	fail "a history without deadlocks: the tasks" "$(screen)"
absent "a history without deadlocks: no banner" 'DEADLOCK'
tm send-keys -t "$sess" p
wait_screen '^Deadlocks \(0\)' 5 && pass "a history without deadlocks: p says none" ||
	fail "a history without deadlocks: p says none" "$(screen)"
tm send-keys -t "$sess" q
wait_screen 'REPLAY-EXIT 0' 5 && pass "a history without deadlocks: q" || fail "q" "$(screen)"

# a time no recorder writes: refused, not computed with
cp "$db" "$T/badtime.db"
q "$T/badtime.db" 'UPDATE spans SET start_ns = -9223372036854775000
	WHERE rowid = (SELECT min(rowid) FROM spans)' >/dev/null
bad_file "a span time out of range" "$T/badtime.db" "damaged history: a time out of range"

# no terminal to draw on: a usage error, before anything is drawn
eq "replay without a terminal: exit 2" "$(status_of "$TS" replay "$db" </dev/null)" 2
contains "replay without a terminal: says so" "$(cat "$T/err")" "needs a terminal"
finish
