#!/usr/bin/env bash
# bench/record.sh [--append] - the recorder's table (`make bench-record`,
# part of `make bench`): how fast `taskscope run --record` takes events
# into SQLite without losing any, what a recorded event costs on disk, and
# how long `report` takes on a 10M-event history.
#
#  1. Lossless rate.  For each target rate R (RECORD_RATES, records/s; 0 =
#     unpaced), RECORD_RUNS runs of
#         taskscope run --no-tui --record DB -- evgen --rate R --duration D
#     (evgen: task pairs ping-ponging; 1 worker, so the recorder's two
#     threads have the other core).  From the recorder's summary line: the
#     events it applied, the rate, the losses counted by the LOST records it
#     read AND by the rings' own drop counters (the program's side), rows the
#     DB writer dropped, DB bytes per event.  A rate is lossless when every
#     run lost 0 on both sides and dropped no row.  The table gives, per
#     target, the median achieved rate and B/event, and the highest
#     lossless rate measured.
#  2. Report on a 10M-event history: one unpaced recording long enough for
#     RECORD_HISTORY events (default 10M), then `taskscope report DB` and
#     `report DB --json` RECORD_REPORTS times each: median wall time.
#
# Output: the Markdown table on stdout, saved to $BENCH_OUT/record.md (with
# --append: appended to $BENCH_OUT/results.md too); raw lines in
# $BENCH_OUT/record.raw.
#
# Environment: BENCH_OUT (default build/bench), RECORD_RATES, RECORD_RUNS
# (3), RECORD_SECONDS (3), RECORD_HISTORY (10000000), RECORD_REPORTS (5),
# BUILD (build).

set -uo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.." || exit 2

BUILD=${BUILD:-build}
OUT=${BENCH_OUT:-build/bench}
TS=$BUILD/bin/taskscope
EVGEN=$BUILD/examples/evgen
RATES=${RECORD_RATES:-250000 500000 1000000 1500000 2000000 3000000 4000000 0}
RUNS=${RECORD_RUNS:-3}
SECS=${RECORD_SECONDS:-3}
HISTORY=${RECORD_HISTORY:-10000000}
REPORTS=${RECORD_REPORTS:-5}
append=0
[ "${1:-}" = --append ] && append=1

for f in "$TS" "$EVGEN"; do
	[ -x "$f" ] || {
		echo "record.sh: $f not built (make)" >&2
		exit 1
	}
done
mkdir -p "$OUT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
raw=$OUT/record.raw
: >"$raw"

# one_run RATE SECONDS DB: runs the recorder, prints
# "events rate lost lost_program overwritten dropped bytes_per_event"
one_run() {
	local rate=$1 secs=$2 db=$3 line
	rm -f "$db" "$db"-wal "$db"-shm
	"$TS" run --no-tui --record "$db" -- "$EVGEN" --rate "$rate" --duration "$secs" \
		--pairs 4 --workers 1 >"$tmp/evgen.out" 2>"$tmp/rec.err"
	line=$(grep '^taskscope run: ' "$tmp/rec.err" | tail -n 1)
	if [ -z "$line" ]; then
		echo "FAIL"
		return
	fi
	echo "$line" >>"$raw"
	awk '{
		for (i = 1; i <= NF; i++) {
			if ($i == "events" && $(i + 1) == "in") ev = $(i - 1)
			if ($i == "events/s),") { r = $(i - 1); sub(/^\(/, "", r) }
			if ($i == "lost") l = $(i + 1)
			if ($i == "side") { lp = $(i + 1); sub(/\),?/, "", lp) }
			if ($i == "overwritten") { o = $(i + 1); sub(/,/, "", o) }
			if ($i == "B/event)") { b = $(i - 1); sub(/^\(/, "", b) }
		}
		d = ($0 ~ /dropped rows/) ? 1 : 0
		print ev, r, l, lp, o, d, b
	}' <<<"$line"
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "n/a" }'; }

