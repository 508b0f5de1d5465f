#!/usr/bin/env bash
# tests/inspector/test_run_tui.sh - `taskscope run` with the live view,
# driven in tmux (send-keys, capture-pane):
#   - run --record on the deadlock zoo's three_locks: the table shows its
#     tasks from the first event, the deadlock banner, the header names the
#     DB, the recording is committed while the view is on, PROG's output
#     goes to PROG.PID.out and not to the screen; q closes the view and
#     leaves a sane terminal while recording goes on headless; SIGTERM to
#     taskscope reaches the program; the DB holds the deadlock;
#   - a program that exits while the view is on: the header says so, the
#     final state stays until q, run exits with the program's status (a
#     clean exit, and an abort);
#   - Ctrl-C reaches the program; no terminal is a usage error; --no-tui
#     leaves the program's output where it was.
. "$(dirname "$0")/lib.sh"

need_tmux
sess=
screen() { tm capture-pane -p -t "$sess"; }
# start NAME CMD - a new session NAME (the one screen reads from now on)
# in $T, 160x30, running CMD then printing its status
start() {
	sess=$1
	tm new-session -d -s "$sess" -x 160 -y 30 "cd '$T' && $2; echo RUN-EXIT \$?; sleep 60"
}
# the pid of the program run shows in its header, and forget its segment
# at exit (a program killed by a signal leaves it)
prog_pid() { screen | sed -n 's/^[a-z_]* (pid \([0-9]*\).*/\1/p' | head -1; }
pids=()
trap 'tm kill-server 2>/dev/null; for p in "${pids[@]}"; do rm -f /dev/shm/taskscope."$p".*; done; cleanup' EXIT

# ---- run --record on a deadlock ----------------------------------------------------
start locks "'$TS' run --record '$T/r.db' -- '$EX/deadlocks/three_locks'"
wait_screen '^ +4 c ' 20 && pass "the table shows the tasks" ||
	fail "the table shows the tasks" "$(screen)"
pid=$(prog_pid)
pids+=("$pid")
out=$T/three_locks.$pid.out
wait_line "$out" "^ready pid $pid\$" 20 && pass "the program's output went to $out" ||
	fail "the program's output went to its file" "$(cat "$out" 2>&1)"
for row in "1 root +blocked.* join:a" "2 a +blocked.* mutex:m2" "3 b +blocked.* mutex:m3" \
	"4 c +blocked.* mutex:m1"; do
	wait_screen "^ +$row" 5 && pass "row: $row" || fail "row: $row" "$(screen)"
done
wait_screen 'DEADLOCK \(1\)' 10 && pass "the deadlock banner" || fail "the deadlock banner" "$(screen)"
screen | head -1 | grep -qE "^three_locks \(pid [0-9]+\)  up .* -> $T/r.db" &&
	pass "the header names the program and the recording" ||
	fail "the header names the program and the recording" "$(screen | head -1)"
screen | grep -qF "three_locks's output: $out" && pass "the bottom line names the output file" ||
	fail "the bottom line names the output file" "$(screen)"
screen | grep -q 'ready pid' && fail "the program's output is on the screen" "$(screen)" ||
	pass "the program's output is not on the screen"
# once a second while the view is on, the process row and a commit, as
# headless (the deadlock's own commit has the tasks already)
ok=0
for ((i = 0; i < 50; i++)); do
	[ "$(q "$T/r.db" 'SELECT name, events > 0 FROM process')" == "three_locks|1" ] && ok=1 && break
	sleep 0.1
done
[ $ok -eq 1 ] && pass "the recording is committed while the view is on" ||
	fail "the recording is committed while the view is on" "$(q "$T/r.db" 'SELECT * FROM process')"
eq "the tasks are in the DB while the view is on" "$(q "$T/r.db" 'SELECT count(*) FROM tasks')" 4
ts_pid=$(pgrep -P "$(tm display -p -t "$sess" '#{pane_pid}')" -x taskscope)

tm send-keys -t "$sess" q
wait_screen 'the view is closed; recording three_locks' 10 &&
	pass "q closes the view; recording goes on, said on stderr" ||
	fail "q closes the view; recording goes on, said on stderr" "$(screen)"
screen | grep -q 'WAITS ON' && fail "the screen was not restored" "$(screen)" ||
	pass "the terminal is restored (the table is gone)"
screen | grep -q 'taskscope run: DEADLOCK 1 (definite cycle, 3 tasks)' &&
	pass "the deadlock is said on stderr once the view is closed" ||
	fail "the deadlock is said on stderr once the view is closed" "$(screen)"
sleep 0.5
kill -0 "$pid" 2>/dev/null && pass "the program still runs after q" || fail "the program died on q"
screen | grep -q RUN-EXIT && fail "run ended on q" "$(screen)" || pass "run goes on after q"
kill -TERM "$ts_pid"
wait_screen 'RUN-EXIT 143' 20 && pass "SIGTERM passed on: run exits 128+SIGTERM" ||
	fail "SIGTERM passed on: run exits 128+SIGTERM" "$(screen)"
