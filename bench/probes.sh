#!/usr/bin/env bash
# bench/probes.sh - the probe-overhead table: what the flight recorder costs.
# `make bench` runs it after bench/run.sh (`--append`: the table also goes
# at the end of $BENCH_OUT/results.md); `make bench-probes` runs it alone.
# It always writes $BENCH_OUT/probes.md.
#
# Two parts, measured in one run, medians of BENCH_RUNS rounds:
#   1. ns per event written back to back: a bare rdtsc loop, probe_emit
#      with a fresh timestamp and with one reused (probe_bench), and an
#      LTTng-UST tracepoint with the same payload in a real LTTng session,
#      discard mode (streamed to disk by the consumer daemon) and overwrite
#      mode (a snapshot session: a flight recorder), plus disabled.
#   2. runtime shapes (yield, ping-pong, spawn+join) on the library with
#      the probes compiled out (PROBES=0: tsk_bench_noprobes), with probes
#      on in flight mode (no reader), with TASKSCOPE=off, and in stream
#      mode (probe_stream attaches a reader that drains while the shape
#      runs; its lost-record count is shown).
# Within a round every row of part 1 runs once, in an order rotated from
# round to round, and every variant of a part-2 row runs once, one after
# the other in rotating order, so drift and other load hit them alike; a
# slowdown is the median over rounds of the per-round ratio to PROBES=0.
#
# Environment: BENCH_OUT, BENCH_RUNS (default 5), BENCH_TIMEOUT (seconds
# per program run, default 30), BENCH_ONLY (row ids of either table, e.g.
# "emit lttng_discard pingpong"), BENCH_DIV (divide iteration counts).
# TASKSCOPE is set per variant; TASKSCOPE_RING and TASKSCOPE_STACKS pass
# through (and are printed in the header).
#
# LTTng needs lttng-tools (lttng, lttng-sessiond) and liblttng-ust-dev
# (build/bench/lttng_bench is only built with it).  A session daemon that
# is not running is started (lttng-sessiond --daemonize) and stopped again
# at the end; each LTTng sample has its own session (create, enable
# channel and event, start, run, stop, destroy).  Without them the LTTng
# rows say n/a and why.
set -u
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=bench/lib.sh
. bench/lib.sh

OUT=${BENCH_OUT:-build/bench}
RUNS=${BENCH_RUNS:-5}
TIMEOUT=${BENCH_TIMEOUT:-30}
ONLY=${BENCH_ONLY:-}
DIV=${BENCH_DIV:-1}
APPEND=0
case ${1:-} in
'') ;;
--append) APPEND=1 ;;
*)
	echo "usage: $0 [--append]" >&2
	exit 2
	;;
esac

PROBE_BIN=$OUT/probe_bench
TSK_BIN=$OUT/tsk_bench
BASE_BIN=$OUT/tsk_bench_noprobes
STREAM_BIN=$OUT/probe_stream
LTTNG_BIN=$OUT/lttng_bench

# Part 1 rows: id | how (probe SHAPE, or lttng MODE) | iterations | label.
# About 0.1-0.5 s each on the reference 2-CPU machine.
EVENTS=(
	"rdtsc|probe rdtsc|20000000|bare rdtsc loop (\`__rdtsc()\`)"
	"emit|probe emit|20000000|\`probe_emit\`, fresh \`probe_tsc()\` per event"
	"emit_tsc1|probe emit_tsc1|20000000|\`probe_emit\`, one timestamp reused (the record alone)"
	"lttng_off|lttng off|20000000|LTTng-UST tracepoint, no session (disabled)"
	"lttng_discard|lttng discard|1000000|LTTng-UST tracepoint, discard mode, streamed to disk"
	"lttng_overwrite|lttng overwrite|1000000|LTTng-UST tracepoint, overwrite mode (snapshot session)"
)
# Part 2 rows: id | shape | workers | iterations | target (max % slowdown
# with probes on) or - | label.  Same ids, shapes and counts as run.sh.
SHAPES=(
	"yield_1w|yield|1|5000000|-|yield, 2 tasks, 1 worker"
	"pingpong|pingpong|2|1000000|5|ping-pong, 2 workers"
	"pingpong_1w|pingpong|1|1000000|5|ping-pong, 1 worker"
	"spawn_join|spawn_join|2|1000000|-|spawn + join, one at a time"
)
VARIANTS=(base on off)
[ -x "$STREAM_BIN" ] && VARIANTS+=(stream)

