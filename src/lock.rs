//! The runtime's internal lock: parking_lot's mutex that leaves errno alone.
//!
//! API.md §0: no gort call changes errno. A contended parking_lot lock
//! sleeps on a futex, and the futex call can leave `EAGAIN` (the lock word
//! changed before the sleep), `EINTR` or `ETIMEDOUT` in the calling
//! thread's errno. Runtime locks are taken on goroutine stacks (readying a
//! goroutine takes the idle list, a semaphore takes its bucket) and on host
//! threads inside gort calls, so a contended lock would change the
//! caller's errno. [`Mutex::lock`] therefore restores errno after a
//! contended acquisition; the uncontended path is parking_lot's own (one
//! compare-and-swap, no errno access). Releasing never changes errno (a
//! successful `FUTEX_WAKE` sets nothing).
//!
//! Invariant: every lock in the runtime that can be taken on a thread that
//! runs a goroutine or C code is this type (or a lock that never sleeps,
//! like the channel lock).
//!
//! Invariant: no lock is held across a goroutine switch, except the one a
//! park's unlock callback releases on the M's stack. Debug builds count
//! the locks each thread holds (these and the channel lock: [`held`]) and
//! the scheduler asserts the count is 0 after every switch.

use std::ops::{Deref, DerefMut};

use crate::os;

/// Debug builds: the number of runtime locks the calling thread holds.
pub(crate) mod held {
    #[cfg(debug_assertions)]
    thread_local! {
        static HELD: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
        static LAST: std::cell::Cell<Option<&'static std::panic::Location<'static>>> =
            const { std::cell::Cell::new(None) };
    }

    // Not inlined (debug builds): a thread-local's address computed in a
    // function that parks would be reused after the goroutine resumed on
    // another thread (DESIGN.md, trap 1), e.g. by a lock taken in a loop
    // around a park.

    /// A lock was taken by this thread.
    #[cfg_attr(debug_assertions, inline(never))]
    #[track_caller]
    pub(crate) fn acquired() {
        #[cfg(debug_assertions)]
        {
            let _ = HELD.try_with(|h| h.set(h.get() + 1));
            let here = std::panic::Location::caller();
            let _ = LAST.try_with(|l| l.set(Some(here)));
        }
    }

    /// Where this thread last took a lock (debug builds), for reports.
    #[cfg_attr(debug_assertions, inline(never))]
    pub(crate) fn last_acquired() -> Option<&'static std::panic::Location<'static>> {
        #[cfg(debug_assertions)]
        return LAST.try_with(|l| l.get()).ok().flatten();
        #[cfg(not(debug_assertions))]
        None
    }

    /// A lock was released by this thread.
    #[cfg_attr(debug_assertions, inline(never))]
    pub(crate) fn released() {
        #[cfg(debug_assertions)]
        let _ = HELD.try_with(|h| h.set(h.get() - 1));
    }

    /// How many locks this thread holds (always 0 in release builds).
    #[cfg_attr(debug_assertions, inline(never))]
    pub(crate) fn count() -> i32 {
        #[cfg(debug_assertions)]
        return HELD.try_with(|h| h.get()).unwrap_or(0);
        #[cfg(not(debug_assertions))]
        0
    }
}

/// A mutual exclusion lock over `T` (parking_lot's `Mutex`) whose `lock`
/// keeps the caller's errno.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);

/// The guard of a [`Mutex`]: the lock is held while it lives.
#[derive(Debug)]
pub(crate) struct MutexGuard<'a, T>(parking_lot::MutexGuard<'a, T>);

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        held::released();
    }
}

impl<'a, T> MutexGuard<'a, T> {
    #[inline]
    #[track_caller]
    fn new(g: parking_lot::MutexGuard<'a, T>) -> Self {
        held::acquired();
        MutexGuard(g)
    }

    /// The parking_lot guard, for a `parking_lot::Condvar` wait.
    pub(crate) fn raw(&mut self) -> &mut parking_lot::MutexGuard<'a, T> {
        &mut self.0
    }
}

impl<T> Mutex<T> {
    /// An unlocked lock holding `v`.
    pub(crate) const fn new(v: T) -> Mutex<T> {
        Mutex(parking_lot::Mutex::new(v))
    }

    /// Locks, waiting as long as it takes; errno is what it was.
    #[inline]
    #[track_caller]
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        match self.0.try_lock() {
            Some(g) => MutexGuard::new(g),
            None => self.lock_contended(),
        }
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn lock_contended(&self) -> MutexGuard<'_, T> {
        let e = os::errno();
        let g = self.0.lock();
        os::set_errno(e);
        MutexGuard::new(g)
    }

    /// Releases a lock whose guard was forgotten (`mem::forget`).
    ///
    /// # Safety
    /// The lock is held, by a forgotten guard of the caller's protocol.
    #[inline]
    pub(crate) unsafe fn force_unlock(&self) {
        held::released();
        // SAFETY: forwarded contract.
        unsafe { self.0.force_unlock() }
    }

    /// Locks, waiting at most `d`; errno is what it was.
    pub(crate) fn try_lock_for(&self, d: std::time::Duration) -> Option<MutexGuard<'_, T>> {
        keeping_errno(|| self.0.try_lock_for(d)).map(MutexGuard::new)
    }
}

/// Runs `f` (which may sleep on a futex) and puts errno back as it was.
#[inline]
pub(crate) fn keeping_errno<R>(f: impl FnOnce() -> R) -> R {
    let e = os::errno();
    let r = f();
    os::set_errno(e);
    r
}
