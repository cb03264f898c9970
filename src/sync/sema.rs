//! Runtime semaphores keyed by address (Go: `runtime/sema.go`,
//! `semacquire` / `semrelease`).
//!
//! A semaphore is a `u32` counter somewhere in the caller's memory (inside
//! a `gort_mutex` or `gort_waitgroup`). Waiters are kept in a fixed table of
//! buckets hashed by address, so the C object needs no pointer and its zero
//! value is valid.
//!
//! # Structure
//!
//! Each bucket holds, under its own lock, a list of *address queues*: the
//! first waiter for an address is the queue head (linked to the next head
//! via `wait_next_addr`), and further waiters for that address hang off it
//! via `wait_next` (FIFO, `wait_tail` on the head). Links live in the
//! `Goroutine` records, so waiting allocates nothing. Go keeps the heads in
//! a treap; a list is enough while few distinct addresses collide in a
//! bucket (251 buckets).
//!
//! # Protocol
//!
//! `nwait` per bucket lets `release` skip the lock when nobody waits. An
//! acquirer increments it *before* its final `try_acquire` under the lock;
//! a releaser increments the counter before reading `nwait`, so a waiter is
//! never missed. When a releaser finds a waiter it takes the count on the
//! waiter's behalf (`wait_ticket`) and readies it; a woken waiter without a
//! ticket retries.

use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::lock::Mutex;

use crate::sched::{self, GRef, Goroutine};

const BUCKETS: usize = 251;

struct Bucket {
    lock: Mutex<()>,
    /// First address-queue head (under `lock`).
    heads: std::cell::Cell<*mut Goroutine>,
    nwait: AtomicU32,
}

// SAFETY: `heads` and the wait links it reaches are only touched with
// `lock` held.
unsafe impl Sync for Bucket {}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Bucket = Bucket {
    lock: Mutex::new(()),
    heads: std::cell::Cell::new(ptr::null_mut()),
    nwait: AtomicU32::new(0),
};

static TABLE: [Bucket; BUCKETS] = [EMPTY; BUCKETS];

fn bucket(addr: *const AtomicU32) -> &'static Bucket {
    &TABLE[(addr as usize >> 3) % BUCKETS]
}

/// Decrements `*sema` if positive.
#[inline]
fn try_acquire(sema: &AtomicU32) -> bool {
    let mut v = sema.load(Ordering::Relaxed);
    while v > 0 {
        match sema.compare_exchange_weak(v, v - 1, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(cur) => v = cur,
        }
    }
    false
}