LOGS=$OUT/logs
RAW=$OUT/probes-raw.tsv
RESULTS=$OUT/probes.md
mkdir -p "$LOGS" || exit 1
: >"$RAW"
declare -A HUNG=() # "id variant" pairs that timed out once

# record ROUND ID VARIANT VALUE: one line of raw.tsv.
record() {
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RAW"
}

# run_one ROUND ID VARIANT SHAPE CMD...: runs CMD under the timeout and
# records the value of its "RESULT SHAPE" line (FAIL:<status> when it
# fails, 124: timeout); a "RESULT stream_lost" line is recorded as variant
# stream_lost.  The output is kept in logs/probes-ID-VARIANT-ROUND.log.
run_one() {
	local round=$1 id=$2 variant=$3 shape=$4
	shift 4
	local log=$LOGS/probes-$id-$variant-$round.log out rc val lost
	if [ -n "${HUNG[$id $variant]:-}" ]; then
		record "$round" "$id" "$variant" FAIL:124
		return
	fi
	out=$(timeout -k 5 "$TIMEOUT" "$@" 2>"$log")
	rc=$?
	printf '%s\n' "$out" >>"$log"
	val=$(awk -v s="$shape" '$1 == "RESULT" && $2 == s { print $3; exit }' <<<"$out")
	lost=$(awk '$1 == "RESULT" && $2 == "stream_lost" { print $3; exit }' <<<"$out")
	if [ "$rc" -ne 0 ] || [ -z "$val" ]; then
		val="FAIL:$rc"
		[ "$rc" -eq 124 ] && HUNG[$id $variant]=1
		printf '\n  %s %s failed (status %s), see %s\n ' "$id" "$variant" "$rc" "$log" >&2
	fi
	record "$round" "$id" "$variant" "$val"
	[ -n "$lost" ] && record "$round" "$id" stream_lost "$lost"
}

# ---- LTTng ------------------------------------------------------------------

LTTNG_NA=""        # why the LTTng rows cannot run, or empty
SESSIOND_PID=""    # the session daemon this script started, if any
LTTNG_SESSION=""   # the session that exists right now, if any
LTTNG_LOG=$LOGS/probes-lttng-setup.log

sessiond_pidfile() {
	if [ "$(id -u)" -eq 0 ]; then
		echo /var/run/lttng/lttng-sessiond.pid
	else
		echo "${LTTNG_HOME:-$HOME}/.lttng/lttng-sessiond.pid"
	fi
}

# Finds or starts a session daemon; sets LTTNG_NA when LTTng cannot run.
lttng_setup() {
	: >"$LTTNG_LOG"
	if [ ! -x "$LTTNG_BIN" ]; then
		LTTNG_NA="lttng_bench not built: install liblttng-ust-dev (pkg-config lttng-ust) and rebuild"
		return
	fi
	if ! command -v lttng >/dev/null || ! command -v lttng-sessiond >/dev/null; then
		LTTNG_NA="lttng-tools not installed (lttng, lttng-sessiond)"
		return
	fi
	lttng version >>"$LTTNG_LOG" 2>&1
	lttng list >>"$LTTNG_LOG" 2>&1 && return # a daemon is running: use it
	if ! lttng-sessiond --daemonize >>"$LTTNG_LOG" 2>&1 || ! lttng list >>"$LTTNG_LOG" 2>&1; then
		LTTNG_NA="lttng-sessiond could not be started (see $LTTNG_LOG)"
		return
	fi
	local pid
	pid=$(cat "$(sessiond_pidfile)" 2>/dev/null)
	[ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = lttng-sessiond ] &&
		SESSIOND_PID=$pid
}

