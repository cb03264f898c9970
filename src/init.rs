//! Start-up: the library constructor, library-mode init (Go:
//! `main_init_done`), and program mode (Go: `runtime.main`).
//!
//! # The constructor
//!
//! With a static link, a dynamic link or `dlopen`, the ELF loader runs the
//! functions in `.init_array` before the program's `main` (or before
//! `dlopen` returns). Ours builds the scheduler (reads the environment,
//! creates the processors) and installs the panic hook. Runtime threads
//! are started on demand: the first init function or goroutine starts one,
//! so loading the library costs microseconds. Constructors of different
//! objects run in an unspecified order (DESIGN.md trap 9), so every entry
//! point also starts the runtime on first use.
//!
//! # Library-mode init
//!
//! Init functions (`gort_init_register`, `GORT_INIT`) run once each, in
//! registration order, on the *init goroutine*, which exists while there
//! are init functions to run (so it counts as a goroutine only then).
//! Initialization is *sealed* by the first entry into the runtime from a
//! foreign thread; that entry and all later ones wait until every init
//! function registered before the seal, and every one those registered,
//! has returned. Goroutines never wait (an init function calling gort
//! would otherwise deadlock on itself). After the seal, registration from a
//! foreign thread returns `GORT_ELATE`; after init is done, from anywhere.
//!
//! The waiting is for foreign threads only, so it is an ordinary mutex and
//! condition variable. A thread that has waited 5 seconds prints, once per
//! process, which init function is still running: an init function that
//! waits for a thread which is itself calling into gort deadlocks, as in
//! Go, and it should at least say so (DESIGN.md trap 12).
//!
//! The check on every entry is one atomic load once init is done.
//!
//! # Program mode
//!
//! `gort_main` seals and waits for init, turns the process main thread into
//! a runtime thread, and runs the main function as an ordinary goroutine;
//! when it returns the process exits with its status.
//!
//! If the main goroutine calls `gort_goexit` instead, its deferred calls
//! run and only it ends (Go: `runtime.Goexit` in `main`): the other
//! goroutines keep running, and once none is left the program dies with
//! `fatal error: no goroutines (main called runtime.Goexit) - deadlock!`
//! (the scheduler's deadlock check, `sched::checkdead`, reads the flag
//! that [`note_main_goexit`] sets in the scheduler). If they block for
//! good instead, the report is the ordinary `all goroutines are asleep -
//! deadlock!`, as in Go.

use std::collections::VecDeque;
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::lock::Mutex;
use parking_lot::Condvar;

use crate::sched::{self, GoFunc};

/// `gort_init_register`'s answer after the seal (the C API's
/// `GORT_ELATE`, which module `ffi` checks is this value).
pub(crate) const ELATE: c_int = 1;

/// How long a foreign call waits for init before it says why.
const WARN_AFTER: Duration = Duration::from_secs(5);

struct InitState {
    queue: VecDeque<(GoFunc, usize)>,
    sealed: bool,
    /// Registered and not yet returned.
    pending: usize,
    /// The init goroutine exists.
    running: bool,
    /// The init function running now (for the warning).
    current: usize,
}

static STATE: Mutex<InitState> = Mutex::new(InitState {
    queue: VecDeque::new(),
    sealed: false,
    pending: 0,
    running: false,
    current: 0,
});
static CHANGED: Condvar = Condvar::new();
static DONE: AtomicBool = AtomicBool::new(false);
static WARNED: AtomicBool = AtomicBool::new(false);

/// Whether initialization is complete: sealed, and every init function
/// returned. Never blocks.
pub(crate) fn is_done() -> bool {
    DONE.load(Ordering::Acquire)
}

/// `gort_init_register`: queues `f(arg)` on the init goroutine.
pub(crate) fn register(f: GoFunc, arg: *mut c_void) -> c_int {
    let from_goroutine = !sched::current_g().is_null() || !crate::foreign::current_call().is_null();
    let mut st = STATE.lock();
    if DONE.load(Ordering::Relaxed) || (st.sealed && !from_goroutine) {
        return ELATE;
    }
    st.queue.push_back((f, arg as usize));
    st.pending += 1;
    if !st.running {
        st.running = true;
        drop(st);
        sched::spawn(init_goroutine, std::ptr::null_mut());
    }
    0
}

/// The init goroutine: runs queued init functions until none is left.
unsafe extern "C" fn init_goroutine(_: *mut c_void) {
    loop {
        let (f, arg) = {
            let mut st = STATE.lock();
            match st.queue.pop_front() {
                Some(job) => {
                    st.current = job.0 as usize;
                    job
                }
                None => {
                    st.running = false;
                    return;
                }
            }
        };
        // SAFETY: running a registered init function is the contract of
        // gort_init_register.
        unsafe { f(arg as *mut c_void) };
        let mut st = STATE.lock();
        st.pending -= 1;
        st.current = 0;
        if st.queue.is_empty() {
            // Done for now: this goroutine ends here, so it stops counting
            // before anyone waiting for init can look.
            st.running = false;
            sched::uncount_current();
            if st.sealed {
                DONE.store(true, Ordering::Release);
                CHANGED.notify_all();
            }
            return;
        }
    }
}

