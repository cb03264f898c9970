//! `gort_cond`: Go's `sync.Cond`, a condition variable over a `gort_mutex`.
//!
//! As in Go, the storage is a ticket-based notification list
//! ([`NotifyList`], kept in [`super::sema`] beside the semaphores whose
//! bucket table it shares); the mutex is passed to each wait instead of
//! being stored (C has no `Locker` interface to bind once).
//!
//! # Protocol
//!
//! `wait` takes a ticket *before* unlocking the mutex, then parks until
//! that ticket is notified, then locks the mutex again. `signal` notifies
//! the oldest ticket not yet notified; `broadcast` notifies every ticket
//! taken so far. Taking the ticket under the mutex is what makes the usual
//! pattern safe: a signal sent by whoever next holds the mutex, even
//! before the waiter has parked, is kept by the list and ends that
//! waiter's wait at once. Waiters are woken in ticket order (FIFO), and
//! only by a signal or broadcast: there are no spurious wake-ups, though
//! the condition may have changed again before the waiter holds the mutex
//! (callers re-check it in a loop, as in Go).
//!
//! `signal` and `broadcast` need not hold the mutex. When no ticket is
//! waiting they read two words and return.
//!
//! Invariants: the notify list's own (see [`NotifyList`]); a waiter holds
//! the mutex whenever it is outside `wait`'s park, as the caller expects.

use super::mutex::RawMutex;
use super::sema::NotifyList;

/// A condition variable's storage.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct RawCond {
    notify: NotifyList,
}

impl RawCond {
    /// A condition variable nobody waits on (all zero).
    #[cfg(test)]
    pub(crate) const fn new() -> RawCond {
        RawCond {
            notify: NotifyList::new(),
        }
    }

    /// Unlocks `m`, waits for a signal or broadcast, locks `m` again (Go:
    /// `Cond.Wait`). `m` must be locked (unlocking an unlocked mutex is
    /// fatal, as in Go).
    pub(crate) fn wait(&self, m: &RawMutex) {
        let t = self.notify.add();
        m.unlock();
        self.notify.wait(t, &"sync.Cond.Wait");
        m.lock();
    }

    /// Wakes the waiter that has waited longest, if any (Go: `Signal`).
    #[inline]
    pub(crate) fn signal(&self) {
        self.notify.notify_one();
    }

    /// Wakes every waiter (Go: `Broadcast`).
    #[inline]
    pub(crate) fn broadcast(&self) {
        self.notify.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::UnsafeCell;
    use std::sync::Arc;

    struct Shared {
        m: RawMutex,
        c: RawCond,
        /// Protected by m: (items produced, consumers done).
        state: UnsafeCell<(u64, u64)>,
    }
    // SAFETY: state is only touched with m held.
    unsafe impl Sync for Shared {}

    /// Producer/consumer on plain threads: every item is consumed once,
    /// nobody sleeps through a broadcast.
    #[test]
    fn threads_signal_and_broadcast() {
        const ITEMS: u64 = 20_000;
        let sh = Arc::new(Shared {
            m: RawMutex::new(),
            c: RawCond::new(),
            state: UnsafeCell::new((0, 0)),
        });
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let sh = sh.clone();
                std::thread::spawn(move || {
                    let mut got = 0u64;
                    sh.m.lock();
                    loop {
                        // SAFETY: m is held.
                        let st = unsafe { &mut *sh.state.get() };
                        if st.0 > 0 {
                            st.0 -= 1;
                            got += 1;
                            continue;
                        }
                        if st.1 == u64::MAX {
                            break; // producer finished
                        }
                        sh.c.wait(&sh.m);
                    }
                    sh.m.unlock();
                    got
                })
            })
            .collect();
        for i in 0..ITEMS {
            sh.m.lock();
            // SAFETY: m is held.
            unsafe { (*sh.state.get()).0 += 1 };
            sh.m.unlock();
            if i % 2 == 0 {
                sh.c.signal();
            } else {
                sh.m.lock();
                sh.c.signal();
                sh.m.unlock();
            }
        }
        sh.m.lock();
        // SAFETY: m is held.
        unsafe { (*sh.state.get()).1 = u64::MAX };
        sh.c.broadcast();
        sh.m.unlock();
        let total: u64 = consumers.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(total, ITEMS);
    }
}
