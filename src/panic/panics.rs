//! Panics: `gort_panic` and the runtime's own panics ([`go_panic`]),
//! `gort_recover`, and the return to the frame that stops a panic.
//!
//! # Panics
//!
//! `gort_panic` runs deferred calls innermost frame first. A deferred call
//! that calls `gort_recover` while a panic runs it gets the message and
//! stops the panic: the remaining deferred calls of that frame run as on a
//! normal return, then the frame returns: a pcall or gort_call *jumps* to
//! its boundary (skipping the C frames in between: see module `frame` for
//! why a saved context rather than unwinding), a goroutine ends normally,
//! the main goroutine makes the process exit 0. A panic that reaches a
//! pcall frame with no deferred call left is recovered by the pcall, which
//! returns 1. A gort_call frame passes it on, as a Go function passes a
//! panic to its caller: the deferred calls of the frames outside it run
//! next, and one of them, or an enclosing pcall, may still recover it. A
//! panic that reaches the bottom (a goroutine's entry frame, or the
//! outermost gort_call of a foreign thread) is reported (`panic: <msg>`, a
//! blank line, the goroutine's dump; a panic raised while running the
//! deferred calls of another is printed after it, Go's way) and the
//! process exits with status 2.
//!
//! While a panic travels outward, the records of the gort_call frames it
//! left stay linked (their deferred calls all ran) until a jump removes
//! them together with their boundaries: a record and its
//! boundary's trampoline leave together, which the unwinding rules
//! (module `foreign_unwind`) rely on. A panic never stops at such a left
//! frame: only pcall frames stop a panic, and a gort_call frame always
//! passes it on.
//!
//! The runtime's own misuse panics (`go of nil func value`, `misuse of an
//! invalid handle`, ...) go through the same path, so they are recoverable
//! too. Every place that raises one holds no lock and owns nothing that
//! needs dropping, because a recovered panic abandons the frames between
//! it and the recovering frame.
//!
//! # Invariants
//!
//! - A panic's record is pushed when it starts and removed when a frame
//!   stops it (the panics a frame ends are those at and above its
//!   `panic_base`); a panic that reaches the bottom is reported with every
//!   record still there.
//! - `RUNNING_PANIC_DEFERS` (module `exit`) counts the panics started here
//!   that no frame has stopped and no thread exit has abandoned (module
//!   `foreign_unwind`); a reported one is never taken off (the process
//!   ends).

use std::ffi::{c_char, c_void, CString};
use std::sync::atomic::Ordering;

use super::before_exit;
use super::exit::RUNNING_PANIC_DEFERS;
use super::frames::{pop_defer_above, run_defers_to};
use super::report::report_unrecovered;
use super::state::{current, st, Frame, FrameKind, PanicRec};
use crate::frame;
use crate::sched::{self, Goroutine};

/// `gort_recover`: the running panic's message if called while a panic
/// runs deferred calls; that panic then stops. NULL otherwise.
pub(crate) fn recover() -> *const c_char {
    let Some(g) = current() else {
        return std::ptr::null();
    };
    // SAFETY: our own state; no callback runs while it is borrowed.
    let s = unsafe { &mut *st(g) };
    if s.panic_defer_depth == 0 {
        return std::ptr::null();
    }
    match s.last_panic_mut() {
        Some(p) if !p.recovered => {
            // The pointer stays valid: the CString's buffer does not move
            // when the record later moves into `recovered`.
            p.recovered = true;
            p.msg.as_ptr()
        }
        _ => std::ptr::null(),
    }
}

/// A panic with Go's words (misuse Go answers with a panic; the panic
/// algorithm is in the module docs). Recoverable like any panic: callers
/// hold no lock and own nothing that needs dropping.
#[cold]
pub(crate) fn go_panic(msg: &str) -> ! {
    panic_with(cstring(msg))
}

