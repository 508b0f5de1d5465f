// Command go_http is the Go peer of the HTTP benchmark (bench/http.sh): a
// net/http "Hello, World!" server, the way a Go programmer would write it.
//
//	go_http [-host H] [-port P] [-procs N]
//
// It answers every request with the same bytes as examples/http_hello.c
// and bench/uv_http.c (the Date header Go adds by default is suppressed,
// Content-Type is set so that nothing is sniffed), keeps connections alive
// as net/http does, and closes a connection idle for 30 s (IdleTimeout, as
// the other two servers do).  -procs sets GOMAXPROCS (0: leave it to the
// GOMAXPROCS variable or the number of CPUs).  Once it listens it prints
// "listening on HOST:PORT" on stdout; -port 0 picks a free port.
//
// Exit status: 0 never in practice (it serves until killed), 1 when it
// cannot listen or serve, 2 on a bad flag.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"time"
)

var body = []byte("Hello, World!\n")

func hello(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	h["Content-Type"] = []string{"text/plain"}
	h["Date"] = nil // present but nil: net/http does not add one
	w.Write(body)
}

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 8080, "TCP port (0: any free port)")
	procs := flag.Int("procs", 0, "GOMAXPROCS (0: from the environment or the CPU count)")
	flag.Parse()
	if flag.NArg() != 0 || *port < 0 || *port > 65535 || *procs < 0 {
		fmt.Fprintln(os.Stderr, "go_http: usage: go_http [-host H] [-port P] [-procs N]")
		os.Exit(2)
	}
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "go_http:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s (GOMAXPROCS %d)\n", ln.Addr(), runtime.GOMAXPROCS(0))
	srv := &http.Server{Handler: http.HandlerFunc(hello), IdleTimeout: 30 * time.Second}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "go_http:", err)
		os.Exit(1)
	}
}
