//! Goroutines, scheduling, time and statistics (API.md §3, §8).

use std::ffi::{c_char, c_int, c_void};

use super::fence;
use crate::panic::{fatal, go_panic};
use crate::{sched, time};

/// A goroutine entry function (or any callback taking one argument).
pub type gort_func = Option<unsafe extern "C" fn(arg: *mut c_void)>;

/// Runtime counters, filled by gort_read_stats().
///
/// The struct only ever grows at the end: fields keep their place and
/// meaning, and new ones are appended in later versions. Zero it before
/// calling gort_read_stats(): a library older than the header fills only
/// the fields it knows, and the others then read 0. The other way round is
/// not safe: gort_read_stats() writes the whole struct as the library
/// declares it, so a program compiled against an older header (a smaller
/// gort_stats) must be rebuilt before it runs with a newer libgort.so.
///
/// Counters named "since start" only grow (they wrap after 2^63 events).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct gort_stats {
    /// Live goroutines; equals gort_num_goroutine().
    pub goroutines: i64,
    /// OS threads the runtime holds: its own live threads plus foreign
    /// threads with attach state.
    pub threads: i64,
    /// Runtime threads parked with nothing to run.
    pub idle_threads: i64,
    /// Foreign threads holding attach state.
    pub foreign_threads: i64,
    /// GOMAXPROCS.
    pub procs: i64,
    /// Live handles.
    pub handles: i64,
    /// Goroutines created since the runtime started.
    pub goroutines_created: i64,
    /// Successful work steals between processors since start.
    pub steals: i64,
    /// Goroutine parks since start: each time a goroutine (or a foreign
    /// thread inside a blocking gort call) blocked on a channel, select,
    /// mutex, wait group, sleep, descriptor or any other wait.
    pub parks: i64,
    /// Processors the runtime monitor took since start from threads whose
    /// goroutine was stuck in C code (after gort_blocking_enter(), or
    /// about 10 ms without a scheduling point while work waited and 1 ms
    /// more after being asked to yield: a goroutine that calls gort_go
    /// yields there instead), and handed to another thread.
    pub handoffs: i64,
    /// Goroutine waits for descriptor readiness since start: each time
    /// gort_fd_wait(), gort_read(), gort_write(), gort_accept() or
    /// gort_connect() on a goroutine parked until the descriptor was ready
    /// (also counted in `parks`). Foreign threads, which wait in poll(2),
    /// are not counted.
    pub netpoll_waits: i64,
    /// Timers pending now (live, not created): sleeps, gort_timer /
    /// gort_ticker / gort_after timers, context and I/O deadlines that
    /// have neither fired nor been stopped.
    pub timers: i64,
}

/// Starts a goroutine running `fn(arg)` and returns its id (> 0).
///
/// The goroutine runs on its own stack, on any runtime thread, and may move
/// between threads whenever it blocks or yields: `__thread` variables are
/// not stable across a blocking gort call unless the goroutine is locked to
/// its thread. Callable from goroutines and from any other thread.
/// `fn == NULL` panics with "go of nil func value". A C++ exception, or a
/// thread exit (pthread_exit(), cancellation), that would leave `fn` or
/// one of its deferred calls is a fatal error: it would unwind a runtime
/// thread.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[unsafe(naked)]
#[no_mangle]
pub extern "C" fn gort_go(r#fn: gort_func, arg: *mut c_void) -> i64 {
    // A tail call that passes our return address (a pc in the function
    // that called gort_go) as a third argument, for "created by" in dumps.
    #[cfg(target_arch = "x86_64")]
    core::arch::naked_asm!("mov rdx, [rsp]", "jmp {0}", sym gort_go_from);
    #[cfg(target_arch = "aarch64")]
    core::arch::naked_asm!("mov x2, x30", "b {0}", sym gort_go_from);
}

/// cbindgen:ignore
/// Portable fallback: no creator address.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[no_mangle]
pub extern "C" fn gort_go(r#fn: gort_func, arg: *mut c_void) -> i64 {
    gort_go_from(r#fn, arg, 0)
}

extern "C" fn gort_go_from(r#fn: gort_func, arg: *mut c_void, creator_pc: usize) -> i64 {
    let Some(f) = r#fn else {
        go_panic("go of nil func value");
    };
    fence(|| sched::spawn_from(f, arg, creator_pc))
}

