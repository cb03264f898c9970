//! What the core installs when gort starts: the Rust panic hook (a Rust
//! panic inside gort is a bug in gort, reported as a fatal error: module
//! `report`), and, into the base layer below, the full fatal report
//! (module `fatal`) and the handler of foreign unwinds (module `frame`,
//! handled by module `foreign_unwind`).
//!
//! # Invariants
//!
//! - The base layer's hooks are installed before the first goroutine runs
//!   or the first frame opens: starting the scheduler installs them
//!   (`sched::sched`), whichever entry point comes first. Installing them
//!   again changes nothing.
//! - The Rust panic hook is installed by the library constructor only, so
//!   the crate's own tests keep Rust's report of a failed assertion.

use super::foreign_unwind::foreign_unwind;
use super::report::fatal;

/// Installs the core's full fatal report and its handler of foreign
/// unwinds into the base layer (module docs).
pub(crate) fn install_reports() {
    crate::fatal::install(crate::fatal::Report {
        fatal,
        dump: crate::trace::dump,
    });
    crate::frame::set_unwind_handler(foreign_unwind);
}

/// Installs the hook that turns a Rust panic inside gort into a fatal
/// error report.
pub(crate) fn install_rust_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = format!("internal error: {info}");
        fatal(&msg);
    }));
}
