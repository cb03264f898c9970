//! `gort_mutex`: Go's `sync.Mutex` (state word + semaphore).
//!
//! The algorithm is Go's: a fast path compare-and-swap; a few rounds of
//! active spinning when another processor holds the lock and there is
//! nothing else to run; otherwise the waiter queues on the semaphore.
//! Normal mode lets a woken waiter compete with newcomers (throughput);
//! a waiter that has waited more than 1 ms switches the mutex to
//! *starvation mode*, where unlock hands ownership directly to the first
//! waiter (fairness), until that waiter is the last or waited less than
//! 1 ms.
//!
//! State bits: `LOCKED`, `WOKEN` (a waiter is awake, so unlock need not wake
//! another), `STARVING`, and the waiter count in the bits above.
//!
//! Unlocking an unlocked mutex is a fatal error, as in Go.

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use super::sema;
use crate::panic::fatal;
use crate::sched;
use crate::time::nanotime;

const LOCKED: i32 = 1;
const WOKEN: i32 = 2;
const STARVING: i32 = 4;
const WAITER_SHIFT: u32 = 3;
const STARVATION_THRESHOLD_NS: i64 = 1_000_000;

/// A mutex's storage: the state word and its semaphore.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct RawMutex {
    state: AtomicI32,
    sema: AtomicU32,
}

impl Default for RawMutex {
    fn default() -> Self {
        Self::new()
    }
}

impl RawMutex {
    /// An unlocked mutex (all zero).
    pub(crate) const fn new() -> RawMutex {
        RawMutex {
            state: AtomicI32::new(0),
            sema: AtomicU32::new(0),
        }
    }

    /// Locks, parking the goroutine (or blocking the thread) if needed.
    #[inline(always)]
    pub(crate) fn lock(&self) {
        if self
            .state
            .compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        self.lock_slow();
    }

    /// Locks if unlocked; never waits.
    pub(crate) fn try_lock(&self) -> bool {
        let old = self.state.load(Ordering::Relaxed);
        if old & (LOCKED | STARVING) != 0 {
            return false;
        }
        self.state
            .compare_exchange(old, old | LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    #[cold]
    #[inline(never)]
    fn lock_slow(&self) {
        let mut wait_start = 0i64;
        let mut starving = false;
        let mut awoke = false;
        let mut iter = 0;
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            // Spin while locked (not starving) and spinning makes sense.
            if old & (LOCKED | STARVING) == LOCKED && can_spin(iter) {
                if !awoke
                    && old & WOKEN == 0
                    && old >> WAITER_SHIFT != 0
                    && self
                        .state
                        .compare_exchange(old, old | WOKEN, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    awoke = true;
                }
                for _ in 0..sched::ACTIVE_SPIN_CNT {
                    std::hint::spin_loop();
                }
                iter += 1;
                old = self.state.load(Ordering::Relaxed);
                continue;
            }
            let mut new = old;
            if old & STARVING == 0 {
                new |= LOCKED;
            }
            if old & (LOCKED | STARVING) != 0 {
                new += 1 << WAITER_SHIFT;
            }
            if starving && old & LOCKED != 0 {
                new |= STARVING;
            }
            if awoke {
                if new & WOKEN == 0 {
                    fatal("sync: inconsistent mutex state");
                }
                new &= !WOKEN;
            }
            match self
                .state
                .compare_exchange(old, new, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => {
                    if old & (LOCKED | STARVING) == 0 {
                        return; // locked with CAS
                    }
                    let lifo = wait_start != 0;
                    if wait_start == 0 {
                        wait_start = nanotime();
                    }
                    sema::acquire(&self.sema, lifo, &"sync.Mutex.Lock");
                    starving = starving || nanotime() - wait_start > STARVATION_THRESHOLD_NS;
                    old = self.state.load(Ordering::Relaxed);
                    if old & STARVING != 0 {
                        // Ownership was handed to us; the state says
                        // unlocked with us counted as a waiter.
                        if old & (LOCKED | WOKEN) != 0 || old >> WAITER_SHIFT == 0 {
                            fatal("sync: inconsistent mutex state");
                        }
                        let mut delta = LOCKED - (1 << WAITER_SHIFT);
                        if !starving || old >> WAITER_SHIFT == 1 {
                            delta -= STARVING;
                        }
                        self.state.fetch_add(delta, Ordering::Acquire);
                        return;
                    }
                    awoke = true;
                    iter = 0;
                }
                Err(cur) => old = cur,
            }
        }
    }

    /// Unlocks; fatal if not locked.
    #[inline(always)]
    pub(crate) fn unlock(&self) {
        let new = self.state.fetch_sub(LOCKED, Ordering::Release) - LOCKED;
        if new != 0 {
            self.unlock_slow(new);
        }
    }

    #[cold]
    #[inline(never)]
    fn unlock_slow(&self, new: i32) {
        if (new + LOCKED) & LOCKED == 0 {
            fatal("sync: unlock of unlocked mutex");
        }
        if new & STARVING == 0 {
            let mut old = new;
            loop {
                // No waiters, or someone already woken or holding it.
                if old >> WAITER_SHIFT == 0 || old & (LOCKED | WOKEN | STARVING) != 0 {
                    return;
                }
                let next = (old - (1 << WAITER_SHIFT)) | WOKEN;
                match self
                    .state
                    .compare_exchange(old, next, Ordering::Release, Ordering::Relaxed)
                {
                    Ok(_) => {
                        sema::release(&self.sema, false);
                        return;
                    }
                    Err(cur) => old = cur,
                }
            }
        } else {
            // Starvation mode: hand ownership to the next waiter.
            sema::release(&self.sema, true);
        }
    }
}

/// Go's `sync_runtime_canSpin`: spin a little only on a multicore machine,
/// when some other processor is running (it may release the lock soon) and
/// our own run queue is empty.
fn can_spin(iter: i32) -> bool {
    if iter >= sched::ACTIVE_SPIN {
        return false;
    }
    sched::can_spin()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn threads_exclude_each_other() {
        struct Shared {
            m: RawMutex,
            n: std::cell::UnsafeCell<u64>,
        }
        // SAFETY: n is only touched under m.
        unsafe impl Sync for Shared {}
        let sh = Arc::new(Shared {
            m: RawMutex::new(),
            n: std::cell::UnsafeCell::new(0),
        });
        let ts: Vec<_> = (0..4)
            .map(|_| {
                let sh = sh.clone();
                std::thread::spawn(move || {
                    for _ in 0..50_000 {
                        sh.m.lock();
                        // SAFETY: we hold the mutex.
                        unsafe { *sh.n.get() += 1 };
                        sh.m.unlock();
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        // SAFETY: all threads joined.
        assert_eq!(unsafe { *sh.n.get() }, 200_000);
        assert!(sh.m.try_lock());
        assert!(!sh.m.try_lock());
        sh.m.unlock();
    }
}
