//! Panic, defer, recover (API.md §6).

use std::ffi::{c_char, c_int, c_void, CStr, CString};

use super::runtime::gort_func;
use super::{fence, fence_no_init};
use crate::panic;

/// Starts a panic with message `msg` (copied; NULL means ""): the deferred
/// calls of the calling goroutine run, innermost frame first. A deferred
/// call that calls gort_recover() stops the panic, and execution continues
/// as if the frame whose deferred call recovered had returned normally:
/// gort_pcall() returns 0, a goroutine ends, gort_call() returns, the main
/// function of gort_main() returns 0. A panic that reaches a gort_pcall()
/// frame is recovered by it (it returns 1); one that reaches a gort_call()
/// frame goes on to the frames outside it, as a Go panic goes on to the
/// caller. A panic that reaches the bottom (a goroutine's entry function,
/// a thread's outermost gort_call()) is reported on stderr (`panic:
/// <msg>`, a blank line, the goroutine's frames) and the process exits
/// with status 2.
///
/// Recovery skips the C frames between the panic and the recovering frame
/// without unwinding them: code there must not need cleanup beyond its
/// deferred calls (as in Go). On a thread outside any goroutine (and
/// outside gort_call) there is nothing to recover: the panic is reported.
///
/// # Safety
/// `msg` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn gort_panic(msg: *const c_char) -> ! {
    crate::init::wait_for_init();
    let text = if msg.is_null() {
        CString::default()
    } else {
        // SAFETY: the caller passes a NUL-terminated string.
        unsafe { CStr::from_ptr(msg) }.to_owned()
    };
    // Moved into the panic record, which owns it from here.
    panic::panic_with(text)
}

/// Pushes `fn(arg)` onto the innermost open frame (a goroutine's entry
/// function, gort_call, gort_main's main function, or a gort_pcall): when
/// that frame's function returns, or a panic or gort_goexit() passes
/// through, its deferred calls run last-in first-out. Outside a goroutine
/// there is no frame: a panic. `fn == NULL` panics.
#[no_mangle]
pub extern "C" fn gort_defer(r#fn: gort_func, arg: *mut c_void) {
    // Goroutines never wait for init: only a failure (a foreign thread
    // outside gort_call) does, before it panics.
    fence_no_init(|| {
        if let Some(f) = r#fn {
            if panic::try_defer(f, arg) {
                return;
            }
        }
        defer_failed(r#fn.is_none())
    })
}

/// gort_defer with a NULL function, or outside a goroutine. One cold call
/// keeps the fast path free of stack adjustments.
#[cold]
#[inline(never)]
fn defer_failed(nil: bool) -> ! {
    if nil {
        panic::go_panic(super::NIL_DEREF);
    }
    crate::init::wait_for_init();
    panic::go_panic("gort_defer called outside a goroutine: no frame to defer to");
}

/// Inside a deferred call that a panic is running: returns the panic's
/// message and stops the panic (see gort_panic()); the string stays valid
/// until the goroutine's next gort_recover(). Anywhere else, and once the
/// panic is stopped: NULL.
#[no_mangle]
pub extern "C" fn gort_recover() -> *const c_char {
    fence(panic::recover)
}

/// Calls `fn(arg)` in a frame of its own, the C-friendly `try`. Returns 0
/// if `fn` returned (or a deferred call inside recovered a panic). If a
/// panic is still running when it reaches this frame (after all deferred
/// calls inside ran), gort_pcall recovers it itself, copies its message
/// into `msg` (truncated to `msglen - 1` bytes and NUL-terminated; `msg`
/// may be NULL) and returns 1. gort_goexit() is not a panic and passes
/// through. On a thread outside any goroutine it behaves as gort_call()
/// plus this recovery. `fn == NULL` panics.
///
/// A C++ exception that leaves `fn` is a fatal error (`fatal error: C++
/// exception unwound through gort_pcall`), not a panic: pcall recovers
/// gort panics only. A thread exit inside `fn` is handled as in
/// gort_call(): this frame's deferred calls run and the thread exits.
///
/// # Safety
/// `fn` must be safe to call with `arg`; `msg` is NULL or writable for
/// `msglen` bytes.
#[no_mangle]
pub unsafe extern "C" fn gort_pcall(
    r#fn: gort_func,
    arg: *mut c_void,
    msg: *mut c_char,
    msglen: usize,
) -> c_int {
    let Some(f) = r#fn else {
        panic::go_panic(super::NIL_DEREF);
    };
    // No fence around fn, as in gort_call (see there). panic::pcall waits
    // for init on a foreign thread (goroutines never wait).

    // SAFETY: forwarded contract.
    unsafe { panic::pcall(f, arg, msg, msglen, crate::init::wait_for_init) }
}
