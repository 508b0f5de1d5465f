#!/usr/bin/env bash
# tests/inspector/test_top.sh - `taskscope top` driven in tmux (send-keys,
# capture-pane) on the deadlock zoo's three_locks: the task table shows
# the program's tasks with their states and waits, a filter changes the
# rows, Enter opens the detail with the wait-for chain round the cycle,
# the deadlock banner is there, p r w l t switch views, q leaves the
# terminal to the shell.
. "$(dirname "$0")/lib.sh"

command -v tmux >/dev/null || {
	echo "not ok - tmux is not installed (make deps)"
	exit 1
}
sock=$T/tmux.sock
tm() { tmux -S "$sock" "$@"; }
screen() { tm capture-pane -p -t top; }
# wait_screen REGEX SECONDS - until the screen shows REGEX
wait_screen() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		screen | grep -qE "$1" && return 0
		sleep 0.1
	done
	return 1
}

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
tm send-keys -t top t
wait_screen '^ +ID NAME' 5 && pass "t: back to the tasks" || fail "t: back to the tasks" "$(screen)"

tm resize-window -t top -x 80 -y 24 2>/dev/null
sleep 0.4
wait_screen '^ +4 c ' 5 && pass "redrawn at 80x24" || fail "redrawn at 80x24" "$(screen)"

tm send-keys -t top q
wait_screen 'TOP-EXIT 0' 5 && pass "q quits with status 0" || fail "q quits" "$(screen)"
screen | grep -q 'WAITS ON' && fail "the screen was not restored" "$(screen)" ||
	pass "the terminal is restored (the table is gone)"
kill -0 "$pid" && pass "the program still runs" || fail "the program died"
finish
