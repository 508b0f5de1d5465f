#!/usr/bin/env bash
# tests/inspector/test_top.sh - `taskscope top` driven in tmux (send-keys,
# capture-pane) on the deadlock zoo's three_locks: the task table shows
# the program's tasks with their states and waits, a filter changes the
# rows, Enter opens the detail with the wait-for chain round the cycle,
# the deadlock banner is there, p r w l t switch views, q leaves the
# terminal to the shell.  The timeline: its cursor's line says what the
# selected lane does, w gives lanes per worker; over a dump of the same
# process (replay), a wake between a, b and c is drawn once zoomed in.
. "$(dirname "$0")/lib.sh"

need_tmux
screen() { tm capture-pane -p -t top; }

bg "$EX/deadlocks/three_locks" >"$T/z.out"
pid=$!
wait_line "$T/z.out" '^ready pid' 20 || fail "three_locks never ready"
tm new-session -d -s top -x 120 -y 30 "$TS top $pid; echo TOP-EXIT \$?; sleep 30"
trap 'tm kill-server 2>/dev/null; cleanup' EXIT

wait_screen '^ +4 c ' 10 && pass "the table shows the tasks" ||
	fail "the table shows the tasks" "$(screen)"
for row in "1 root +blocked.* join:a" "2 a +blocked.* mutex:m2" "3 b +blocked.* mutex:m3" \
	"4 c +blocked.* mutex:m1"; do
	screen | grep -qE "^ +$row" && pass "row: $row" || fail "row: $row" "$(screen)"
done
screen | grep -q 'DEADLOCK (1)' && pass "the deadlock banner" || fail "the deadlock banner" "$(screen)"

tm send-keys -t top / m 3 Enter
wait_screen '/m3' 5
eq "filter m3: one row" "$(screen | grep -cE '^ +[0-9]+ [a-z]')" 1
screen | grep -qE '^ +3 b ' && pass "filter m3: task b" || fail "filter m3: task b" "$(screen)"
tm send-keys -t top / Escape
sleep 0.3

# sorting: the names of the rows, top to bottom
names() { screen | awk '/^ +[0-9]+ [a-z]/ {printf "%s ", $2}'; }
# wait_order KEYS ORDER WHAT - sends KEYS, then waits until the rows read ORDER
wait_order() {
	local i
	tm send-keys -t top "$1"
	for ((i = 0; i < 50; i++)); do
		[ "$(names)" = "$2" ] && break
		sleep 0.1
	done
	eq "$3" "$(names)" "$2"
}
eq "sorted by id at first" "$(names)" "root a b c "
wait_order i "c b a root " "i: reversed"
wait_order i "root a b c " "i again: by id"
wait_order s "a b c root " "s: by name"
wait_order '>' "root a b c " "> from name: by state (all blocked: then by id)"
wait_order '<' "a b c root " "< back: by name"
wait_order i "root c b a " "i: by name, reversed"
wait_order '<' "c b a root " "< back to id, still reversed"
wait_order i "root a b c " "i: by id again"

tm send-keys -t top t
wait_screen '^ +2 +  a ' 5 && pass "t: the tree indents the root's children" ||
	fail "t: the tree indents the root's children" "$(screen)"
tm send-keys -t top t
wait_screen '^ +2 a ' 5 && pass "t again: a flat table" || fail "t again: a flat table" "$(screen)"

tm send-keys -t top g j Enter
wait_screen 'Wait-for chain' 5 && pass "Enter opens the detail" || fail "Enter opens the detail" "$(screen)"
screen | grep -q 'back to task 2: a cycle' && pass "the chain goes round the cycle" ||
	fail "the chain goes round the cycle" "$(screen)"
tm send-keys -t top Escape
wait_screen '^ +ID NAME' 5 && pass "Esc comes back to the table" || fail "Esc back" "$(screen)"

tm send-keys -t top p
wait_screen '^Deadlocks \(1\)' 5 && pass "p: the problems view shows the deadlock" ||
	fail "p: the problems view" "$(screen)"
screen | grep -q 'definite cycle, 3 tasks' && pass "p: a definite cycle of 3 tasks" ||
	fail "p: a definite cycle of 3 tasks" "$(screen)"
tm send-keys -t top r
wait_screen ' mutex +m3 ' 5 && pass "r: the resources view lists the mutexes" ||
	fail "r: the resources view" "$(screen)"
tm send-keys -t top w
wait_screen '^WORKER' 5 && pass "w: the workers view" || fail "w: the workers view" "$(screen)"
tm send-keys -t top l
wait_screen '^TASK .* across' 5 && pass "l: the timeline" || fail "l: the timeline" "$(screen)"
screen | grep -qE '^c +\.+ *$' && pass "l: task c's lane shows it blocked" ||
	fail "l: task c's lane shows it blocked" "$(screen)"
tm send-keys -t top j j j
wait_screen '^cursor .*  c: blocked on mutex:m1 at [^ ]*three_locks.c' 5 &&
	pass "l: the cursor's line says what c does there" ||
	fail "l: the cursor's line says what c does there" "$(screen)"
tm send-keys -t top w
wait_screen '^WORKER .* across' 5 && pass "l, w: lanes per worker" || fail "l, w: lanes per worker" "$(screen)"
n=$(screen | grep -cE "^worker [01]( |$)")
[ "$n" = 2 ] && pass "l, w: a lane for each of the two workers" ||
	fail "l, w: a lane for each of the two workers" "$(screen)"
