//! The exit race: program mode's exit ([`before_exit`]) and library
//! mode's atexit handler ([`hold_exit_for_panics`]) wait for panics that
//! are running deferred calls or being reported.
//!
//! # The exit race (Go: golang/go#3934, #20018)
//!
//! A panic's report must not be lost to a process exit racing with it.
//! Program mode: before `exit`, the main goroutine waits (about a thousand
//! yields) while any goroutine runs the deferred calls of a panic, and
//! parks forever if a panic is then being reported (the panicking
//! goroutine exits with status 2). Library mode: an `atexit` handler holds
//! the host's exit back, at most about a second, for the same reason.
//!
//! # Invariants
//!
//! - [`RUNNING_PANIC_DEFERS`] is raised by one for each panic that starts
//!   and lowered for each that a frame stops or a thread exit abandons
//!   (module `panics`, module `foreign_unwind`); 0 means no goroutine is
//!   running the deferred calls of a panic.
//! - Neither wait is longer than about a second unless a report is being
//!   written, which ends the process.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use crate::fatal::reporting;
use crate::os;
use crate::sched;

/// Goroutines running the deferred calls of a panic.
pub(super) static RUNNING_PANIC_DEFERS: AtomicI64 = AtomicI64::new(0);

/// Set once [`before_exit`] has waited for panics' deferred calls.
static EXIT_WAITED: AtomicBool = AtomicBool::new(false);

/// Program mode, just before `exit` (Go: the end of `runtime.main`): let
/// goroutines that are running the deferred calls of a panic finish (for
/// about a second at most), and never exit under a panic that is being
/// reported.
pub(crate) fn before_exit() {
    // As Go's main: give deferred calls that a panic runs a moment to
    // finish (here up to about a second), then wait for good only if a
    // panic is being reported. A panic whose deferred call recovered it
    // but has not returned yet (it may block: on this very goroutine, say)
    // must not hold the exit forever.
    EXIT_WAITED.store(true, Ordering::SeqCst);
    let deadline = os::nanotime() + 1_000_000_000;
    let mut spins = 0;
    while RUNNING_PANIC_DEFERS.load(Ordering::SeqCst) != 0
        && !reporting()
        && os::nanotime() < deadline
    {
        if sched::current_g().is_null() {
            os::thread_sleep(1_000);
        } else if spins < 1000 {
            spins += 1;
            sched::gosched();
        } else {
            // Let the panicking goroutine have a processor of its own.
            sched::blocking_enter();
            os::thread_sleep(1_000_000);
            sched::blocking_exit();
        }
    }
    if reporting() {
        // The panicking goroutine will exit the process with status 2.
        loop {
            os::thread_sleep(1_000_000_000);
        }
    }
}

/// Library mode: registered with atexit by the constructor. Holds the
/// host's exit back (at most about a second) while a panic is running
/// deferred calls or being reported, so that its report is printed and the
/// status is 2.
pub(crate) extern "C" fn hold_exit_for_panics() {
    for _ in 0..1000 {
        let quiet = RUNNING_PANIC_DEFERS.load(Ordering::SeqCst) == 0
            // Program mode's exit already gave them their second.
            || EXIT_WAITED.load(Ordering::SeqCst);
        if quiet && !reporting() {
            return;
        }
        os::thread_sleep(1_000_000);
    }
}
