//! The process's last report, as the base layer sees it: who writes it,
//! the out-of-memory report, and the `fatal error:` entry for base code.
//!
//! A fatal error (Go's `throw`), an unrecovered panic, a crash signal and
//! running out of memory all end the process with one report on stderr.
//! Only one may be written: the first thread to claim it
//! ([`begin_report`]) writes it, and from then on [`reporting`] tells the
//! rest of the runtime that the process is about to end (locks are taken
//! with short timeouts, threads still starting up stop where they are).
//!
//! The claim lives here, in the base layer, because base code needs it:
//! the allocator (module `memory`) reports out of memory, and the stack
//! pool and the stack walker wait only briefly for their locks while a
//! report is written. The full report, with every goroutine's dump, needs
//! the core (the scheduler's records, the symbolizer, the timeline), so
//! the core installs it here when the runtime starts ([`install`], called
//! by module `panic`): [`fatal`] and [`out_of_memory`] then write the same
//! report as the core's own `panic::fatal`. Before that (no goroutine
//! exists yet) they write the message alone, which is all there would be
//! to say.
//!
//! # Invariants
//!
//! - `REPORTING` goes from false to true once and never back; the thread
//!   that set it is `REPORTER` (0 for a moment before it is stored).
//! - Nothing here allocates before the out-of-memory report's first lines
//!   are on stderr.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::os;

/// Set once a report is being written, so that a fault while writing it
/// (or a second failing thread) does not report again.
static REPORTING: AtomicBool = AtomicBool::new(false);
/// `pthread_self()` of the thread writing the report (valid once
/// REPORTING is set; 0 for a moment before).
static REPORTER: AtomicU64 = AtomicU64::new(0);
/// The out-of-memory report's first lines are on stderr.
static OOM_PRINTED: AtomicBool = AtomicBool::new(false);

/// What the core adds to a report (module docs): installed once, when the
/// runtime starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Report {
    /// The full fatal error report: `fatal error: <msg>`, every
    /// goroutine's dump, exit status 2 (Go: `throw`).
    pub(crate) fatal: fn(&str) -> !,
    /// The calling goroutine's dump, and with `true` every other's.
    pub(crate) dump: fn(bool) -> String,
}

static INSTALLED: OnceLock<Report> = OnceLock::new();

/// Installs the core's report; later calls change nothing.
pub(crate) fn install(report: Report) {
    let _ = INSTALLED.set(report);
}

/// Whether a fatal report or an unrecovered panic's report is being
/// written (the process is about to end).
pub(crate) fn reporting() -> bool {
    REPORTING.load(Ordering::SeqCst)
}

/// Claims the right to write the process's last report (a fatal error,
/// an unrecovered panic, a crash signal): false if another report is
/// already being written.
pub(crate) fn begin_report() -> bool {
    if REPORTING.swap(true, Ordering::SeqCst) {
        return false;
    }
    REPORTER.store(this_thread(), Ordering::SeqCst);
    true
}

/// Marks the report as this thread's without asking (a fatal error with
/// nothing to dump, whose one line is written whatever else is).
pub(crate) fn claim_report() {
    REPORTER.store(this_thread(), Ordering::SeqCst);
    REPORTING.store(true, Ordering::SeqCst);
}

fn this_thread() -> u64 {
    // SAFETY: pthread_self has no preconditions and does not allocate.
    unsafe { libc::pthread_self() as u64 }
}

/// Reports a fatal error and exits with status 2 (Go: `throw`): the
/// base layer's entry, which writes the core's full report once it is
/// installed (module docs), else `fatal error: <msg>` alone.
#[cold]
pub(crate) fn fatal(msg: &str) -> ! {
    if let Some(r) = INSTALLED.get() {
        (r.fatal)(msg)
    }
    if begin_report() {
        os::write_stderr(
            format!("fatal error: {msg}\n\n(on a thread outside the runtime)\n").as_bytes(),
        );
    } else {
        // Failing while reporting: print the bare message only.
        os::write_stderr(format!("fatal error: {msg}\n\n").as_bytes());
    }
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(2) }
}

/// Memory is exhausted: `size` bytes of `what` could not be allocated
/// (Go: `throw("runtime: out of memory")`). Prints
///
/// ```text
/// runtime: out of memory: cannot allocate 65536-byte block
/// fatal error: runtime: out of memory
///
/// goroutine 7 [running]:
/// ...
/// ```
///
/// and exits with status 2. The first lines are written without
/// allocating. The dump is best effort and shows only the goroutine that
/// ran out: the others' records may sit behind a lock held by the
/// allocation that failed, and the dump needs memory itself. If it runs
/// out in turn, it says so and the process exits. Another thread that runs
/// out while a report is being written waits for that report (about a
/// second at most) instead of printing a second one.
#[cold]
pub(crate) fn out_of_memory(size: usize, what: &str) -> ! {
    let me = this_thread();
    if REPORTING.swap(true, Ordering::SeqCst) {
        if REPORTER.load(Ordering::SeqCst) == me {
            // The report itself ran out of memory.
            os::write_stderr(b"(no goroutine dump: it needed memory too)\n");
            // SAFETY: _exit has no preconditions.
            unsafe { libc::_exit(2) }
        }
        // Another thread is reporting and will end the process; if it is
        // stuck (a lock this thread holds), end it here.
        for _ in 0..1000 {
            os::thread_sleep(1_000_000);
        }
        if !OOM_PRINTED.load(Ordering::SeqCst) {
            os::write_stderr(b"fatal error: runtime: out of memory\n");
        }
        // SAFETY: _exit has no preconditions.
        unsafe { libc::_exit(2) }
    }
    REPORTER.store(me, Ordering::SeqCst);
    let mut b = os::FixedBuf::new();
    b.s("runtime: out of memory: cannot allocate ");
    b.dec(size as u64);
    b.s("-byte ");
    b.s(what);
    b.s("\nfatal error: runtime: out of memory\n\n");
    os::write_stderr(b.bytes());
    OOM_PRINTED.store(true, Ordering::SeqCst);
    let dump = INSTALLED.get().map(|r| (r.dump)(false)).unwrap_or_default();
    if dump.is_empty() {
        os::write_stderr(b"(on a thread outside the runtime)\n");
    } else {
        os::write_stderr(dump.as_bytes());
    }
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(2) }
}
