#!/usr/bin/env bash
# bench/http.sh [--append] - the HTTP table: requests/s and p99 latency of
# three "Hello, World!" keep-alive servers under wrk, taskscope
# (examples/http_hello.c), Go net/http (bench/gohttp/) and libuv
# (bench/uv_http.c).  `make bench` runs it after run.sh and probes.sh
# (`--append`: the table also goes at the end of $BENCH_OUT/results.md);
# `make bench-http` runs it alone.  It always writes $BENCH_OUT/http.md.
#
# What is compared: the three servers parse the same subset of HTTP/1.1 and
# answer with the same bytes; bench/http_check.sh verifies that for every
# configuration before it is measured (a server that fails the check is
# not measured, its row says so).  Each sample starts the server on a free
# loopback port (port 0; the server prints the port it got), waits until it
# accepts, runs `wrk --latency` against it, and stops it (SIGTERM, then
# SIGKILL after 5 s): every sample is a fresh process, so no server keeps
# state from an earlier one.
#
# Fairness on a 2-CPU machine: wrk needs a core of its own, so the main
# comparison gives every server one thread (taskscope --workers 1,
# GOMAXPROCS=1, libuv is one loop anyway) and runs `wrk -t1`; with
# HTTP_PIN=1 (the default when taskset exists and there are 2 CPUs or more)
# wrk runs on CPU 0 and the one-thread servers on CPU 1, so neither
# migrates or competes with the other.  The rows with 2 threads
# (taskscope --workers 2, GOMAXPROCS=2; not pinned) are for information:
# the server then shares CPU 0 with wrk.  libuv has no 2-thread row.
# taskscope runs with its recorder as shipped ("probes on": TASKSCOPE as
# in the environment) and with TASKSCOPE=off.
#
# Rounds: every configuration once per round, in an order rotated from
# round to round (ABC, BCA, CAB...), so that drift and other load hit all
# alike; the table shows medians.  A sample fails (and is not a number)
# when the server does not start, wrk fails or times out, wrk reports a
# socket error or a non-2xx answer, or the server died during the run.
#
# Environment:
#   BENCH_OUT      build directory holding the programs (default build/bench)
#   HTTP_RUNS      rounds (default: BENCH_RUNS, else 3)
#   HTTP_CONNS     wrk connections, one table block per value (default "64";
#                  e.g. "64 256")
#   HTTP_DURATION  seconds per wrk run (default 5)
#   HTTP_PIN       1: pin wrk and the one-thread servers (default 1 when
#                  possible), 0: let the kernel place them
#   BENCH_ONLY     space-separated row ids of all the bench tables; this one
#                  runs when it is unset or names "http"
# With the defaults: 7 configurations x 3 rounds x 5 s, about 2 minutes.
# Outputs in $BENCH_OUT: http.md (the table), http-raw.tsv (every sample),
# logs/http-* (wrk's output, the server's output, the check's output).
set -u
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=bench/lib.sh
. bench/lib.sh

OUT=${BENCH_OUT:-build/bench}
RUNS=${HTTP_RUNS:-${BENCH_RUNS:-3}}
CONNS=${HTTP_CONNS:-64}
DURATION=${HTTP_DURATION:-5}
ONLY=${BENCH_ONLY:-}
APPEND=0
case ${1:-} in
'') ;;
--append) APPEND=1 ;;
*)
	echo "usage: $0 [--append]" >&2
	exit 2
	;;
esac

case " $ONLY " in
"  " | *" http "*) ;;
*) exit 0 ;; # rows of the other tables only
esac

for v in "$RUNS" "$DURATION" $CONNS; do
	if ! [[ $v =~ ^[1-9][0-9]*$ ]]; then
		echo "http.sh: HTTP_RUNS, HTTP_DURATION and HTTP_CONNS must be positive integers" >&2
		exit 2
	fi
done

PIN=${HTTP_PIN:-}
if [ -z "$PIN" ]; then
	PIN=0
	command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ] && PIN=1
fi

LOGS=$OUT/logs
RAW=$OUT/http-raw.tsv
RESULTS=$OUT/http.md
mkdir -p "$LOGS" || exit 1
: >"$RAW"

