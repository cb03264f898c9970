//! Send, receive, offer and close (Go: `chansend`, `chanrecv`,
//! `closechan`), and parking on a channel.
//!
//! An operation takes the channel lock and tries, in order, a direct
//! hand-off to a waiting partner, the buffer, and (if it may block) a
//! [`Waiter`] on its own stack, enqueued before it parks; the park
//! callback releases the lock once the goroutine is off its stack. The
//! non-blocking fast paths peek at the channel without the lock and
//! decide only outcomes that held at some moment (Go's reasoning).
//! Panics are raised after the lock is released (see "Panics" in the
//! module overview).
//!
//! A goroutine woken by a channel operation goes into its waker's `runnext`
//! slot (`ready(gp, true)`): in a ping-pong the woken goroutine runs as
//! soon as the waker blocks, on the same thread, with no other queue
//! involved. A waiter is always dequeued under the lock and readied after
//! the lock is dropped; `ready` is never called with a channel lock held.

use std::ptr;
use std::sync::atomic::Ordering;

use crate::panic::go_panic;
use crate::sched::{self, GRef};

use super::{Chan, Recv, Waiter, WAIT_RECV, WAIT_SEND};

#[cold]
fn panic_send_closed() -> ! {
    go_panic("send on closed channel")
}

/// Park callback: release the lock of the channel in `data`. Must not
/// touch the channel afterwards (it may be freed as soon as it is
/// unlocked and this waiter is taken).
unsafe fn unlock_chan(_gp: GRef, data: *mut ()) -> bool {
    // SAFETY: data is the channel whose lock the parking operation holds.
    unsafe { (*(data as *const Chan)).unlock() };
    true
}

/// Park callback for a wait that nobody can end (a nil channel).
unsafe fn park_forever(_gp: GRef, _data: *mut ()) -> bool {
    true
}

/// Blocks the caller forever (an operation on a nil channel, a select
/// with no cases): a goroutine parks for good, a foreign thread sleeps.
pub(crate) fn block_forever(reason: &'static &'static str) -> ! {
    loop {
        // SAFETY: park_forever publishes the goroutine nowhere, so nothing
        // ever readies it; no lock is held.
        unsafe { sched::park(park_forever, ptr::null_mut(), reason) };
    }
}

/// Sends `elem` (Go: `chansend`). Blocking: waits until the value is taken
/// or buffered and returns true. Non-blocking: returns false instead of
/// waiting. Panics `send on closed channel`.
///
/// # Safety
/// `c` is live; `elem` is readable for `elem_size` bytes (it may be
/// dangling when `elem_size == 0`).
pub(crate) unsafe fn send(c: &Chan, elem: *const u8, block: bool) -> bool {
    // Fast path (Go's reasoning): an open, full channel cannot take the
    // value now. Both loads may be stale, but there was a moment when the
    // channel was open and full, which is a valid outcome.
    if !block && !c.closed.load(Ordering::Relaxed) && c.full() {
        return false;
    }
    c.lock();
    if c.closed.load(Ordering::Relaxed) {
        // SAFETY: we hold the lock.
        unsafe { c.unlock() };
        panic_send_closed();
    }
    // SAFETY: lock held (for every call in this block); elem is readable.
    unsafe {
        if let Some(w) = c.recvq.dequeue() {
            let g = c.send_to(w, elem);
            c.unlock();
            sched::ready(g, true);
            return true;
        }
        if c.has_room() {
            c.buf_push(elem);
            c.unlock();
            return true;
        }
        if !block {
            c.unlock();
            return false;
        }
    }
    let w = Waiter::new();
    w.g.set(sched::current_record());
    w.elem.set(elem as *mut u8);
    // SAFETY: lock held; w outlives its time in the queue, since we park
    // until a waker has dequeued it.
    unsafe { c.sendq.enqueue(&w as *const Waiter as *mut Waiter) };
    // SAFETY: unlock_chan releases the lock we hold; from then on a
    // receiver (or close) can take the waiter and ready us, exactly once.
    unsafe { sched::park(unlock_chan, c as *const Chan as *mut (), &WAIT_SEND) };
    if !w.success.get() {
        panic_send_closed();
    }
    true
}

/// Sends `elem` if the channel can take it now; never panics: a closed
/// channel just refuses (a `gort_fd_ready` result; Go: `sendTime`).
///
/// # Safety
/// As [`send`].
pub(crate) unsafe fn offer(c: &Chan, elem: *const u8) -> bool {
    c.lock();
    // SAFETY: lock held; elem readable (forwarded contract).
    let (ok, g) = unsafe { c.offer_locked(elem) };
    // SAFETY: we hold the lock.
    unsafe { c.unlock() };
    if let Some(g) = g {
        sched::ready(g, false);
    }
    ok
}

