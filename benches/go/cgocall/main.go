// Go side of the "blocking" row of benches/run.sh: a cgo call of a no-op
// C function from a goroutine, which is what Go pays to enter and leave C
// code (entersyscall + exitsyscall around the call, plus the switch to
// the system stack). The C side, benches/sched_bench.c mode blocking,
// brackets a call of an empty function with gort_blocking_enter() and
// gort_blocking_exit().
//
//	cgocall blocking
//
// Prints "blocking <ns> ns/pair" (lines starting with '#' are
// informational) and exits 0 only when its self-check passed. Needs
// CGO_ENABLED=1 and a C compiler.
package main

// static void noop(void) {}
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"time"
)

const (
	callN      = 20000000
	callWarmup = 1000000
)

var calls int64

func loop(n int) {
	for i := 0; i < n; i++ {
		C.noop()
		calls++
	}
}

func main() {
	if len(os.Args) < 2 || os.Args[1] != "blocking" {
		fmt.Fprintf(os.Stderr, "usage: %s blocking\n", os.Args[0])
		os.Exit(2)
	}
	fmt.Printf("# go %s mode=blocking gomaxprocs=%d\n", runtime.Version(), runtime.GOMAXPROCS(0))
	loop(callWarmup)
	calls = 0
	t0 := time.Now()
	loop(callN)
	dt := time.Since(t0)
	if calls != callN {
		fmt.Fprintf(os.Stderr, "cgocall: check failed: %d calls of %d\n", calls, callN)
		os.Exit(1)
	}
	fmt.Printf("blocking %.2f ns/pair\n", float64(dt.Nanoseconds())/callN)
}
