// Go side of benches/foreign_bench.c's lock_exit mode:
//
//	foreign_bench lock_exit
//
// A goroutine locks its thread (runtime.LockOSThread) and exits without
// unlocking, so its thread exits with it (Go 1.10+, issue 20395); 10,000
// in sequence, driven from the main goroutine, after a warm-up of 100.
// Prints "lock_exit <ns> ns/goroutine" (lines starting with '#' are
// informational). The call_* modes' Go side is the C program driving
// benches/go/callexport.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

const (
	lockExitN      = 10000
	lockExitWarmup = 100
)

func round(n int) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			runtime.LockOSThread()
			wg.Done()
			// exits locked: the thread is retired
		}()
		wg.Wait()
	}
}

func main() {
	mode := ""
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	fmt.Printf("# go %s mode=%s gomaxprocs=%d\n", runtime.Version(), mode, runtime.GOMAXPROCS(0))
	if mode != "lock_exit" {
		fmt.Fprintf(os.Stderr, "usage: %s lock_exit\n", os.Args[0])
		os.Exit(2)
	}
	round(lockExitWarmup)
	t0 := time.Now()
	round(lockExitN)
	dt := time.Since(t0)
	fmt.Printf("# %d locked goroutines exited in %.3f s\n", lockExitN, dt.Seconds())
	fmt.Printf("lock_exit %.2f ns/goroutine\n", float64(dt.Nanoseconds())/lockExitN)
}
