// Go side of benches/run.sh's echo modes: a TCP echo server with package
// net, one goroutine per connection, the counterpart of
// examples/echo_server.c in serve mode.
//
//	echo [--serve] [PORT]
//
// Listens on 127.0.0.1:PORT (default 0: an ephemeral port), prints the
// port alone on the first line of stdout, then echoes every byte it reads
// on each connection back to it until the peer closes it or an error
// ends it. Runs until killed. Each connection has a 4096-byte buffer, as
// the C server's. Go raises its own RLIMIT_NOFILE soft limit to the hard
// limit at start-up (since Go 1.19), as the C server does by hand.
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // io.EOF: the peer closed; anything else: give up too
		}
	}
}

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--serve" {
		args = args[1:]
	}
	port := 0
	if len(args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: echo [--serve] [PORT]")
		os.Exit(2)
	}
	if len(args) == 1 {
		p, err := strconv.Atoi(args[0])
		if err != nil || p < 0 || p > 65535 {
			fmt.Fprintf(os.Stderr, "echo: bad port %q\n", args[0])
			os.Exit(2)
		}
		port = p
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	for {
		c, err := ln.Accept()
		if err != nil {
			// Temporary errors (EMFILE, ECONNABORTED): back off a little,
			// as net/http's server does, and go on.
			fmt.Fprintln(os.Stderr, "echo: accept:", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go serve(c)
	}
}
