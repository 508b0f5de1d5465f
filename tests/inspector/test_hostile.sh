#!/usr/bin/env bash
# tests/inspector/test_hostile.sh - bad input gets a clear one-line error
# and exit status 1, never a crash and never a lost file: a truncated DB,
# another program's DB, a file that is no DB, corrupt segments, a pid that
# is not instrumented, one that does not exist, one we may not read, bad
# flags (exit 2); and a recorder killed with SIGKILL leaves a DB that opens
# and holds what it committed.
. "$(dirname "$0")/lib.sh"

# one_error WHAT STATUS - the last command failed with STATUS and one line
one_error() {
	eq "$1: exit status" "$2" 1
	eq "$1: one line on stderr" "$(wc -l <"$T/err" | tr -d ' ')" 1
	eq "$1: nothing on stdout" "$(wc -c <"$T/out" | tr -d ' ')" 0
	echo "    stderr: $(cat "$T/err")"
}

# a real history to damage
"$TS" run --no-tui --record "$T/good.db" -- "$EX/demo" 200 2 >/dev/null 2>&1
eq "a good DB reports" "$(status_of "$TS" report "$T/good.db")" 0

size=$(stat -c %s "$T/good.db")
head -c $((size / 2)) "$T/good.db" >"$T/trunc.db"
one_error "truncated DB" "$(status_of "$TS" report "$T/trunc.db")"
cmp -s <(head -c $((size / 2)) "$T/good.db") "$T/trunc.db" && pass "the truncated DB is left as it was" ||
	fail "report modified the truncated DB"

sqlite3 "$T/other.db" 'CREATE TABLE notes(x); INSERT INTO notes VALUES (1);'
one_error "another program's DB" "$(status_of "$TS" report "$T/other.db")"
contains "it says so" "$(cat "$T/err")" "not a taskscope"
eq "the other DB is untouched" "$(q "$T/other.db" 'SELECT count(*) FROM notes')" 1

head -c 5000 /dev/urandom >"$T/noise.db"
one_error "random bytes" "$(status_of "$TS" report "$T/noise.db")"
: >"$T/empty.db"
one_error "an empty file" "$(status_of "$TS" report "$T/empty.db")"
one_error "a missing file" "$(status_of "$TS" report "$T/missing.db")"
one_error "export of a truncated DB" "$(status_of "$TS" export "$T/trunc.db" --format chrome -o "$T/x.json")"

# ---- segments ------------------------------------------------------------------------
bg "$EX/demo" 2000000 2 >/dev/null
pid=$!
for _ in $(seq 100); do ls /dev/shm/taskscope."$pid".* >/dev/null 2>&1 && break; sleep 0.05; done
sleep 0.2
seg=$(ls /dev/shm/taskscope."$pid".* | head -n 1)
cp "$seg" "$T/seg.copy"
eq "a copied segment dumps" "$(status_of "$TS" dump "$T/seg.copy" -o "$T/copy.db")" 0

head -c 1000 "$T/seg.copy" >"$T/seg.trunc"
one_error "truncated segment" "$(status_of "$TS" dump "$T/seg.trunc" -o "$T/t1.db")"
[ -e "$T/t1.db" ] && fail "a failed dump left a DB behind" || pass "a failed dump leaves no DB"
cp "$T/seg.copy" "$T/seg.magic"
printf 'XXXXXXXX' | dd of="$T/seg.magic" conv=notrunc status=none
one_error "segment with a bad magic" "$(status_of "$TS" report "$T/seg.magic")"
one_error "a text file as a segment" "$(status_of "$TS" dump /etc/hostname -o "$T/t2.db")"
# scribbled rings and tables: whatever the bytes, a clean exit (0 or 1), no crash
for i in 1 2 3 4 5; do
	cp "$T/seg.copy" "$T/seg.noise"
	segsize=$(stat -c %s "$T/seg.noise")
	for _ in $(seq 40); do
		off=$(( (RANDOM * 32768 + RANDOM) % (segsize - 4096) + 4096 ))
		head -c 64 /dev/urandom | dd of="$T/seg.noise" bs=1 seek="$off" conv=notrunc status=none
	done
	st=$(status_of "$TS" report "$T/seg.noise" --json)
	if [ "$st" -eq 0 ] || [ "$st" -eq 1 ]; then pass "scribbled segment $i: exit $st"; else
		fail "scribbled segment $i: exit $st" "$(tail -3 "$T/err")"; fi
