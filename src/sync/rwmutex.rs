//! `gort_rwmutex`: Go's `sync.RWMutex` (reader/writer lock with writer
//! preference).
//!
//! The algorithm and the layout are Go's `rwmutex.go`: a [`RawMutex`] that
//! writers take among themselves, a reader count, a count of departing
//! readers, and two runtime semaphores ([`sema`]), one for readers waiting
//! for a writer and one for a writer waiting for readers.
//!
//! # State
//!
//! - `reader_count` is the number of readers holding or waiting for the
//!   lock, minus [`MAX_READERS`] while a writer holds or waits for it. A
//!   negative value therefore tells a new reader that a writer is pending:
//!   it waits on `reader_sem` instead of entering (writer preference: a
//!   waiting writer is not starved by a stream of readers).
//! - `reader_wait` is the number of readers that held the lock when the
//!   pending writer announced itself and have not yet left; the last of
//!   them to leave releases `writer_sem` once.
//! - `w` is held from the start of `lock` to the end of `unlock`: at most
//!   one writer is pending or active.
//!
//! Uncontended, `rlock` + `runlock` are one atomic add each, and `lock` +
//! `unlock` are the mutex's compare-and-swap and fetch-sub plus one atomic
//! add each, as in Go.
//!
//! # Wake-up order
//!
//! `unlock` first adds `MAX_READERS` back (new readers enter at once), then
//! releases `reader_sem` once per reader that arrived while the writer was
//! pending or active (exactly the readers counted in `reader_count`, each
//! of which waits or will wait on it), then unlocks `w` for the next writer.
//! Readers waiting there are therefore admitted before that next writer can
//! announce itself.
//!
//! # Misuse
//!
//! As Go's `fatal`: `runlock` that leaves no reader (the count was 0, or
//! only a writer held the lock) is `fatal error: sync: RUnlock of unlocked
//! RWMutex`, and `unlock` without a writer holding the lock is `fatal
//! error: sync: Unlock of unlocked RWMutex`. Both are detected after the
//! count changed; the process ends, so that does not matter.

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use super::mutex::RawMutex;
use super::sema;
use crate::panic::fatal;

/// The most readers at once (Go: `rwmutexMaxReaders`).
const MAX_READERS: i32 = 1 << 30;

/// An RWMutex's storage.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct RawRWMutex {
    /// Held while a writer is pending or active.
    w: RawMutex,
    /// Writers wait here for departing readers.
    writer_sem: AtomicU32,
    /// Readers wait here for a writer to finish.
    reader_sem: AtomicU32,
    /// Readers in or waiting, minus `MAX_READERS` while a writer is pending.
    reader_count: AtomicI32,
    /// Readers the pending writer still waits for.
    reader_wait: AtomicI32,
}

impl Default for RawRWMutex {
    fn default() -> Self {
        Self::new()
    }
}

impl RawRWMutex {
    /// An unlocked RWMutex (all zero).
    pub(crate) const fn new() -> RawRWMutex {
        RawRWMutex {
            w: RawMutex::new(),
            writer_sem: AtomicU32::new(0),
            reader_sem: AtomicU32::new(0),
            reader_count: AtomicI32::new(0),
            reader_wait: AtomicI32::new(0),
        }
    }

    /// Locks for reading (Go: `RLock`), waiting while a writer is pending
    /// or active.
    #[inline(always)]
    pub(crate) fn rlock(&self) {
        if self.reader_count.fetch_add(1, Ordering::Acquire) < 0 {
            self.rlock_slow();
        }
    }

    #[cold]
    #[inline(never)]
    fn rlock_slow(&self) {
        // A writer is pending: its unlock releases us.
        sema::acquire(&self.reader_sem, false, &"sync.RWMutex.RLock");
    }

    /// Undoes one `rlock` (Go: `RUnlock`); fatal if no reader holds it.
    #[inline(always)]
    pub(crate) fn runlock(&self) {
        let r = self.reader_count.fetch_sub(1, Ordering::Release) - 1;
        if r < 0 {
            self.runlock_slow(r);
        }
    }

    #[cold]
    #[inline(never)]
    fn runlock_slow(&self, r: i32) {
        if r + 1 == 0 || r + 1 == -MAX_READERS {
            fatal("sync: RUnlock of unlocked RWMutex");
        }
        // A writer is pending; the last reader it waits for wakes it.
        if self.reader_wait.fetch_sub(1, Ordering::AcqRel) - 1 == 0 {
            sema::release(&self.writer_sem, false);
        }
    }

    /// Locks for writing (Go: `Lock`): waits for other writers, then makes
    /// new readers wait and waits for the readers inside to leave.
    pub(crate) fn lock(&self) {
        self.w.lock();
        // Announce the pending writer to new readers. The r readers
        // counted before hold the lock (some may still be returning from
        // the previous writer's wake-up); wait until they have all left.
        let r = self.reader_count.fetch_sub(MAX_READERS, Ordering::AcqRel);
        if r != 0 && self.reader_wait.fetch_add(r, Ordering::AcqRel) + r != 0 {
            sema::acquire(&self.writer_sem, false, &"sync.RWMutex.Lock");
        }
    }

    /// Undoes `lock` (Go: `Unlock`); fatal if no writer holds it.
    pub(crate) fn unlock(&self) {
        let r = self.reader_count.fetch_add(MAX_READERS, Ordering::AcqRel) + MAX_READERS;
        if r >= MAX_READERS {
            fatal("sync: Unlock of unlocked RWMutex");
        }
        // The readers that arrived meanwhile each wait (or are about to
        // wait) on reader_sem.
        for _ in 0..r {
            sema::release(&self.reader_sem, false);
        }
        self.w.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicI32 as Counter;
    use std::sync::Arc;

    /// Go's HammerRWMutex on plain threads: readers and writers never
    /// overlap, writers never overlap each other.
    #[test]
    fn threads_hammer() {
        let rw = Arc::new((RawRWMutex::new(), Counter::new(0)));
        let mut ts = Vec::new();
        for i in 0..6 {
            let rw = rw.clone();
            ts.push(std::thread::spawn(move || {
                let (m, activity) = &*rw;
                for _ in 0..20_000 {
                    if i < 2 {
                        m.lock();
                        let n = activity.fetch_add(10_000, Ordering::SeqCst) + 10_000;
                        assert_eq!(n, 10_000);
                        activity.fetch_sub(10_000, Ordering::SeqCst);
                        m.unlock();
                    } else {
                        m.rlock();
                        let n = activity.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!((1..10_000).contains(&n), "activity {n}");
                        activity.fetch_sub(1, Ordering::SeqCst);
                        m.runlock();
                    }
                }
            }));
        }
        for t in ts {
            t.join().unwrap();
        }
        let (m, _) = &*rw;
        assert_eq!(m.reader_count.load(Ordering::SeqCst), 0);
        assert_eq!(m.reader_wait.load(Ordering::SeqCst), 0);
        assert!(m.w.try_lock());
        m.w.unlock();
    }
}
