// Go side of benches/run.sh: the same work as benches/workloads.c, in Go.
//
//	workloads MODE
//
// MODE is a workload name with a GOMAXPROCS suffix, _p1 or _p2: skynet,
// timer_storm, token_ring, worker_pool, wg_park (see benches/workloads.c).
// Prints "MODE value ms" (wg_park: ms/round, the mean of its rounds), the
// wall time of the whole workload, and "MODE_rss value KiB", the process's
// peak resident set (getrusage Maxrss at the end); lines starting with '#'
// are informational. Exits 0 only when its self-checks passed. The main
// goroutine is the driver; there is no warm-up round: each workload runs
// once in a fresh process, cold, as the classic programs do.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	skynetLeaves = 1000000
	skynetDiv    = 10
	skynetSum    = 499999500000 // 0 + 1 + ... + 999,999
	stormN       = 100000
	stormMaxNs   = 10000000 // sleeps are 0 to 10 ms inclusive
	ringN        = 10000
	ringHops     = 1000000
	poolWorkers  = 8
	poolJobs     = 1000000
	poolCap      = 1024
	parkN        = 100000
	parkRounds   = 3
)

var failed bool
var mode string

func check(ok bool, format string, args ...interface{}) {
	if !ok {
		fmt.Fprintf(os.Stderr, "workloads: check failed: "+format+"\n", args...)
		failed = true
	}
}

// ---- skynet ----

// skynet is a node: a leaf sends its index, an inner node the sum of its
// children's, received over one unbuffered channel.
func skynet(out chan int64, num, size int64) {
	if size == 1 {
		out <- num
		return
	}
	rc := make(chan int64)
	step := size / skynetDiv
	for i := int64(0); i < skynetDiv; i++ {
		go skynet(rc, num+i*step, step)
	}
	var sum int64
	for i := 0; i < skynetDiv; i++ {
		sum += <-rc
	}
	out <- sum
}

func benchSkynet() time.Duration {
	c := make(chan int64)
	t0 := time.Now()
	go skynet(c, 0, skynetLeaves)
	sum := <-c
	dt := time.Since(t0)
	check(sum == skynetSum, "sum %d", sum)
	return dt
}

// ---- timer storm ----

var stormWG sync.WaitGroup
var stormWoke, stormEarly int64

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func stormDelay(i int) time.Duration {
	return time.Duration(splitmix64(uint64(i)) % (stormMaxNs + 1))
}

func sleeper(i int) {
	d := stormDelay(i)
	t0 := time.Now()
	time.Sleep(d)
	if time.Since(t0) < d {
		atomic.AddInt64(&stormEarly, 1)
	}
	atomic.AddInt64(&stormWoke, 1)
	stormWG.Done()
}

func benchTimerStorm() time.Duration {
	t0 := time.Now()
	stormWG.Add(stormN)
	for i := 0; i < stormN; i++ {
		go sleeper(i)
	}
	stormWG.Wait()
	dt := time.Since(t0)
	check(atomic.LoadInt64(&stormWoke) == stormN, "woke %d of %d", atomic.LoadInt64(&stormWoke), stormN)
	check(atomic.LoadInt64(&stormEarly) == 0, "%d sleeps returned early", atomic.LoadInt64(&stormEarly))
	return dt
}

// ---- token ring ----

var ringWG sync.WaitGroup
var ringRecvs int64

// ringMember receives the token (hops left), passes it on one less; at 0
// reports itself. Returns when its channel is closed.
func ringMember(id int64, in, out, done chan int64) {
	var n int64
	for token := range in {
		n++
		if token == 0 {
			done <- id
		} else {
			out <- token - 1
		}
	}
	atomic.AddInt64(&ringRecvs, n)
	ringWG.Done()
}

func benchTokenRing() time.Duration {
	t0 := time.Now()
	done := make(chan int64)
	ring := make([]chan int64, ringN) // ring[i]: member i-1 to member i
	for i := range ring {
		ring[i] = make(chan int64)
	}
	ringWG.Add(ringN)
	for i := 0; i < ringN; i++ {
		go ringMember(int64(i), ring[i], ring[(i+1)%ringN], done)
	}
	ring[0] <- ringHops
	last := <-done
	for _, c := range ring {
		close(c)
	}
	ringWG.Wait()
	dt := time.Since(t0)
	check(last == ringHops%ringN, "token ended at member %d", last)
	check(atomic.LoadInt64(&ringRecvs) == ringHops+1, "%d receives", atomic.LoadInt64(&ringRecvs))
	return dt
}

