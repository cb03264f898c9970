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
pub(crate) struct RawOnce {
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
    pub(crate) const fn new() -> RawOnce {
        RawOnce {
            done: AtomicU32::new(0),
            m: RawMutex::new(),
        }
    }

    /// Calls `f` if no call has completed yet; returns after it has.
    #[inline]
    pub(crate) fn call(&self, f: impl FnOnce()) {
        if self.done.load(Ordering::Acquire) == 0 {
            self.call_slow(f);
        }
    }

    #[cold]
    fn call_slow(&self, f: impl FnOnce()) {
        self.m.lock();
        if self.done.load(Ordering::Relaxed) != 0 {
            self.m.unlock();
            return;
        }
        // If f panics, the panic runs this deferred call: as in Go, a
        // panicking f counts as done, and the lock is released (a recovered
        // panic abandons this frame). Outside a goroutine nothing can
        // recover a panic, so no deferred call is needed there.
        let me = self as *const RawOnce as *mut std::ffi::c_void;
        if crate::panic::try_defer(finish_once, me) {
            f();
            crate::panic::pop_and_run_defer();
        } else {
            f();
            // SAFETY: me is self.
            unsafe { finish_once(me) };
        }
    }
}

/// The second half of `call_slow`: mark done, unlock.
unsafe extern "C" fn finish_once(o: *mut std::ffi::c_void) {
    // SAFETY: `call_slow` passes its RawOnce, alive while it runs.
    let o = unsafe { &*(o as *const RawOnce) };
    o.done.store(1, Ordering::Release);
    o.m.unlock();
}