lttng_cleanup() {
	if [ -n "$LTTNG_SESSION" ]; then
		lttng destroy "$LTTNG_SESSION" >>"$LTTNG_LOG" 2>&1
		LTTNG_SESSION=""
	fi
	rm -rf "$OUT/lttng-trace"
	# only the daemon we started, by its pid
	if [ -n "$SESSIOND_PID" ] && [ "$(cat "/proc/$SESSIOND_PID/comm" 2>/dev/null)" = lttng-sessiond ]; then
		kill "$SESSIOND_PID" 2>/dev/null
		SESSIOND_PID=""
	fi
}
trap lttng_cleanup EXIT
trap 'exit 130' INT TERM

# lttng_one ROUND ID MODE ITERS: one LTTng sample.  off: no session.
# discard / overwrite: a fresh session with one per-user channel of 4 x 1
# MiB sub-buffers per CPU (the size of a taskscope ring), the event
# enabled, started before the program and stopped after it; the channel's
# discarded-event count is recorded as variant "discarded".
lttng_one() {
	local round=$1 id=$2 mode=$3 iters=$4
	local log=$LOGS/probes-$id-lttng-$round.log sess dir listing discarded
	if [ -n "$LTTNG_NA" ]; then
		record "$round" "$id" x NA
		return
	fi
	if [ "$mode" = off ]; then
		run_one "$round" "$id" x off "$LTTNG_BIN" off "$iters"
		return
	fi
	sess=taskscope-bench-$$-$round
	dir=$OUT/lttng-trace/$sess
	: >"$log"
	LTTNG_SESSION=$sess
	if ! { if [ "$mode" = overwrite ]; then
		lttng create "$sess" --snapshot --output="$dir"
	else
		lttng create "$sess" --output="$dir"
	fi &&
		lttng enable-channel -u -s "$sess" "--$mode" --subbuf-size=1M --num-subbuf=4 bench &&
		lttng enable-event -u -s "$sess" -c bench 'taskscope_bench:*' &&
		lttng start "$sess"; } >>"$log" 2>&1; then
		printf '\n  %s: could not set up the LTTng session, see %s\n ' "$id" "$log" >&2
		record "$round" "$id" x FAIL:lttng
		lttng_cleanup_session "$log"
		return
	fi
	run_one "$round" "$id" x on "$LTTNG_BIN" on "$iters"
	cat "$LOGS/probes-$id-x-$round.log" >>"$log" 2>/dev/null
	rm -f "$LOGS/probes-$id-x-$round.log"
	lttng stop "$sess" >>"$log" 2>&1
	listing=$(lttng list "$sess" 2>&1)
	printf '%s\n' "$listing" >>"$log"
	discarded=$(awk '/Discarded events:/ { s += $3; n++ } END { if (n) print s }' <<<"$listing")
	[ -n "$discarded" ] && record "$round" "$id" discarded "$discarded"
	lttng_cleanup_session "$log"
}

lttng_cleanup_session() {
	lttng destroy "$LTTNG_SESSION" >>"$1" 2>&1
	LTTNG_SESSION=""
	rm -rf "$OUT/lttng-trace"
}

# ---- measure ----------------------------------------------------------------

any_lttng=""
for spec in "${EVENTS[@]}"; do
	IFS='|' read -r id how iters label <<<"$spec"
	selected "$id" && [ "${how%% *}" = lttng ] && any_lttng=1
done
[ -n "$any_lttng" ] && lttng_setup