// ---- worker pool ----

// poolWork is the job: eight steps of a 64-bit LCG, the high bits of the last.
func poolWork(x uint64) uint64 {
	for k := 0; k < 8; k++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x >> 33
}

func benchWorkerPool() time.Duration {
	var wg sync.WaitGroup
	var sum, want uint64
	t0 := time.Now()
	jobs := make(chan uint64, poolCap)
	results := make(chan uint64, poolCap)
	wg.Add(poolWorkers)
	for w := 0; w < poolWorkers; w++ {
		go func() {
			for job := range jobs {
				results <- poolWork(job)
			}
			wg.Done()
		}()
	}
	go func() {
		for i := uint64(0); i < poolJobs; i++ {
			jobs <- i
		}
		close(jobs)
	}()
	for i := 0; i < poolJobs; i++ {
		sum += <-results
	}
	wg.Wait()
	dt := time.Since(t0)
	for i := uint64(0); i < poolJobs; i++ {
		want += poolWork(i)
	}
	check(sum == want, "sum %d, want %d", sum, want)
	return dt
}

// ---- WaitGroup park rounds ----

var parkStarted, parkRelease, parkDone sync.WaitGroup
var parkCount int64

func parker() {
	parkStarted.Done()
	parkRelease.Wait()
	atomic.AddInt64(&parkCount, 1)
	parkDone.Done()
}

// parkRound is one round; the WaitGroups are reused, every Wait of the
// last round has returned (each parker passed its Wait before marking done).
func parkRound() time.Duration {
	t0 := time.Now()
	parkRelease.Add(1)
	parkStarted.Add(parkN)
	parkDone.Add(parkN)
	for i := 0; i < parkN; i++ {
		go parker()
	}
	parkStarted.Wait()
	parkRelease.Done()
	parkDone.Wait()
	return time.Since(t0)
}

func benchWGPark() time.Duration {
	var total time.Duration
	fmt.Printf("# %s rounds (ms):", mode)
	for r := 0; r < parkRounds; r++ {
		dt := parkRound()
		fmt.Printf(" %.2f", float64(dt.Nanoseconds())/1e6)
		total += dt
	}
	fmt.Println()
	check(atomic.LoadInt64(&parkCount) == parkN*parkRounds, "released %d of %d", atomic.LoadInt64(&parkCount), parkN*parkRounds)
	return total / parkRounds
}

type workload struct {
	run  func() time.Duration // returns the time reported
	unit string
}

var workloads = map[string]workload{
	"skynet":      {benchSkynet, "ms"},
	"timer_storm": {benchTimerStorm, "ms"},
	"token_ring":  {benchTokenRing, "ms"},
	"worker_pool": {benchWorkerPool, "ms"},
	"wg_park":     {benchWGPark, "ms/round"},
}

func main() {
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	procs := 0
	name := mode
	if strings.HasSuffix(mode, "_p1") || strings.HasSuffix(mode, "_p2") {
		procs = int(mode[len(mode)-1] - '0')
		name = mode[:len(mode)-3]
	}
	w, ok := workloads[name]
	if !ok || procs == 0 {
		fmt.Fprintf(os.Stderr, "usage: %s {skynet|timer_storm|token_ring|worker_pool|wg_park}_{p1|p2}\n", os.Args[0])
		os.Exit(2)
	}
	runtime.GOMAXPROCS(procs)
	fmt.Printf("# go %s mode=%s gomaxprocs=%d\n", runtime.Version(), mode, runtime.GOMAXPROCS(0))
	dt := w.run()
	fmt.Printf("%s %.2f %s\n", mode, float64(dt.Nanoseconds())/1e6, w.unit)
	var ru syscall.Rusage
	check(syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil, "getrusage failed")
	fmt.Printf("%s_rss %d KiB\n", mode, ru.Maxrss)
	if failed {
		os.Exit(1)
	}
}