/// [`go_panic`] with a message already owned (no copy). Nothing on the
/// caller's frame may need dropping: a recovered panic abandons it.
pub(crate) fn panic_with(msg: CString) -> ! {
    let Some(g) = current() else {
        // A foreign thread outside gort_call: nothing can recover it.
        report_unrecovered(&[(msg, false)]);
    };
    let s = st(g);
    RUNNING_PANIC_DEFERS.fetch_add(1, Ordering::SeqCst);
    // SAFETY: our own state, never borrowed across a user callback (as
    // every access to *s below).
    unsafe {
        (*s).panics_mut().push(PanicRec {
            msg,
            recovered: false,
        })
    };
    // The panic has left every frame above `at` (only gort_call frames
    // are left behind: their records stay linked until a jump; module
    // docs). Null: the entry frame.

    // SAFETY: our own state, not borrowed across a user callback.
    let mut at = unsafe { (*s).top };
    loop {
        // SAFETY: `at` is null or a linked frame record: alive, below us.
        let base = unsafe { at.as_ref().map_or(0, |fr| fr.defer_base) };
        while let Some((f, a)) = pop_defer_above(s, base) {
            // SAFETY: our own state, not borrowed across a user callback.
            unsafe { (*s).panic_defer_depth += 1 };
            // SAFETY: running a deferred call is the contract of gort_defer.
            unsafe { f(a as *mut c_void) };
            // SAFETY: our own state, not borrowed across a user callback.
            unsafe { (*s).panic_defer_depth -= 1 };
            // SAFETY: our own state, not borrowed across a user callback.
            let recovered = unsafe { (*s).panics().last().is_some_and(|p| p.recovered) };
            if recovered {
                // Stop panicking (the panics raised inside this frame that
                // this one interrupted are over too; older ones, raised
                // outside it, run on), finish the frame's deferred calls,
                // return. The recovered message moves to where
                // gort_recover's pointer stays valid.

                // SAFETY: our own state, not borrowed across a user
                // callback; `at` is null or a linked frame record.
                let (n, depth) = unsafe {
                    let (pbase, depth) = at
                        .as_ref()
                        .map_or((0, 0), |fr| (fr.panic_base, fr.depth_at_open));
                    let mut ended: Vec<PanicRec> = (*s).panics_mut().drain(pbase..).collect();
                    let n = ended.len();
                    (*s).set_recovered(ended.pop().map(|p| p.msg));
                    (n, depth)
                };
                RUNNING_PANIC_DEFERS.fetch_sub(n as i64, Ordering::SeqCst);
                run_defers_to(s, base);
                // SAFETY: our own state, not borrowed across a user callback.
                unsafe { (*s).panic_defer_depth = depth };
                return_from_frame(g, at, 0);
            }
        }
        // SAFETY: as above.
        let kind = unsafe { at.as_ref().map(|fr| fr.kind) };
        match kind {
            Some(FrameKind::Pcall) => {
                // SAFETY: our own state, not borrowed across a user
                // callback; `at` is a linked frame record.
                let (jb, n) = unsafe {
                    (*s).top = (*at).prev;
                    let top = (*s).panics().last().expect("panic");
                    copy_message(&top.msg, (*at).msg, (*at).msglen);
                    // The panics raised inside this frame end here; one
                    // raised outside (this pcall runs in a deferred call
                    // of it) runs on when that deferred call returns.
                    let n = (*s).panics().len() - (*at).panic_base;
                    (*s).panics_mut().truncate((*at).panic_base);
                    (*s).panic_defer_depth = (*at).depth_at_open;
                    ((*at).jb.assume_init(), n)
                };
                RUNNING_PANIC_DEFERS.fetch_sub(n as i64, Ordering::SeqCst);
                // SAFETY: the pcall's trampoline is active below us; the
                // frames between are C frames, left gort_call frames and
                // this function, which holds nothing needing a drop now.
                unsafe { frame::jump(jb, 1) };
            }
            // A gort_call passes the panic on to the frames outside it.

            // SAFETY: `at` is a linked frame record.
            Some(FrameKind::Call) => at = unsafe { (*at).prev },
            // The goroutine's entry frame, the bottom of a foreign
            // thread's call, or a thread exit's deferred calls.
            _ => {
                // SAFETY: our own state, not borrowed across a user callback.
                let chain: Vec<(CString, bool)> = unsafe {
                    (*s).panics()
                        .iter()
                        .map(|p| (p.msg.clone(), p.recovered))
                        .collect()
                };
                report_unrecovered(&chain);
            }
        }
    }
}

/// Continues as if the function of frame `at` (null: the goroutine's
/// entry frame) had returned normally; the frames above it are left.
fn return_from_frame(g: &Goroutine, at: *mut Frame, value: isize) -> ! {
    if !at.is_null() {
        // SAFETY: our own state; `at` is a linked frame record whose
        // boundary is active below us, and the abandoned frames own
        // nothing (as in `panic`).
        unsafe {
            (*st(g)).top = (*at).prev;
            frame::jump((*at).jb.assume_init(), value)
        }
    }
    // SAFETY: our own state; no frame is left open above the entry frame.
    unsafe { (*st(g)).top = std::ptr::null_mut() };
    if g.is_main.get() {
        before_exit();
        // SAFETY: exit runs atexit handlers; our state needs none.
        unsafe { libc::exit(0) }
    }
    // SAFETY: a goroutine whose deferred calls all ran; nothing on its
    // stack needs dropping.
    unsafe { sched::goexit() }
}

fn copy_message(m: &CString, out: *mut c_char, len: usize) {
    if out.is_null() || len == 0 {
        return;
    }
    let b = m.as_bytes();
    let n = b.len().min(len - 1);
    // SAFETY: the pcall caller made out writable for len bytes; n < len.
    unsafe {
        std::ptr::copy_nonoverlapping(b.as_ptr(), out.cast::<u8>(), n);
        *out.add(n) = 0;
    }
}

fn cstring(msg: &str) -> CString {
    CString::new(msg.replace('\0', "\\0")).unwrap_or_default()
}
