//! The channel lock ([`ChanLock`]) and the order in which channel code
//! takes locks.
//!
//! # The lock
//!
//! Each channel has one small lock (`ChanLock`): test-and-test-and-set
//! with a short exponential spin, then `sched_yield` while it stays taken;
//! unlocking is a plain release store. Every critical section is a few
//! dozen instructions plus one element copy, never blocks and never
//! switches goroutines (the park callback that releases it runs right
//! after the switch), so a waiter almost always gets the lock while
//! spinning. A futex lock (parking_lot's, or Go's `lock_futex`) needs a
//! locked instruction on unlock to see sleeping waiters; on the hand-off
//! path (lock and unlock twice per operation) that was about 15% of an
//! unbuffered ping-pong on the development machine. The price: a thread
//! that wants a lock whose holder was descheduled by the OS yields until
//! the holder has run again, instead of sleeping on a futex.
//!
//! Rejected: a lock-free channel (crossbeam-channel's flavours). Go's
//! design with one short lock is simpler to get right with select, close
//! and foreign threads, and the costs that matter (the hand-off, the
//! switch) are dominated by the scheduler, not the lock.
//!
//! # Lock order
//!
//! Channel code takes no other lock while it holds a channel lock:
//! `ready` is called after unlocking, and a parking operation's lock is
//! released by the park callback. Between the switch and that callback the
//! M may take the scheduler's `idle` lock (the scheduler allows a wait
//! queue's lock to be held while taking it, as for semaphore buckets), but
//! never a channel lock or the timer heap's. Several channel locks are
//! taken together only by a select, in increasing address order
//! ([`crate::select`]).
//!
//! Two other modules hold a channel lock as their own: a timer's state is
//! guarded by its channel's lock, which it holds while it moves its node
//! in the timer heap (channel lock → heap lock, `crate::timer`); a
//! context closes its `done` channel with its own lock held (context lock
//! → channel lock, `crate::context`). Never the reverse: timers fire
//! outside the heap lock, and channel code takes no other lock.

use std::sync::atomic::{AtomicBool, Ordering};

/// The channel lock: test-and-test-and-set, spinning briefly and then
/// yielding the thread while it is taken. Unlocking is a plain release
/// store. See the module docs ("The lock") for why this is not a futex
/// lock.
pub(super) struct ChanLock {
    locked: AtomicBool,
}

impl ChanLock {
    /// Spin rounds (each twice as long as the last) before yielding.
    const SPIN_ROUNDS: u32 = 6;

    pub(super) const fn new() -> ChanLock {
        ChanLock {
            locked: AtomicBool::new(false),
        }
    }

    #[inline]
    #[track_caller]
    pub(super) fn lock(&self) {
        crate::lock::held::acquired();
        if !self.locked.swap(true, Ordering::Acquire) {
            return;
        }
        self.lock_slow();
    }

    #[cold]
    fn lock_slow(&self) {
        let mut round = 0u32;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                if round < Self::SPIN_ROUNDS {
                    for _ in 0..1u32 << round {
                        std::hint::spin_loop();
                    }
                    round += 1;
                } else {
                    // The holder may have lost its CPU: let it run.
                    std::thread::yield_now();
                }
            }
            if !self.locked.swap(true, Ordering::Acquire) {
                return;
            }
        }
    }

    #[inline]
    pub(super) fn unlock(&self) {
        debug_assert!(self.locked.load(Ordering::Relaxed));
        crate::lock::held::released();
        self.locked.store(false, Ordering::Release);
    }
}