start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for ((round = 1; round <= RUNS; round++)); do
	printf 'probes round %d/%d:' "$round" "$RUNS" >&2
	n=${#EVENTS[@]}
	for ((j = 0; j < n; j++)); do
		IFS='|' read -r id how iters label <<<"${EVENTS[$(((j + round) % n))]}"
		selected "$id" || continue
		printf ' %s' "$id" >&2
		iters=$(scaled "$iters")
		case $how in
		probe\ *) run_one "$round" "$id" x "${how#probe }" "$PROBE_BIN" "${how#probe }" "$iters" ;;
		lttng\ *) lttng_one "$round" "$id" "${how#lttng }" "$iters" ;;
		esac
	done
	k=0
	for spec in "${SHAPES[@]}"; do
		IFS='|' read -r id shape workers iters target label <<<"$spec"
		k=$((k + 1))
		selected "$id" || continue
		printf ' %s' "$id" >&2
		iters=$(scaled "$iters")
		nv=${#VARIANTS[@]}
		for ((j = 0; j < nv; j++)); do
			v=${VARIANTS[$(((j + round + k) % nv))]}
			case $v in
			base) run_one "$round" "$id" base "$shape" "$BASE_BIN" "$shape" "$iters" "$workers" ;;
			on) run_one "$round" "$id" on "$shape" env -u TASKSCOPE "$TSK_BIN" "$shape" "$iters" "$workers" ;;
			off) run_one "$round" "$id" off "$shape" env TASKSCOPE=off "$TSK_BIN" "$shape" "$iters" "$workers" ;;
			stream) run_one "$round" "$id" stream "$shape" env -u TASKSCOPE "$STREAM_BIN" \
				"$TSK_BIN" "$shape" "$iters" "$workers" ;;
			esac
		done
	done
	printf ' (%ds)\n' "$(($(date +%s) - start))" >&2
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
lttng_cleanup

# ---- summarise ----------------------------------------------------------------

# slowdown ID VARIANT: "median min max" of the per-round % slowdown of
# VARIANT against base (rounds where both have a number), or "- - -".
slowdown() {
	awk -F'\t' -v id="$1" -v va="$2" '
		function num(x) { return x ~ /^[0-9.eE+-]+$/ }
		$2 == id && $3 == "base" && num($4) { b[$1] = $4 }
		$2 == id && $3 == va && num($4) { x[$1] = $4 }
		END {
			n = 0
			for (r in x) if ((r in b) && b[r] > 0) v[n++] = (x[r] / b[r] - 1) * 100
			if (n == 0) { print "- - -"; exit }
			for (i = 1; i < n; i++)
				for (j = i; j > 0 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
			med = n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2
			printf "%.6g %.6g %.6g\n", med, v[0], v[n - 1]
		}' "$RAW"
}

# num X: one decimal below 100, none above (as run.sh shows times).
num() {
	awk -v x="$1" 'BEGIN { if (x < 100 && x > -100) printf "%.1f", x; else printf "%.0f", x }'
}

signed() {
	awk -v x="$1" 'BEGIN { s = x >= 0 ? "+" : "−"; if (x < 0) x = -x
		if (x < 10) printf "%s%.1f", s, x; else printf "%s%.0f", s, x }'
}

# cell ID VARIANT: "median ±spread%", or why there is no number.
cell() {
	local med min max ok total na fail s
	read -r med min max ok total na fail <<<"$(stats "$1" "$2")"
	if [ "$ok" -eq 0 ]; then
		if [ "$total" -gt 0 ] && [ "$na" -eq "$total" ]; then
			echo "n/a"
		elif [ "$total" -eq 0 ]; then
			echo "-"
		elif [ "$fail" = 124 ]; then
			echo "FAIL (timeout)"
		else
			echo "FAIL (status $fail)"
		fi
		return
	fi
	s="$(num "$med") ±$(awk -v a="$min" -v b="$max" -v m="$med" \
		'BEGIN { printf "%.0f%%", (m > 0 ? (b - a) / 2 / m * 100 : 0) }')"
	[ "$ok" -lt "$total" ] && s="$s ($((total - ok))/$total failed)"
	echo "$s"
}

