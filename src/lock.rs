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

use crate::os;

/// A mutual exclusion lock over `T` (parking_lot's `Mutex`) whose `lock`
/// keeps the caller's errno.
#[derive(Debug, Default)]
pub struct Mutex<T>(parking_lot::Mutex<T>);

/// The guard of a [`Mutex`]: the lock is held while it lives.
pub type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    /// An unlocked lock holding `v`.
    pub const fn new(v: T) -> Mutex<T> {
        Mutex(parking_lot::Mutex::new(v))
    }

    /// Locks, waiting as long as it takes; errno is what it was.
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        match self.0.try_lock() {
            Some(g) => g,
            None => self.lock_contended(),
        }
    }

    #[cold]
    #[inline(never)]
    fn lock_contended(&self) -> MutexGuard<'_, T> {
        let e = os::errno();
        let g = self.0.lock();
        os::set_errno(e);
        g
    }

    /// Locks if free, never waits.
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.0.try_lock()
    }

    /// Releases a lock whose guard was forgotten (`mem::forget`).
    ///
    /// # Safety
    /// The lock is held, by a forgotten guard of the caller's protocol.
    #[inline]
    pub unsafe fn force_unlock(&self) {
        // SAFETY: forwarded contract.
        unsafe { self.0.force_unlock() }
    }

    /// Locks, waiting at most `d`; errno is what it was.
    pub fn try_lock_for(&self, d: std::time::Duration) -> Option<MutexGuard<'_, T>> {
        keeping_errno(|| self.0.try_lock_for(d))
    }

    /// Whether the lock is held right now (racy).
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.0.is_locked()
    }
}

/// Runs `f` (which may sleep on a futex) and puts errno back as it was.
#[inline]
pub fn keeping_errno<R>(f: impl FnOnce() -> R) -> R {
    let e = os::errno();
    let r = f();
    os::set_errno(e);
    r
}
