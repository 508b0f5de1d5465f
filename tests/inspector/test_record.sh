#!/usr/bin/env bash
# tests/inspector/test_record.sh - `taskscope run` and `taskscope record`
# against the real demo example, then the history checked with sqlite3:
# task counts, names, parent links, state intervals that tile each task's
# life with no gap or overlap, mutex ownership intervals that never
# overlap and match the acquisitions, no losses.
. "$(dirname "$0")/lib.sh"

# the tiling violations of DB: intervals of a task, in order, must start
# at its spawn, each where the previous ended, end at its end (or open)
tiling_violations() {
	q "$1" "
	WITH iv AS (
	  SELECT task, start_ns, end_ns,
	    LAG(end_ns) OVER w AS prev_end,
	    ROW_NUMBER() OVER w AS nth,
	    ROW_NUMBER() OVER (PARTITION BY task ORDER BY start_ns DESC,
	      coalesce(end_ns, 9e18) DESC) AS nth_last
	  FROM intervals WINDOW w AS (PARTITION BY task ORDER BY start_ns, coalesce(end_ns, 9e18)))
	SELECT count(*) FROM iv JOIN tasks t ON t.id = iv.task
	WHERE (nth > 1 AND prev_end IS NOT start_ns)
	   OR (nth = 1 AND start_ns IS NOT t.spawned_ns)
	   OR (nth_last = 1 AND end_ns IS NOT t.ended_ns)
	   OR end_ns < start_ns;"
}

# ---- run: the whole life of a program --------------------------------------------
db=$T/run.db
st=$(status_of "$TS" run --no-tui --record "$db" -- "$EX/demo" 300 4)
eq "run exits with the program's status" "$st" 0
contains "run prints a summary line" "$(cat "$T/err")" "taskscope run: pid"
contains "the summary says nothing was lost" "$(cat "$T/err")" "lost 0 (program side 0)"

# demo 300 4: the root, a reporter, 4 workers, 3 producers
eq "task count" "$(q "$db" 'SELECT count(*) FROM tasks')" 9
eq "task names" "$(q "$db" "SELECT group_concat(name, ',') FROM (SELECT name FROM tasks WHERE parent_id IS NOT NULL ORDER BY name)")" \
	"producer,producer,producer,reporter,worker,worker,worker,worker"
eq "one root, without a parent" "$(q "$db" 'SELECT count(*) FROM tasks WHERE parent_id IS NULL')" 1
eq "every parent is a recorded task" \
	"$(q "$db" 'SELECT count(*) FROM tasks c WHERE parent_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tasks p WHERE p.id = c.parent_id)')" 0
eq "children of the root" \
	"$(q "$db" 'SELECT count(*) FROM tasks WHERE parent_id = (SELECT id FROM tasks WHERE parent_id IS NULL)')" 8
eq "spawn locations are file:line in demo.c" \
	"$(q "$db" "SELECT count(*) FROM tasks WHERE parent_id IS NOT NULL AND location NOT GLOB '*demo.c:[0-9]*'")" 0
eq "every task ended" "$(q "$db" 'SELECT count(*) FROM tasks WHERE ended_ns IS NULL')" 0
eq "intervals tile every task's life" "$(tiling_violations "$db")" 0
ge "intervals recorded" "$(q "$db" 'SELECT count(*) FROM intervals')" 1000
eq "no interval of unknown state (all seen from the start)" \
	"$(q "$db" 'SELECT count(*) FROM intervals WHERE state = 0')" 0
eq "busy time adds up to the running intervals" \
	"$(q "$db" 'SELECT count(*) FROM tasks t WHERE busy_ns != (SELECT coalesce(sum(end_ns - start_ns), 0) FROM intervals WHERE task = t.id AND state = 2)')" 0
eq "polls count the running intervals' starts" \
	"$(q "$db" "SELECT count(*) FROM tasks t WHERE polls > (SELECT count(*) FROM intervals WHERE task = t.id AND state = 2)")" 0
