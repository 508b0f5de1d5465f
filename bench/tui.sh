#!/usr/bin/env bash
# bench/tui.sh [--append] - the TUI's frame time (`make bench-tui`, part
# of `make bench`): `taskscope top --frame-stats` on examples/deadlocks/chain
# with TUI_TASKS live tasks (default 100000), driven in tmux for
# TUI_SECONDS (default 10) on a 120x40 screen, TUI_RUNS times (default 3).
# The figures are the inspector's own frame timer (the time to draw one
# frame, printed by top at exit): median, 99th percentile and longest,
# medians over the runs.  Target: a frame under 5 ms with 100k tasks.
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

: >"$tmp/runs"
for ((r = 0; r < RUNS; r++)); do
	"$CHAIN" --tasks "$TASKS" --length 1000 --delay 600000 >"$tmp/chain.out" &
	pid=$!
	for ((i = 0; i < 600; i++)); do
		grep -q '^ready' "$tmp/chain.out" && break
		sleep 0.1
	done
	tmux -S "$sock" new-session -d -s top -x 120 -y 40 \
		"$TS top $pid --frame-stats 2>$tmp/frames.txt; echo >$tmp/done"
	sleep "$SECS"
	tmux -S "$sock" send-keys -t top q
	for ((i = 0; i < 300; i++)); do
		[ -e "$tmp/done" ] && break
		sleep 0.1
	done
	# "taskscope top: N frames, median X ms, p99 Y ms, max Z ms, T tasks alive"
	sed -E 's/.*: ([0-9]+) frames, median ([0-9.]+) ms, p99 ([0-9.]+) ms, max ([0-9.]+) ms, ([0-9]+) tasks.*/\1 \2 \3 \4 \5/' \
		"$tmp/frames.txt" >>"$tmp/runs"
	rm -f "$tmp/done"
	tmux -S "$sock" kill-server 2>/dev/null
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f /dev/shm/taskscope."$pid".*
	pid=
done

{
	printf '\n### TUI: the time to draw a frame\n\n'
	printf '`taskscope top --frame-stats` on chain with %s live tasks, 120x40, %s s, %s runs (medians of the runs).\n\n' \
		"$TASKS" "$SECS" "$RUNS"
	printf '| tasks alive | frames | median | p99 | longest |\n|--:|--:|--:|--:|--:|\n'
	printf '| %s | %s | %s ms | %s ms | %s ms |\n' \
		"$(awk '{ print $5 }' "$tmp/runs" | median)" "$(awk '{ print $1 }' "$tmp/runs" | median)" \
		"$(awk '{ print $2 }' "$tmp/runs" | median)" "$(awk '{ print $3 }' "$tmp/runs" | median)" \
		"$(awk '{ print $4 }' "$tmp/runs" | median)"
	printf '\nTarget: a frame under 5 ms with 100k tasks.\n'
} | tee "$OUT/tui.md"
[ "$append" = 1 ] && cat "$OUT/tui.md" >>"$OUT/results.md"
exit 0
