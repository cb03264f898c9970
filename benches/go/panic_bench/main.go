// Panic/defer benchmarks, Go side: the same operations as
// benches/panic_bench.c, with the same modes and output.
package main

import (
	"fmt"
	"os"
	"time"
)

var sink int

//go:noinline
func nop() { sink++ }

//go:noinline
func defersOne() { defer nop() }

//go:noinline
func call(f func()) { f() }

//go:noinline
func panics() {
	defer func() {
		if recover() != nil {
			sink++
		}
	}()
	panic("x")
}

func main() {
	mode := os.Args[1]
	var f func()
	n := 20000000
	switch mode {
	case "panic_defer":
		f = defersOne
	case "panic_pcall":
		f = nop
	case "panic_recover":
		f, n = panics, 2000000
	}
	for i := 0; i < n/10; i++ {
		call(f)
	}
	sink = 0
	t0 := time.Now()
	for i := 0; i < n; i++ {
		call(f)
	}
	el := time.Since(t0)
	if sink != n {
		fmt.Fprintf(os.Stderr, "sink %d != %d\n", sink, n)
		os.Exit(1)
	}
	fmt.Printf("%s %.2f ns/op\n", mode, float64(el.Nanoseconds())/float64(n))
}