/// Yields the processor so other goroutines may run; the caller continues
/// later, possibly on another thread. A no-op outside a goroutine.
#[no_mangle]
pub extern "C" fn gort_gosched() {
    fence(sched::gosched)
}

/// Ends the calling goroutine after running all its deferred calls (every
/// frame's: gort_pcall does not stop it, and it is not a panic, so
/// gort_recover() returns NULL). Calling it outside a goroutine, including
/// inside gort_call on a foreign thread, is a fatal error.
///
/// On the main goroutine of gort_main() it ends only the main goroutine,
/// as Go's runtime.Goexit in main does: the program does not exit, the
/// other goroutines keep running, and when none is left the program dies
/// with "fatal error: no goroutines (main called runtime.Goexit) -
/// deadlock!" (exit status 2). If they all block for good instead, it is
/// the usual "fatal error: all goroutines are asleep - deadlock!".
#[no_mangle]
pub extern "C" fn gort_goexit() -> ! {
    let g = sched::current_g();
    if g.is_null() {
        fatal("gort_goexit called on a foreign thread");
    }
    crate::init::wait_for_init();
    // SAFETY: the running goroutine is ours.
    let g = unsafe { &*g };
    crate::panic::goexit_defers(g);
    if g.is_main.get() {
        crate::init::note_main_goexit();
    }
    // SAFETY: on a goroutine whose deferred calls all ran. The frames
    // between the goroutine's entry and here are the caller's C frames (no
    // destructors) and the runtime's, which own nothing now.
    unsafe { sched::goexit() }
}

/// Declares that the calling goroutine is about to block in C code (a
/// read, a lock, a long computation): its processor's other goroutines are
/// handed to another thread now if any are waiting, and as soon as any
/// arrive otherwise, so they keep running while this one blocks. Call
/// gort_blocking_exit() when the blocking call returns. Without this,
/// the runtime notices a goroutine stuck in C after about 10 ms and does
/// the same. The pair costs a few nanoseconds when nothing needed the
/// processor. A no-op outside a goroutine; not nestable (a second enter
/// before the exit does nothing).
#[no_mangle]
pub extern "C" fn gort_blocking_enter() {
    fence(sched::blocking_enter)
}

/// Ends a gort_blocking_enter() section: the goroutine continues on a
/// processor (its own if nobody needed it, else the next free one; it may
/// wait for one and may resume on another thread). A no-op outside a
/// goroutine.
#[no_mangle]
pub extern "C" fn gort_blocking_exit() {
    fence(sched::blocking_exit)
}

/// The calling goroutine's id; 0 outside a goroutine.
#[no_mangle]
pub extern "C" fn gort_goid() -> i64 {
    crate::init::wait_for_init();
    sched::goid()
}

/// The number of goroutines that exist: running, runnable or blocked.
#[no_mangle]
pub extern "C" fn gort_num_goroutine() -> c_int {
    fence(|| sched::num_goroutine().min(c_int::MAX as i64) as c_int)
}

/// Sets GOMAXPROCS to `n` when `n > 0` (values above 256 are clamped) and
/// returns the previous value; `n <= 0` only queries. Shrinking takes
/// effect on each processor at its next scheduling point.
#[no_mangle]
pub extern "C" fn gort_gomaxprocs(n: c_int) -> c_int {
    fence(|| {
        if n <= 0 {
            sched::sched()
                .gomaxprocs
                .load(std::sync::atomic::Ordering::Relaxed) as c_int
        } else {
            sched::set_gomaxprocs(n as usize) as c_int
        }
    })
}

/// Pauses the calling goroutine for at least `ns` nanoseconds (its thread
/// runs other goroutines meanwhile). Returns at once if `ns <= 0`. Outside
/// a goroutine the calling thread sleeps.
#[no_mangle]
pub extern "C" fn gort_sleep(ns: i64) {
    fence(|| time::sleep(ns))
}

