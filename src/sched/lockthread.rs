//! LockOSThread: goroutines wired to their thread (Go: `LockOSThread`,
//! `startlockedm`, `stoplockedm`).
//!
//! A locked goroutine runs only on its M, and its M runs nothing else:
//! whenever the goroutine stops running, the P goes to other Ms and the
//! M sleeps until the goroutine is runnable again. A goroutine that exits
//! while locked takes its thread with it.
//!
//! # Invariants
//!
//! - `Machine::locked_g` and `Goroutine::locked_m` point at each other or
//!   are both null.
//! - A locked M parked in `stoplockedm` holds no P.

use super::*;

/// Locks the calling goroutine to its thread (Go: `LockOSThread`);
/// nests. On a foreign thread (inside gort_call the goroutine is the
/// thread anyway) only the count changes.
pub(crate) fn lock_os_thread() {
    let gp = current_g();
    if gp.is_null() {
        count_foreign_lock(1);
        return;
    }
    // SAFETY: the running goroutine and its M are ours.
    let (g, m) = unsafe { (&*gp, &*current_m()) };
    let n = g.lock_count.load(Ordering::Relaxed);
    if n == u32::MAX {
        fatal("LockOSThread nesting depth overflow");
    }
    g.lock_count.store(n + 1, Ordering::Relaxed);
    if n == 0 {
        g.locked_m
            .store(m as *const Machine as *mut Machine, Ordering::Release);
        m.locked_g.store(gp, Ordering::Relaxed);
    }
}

/// On a foreign thread inside gort_call the goroutine is its thread
/// anyway: locking only counts.
pub(super) fn count_foreign_lock(delta: i32) {
    let r = crate::foreign::current_call();
    if !r.is_null() {
        // SAFETY: our own record.
        let r = unsafe { &*r };
        r.lock_count.store(
            r.lock_count
                .load(Ordering::Relaxed)
                .saturating_add_signed(delta),
            Ordering::Relaxed,
        );
    }
}

/// Undoes one [`lock_os_thread`]; a no-op when not locked (as in Go).
pub(crate) fn unlock_os_thread() {
    let gp = current_g();
    if gp.is_null() {
        count_foreign_lock(-1);
        return;
    }
    // SAFETY: as above.
    let (g, m) = unsafe { (&*gp, &*current_m()) };
    let n = g.lock_count.load(Ordering::Relaxed);
    if n == 0 {
        return;
    }
    g.lock_count.store(n - 1, Ordering::Relaxed);
    if n == 1 {
        g.locked_m.store(ptr::null_mut(), Ordering::Release);
        m.locked_g.store(ptr::null_mut(), Ordering::Relaxed);
    }
}

/// Hands our P to `lm`, whose locked goroutine we just dequeued; `lm`
/// runs it (Go: `startlockedm`). This M is left without a P.
pub(super) fn startlockedm(m: &Machine, lm: &Machine) {
    let p = m.p();
    m.set_p(ptr::null());
    lm.next_spinning.store(false, Ordering::Relaxed);
    lm.next_p.store(p as *mut Processor, Ordering::Release);
    lm.note.notify();
}

/// Parks an M whose locked goroutine is not running until another M hands
/// it a P along with that goroutine (Go: `stoplockedm`).
pub(super) fn stoplockedm(m: &Machine) {
    debug_assert!(m.p().is_null());
    let s = sched();
    s.nm_locked_idle.fetch_add(1, Ordering::SeqCst);
    checkdead();
    loop {
        m.note.wait(None);
        if take_handed_p(m) {
            s.nm_locked_idle.fetch_sub(1, Ordering::SeqCst);
            return;
        }
    }
}

/// The continuation of [`execute`] for a goroutine locked to this M: the M
/// runs nothing else, so whenever the goroutine stops running the P goes
/// to other Ms and this M sleeps until the goroutine is runnable again.
/// A goroutine that exits while locked takes its thread with it.
pub(super) fn after_locked(m: &Machine, pp: *const Processor, gp: GRef, result: Action) -> After {
    let s = sched();
    let g = gp.get();
    // SAFETY: m holds pp (when non-null) and is inside the runtime.
    let held: Option<&Processor> = unsafe { pp.as_ref() };
    let give_up_p = |requeue: bool| match held {
        None => {
            if requeue {
                s.globrunq.push(gp);
                wakep_after_inject();
            }
        }
        Some(p) => {
            if requeue {
                runqput(p, gp, false);
            }
            m.set_p(ptr::null());
            handoffp(p);
        }
    };
    match after_switch(gp, result) {
        Switched::Yielded => {
            if let Some(p) = held {
                p.tick();
                // SAFETY: m holds p.
                if !unsafe { p.has_local_work_owned() } && s.globrunq.is_empty() {
                    return After::Run(gp); // nothing else wants this P
                }
            }
            give_up_p(true);
            stoplockedm(m);
            After::Run(gp)
        }
        Switched::Parked => {
            count_park(held);
            give_up_p(false);
            stoplockedm(m);
            After::Run(gp)
        }
        Switched::ParkCancelled => {
            if held.is_some() {
                return After::Run(gp);
            }
            give_up_p(true);
            stoplockedm(m);
            After::Run(gp)
        }
        Switched::Exited => {
            m.locked_g.store(ptr::null_mut(), Ordering::Relaxed);
            g.locked_m.store(ptr::null_mut(), Ordering::Relaxed);
            g.lock_count.store(0, Ordering::Relaxed);
            gdestroy(held, gp);
            give_up_p(false);
            After::Retire
        }
    }
}
