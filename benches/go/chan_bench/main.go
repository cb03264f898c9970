// Go side of benches/run.sh: the same work as benches/chan_bench.c, in Go.
//
//	chan_bench MODE
//
// MODE is one of: chan_pingpong_1, chan_pingpong_2, chan_buffered,
// chan_select4, chan_fanin (see benches/chan_bench.c). Prints
// "name value unit" lines (lines starting with '#' are informational) and
// exits 0 only when its self-checks passed. The main goroutine is the
// driver; timing uses the monotonic clock (time.Since) around the measured
// loop only, after a warm-up round of the same work.
package main

import (
	"fmt"
	"os"
	"runtime"
	"time"
)

const (
	pingpongN      = 1000000
	pingpongWarmup = 20000
	bufferedN      = 10000000
	bufferedWarmup = 500000
	bufferedCap    = 128
	selectN        = 2000000
	selectWarmup   = 100000
	faninProducers = 100
	faninPer       = 20000
	faninWarmupPer = 1000
)

var failed bool
var mode string

func check(ok bool, format string, args ...interface{}) {
	if !ok {
		fmt.Fprintf(os.Stderr, "chan_bench: check failed: "+format+"\n", args...)
		failed = true
	}
}

// ---- ping-pong ----

func pingpongRound(ping, pong chan int64, n int) time.Duration {
	t0 := time.Now()
	for i := int64(0); i < int64(n); i++ {
		ping <- i
		v := <-pong
		if v != i+1 {
			check(false, "round trip %d returned %d", i, v)
			break
		}
	}
	return time.Since(t0)
}

func benchPingpong() {
	ping := make(chan int64)
	pong := make(chan int64)
	done := make(chan bool)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		done <- true
	}()
	pingpongRound(ping, pong, pingpongWarmup)
	dt := pingpongRound(ping, pong, pingpongN)
	close(ping)
	<-done
	fmt.Printf("%s %.2f ns/roundtrip\n", mode, float64(dt.Nanoseconds())/pingpongN)
}

// ---- buffered producer/consumer ----

func bufferedRound(n int) time.Duration {
	c := make(chan int64, bufferedCap)
	start := make(chan int64) // the count, handed to the producer
	go func() {
		cnt := <-start
		for i := int64(1); i <= cnt; i++ {
			c <- i
		}
	}()
	start <- int64(n) // returns once the producer runs
	t0 := time.Now()
	var sum int64
	for i := 0; i < n; i++ {
		sum += <-c
	}
	dt := time.Since(t0)
	check(sum == int64(n)*int64(n+1)/2, "sum %d", sum)
	return dt
}

func benchBuffered() {
	bufferedRound(bufferedWarmup)
	dt := bufferedRound(bufferedN)
	fmt.Printf("%s %.2f ns/element\n", mode, float64(dt.Nanoseconds())/bufferedN)
}

// ---- select over 4 channels, one ready ----

func selectRound(n int) time.Duration {
	c0 := make(chan int64)
	c1 := make(chan int64)
	c2 := make(chan int64)
	c3 := make(chan int64, n)
	for i := int64(1); i <= int64(n); i++ {
		c3 <- i
	}
	var v, sum int64
	t0 := time.Now()
	for i := 0; i < n; i++ {
		got := 0
		select {
		case v = <-c0:
		case v = <-c1:
			got = 1
		case v = <-c2:
			got = 2
		case v = <-c3:
			got = 3
		}
		if got != 3 {
			check(false, "select chose %d", got)
			break
		}
		sum += v
	}
	dt := time.Since(t0)
	check(sum == int64(n)*int64(n+1)/2, "sum %d", sum)
	return dt
}

func benchSelect4() {
	selectRound(selectWarmup)
	dt := selectRound(selectN)
	fmt.Printf("%s %.2f ns/select\n", mode, float64(dt.Nanoseconds())/selectN)
}

// ---- fan-in ----

func faninRound(per int) time.Duration {
	c := make(chan int64)
	t0 := time.Now()
	for p := 0; p < faninProducers; p++ {
		go func() {
			for i := int64(1); i <= int64(per); i++ {
				c <- i
			}
		}()
	}
	var sum int64
	n := faninProducers * per
	for i := 0; i < n; i++ {
		sum += <-c
	}
	dt := time.Since(t0)
	check(sum == faninProducers*(int64(per)*int64(per+1)/2), "sum %d", sum)
	return dt
}

func benchFanin() {
	faninRound(faninWarmupPer)
	dt := faninRound(faninPer)
	fmt.Printf("%s %.2f ns/element\n", mode, float64(dt.Nanoseconds())/(faninProducers*faninPer))
}

func main() {
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "chan_pingpong_1":
		runtime.GOMAXPROCS(1)
	case "chan_pingpong_2":
		runtime.GOMAXPROCS(2)
	case "chan_buffered", "chan_select4", "chan_fanin":
	default:
		fmt.Fprintf(os.Stderr, "usage: %s chan_pingpong_1|chan_pingpong_2|chan_buffered|chan_select4|chan_fanin\n", os.Args[0])
		os.Exit(2)
	}
	fmt.Printf("# go %s mode=%s gomaxprocs=%d\n", runtime.Version(), mode, runtime.GOMAXPROCS(0))
	switch mode {
	case "chan_pingpong_1", "chan_pingpong_2":
		benchPingpong()
	case "chan_buffered":
		benchBuffered()
	case "chan_select4":
		benchSelect4()
	case "chan_fanin":
		benchFanin()
	}
	if failed {
		os.Exit(1)
	}
}