/// The calling thread's errno slot; what the header's `errno` macro reads.
///
/// A goroutine's errno is carried with it: saved when it switches out,
/// restored on whatever thread it resumes, so the value survives every gort
/// call. Its *address* does not: after a call that blocks or yields, the
/// goroutine may be on another thread with another errno slot. glibc
/// declares `__errno_location()` as a const function, so a C compiler may
/// compute errno's address once per function and reuse it after such a
/// call, reading (or clobbering) the errno of whatever goroutine now runs
/// on the old thread. This function is not const, so the compiler calls it
/// again after every call.
///
/// runtime.h therefore redefines `errno` as `(*gort_errno_location())` in
/// every file that includes it (define `GORT_NO_ERRNO_MACRO` before the
/// include to keep libc's definition). Code in files that do not include
/// runtime.h but call, directly or indirectly, a function that blocks in
/// gort must not use errno on both sides of that call in one function:
/// this is the same rule as for any `__thread` variable.
///
/// With GCC and Clang the header declares this function weak and its
/// `errno` falls back to libc's while the function is not linked: a
/// program that includes runtime.h but only dlopen()s libgort links and
/// uses libc's errno (with the `__thread` rule above for goroutines it
/// runs through the loaded library). A program linked with libgort.a or
/// libgort.so that calls any gort function has this one bound; with
/// libgort.a a program that calls no gort function at all links none of
/// gort and has libc's errno, which is then the same thing.
#[no_mangle]
pub extern "C" fn gort_errno_location() -> *mut c_int {
    // SAFETY: __errno_location has no preconditions.
    unsafe { libc::__errno_location() }
}

/// Writes a dump of goroutines into `buf`, like Go's runtime.Stack: the
/// calling goroutine's block first, then with `all` one block per
/// goroutine counted by gort_num_goroutine(). A block starts with
/// `goroutine <id> [<state>]:` (Go's words: `chan receive`, `sleep`,
/// `sync.Mutex.Lock`, `IO wait`, ..., with `, locked to thread` where it
/// applies), then symbolized frames: for the caller, its frames down to
/// its entry function; for a goroutine that is blocked or runnable, its
/// frames from where it blocked (at most one line for the gort call, then
/// the C callers) down to its entry function; a goroutine running on
/// another thread shows no frames. Then `created by <function that called
/// gort_go>`. Names of static functions are found too, without -rdynamic,
/// unless the program was stripped. Under each name, `file.c:42 +0x1d`
/// where the object has (uncompressed) debug information, else
/// `object+0x1234` (for `addr2line -e object`). Writes at most `len` bytes and returns how many it wrote;
/// when they fit, a terminating NUL follows (not counted). Outside a
/// goroutine the caller has no block. `buf` may be NULL only if `len` is 0.
///
/// # Safety
/// `buf` must be writable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn gort_stack(buf: *mut c_char, len: usize, all: bool) -> usize {
    if buf.is_null() && len > 0 {
        go_panic(super::NIL_DEREF);
    }
    let text = fence(|| crate::trace::dump(all));
    let n = text.len().min(len);
    // SAFETY: buf is writable for len bytes (caller's contract), n <= len.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), n);
        if n < len {
            *buf.add(n) = 0;
        }
    }
    n
}

/// The monotonic clock, in nanoseconds.
#[no_mangle]
pub extern "C" fn gort_nanotime() -> i64 {
    crate::init::wait_for_init();
    time::nanotime()
}

/// The library version, "MAJOR.MINOR.PATCH". Never blocks (and does not
/// seal initialization).
#[no_mangle]
pub extern "C" fn gort_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Fills `*out` with the runtime's counters. Each counter is exact at some
/// instant; together they are a snapshot taken without stopping anything.
/// `out == NULL` panics.
///
/// # Safety
/// `out` must point to writable storage for a gort_stats.
#[no_mangle]
pub unsafe extern "C" fn gort_read_stats(out: *mut gort_stats) {
    if out.is_null() {
        go_panic(super::NIL_DEREF);
    }
    let st = fence(sched::stats);
    let v = gort_stats {
        goroutines: st.goroutines,
        threads: st.threads,
        idle_threads: st.idle_threads,
        foreign_threads: st.foreign_threads,
        procs: st.procs,
        handles: crate::handle::live_count(),
        goroutines_created: st.goroutines_created,
        steals: st.steals,
        parks: st.parks,
        handoffs: st.handoffs,
        netpoll_waits: st.netpoll_waits,
        timers: st.timers,
    };
    // SAFETY: the caller guarantees out is valid for writes; checked
    // non-null above.
    unsafe { out.write(v) };
}
