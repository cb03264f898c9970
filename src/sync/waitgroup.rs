//! `gort_waitgroup`: Go's `sync.WaitGroup`.
//!
//! State: the counter in the high 32 bits and the number of waiters in the
//! low 32 bits of one 64-bit word, updated atomically together, and a
//! semaphore the waiters sleep on. When the counter drops to zero with
//! waiters, the last `done` resets the word and releases each waiter.
//!
//! Misuse is diagnosed as in Go: a negative counter panics
//! (`sync: negative WaitGroup counter`), as do `add` racing with `wait`
//! and reuse before the previous `wait` returned.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::sema;
use crate::panic::go_panic;

#[cold]
fn counter_overflow() -> ! {
    go_panic("sync: WaitGroup counter overflow")
}

/// A waitgroup's storage.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct RawWaitGroup {
    state: AtomicU64,
    sema: AtomicU32,
}

impl Default for RawWaitGroup {
    fn default() -> Self {
        Self::new()
    }
}

impl RawWaitGroup {
    /// A ready-to-use waitgroup (all zero).
    pub(crate) const fn new() -> RawWaitGroup {
        RawWaitGroup {
            state: AtomicU64::new(0),
            sema: AtomicU32::new(0),
        }
    }

    /// Adds `delta` (may be negative) to the counter.
    #[inline(always)]
    pub(crate) fn add(&self, delta: i64) {
        let Ok(d32) = i32::try_from(delta) else {
            counter_overflow();
        };
        let state = self
            .state
            .fetch_add(((d32 as i64) << 32) as u64, Ordering::AcqRel)
            .wrapping_add(((d32 as i64) << 32) as u64);
        // Fast path: no waiters and a non-negative counter.
        if state as u32 == 0 && (state >> 32) as i32 >= 0 {
            return;
        }
        self.add_slow(d32, state);
    }

    #[cold]
    #[inline(never)]
    fn add_slow(&self, d32: i32, state: u64) {
        let v = (state >> 32) as i32;
        let w = state as u32;
        if v < 0 {
            go_panic("sync: negative WaitGroup counter");
        }
        if w != 0 && d32 > 0 && v == d32 {
            go_panic("sync: WaitGroup misuse: Add called concurrently with Wait");
        }
        if v > 0 || w == 0 {
            return;
        }
        // Counter is zero with waiters: nobody else may touch the state now.
        if self.state.load(Ordering::Acquire) != state {
            go_panic("sync: WaitGroup misuse: Add called concurrently with Wait");
        }
        self.state.store(0, Ordering::Release);
        for _ in 0..w {
            sema::release(&self.sema, false);
        }
    }

    /// Decrements the counter.
    #[inline(always)]
    pub(crate) fn done(&self) {
        self.add(-1);
    }

    /// Waits until the counter is zero.
    pub(crate) fn wait(&self) {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state >> 32 == 0 {
                return;
            }
            match self.state.compare_exchange_weak(
                state,
                state + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    sema::acquire(&self.sema, false, &"sync.WaitGroup.Wait");
                    if self.state.load(Ordering::Acquire) != 0 {
                        go_panic("sync: WaitGroup is reused before previous Wait has returned");
                    }
                    return;
                }
                Err(cur) => state = cur,
            }
        }
    }
}