kill -0 "$pid" 2>/dev/null && fail "the program survived SIGTERM" || pass "the program is gone"
screen | grep -qF "three_locks's standard output and error are in $out" &&
	pass "the exit names the output file" || fail "the exit names the output file" "$(screen)"
st=$(status_of "$TS" report "$T/r.db" --json)
eq "report finds the deadlock (exit 3)" "$st" 3
eq "a definite cycle of a, b, c" \
	"$(jq -r '.deadlocks[0] | .verdict + " " + .kind + " " + ([.tasks[].name] | sort | join(","))' "$T/out")" \
	"definite cycle a,b,c"
eq "the history is complete" "$(q "$T/r.db" 'SELECT name, complete FROM process')" "three_locks|1"

# ---- the program exits while the view is on --------------------------------------
start exits "'$TS' run --record '$T/d.db' -- '$EX/demo' 300 4"
wait_screen '^demo \(pid [0-9]+, exited 0\)  ran ' 30 && pass "the header says the program exited 0" ||
	fail "the header says the program exited 0" "$(screen)"
pid=$(prog_pid)
screen | grep -q 'demo exited 0: the views keep its final state' &&
	pass "the bottom line says so" || fail "the bottom line says so" "$(screen)"
sleep 1.5
screen | grep -q 'RUN-EXIT' && fail "the view closed by itself" "$(screen)" ||
	pass "the final state stays on the screen"
tm send-keys -t "$sess" h
wait_screen '^ +9 producer +done' 5 && pass "h shows the finished tasks" ||
	fail "h shows the finished tasks" "$(screen)"
tm send-keys -t "$sess" q
wait_screen 'RUN-EXIT 0' 10 && pass "q then exits with the program's status" ||
	fail "q then exits with the program's status" "$(screen)"
screen | grep -q 'the view is closed' && fail "run waited for an exited program" "$(screen)" ||
	pass "nothing left to wait for"
eq "every task recorded and ended" \
	"$(q "$T/d.db" 'SELECT count(*), count(ended_ns) FROM tasks')" "9|9"
grep -q '^demo: processed 300 jobs' "$T/demo.$pid.out" && pass "demo's output is in its file" ||
	fail "demo's output is in its file" "$(ls "$T")"

# an abort: the header and the exit status say the signal (no --record)
start abort "'$TS' run -- '$EX/crash' --how abort --after-ms 300"
wait_screen '^crash \(pid [0-9]+, killed by SIGABRT\)' 30 &&
	pass "the header says the program was killed by SIGABRT" ||
	fail "the header says the program was killed by SIGABRT" "$(screen)"
pids+=("$(prog_pid)")
tm send-keys -t "$sess" q
wait_screen 'RUN-EXIT 134' 10 && pass "run exits 128+SIGABRT" || fail "run exits 128+SIGABRT" "$(screen)"

# ---- Ctrl-C reaches the program (same process group, as headless) ------------------
start ctrlc "'$TS' run -- '$EX/deadlocks/three_locks'"
wait_screen '^ +4 c ' 20 || fail "three_locks never shown" "$(screen)"
pid=$(prog_pid)
pids+=("$pid")
tm send-keys -t "$sess" C-c
wait_screen 'RUN-EXIT 130' 20 && pass "Ctrl-C ends the program: run exits 128+SIGINT" ||
	fail "Ctrl-C ends the program: run exits 128+SIGINT" "$(screen)"
kill -0 "$pid" 2>/dev/null && fail "the program survived Ctrl-C" || pass "Ctrl-C reached the program"

# ---- no terminal; --no-tui ----------------------------------------------------------
rm -f "$T"/demo.*.out
st=$(cd "$T" && status_of "$TS" run --record "$T/x.db" -- "$EX/demo" 50 2 </dev/null)
eq "the view without a terminal: usage error" "$st" 2
contains "it suggests --no-tui" "$(cat "$T/err")" "run --no-tui --record DB"
[ -e "$T/x.db" ] && fail "a DB was created" || pass "no DB created"
compgen -G "$T/demo.*.out" >/dev/null && fail "the program was started" "$(ls "$T")" ||
	pass "the program was not started"
st=$(cd "$T" && status_of "$TS" run --no-tui --record "$T/n.db" -- "$EX/demo" 50 2)
eq "--no-tui: the program's status" "$st" 0
grep -q '^demo: processed 50 jobs' "$T/out" && pass "--no-tui: the program's output on run's stdout" ||
	fail "--no-tui: the program's output on run's stdout" "$(cat "$T/out" "$T/err")"
compgen -G "$T/demo.*.out" >/dev/null && fail "--no-tui made an output file" "$(ls "$T")" ||
	pass "--no-tui makes no output file"
st=$(status_of "$TS" run --no-tui --record "$T/n2.db" -r 50 -- "$EX/demo" 50 2)
eq "--refresh with --no-tui: usage error" "$st" 2
finish
