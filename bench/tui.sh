#!/usr/bin/env bash
# bench/tui.sh [--append] - the TUI's frame time (`make bench-tui`, part
# of `make bench`): `taskscope top --frame-stats` on examples/deadlocks/chain
# with TUI_TASKS live tasks (default 100000, and as many mutexes), driven
# in tmux for TUI_SECONDS (default 10) on a 120x40 screen.  Each view of
# TUI_VIEWS (default "tasks resources timeline"; also workers, problems,
# detail) is measured in its own runs of top, TUI_RUNS of them (default 3),
# each on a fresh chain: top starts on the tasks view and, once it has
# drawn, tmux sends the view's key (r, l, w, p; Enter opens the detail of
# the first task, chain's root with every task its child).
#
# The figures are the inspector's own frame timer (from the start of a
# frame to its refresh(), printed by top at exit, over the whole run):
# median, 99th percentile and longest frame; and between frames, the
# longest slice of a view's background work (a rebuilt order) and the
# longest pass of the collector (draining the segment, its resync with
# the live state every second, the deadlock detector): a key waits for
# them.  Medians over the runs.  Target: a frame under 5 ms with 100k
# tasks.
#
# Output: the Markdown table on stdout, saved to $BENCH_OUT/tui.md (with
# --append: appended to $BENCH_OUT/results.md too).

set -uo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.." || exit 2

BUILD=${BUILD:-build}
OUT=${BENCH_OUT:-build/bench}
TS=$PWD/$BUILD/bin/taskscope
CHAIN=$BUILD/examples/deadlocks/chain
TASKS=${TUI_TASKS:-100000}
SECS=${TUI_SECONDS:-10}
RUNS=${TUI_RUNS:-3}
VIEWS=${TUI_VIEWS:-tasks resources timeline}
append=0
[ "${1:-}" = --append ] && append=1
for f in "$TS" "$CHAIN"; do
	[ -x "$f" ] || {
		echo "tui.sh: $f not built (make)" >&2
		exit 1
	}
done
command -v tmux >/dev/null || {
	echo "tui.sh: tmux is not installed (make deps)" >&2
	exit 1
}
mkdir -p "$OUT"
tmp=$(mktemp -d)
sock=$tmp/tmux.sock
pid=
cleanup() {
	tmux -S "$sock" kill-server 2>/dev/null
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && rm -f /dev/shm/taskscope."$pid".*
	rm -rf "$tmp"
}
trap cleanup EXIT

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "n/a" }'; }

# view_key VIEW: the keys tmux sends to reach it ("" for the tasks view)
view_key() {
	case $1 in
	tasks) echo "" ;;
	resources) echo r ;;
	timeline) echo l ;;
	workers) echo w ;;
	problems) echo p ;;
	detail) echo Enter ;;
	*)
		echo "tui.sh: unknown view '$1' (tasks resources timeline workers problems detail)" >&2
		exit 2
		;;
	esac
}

# run_once VIEW: one run of top on a fresh chain; appends
# "frames median p99 max tasks work pass" to $tmp/VIEW.runs
run_once() {
	local key i
	key=$(view_key "$1") || exit 2
	"$CHAIN" --tasks "$TASKS" --length 1000 --delay 600000 >"$tmp/chain.out" &
	pid=$!
	for ((i = 0; i < 600; i++)); do
		grep -q '^ready' "$tmp/chain.out" && break
		sleep 0.1
	done
	tmux -S "$sock" new-session -d -s top -x 120 -y 40 \
		"$TS top $pid --frame-stats 2>$tmp/frames.txt; echo >$tmp/done"
	# the key once top has drawn (its bottom line names the views)
	for ((i = 0; i < 300; i++)); do
		tmux -S "$sock" capture-pane -p -t top 2>/dev/null | grep -q 'r resources' && break
		sleep 0.1
	done
	[ -n "$key" ] && tmux -S "$sock" send-keys -t top "$key"
	sleep "$SECS"
	tmux -S "$sock" send-keys -t top q
	for ((i = 0; i < 300; i++)); do
		[ -e "$tmp/done" ] && break
		sleep 0.1
	done
	# "taskscope top: N frames, median X ms, p99 Y ms, max Z ms, T tasks alive;
	#  between frames, longest view work W ms, longest collector pass P ms"
	sed -nE 's/.*: ([0-9]+) frames, median ([0-9.]+) ms, p99 ([0-9.]+) ms, max ([0-9.]+) ms, ([0-9]+) tasks alive(; between frames, longest view work ([0-9.]+) ms, longest collector pass ([0-9.]+) ms)?.*/\1 \2 \3 \4 \5 \7 \8/p' \
		"$tmp/frames.txt" | awk '{ print $1, $2, $3, $4, $5, (NF > 5 ? $6 : "n/a"), (NF > 6 ? $7 : "n/a") }' >>"$tmp/$1.runs"
	rm -f "$tmp/done"
	tmux -S "$sock" kill-server 2>/dev/null
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f /dev/shm/taskscope."$pid".*
	pid=
}

for view in $VIEWS; do
	view_key "$view" >/dev/null || exit 2
	: >"$tmp/$view.runs"
	for ((r = 0; r < RUNS; r++)); do
		run_once "$view"
		echo "tui.sh: $view, run $((r + 1)): $(cat "$tmp/frames.txt")" >&2
	done
done

# col VIEW N: the median of field N over the view's runs
col() { awk -v n="$2" '{ print $n }' "$tmp/$1.runs" | median; }

{
	printf '\n### TUI: the time to draw a frame\n\n'
	printf '`taskscope top --frame-stats` on chain with %s live tasks and as many mutexes, 120x40, %s s a run, %s runs a view (medians of the runs).\n\n' \
		"$TASKS" "$SECS" "$RUNS"
	printf '| view | tasks alive | frames | median | p99 | longest | longest view work | longest collector pass |\n'
	printf '|:--|--:|--:|--:|--:|--:|--:|--:|\n'
	for view in $VIEWS; do
		printf '| %s | %s | %s | %s ms | %s ms | %s ms | %s ms | %s ms |\n' "$view" \
			"$(col "$view" 5)" "$(col "$view" 1)" "$(col "$view" 2)" "$(col "$view" 3)" \
			"$(col "$view" 4)" "$(col "$view" 6)" "$(col "$view" 7)"
	done
	printf '\nTarget: every frame under 5 ms with 100k tasks.  Each run starts on the tasks view and switches once top has drawn.  Between frames a key waits for a slice of view work and for a collector pass.\n'
} | tee "$OUT/tui.md"
[ "$append" = 1 ] && cat "$OUT/tui.md" >>"$OUT/results.md"
exit 0
