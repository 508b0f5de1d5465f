#!/usr/bin/env bash
# bench/run.sh - runs every benchmark shape for taskscope, Go and pthreads
# and prints a Markdown table of medians (also saved to
# $BENCH_OUT/results.md).  `make bench` builds the programs and calls this.
#
# Fairness: each round runs every shape once for each implementation, one
# process at a time, with the order of the implementations rotated from
# shape to shape and round to round, so that drift and noise (other load,
# frequency changes) hit all three sides alike.  A program that fails,
# times out or prints no RESULT line counts as a failed sample, never as a
# number.
#
# Environment:
#   BENCH_RUNS     rounds (default 5); the table shows medians
#   BENCH_OUT      build directory holding the programs (default build/bench)
#   BENCH_TIMEOUT  seconds allowed per program run (default 30; a timed-out
#                  program is not run again for that row: a hang costs one
#                  timeout, not one per round)
#   BENCH_ONLY     space-separated row ids to run (default: all), e.g.
#                  BENCH_ONLY="yield pingpong" (probes.sh reads it too)
#   BENCH_DIV      divide every iteration count by this (default 1): quick
#                  smoke runs; the numbers are then less steady
# Outputs in $BENCH_OUT: results.md (the table), raw.tsv (every sample),
# logs/ (stdout+stderr of every run, INFO lines included).
set -u
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=bench/lib.sh
. bench/lib.sh

OUT=${BENCH_OUT:-build/bench}
RUNS=${BENCH_RUNS:-5}
TIMEOUT=${BENCH_TIMEOUT:-30}
ONLY=${BENCH_ONLY:-}
DIV=${BENCH_DIV:-1}
# tsk: the runtime as shipped (probes on, flight mode); tskoff: the same
# binary with TASKSCOPE=off (the probes cost one branch each).
IMPLS=(tsk tskoff go pthread)
declare -A BIN=([tsk]=$OUT/tsk_bench [tskoff]=$OUT/tsk_bench [go]=$OUT/go_bench [pthread]=$OUT/pthread_bench)
declare -A HUNG=() # "impl id" pairs that timed out once

# One line per table row:
#   id | program shape | workers | unit | better | iterations for tsk, go,
#   pthread | target ("×" of Go, in the ratio's sense, or -) | label
# Iterations are sized per implementation so that each timed run lasts
# roughly 0.1-0.5 s on the reference 2-CPU machine: long enough to be
# steady, short enough for 5 rounds in one or two minutes.  Results are per
# operation, so different counts do not change what is measured; the
# counts used are printed under the table.
SHAPES=(
	"yield|yield|2|ns/yield|lower|10000000|3000000|100000|2|yield, 2 tasks, 2 workers"
	"yield_1w|yield|1|ns/yield|lower|5000000|3000000|100000|2|yield, 2 tasks, 1 worker (every yield switches)"
	"spawn_join|spawn_join|2|ns/task|lower|1000000|500000|5000|2|spawn + join, one at a time"
	"spawn_batch|spawn_batch|2|ns/task|lower|1000000|1000000|5000|-|spawn 1000, then join all"
	"pingpong|pingpong|2|ns/roundtrip|lower|1000000|500000|20000|2|ping-pong over 2 rendezvous channels"
	"pingpong_1w|pingpong|1|ns/roundtrip|lower|1000000|500000|20000|-|ping-pong, 1 worker (no cross-thread wake-ups)"
	"chan_1x1|chan_1x1|2|msgs/s|higher|5000000|5000000|2000000|-|channel cap 128, 1 producer / 1 consumer"
	"chan_4x4|chan_4x4|2|msgs/s|higher|5000000|5000000|1000000|-|channel cap 128, 4 producers / 4 consumers"
	"mutex_4|mutex_4|2|ns/op|lower|4000000|10000000|10000000|-|mutex, 4 contenders, lock+inc+unlock"
	"idle_mem|idle_mem|2|B/task|lower|100000|100000|10000|0.5|memory per idle task blocked on a channel"
)

mkdir -p "$OUT/logs" || exit 1
RAW=$OUT/raw.tsv
RESULTS=$OUT/results.md
: >"$RAW"

# run_one ROUND ID IMPL SHAPE ITERS WORKERS: appends one sample to raw.tsv:
# a number, NA (program not built) or FAIL:<exit status> (124: timeout).
run_one() {
	local round=$1 id=$2 impl=$3 shape=$4 iters=$5 workers=$6
	local bin=${BIN[$impl]} log=$OUT/logs/$impl-$id-$round.log out rc val
	if [ ! -x "$bin" ]; then
		printf '%s\t%s\t%s\tNA\n' "$round" "$id" "$impl" >>"$RAW"
		return
	fi
	if [ -n "${HUNG[$impl $id]:-}" ]; then
		printf '%s\t%s\t%s\tFAIL:124\n' "$round" "$id" "$impl" >>"$RAW"
		return
	fi
	local probes=${TASKSCOPE:-}
	[ "$impl" = tskoff ] && probes=off
	out=$(TASKSCOPE=$probes timeout -k 5 "$TIMEOUT" "$bin" "$shape" "$iters" "$workers" 2>"$log")
	rc=$?
	printf '%s\n' "$out" >>"$log"
	val=$(awk -v s="$shape" '$1 == "RESULT" && $2 == s { print $3; exit }' <<<"$out")
	if [ "$rc" -ne 0 ] || [ -z "$val" ]; then
		val="FAIL:$rc"
		[ "$rc" -eq 124 ] && HUNG[$impl $id]=1
		printf '\n  %s %s failed (status %s%s), see %s\n ' "$impl" "$id" "$rc" \
			"$([ "$rc" -eq 124 ] && echo ": timeout, not run again")" "$log" >&2
	fi
	printf '%s\t%s\t%s\t%s\n' "$round" "$id" "$impl" "$val" >>"$RAW"
}

