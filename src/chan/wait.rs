//! Waiters and their queues (Go's sudog and `waitq`): a [`Waiter`] is one
//! blocked operation, linked into a channel's `sendq` or `recvq`
//! ([`WaitQueue`], FIFO); the waiters of one blocked select share a
//! [`SelectState`].
//!
//! Every link is read and written under the lock of the channel whose
//! queue holds the waiter (`first` is atomic only so that the lock-free
//! fast paths may peek at it). A waiter is linked in at most one queue;
//! whoever unlinks it with [`WaitQueue::dequeue`] owns the wake-up.
//!
//! # Waiters live on the waiter's stack
//!
//! A parked goroutine's stack stays where it is until the goroutine runs
//! again, and a blocked foreign thread's stack likewise; so a `Waiter` is
//! a local variable of the blocked operation and blocking allocates
//! nothing. Other threads touch a waiter only while its owner is blocked:
//! under the channel's lock while it is linked, then only the waker that
//! unlinked it (it copies the element and sets `success` under the lock;
//! close also reads the waiter's links after unlocking), and from the
//! moment the waker readies the owner it never looks at the waiter (or
//! the element it pointed to) again.
//!
//! For `select` ([`crate::select`]) one goroutine has a waiter on several
//! channels at once; they share a `SelectState` whose `done` flag is
//! claimed with a compare-and-swap by the first waker, so exactly one case
//! wins. A waker that loses the race unlinks the stale waiter and tries
//! the next one in the queue (`WaitQueue::dequeue`).

use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use crate::sched::{GRef, Goroutine};

/// State shared by the waiters of one blocked select (Go keeps it in the
/// G: `selectDone`, and `param` for the winner).
#[derive(Debug)]
pub(crate) struct SelectState {
    /// Claimed by the first waker; the select's other waiters are stale
    /// from then on.
    pub(crate) done: AtomicBool,
    /// The waiter that won, written by the waker that claimed `done`.
    pub(crate) winner: Cell<*const Waiter>,
}

impl SelectState {
    pub(crate) const fn new() -> SelectState {
        SelectState {
            done: AtomicBool::new(false),
            winner: Cell::new(ptr::null()),
        }
    }
}

/// One blocked channel operation (Go's sudog). Lives on the blocked
/// operation's stack; its links and fields are touched by others only
/// under the lock of the channel whose queue holds it.
#[derive(Debug)]
pub(crate) struct Waiter {
    /// The goroutine or foreign record to ready.
    pub(crate) g: Cell<*mut Goroutine>,
    /// Send: the element to copy from. Receive: where to copy to (may be
    /// null: the value is dropped).
    pub(crate) elem: Cell<*mut u8>,
    /// True if woken by a transfer, false if woken by close.
    pub(crate) success: Cell<bool>,
    /// The select this waiter belongs to, or null.
    pub(crate) sel: Cell<*const SelectState>,
    pub(super) next: Cell<*mut Waiter>,
    prev: Cell<*mut Waiter>,
}

impl Waiter {
    /// An unlinked waiter with no owner yet.
    pub(crate) const fn new() -> Waiter {
        Waiter {
            g: Cell::new(ptr::null_mut()),
            elem: Cell::new(ptr::null_mut()),
            success: Cell::new(false),
            sel: Cell::new(ptr::null()),
            next: Cell::new(ptr::null_mut()),
            prev: Cell::new(ptr::null_mut()),
        }
    }

    /// Whether the waiter's owner is still blocked waiting for it (a
    /// select's waiter is stale once another case won).
    fn blocked(&self) -> bool {
        let sel = self.sel.get();
        // SAFETY: a linked waiter's select state lives on the blocked
        // select's stack, which stays valid while the waiter is linked.
        sel.is_null() || !unsafe { (*sel).done.load(Ordering::Acquire) }
    }

