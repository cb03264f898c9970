//! Starting and ending runtime threads (Go: `newm`, `mstart`, `mexit`).
//!
//! Runtime threads are raw pthreads with M_STACK_SIZE stacks; M records
//! are never freed, and the record of a retired M is reused by the next
//! new thread (`Sched::mfree`).
//!
//! # Invariants
//!
//! - `nm_alive` counts runtime threads between `newm` and the end of
//!   `mexit`; `allm` lists exactly those Ms.

use super::*;

/// Starts a runtime thread that holds `p` (Go: `newm`).
pub(super) fn newm(p: &Processor, spinning: bool) {
    let s = sched();
    start_sysmon();
    let recycled = s.mfree.lock().pop();
    let m: &'static Machine = match recycled {
        Some(m) => {
            m.reuse(p, spinning);
            m
        }
        None => {
            let id = s.mid_gen.fetch_add(1, Ordering::Relaxed) + 1;
            let m: &'static Machine = Box::leak(Box::new(Machine::new(id, p, spinning)));
            m::register(m);
            m
        }
    };
    s.allm.lock().push(m);
    s.nthreads.fetch_add(1, Ordering::Relaxed);
    s.nm_alive.fetch_add(1, Ordering::SeqCst);
    if spawn_thread(m_entry, m as *const Machine as *mut c_void).is_err() {
        fatal("newm: cannot create a runtime thread");
    }
}

pub(super) extern "C" fn m_entry(arg: *mut c_void) -> *mut c_void {
    // SAFETY: newm passes a leaked, never-freed Machine.
    let m: &'static Machine = unsafe { &*(arg as *const Machine) };
    let name = format!("gort-m{}\0", m.id);
    // SAFETY: a NUL-terminated name of at most 15 bytes for this thread.
    unsafe { libc::pthread_setname_np(libc::pthread_self(), name.as_ptr().cast()) };
    mstart(m);
    ptr::null_mut()
}

/// Starts a detached OS thread running `entry(arg)` on an M_STACK_SIZE
/// stack. Raw pthreads rather than std::thread: no per-thread bookkeeping
/// or extra signal stack, which matters when locked goroutines retire
/// threads at a high rate.
pub(super) fn spawn_thread(
    entry: extern "C" fn(*mut c_void) -> *mut c_void,
    arg: *mut c_void,
) -> Result<(), i32> {
    // SAFETY: attr is initialised before use and destroyed after;
    // pthread_create copies what it needs.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        libc::pthread_attr_init(&mut attr);
        libc::pthread_attr_setstacksize(&mut attr, M_STACK_SIZE);
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        let mut t: libc::pthread_t = 0;
        let r = libc::pthread_create(&mut t, &attr, entry, arg);
        libc::pthread_attr_destroy(&mut attr);
        if r == 0 {
            Ok(())
        } else {
            Err(r)
        }
    }
}

/// Program mode: makes the calling thread (the process main thread) a
/// runtime thread, starts `main` as a goroutine, and schedules forever.
pub(crate) fn run_main_thread(main: GoFunc) -> ! {
    let s = sched();
    start_sysmon();
    let id = s.mid_gen.fetch_add(1, Ordering::Relaxed) + 1;
    let m: &'static Machine = Box::leak(Box::new(Machine::new(id, ptr::null(), false)));
    m.main_thread.store(true, Ordering::Relaxed);
    s.allm.lock().push(m);
    m::register(m);
    s.nthreads.fetch_add(1, Ordering::Relaxed);
    s.nm_alive.fetch_add(1, Ordering::SeqCst);
    s.program_mode.store(true, Ordering::SeqCst);
    minit(m);
    // Take a P first, so that the main goroutine lands in this thread's
    // runnext and starts here, on the process main thread, as in Go.
    if let Some(p) = pidleget() {
        m.set_p(p);
    }
    spawn(main, ptr::null_mut());
    schedule(m);
    // Only a goroutine that exits while locked to this thread ends the
    // loop; the main thread must not exit: wedge it.
    mexit(m);
    unreachable!("the main thread returned from mexit")
}

/// The `GORT_DEBUG` services that start with the library (it is
/// loading): with `schedtrace`, sysmon, so that the reports start with the
/// process rather than with the first goroutine; with `sigquit=1`, sysmon
/// (which writes the dump) and the SIGQUIT handler. Builds the scheduler
/// if it does not exist yet.
pub(crate) fn start_debug_services() {
    let debug = &sched().debug;
    if debug.schedtrace_ms > 0 || debug.sigquit {
        start_sysmon();
    }
    if debug.sigquit {
        crate::signals::install_sigquit();
    }
}

/// Starts sysmon once, with the first runtime thread (or at load time:
/// [`start_debug_services`]).
pub(super) fn start_sysmon() {
    let s = sched();
    s.sysmon_started.call_once(|| {
        crate::signals::install_handlers();
        s.nthreads.fetch_add(1, Ordering::Relaxed);
        extern "C" fn sysmon_entry(_: *mut c_void) -> *mut c_void {
            // SAFETY: a NUL-terminated name of at most 15 bytes.
            unsafe { libc::pthread_setname_np(libc::pthread_self(), c"gort-sysmon".as_ptr()) };
            crate::memory::register_thread_locals(false);
            sysmon::sysmon_main();
            ptr::null_mut()
        }
        if spawn_thread(sysmon_entry, ptr::null_mut()).is_err() {
            fatal("cannot create the sysmon thread");
        }
    });
}

pub(super) fn mstart(m: &'static Machine) {
    minit(m);
    schedule(m);
    mexit(m);
}

/// Binds the calling thread to `m` (TLS, thread id, errno slot, signal
/// stack).
pub(super) fn minit(m: &'static Machine) {
    m::set_current_m(m);
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() };
    m.thread.store(me as u64, Ordering::Release);
    crate::signals::install_altstack();
    crate::memory::register_thread_locals(true);
    // SAFETY: __errno_location has no preconditions.
    m.errno_ptr.set(unsafe { libc::__errno_location() });
    if crate::timeline::on() {
        crate::timeline::thread_started(m);
    }
}

/// The end of a runtime thread whose goroutine exited while locked to it:
/// the thread exits (its pthread TLS destructors run) and is never reused,
/// though its M record is, by the next new thread; the process main thread
/// is wedged instead (DESIGN.md trap 7).
pub(super) fn mexit(m: &'static Machine) {
    let s = sched();
    m.thread.store(0, Ordering::Release);
    m::set_current_m(ptr::null());
    if !m.main_thread.load(Ordering::Relaxed) {
        crate::signals::release_altstack();
    }
    if m.main_thread.load(Ordering::Relaxed) {
        // Blocked forever; its P was handed on. Nothing hands a P to an M
        // that is on no list, so the note is never notified again. It
        // counts as idle for deadlock detection.
        s.nm_locked_idle.fetch_add(1, Ordering::SeqCst);
        checkdead();
        loop {
            m.note.wait(None);
        }
    }
    s.nthreads.fetch_sub(1, Ordering::Relaxed);
    s.nm_alive.fetch_sub(1, Ordering::SeqCst);
    s.allm.lock().retain(|&x| !ptr::eq(x, m));
    // The last touch of m by this thread: from here a new thread may take
    // the record over while this one finishes exiting (which no longer
    // reads it: its current-M slot is already cleared).
    s.mfree.lock().push(m);
}