table() {
printf '\n### Recorder: lossless rate and size on disk\n\n'
printf 'Target rates in records/s (0: unpaced); %s runs of %s s each; evgen with 4 task pairs on 1 worker.\n\n' "$RUNS" "$SECS"
printf '| target rate | achieved (median) | lost (recorder / program) | rows dropped | DB B/event | lossless |\n'
printf '|--:|--:|--:|--:|--:|:-:|\n'
best=0
best_bpe=n/a
for rate in $RATES; do
	: >"$tmp/runs"
	for ((i = 0; i < RUNS; i++)); do
		one_run "$rate" "$SECS" "$tmp/r.db" >>"$tmp/runs"
	done
	if grep -q FAIL "$tmp/runs"; then
		printf '| %s | failed | | | | |\n' "$rate"
		continue
	fi
	ach=$(awk '{ print $2 }' "$tmp/runs" | median)
	bpe=$(awk '{ print $7 }' "$tmp/runs" | median)
	lost=$(awk '{ l += $3; p += $4; o += $5 } END { print l " / " p (o ? " (+" o " overwritten)" : "") }' "$tmp/runs")
	dropped=$(awk '{ d += $6 } END { print d }' "$tmp/runs")
	ok=$(awk '$3 != 0 || $4 != 0 || $5 != 0 || $6 != 0 { bad = 1 } END { print bad ? "no" : "yes" }' "$tmp/runs")
	label=$rate
	[ "$rate" = 0 ] && label="unpaced"
	printf '| %s | %.0f | %s | %s | %.1f | %s |\n' "$label" "$ach" "$lost" "$dropped" "$bpe" "$ok"
	if [ "$ok" = yes ] && awk -v a="$ach" -v b="$best" 'BEGIN { exit !(a > b) }'; then
		best=$ach
		best_bpe=$bpe
	fi
done
printf '\nHighest lossless rate measured: **%.0f events/s**, %s B/event on disk (target: 2M events/s, < 40 B/event).\n' \
	"$best" "$best_bpe"

# ---- report on a long history -------------------------------------------------------
# paced at the highest lossless rate: a history with every event in it
rate_for_history=$(awk -v b="$best" 'BEGIN { printf "%.0f", (b > 0 ? b : 1000000) }')
secs=$(awk -v h="$HISTORY" -v r="$rate_for_history" 'BEGIN { printf "%.1f", h / r * 1.05 }')
hist=$OUT/record-history.db
r=$(one_run "$rate_for_history" "$secs" "$hist")
events=$(awk '{ print $1 }' <<<"$r")
size=$(stat -c %s "$hist" 2>/dev/null || echo 0)
rows=$(sqlite3 "$hist" 'SELECT count(*) FROM intervals' 2>/dev/null || echo 0)
spans=$(sqlite3 "$hist" 'SELECT count(*) FROM spans' 2>/dev/null || echo 0)
lost=$(awk '{ print $3 + $4 }' <<<"$r")
tasks=$(sqlite3 "$hist" 'SELECT count(*) FROM tasks' 2>/dev/null || echo 0)
: >"$tmp/t1"
: >"$tmp/t2"
for ((i = 0; i < REPORTS; i++)); do
	s=$(date +%s%N)
	"$TS" report "$hist" >/dev/null 2>&1
	e=$(date +%s%N)
	echo $(((e - s) / 1000000)) >>"$tmp/t1"
	s=$(date +%s%N)
	"$TS" report "$hist" --json >/dev/null 2>&1
	e=$(date +%s%N)
	echo $(((e - s) / 1000000)) >>"$tmp/t2"
done
printf '\n### report on a long history\n\n'
printf '| history | events | lost | intervals (spans) | tasks | DB bytes | B/event | report (median of %s) | report --json |\n' "$REPORTS"
printf '|---|--:|--:|--:|--:|--:|--:|--:|--:|\n'
printf '| evgen at %s/s, %s s | %s | %s | %s (%s) | %s | %s | %s | %s ms | %s ms |\n' "$rate_for_history" \
	"$secs" "$events" "$lost" "$rows" "$spans" "$tasks" "$size" \
	"$(awk -v s="$size" -v e="$events" 'BEGIN { printf "%.1f", e ? s / e : 0 }')" \
	"$(median <"$tmp/t1")" "$(median <"$tmp/t2")"
printf '\nTarget: report on a 10M-event history in under 2 s.\n'
rm -f "$hist" "$hist"-wal "$hist"-shm
}

table | tee "$OUT/record.md"
if [ "$append" = 1 ]; then
	cat "$OUT/record.md" >>"$OUT/results.md"
fi
