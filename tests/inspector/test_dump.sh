#!/usr/bin/env bash
# tests/inspector/test_dump.sh - the flight recorder of a SIGKILLed program:
# `ps` lists its leftover segment as dead, `dump` turns it into a history
# (events of the last moments + the live state at the kill), `report` reads
# the dump, `gc` removes the segment; `dump` of a live and of a SIGSTOPped
# process works without disturbing it.
. "$(dirname "$0")/lib.sh"

bg "$EX/demo" 2000000 4 >/dev/null
pid=$!
for _ in $(seq 100); do ls /dev/shm/taskscope."$pid".* >/dev/null 2>&1 && break; sleep 0.05; done
sleep 0.5

# ---- a live process, then a stopped one ----------------------------------------------
eq "dump of a live pid" "$(status_of "$TS" dump "$pid" -o "$T/live.db")" 0
contains "dump's summary" "$(cat "$T/err")" "dumped"
eq "all its tasks" "$(q "$T/live.db" 'SELECT count(*) FROM tasks')" 9
ge "flight-recorder intervals" "$(q "$T/live.db" 'SELECT count(*) FROM intervals')" 1000
eq "alive tasks have an open interval" \
	"$(q "$T/live.db" 'SELECT count(*) FROM tasks t WHERE ended_ns IS NULL AND NOT EXISTS (SELECT 1 FROM intervals WHERE task = t.id AND end_ns IS NULL)')" 0
eq "source" "$(q "$T/live.db" 'SELECT source FROM process')" dump
kill -STOP "$pid"
eq "ps shows it stopped" "$("$TS" ps | awk -v p="$pid" '$1 == p { print $2 }')" stopped
eq "dump of a stopped pid" "$(status_of "$TS" dump "$pid" -o "$T/stopped.db")" 0
eq "report of a stopped pid" "$(status_of "$TS" report "$pid" --json)" 0
eq "it names the process" "$(jq -r .process.pid "$T/out")" "$pid"
kill -CONT "$pid"

# ---- killed -------------------------------------------------------------------------------
kill -KILL "$pid"
wait "$pid" 2>/dev/null
seg=$(ls /dev/shm/taskscope."$pid".* 2>/dev/null | head -n 1)
[ -n "$seg" ] && pass "SIGKILL leaves the segment" || fail "no segment after SIGKILL"
eq "ps lists it dead" "$("$TS" ps | awk -v p="$pid" '$1 == p { print $2 }')" dead
"$TS" ps --json >"$T/ps.json"
eq "ps --json too" "$(jq -r --argjson p "$pid" 'select(.pid == $p) | .status' "$T/ps.json")" dead ||
	cat "$T/ps.json"
eq "dump by pid of the dead process" "$(status_of "$TS" dump "$pid" -o "$T/dead.db")" 0
eq "dump by segment path" "$(status_of "$TS" dump "$seg" -o "$T/dead2.db")" 0
eq "all tasks of the killed program" "$(q "$T/dead.db" 'SELECT count(*) FROM tasks')" 9
eq "with their names" "$(q "$T/dead.db" "SELECT count(*) FROM tasks WHERE name IN ('worker', 'producer', 'reporter')")" 8
ge "its last moments as intervals" "$(q "$T/dead.db" 'SELECT count(*) FROM intervals')" 1000
eq "the history ends at the last event" \
	"$(q "$T/dead.db" 'SELECT count(*) FROM intervals i, process p WHERE i.end_ns > p.last_ns')" 0
eq "the mutex is known" "$(q "$T/dead.db" "SELECT kind FROM resources WHERE name = 'stats'")" mutex
eq "report of the dead pid" "$(status_of "$TS" report "$pid" --json)" 0
eq "report of the dump" "$(status_of "$TS" report "$T/dead.db" --json)" 0
eq "the same task counts either way" "$(jq -c .tasks "$T/out")" \
	"$("$TS" report "$pid" --json | jq -c .tasks)"
# gc
"$TS" gc --dry-run >"$T/gc.out"
contains "gc --dry-run names it" "$(cat "$T/gc.out")" "$seg"
[ -e "$seg" ] && pass "--dry-run removes nothing" || fail "--dry-run removed the segment"
"$TS" gc >"$T/gc.out"
contains "gc removes it" "$(cat "$T/gc.out")" "removed $seg"
[ -e "$seg" ] && fail "the segment is still there" || pass "the segment is gone"
bg "$EX/demo" 2000000 1 >/dev/null
live=$!
for _ in $(seq 100); do ls /dev/shm/taskscope."$live".* >/dev/null 2>&1 && break; sleep 0.05; done
"$TS" gc >/dev/null
ls /dev/shm/taskscope."$live".* >/dev/null 2>&1 && pass "gc keeps a live process's segment" ||
	fail "gc removed a live process's segment"
finish
