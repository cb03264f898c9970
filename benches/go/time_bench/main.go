// Go side of benches/run.sh: the same work as benches/time_bench.c, in Go.
//
//	time_bench MODE
//
// MODE is one of: timer_create_stop, timer_reset, context_tree (see
// benches/time_bench.c). Prints "name value unit" lines (lines starting
// with '#' are informational) and exits 0 only when its self-checks
// passed. The main goroutine is the driver; timing uses the monotonic
// clock (time.Since) around the measured loops only, after a warm-up
// round of the same work.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sort"
	"time"
)

const (
	createN      = 5000000
	createWarmup = 200000
	resetN       = 1000000
	resetRounds  = 5
	treeChildren = 10000
	treeWarmup   = 5
	treeRounds   = 50
)

var failed bool
var mode string

func check(ok bool, format string, args ...interface{}) {
	if !ok {
		fmt.Fprintf(os.Stderr, "time_bench: check failed: "+format+"\n", args...)
		failed = true
	}
}

func median(d []time.Duration) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2]
}

func benchCreateStop() {
	stopped := 0
	for i := 0; i < createWarmup; i++ {
		if time.NewTimer(time.Second).Stop() {
			stopped++
		}
	}
	t0 := time.Now()
	for i := 0; i < createN; i++ {
		if time.NewTimer(time.Second).Stop() {
			stopped++
		}
	}
	dt := time.Since(t0)
	check(stopped == createN+createWarmup, "%d of %d stops stopped a pending timer", stopped, createN+createWarmup)
	fmt.Printf("%s %.2f ns/timer\n", mode, float64(dt.Nanoseconds())/createN)
}

func benchReset() {
	t := time.NewTimer(time.Hour)
	pending := 0
	for i := 0; i < resetN; i++ {
		if t.Reset(time.Hour) {
			pending++
		}
	}
	rounds := make([]time.Duration, resetRounds)
	for r := range rounds {
		t0 := time.Now()
		for i := 0; i < resetN; i++ {
			if t.Reset(time.Hour) {
				pending++
			}
		}
		rounds[r] = time.Since(t0)
	}
	check(pending == resetN*(resetRounds+1), "%d resets found the timer pending", pending)
	t.Stop()
	fmt.Printf("%s %.2f ns/reset\n", mode, float64(median(rounds).Nanoseconds())/resetN)
}

var children [treeChildren]context.Context
var cancels [treeChildren]context.CancelFunc

func treeRound() time.Duration {
	t0 := time.Now()
	root, cancel := context.WithCancel(context.Background())
	for i := range children {
		children[i], cancels[i] = context.WithCancel(root)
	}
	cancel()
	bad := 0
	for i := range children {
		if children[i].Err() != context.Canceled {
			bad++
		}
		cancels[i]()
	}
	dt := time.Since(t0)
	check(bad == 0, "%d children not cancelled", bad)
	return dt
}

func benchContextTree() {
	for r := 0; r < treeWarmup; r++ {
		treeRound()
	}
	rounds := make([]time.Duration, treeRounds)
	for r := range rounds {
		rounds[r] = treeRound()
	}
	fmt.Printf("%s %.1f us/tree\n", mode, float64(median(rounds).Nanoseconds())/1000)
}

func main() {
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "timer_create_stop", "timer_reset", "context_tree":
	default:
		fmt.Fprintf(os.Stderr, "usage: %s timer_create_stop|timer_reset|context_tree\n", os.Args[0])
		os.Exit(2)
	}
	fmt.Printf("# go %s mode=%s gomaxprocs=%d\n", runtime.Version(), mode, runtime.GOMAXPROCS(0))
	switch mode {
	case "timer_create_stop":
		benchCreateStop()
	case "timer_reset":
		benchReset()
	case "context_tree":
		benchContextTree()
	}
	if failed {
		os.Exit(1)
	}
}
