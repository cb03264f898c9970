//! loom models of the park/ready status handshake (`park.rs`, "The status
//! handshake"): the real [`park_status`] and [`ready_status`], on the
//! `status` word of a real [`Goroutine`] record, whose atomic is loom's
//! under `--cfg loom` (`crate::sync_shim`). One loom thread plays the
//! parking side (the goroutine, then its M running the unlock callback),
//! others the wakers. What they check, under every interleaving:
//!
//! - A waker that found the goroutine through its unlock callback's
//!   publication always finds it WAITING: it is never readied before it
//!   was published (through a lock-free mailbox, as `tests.rs` uses, and
//!   through a lock-protected wait queue, as `chan` and `sync::sema` do).
//! - Two wakers that both saw it published: exactly one readies it.
//! - A cancelled park (the callback withdraws it and returns false) leaves
//!   a goroutine RUNNABLE (a foreign record RUNNING), and no waker
//!   readies it.
//! - What the goroutine wrote before parking is visible to the waker that
//!   readied it (loom's `UnsafeCell` reports a data race otherwise).
//!
//! Each property fails its model when the code is changed to break it:
//! WAITING stored after the callback, the compare-and-swap split into a
//! load and a store, the cancelled status not restored. The Release on
//! the WAITING store is not what carries the goroutine's writes to its
//! waker here (the publication does: a Release store or a lock), so the
//! models also pass with it Relaxed. It pairs with the compare-and-swap's
//! Acquire, so the status word alone orders those writes before a
//! successful ready too: a second guarantee, which no waker relies on
//! today.
//!
//! Not modelled: the stack switch itself (loom has no coroutines; see
//! `tests.rs` for the stress tests on real threads) and what `ready` does
//! after the status change (queue the goroutine, or notify a foreign
//! record's note).

use std::sync::atomic::Ordering;

use loom::cell::UnsafeCell;
use loom::sync::atomic::AtomicBool;
use loom::sync::{Arc, Mutex};
use loom::thread;

use super::*;

/// A goroutine record running on an M (or a foreign record, which starts
/// RUNNING), with state of its own written while it runs.
struct Parker {
    g: Goroutine,
    own: UnsafeCell<u32>,
}

// SAFETY: `own` is written by the parking thread before it publishes the
// goroutine and read only by the waker that readied it afterwards; loom
// checks that this is race-free.
unsafe impl Sync for Parker {}

impl Parker {
    fn new(foreign: bool) -> Arc<Parker> {
        let g = Goroutine::new(foreign);
        if !foreign {
            // As `execute` does before resuming it.
            g.status.store(status::RUNNING, Ordering::Relaxed);
        }
        Arc::new(Parker {
            g,
            own: UnsafeCell::new(0),
        })
    }

    /// The goroutine's last write before it parks.
    fn write_own(&self) {
        self.own.with_mut(|v| {
            // SAFETY: the goroutine is running: nobody else touches `own`.
            unsafe { *v = 42 }
        });
    }

    /// A waker's status change; if it won, what the goroutine's next
    /// owner reads.
    fn try_ready(&self) -> bool {
        if !ready_status(&self.g.status) {
            return false;
        }
        let v = self.own.with(|v| {
            // SAFETY: readied: this thread owns the goroutine now.
            unsafe { *v }
        });
        assert_eq!(v, 42);
        true
    }

    /// `ready` by the one waker the goroutine was published to.
    fn ready(&self) {
        assert!(
            self.try_ready(),
            "readied a goroutine that was not WAITING (status {})",
            self.status()
        );
    }

    fn status(&self) -> u32 {
        self.g.status.load(Ordering::Relaxed)
    }
}

// The wakers look once rather than spin: a spinning load would give
// loom an unbounded number of stale reads to explore. Every interleaving
// of that one look with the park is still covered.

