//! The C API: every `extern "C"` item of gort, and nothing else.
//!
//! Each exported function checks its C arguments first (a NULL where an
//! object is required is a panic with Go's words, never a dereference),
//! then runs its body inside [`fence`], which turns a Rust panic (a gort
//! bug) into a `fatal error:` report instead of unwinding into C. Release
//! builds also abort on panic, so the fence costs nothing there.
//! `gort_call` and `gort_pcall` have no fence around the user's function:
//! a thread exit inside it unwinds their frames, which must therefore be
//! plain old frames, without a `catch_unwind` (module
//! `panic::foreign_unwind`); a Rust panic there still cannot reach C, as
//! release builds abort and an `extern "C"` function aborts on a panic.
//!
//! cbindgen reads this module to generate `include/runtime.h`; the doc
//! comments here are the header's documentation and are written for C
//! users.

#![allow(non_camel_case_types)]

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::panic::fatal;

pub mod chan;
pub mod context;
pub mod foreign;
pub mod handle;
pub mod net;
pub mod panic;
pub mod runtime;
pub mod sync;
pub mod timer;
pub mod trace;

/// Runs `f` for a C caller: a foreign thread first waits for
/// initialization (API.md §2), and a Rust panic becomes a fatal error.
#[inline(always)]
pub(crate) fn fence<R>(f: impl FnOnce() -> R) -> R {
    crate::init::wait_for_init();
    fence_no_init(f)
}

/// [`fence`] without the wait for initialization.
#[inline(always)]
pub(crate) fn fence_no_init<R>(f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => fatal("internal error: a Rust panic reached the C API boundary"),
    }
}

/// Go's message for a nil pointer dereference.
pub(crate) const NIL_DEREF: &str =
    "runtime error: invalid memory address or nil pointer dereference";