/// Waits until `*sema > 0`, then decrements it (Go: `semacquire1`). With
/// `lifo`, the caller queues at the front (a mutex waiter that already
/// waited once).
pub fn acquire(sema: &AtomicU32, lifo: bool, reason: &'static &'static str) {
    if try_acquire(sema) {
        return;
    }
    let b = bucket(sema);
    loop {
        let guard = b.lock.lock();
        b.nwait.fetch_add(1, Ordering::SeqCst);
        if try_acquire(sema) {
            b.nwait.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let gp = enqueue_self(b, sema, lifo);
        // The bucket lock stays held across the switch and is released by
        // unlock_bucket once we are off our stack.
        std::mem::forget(guard);
        // SAFETY: we are queued under the bucket lock, which unlock_bucket
        // releases; a releaser can only find us after that.
        unsafe { sched::park(unlock_bucket, b as *const Bucket as *mut (), reason) };
        // SAFETY: we are running again, so we own our record.
        let g = unsafe { &*gp };
        if g.wait_ticket.replace(false) {
            return;
        }
    }
}

/// Park callback: release the bucket lock taken in `acquire`.
unsafe fn unlock_bucket(_gp: GRef, data: *mut ()) -> bool {
    // SAFETY: data is the bucket whose lock `acquire` forgot while holding.
    unsafe { (*(data as *const Bucket)).lock.force_unlock() };
    true
}

/// The address queue for `addr` in `b`: (the queue before it, its head),
/// each null if there is none. Bucket lock held.
///
/// # Safety
/// The caller holds `b`'s lock; every linked record is live.
unsafe fn find_queue(b: &Bucket, addr: *const AtomicU32) -> (*mut Goroutine, *mut Goroutine) {
    let mut head = b.heads.get();
    let mut prev: *mut Goroutine = ptr::null_mut();
    // SAFETY: per the contract, the links are stable and the records live.
    while !head.is_null() && unsafe { (*head).wait_addr.get() } != addr as usize {
        prev = head;
        // SAFETY: as above.
        head = unsafe { (*head).wait_next_addr.get() };
    }
    (prev, head)
}

/// Puts `queue` (a head, or null) where the queue after `prev` starts:
/// the bucket's list head when `prev` is null. Bucket lock held.
///
/// # Safety
/// The caller holds `b`'s lock; `prev` is null or a live queue head in `b`.
unsafe fn link_queue(b: &Bucket, prev: *mut Goroutine, queue: *mut Goroutine) {
    if prev.is_null() {
        b.heads.set(queue);
    } else {
        // SAFETY: per the contract.
        unsafe { (*prev).wait_next_addr.set(queue) };
    }
}

/// Links the calling goroutine (or foreign record) into `b`'s queue for
/// `addr`. Bucket lock held.
fn enqueue_self(b: &Bucket, addr: *const AtomicU32, lifo: bool) -> *mut Goroutine {
    let me = current_record();
    // SAFETY: `me` is the caller's own record; the queue links are
    // protected by the bucket lock, which the caller holds.
    unsafe {
        let g = &*me;
        g.wait_addr.set(addr as usize);
        g.wait_next.set(ptr::null_mut());
        g.wait_ticket.set(false);
        let (prev, head) = find_queue(b, addr);
        if head.is_null() {
            // New address queue, at the front of the bucket list.
            g.wait_tail.set(me);
            g.wait_next_addr.set(b.heads.get());
            b.heads.set(me);
        } else if lifo {
            // Become the head of the existing queue.
            g.wait_next.set(head);
            g.wait_tail.set((*head).wait_tail.get());
            g.wait_next_addr.set((*head).wait_next_addr.get());
            (*head).wait_next_addr.set(ptr::null_mut());
            (*head).wait_tail.set(ptr::null_mut());
            link_queue(b, prev, me);
        } else {
            let tail = (*head).wait_tail.get();
            (*tail).wait_next.set(me);
            (*head).wait_tail.set(me);
        }
    }
    me
}

/// The caller's record: its goroutine, or its foreign-thread record.
fn current_record() -> *mut Goroutine {
    let g = sched::current_g();
    if !g.is_null() {
        return g;
    }
    sched::foreign_record()
}

/// Removes and returns the first waiter for `addr`. Bucket lock held.
fn dequeue(b: &Bucket, addr: *const AtomicU32) -> *mut Goroutine {
    // SAFETY: the caller holds the bucket lock, which protects every link
    // reached here; all linked records are live (their owners are parked).
    unsafe {
        let (prev, head) = find_queue(b, addr);
        if head.is_null() {
            return head;
        }
        let next = (*head).wait_next.get();
        let after = (*head).wait_next_addr.get();
        let replacement = if next.is_null() {
            after
        } else {
            (*next).wait_tail.set((*head).wait_tail.get());
            (*next).wait_next_addr.set(after);
            next
        };
        link_queue(b, prev, replacement);
        (*head).wait_next.set(ptr::null_mut());
        (*head).wait_next_addr.set(ptr::null_mut());
        (*head).wait_tail.set(ptr::null_mut());
        head
    }
}

/// Increments `*sema` and wakes one waiter if there is one (Go:
/// `semrelease1`). With `handoff`, a goroutine caller yields so that the
/// woken waiter runs next (mutex starvation mode).
pub fn release(sema: &AtomicU32, handoff: bool) {
    let b = bucket(sema);
    sema.fetch_add(1, Ordering::SeqCst);
    if b.nwait.load(Ordering::SeqCst) == 0 {
        return;
    }
    let guard = b.lock.lock();
    if b.nwait.load(Ordering::SeqCst) == 0 {
        return;
    }
    let w = dequeue(b, sema);
    if w.is_null() {
        return; // the waiters in this bucket wait for other addresses
    }
    b.nwait.fetch_sub(1, Ordering::SeqCst);
    // SAFETY: w was just unlinked under the lock; its owner is parked.
    let g = unsafe { &*w };
    if try_acquire(sema) {
        g.wait_ticket.set(true);
    }
    drop(guard);
    // SAFETY: w is a live record that we alone just dequeued.
    sched::ready(unsafe { GRef::from_ptr(w) }, true);
    if handoff {
        // Let the waiter, now in our runnext, run at once (no-op on a
        // foreign thread).
        sched::gosched();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn foreign_threads_block_and_wake() {
        let sema = Arc::new(AtomicU32::new(0));
        let mut ts = Vec::new();
        for _ in 0..4 {
            let s = sema.clone();
            ts.push(std::thread::spawn(move || acquire(&s, false, &"test")));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        for _ in 0..4 {
            release(&sema, false);
        }
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(sema.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn stress_many_addresses_share_buckets() {
        // 8 threads; semaphores spaced so that several share a bucket.
        let semas: Arc<Vec<AtomicU32>> =
            Arc::new((0..BUCKETS * 2).map(|_| AtomicU32::new(0)).collect());
        let mut ts = Vec::new();
        for t in 0..8usize {
            let s = semas.clone();
            ts.push(std::thread::spawn(move || {
                for i in 0..2000usize {
                    let k = (t * 7 + i * 13) % s.len();
                    release(&s[k], false);
                    acquire(&s[k], i % 3 == 0, &"test");
                }
            }));
        }
        for t in ts {
            t.join().unwrap();
        }
        for s in semas.iter() {
            assert_eq!(s.load(Ordering::SeqCst), 0);
        }
    }
}
