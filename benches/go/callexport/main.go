// An exported no-op for C: a c-archive that benches/foreign_bench.c (built
// -DWITH_GO) calls from C threads, as it calls gort_call. In Go 1.19 every
// call from a thread Go did not create attaches the thread to an M for
// the call and detaches it afterwards (needm/dropm).
package main

import "C"

//export GoNoop
func GoNoop() {}

func main() {}
