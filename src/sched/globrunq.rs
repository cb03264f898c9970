//! The global run queue (Go: `sched.runq`): a FIFO ring of goroutines
//! under one short lock.
//!
//! It takes the goroutines readied or spawned by threads that hold no P,
//! the older half of a full local queue (`runqputslow`), and the queues of
//! retired Ps; Ps take one every `GLOBAL_CHECK_INTERVAL` rounds and a batch
//! whenever their own queue runs dry. The ring (a `VecDeque`) keeps the
//! capacity it grew to, so in a steady state it never allocates: a
//! lock-free queue of boxed blocks (crossbeam's `Injector`) allocates on one
//! thread and frees on another every 63 goroutines, and under a spawn
//! storm those frees contended on the allocator's arena lock with the
//! spawner's own allocations, putting both threads to sleep on a futex
//! every few dozen goroutines. A linked list through the goroutines (Go's
//! way) needs a pointer chase per goroutine under the lock to take a batch.
//! Batches move in and out in one lock round each, and
//! [`GlobalRunq::is_empty`] is one atomic load, so the frequent "is there
//! global work?" checks take no lock.
//!
//! # Invariants
//!
//! - `len` (atomic) equals the ring's length whenever the lock is free; it
//!   is written only under the lock.
//! - A goroutine is in the ring at most once, and then in no other run
//!   queue.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::g::GRef;
use crate::lock::Mutex;

/// The global run queue.
pub(crate) struct GlobalRunq {
    ring: Mutex<VecDeque<GRef>>,
    len: AtomicUsize,
}

impl GlobalRunq {
    /// An empty queue.
    pub(crate) fn new() -> GlobalRunq {
        GlobalRunq {
            ring: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
        }
    }

    /// Whether the queue looks empty (one atomic load; callers that must
    /// not miss work pair it with a fence, see `sched::wakep_after_inject`).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(Ordering::SeqCst) == 0
    }

    /// Goroutines queued (racy).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Appends one goroutine.
    pub(crate) fn push(&self, gp: GRef) {
        let mut r = self.ring.lock();
        r.push_back(gp);
        self.len.store(r.len(), Ordering::SeqCst);
    }

    /// Appends up to `n` goroutines produced by `next` (until it returns
    /// None) in one lock round. `next` runs under the lock: it must be
    /// short and take no other lock.
    pub(crate) fn push_from(&self, n: usize, mut next: impl FnMut() -> Option<GRef>) {
        let mut r = self.ring.lock();
        for _ in 0..n {
            match next() {
                Some(g) => r.push_back(g),
                None => break,
            }
        }
        self.len.store(r.len(), Ordering::SeqCst);
    }

    /// Takes up to `max` goroutines from the front (at least one if any):
    /// returns the first, and hands the others, in order, to `rest`, which
    /// runs under the lock (it must be short and take no other lock).
    pub(crate) fn pop_batch(&self, max: usize, mut rest: impl FnMut(GRef)) -> Option<GRef> {
        if self.is_empty() {
            return None;
        }
        let mut r = self.ring.lock();
        let first = r.pop_front()?;
        for _ in 1..max.max(1) {
            match r.pop_front() {
                Some(g) => rest(g),
                None => break,
            }
        }
        self.len.store(r.len(), Ordering::SeqCst);
        Some(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_g() -> GRef {
        let g = Box::leak(Box::new(crate::sched::Goroutine::new(false)));
        GRef(std::ptr::NonNull::from(g))
    }

    #[test]
    fn fifo_in_batches() {
        let q = GlobalRunq::new();
        let gs: Vec<GRef> = (0..10).map(|_| new_g()).collect();
        q.push(gs[0]);
        let mut more = gs[1..10].iter().copied();
        q.push_from(100, || more.next());
        assert_eq!(q.len(), 10);
        let mut rest = Vec::new();
        let first = q.pop_batch(4, |g| rest.push(g)).unwrap();
        assert_eq!(first, gs[0]);
        assert_eq!(rest, gs[1..4].to_vec());
        assert_eq!(q.len(), 6);
        rest.clear();
        let first = q.pop_batch(100, |g| rest.push(g)).unwrap();
        assert_eq!(first, gs[4]);
        assert_eq!(rest, gs[5..10].to_vec());
        assert!(q.is_empty());
        assert!(q.pop_batch(4, |_| unreachable!()).is_none());
        q.push(gs[3]);
        assert_eq!(q.pop_batch(4, |_| unreachable!()), Some(gs[3]));
    }
}
