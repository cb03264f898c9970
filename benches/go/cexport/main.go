// A minimal Go library for C: one exported function. Built by
// benches/run.sh as a c-archive (start-up cost) and as a c-shared library
// (size), the Go counterparts of libgort.a and libgort.so.
package main

import "C"

import "runtime"

//export GoNumGoroutine
func GoNumGoroutine() C.int {
	return C.int(runtime.NumGoroutine())
}

func main() {}
