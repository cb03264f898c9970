// Go side of the handle rows of benches/run.sh: the work of
// benches/handle_bench.c, with runtime/cgo.Handle, inside Go.
//
//	handle_bench MODE
//
// MODE is one of handle_1t (new+value+delete on one goroutine),
// handle_2t (the same on 2 goroutines at once, GOMAXPROCS >= 2; wall time
// divided by the operations of both) and handle_value (Value of one live
// handle). Prints "name value unit" lines (lines starting with '#' are
// informational) and exits 0 only when its self-checks passed. Loops are
// sized as in handle_bench.c: the count grows until one run takes at
// least 0.3 s, and that run is reported, after a warm-up run.
//
// The value is a pointer, as in C: boxing it in an interface allocates
// nothing, which is the cheapest case for Go.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/cgo"
	"sync"
	"time"
)

const minDur = 300 * time.Millisecond

var failed bool

var payload [2]int

func check(bad int, what string) {
	if bad != 0 {
		fmt.Fprintf(os.Stderr, "handle_bench: %s: %d values came back wrong\n", what, bad)
		failed = true
	}
}

func roundTrips(n int, v *int) int {
	bad := 0
	for i := 0; i < n; i++ {
		h := cgo.NewHandle(v)
		if h.Value().(*int) != v {
			bad++
		}
		h.Delete()
	}
	return bad
}

func calibrate(run func(int) int) (int, time.Duration) {
	n := 1000
	for {
		t0 := time.Now()
		check(run(n), "calibration")
		dt := time.Since(t0)
		if dt >= minDur {
			return n, dt
		}
		want := float64(n) * 10
		if dt > 0 {
			want = float64(n) * 1.2 * float64(minDur) / float64(dt)
		}
		switch {
		case want > float64(n)*10:
			n *= 10
		case want < float64(n)*2:
			n *= 2
		default:
			n = int(want)
		}
	}
}

func run1t(n int) int { return roundTrips(n, &payload[0]) }

func bench1t() {
	check(run1t(100000), "warm-up")
	n, dt := calibrate(run1t)
	fmt.Printf("# %d round trips in %.3f s\n", n, dt.Seconds())
	fmt.Printf("handle_1t %.2f ns/op\n", float64(dt.Nanoseconds())/float64(n))
}

func bench2t() {
	check(run1t(100000), "warm-up")
	n, dt1 := calibrate(run1t)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	bad := make([]int, 2)
	ready.Add(2)
	done.Add(2)
	for i := 0; i < 2; i++ {
		go func(i int) {
			check(roundTrips(100000, &payload[i]), "warm-up")
			ready.Done()
			<-start
			bad[i] = roundTrips(n, &payload[i])
			done.Done()
		}(i)
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	dt := time.Since(t0)
	check(bad[0]+bad[1], "2 goroutines")
	fmt.Printf("# 2 goroutines x %d round trips in %.3f s (one alone: %.2f ns/op), GOMAXPROCS %d\n",
		n, dt.Seconds(), float64(dt1.Nanoseconds())/float64(n), runtime.GOMAXPROCS(0))
	fmt.Printf("handle_2t %.2f ns/op\n", float64(dt.Nanoseconds())/float64(2*n))
}

func benchValue() {
	v := &payload[0]
	h := cgo.NewHandle(v)
	run := func(n int) int {
		bad := 0
		for i := 0; i < n; i++ {
			if h.Value().(*int) != v {
				bad++
			}
		}
		return bad
	}
	check(run(1000000), "warm-up")
	n, dt := calibrate(run)
	h.Delete()
	fmt.Printf("# %d Value() calls in %.3f s\n", n, dt.Seconds())
	fmt.Printf("handle_value %.2f ns/op\n", float64(dt.Nanoseconds())/float64(n))
}

func main() {
	mode := ""
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	fmt.Printf("# go %s mode=%s\n", runtime.Version(), mode)
	switch mode {
	case "handle_1t":
		bench1t()
	case "handle_2t":
		if runtime.GOMAXPROCS(0) < 2 {
			runtime.GOMAXPROCS(2)
		}
		bench2t()
	case "handle_value":
		benchValue()
	default:
		fmt.Fprintf(os.Stderr, "usage: %s handle_1t|handle_2t|handle_value\n", os.Args[0])
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}