eq "blocked intervals name their wait and site" \
	"$(q "$db" 'SELECT count(*) FROM intervals WHERE state = 3 AND (wait IS NULL OR site IS NULL)')" 0
eq "one worker sleep per job (demo's simulated I/O)" \
	"$(q "$db" "SELECT count(*) FROM state_intervals WHERE task_name = 'worker' AND wait = 'sleep'")" 300
ge "waits on the jobs channel, named" \
	"$(q "$db" "SELECT count(*) FROM state_intervals WHERE resource_name = 'jobs' AND wait IN ('chan_send', 'chan_recv')")" 1
# resources and ownership
eq "resources" "$(q "$db" "SELECT group_concat(kind || ':' || name, ',') FROM (SELECT kind, name FROM resources ORDER BY name)")" \
	"channel:done,channel:jobs,waitgroup:producers,channel:shutdown,mutex:stats,waitgroup:workers"
eq "the jobs channel saw every job sent and received (hand-offs included)" \
	"$(q "$db" "SELECT sends || '/' || recvs FROM resources WHERE name = 'jobs'")" "300/300"
mutex=$(q "$db" "SELECT id FROM resources WHERE name = 'stats'")
ge "ownership intervals of the stats mutex" "$(q "$db" "SELECT count(*) FROM ownership WHERE resource = $mutex")" 300
eq "one ownership interval per acquisition" \
	"$(q "$db" "SELECT count(*) FROM ownership WHERE resource = $mutex")" \
	"$(q "$db" "SELECT acquires FROM resources WHERE id = $mutex")"
eq "ownership intervals of a mutex never overlap" \
	"$(q "$db" "SELECT count(*) FROM ownership a JOIN ownership b ON a.resource = b.resource AND a.rowid < b.rowid AND a.start_ns < b.end_ns AND b.start_ns < a.end_ns WHERE a.resource = $mutex")" 0
eq "owners are workers" \
	"$(q "$db" "SELECT DISTINCT t.name FROM ownership o JOIN tasks t ON t.id = o.task WHERE o.resource = $mutex")" worker
eq "process row" "$(q "$db" "SELECT name, source, complete, lost FROM process")" "demo|record|1|0"
eq "integrity" "$(q "$db" 'PRAGMA integrity_check')" ok
eq "WAL mode" "$(q "$db" 'PRAGMA journal_mode')" wal

# ---- record: attach late to a running program ---------------------------------------
bg "$EX/demo" 2000000 4 >/dev/null
pid=$!
for _ in $(seq 100); do ls /dev/shm/taskscope."$pid".* >/dev/null 2>&1 && break; sleep 0.05; done
sleep 0.3
db2=$T/rec.db
st=$(status_of "$TS" record "$pid" -o "$db2" --duration 1)
eq "record exits 0" "$st" 0
contains "record's summary" "$(cat "$T/err")" "recorded for --duration"
kill -0 "$pid" 2>/dev/null && pass "the program runs on after the recorder detached" ||
	fail "the program died when the recorder detached"
eq "a late attach knows every task" "$(q "$db2" 'SELECT count(*) FROM tasks')" 9
eq "late-attach intervals tile too" "$(tiling_violations "$db2")" 0
ge "events recorded in a second" "$(q "$db2" 'SELECT events FROM process')" 10000
eq "nothing lost" "$(q "$db2" 'SELECT lost FROM process')" 0
# a second recorder while none is attached works again
st=$(status_of "$TS" record "$pid" -o "$T/rec2.db" --duration 0.3)
eq "a second recording after the first detached" "$st" 0
# refusing to overwrite
st=$(status_of "$TS" record "$pid" -o "$db2" --duration 0.3)
eq "an existing DB is refused" "$st" 1
contains "with a message" "$(cat "$T/err")" "exists"
st=$(status_of "$TS" record "$pid" -o "$db2" --duration 0.3 --force)
eq "--force replaces it" "$st" 0
finish
