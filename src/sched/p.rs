//! `Processor` (Go's P): the right to run goroutines, and the local state
//! that goes with it.
//!
//! An M must hold a P to run goroutines. The P owns a FIFO work-stealing run
//! queue (`crossbeam_deque::Worker`), a `runnext` slot for the goroutine
//! that should run next (the one this P just readied: what makes a
//! channel or WaitGroup hand-off cheap), and caches of free Gs and stacks.
//!
//! # Ownership
//!
//! Fields behind `UnsafeCell` (run queue push/pop, caches, counters) belong
//! to the M currently holding the P, and only it touches them. Other Ms
//! reach a P only through `stealer` (lock-free), `runnext` (atomic), and
//! `status` (changed under the scheduler's idle lock).

use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};

use crossbeam_deque::{Stealer, Worker};

use super::g::{GRef, Goroutine};
use crate::stack::GStack;

/// P states.
pub(crate) mod pstatus {
    /// On the idle list.
    pub(crate) const IDLE: u32 = 0;
    /// Held by an M.
    pub(crate) const RUNNING: u32 = 1;
    /// Beyond GOMAXPROCS and not held: queues empty, not on any list.
    pub(crate) const DEAD: u32 = 2;
}

/// Free Gs kept per P (Go's 64). A larger cache made spawn_all faster
/// (fewer trips to the global list's lock) but strands records in one
/// P's cache while the other P, finding none, makes new ones: records
/// are never freed, so that is growth (`stack_reuse_steady_state` saw
/// it under AddressSanitizer).
pub(crate) const GFREE_LOCAL: usize = 64;

/// A processor. Aligned so that two Ps' owner-written fields (counters,
/// ticks) never share a cache line.
#[repr(align(128))]
pub(crate) struct Processor {
    /// Index in the processor table.
    pub id: usize,
    /// One of [`pstatus`].
    pub status: AtomicU32,
    runq: UnsafeCell<Worker<GRef>>,
    /// Other Ms steal through this.
    pub stealer: Stealer<GRef>,
    /// The goroutine to run next, ahead of the queue.
    pub runnext: AtomicPtr<Goroutine>,
    /// A goroutine that yielded while no P was idle (see `sched::execute`).
    /// Written only by the owner; others only read it. Not stealable.
    pub yield_slot: AtomicPtr<Goroutine>,
    stacks: UnsafeCell<Vec<GStack>>,
    gfree: UnsafeCell<Vec<GRef>>,
    /// Goroutine ids reserved for this P: next, end (exclusive).
    pub goid_next: Cell<i64>,
    /// End of the reserved id range.
    pub goid_end: Cell<i64>,
    /// Scheduling rounds, for the global-queue fairness check and for
    /// sysmon to see that the P made progress. Written only by the owner.
    pub schedtick: AtomicU32,
    /// Time slices started: bumped whenever the P runs a goroutine that
    /// does not inherit the running slice (everything but a `runnext`
    /// hand-off). sysmon watches it to bound a chain of hand-offs. Written
    /// only by the owner.
    pub slicetick: AtomicU32,
    /// This P's share of the scheduler's counters (`gort_stats`): written
    /// only by the owner (`bump`), summed on read.
    pub(super) counters: super::Counters,
    /// Set by sysmon when the running slice has lasted too long while
    /// other goroutines wait: the next `runnext` goroutine goes to the
    /// back of the queue instead of inheriting the slice. Cleared by the
    /// owner.
    pub preempt: AtomicBool,
}

// SAFETY: the non-Sync fields are owner-only (see the module docs); the
// scheduler hands a P to exactly one M at a time under the idle lock.
unsafe impl Sync for Processor {}
// SAFETY: as above.
unsafe impl Send for Processor {}

impl std::fmt::Debug for Processor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processor")
            .field("id", &self.id)
            .field("status", &self.status.load(Ordering::Relaxed))
            .finish()
    }
}

impl Processor {
    /// A new, dead processor.
    pub(crate) fn new(id: usize) -> Processor {
        let w = Worker::new_fifo();
        let stealer = w.stealer();
        Processor {
            id,
            status: AtomicU32::new(pstatus::DEAD),
            runq: UnsafeCell::new(w),
            stealer,
            runnext: AtomicPtr::new(std::ptr::null_mut()),
            yield_slot: AtomicPtr::new(std::ptr::null_mut()),
            stacks: UnsafeCell::new(Vec::new()),
            gfree: UnsafeCell::new(Vec::new()),
            goid_next: Cell::new(0),
            goid_end: Cell::new(0),
            schedtick: AtomicU32::new(0),
            counters: Default::default(),
            slicetick: AtomicU32::new(0),
            preempt: AtomicBool::new(false),
        }
    }

    /// The local run queue.
    ///
    /// # Safety
    /// The caller's M must hold this P.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn runq(&self) -> &Worker<GRef> {
        // SAFETY: owner-only access, guaranteed by the caller.
        unsafe { &*self.runq.get() }
    }

    /// The stack cache.
    ///
    /// # Safety
    /// The caller's M must hold this P, and must not keep the reference
    /// across a call that could reach the cache again.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn stacks(&self) -> &mut Vec<GStack> {
        // SAFETY: owner-only access, guaranteed by the caller.
        unsafe { &mut *self.stacks.get() }
    }

    /// The free-G cache.
    ///
    /// # Safety
    /// As for [`Processor::stacks`].
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn gfree(&self) -> &mut Vec<GRef> {
        // SAFETY: owner-only access, guaranteed by the caller.
        unsafe { &mut *self.gfree.get() }
    }

    /// Whether the local queue (with runnext) looks empty. Racy; any thread.
    pub(crate) fn runq_empty(&self) -> bool {
        self.runnext.load(Ordering::Acquire).is_null() && self.stealer.is_empty()
    }

    /// Whether anything is queued here, the yield slot included. Racy; any
    /// thread.
    pub(crate) fn has_local_work(&self) -> bool {
        !self.runq_empty() || !self.yield_slot.load(Ordering::Relaxed).is_null()
    }

    /// [`Processor::has_local_work`] for the owner, which may look at its
    /// own queue without the fence a stealer's view needs.
    ///
    /// # Safety
    /// The caller's M must hold this P.
    pub(crate) unsafe fn has_local_work_owned(&self) -> bool {
        !self.runnext.load(Ordering::Relaxed).is_null()
            // SAFETY: the caller holds the P.
            || !unsafe { self.runq() }.is_empty()
            || !self.yield_slot.load(Ordering::Relaxed).is_null()
    }

    /// Bumps the owner's scheduling counter; returns the new value.
    #[inline]
    pub(crate) fn tick(&self) -> u32 {
        let t = self.schedtick.load(Ordering::Relaxed).wrapping_add(1);
        self.schedtick.store(t, Ordering::Relaxed);
        t
    }

    /// Starts a new time slice (owner only: a load and a plain store).
    #[inline]
    pub(crate) fn new_slice(&self) {
        let t = self.slicetick.load(Ordering::Relaxed).wrapping_add(1);
        self.slicetick.store(t, Ordering::Relaxed);
        if self.preempt.load(Ordering::Relaxed) {
            self.preempt.store(false, Ordering::Relaxed);
        }
    }

    /// Whether goroutines wait in the queue proper (runnext excluded).
    /// Racy; any thread.
    pub(crate) fn has_queued_work(&self) -> bool {
        !self.stealer.is_empty() || !self.yield_slot.load(Ordering::Relaxed).is_null()
    }
}
