//! Fatal errors and panics.
//!
//! A *fatal error* is an internal fault or a misuse Go also treats as
//! unrecoverable (`sync: unlock of unlocked mutex`): it prints
//! `fatal error: <what>` and a dump of every goroutine on stderr, then
//! exits with status 2 without running atexit handlers (as Go's `throw`).
//!
//! A *panic* is a misuse Go answers with a panic (`go of nil func value`,
//! `sync: negative WaitGroup counter`). Until defer/recover exists, a panic
//! is reported exactly as an unrecovered Go panic is (`panic: <msg>`, a
//! blank line, the panicking goroutine's block) and exits with status 2.
//!
//! A Rust panic inside gort is a bug in gort. Release builds abort on
//! panic (nothing can unwind into C), and the hook installed by the library
//! constructor first reports it as `fatal error: internal error: ...`.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::os;
use crate::sched;

/// Set once a report is being written, so that a fault while writing it
/// (or a second failing thread) does not report again.
static REPORTING: AtomicBool = AtomicBool::new(false);

/// Reports a fatal error and exits with status 2 (Go: `throw`): the
/// message, then every goroutine's block.
#[cold]
pub fn fatal(msg: &str) -> ! {
    report("fatal error: ", msg, true)
}

/// Reports a panic (not yet recoverable) and exits with status 2, as an
/// unrecovered Go panic does: the message, then the panicking goroutine's
/// block.
#[cold]
pub fn go_panic(msg: &str) -> ! {
    report("panic: ", msg, false)
}

fn report(kind: &str, msg: &str, all: bool) -> ! {
    let mut out = String::with_capacity(msg.len() + 64);
    out.push_str(kind);
    out.push_str(msg);
    out.push_str("\n\n");
    if REPORTING.swap(true, Ordering::SeqCst) {
        // Failing while reporting: print the bare message only.
        os::write_stderr(out.as_bytes());
        // SAFETY: _exit has no preconditions.
        unsafe { libc::_exit(2) }
    }
    let dump = crate::trace::dump(all);
    if dump.is_empty() {
        push_goroutine_header(&mut out);
    } else {
        out.push_str(&dump);
    }
    os::write_stderr(out.as_bytes());
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(2) }
}

fn push_goroutine_header(out: &mut String) {
    let id = sched::goid();
    if id != 0 {
        out.push_str(&format!("goroutine {id} [running]:\n"));
    } else {
        out.push_str("(on a thread outside the runtime)\n");
    }
}

/// Program mode, just before `exit`: the hook for waiting out a panic that
/// is still running deferred calls (arrives with defer/recover; nothing
/// can be running one yet).
pub fn before_exit() {}

/// Installs the hook that turns a Rust panic inside gort into a fatal
/// error report.
pub fn install_rust_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = format!("internal error: {info}");
        fatal(&msg);
    }));
}