tm send-keys -t top w
wait_screen '^TASK .* across' 5 && pass "l, w again: lanes per task" ||
	fail "l, w again: lanes per task" "$(screen)"
tm send-keys -t top t
wait_screen '^ +ID NAME' 5 && pass "t: back to the tasks" || fail "t: back to the tasks" "$(screen)"

# paused, a key still takes effect and is drawn
tm send-keys -t top Space
wait_screen '\[paused\]' 5 && pass "space pauses the view" || fail "space pauses the view" "$(screen)"
tm send-keys -t top p
wait_screen '^Deadlocks \(1\)' 5 && pass "paused: p shows the problems" ||
	fail "paused: p shows the problems" "$(screen)"
tm send-keys -t top Space t
wait_screen '^ +ID NAME' 5 && pass "space again, t: the tasks" || fail "unpaused: t" "$(screen)"
screen | grep -q '\[paused\]' && fail "unpaused: no [paused]" "$(screen)" || pass "unpaused: no [paused]"

tm resize-window -t top -x 80 -y 24
eq "the window is now 80x24" "$(tm display -p -t top '#{window_width}x#{window_height}')" 80x24
# at 120 columns the heads go on to WHERE, BUSY...; at 80 they stop at FOR
wait_screen '^ +ID NAME +STATE +WAITS ON +FOR *$' 5 && pass "redrawn at 80x24: the columns that fit" ||
	fail "redrawn at 80x24: the columns that fit" "$(screen)"
screen | grep -qE '^ +4 c ' && pass "redrawn at 80x24: the rows" || fail "redrawn at 80x24: the rows" "$(screen)"

tm send-keys -t top q
wait_screen 'TOP-EXIT 0' 5 && pass "q quits with status 0" || fail "q quits" "$(screen)"
screen | grep -q 'WAITS ON' && fail "the screen was not restored" "$(screen)" ||
	pass "the terminal is restored (the table is gone)"
kill -0 "$pid" && pass "the program still runs" || fail "the program died"

# ---- the timeline over a history: replay of a dump ------------------------------------
# The flight recorder holds the whole run: the last of a, b and c to pass
# the wait group woke the others.  The replay's cursor goes just after
# such a wake (the wakee's longest ready interval: at most 1 us in, at
# most half of it), so that the wake is on the screen at every zoom and,
# zoomed in all the way, the cursor's column is inside that interval.
"$TS" dump "$pid" -o "$T/tl.db" >/dev/null 2>&1
wake=$(q "$T/tl.db" "SELECT task, waker, start_ns, run_ns FROM spans WHERE how = 1
	AND task IN (2, 3, 4) AND waker IN (2, 3, 4) AND run_ns > start_ns
	ORDER BY run_ns - start_ns DESC LIMIT 1")
IFS='|' read -r wakee waker wstart wrun <<<"$wake"
[ -n "$wrun" ] && pass "the dump holds a wake between a, b and c" ||
	fail "the dump holds a wake between a, b and c" "$(q "$T/tl.db" 'SELECT * FROM spans')"
names=(- root a b c)
name=${names[${wakee:-0}]:-?}
d=$((((${wrun:-0} - ${wstart:-0}) / 2)))
at=$((${wstart:-0} + (d < 1000 ? d : 1000)))
at=$(printf '%d.%09d' $((at / 1000000000)) $((at % 1000000000)))
rs() { tm capture-pane -p -t rp; }
# wait_rs REGEX SECONDS - wait_screen for the replay's session
wait_rs() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		rs | grep -qE "$1" && return 0
		sleep 0.1
	done
	return 1
}
tm new-session -d -s rp -x 120 -y 30 "$TS replay $T/tl.db --at $at; sleep 30"
wait_rs '^replay three_locks' 10 || fail "replay starts" "$(rs)"
tm send-keys -t rp l
wait_rs '^TASK .* across.*; cursor\)' 5 && pass "replay, l: the axis ends at the replay's cursor" ||
	fail "replay, l: the axis ends at the replay's cursor" "$(rs)"
tm send-keys -t rp w
wait_rs '^worker [0-9]+ +.*[0-9]' 5 && pass "replay, l, w: a worker lane shows a task's runs" ||
	fail "replay, l, w: a worker lane shows a task's runs" "$(rs)"
# zoomed out (2 ms a column or more: over the threshold): no wake
tm send-keys -t rp w - - - - - - - -
wait_rs ', (([2-9]|[1-9][0-9]+)(\.[0-9]+)? ms|[0-9.]+ s) a column' 5
eq "replay, l, zoomed out: no wake drawn" "$(rs | grep -E '^(root|a|b|c) ' | grep -c '[v^]')" 0
for ((i = 0; i < 40; i++)); do tm send-keys -t rp +; done
for ((i = 1; i < ${wakee:-1}; i++)); do tm send-keys -t rp j; done
wait_rs "^$name +.*[v^]" 5 && pass "replay, l, zoomed in: the wake into $name is drawn" ||
	fail "replay, l, zoomed in: the wake into $name is drawn" "$(rs)"
wait_rs "^cursor .*  $name: ready: woken by task $waker " 5 &&
	pass "replay, l: the cursor's line says who woke $name" ||
	fail "replay, l: the cursor's line says who woke $name" "$(rs)"
tm send-keys -t rp q
finish
