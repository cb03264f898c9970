//! Defer, panic and recover (Go: `runtime/panic.go`), fatal errors, and the
//! exit race.
//!
//! # Overview
//!
//! Every goroutine (and every foreign thread inside `gort_call`) has a
//! panic state: a stack of deferred calls, a list of open *frames* (a
//! goroutine's entry function, `gort_call`, `gort_main`'s main function,
//! each `gort_pcall`), and the panics it is running. `gort_defer` pushes a
//! call onto the innermost frame, whose return runs its calls last-in
//! first-out. `gort_panic` runs deferred calls outward, frame by frame,
//! until one of them recovers it (`gort_recover`), a pcall frame stops it,
//! or it reaches the bottom and is reported. A stopped panic returns to
//! its frame's boundary by a jump over the C frames in between (module
//! `frame`), never by unwinding. Fatal errors (Go's `throw`) end the
//! process with every goroutine's dump, and a process exit racing with a
//! panic's report waits for it.
//!
//! One part per file, each with its design note:
//!
//! - `state`: [`PanicState`] and the frame records; *Ownership* (the state
//!   is reached through a raw pointer, never borrowed across a callback).
//! - `frames`: *Frames and deferred calls*: opening a frame, `gort_defer`,
//!   running deferred calls on return and on `gort_goexit`, `gort_pcall`.
//! - `panics`: *Panics*: `gort_panic` and the runtime's own panics,
//!   `gort_recover`, the return to the frame that stops a panic.
//! - `foreign_unwind`: *Foreign unwinding (C++ exceptions, thread exit)*:
//!   what an unwind that reaches a frame boundary does to it.
//! - `report`: *Fatal errors*: the `fatal error:` report and the report of
//!   an unrecovered panic (the claim on the report and the out-of-memory
//!   report live in the base layer: module `fatal`).
//! - `exit`: *The exit race*: exit and atexit wait for a panic's report.
//! - `hook`: what the core installs at start: the Rust panic hook, and the
//!   full fatal report and the foreign-unwind handler into the base layer.

mod exit;
mod foreign_unwind;
mod frames;
mod hook;
mod panics;
mod report;
mod state;

pub(crate) use crate::fatal::{begin_report, out_of_memory, reporting};
pub(crate) use exit::{before_exit, hold_exit_for_panics};
pub(crate) use frames::{
    goexit_defers, open_frame, pcall, pop_and_run_defer, run_entry, run_entry_defers, try_defer,
};
pub(crate) use hook::{install_reports, install_rust_panic_hook};
pub(crate) use panics::{go_panic, panic_with, recover};
pub(crate) use report::{fatal, fatal_alone};
pub(crate) use state::{FrameKind, PanicState};