#[test]
fn loom_park_waker_sees_waiting_after_publication() {
    loom::model(|| {
        let pk = Parker::new(false);
        let published = Arc::new(AtomicBool::new(false));
        let (w, p) = (pk.clone(), published.clone());
        let waker = thread::spawn(move || {
            // Like the mailbox of `tests.rs`: take the goroutine if it is
            // there, and ready it.
            let found = p.swap(false, Ordering::Acquire);
            if found {
                w.ready();
            }
            found
        });
        pk.write_own();
        let parked = park_status(&pk.g.status, status::RUNNABLE, || {
            published.store(true, Ordering::Release);
            true
        });
        assert!(parked);
        // Published: the goroutine is the waker's now; not touched here.
        let found = waker.join().unwrap();
        let want = if found {
            status::RUNNABLE
        } else {
            status::WAITING
        };
        assert_eq!(pk.status(), want);
    });
}

#[test]
fn loom_park_two_wakers_ready_once() {
    loom::model(|| {
        let pk = Parker::new(false);
        let published = Arc::new(AtomicBool::new(false));
        let wakers: Vec<_> = (0..2)
            .map(|_| {
                let (w, p) = (pk.clone(), published.clone());
                thread::spawn(move || {
                    // Both may see it: a publication that is not a
                    // hand-over, so only the status CAS decides.
                    let saw = p.load(Ordering::Acquire);
                    (saw, saw && w.try_ready())
                })
            })
            .collect();
        pk.write_own();
        assert!(park_status(&pk.g.status, status::RUNNABLE, || {
            published.store(true, Ordering::Release);
            true
        }));
        let (mut saw, mut won) = (0, 0);
        for t in wakers {
            let (s, w) = t.join().unwrap();
            saw += s as u32;
            won += w as u32;
        }
        // A waker that saw it published found it WAITING unless the other
        // waker had readied it: one of them readies it, never both.
        assert_eq!(won, saw.min(1), "{won} of {saw} wakers readied it");
        let want = if won == 1 {
            status::RUNNABLE
        } else {
            status::WAITING
        };
        assert_eq!(pk.status(), want);
    });
}

/// A park through a lock-protected wait queue (the goroutine links itself
/// under the lock, and its unlock callback releases it), racing with one
/// waker that readies whatever it finds queued. With `cancel`, the
/// callback unlinks the goroutine again and cancels the park.
fn park_through_a_queue(foreign: bool, cancel: bool) {
    loom::model(move || {
        let pk = Parker::new(foreign);
        let queue = Arc::new(Mutex::new(false));
        let (w, q) = (pk.clone(), queue.clone());
        let waker = thread::spawn(move || {
            let found = std::mem::take(&mut *q.lock().unwrap());
            if found {
                w.ready();
            }
            found
        });
        let mut linked = queue.lock().unwrap();
        *linked = true;
        pk.write_own();
        let cancelled = if foreign {
            status::RUNNING
        } else {
            status::RUNNABLE
        };
        let parked = park_status(&pk.g.status, cancelled, move || {
            if cancel {
                *linked = false;
            }
            drop(linked);
            !cancel
        });
        assert_eq!(parked, !cancel);
        let found = waker.join().unwrap();
        if cancel {
            assert!(!found, "a waker found a goroutine whose park was cancelled");
            assert_eq!(pk.status(), cancelled);
        } else if found {
            assert_eq!(pk.status(), status::RUNNABLE);
        } else {
            // The waker looked before the goroutine was queued.
            assert_eq!(pk.status(), status::WAITING);
        }
    });
}

#[test]
fn loom_park_through_a_queue() {
    park_through_a_queue(false, false);
}

#[test]
fn loom_park_cancelled_stays_runnable() {
    park_through_a_queue(false, true);
}

#[test]
fn loom_park_foreign_through_a_queue() {
    park_through_a_queue(true, false);
}

#[test]
fn loom_park_foreign_cancelled_stays_running() {
    park_through_a_queue(true, true);
}