# One line per configuration:
#   id | label | server threads | pinned with HTTP_PIN (1/0) | environment | command
# The command gets --host/--port (or -host/-port for Go) appended.
CONFIGS=(
	"tsk_1|taskscope, probes on|1|1||$OUT/http_hello --workers 1"
	"tskoff_1|taskscope, probes off|1|1|TASKSCOPE=off|$OUT/http_hello --workers 1"
	"go_1|Go net/http|1|1||$OUT/go_http -procs 1"
	"uv_1|libuv|1|1||$OUT/uv_http"
	"tsk_2|taskscope, probes on|2|0||$OUT/http_hello --workers 2"
	"tskoff_2|taskscope, probes off|2|0|TASKSCOPE=off|$OUT/http_hello --workers 2"
	"go_2|Go net/http|2|0||$OUT/go_http -procs 2"
)

declare -A BAD=() # configuration id -> why it is not measured

server_args() { # the host/port flags in the server's dialect
	case $1 in
	go_*) echo "-host 127.0.0.1 -port 0" ;;
	*) echo "--host 127.0.0.1 --port 0" ;;
	esac
}

SRV_PID=""
SRV_PORT=""

# start_server ID LOG: starts configuration ID with its output in LOG and
# waits (at most 10 s) until it accepts; sets SRV_PID and SRV_PORT.
# Returns 1 when it does not come up.
start_server() {
	local id=$1 log=$2 spec env cmd pinned threads label i
	for spec in "${CONFIGS[@]}"; do
		[ "${spec%%|*}" = "$id" ] && break
	done
	IFS='|' read -r _ label threads pinned env cmd <<<"$spec"
	local -a pre=()
	[ "$PIN" = 1 ] && [ "$pinned" = 1 ] && pre=(taskset -c 1)
	# Emptied here, not by the child's redirection: that one may come after
	# the loop below has read an old port from the log of an earlier run.
	: >"$log"
	# shellcheck disable=SC2086,SC2046 # env, cmd and the flags are word lists
	env $env "${pre[@]}" $cmd $(server_args "$id") >>"$log" 2>&1 &
	SRV_PID=$!
	SRV_PORT=""
	for ((i = 0; i < 200; i++)); do
		SRV_PORT=$(sed -n 's/^listening on .*:\([0-9][0-9]*\).*/\1/p' "$log" 2>/dev/null | head -n 1)
		[ -n "$SRV_PORT" ] && break
		kill -0 "$SRV_PID" 2>/dev/null || return 1
		sleep 0.05
	done
	[ -n "$SRV_PORT" ] || return 1
	for ((i = 0; i < 100; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$SRV_PORT") 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# stop_server: SIGTERM, then SIGKILL after 5 s; the exit status goes to
# the log (taskscope's server exits 0 after SIGTERM).
stop_server() {
	local log=$1 i st
	[ -n "$SRV_PID" ] || return
	kill -TERM "$SRV_PID" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$SRV_PID" 2>/dev/null && kill -KILL "$SRV_PID" 2>/dev/null
	wait "$SRV_PID" 2>/dev/null
	st=$?
	echo "[http.sh] server exit status after SIGTERM: $st" >>"$log"
	SRV_PID=""
}
trap 'stop_server /dev/null; exit 130' INT TERM

# wrk_parse FILE: prints "requests/s p99-in-µs errors" from wrk's output.
wrk_parse() {
	awk '
		/^Requests\/sec:/ { rps = $2 }
		/Latency Distribution/ { dist = 1 }
		dist && $1 == "99%" {
			v = $2; u = v; sub(/^[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
			p99 = v * (u == "us" ? 1 : u == "ms" ? 1e3 : u == "s" ? 1e6 : u == "m" ? 6e7 : -1e12)
		}
		/^ *Socket errors:/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
		/^ *Non-2xx or 3xx responses:/ { err += $NF }
		END {
			if (rps == "" || p99 == "" || p99 < 0) print "- - -"
			else printf "%s %.1f %d\n", rps, p99, err
		}' "$1"
}

# run_one ROUND CONNS ID: one sample into http-raw.tsv:
# round conns id rps p99_us, or FAIL:<why> in the rps column.
run_one() {
	local round=$1 conns=$2 id=$3 tag=$3-c$2-$1 slog wlog rps p99 err rc
	slog=$LOGS/http-$tag.server.log
	wlog=$LOGS/http-$tag.wrk.log
	if [ -n "${BAD[$id]:-}" ]; then
		printf '%s\t%s\t%s\tFAIL:%s\t-\n' "$round" "$conns" "$id" "${BAD[$id]}" >>"$RAW"
		return
	fi
	if ! start_server "$id" "$slog"; then
		stop_server "$slog"
		printf '%s\t%s\t%s\tFAIL:start\t-\n' "$round" "$conns" "$id" >>"$RAW"
		echo "http.sh: $id did not start; see $slog" >&2
		return
	fi
	local -a pre=()
	[ "$PIN" = 1 ] && pre=(taskset -c 0)
	timeout $((DURATION + 20)) "${pre[@]}" wrk -t1 -c"$conns" -d"${DURATION}s" --latency \
		"http://127.0.0.1:$SRV_PORT/" >"$wlog" 2>&1
	rc=$?
	local alive=1
	kill -0 "$SRV_PID" 2>/dev/null || alive=0
	stop_server "$slog"
	read -r rps p99 err <<<"$(wrk_parse "$wlog")"
	local why=""
	if [ $alive = 0 ]; then
		why=died
	elif [ $rc -ne 0 ]; then
		why="wrk $rc"
	elif [ "$rps" = - ]; then
		why="no result"
	elif [ "$err" -gt 0 ]; then
		why="$err errors"
	fi
	if [ -n "$why" ]; then
		echo "http.sh: $tag failed ($why); see $wlog and $slog" >&2
		printf '%s\t%s\t%s\tFAIL:%s\t-\n' "$round" "$conns" "$id" "$why" >>"$RAW"
	else
		printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$conns" "$id" "$rps" "$p99" >>"$RAW"
	fi
}

# check_config ID: runs bench/http_check.sh against configuration ID; marks
# it BAD when the server does not start or answers wrongly.
check_config() {
	local id=$1 log=$LOGS/http-$1.check.log
	if ! start_server "$id" "$log.server"; then
		stop_server "$log.server"
		BAD[$id]="does not start"
		echo "http.sh: $id does not start; see $log.server" >&2
		return
	fi
	if ! bench/http_check.sh "$SRV_PORT" >"$log" 2>&1; then
		BAD[$id]="wrong answers"
		echo "http.sh: $id fails bench/http_check.sh; see $log" >&2
	fi
	stop_server "$log.server"
}

# ---- measure ---------------------------------------------------------------

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
have_wrk=1
command -v wrk >/dev/null 2>&1 || have_wrk=0
if [ $have_wrk = 1 ]; then
	for spec in "${CONFIGS[@]}"; do
		IFS='|' read -r id _ _ _ _ cmd <<<"$spec"
		bin=${cmd%% *}
		if [ ! -x "$bin" ]; then
			BAD[$id]="not built"
			continue
		fi
		check_config "$id"
	done
	n=${#CONFIGS[@]}
	for ((round = 1; round <= RUNS; round++)); do
		printf 'http round %d/%d:' "$round" "$RUNS" >&2
		for conns in $CONNS; do
			for ((j = 0; j < n; j++)); do
				spec=${CONFIGS[$(((j + round - 1) % n))]}
				id=${spec%%|*}
				printf ' %s/c%s' "$id" "$conns" >&2
				run_one "$round" "$conns" "$id"
			done
		done
		printf ' (%ds)\n' "$(($(date +%s) - start))" >&2
	done
fi
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- summarise -------------------------------------------------------------

# rps_cell CONNS ID: "27,351 ±3%", plus failures, or why there is none.
rps_cell() {
	local med min max ok total why
	read -r med min max ok total _ why <<<"$(stats "$1" "$2" 4)"
	if [ "$ok" -eq 0 ]; then
		[ $have_wrk = 0 ] && why="wrk not installed"
		echo "n/a ($why)"
		return
	fi
	local s
	s=$(awk -v m="$med" -v a="$min" -v b="$max" 'BEGIN {
		printf "%d ±%.0f%%", m + 0.5, (m > 0 ? (b - a) / 2 / m * 100 : 0) }')
	[ "$ok" -lt "$total" ] && s="$s ($((total - ok))/$total failed: $why)"
	echo "$s"
}

best_cell() { # the highest req/s sample: the run least disturbed by other load
	local med min max rest
	read -r med min max rest <<<"$(stats "$1" "$2" 4)"
	[ "$max" = - ] && echo "-" && return
	awk -v m="$max" 'BEGIN { printf "%d", m + 0.5 }'
}

p99_cell() {
	local m
	m=$(median_of "$1" "$2" 5)
	[ "$m" = - ] && echo "-" && return
	awk -v u="$m" 'BEGIN { if (u >= 1000) printf "%.2f ms", u / 1000; else printf "%.0f µs", u }'
}

ratio() { # ratio A B: A/B with two decimals and ×, or -
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b <= 0) print "-"; else printf "%.2f×", a / b }'
}

cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo "no commit yet")
export GIT_OPTIONAL_LOCKS=0
dirty=""
[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && dirty=" (with uncommitted changes)"
wrk_version=$(wrk -v 2>&1 | head -n 1 | awk '{ print $1, $2 }')

{
	echo "## HTTP: hello world under wrk (taskscope vs Go net/http vs libuv)"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); taskscope commit: $commit$dirty"
	echo "- CPU: ${cpu:-unknown}; online CPUs: $(nproc); kernel $(uname -r)"
	echo "- ${wrk_version:-wrk: not installed}; $(go version 2>/dev/null | awk '{ print $3 }' || true); libuv $(pkg-config --modversion libuv 2>/dev/null || echo '?')"
	echo "- \`wrk -t1 -c<conns> -d${DURATION}s --latency\`, $RUNS rounds, configurations interleaved in"
	echo "  rotating order; each cell is the median (req/s: ± half the min-max range in % of it)"
	if [ "$PIN" = 1 ]; then
		echo "- pinned: wrk on CPU 0, the one-thread servers on CPU 1 (2-thread servers not pinned)"
	else
		echo "- not pinned (HTTP_PIN=0 or no taskset)"
	fi
	echo "- load average (1/5/15 min) at start: $load_start, at end: $load_end"
	echo "- probes: \"on\" runs with TASKSCOPE=${TASKSCOPE:-<unset>}, \"off\" with TASKSCOPE=off"
	for conns in $CONNS; do
		echo
		echo "| server | threads | conns | req/s | best | p99 | × Go | × libuv |"
		echo "|---|--:|--:|--:|--:|--:|--:|--:|"
		uv=$(median_of "$conns" uv_1 4)
		for spec in "${CONFIGS[@]}"; do
			IFS='|' read -r id label threads _ _ _ <<<"$spec"
			t=$(median_of "$conns" "$id" 4)
			g=$(median_of "$conns" "go_$threads" 4)
			printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$threads" "$conns" \
				"$(rps_cell "$conns" "$id")" "$(best_cell "$conns" "$id")" "$(p99_cell "$conns" "$id")" \
				"$(ratio "$t" "$g")" "$(ratio "$t" "$uv")"
		done
	done
	echo
	echo "Targets (issue \"Runtime I/O\", one-thread rows, req/s): taskscope ahead of Go"
	echo "(× Go > 1) and within 10% of libuv (× libuv ≥ 0.90)."
	for conns in $CONNS; do
		g=$(median_of "$conns" go_1 4)
		uv=$(median_of "$conns" uv_1 4)
		for id in tsk_1 tskoff_1; do
			t=$(median_of "$conns" "$id" 4)
			awk -v t="$t" -v g="$g" -v u="$uv" -v c="$conns" \
				-v who="$([ $id = tsk_1 ] && echo "probes on" || echo "probes off")" 'BEGIN {
				if (t == "-" || g == "-" || u == "-") { printf "- %s, %s conns: not measured\n", who, c; exit }
				printf "- %s, %s conns: ahead of Go: %s; within 10%% of libuv: %s\n", who, c,
					(t > g ? "yes" : "**no**"), (t >= 0.9 * u ? "yes" : "**no**")
			}'
		done
	done
	cat <<'EOF'

The servers: examples/http_hello.c (one task per connection, one
tsk_read and one tsk_write per batch of requests), bench/gohttp/main.go
(net/http with a HandlerFunc) and bench/uv_http.c (one loop, uv_try_write).
All three answer every request with the same 79 bytes (no Date header),
keep connections alive, close them after 30 s idle, and set TCP_NODELAY;
bench/http_check.sh checks their answers before they are measured.
"req/s" and "p99" are medians over rounds, "best" the highest req/s of
any round (the run least disturbed by other load); "× Go" compares medians
with Go at the same thread count, "× libuv" with the single-loop libuv
server.  On a machine shared with other work the spread (±) says how much
to trust a median; more, shorter rounds (HTTP_RUNS=7 HTTP_DURATION=2) help.
EOF
} >"$RESULTS.tmp" && mv "$RESULTS.tmp" "$RESULTS"

if [ "$APPEND" = 1 ]; then
	{
		echo
		cat "$RESULTS"
	} >>"$OUT/results.md"
fi
echo
cat "$RESULTS"
echo
echo "saved: $RESULTS$([ "$APPEND" = 1 ] && echo " (and appended to $OUT/results.md)") (samples: $RAW, logs: $LOGS/http-*)" >&2
