// Command go_bench is the Go baseline for the taskscope runtime benchmarks.
//
// The same shapes as bench/tsk_bench.c and bench/pthread_bench.c, written as
// idiomatic Go: goroutines, unbuffered and buffered channels, sync.WaitGroup
// and sync.Mutex, with GOMAXPROCS set to WORKERS.
//
//	go_bench SHAPE [ITERS] [WORKERS]
//
// It prints "RESULT <shape> <value> <unit>" on stdout and diagnostics
// ("INFO ...") on stderr.  Every shape runs a warm-up of ITERS/10 before the
// timed run, except idle_mem, which must see a fresh process.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	batch   = 1000 // goroutines per round of spawn_batch
	chanCap = 128  // capacity of the buffered channel of chan_PxC
)

func die(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

func info(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "INFO "+format+"\n", args...)
}

func result(shape string, value float64, unit string) {
	fmt.Printf("RESULT %s %.2f %s\n", shape, value, unit)
}

// yield: two goroutines each calling runtime.Gosched() n times; ns per call.
func runYield(n int) float64 {
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(2)
	for g := 0; g < 2; g++ {
		go func() {
			for i := 0; i < n; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	return float64(time.Since(t0).Nanoseconds()) / float64(2*n)
}

// spawn_join: start a goroutine that returns at once and wait for it, n
// times; ns per goroutine.
func runSpawnJoin(n int) float64 {
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { wg.Done() }()
		wg.Wait()
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(n)
}

// spawn_batch: rounds of 1000 goroutines started, then all waited for.
func runSpawnBatch(n int) float64 {
	var wg sync.WaitGroup
	rounds := n / batch
	if rounds == 0 {
		rounds = 1
	}
	t0 := time.Now()
	for r := 0; r < rounds; r++ {
		wg.Add(batch)
		for i := 0; i < batch; i++ {
			go func() { wg.Done() }()
		}
		wg.Wait()
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(rounds*batch)
}

// pingpong: the main goroutine bounces a counter off another goroutine over
// two unbuffered channels; ns per round trip.
func runPingPong(n int) float64 {
	ping, pong := make(chan int64), make(chan int64)
	t0 := time.Now()
	go func() {
		for v := range ping {
			pong <- v + 1
		}
	}()
	var v int64
	for i := 0; i < n; i++ {
		ping <- v
		v = <-pong
	}
	close(ping)
	d := time.Since(t0)
	if v != int64(n) {
		die("pingpong: counter %d, want %d", v, n)
	}
	return float64(d.Nanoseconds()) / float64(n)
}

// chan_PxC: np producers send n values in all through a buffered channel
// of capacity 128 to nc consumers; messages per second.
func runChan(n, np, nc int) float64 {
	ch := make(chan int64, chanCap)
	var prod, cons sync.WaitGroup
	sums := make([]int64, nc)
	gots := make([]int64, nc)
	t0 := time.Now()
	cons.Add(nc)
	for c := 0; c < nc; c++ {
		go func(c int) {
			var sum, got int64
			for v := range ch {
				sum += v
				got++
			}
			sums[c], gots[c] = sum, got
			cons.Done()
		}(c)
	}
	prod.Add(np)
	for p := 0; p < np; p++ {
		first, count := n/np*p, n/np
		if p == np-1 {
			count = n - first
		}
		go func(first, count int) {
			for i := 0; i < count; i++ {
				ch <- int64(first + i)
			}
			prod.Done()
		}(first, count)
	}
	prod.Wait()
	close(ch)
	cons.Wait()
	d := time.Since(t0)
	var sum, got int64
	for c := 0; c < nc; c++ {
		sum += sums[c]
		got += gots[c]
	}
	if got != int64(n) || sum != int64(n)*int64(n-1)/2 {
		die("chan: got %d messages summing to %d", got, sum)
	}
	return float64(n) * 1e9 / float64(d.Nanoseconds())
}

// mutex_K: k goroutines share n Lock/counter++/Unlock rounds; ns per round.
func runMutex(n, k int) float64 {
	var mu sync.Mutex
	var wg sync.WaitGroup
	counter, per := 0, n/k
	t0 := time.Now()
	wg.Add(k)
	for g := 0; g < k; g++ {
		go func() {
			for i := 0; i < per; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	d := time.Since(t0)
	if counter != per*k {
		die("mutex: counter %d, want %d", counter, per*k)
	}
	return float64(d.Nanoseconds()) / float64(per*k)
}

// rssBytes reads a "Key:   N kB" field of a /proc file, in bytes.
func procField(path, key string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, key) {
			fields := strings.Fields(line[len(key):])
			if len(fields) > 0 {
				v, err := strconv.ParseInt(fields[0], 10, 64)
				if err == nil {
					return v * 1024
				}
			}
		}
	}
	return -1
}

// rss is the process's resident memory, exact from smaps_rollup when the
// kernel has it (VmRSS of /proc/self/status otherwise), as in bench_util.h.
func rss() int64 {
	if v := procField("/proc/self/smaps_rollup", "Rss:"); v >= 0 {
		return v
	}
	if v := procField("/proc/self/status", "VmRSS:"); v >= 0 {
		return v
	}
	die("cannot read resident memory from /proc/self")
	return 0
}

// idle_mem: n goroutines all blocked receiving from one channel; resident
// bytes per goroutine.  Closing the channel lets them exit.
func runIdleMem(n int) float64 {
	ch := make(chan int64)
	var ready int64
	var wg sync.WaitGroup
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	r0 := rss()
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			atomic.AddInt64(&ready, 1)
			<-ch
			wg.Done()
		}()
	}
	for atomic.LoadInt64(&ready) < int64(n) {
		time.Sleep(time.Millisecond)
	}
	parked := time.Since(t0)
	time.Sleep(20 * time.Millisecond) // let the last ones park
	r1 := rss()
	runtime.ReadMemStats(&ms1)
	info("idle_mem: %d goroutines: rss %+d B, StackInuse %+d B, HeapInuse %+d B", n,
		r1-r0, int64(ms1.StackInuse)-int64(ms0.StackInuse),
		int64(ms1.HeapInuse)-int64(ms0.HeapInuse))
	t1 := time.Now()
	close(ch)
	wg.Wait()
	info("idle_mem: spawn until all started %.0f ns/goroutine, close until all returned "+
		"%.0f ns/goroutine", float64(parked.Nanoseconds())/float64(n),
		float64(time.Since(t1).Nanoseconds())/float64(n))
	return float64(r1-r0) / float64(n)
}

func arg(i, dflt int) int {
	if len(os.Args) <= i {
		return dflt
	}
	v, err := strconv.Atoi(os.Args[i])
	if err != nil || v <= 0 {
		die("bad number '%s'", os.Args[i])
	}
	return v
}

// timed runs fn once on a tenth of n as a warm-up, then on n.
func timed(fn func(int) float64, n int) float64 {
	w := n / 10
	if w == 0 {
		w = 1
	}
	fn(w)
	return fn(n)
}

func main() {
	shape := ""
	if len(os.Args) > 1 {
		shape = os.Args[1]
	}
	n := arg(2, 1000000)
	runtime.GOMAXPROCS(arg(3, 2))
	var a, b int
	var tail string
	switch {
	case shape == "yield":
		result(shape, timed(runYield, n), "ns/yield")
	case shape == "spawn_join":
		result(shape, timed(runSpawnJoin, n), "ns/task")
	case shape == "spawn_batch":
		result(shape, timed(runSpawnBatch, n), "ns/task")
	case shape == "pingpong":
		result(shape, timed(runPingPong, n), "ns/roundtrip")
	case scan(shape, "chan_%dx%d%s", &a, &b, &tail) == 2 && a > 0 && b > 0:
		result(shape, timed(func(m int) float64 { return runChan(m, a, b) }, n), "msgs/s")
	case scan(shape, "mutex_%d%s", &a, &tail) == 1 && a > 0:
		result(shape, timed(func(m int) float64 { return runMutex(m, a) }, n), "ns/op")
	case shape == "idle_mem":
		result(shape, runIdleMem(n), "B/task")
	default:
		fmt.Fprintf(os.Stderr, "usage: %s SHAPE [ITERS] [WORKERS]\n"+
			"shapes: yield spawn_join spawn_batch pingpong chan_PxC mutex_K idle_mem\n",
			os.Args[0])
		os.Exit(2)
	}
}

// scan is fmt.Sscanf returning only the number of items it filled.
func scan(s, format string, args ...interface{}) int {
	k, _ := fmt.Sscanf(s, format, args...)
	return k
}
