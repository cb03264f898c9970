// Go's runtime/cgo.Handle for C: a c-archive that exports new, value and
// delete, so that benches/handle_bench.c (built -DWITH_GO) can drive
// Go's handles from C exactly as it drives gort's. Each call is a C->Go
// call (cgocallback), as in any C program that uses Go's handles.
package main

// #include <stdint.h>
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

//export GoHandleNew
func GoHandleNew(v unsafe.Pointer) C.uintptr_t {
	return C.uintptr_t(cgo.NewHandle(v))
}

//export GoHandleValue
func GoHandleValue(h C.uintptr_t) unsafe.Pointer {
	return cgo.Handle(h).Value().(unsafe.Pointer)
}

//export GoHandleDelete
func GoHandleDelete(h C.uintptr_t) {
	cgo.Handle(h).Delete()
}

func main() {}
