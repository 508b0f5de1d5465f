#!/usr/bin/env bash
# bench/http_check.sh PORT [HOST] - checks that the HTTP server on HOST:PORT
# (default 127.0.0.1) speaks the subset of HTTP/1.1 the benchmark servers
# share (examples/http_hello.c, bench/uv_http.c, bench/gohttp/) and answers
# with exactly the bytes the other two send.  bench/http.sh runs it on each
# server before measuring: a server that answers differently is not
# measured.  Also handy by hand, against a server started by you.
#
# Each case opens one connection, writes the request bytes (in parts, with a
# pause between them, when the case tests reassembly), reads until the
# server closes the connection (every case ends with a request that closes
# it) and compares what came back:
#   - 200 answers byte for byte;
#   - error answers by their status code only (net/http appends a detail
#     to some reason phrases, "400 Bad Request: missing required Host
#     header", the C servers do not).
# Not checked, because the servers differ on purpose (see http_hello.c):
# chunked bodies (net/http decodes them, the C servers answer 501) and
# heads over 8 KiB (net/http accepts up to 1 MiB, the C servers answer 431).
#
# Prints one line per failed case (and the bytes received) on stderr.
# Exit status: 0 all cases passed, 1 a case failed, 2 bad usage.
set -u

if [ $# -lt 1 ] || [ $# -gt 2 ] || [[ ! $1 =~ ^[0-9]+$ ]]; then
	echo "usage: $0 PORT [HOST]" >&2
	exit 2
fi
PORT=$1
HOST=${2:-127.0.0.1}
TMP=$(mktemp -d) || exit 1
trap 'rm -rf "$TMP"' EXIT

OK='HTTP/1.1 200 OK\r\nContent-Length: 14\r\nContent-Type: text/plain\r\n\r\nHello, World!\n'
OK_CLOSE='HTTP/1.1 200 OK\r\nContent-Length: 14\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nHello, World!\n'
HEAD_CLOSE='HTTP/1.1 200 OK\r\nContent-Length: 14\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n'
OK10='HTTP/1.0 200 OK\r\nContent-Length: 14\r\nContent-Type: text/plain\r\n\r\nHello, World!\n'
OK10_KEEP='HTTP/1.0 200 OK\r\nContent-Length: 14\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\n\r\nHello, World!\n'
GET_CLOSE='GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'

failed=0

# exchange NAME PART... : sends the parts (printf formats) on one
# connection, 0.2 s apart, and saves everything read until EOF (at most
# 5 s) in $TMP/NAME.  Returns 1 when the connection fails.
exchange() {
	local name=$1 first=1
	shift
	exec 3<>"/dev/tcp/$HOST/$PORT" || return 1
	timeout 5 cat <&3 >"$TMP/$name" &
	local reader=$!
	for part in "$@"; do
		[ $first = 1 ] || sleep 0.2
		first=0
		# shellcheck disable=SC2059
		printf "$part" >&3 2>/dev/null
	done
	wait "$reader"
	local rc=$?
	exec 3<&-
	[ $rc -eq 124 ] && echo "timeout" >>"$TMP/$name.err"
	return 0
}

fail() {
	echo "http_check: $HOST:$PORT: $1" >&2
	failed=1
}

# expect NAME BYTES PART... : the answer must be BYTES (a printf format).
expect() {
	local name=$1 want=$2
	shift 2
	if ! exchange "$name" "$@"; then
		fail "$name: cannot connect"
		return
	fi
	# shellcheck disable=SC2059
	printf "$want" >"$TMP/$name.want"
	if [ -e "$TMP/$name.err" ]; then
		fail "$name: the server did not close the connection within 5 s"
	elif ! cmp -s "$TMP/$name" "$TMP/$name.want"; then
		fail "$name: unexpected answer; got:"
		od -c "$TMP/$name" | head -n 12 >&2
	fi
}

# expect_status NAME CODE PART... : the answer's first line must start with
# "HTTP/1.1 CODE " and the server must close the connection.
expect_status() {
	local name=$1 want=$2 got
	shift 2
	if ! exchange "$name" "$@"; then
		fail "$name: cannot connect"
		return
	fi
	got=$(head -n 1 "$TMP/$name" | tr -d '\r')
	if [ -e "$TMP/$name.err" ]; then
		fail "$name: the server did not close the connection within 5 s"
	elif [ "${got:0:13}" != "HTTP/1.1 $want " ]; then
		fail "$name: status line '$got', want 'HTTP/1.1 $want ...'"
	fi
}

expect close "$OK_CLOSE" "$GET_CLOSE"
expect keepalive_pipelined "$OK$OK$OK_CLOSE" \
	"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n$GET_CLOSE"
expect body_pipelined "$OK$OK_CLOSE" \
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello$GET_CLOSE"
expect split_head "$OK_CLOSE" "GET / HT" "TP/1.1\r\nHost: x\r\nConn" "ection: close\r\n\r\n"
expect split_body "$OK$OK_CLOSE" \
	"POST /x HTTP/1.1\r\nHost: x\r\ncontent-length: 10\r\n\r\n01234" "56789$GET_CLOSE"
expect http10 "$OK10" "GET / HTTP/1.0\r\n\r\n"
expect http10_keepalive "$OK10_KEEP$HEAD_CLOSE" \
	"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
expect connection_list "$OK_CLOSE" "GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, close\r\n\r\n"
expect_status no_host 400 "GET / HTTP/1.1\r\n\r\n"
expect_status bad_request_line 400 "GARBAGE\r\n\r\n"
expect_status bad_length 400 "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: x1\r\n\r\n"
expect_status http2 505 "GET / HTTP/2.0\r\nHost: x\r\n\r\n"

exit $failed