    /// The record to ready.
    ///
    /// # Safety
    /// The waiter was set up with a live record.
    pub(crate) unsafe fn gref(&self) -> GRef {
        // SAFETY: forwarded contract.
        unsafe { GRef::from_ptr(self.g.get()) }
    }
}

/// A FIFO queue of waiters (Go: `waitq`), linked through the waiters.
/// `first` is atomic only so that the non-blocking fast paths may peek at
/// it without the lock; it is written under the lock.
#[derive(Debug)]
pub(crate) struct WaitQueue {
    pub(super) first: AtomicPtr<Waiter>,
    last: Cell<*mut Waiter>,
}

impl WaitQueue {
    pub(super) const fn new() -> WaitQueue {
        WaitQueue {
            first: AtomicPtr::new(ptr::null_mut()),
            last: Cell::new(ptr::null_mut()),
        }
    }

    /// Whether the queue looks empty (racy without the lock).
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.first.load(Ordering::Relaxed).is_null()
    }

    /// Appends `w`.
    ///
    /// # Safety
    /// The channel lock is held; `w` is unlinked and stays valid until it
    /// is dequeued.
    pub(crate) unsafe fn enqueue(&self, w: *mut Waiter) {
        // SAFETY: the lock protects every link; linked waiters are live.
        unsafe {
            (*w).next.set(ptr::null_mut());
            let last = self.last.get();
            (*w).prev.set(last);
            if last.is_null() {
                self.first.store(w, Ordering::Relaxed);
            } else {
                (*last).next.set(w);
            }
        }
        self.last.set(w);
    }

    /// Unlinks `w` if it is in this queue (Go: `dequeueSudoG`); a waiter
    /// already taken by a waker is left alone.
    ///
    /// # Safety
    /// The channel lock is held; `w` is valid, and if linked, linked here.
    pub(crate) unsafe fn remove(&self, w: *mut Waiter) {
        // SAFETY: the lock protects every link; linked waiters are live.
        unsafe {
            let prev = (*w).prev.get();
            let next = (*w).next.get();
            if prev.is_null() {
                if self.first.load(Ordering::Relaxed) != w {
                    return; // not linked
                }
                self.first.store(next, Ordering::Relaxed);
            } else {
                (*prev).next.set(next);
            }
            if next.is_null() {
                self.last.set(prev);
            } else {
                (*next).prev.set(prev);
            }
            (*w).prev.set(ptr::null_mut());
            (*w).next.set(ptr::null_mut());
        }
    }

    /// Removes and returns the first waiter whose owner can still take it:
    /// a select's waiter only if this call claims the select (Go:
    /// `waitq.dequeue`). Stale select waiters met on the way are unlinked.
    ///
    /// # Safety
    /// The channel lock is held.
    pub(crate) unsafe fn dequeue(&self) -> Option<*mut Waiter> {
        loop {
            let w = self.first.load(Ordering::Relaxed);
            if w.is_null() {
                return None;
            }
            // SAFETY: the lock is held; a linked waiter is live, and so is
            // its select state.
            unsafe {
                let next = (*w).next.get();
                self.first.store(next, Ordering::Relaxed);
                if next.is_null() {
                    self.last.set(ptr::null_mut());
                } else {
                    (*next).prev.set(ptr::null_mut());
                }
                (*w).next.set(ptr::null_mut());
                let sel = (*w).sel.get();
                if !sel.is_null() {
                    if (*sel)
                        .done
                        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                        .is_err()
                    {
                        continue; // another case of that select won
                    }
                    (*sel).winner.set(w);
                }
            }
            return Some(w);
        }
    }

    /// Whether a waiter whose owner is still blocked is linked.
    ///
    /// # Safety
    /// The channel lock is held.
    pub(super) unsafe fn any_blocked(&self) -> bool {
        let mut w = self.first.load(Ordering::Relaxed);
        while !w.is_null() {
            // SAFETY: the lock is held; linked waiters are live.
            unsafe {
                if (*w).blocked() {
                    return true;
                }
                w = (*w).next.get();
            }
        }
        false
    }
}
