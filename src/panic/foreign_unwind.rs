//! What a foreign unwind (a C++ exception, a thread exit) does to a frame
//! boundary or a goroutine's entry guard: [`foreign_unwind`], the handler
//! that the personality routine of module `frame` calls (installed by
//! module `hook`).
//!
//! # Foreign unwinding (C++ exceptions, thread exit)
//!
//! gort never unwinds: it is built with `panic = "abort"`, so its Rust
//! frames have unwind tables but no landing pads, and Rust defines no
//! behaviour for a C++ exception that unwinds through them. Every frame
//! boundary's trampoline and every goroutine's entry guard (module
//! `frame`) carry a personality routine, which the platform unwinder calls
//! before it leaves the frame:
//!
//! - A C++ exception (any unforced unwind) is found in the unwinder's
//!   search phase, before any frame is removed: a fatal error that names
//!   the boundary (`fatal error: C++ exception unwound through gort_call`).
//!   The stack is intact, so the report shows where it was thrown.
//! - A forced unwind (glibc's `pthread_exit` and thread cancellation) of a
//!   foreign thread's gort_call or gort_pcall frame: [`foreign_unwind`]
//!   releases the frame (its deferred calls run, as `gort_goexit` runs
//!   them; the outermost one also ends the call: goroutine count, id) and
//!   lets the unwind continue, so the thread exits as it asked to (its
//!   attach state is freed by the pthread key destructor). The frames it
//!   then removes are gort's own plain old frames: nothing to drop, no
//!   `catch_unwind`, which is the case Rust leaves to forced unwinding,
//!   as a `longjmp` over them is what [`frame::jump`] does. On a goroutine
//!   a thread exit would take a runtime thread away: a fatal error.
//!
//! A `longjmp` out of a callback over gort's frames cannot be seen and is
//! not supported.
//!
//! # Invariants
//!
//! - Only a forced unwind of a foreign thread's gort_call or gort_pcall
//!   frame goes on, and only after the frame is released: its record
//!   unlinked, its deferred calls run, the call ended with the outermost
//!   frame. Every other foreign unwind ends the process before a frame is
//!   removed.

use std::ffi::c_void;
use std::mem::MaybeUninit;
use std::sync::atomic::Ordering;

use super::exit::RUNNING_PANIC_DEFERS;
use super::fatal;
use super::frames::{link, run_defers_to, unlink};
use super::state::{current, st, Frame, FrameKind};
use crate::frame::{self, ForeignUnwind, JumpBuf};
use crate::sched::Goroutine;

/// Names the boundary a foreign unwind is crossing: the innermost open
/// frame, or the goroutine's entry function if none is open.
fn boundary_name(kind: Option<FrameKind>) -> &'static str {
    match kind {
        Some(FrameKind::Pcall) => "through gort_pcall",
        Some(FrameKind::Call) => "through gort_call",
        Some(FrameKind::Exiting) => "through a deferred call run by a thread exit",
        None => "out of a goroutine's entry function",
    }
}

/// Called by the personality routine of a frame boundary or entry guard
/// (module `frame`) when an unwind is about to leave it. Returns only for
/// a thread exit of a foreign thread's frame, after releasing the frame:
/// the unwind then goes on. Everything else is a fatal error.
pub(super) fn foreign_unwind(what: ForeignUnwind) {
    let g = current();
    // SAFETY: our own state, not borrowed across a user callback.
    let kind = g.and_then(|g| unsafe { (*st(g)).top.as_ref().map(|f| f.kind) });
    match what {
        ForeignUnwind::Exception { cplusplus } => {
            let which = if cplusplus { "C++ exception" } else { "foreign exception" };
            fatal(&format!("{which} unwound {}", boundary_name(kind)));
        }
        ForeignUnwind::ThreadExit => match (g, kind) {
            (Some(g), Some(FrameKind::Call | FrameKind::Pcall)) if g.foreign => release_frame(g),
            (_, Some(FrameKind::Exiting)) => fatal(
                "thread exit (pthread_exit or cancellation) inside a deferred call run by a thread exit",
            ),
            (Some(_), _) => fatal(&format!(
                "thread exit (pthread_exit or cancellation) on a goroutine, unwound {}",
                boundary_name(kind)
            )),
            // Not ours: a thread outside any call has no open frame.
            (None, _) => {}
        },
    }
}

/// A thread exit is removing the innermost frame of `g`, a foreign
/// thread's call: the frame's deferred calls run (as gort_goexit runs
/// them), a panic the thread was running is abandoned (as Go's Goexit
/// abandons one), and the outermost frame ends the call.
fn release_frame(g: &Goroutine) {
    let s = st(g);
    // SAFETY: our own state, not borrowed across a user callback; a
    // non-null top is a linked frame, alive in a caller of ours.
    let (fr, n) = unsafe {
        let n = (*s).panics().len();
        if n > 0 {
            (*s).panics_mut().clear();
        }
        (*s).panic_defer_depth = 0;
        let fr = (*s).top;
        if !fr.is_null() {
            (*s).top = (*fr).prev;
        }
        (fr, n)
    };
    RUNNING_PANIC_DEFERS.fetch_sub(n as i64, Ordering::SeqCst);
    if fr.is_null() {
        return;
    }
    // SAFETY: as above; the record outlives this call.
    let base = unsafe { (*fr).defer_base };
    // SAFETY: our own state, not borrowed across a user callback.
    if unsafe { (*s).defers.len() } > base {
        unsafe extern "C" fn body(
            ctx: *mut c_void,
            jb: *const JumpBuf,
            _: usize,
            _: usize,
        ) -> isize {
            let fr = ctx as *mut Frame;
            // SAFETY: release_frame passes its Frame, alive for the call,
            // with its base set; the goroutine running it owns `st`.
            unsafe {
                let s = (*fr).st;
                link(fr, jb);
                run_defers_to(s, (*fr).defer_base);
                unlink(fr);
            }
            0
        }
        let mut exiting = Frame {
            st: s,
            kind: FrameKind::Exiting,
            msg: std::ptr::null_mut(),
            msglen: 0,
            // SAFETY: our own state, not borrowed.
            prev: unsafe { (*s).top },
            defer_base: base,
            // SAFETY: our own state, not borrowed.
            panic_base: unsafe { (*s).panics().len() },
            // SAFETY: as above.
            depth_at_open: unsafe { (*s).panic_defer_depth },
            jb: MaybeUninit::uninit(),
            saved_depth: MaybeUninit::uninit(),
        };
        // A deferred call that recovers a panic of another ends at this
        // boundary, after the remaining deferred calls ran (module `panics`).

        // SAFETY: body follows the trampoline's contract with its Frame.
        unsafe { frame::run(body, &mut exiting as *mut Frame as *mut c_void, 0, 0) };
    }
    // SAFETY: our own state.
    if unsafe { (*s).top.is_null() } {
        crate::foreign::end_call(g);
    }
}
