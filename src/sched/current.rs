//! Which goroutine (or foreign thread's record) is running here, and the
//! switch from a goroutine to its M.
//!
//! The answers come from the thread's current M (`m::current_m`, a
//! thread-local pointer read once per call) and the M's `curg`; a foreign
//! thread has no M and answers with its attach record
//! (`crate::foreign::record`).
//!
//! # Invariants
//!
//! - Nothing here is cached across a goroutine switch (DESIGN.md, trap
//!   1): after a park or yield the goroutine may resume on another
//!   thread, so every call reads the thread-local afresh.
//! - `with_p` marks the M as inside the runtime for the duration of its
//!   closure, so sysmon cannot take the P it hands out.

use super::*;

/// The goroutine running on this thread: null on a foreign thread and on a
/// runtime thread's scheduler stack.
#[inline]
pub(crate) fn current_g() -> *mut Goroutine {
    let m = current_m();
    if m.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: Ms are never freed; curg is only written by this thread.
    unsafe { (*m).curg.load(Ordering::Relaxed) }
}

/// The running goroutine, which must exist.
pub(crate) fn current_gref() -> GRef {
    let g = current_g();
    if g.is_null() {
        fatal("current_gref: not on a goroutine");
    }
    // SAFETY: a live goroutine record.
    unsafe { GRef::from_ptr(g) }
}

/// The caller's wait record: its goroutine, or its foreign thread's
/// record. What [`park`] parks and [`ready`] wakes on this thread.
#[inline]
pub(crate) fn current_record() -> *mut Goroutine {
    let g = current_g();
    if !g.is_null() {
        return g;
    }
    foreign_record()
}

/// [`current_record`] as a reference.
pub(crate) fn current_or_foreign_gref() -> GRef {
    // SAFETY: a live goroutine or foreign record.
    unsafe { GRef::from_ptr(current_record()) }
}

/// The running goroutine's id: a goroutine's, a foreign thread's inside
/// gort_call, else 0.
pub(crate) fn goid() -> i64 {
    let mut g = current_g();
    if g.is_null() {
        g = crate::foreign::current_call();
        if g.is_null() {
            return 0;
        }
    }
    // SAFETY: the running G (or our own record) is live.
    unsafe { (*g).goid() }
}

/// Stops counting the calling goroutine (in gort_num_goroutine and dumps)
/// a moment before it ends, so that whoever it wakes last (e.g. callers
/// waiting for init) never sees it still counted.
pub(crate) fn uncount_current() {
    let g = current_g();
    if g.is_null() {
        return;
    }
    // SAFETY: the running goroutine is ours.
    let g = unsafe { &*g };
    if g.take_counted() {
        sched().global.exited.fetch_add(1, Ordering::Relaxed);
    }
}

/// A goroutine id for a goroutine made without a P (a gort_call).
pub(crate) fn new_goid_global() -> i64 {
    new_goid(ptr::null())
}

/// The P held by this thread's M, or null. Racy unless the M is inside
/// the runtime (see [`with_p`]); fine for hints.
#[inline]
pub(super) fn current_p() -> *const Processor {
    let m = current_m();
    if m.is_null() {
        ptr::null()
    } else {
        // SAFETY: as in current_g.
        unsafe { (*m).p() }
    }
}

/// Runs `f` with the P of this thread's M (null on a foreign thread or when
/// the M lost its P), with the M marked as inside the runtime so that
/// sysmon cannot take the P meanwhile.
#[inline]
pub(super) fn with_p<R>(f: impl FnOnce(*const Processor) -> R) -> R {
    let m = current_m();
    if m.is_null() {
        return f(ptr::null());
    }
    // SAFETY: Ms are never freed; this is our own M.
    let m = unsafe { &*m };
    let was = m.enter_runtime();
    let r = f(m.p());
    m.exit_runtime(was);
    r
}

/// Switches from the running goroutine to its M's scheduler context.
///
/// # Safety
/// Must run on a goroutine (`current_g()` non-null). No lock guard or
/// thread-local reference may be live in the caller's frames except a lock
/// that `action`'s unlock callback releases.
pub(super) unsafe fn switch_to_m(action: Action) {
    let g = current_g();
    debug_assert!(!g.is_null());
    // SAFETY: forwarded contract.
    unsafe { suspend(g, action) };
}

/// Switches goroutine `g` (the caller) out to its M, first saving where
/// it stands for dumps (`Goroutine::ctx`; an exiting goroutine leaves
/// nothing to walk).
///
/// # Safety
/// As for [`switch_to_m`]; `g` is the running goroutine.
#[inline(always)]
pub(super) unsafe fn suspend(g: *mut Goroutine, action: Action) {
    // SAFETY: the caller guarantees we run on goroutine `g`, which this
    // thread owns.
    let gr = unsafe { &*g };
    match action {
        Action::Exit => gr.ctx.pc.store(0, Ordering::Relaxed),
        _ => gr.ctx.save(crate::unwind::here()),
    }
    // SAFETY: a running goroutine has a context (execute made it) that
    // only the owner touches, through cells; we are that goroutine.
    unsafe {
        match &*gr.coro.get() {
            Some(c) => c.suspend(action),
            None => std::hint::unreachable_unchecked(),
        }
    }
}

/// This thread's M, if it is running a goroutine (not on a foreign
/// thread, not on the scheduler stack).
pub(super) fn goroutine_m() -> Option<&'static Machine> {
    let mp = current_m();
    // SAFETY: Ms are never freed; this is our own M.
    let m = unsafe { mp.as_ref() }?;
    (!m.curg.load(Ordering::Relaxed).is_null()).then_some(m)
}

/// This foreign thread's wait record (see `crate::foreign`).
pub(crate) fn foreign_record() -> *mut Goroutine {
    crate::foreign::record().as_ptr()
}

pub(super) fn foreign_g() -> GRef {
    crate::foreign::record()
}
