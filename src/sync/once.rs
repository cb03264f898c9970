//! `gort_once`: Go's `sync.Once`.
//!
//! A done flag read with acquire ordering on the fast path, and a mutex
//! that serialises the slow path, so that every caller returns only after
//! the function has returned (not merely started).

use std::sync::atomic::{AtomicU32, Ordering};

use super::mutex::RawMutex;

/// A once's storage.
#[derive(Debug)]
#[repr(C)]
pub struct RawOnce {
    done: AtomicU32,
    m: RawMutex,
}

impl Default for RawOnce {
    fn default() -> Self {
        Self::new()
    }
}

impl RawOnce {
    /// A fresh once (all zero).
    pub const fn new() -> RawOnce {
        RawOnce {
            done: AtomicU32::new(0),
            m: RawMutex::new(),
        }
    }

    /// Calls `f` if no call has completed yet; returns after it has.
    #[inline]
    pub fn call(&self, f: impl FnOnce()) {
        if self.done.load(Ordering::Acquire) == 0 {
            self.call_slow(f);
        }
    }

    #[cold]
    fn call_slow(&self, f: impl FnOnce()) {
        self.m.lock();
        if self.done.load(Ordering::Relaxed) == 0 {
            f();
            self.done.store(1, Ordering::Release);
        }
        self.m.unlock();
    }
}
