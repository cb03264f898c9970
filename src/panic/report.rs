//! The core's fatal-error and crash-exit path: `fatal error:` with every
//! goroutine's dump ([`fatal`], Go's `throw`), the report of a panic that
//! nothing recovered, and a fatal error with nothing to dump. The claim on
//! the process's last report and the out-of-memory report are the base
//! layer's (module `fatal`), which this module's [`fatal`] is installed
//! into (module `hook`).
//!
//! # Fatal errors
//!
//! An internal fault or a misuse Go treats as unrecoverable (`sync: unlock
//! of unlocked mutex`): `fatal error: <what>` and every goroutine's dump,
//! exit status 2, without atexit handlers (Go's `throw`). Never
//! recoverable. A Rust panic inside gort is a bug in gort: release builds
//! abort on panic (nothing unwinds into C), after the hook installed by the
//! library constructor reports it as `fatal error: internal error: ...`.
//!
//! Out of memory (a failed allocation anywhere in the runtime, see module
//! `memory`, or a goroutine stack that cannot be mapped) is the fatal error
//! `runtime: out of memory`, reported by `out_of_memory` (module `fatal`,
//! in the base layer, as the allocator needs it) without needing memory
//! for its first lines.
//!
//! # Invariants
//!
//! - Every path here ends the process with `_exit(2)`: no atexit handler
//!   runs.
//! - Only the thread that claimed the report writes a dump; a thread that
//!   fails while another reports (or while it reports itself) prints its
//!   bare message and exits.

use std::ffi::CString;

use crate::fatal::{begin_report, claim_report, reporting};
use crate::os;
use crate::sched;

/// Prints the panic chain and the goroutine's dump; exits with status 2.
pub(super) fn report_unrecovered(chain: &[(CString, bool)]) -> ! {
    let mut out = String::new();
    for (i, (m, recovered)) in chain.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        out.push_str("panic: ");
        out.push_str(&m.to_string_lossy());
        if *recovered {
            out.push_str(" [recovered]");
        }
        out.push('\n');
    }
    out.push('\n');
    // What the program printed before the panic is flushed by the report
    // (finish_report: signals::flush_stdio_for_report).
    finish_report(out, false)
}

/// Reports a fatal error and exits with status 2 (Go: `throw`): the
/// message, then every goroutine's block.
#[cold]
pub(crate) fn fatal(msg: &str) -> ! {
    finish_report(format!("fatal error: {msg}\n\n"), true)
}

/// A fatal error with nothing to dump (Go's `fatal` when no goroutine is
/// left): `fatal error: <msg>` alone, exit status 2.
#[cold]
pub(crate) fn fatal_alone(msg: &str) -> ! {
    claim_report();
    os::write_stderr(format!("fatal error: {msg}\n").as_bytes());
    crate::timeline::at_exit(true);
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(2) }
}

fn finish_report(mut out: String, all: bool) -> ! {
    if !reporting() {
        crate::signals::flush_stdio_for_report();
    }
    if !begin_report() {
        // Failing while reporting: print the bare message only.
        os::write_stderr(out.as_bytes());
        // SAFETY: _exit has no preconditions.
        unsafe { libc::_exit(2) }
    }
    let dump = crate::trace::dump(all);
    if dump.is_empty() {
        let id = sched::goid();
        if id != 0 {
            out.push_str(&format!("goroutine {id} [running]:\n"));
        } else {
            out.push_str("(on a thread outside the runtime)\n");
        }
    } else {
        out.push_str(&dump);
    }
    os::write_stderr(out.as_bytes());
    crate::timeline::at_exit(true);
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(2) }
}