done

# -o never replaces what is not a regular file
one_error "dump --force onto /dev/null" "$(status_of "$TS" dump "$T/seg.copy" -o /dev/null --force)"
[ -c /dev/null ] && pass "/dev/null is still a device" || fail "/dev/null was replaced"
eq "export to /dev/null writes through it" "$(status_of "$TS" export "$T/good.db" --format chrome -o /dev/null)" 0
[ -c /dev/null ] && pass "/dev/null is still a device after export" || fail "export replaced /dev/null"

# ---- pids ------------------------------------------------------------------------------
sleep 30 &
plain=$!
bg_pids+=("$plain")
one_error "a pid that is not instrumented" "$(status_of "$TS" report "$plain")"
contains "it says so" "$(cat "$T/err")" "not instrumented"
one_error "record of it" "$(status_of "$TS" record "$plain" -o "$T/p.db")"
[ -e "$T/p.db" ] && fail "record left a DB for a pid it could not read" || pass "no DB left"
gone=$(($(cat /proc/sys/kernel/pid_max) - 3))
while kill -0 "$gone" 2>/dev/null; do gone=$((gone - 1)); done
one_error "a pid that does not exist" "$(status_of "$TS" report "$gone")"
contains "it says so" "$(cat "$T/err")" "no process"
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null &&
	setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null &&
	setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$TS"; then
	st=$(status_of setpriv --reuid=65534 --regid=65534 --clear-groups "$TS" report "$pid")
	one_error "a pid we may not read" "$st"
	contains "it says permission denied" "$(cat "$T/err")" "permission denied"
else
	echo "# skipped 'a pid we may not read': needs root, setpriv and a taskscope binary user nobody can run"
fi

# ---- usage -------------------------------------------------------------------------------
eq "an unknown command" "$(status_of "$TS" frobnicate)" 2
eq "an unknown flag" "$(status_of "$TS" report --frob "$T/good.db")" 2
eq "record without -o" "$(status_of "$TS" record "$pid")" 2
eq "record of something that is not a pid" "$(status_of "$TS" record abc -o "$T/q.db")" 2
eq "a bad duration" "$(status_of "$TS" record "$pid" -o "$T/q.db" --duration soon)" 2
eq "export in an unknown format" "$(status_of "$TS" export "$T/good.db" --format svg -o "$T/q.json")" 2
for cmd in ps gc record run dump report export; do
	st=$(status_of "$TS" "$cmd" --help)
	if [ "$st" -eq 0 ] && grep -q SYNOPSIS "$T/out" && grep -q 'EXIT STATUS' "$T/out"; then
		pass "$cmd --help"
	else fail "$cmd --help (exit $st)"; fi
done
eq "taskscope --help" "$(status_of "$TS" --help)" 0

# ---- the recorder killed mid-run -------------------------------------------------------------
"$TS" record "$pid" -o "$T/killed.db" >/dev/null 2>&1 &
rec=$!
sleep 2.5
kill -KILL "$rec"
wait "$rec" 2>/dev/null
eq "the killed recorder's DB is sound" "$(q "$T/killed.db" 'PRAGMA integrity_check')" ok
ge "it holds the committed tasks" "$(q "$T/killed.db" 'SELECT count(*) FROM tasks')" 5
ge "and intervals" "$(q "$T/killed.db" 'SELECT count(*) FROM intervals')" 1000
eq "report reads it (no indexes yet)" "$(status_of "$TS" report "$T/killed.db")" 0
kill -0 "$pid" 2>/dev/null && pass "the program survived its recorder's death" ||
	fail "the program died with its recorder"
eq "a new recorder attaches after the dead one" \
	"$(status_of "$TS" record "$pid" -o "$T/after.db" --duration 0.5)" 0
finish
