//! The work signal handlers leave to sysmon, off the signal path: the
//! flush of the host's stdio before a report ends the process, and the
//! SIGQUIT dump.
//!
//! # Invariants
//!
//! - `MONITOR` is sysmon's thread once sysmon runs; a handler that finds
//!   it 0 does the work's safe part itself (or takes the default action).
//! - `FLUSH` goes 0 -> 1 (asked) -> 2 (done) and stays done.

use super::*;

/// A flush of the host's stdio asked for a report: 0 none, 1 asked, 2
/// done.
static FLUSH: AtomicU32 = AtomicU32::new(0);
/// sysmon's thread (`pthread_self()`), 0 until it runs.
static MONITOR: AtomicU64 = AtomicU64::new(0);
/// SIGQUIT arrived: (interrupted pc, si_code, the receiving M's id or -1).
static QUIT: AtomicBool = AtomicBool::new(false);
static QUIT_PC: AtomicUsize = AtomicUsize::new(0);
static QUIT_CODE: AtomicI64 = AtomicI64::new(0);
static QUIT_M: AtomicI64 = AtomicI64::new(-1);

/// Before a report ends the process: flushes the host's buffered stdio
/// streams (`fflush(NULL)`) so that what the program printed to a pipe or
/// a file is not lost. sysmon does the flush and the reporter waits for
/// it a quarter of a second at most: a stream whose lock is held by a
/// thread that never lets go (blocked writing to a full pipe, or the
/// faulting thread itself, interrupted inside stdio) then costs the
/// flush, never the report. On sysmon itself only `stdout` is flushed,
/// if its lock is free; before sysmon runs, the caller flushes (not from
/// a signal handler). Callable from a signal handler (it only wakes
/// sysmon and sleeps).
pub(crate) fn flush_stdio_for_report() {
    let monitor = MONITOR.load(Ordering::SeqCst);
    // SAFETY: pthread_self reads the thread pointer; async-signal-safe.
    let me = unsafe { libc::pthread_self() } as u64;
    if monitor == me {
        crate::os::flush_stdout();
        return;
    }
    if monitor == 0 {
        if !in_signal_handler() {
            // SAFETY: fflush(NULL) flushes every open output stream; not
            // from a signal handler that may have interrupted stdio.
            unsafe { libc::fflush(ptr::null_mut()) };
        }
        return;
    }
    FLUSH.store(1, Ordering::SeqCst);
    crate::sched::sysmon::wake_sysmon();
    for _ in 0..250 {
        if FLUSH.load(Ordering::SeqCst) == 2 {
            return;
        }
        crate::os::thread_sleep(1_000_000);
    }
}

/// Whether the calling thread runs on its alternate signal stack (inside
/// a crash handler).
fn in_signal_handler() -> bool {
    current_altstack().is_some_and(|s| s.ss_flags & libc::SS_ONSTACK != 0)
}

/// sysmon is about to serve (before its first wait): from now on
/// [`flush_stdio_for_report`] and SIGQUIT rely on it.
pub(crate) fn monitor_started() {
    // SAFETY: pthread_self has no preconditions.
    MONITOR.store(unsafe { libc::pthread_self() } as u64, Ordering::SeqCst);
}

/// sysmon's share of signal handling, after each of its waits: a flush
/// asked for a report; the SIGQUIT dump.
pub(crate) fn serve_monitor() {
    if FLUSH.load(Ordering::SeqCst) == 1 {
        // SAFETY: fflush(NULL) flushes every open output stream; sysmon is
        // never inside stdio itself.
        unsafe { libc::fflush(ptr::null_mut()) };
        FLUSH.store(2, Ordering::SeqCst);
    }
    if QUIT.load(Ordering::SeqCst) {
        quit_dump();
    }
}

/// Go's SIGQUIT report: every goroutine's dump, then exit status 2.
fn quit_dump() -> ! {
    flush_stdio_for_report();
    let mut out = format!(
        "SIGQUIT: quit\nPC={:#x} m={} sigcode={}\n\n",
        QUIT_PC.load(Ordering::SeqCst),
        QUIT_M.load(Ordering::SeqCst),
        QUIT_CODE.load(Ordering::SeqCst)
    );
    if crate::panic::begin_report() {
        out.push_str(&crate::trace::dump(true));
    }
    crate::os::write_stderr(out.as_bytes());
    crate::timeline::at_exit(true);
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(2) }
}

extern "C" fn quit_handler(_: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo and ucontext.
    let (code, regs) = unsafe { ((*info).si_code, crate::unwind::from_signal(ctx)) };
    // SAFETY: pthread_self reads the thread pointer; async-signal-safe.
    let me = unsafe { libc::pthread_self() } as u64;
    QUIT_PC.store(regs.pc, Ordering::SeqCst);
    QUIT_CODE.store(i64::from(code), Ordering::SeqCst);
    QUIT_M.store(
        machine::find_by_thread(me).map_or(-1, |m| m.id),
        Ordering::SeqCst,
    );
    if MONITOR.load(Ordering::SeqCst) == 0 {
        // No sysmon to write the dump yet: the default action.

        // SAFETY: plain sigaction/raise calls, async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = libc::SIG_DFL;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGQUIT, &sa, ptr::null_mut());
            libc::raise(libc::SIGQUIT);
        }
        return;
    }
    QUIT.store(true, Ordering::SeqCst);
    crate::sched::sysmon::wake_sysmon();
}

/// Installs the SIGQUIT dump (program mode, or `GORT_DEBUG=sigquit=1`),
/// unless the host installed a handler of its own. An ignored SIGQUIT (a
/// shell's background job inherits that) is taken over, as Go does.
pub(crate) fn install_sigquit() {
    // SAFETY: sigaction structs are plain data (zeroed is valid); the
    // query and the installation are plain sigaction calls.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGQUIT, ptr::null(), &mut old) != 0
            || (old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN)
        {
            return;
        }
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = quit_handler as *const () as libc::sighandler_t;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGQUIT, &sa, ptr::null_mut());
    }
}