# ---- measure -------------------------------------------------------------

# BENCH_ONLY may name rows of the probe-overhead table alone (probes.sh):
# then this table is empty, and so is results.md until probes.sh appends.
any=""
for spec in "${SHAPES[@]}"; do selected "${spec%%|*}" && any=1; done
if [ -z "$any" ]; then
	: >"$RESULTS"
	exit 0
fi

start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for ((round = 1; round <= RUNS; round++)); do
	printf 'round %d/%d:' "$round" "$RUNS" >&2
	k=0
	for spec in "${SHAPES[@]}"; do
		IFS='|' read -r id shape workers unit better it_tsk it_go it_pt target label <<<"$spec"
		k=$((k + 1))
		selected "$id" || continue
		printf ' %s' "$id" >&2
		declare -A ITERS=([tsk]=$(scaled "$it_tsk") [tskoff]=$(scaled "$it_tsk") [go]=$(scaled "$it_go") [pthread]=$(scaled "$it_pt"))
		for ((j = 0; j < ${#IMPLS[@]}; j++)); do
			impl=${IMPLS[$(((j + round + k) % ${#IMPLS[@]}))]}
			run_one "$round" "$id" "$impl" "$shape" "${ITERS[$impl]}" "$workers"
		done
	done
	printf ' (%ds)\n' "$(($(date +%s) - start))" >&2
done

# ---- summarise -----------------------------------------------------------

# fmt_value UNIT VALUE: a number as shown in the table.
fmt_value() {
	awk -v u="$1" -v x="$2" 'BEGIN {
		if (u == "msgs/s") printf "%.2f M", x / 1e6
		else if (x < 100) printf "%.1f", x
		else printf "%.0f", x
	}'
}

# cell ID IMPL UNIT: "median ±spread%" plus failures, "n/a" or "FAIL".
cell() {
	local med min max ok total na fail s
	read -r med min max ok total na fail <<<"$(stats "$1" "$2")"
	if [ "$ok" -eq 0 ]; then
		if [ "$total" -gt 0 ] && [ "$na" -eq "$total" ]; then
			echo "n/a (not built)"
		elif [ "$fail" = 124 ]; then
			echo "FAIL (timeout)"
		else
			echo "FAIL (status $fail)"
		fi
		return
	fi
	s="$(fmt_value "$3" "$med") ±$(awk -v a="$min" -v b="$max" -v m="$med" \
		'BEGIN { printf "%.0f%%", (m > 0 ? (b - a) / 2 / m * 100 : 0) }')"
	[ "$ok" -lt "$total" ] && s="$s ($((total - ok))/$total failed)"
	echo "$s"
}

cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo "no commit yet")
dirty=""
export GIT_OPTIONAL_LOCKS=0 # read-only: never refresh the index
[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && dirty=" (with uncommitted changes)"

{
	echo "# taskscope runtime benchmarks"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); taskscope commit: $commit$dirty"
	echo "- CPU: ${cpu:-unknown}; online CPUs (nproc): $(nproc); kernel $(uname -r)"
	echo "- $(go version 2>/dev/null || echo 'go: not installed'); $(${CC:-cc} --version 2>/dev/null | head -n 1)"
	echo "- $RUNS rounds; each cell is the median, ± half the min-max range in % of it;"
	echo "  implementations interleaved within each round in rotating order."
	echo "- load average (1/5/15 min) at start: $load_start, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "  (other load on the machine widens the ± and shifts medians; compare runs on a quiet machine)"
	echo "- probes: \"on\" runs with TASKSCOPE=${TASKSCOPE:-<unset>}, \"off\" with TASKSCOPE=off"
	[ "$DIV" != 1 ] && echo "- **BENCH_DIV=$DIV: iteration counts divided by $DIV (smoke run)**"
	echo
	echo "| shape | unit | taskscope, probes off | taskscope, probes on | Go | pthreads | × vs Go, probes off | × vs Go, probes on | target | met (off / on) |"
	echo "|---|---|--:|--:|--:|--:|--:|--:|--:|:-:|"
	for spec in "${SHAPES[@]}"; do
		IFS='|' read -r id shape workers unit better it_tsk it_go it_pt target label <<<"$spec"
		selected "$id" || continue
		shown_unit=$unit
		[ "$unit" = msgs/s ] && shown_unit="M msgs/s"
		g=$(median_of "$id" go)
		tgt="-"
		[ "$target" != "-" ] && tgt="≥ ${target}×"
		ratios=()
		mets=()
		for impl in tskoff tsk; do
			t=$(median_of "$id" "$impl")
			ratio="-"
			met="-"
			if [ "$t" != "-" ] && [ "$g" != "-" ]; then
				ratio=$(awk -v t="$t" -v g="$g" -v b="$better" \
					'BEGIN { r = (b == "lower" ? g / t : t / g); printf "%.2f", r }')
				[ "$target" != "-" ] &&
					met=$(awk -v r="$ratio" -v x="$target" 'BEGIN { print ((r >= x) ? "yes" : "**no**") }')
				ratio="${ratio}×"
			fi
			ratios+=("$ratio")
			mets+=("$met")
		done
		met="-"
		[ "$target" != "-" ] && met="${mets[0]} / ${mets[1]}"
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$shown_unit" \
			"$(cell "$id" tskoff "$unit")" "$(cell "$id" tsk "$unit")" "$(cell "$id" go "$unit")" \
			"$(cell "$id" pthread "$unit")" "${ratios[0]}" "${ratios[1]}" "$tgt" "$met"
	done
	echo
	printf 'Iterations per run (taskscope / Go / pthreads):'
	sep=" "
	for spec in "${SHAPES[@]}"; do
		IFS='|' read -r id shape workers unit better it_tsk it_go it_pt target label <<<"$spec"
		selected "$id" || continue
		printf '%s%s %s/%s/%s' "$sep" "$id" "$(human "$(scaled "$it_tsk")")" \
			"$(human "$(scaled "$it_go")")" "$(human "$(scaled "$it_pt")")"
		sep="; "
	done
	echo "."
	cat <<'EOF'

"× vs Go" is how many times better taskscope does than Go: Go/taskscope
for time and memory per operation (lower is better), taskscope/Go for
throughput (higher is better).  The targets (issue 2) in those terms:
yield, ping-pong and spawn+join at most half of Go's time (≥ 2×), an idle
task at most twice a goroutine's memory (≥ 0.5×).

"probes on" is the runtime as shipped: every task transition recorded in
the shared-memory flight recorder (one rdtsc per switch, a few 64-byte
records and live-slot updates); "probes off" is the same binary with
TASKSCOPE=off (one branch per probe point).  The issue-2 targets are the
runtime's own; what the probes add is the second table (probe overhead).

How each shape is measured (taskscope / Go / pthreads; sources in bench/):

- Workers: tsk_config.workers, GOMAXPROCS, and for pthreads the CPU
  affinity of the process (CPUs 0..workers-1).  With 2 workers on this
  2-CPU machine the pthreads are not pinned; with 1 worker they are all
  pinned to CPU 0.  Each timed run follows a warm-up of a tenth of its size
  (except memory), all in the same process.
- yield: two tasks each call tsk_yield() / runtime.Gosched() /
  sched_yield() in a loop; total time / total calls.  With 2 workers each
  task usually has a worker to itself, and tsk_yield returns at once when
  its worker has nothing else to run, while Gosched always goes through
  Go's global run queue and sched_yield always enters the kernel: that
  row is the cost of a yield *call*, not of a switch.  The 1-worker row
  is the real switch cost on all three sides (pthreads: both threads
  pinned to CPU 0, so every sched_yield switches kernel threads).
- spawn + join: spawn a task that returns at once and join it (Go: go
  func + sync.WaitGroup; pthreads: pthread_create + pthread_join); the
  batch variant spawns 1000 and then joins them all.
- ping-pong: the root task and one other bounce a counter over two
  capacity-0 channels (Go: unbuffered chans; pthreads: two one-slot
  mailboxes, each a mutex + condvar); ns per round trip.  The 1-worker
  row keeps both tasks on one thread: channel and switch cost without
  cross-thread wake-ups (pthreads: both threads pinned to CPU 0).
- channel throughput: capacity 128 of int64; producers send ITERS values
  in all, consumers drain until the channel is closed (pthreads: a mutex +
  2 condvars ring buffer); every value is checked.
- mutex: 4 tasks share ITERS lock / counter++ / unlock rounds (Go:
  sync.Mutex; pthreads: default glibc mutex).  taskscope's mutex works
  like Go's: a running locker may barge; a waiter that waited 1 ms
  switches it to FIFO hand-off (starvation mode).
- memory: 100k tasks (taskscope, Go) in a fresh process block forever on a receive from one
  channel; resident memory (exact, from /proc/self/smaps_rollup) before
  and after, divided by the count; then the channel is closed and they
  exit.  pthreads: 10k threads with the default 8 MiB stack blocked on one
  condvar, because every thread stack is 2 mappings (stack + guard) and
  vm.max_map_count (65530 here) caps a process near 32k threads; the 16 KiB
  kernel stack per thread is not in RSS (see INFO lines in logs/).
EOF
} >"$RESULTS.tmp" && mv "$RESULTS.tmp" "$RESULTS"

cat "$RESULTS"
echo
echo "saved: $RESULTS (samples: $RAW, logs: $OUT/logs/)" >&2
