// Go side of benches/run.sh: the same work as benches/sched_bench.c, in Go.
//
//	sched_bench MODE
//
// MODE is one of: spawn_batch, spawn_all, gosched, park_rss, mutex, wg,
// idle, rwmutex_read, rwmutex_read2 (the C side's blocking mode has its Go side in benches/go/cgocall).
// Prints "name value unit" lines (lines starting with '#' are
// informational) and exits 0 only when its self-checks passed. The main
// goroutine is the driver; timing uses the monotonic clock (time.Since)
// around the measured loop only, after a warm-up round of the same work.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	spawnTotal    = 1000000 // goroutines per timed spawn round
	spawnBatch    = 1000    // batch size of spawn_batch
	spawnWarmup   = 100000  // goroutines in the warm-up round
	goschedN      = 1000000 // gosched calls per goroutine (2 goroutines)
	goschedWarmup = 10000
	parkN         = 100000 // goroutines parked at once
	syncN         = 20000000
	syncWarmup    = 1000000
	rw2N          = 5000000 // RLock+RUnlock pairs per goroutine, 2 at once
	rw2Warmup     = 200000
)

const (
	idleGoroutines = 1000 // goroutines run before the idle sleep
	idleSleep      = 2 * time.Second
)

var failed bool

func check(ok bool, format string, args ...interface{}) {
	if !ok {
		fmt.Fprintf(os.Stderr, "sched_bench: check failed: "+format+"\n", args...)
		failed = true
	}
}

// rssBytes reads resident pages from /proc/self/statm, times the page size.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		return -1
	}
	return resident * int64(os.Getpagesize())
}

// ---- spawn: trivial goroutines ----

var spawnWG sync.WaitGroup
var spawnCount int64

func spawnRounds(total, batch int) {
	for done := 0; done < total; done += batch {
		spawnWG.Add(batch)
		for i := 0; i < batch; i++ {
			go func() {
				atomic.AddInt64(&spawnCount, 1)
				spawnWG.Done()
			}()
		}
		spawnWG.Wait()
	}
}

func benchSpawn(name string, batchTimed, batchWarm int) {
	atomic.StoreInt64(&spawnCount, 0)
	spawnRounds(spawnWarmup, batchWarm)
	check(atomic.LoadInt64(&spawnCount) == spawnWarmup, "warm-up ran %d", atomic.LoadInt64(&spawnCount))
	atomic.StoreInt64(&spawnCount, 0)
	t0 := time.Now()
	spawnRounds(spawnTotal, batchTimed)
	dt := time.Since(t0)
	got := atomic.LoadInt64(&spawnCount)
	check(got == spawnTotal, "ran %d of %d goroutines", got, spawnTotal)
	fmt.Printf("%s %.2f ns/goroutine\n", name, float64(dt.Nanoseconds())/spawnTotal)
}

// ---- gosched ping-pong ----

var yieldWG sync.WaitGroup
var yieldCount int64

func yielder(n int) {
	i := 0
	for ; i < n; i++ {
		runtime.Gosched()
	}
	atomic.AddInt64(&yieldCount, int64(i))
	yieldWG.Done()
}

func goschedRound(n int) time.Duration {
	atomic.StoreInt64(&yieldCount, 0)
	t0 := time.Now()
	yieldWG.Add(2)
	go yielder(n)
	go yielder(n)
	yieldWG.Wait()
	dt := time.Since(t0)
	check(atomic.LoadInt64(&yieldCount) == int64(2*n), "yielded %d of %d", atomic.LoadInt64(&yieldCount), 2*n)
	return dt
}

func benchGosched() {
	goschedRound(goschedWarmup)
	dt := goschedRound(goschedN)
	fmt.Printf("gosched %.2f ns/switch\n", float64(dt.Nanoseconds())/(2.0*goschedN))
}

// ---- parked goroutines: resident memory ----

var parkStarted, parkRelease, parkDone sync.WaitGroup
var parkCount int64

func parker() {
	parkStarted.Done()
	parkRelease.Wait()
	atomic.AddInt64(&parkCount, 1)
	parkDone.Done()
}

func benchParkRSS() {
	// No warm-up round (it would leave stacks cached and hide the cost);
	// every repetition is a fresh process.
	runtime.GC()
	before := rssBytes()
	parkRelease.Add(1)
	parkStarted.Add(parkN)
	parkDone.Add(parkN)
	for i := 0; i < parkN; i++ {
		go parker()
	}
	parkStarted.Wait()
	time.Sleep(100 * time.Millisecond)
	live := runtime.NumGoroutine()
	runtime.GC()
	after := rssBytes()
	check(live >= parkN+1, "only %d goroutines alive", live)
	check(before > 0 && after > 0, "statm unreadable")
	parkRelease.Done()
	parkDone.Wait()
	check(atomic.LoadInt64(&parkCount) == parkN, "released %d of %d", atomic.LoadInt64(&parkCount), parkN)
	fmt.Printf("# park_rss before=%d after=%d goroutines=%d\n", before, after, live)
	fmt.Printf("park_rss %.1f bytes/goroutine\n", float64(after-before)/parkN)
}

// ---- uncontended sync primitives ----

var mu sync.Mutex
var mutexShared int64
var pairWG sync.WaitGroup
var wgPairs int64

func mutexLoop(n int) {
	for i := 0; i < n; i++ {
		mu.Lock()
		mutexShared++
		mu.Unlock()
	}
}