impl Chan {
    /// [`offer`] with the lock held by the caller: returns whether the
    /// value was taken, and the receiver to ready once the lock is
    /// dropped, if it went to one.
    ///
    /// # Safety
    /// The lock is held; `elem` is readable for `elem_size` bytes.
    pub(crate) unsafe fn offer_locked(&self, elem: *const u8) -> (bool, Option<GRef>) {
        if self.closed.load(Ordering::Relaxed) {
            return (false, None);
        }
        // SAFETY: lock held (forwarded); elem readable.
        unsafe {
            if let Some(w) = self.recvq.dequeue() {
                return (true, Some(self.send_to(w, elem)));
            }
            if self.has_room() {
                self.buf_push(elem);
                return (true, None);
            }
        }
        (false, None)
    }

    /// Empties the buffer (Go: `timerchandrain`); returns whether it held
    /// anything. Only for timer channels, whose sends never wait, so there
    /// is no waiting sender to move into the buffer.
    ///
    /// # Safety
    /// The lock is held.
    pub(crate) unsafe fn drain_locked(&self) -> bool {
        let any = self.has_items();
        while self.has_items() {
            // SAFETY: lock held (forwarded), qcount > 0; the value is
            // dropped (null destination).
            unsafe { self.buf_pop(ptr::null_mut()) };
        }
        any
    }
}

/// Receives into `elem` (Go: `chanrecv`); `elem` may be null to drop the
/// value. From a closed, drained channel: zeroes `elem`, returns
/// [`Recv::Closed`]. Non-blocking: [`Recv::WouldBlock`] instead of
/// waiting.
///
/// # Safety
/// `c` is live; `elem` is null or writable for `elem_size` bytes.
pub(crate) unsafe fn recv(c: &Chan, elem: *mut u8, block: bool) -> Recv {
    if !block && c.empty() {
        // Go's fast path: empty and open means "would block". The closed
        // flag is read after emptiness (Acquire), and emptiness once more
        // after it: a channel seen empty after it was closed stays empty.
        if !c.closed.load(Ordering::Acquire) {
            return Recv::WouldBlock;
        }
        if c.empty() {
            // SAFETY: elem is null or writable.
            unsafe { c.clear(elem) };
            return Recv::Closed;
        }
    }
    c.lock();
    // SAFETY: lock held (for every call in this block); elem as promised.
    unsafe {
        if c.closed.load(Ordering::Relaxed) {
            if !c.has_items() {
                c.unlock();
                c.clear(elem);
                return Recv::Closed;
            }
        } else if let Some(w) = c.sendq.dequeue() {
            let g = c.recv_from(w, elem);
            c.unlock();
            sched::ready(g, true);
            return Recv::Value;
        }
        if c.has_items() {
            c.buf_pop(elem);
            c.unlock();
            return Recv::Value;
        }
        if !block {
            c.unlock();
            return Recv::WouldBlock;
        }
    }
    let w = Waiter::new();
    w.g.set(sched::current_record());
    w.elem.set(elem);
    // SAFETY: as in send.
    unsafe { c.recvq.enqueue(&w as *const Waiter as *mut Waiter) };
    // SAFETY: as in send.
    unsafe { sched::park(unlock_chan, c as *const Chan as *mut (), &WAIT_RECV) };
    if w.success.get() {
        Recv::Value
    } else {
        Recv::Closed // close zeroed the element
    }
}

/// Closes the channel (Go: `closechan`): every blocked receiver gets a
/// zeroed element and "closed", every blocked sender wakes to panic.
/// Panics `close of closed channel`.
pub(crate) fn close(c: &Chan) {
    if !close_if_open(c) {
        go_panic("close of closed channel");
    }
}

/// [`close`] that never panics: returns false, changing nothing, if the
/// channel was closed already (a context's `done` channel, which the
/// program may have closed by mistake).
pub(crate) fn close_if_open(c: &Chan) -> bool {
    c.lock();
    if c.closed.load(Ordering::Relaxed) {
        // SAFETY: we hold the lock.
        unsafe { c.unlock() };
        return false;
    }
    c.closed.store(true, Ordering::Release);
    // Collect the waiters (linked through `next`, FIFO) and ready them
    // after unlocking.
    let mut head: *mut Waiter = ptr::null_mut();
    let mut tail: *mut Waiter = ptr::null_mut();
    let mut push = |w: *mut Waiter| {
        if tail.is_null() {
            head = w;
        } else {
            // SAFETY: tail is a dequeued waiter whose owner is blocked.
            unsafe { (*tail).next.set(w) };
        }
        tail = w;
    };
    // SAFETY: lock held; dequeued waiters stay valid until readied.
    unsafe {
        while let Some(w) = c.recvq.dequeue() {
            c.clear((*w).elem.get());
            (*w).success.set(false);
            push(w);
        }
        while let Some(w) = c.sendq.dequeue() {
            (*w).success.set(false);
            push(w);
        }
        c.unlock();
    }
    let mut w = head;
    while !w.is_null() {
        // SAFETY: w's owner is still blocked, so w is valid until ready;
        // read everything needed from it first.
        let (next, g) = unsafe { ((*w).next.get(), (*w).gref()) };
        sched::ready(g, true);
        w = next;
    }
    true
}
