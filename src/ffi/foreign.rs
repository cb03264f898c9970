//! Library mode, program mode, callbacks from foreign threads, and
//! LockOSThread (API.md §2, §3, §4).

use std::ffi::{c_int, c_void};

use super::fence;
use super::runtime::gort_func;
use crate::panic::go_panic;
use crate::{foreign, init, sched};

/// gort_init_register() after initialization was sealed.
pub const GORT_ELATE: c_int = 1;
const _: () = assert!(GORT_ELATE == init::ELATE);

/// The program's main function for gort_main(): returns the exit status.
pub type gort_main_func = Option<unsafe extern "C" fn(arg: *mut c_void) -> c_int>;

/// Registers an init function: `fn(arg)` runs once, in registration order,
/// on the runtime's init goroutine, starting as soon as it is registered.
/// Init functions may start goroutines, sleep, use every gort primitive,
/// and register further init functions (which are part of init too).
///
/// Initialization is sealed by the first call into the runtime from a
/// thread that is not a goroutine (any gort function except this one,
/// gort_init_done, gort_version and gort_errno_location): that call, and
/// every such call after it, waits until every init function registered
/// before the seal has returned. Calls made by goroutines never wait. A
/// call that has waited 5 seconds prints once which init function is
/// still running (an init function that waits for a thread which is
/// itself calling into gort never finishes).
///
/// Returns 0, or GORT_ELATE after the seal (from a thread that is not a
/// goroutine) or after initialization finished; nothing runs then. Safe to
/// call from constructors, before the library's own constructor has run.
/// `fn == NULL` panics.
#[no_mangle]
pub extern "C" fn gort_init_register(r#fn: gort_func, arg: *mut c_void) -> c_int {
    let Some(f) = r#fn else {
        go_panic("gort_init_register: nil init function");
    };
    super::fence_no_init(|| init::register(f, arg))
}

/// Whether initialization is complete: sealed by a first call from a
/// foreign thread, and every init function returned. Never blocks.
#[no_mangle]
pub extern "C" fn gort_init_done() -> bool {
    init::is_done()
}

/// Calls `fn(arg)` as a goroutine, in a frame of its own.
///
/// From a thread the runtime did not create (the process main thread, a
/// pthread of the program): the thread is attached to the runtime (once:
/// the state is kept for the thread and released when it exits), waits for
/// initialization, then runs `fn(arg)` on its own stack as a goroutine
/// locked to the thread. Inside, every gort function works: spawning,
/// blocking (which blocks this thread), nested gort_call. While the call
/// runs the goroutine counts in gort_num_goroutine() and appears in
/// gort_stack(); between calls the thread is invisible. gort_goexit()
/// inside is a fatal error.
///
/// Running off the end of the thread's stack inside the call is reported
/// as a goroutine's stack overflow ("fatal error: stack overflow" naming
/// the goroutine, exit status 2), not a bare SIGSEGV. For that, attaching
/// learns the thread's stack bounds (once per thread) and gives a thread
/// that has no alternate signal stack one of gort's (64 KiB, taken back
/// when the attach state is released; an alternate stack the thread
/// already has is used and left alone). It also installs gort's
/// SIGSEGV/SIGBUS handlers if no runtime thread has yet.
///
/// From a goroutine (or nested in a gort_call): calls `fn(arg)` on the
/// calling goroutine.
///
/// Either way the call is a frame, as a Go function call is: the deferred
/// calls `fn` makes (gort_defer()) run, last-in first-out, when `fn`
/// returns. A panic that `fn`'s deferred calls do not recover leaves the
/// frame and goes on as in Go: the deferred calls of the frames outside
/// run next, and an enclosing gort_pcall() recovers it; with no frame
/// outside (the outermost gort_call of a thread) it is reported and the
/// process exits with status 2. A deferred call that recovers makes
/// gort_call return normally.
///
/// C++ exceptions and thread exit. gort does not unwind: an exception that
/// would leave `fn` (thrown and not caught inside it, or thrown by one of
/// its deferred calls) is a fatal error, `fatal error: C++ exception
/// unwound through gort_call` (status 2), reported before anything is
/// unwound, with the dump of where it was thrown; the caller's catch
/// block never sees it. Catch exceptions inside the callback. A thread
/// that exits inside `fn` (pthread_exit(), or a cancellation acted on
/// inside it) does exit: as the exit unwinds each gort_call and
/// gort_pcall frame, that frame's deferred calls run (as gort_goexit()
/// runs them; a panic in progress is abandoned), and leaving the
/// outermost frame ends the call (the goroutine stops counting in
/// gort_num_goroutine()) before the thread's own cleanup handlers outside
/// run. A thread exit inside a gort_call made on a goroutine is a fatal
/// error (it would end a runtime thread). `longjmp` out of `fn` past
/// gort_call is not supported.
///
/// `fn == NULL` panics.
///
/// # Safety
/// `fn` must be safe to call with `arg`.
#[no_mangle]
pub unsafe extern "C" fn gort_call(r#fn: gort_func, arg: *mut c_void) {
    let Some(f) = r#fn else {
        go_panic(super::NIL_DEREF);
    };
    // No fence: a thread exit inside fn unwinds the frames between here
    // and fn, so none of them may hold a catch_unwind or anything to drop
    // (module panic). A Rust panic still cannot unwind into C: release
    // builds abort on panic, and an extern "C" function aborts on one.

    // SAFETY: forwarded contract: fn may be called with arg.
    unsafe { foreign::call(f, arg, init::wait_for_init) }
}

/// Program mode: runs `main_fn(arg)` as the main goroutine and exits the
/// process with the status it returns, as Go's main does (other goroutines
/// still running are not waited for). Must be called once, from the
/// process main thread, which becomes a runtime thread. Seals and waits for
/// initialization first. The main goroutine is an ordinary goroutine: it
/// may run on any runtime thread.
#[no_mangle]
pub extern "C" fn gort_main(main_fn: gort_main_func, arg: *mut c_void) -> ! {
    let Some(f) = main_fn else {
        go_panic("gort_main: nil main function");
    };
    init::main(f, arg)
}

/// Wires the calling goroutine to its current thread (Go's
/// LockOSThread): it runs only there and nothing else runs there, until as
/// many gort_unlock_os_thread() calls as locks. A goroutine that exits
/// while locked takes its thread with it: the thread exits (its pthread TLS
/// destructors run) and is never reused; the process main thread is
/// wedged instead (blocked forever, its processor handed on). On a thread
/// the runtime did not create this only counts (the thread is its own).
#[no_mangle]
pub extern "C" fn gort_lock_os_thread() {
    fence(sched::lock_os_thread)
}

/// Undoes one gort_lock_os_thread(); does nothing if not locked.
#[no_mangle]
pub extern "C" fn gort_unlock_os_thread() {
    fence(sched::unlock_os_thread)
}