func wgLoop(n int) {
	for i := 0; i < n; i++ {
		pairWG.Add(1)
		wgPairs++
		pairWG.Done()
	}
}

func benchMutex() {
	mutexLoop(syncWarmup)
	mutexShared = 0
	t0 := time.Now()
	mutexLoop(syncN)
	dt := time.Since(t0)
	check(mutexShared == syncN, "counter %d", mutexShared)
	check(mu.TryLock(), "mutex left locked")
	mu.Unlock()
	fmt.Printf("mutex %.2f ns/pair\n", float64(dt.Nanoseconds())/syncN)
}

func benchWG() {
	wgLoop(syncWarmup)
	wgPairs = 0
	t0 := time.Now()
	wgLoop(syncN)
	dt := time.Since(t0)
	pairWG.Wait() // counter is back at zero: returns at once
	check(wgPairs == syncN, "pairs %d", wgPairs)
	fmt.Printf("wg %.2f ns/pair\n", float64(dt.Nanoseconds())/syncN)
}

// ---- RWMutex read side ----

var rw sync.RWMutex
var rwShared int64 = 1 // read under the read lock

func rwReadLoop(n int) int64 {
	var sum int64
	for i := 0; i < n; i++ {
		rw.RLock()
		sum += rwShared
		rw.RUnlock()
	}
	return sum
}

// rwCheckFree: the lock is free again, a writer gets in at once.
func rwCheckFree() {
	check(rw.TryLock(), "rwmutex left locked")
	rw.Unlock()
}

func benchRWMutexRead() {
	rwReadLoop(syncWarmup)
	t0 := time.Now()
	sum := rwReadLoop(syncN)
	dt := time.Since(t0)
	check(sum == syncN, "sum %d", sum)
	rwCheckFree()
	fmt.Printf("rwmutex_read %.2f ns/pair\n", float64(dt.Nanoseconds())/syncN)
}

// Two goroutines (GOMAXPROCS 2) read at once: each waits for the other to
// start (yielding), then runs its loop; the row is the wall time over the
// pairs of both.
func rw2Round(n int) time.Duration {
	var wg sync.WaitGroup
	var started int32
	var total int64
	t0 := time.Now()
	wg.Add(2)
	for k := 0; k < 2; k++ {
		go func() {
			atomic.AddInt32(&started, 1)
			for atomic.LoadInt32(&started) < 2 {
				runtime.Gosched()
			}
			atomic.AddInt64(&total, rwReadLoop(n))
			wg.Done()
		}()
	}
	wg.Wait()
	dt := time.Since(t0)
	check(atomic.LoadInt64(&total) == int64(2*n), "sum %d", atomic.LoadInt64(&total))
	return dt
}

func benchRWMutexRead2() {
	rw2Round(rw2Warmup)
	dt := rw2Round(rw2N)
	rwCheckFree()
	fmt.Printf("rwmutex_read2 %.2f ns/pair\n", float64(dt.Nanoseconds())/(2.0*rw2N))
}

// ---- idle: CPU used while nothing runs ----

var idleWG sync.WaitGroup
var idleCount int64

func cpuMicros() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return ru.Utime.Sec*1000000 + ru.Utime.Usec + ru.Stime.Sec*1000000 + ru.Stime.Usec
}

// Goroutines run and finish, then the main goroutine sleeps 2 s: the
// process CPU time used meanwhile is what the runtime costs when idle.
func benchIdle() {
	idleWG.Add(idleGoroutines)
	for i := 0; i < idleGoroutines; i++ {
		go func() {
			runtime.Gosched()
			time.Sleep(time.Millisecond)
			atomic.AddInt64(&idleCount, 1)
			idleWG.Done()
		}()
	}
	idleWG.Wait()
	check(atomic.LoadInt64(&idleCount) == idleGoroutines, "ran %d", atomic.LoadInt64(&idleCount))
	c0, t0 := cpuMicros(), time.Now()
	time.Sleep(idleSleep)
	c1, dt := cpuMicros(), time.Since(t0)
	check(c0 >= 0 && c1 >= 0, "getrusage failed")
	fmt.Printf("# idle slept %.3f s\n", dt.Seconds())
	fmt.Printf("idle %d us\n", c1-c0)
}

func main() {
	mode := ""
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "spawn_batch", "gosched":
		runtime.GOMAXPROCS(1)
	case "spawn_all", "rwmutex_read2":
		runtime.GOMAXPROCS(2)
	case "park_rss", "mutex", "wg", "idle", "rwmutex_read":
	default:
		fmt.Fprintf(os.Stderr, "usage: %s spawn_batch|spawn_all|gosched|park_rss|mutex|wg|idle|rwmutex_read|rwmutex_read2\n", os.Args[0])
		os.Exit(2)
	}
	fmt.Printf("# go %s mode=%s gomaxprocs=%d\n", runtime.Version(), mode, runtime.GOMAXPROCS(0))
	switch mode {
	case "spawn_batch":
		benchSpawn("spawn_batch", spawnBatch, spawnBatch)
	case "spawn_all":
		benchSpawn("spawn_all", spawnTotal, spawnWarmup)
	case "gosched":
		benchGosched()
	case "park_rss":
		benchParkRSS()
	case "mutex":
		benchMutex()
	case "wg":
		benchWG()
	case "idle":
		benchIdle()
	case "rwmutex_read":
		benchRWMutexRead()
	case "rwmutex_read2":
		benchRWMutexRead2()
	}
	if failed {
		os.Exit(1)
	}
}
