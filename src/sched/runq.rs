//! Run queues: a P's local queue, `runnext` and yield slot, and the global
//! queue (Go: `runqput`, `runqget`, `globrunqget`).
//!
//! The local queue is a crossbeam work-stealing deque of LOCAL_QUEUE_MAX
//! goroutines; beyond that its older half moves to the global queue.
//! `runnext` holds the goroutine readied by a hand-off, which runs next
//! and inherits the time slice unless sysmon flagged the P (`preempt`),
//! in which case it joins the back of the queue (see the module docs of
//! `sched`, *Fairness*).
//!
//! # Invariants
//!
//! - Only the P's owner pushes to its local queue, takes `runnext` without
//!   a CAS race against itself, and touches the yield slot; thieves use
//!   the stealer and a CAS on `runnext`.
//! - A goroutine is in at most one queue or slot, with status RUNNABLE.

use super::*;

/// Queues `gp` on `p` (Go: `runqput`): in `runnext` with `next` (the
/// goroutine there before joins the queue), else at the queue's tail.
pub(super) fn runqput(p: &Processor, gp: GRef, next: bool) {
    let gp = if next {
        let old = p.runnext.swap(gp.as_ptr(), Ordering::AcqRel);
        if old.is_null() {
            return;
        }
        // SAFETY: runnext only ever holds live Gs.
        unsafe { GRef::from_ptr(old) }
    } else {
        gp
    };
    // SAFETY: the caller's M holds p.
    let q = unsafe { p.runq() };
    if q.len() >= LOCAL_QUEUE_MAX {
        runqputslow(q);
    }
    q.push(gp);
}

/// Moves the older half of a full local queue to the global queue (Go:
/// `runqputslow`). Bounding the local queue keeps the newest goroutines
/// local: a program that spawns faster than it finishes (a spawn tree)
/// then runs close to depth-first, with far fewer goroutines started and
/// blocked at once (each holding a stack page), while the global queue,
/// checked every GLOBAL_CHECK_INTERVAL rounds, keeps the older ones moving.
#[cold]
pub(super) fn runqputslow(q: &crossbeam_deque::Worker<GRef>) {
    sched().globrunq.push_from(LOCAL_QUEUE_MAX / 2, || q.pop());
    // No wake-up here: every caller holds a P (which looks at the global
    // queue at least every GLOBAL_CHECK_INTERVAL rounds) and calls wakep
    // after queueing anyway.
}

/// Takes the next goroutine from `p`'s own queues (Go: `runqget`).
/// `runnext` comes first and inherits the running time slice, so a chain
/// of hand-offs counts as one slice; once sysmon has flagged that slice as
/// too long (`preempt`), the `runnext` goroutine joins the back of the
/// queue instead and the queue's head starts a new slice.
pub(super) fn runqget(p: &Processor) -> Option<GRef> {
    // A plain load first: runnext is usually empty, and a locked swap costs
    // as much as the rest of a goroutine switch.
    if !p.runnext.load(Ordering::Relaxed).is_null() {
        let next = p.runnext.swap(ptr::null_mut(), Ordering::AcqRel);
        if !next.is_null() {
            // SAFETY: runnext only ever holds live Gs.
            let next = unsafe { GRef::from_ptr(next) };
            if !p.preempt.load(Ordering::Relaxed) {
                return Some(next);
            }
            // SAFETY: the caller's M holds p.
            unsafe { p.runq().push(next) };
        }
    }
    // SAFETY: the caller's M holds p.
    let g = unsafe { p.runq().pop() }?;
    p.new_slice();
    Some(g)
}

/// Whether `p`'s runnext slot is taken (owner's view).
#[inline]
pub(super) fn runnext_taken(p: &Processor) -> bool {
    !p.runnext.load(Ordering::Relaxed).is_null()
}

/// Takes goroutines from the global queue (Go: `globrunqget`): one, or
/// with `batch` a fair share (the queue's length over GOMAXPROCS, plus
/// one) of at most half a local queue; returns the first and queues the
/// rest locally. The periodic fairness check takes one, as Go's does: a
/// batch there would cycle through a full local queue, whose older half
/// flows back to the global queue.
pub(super) fn globrunqget(p: &Processor, batch: bool) -> Option<GRef> {
    let s = sched();
    if s.globrunq.is_empty() {
        return None;
    }
    let n = if batch {
        let procs = s.gomaxprocs.load(Ordering::Relaxed).max(1);
        (s.globrunq.len() / procs + 1).min(LOCAL_QUEUE_MAX / 2)
    } else {
        1
    };
    // SAFETY: the caller's M holds p.
    let q = unsafe { p.runq() };
    s.globrunq.pop_batch(n, |g| q.push(g))
}

/// Takes the P's yield slot.
pub(super) fn take_yield_slot(p: &Processor) -> Option<GRef> {
    // Owner-only writes: a load and a plain store, no locked instruction.
    let g = p.yield_slot.load(Ordering::Relaxed);
    if !g.is_null() {
        p.yield_slot.store(ptr::null_mut(), Ordering::Relaxed);
    }
    // SAFETY: the slot only ever holds live, runnable Gs.
    (!g.is_null()).then(|| unsafe { GRef::from_ptr(g) })
}

pub(super) fn any_runq_nonempty(s: &Sched) -> bool {
    let n = s.nprocs_alloc.load(Ordering::Acquire);
    (0..n).any(|i| s.proc(i).is_some_and(|p| !p.runq_empty()))
}

/// Chooses what runs after `gp` yields (Go: `gosched_m`), keeping
/// round-robin order among the runnable goroutines of this P:
///
/// - global work first: the yielder goes behind a batch from the global queue
///   (Go puts it on the global queue);
/// - runnext, an idle P, or a retiring P: the yielder joins the stealable
///   queue and the scheduler picks normally;
/// - otherwise the yield slot (see [`execute`]) holds the goroutine that
///   yielded last: with an empty queue the two swap with no locked
///   instruction; with a non-empty queue the slot's goroutine and the
///   yielder join its tail in yield order.
pub(super) fn yield_next(s: &Sched, p: &Processor, gp: GRef) -> Option<GRef> {
    p.tick();
    p.new_slice();
    s.timers.run_if_due(|| runnext_taken(p));
    if !s.globrunq.is_empty() {
        if let Some(next) = globrunqget(p, false) {
            if let Some(older) = take_yield_slot(p) {
                runqput(p, older, false);
            }
            runqput(p, gp, false);
            return Some(next);
        }
    }
    if !p.runnext.load(Ordering::Relaxed).is_null()
        || s.npidle.load(Ordering::Relaxed) != 0
        || p.id >= s.gomaxprocs.load(Ordering::Relaxed)
    {
        if let Some(older) = take_yield_slot(p) {
            runqput(p, older, false);
        }
        runqput(p, gp, false);
        return None;
    }
    // SAFETY: this M holds p.
    let q = unsafe { p.runq() };
    match take_yield_slot(p) {
        None if q.is_empty() => Some(gp), // nothing else to run here
        None => {
            p.yield_slot.store(gp.as_ptr(), Ordering::Relaxed);
            q.pop().or_else(|| take_yield_slot(p))
        }
        Some(older) if q.is_empty() => {
            p.yield_slot.store(gp.as_ptr(), Ordering::Relaxed);
            Some(older)
        }
        Some(older) => {
            q.push(older);
            q.push(gp);
            q.pop()
        }
    }
}