# slow_cell ID VARIANT: "+12.3% (+8.1…+15.0)": median and range of the
# per-round slowdowns.
slow_cell() {
	local med min max
	read -r med min max <<<"$(slowdown "$1" "$2")"
	if [ "$med" = - ]; then
		echo "-"
		return
	fi
	echo "$(signed "$med")% ($(signed "$min")…$(signed "$max"))"
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b <= 0) print "-"; else printf "%.2f", a / b }'
}

any_event=""
any_shape=""
for spec in "${EVENTS[@]}"; do selected "${spec%%|*}" && any_event=1; done
for spec in "${SHAPES[@]}"; do selected "${spec%%|*}" && any_shape=1; done

lttng_version=$(lttng --version 2>/dev/null | head -n 1)
ust_version=$(pkg-config --modversion lttng-ust 2>/dev/null)

{
	echo "## Probe overhead"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); CPU: $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) online; clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null || echo '?')"
	echo "- $RUNS rounds, medians (± half the min-max range in % of the median);"
	echo "  load average (1/5/15 min) at start: $load_start, at end: $load_end"
	echo "- TASKSCOPE_RING=${TASKSCOPE_RING:-<unset: 4 MiB per thread>}; TASKSCOPE_STACKS=${TASKSCOPE_STACKS:-<unset: sampled>}"
	[ "$DIV" != 1 ] && echo "- **BENCH_DIV=$DIV: iteration counts divided by $DIV (smoke run)**"
	if [ -n "$any_event" ]; then
		echo
		echo "### One event, written back to back"
		echo
		echo "| writer | ns/event | × bare rdtsc | × probe_emit | target | met |"
		echo "|---|--:|--:|--:|--:|:-:|"
		rd=$(median_of rdtsc x)
		em=$(median_of emit x)
		for spec in "${EVENTS[@]}"; do
			IFS='|' read -r id how iters label <<<"$spec"
			selected "$id" || continue
			m=$(median_of "$id" x)
			xr=$(ratio "$m" "$rd")
			xe=$(ratio "$m" "$em")
			tgt="-"
			met="-"
			case $id in
			emit)
				tgt="≤ 1.5× rdtsc"
				[ "$xr" != - ] && met=$(awk -v r="$xr" 'BEGIN { print (r <= 1.5 ? "yes" : "**no**") }')
				;;
			lttng_discard | lttng_overwrite)
				tgt="≥ 10× probe_emit"
				[ "$xe" != - ] && met=$(awk -v r="$xe" 'BEGIN { print (r >= 10 ? "yes" : "**no**") }')
				;;
			esac
			[ "$xr" != - ] && xr="${xr}×"
			[ "$xe" != - ] && xe="${xe}×"
			printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "$(cell "$id" x)" "$xr" "$xe" "$tgt" "$met"
		done
		echo
		if [ -n "$LTTNG_NA" ]; then
			echo "LTTng rows: n/a: $LTTNG_NA."
		elif [ -n "$any_lttng" ]; then
			d=$(median_of lttng_discard discarded)
			echo "LTTng: ${lttng_version:-lttng ?}, lttng-ust ${ust_version:-?}; one session per"
			echo "sample, user-space channel with per-user buffers of 4 × 1 MiB sub-buffers per"
			echo "CPU (4 MiB, the size of a taskscope ring); tracepoint provider bench/lttng/tp.h"
			echo "(5 integer fields: type, task, obj, arg, site; LTTng adds its own timestamp)"
			echo "linked statically.  Discard mode: the consumer daemon writes the trace to"
			echo "disk while the loop runs (events discarded per run, median: ${d:--}); overwrite"
			echo "mode: a snapshot session, no consumer (the flight-recorder equivalent)."
		fi
	fi
	if [ -n "$any_shape" ]; then
		echo
		echo "### Runtime shapes: probes on vs compiled out"
		echo
		hdr="| shape | unit | PROBES=0 | probes on (flight) | slowdown | TASKSCOPE=off | slowdown |"
		sep="|---|---|--:|--:|--:|--:|--:|"
		if [ -x "$STREAM_BIN" ]; then
			hdr="$hdr stream (reader draining) | slowdown | lost records/run |"
			sep="$sep--:|--:|--:|"
		fi
		echo "$hdr target (probes on) | met |"
		echo "$sep--:|:-:|"
		for spec in "${SHAPES[@]}"; do
			IFS='|' read -r id shape workers iters target label <<<"$spec"
			selected "$id" || continue
			unit=$(case $shape in yield) echo ns/yield ;; pingpong) echo ns/roundtrip ;; *) echo ns/task ;; esac)
			row="| $label | $unit | $(cell "$id" base) | $(cell "$id" on) | $(slow_cell "$id" on) | $(cell "$id" off) | $(slow_cell "$id" off) |"
			if [ -x "$STREAM_BIN" ]; then
				lost=$(median_of "$id" stream_lost)
				[ "$lost" != - ] && lost=$(awk -v x="$lost" 'BEGIN { printf "%.0f", x }')
				row="$row $(cell "$id" stream) | $(slow_cell "$id" stream) | $lost |"
			fi
			tgt="-"
			met="-"
			if [ "$target" != - ]; then
				tgt="≤ ${target}%"
				read -r med rest <<<"$(slowdown "$id" on)"
				[ "$med" != - ] && met=$(awk -v s="$med" -v t="$target" 'BEGIN { print (s <= t ? "yes" : "**no**") }')
			fi
			echo "$row $tgt | $met |"
		done
		echo
		printf 'Iterations per run:'
		sep=" "
		for spec in "${SHAPES[@]}"; do
			IFS='|' read -r id shape workers iters target label <<<"$spec"
			selected "$id" || continue
			printf '%s%s %s' "$sep" "$id" "$(human "$(scaled "$iters")")"
			sep="; "
		done
		echo "."
		echo
		echo "A slowdown is the median over rounds of (variant / PROBES=0 − 1) within"
		echo "the round, with the smallest and largest in parentheses: a spread that"
		echo "crosses 0 means the difference is within this machine's noise.  PROBES=0"
		echo "is tsk_bench.c linked against build-noprobes/ (\`make PROBES=0 lib\`); the"
		echo "other columns run build/bench/tsk_bench.  Flight mode: probes on, no reader,"
		echo "rings overwrite.  TASKSCOPE=off: probes compiled in, disabled at start-up."
		if [ -x "$STREAM_BIN" ]; then
			echo "Stream mode: bench/probe_stream.c forks the benchmark, attaches a reader"
			echo "(tsk_reader_ring_attach) before the warm-up and drains every ring until the"
			echo "program exits, sleeping 200 µs when a pass finds under 1/8 of a ring; a"
			echo "writer that finds its ring full drops the record and counts it (lost"
			echo "records: the rings' counters, median per run).  The reader competes for the"
			echo "same CPUs."
		else
			echo "Stream mode: not measured (no build/bench/probe_stream: the reader library"
			echo "is missing)."
		fi
	fi
} >"$RESULTS.tmp" && mv "$RESULTS.tmp" "$RESULTS"

if [ -z "$any_event" ] && [ -z "$any_shape" ]; then
	rm -f "$RESULTS"
	exit 0
fi
if [ "$APPEND" = 1 ]; then
	{
		echo
		cat "$RESULTS"
	} >>"$OUT/results.md"
fi
echo
cat "$RESULTS"
echo
echo "saved: $RESULTS$([ "$APPEND" = 1 ] && echo " (and appended to $OUT/results.md)") (samples: $RAW, logs: $LOGS/probes-*)" >&2
