#!/usr/bin/env bash
# scripts/tui_captures.sh [BUILD] - prints text captures of the TUI's views
# (top on examples/hang and the deadlock zoo's three_locks, replay of a
# recording), as README.md shows them: tmux sends the keys, capture-pane
# reads the screen.  Needs tmux; run after `make`.
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
TS=$BUILD/bin/taskscope
EX=$BUILD/examples
T=$(mktemp -d)
sock=$T/tmux.sock
tm() { tmux -S "$sock" "$@"; }
pids=()
trap 'tm kill-server 2>/dev/null || true; kill "${pids[@]}" 2>/dev/null || true; rm -rf "$T"' EXIT
W=${COLUMNS_CAPTURE:-120}
H=${LINES_CAPTURE:-18}

# shot TITLE KEYS... - sends the keys, waits for a redraw, prints the screen
shot() {
	local title=$1
	shift
	for k in "$@"; do
		tm send-keys -t v "$k"
		sleep 0.3
	done
	sleep 0.6
	printf '\n### %s\n\n```\n' "$title"
	tm capture-pane -p -t v | sed -e 's/[[:space:]]*$//' | awk 'NF {n = NR} {l[NR] = $0} END {for (i = 1; i <= n; i++) print l[i]}'
	printf '```\n'
}

"$EX/hang" >"$T/hang.out" 2>&1 &
pids+=($!)
sleep 1
tm new-session -d -s v -x "$W" -y "$H" "$TS top ${pids[0]}"
sleep 1.5
shot "taskscope top $(basename "$EX")/hang: tasks"
shot "Enter on task 6 (locker): the detail" / l o c k e r Enter Enter
shot "r: resources" Escape / Escape t r
shot "w: workers" w
tm kill-session -t v

"$EX/demo" 30000 >"$T/demo.out" 2>&1 &
pids+=($!)
sleep 1
tm new-session -d -s v -x "$W" -y "$H" "$TS top ${pids[-1]}"
sleep 1.5
shot "taskscope top $(basename "$EX")/demo, l: the timeline, zoomed in (+ five times), paused (space)" l + + + + + " "
tm kill-session -t v

"$EX/deadlocks/three_locks" >"$T/z.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q '^ready' "$T/z.out" && break; sleep 0.1; done
tm new-session -d -s v -x "$W" -y "$H" "$TS top ${pids[-1]}"
sleep 1.5
shot "taskscope top on deadlocks/three_locks: p, problems" p
tm kill-session -t v

# a recording from the program's first event: run --no-tui --record
timeout -s TERM 2 "$TS" run --no-tui --record "$T/z.db" --prog-output "$T/r.out" -- \
	"$EX/deadlocks/three_locks" --delay 300 >/dev/null 2>&1 || true
tm new-session -d -s v -x "$W" -y "$H" "$TS replay $T/z.db"
sleep 1.5
shot "taskscope replay: the end of the history" p
# the first state change after 0.3 s: the workers start
shot "g 0.3 Enter, ] ] ], t: the cursor steps through the state changes" g 0 . 3 Enter ] ] ] t
shot "l, + +: the timeline up to the cursor" l + +
tm kill-session -t v