/// Called by every entry point from a foreign thread (and cheap for
/// goroutines): seals init and waits for it.
#[inline]
pub(crate) fn wait_for_init() {
    if DONE.load(Ordering::Acquire) {
        return;
    }
    wait_slow();
}

/// Out of line, errno kept inside: the entry points' fast paths stay a
/// load and a branch.
#[cold]
#[inline(never)]
fn wait_slow() {
    crate::lock::keeping_errno(wait_sealed);
}

fn wait_sealed() {
    if !sched::current_g().is_null() || !crate::foreign::current_call().is_null() {
        return; // goroutines never wait
    }
    let mut st = STATE.lock();
    st.sealed = true;
    if st.pending == 0 {
        DONE.store(true, Ordering::Release);
        CHANGED.notify_all();
        return;
    }
    while !DONE.load(Ordering::Acquire) {
        let timed_out = CHANGED.wait_for(st.raw(), WARN_AFTER).timed_out();
        if timed_out && !DONE.load(Ordering::Acquire) && !WARNED.swap(true, Ordering::Relaxed) {
            let name = crate::trace::function_name(st.current);
            let line = format!(
                "gort: a call from a foreign thread has waited {}s for init; init function {} \
                 is still running (an init function that waits for a thread which is itself \
                 calling into gort never finishes)\n",
                WARN_AFTER.as_secs(),
                name
            );
            crate::os::write_stderr(line.as_bytes());
        }
    }
}

// ---------------------------------------------------------------------------
// Program mode.

static MAIN_STARTED: AtomicBool = AtomicBool::new(false);
static MAIN_FN: AtomicUsize = AtomicUsize::new(0);
static MAIN_ARG: AtomicUsize = AtomicUsize::new(0);

/// The program's main function, as gort_main takes it.
pub(crate) type MainFn = unsafe extern "C" fn(arg: *mut c_void) -> c_int;

/// `gort_main`: runs `main_fn(arg)` as the main goroutine on a scheduler
/// that now includes the process main thread; exits with its status.
pub(crate) fn main(main_fn: MainFn, arg: *mut c_void) -> ! {
    // SAFETY: getpid/gettid have no preconditions.
    let on_main_thread = unsafe { libc::getpid() == libc::gettid() };
    if !on_main_thread {
        crate::panic::fatal("gort_main called from a thread other than the process main thread");
    }
    if MAIN_STARTED.swap(true, Ordering::SeqCst) {
        crate::panic::fatal("gort_main called twice");
    }
    wait_for_init();
    crate::signals::install_sigquit();
    MAIN_FN.store(main_fn as usize, Ordering::Relaxed);
    MAIN_ARG.store(arg as usize, Ordering::Relaxed);
    sched::run_main_thread(main_goroutine)
}

/// Records that the main goroutine is ending through `gort_goexit` (its
/// deferred calls have run), in the scheduler, whose deadlock check reads
/// it.
pub(crate) fn note_main_goexit() {
    sched::set_main_called_goexit();
}

unsafe extern "C" fn main_goroutine(_: *mut c_void) {
    let f: MainFn =
        // SAFETY: stored by `main` from a valid function pointer.
        unsafe { std::mem::transmute::<usize, MainFn>(MAIN_FN.load(Ordering::Relaxed)) };
    let g = sched::current_g();
    if !g.is_null() {
        // SAFETY: the running goroutine is ours.
        unsafe { (*g).is_main.set(true) };
        // Dumps name the program's main function as the entry.
        let entry = f as usize;
        // SAFETY: as above.
        unsafe { (*g).start_fn.store(entry, Ordering::Relaxed) };
    }
    // SAFETY: calling the program's main function with its argument is the
    // contract of gort_main.
    let status = unsafe { f(MAIN_ARG.load(Ordering::Relaxed) as *mut c_void) };
    crate::panic::run_entry_defers();
    crate::panic::before_exit();
    // SAFETY: exit runs the host's atexit handlers; our state needs none.
    unsafe { libc::exit(status) }
}

// ---------------------------------------------------------------------------
// The constructor.

#[cfg_attr(test, allow(dead_code))]
extern "C" fn gort_library_init() {
    crate::panic::install_rust_panic_hook();
    crate::sched::start_debug_services();
    // SAFETY: registering a plain extern "C" function; the library is never
    // unloaded (-z nodelete), so the handler stays valid.
    unsafe { libc::atexit(crate::panic::hold_exit_for_panics) };
    let _ = crate::sched::sched();
    crate::timeline::start_from_env();
}

#[cfg(not(test))]
#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = gort_library_init;
