//! Channel timers: `gort_timer`, `gort_ticker` and `gort_after` (Go's
//! `time.Timer`, `time.Ticker` and `time.After`, with Go 1.23's channel
//! semantics).
//!
//! # Model
//!
//! A [`Timer`] is a channel (capacity 1, `int64_t` elements) plus a
//! [`TimerNode`] in the timer heap (`crate::time`). When the node fires,
//! the timer offers `nanotime()` to the channel without waiting (Go's
//! `sendTime`): to a receiver blocked on it, or into the buffer, or, if
//! the buffer is full (a ticker's slow receiver), nowhere: the tick is
//! dropped. A ticker then moves its node to the next tick after `now`,
//! skipping the ticks it missed.
//!
//! The timer lives in its channel's allocation, as the channel's trailer
//! (`Chan::new_with_trailer`): one `malloc` per timer, and the channel's
//! pins are the timer's reference count. The pins a timer holds:
//!
//! - the owner's: `gort_timer_new`/`gort_ticker_new` take one, dropped by
//!   `gort_timer_free` after it stopped the timer. `gort_after` takes
//!   none: its owner is the program's reference to the channel, whose
//!   release hook stops the timer;
//! - the heap's: one for each time the node is put into the heap (it is
//!   not there already), handed to the firing that takes it out, or given
//!   back by whoever removes it with `del_node` (which then returns true).
//!
//! # Go 1.23's synchronous timer channels
//!
//! Before Go 1.23 a timer's channel was an ordinary buffered channel: a
//! value sent just before `Stop` or `Reset` stayed in it, and programs had
//! to drain it by hand, racily. Go 1.23 makes `Stop` and `Reset` drain it
//! and stops any send under way with an old value, so that once either
//! returns, no value from before is ever received; `len` and `cap` of the
//! channel read 0. Go does this with two locks (the timer's, and a send
//! lock held across the send) and a sequence number. Here one lock does:
//! the timer's state is guarded by its channel's lock, the firing holds it
//! while it checks that the timer is still armed and sends, and `stop` and
//! `reset` hold it while they disarm the timer and drain the buffer. So:
//!
//! - a value is either received already (handed to a receiver, who owns
//!   it) or still in the buffer, where `stop` and `reset` drop it; their
//!   result is true exactly when the timer was armed (a fire pending, or
//!   on its way and now cancelled) or the buffer held a value nobody
//!   received, as Go 1.23's `Stop` and `Reset` report;
//! - a firing that took the node out of the heap before a `stop` finds the
//!   timer disarmed when it gets the lock, and sends nothing.
//!
//! The buffer still exists (capacity 1), so a fire needs no receiver to
//! be waiting, and a value sent is received later, at once, as in Go.
//!
//! # Lazy moves later, as Go's `timerModifiedLater`
//!
//! A `reset` to a later time than the node's place in the heap only
//! records the new time; the node fires early, finds its time not yet
//! come and puts itself back (one heap operation then, instead of one per
//! reset). A timeout pushed back at every packet thus costs a lock and a
//! clock read per reset. A move earlier moves the node at once.
//!
//! # Lock order
//!
//! Channel lock (the timer's state) → timer heap lock. The heap calls a
//! node's function outside its own lock, and the function takes the
//! channel lock. A receiver woken by a fire is readied, and the timer M
//! kicked for a node placed earlier than it knew (`Timers::place_node`),
//! after the channel lock is dropped: nothing that may wake or start a
//! thread runs under it.
//!
//! # Invariants (under the channel's lock)
//!
//! - `armed` implies the node is in the heap, or its firing is on its way
//!   (and will find `armed` and put the node back or send).
//! - `heap_when` is the deadline the node was last put in the heap with;
//!   `when` (the time the timer should fire) is at or after it while
//!   armed.
//! - A one-shot timer is never armed with a time already past: `reset`
//!   and creation send at once instead.

use std::alloc::Layout;
use std::cell::Cell;

use crate::chan::{self, Chan};
use crate::panic::go_panic;
use crate::sched;
use crate::time::{nanotime, TimerNode};

/// A channel timer (module docs). Lives in its channel's allocation.
#[derive(Debug)]
pub(crate) struct Timer {
    node: TimerNode,
    chan: *const Chan,
    /// A ticker: re-arms itself after each fire.
    ticker: bool,
    /// The fields below are guarded by the channel's lock.
    ///
    /// When the timer should fire.
    when: Cell<i64>,
    /// When the node fires in the heap.
    heap_when: Cell<i64>,
    /// A ticker's period.
    period: Cell<i64>,
    /// A fire is pending (module invariants).
    armed: Cell<bool>,
}

const _: () = assert!(!std::mem::needs_drop::<Timer>());

/// What the caller does once the channel lock is dropped: nothing that
/// may wake or start a thread is done under it.
#[derive(Debug, Default)]
#[must_use]
struct Followup {
    /// A receiver the fire handed the value to.
    wake: Option<sched::GRef>,
    /// The node went in earlier than the timer M knew: kick it.
    kick: bool,
    /// Heap pins given back (0, 1 or 2).
    unpins: usize,
}

impl Followup {
    /// Readies the receiver, kicks the timer M, drops the pins.
    ///
    /// # Safety
    /// The pins counted are the caller's to drop, and the caller does not
    /// touch the timer afterwards unless it holds another pin.
    unsafe fn finish(self, c: *const Chan) {
        if let Some(g) = self.wake {
            sched::ready(g, false);
        }
        if self.kick {
            sched::timer_kick();
        }
        for _ in 0..self.unpins {
            // SAFETY: forwarded contract.
            unsafe { Chan::unpin(c) };
        }
    }
}

impl Timer {
    /// Makes a timer (period 0) or a ticker in a new channel whose one
    /// reference goes to the caller, with no pin of the timer's own. The
    /// reference returned is good while the caller holds a pin.
    fn alloc<'a>(ticker: bool, sync_timer: bool) -> &'a Timer {
        let (c, trailer) = Chan::new_with_trailer(8, 1, Layout::new::<Timer>(), sync_timer);
        let t = trailer as *mut Timer;
        // SAFETY: the trailer is uninitialised storage for a Timer, ours
        // until the channel is freed; the node's argument is its address.
        unsafe {
            t.write(Timer {
                node: TimerNode::new(fired, t as usize),
                chan: c,
                ticker,
                when: Cell::new(0),
                heap_when: Cell::new(0),
                period: Cell::new(0),
                armed: Cell::new(false),
            });
            &*t
        }
    }

    /// The channel.
    #[inline]
    pub(crate) fn chan(&self) -> *const Chan {
        self.chan
    }

    #[inline]
    fn ch(&self) -> &Chan {
        // SAFETY: the channel holds the timer, so it lives at least as long.
        unsafe { &*self.chan }
    }

    /// Stops the timer (Go 1.23's `Timer.Stop`): returns whether a fire
    /// was pending or its value was still unreceived in the buffer; either
    /// way, no value from before is received afterwards.
    pub(crate) fn stop(&self) -> bool {
        let c = self.ch();
        c.lock();
        let mut pending = self.armed.replace(false);
        let mut after = Followup::default();
        if self.node.is_queued() && sched::sched().timers.del_node(&self.node) {
            after.unpins = 1;
        }
        // SAFETY: lock held.
        if unsafe { c.drain_locked() } {
            pending = true;
        }
        // SAFETY: we hold the lock.
        unsafe { c.unlock() };
        // SAFETY: the heap's pin we took back; the owner's keeps the timer.
        unsafe { after.finish(self.chan) };
        pending
    }

    /// Rearms the timer to fire `ns` from now (a ticker: every `ns`, which
    /// must be positive, else Go's panic), Go 1.23's `Reset`: returns what
    /// [`Timer::stop`] would have, and no value from before is received
    /// afterwards. `ns <= 0` fires a one-shot timer at once.
    pub(crate) fn reset(&self, ns: i64) -> bool {
        if self.ticker && ns <= 0 {
            go_panic("non-positive interval for Ticker.Reset");
        }
        // The clock first, as Go's `when(d)`: the reset takes effect at
        // the call, whatever the wait for the lock (and the clock's read
        // is not held up behind the lock's atomic exchange).
        let now = nanotime();
        let c = self.ch();
        c.lock();
        let mut pending = self.armed.get();
        // SAFETY: lock held.
        if unsafe { c.drain_locked() } {
            pending = true;
        }
        if self.ticker {
            self.period.set(ns);
        }
        // SAFETY: lock held.
        let after = unsafe { self.arm_locked(now, now.saturating_add(ns.max(0))) };
        // SAFETY: we hold the lock.
        unsafe { c.unlock() };
        // SAFETY: heap pins handed back to us; the owner's pin keeps the
        // timer.
        unsafe { after.finish(self.chan) };
        pending
    }

    /// Arms the timer for `when` (a one-shot timer whose time has come
    /// fires at once).
    ///
    /// # Safety
    /// The channel lock is held; the caller holds a pin.
    #[inline]
    unsafe fn arm_locked(&self, now: i64, when: i64) -> Followup {
        let mut after = Followup::default();
        if !self.ticker && when <= now {
            if self.armed.replace(false)
                && self.node.is_queued()
                && sched::sched().timers.del_node(&self.node)
            {
                after.unpins = 1;
            }
            // SAFETY: lock held (forwarded).
            after.wake = unsafe { self.send_locked(now) };
            return after;
        }
        self.when.set(when);
        if self.armed.get() && when >= self.heap_when.get() {
            // Later: the node fires early and puts itself back.
            return after;
        }
        self.heap_when.set(when);
        self.armed.set(true);
        // SAFETY: the node lives in the channel's allocation, which the
        // heap's pin keeps alive until the node leaves the heap.
        let (moved, kick) = unsafe { sched::sched().timers.place_node(&self.node, when, 0) };
        after.kick = kick;
        if !moved {
            // The new entry's pin. Taken after it is visible, but its
            // firing cannot drop it before we unlock the channel.

            // SAFETY: the caller holds a pin.
            unsafe { Chan::pin(self.chan) };
        }
        after
    }

    /// Offers `now` to the channel.
    ///
    /// # Safety
    /// The channel lock is held.
    unsafe fn send_locked(&self, now: i64) -> Option<sched::GRef> {
        // SAFETY: lock held (forwarded); 8-byte elements, `now` is 8
        // readable bytes.
        unsafe { self.ch().offer_locked(&now as *const i64 as *const u8).1 }
    }
}

/// From the heap's firing, with the channel locked: puts the timer's node
/// back for `when`, with the firing's pin unless the node is back already
/// (a reset raced with the firing).
fn requeue(t: &Timer, when: i64, after: &mut Followup) {
    // SAFETY: the node lives in the channel's allocation, kept by the pin
    // the heap now holds.
    let (moved, kick) = unsafe { sched::sched().timers.place_node(&t.node, when, 0) };
    after.kick = kick;
    if !moved {
        after.unpins = 0;
    }
}

/// The node's function: the heap took the node out (with its pin).
fn fired(arg: usize, _seq: u64) {
    // SAFETY: the heap's pin, now ours, keeps the channel and its trailer
    // alive until we drop it below.
    let t = unsafe { &*(arg as *const Timer) };
    let c = t.ch();
    c.lock();
    let mut after = Followup {
        unpins: 1,
        ..Followup::default()
    };
    if t.armed.get() {
        let now = nanotime();
        let when = t.when.get();
        if when > now {
            // Moved later, or reset while this firing was on its way: put
            // the node back, with our pin unless it is back already.
            t.heap_when.set(when);
            requeue(t, when, &mut after);
        } else {
            // SAFETY: lock held.
            after.wake = unsafe { t.send_locked(now) };
            if t.ticker {
                let p = t.period.get();
                // The next tick after now; the ones missed are dropped.
                let next = when.saturating_add(p.saturating_mul((now - when) / p + 1));
                t.when.set(next);
                t.heap_when.set(next);
                requeue(t, next, &mut after);
            } else {
                t.armed.set(false);
                // A reset may have put the node back while we were on our
                // way, for a time that has come by now.
                if t.node.is_queued() && sched::sched().timers.del_node(&t.node) {
                    after.unpins += 1;
                }
            }
        }
    }
    // SAFETY: we hold the lock.
    unsafe { c.unlock() };
    // SAFETY: the pins counted are ours; nothing here touches t afterwards.
    unsafe { after.finish(t.chan) };
}

/// `gort_timer_new`: a timer that fires once, `ns` from now (at once if
/// `ns <= 0`). The caller owns it (one pin) and frees it with [`free`].
pub(crate) fn new_timer(ns: i64) -> *const Timer {
    start(false, ns)
}

/// `gort_ticker_new`: a ticker with period `period`, which must be
/// positive (else Go's panic).
pub(crate) fn new_ticker(period: i64) -> *const Timer {
    if period <= 0 {
        go_panic("non-positive interval for NewTicker");
    }
    start(true, period)
}

fn start(ticker: bool, ns: i64) -> *const Timer {
    let t = Timer::alloc(ticker, true);
    let c = t.chan;
    // SAFETY: the channel is ours: one reference (the timer keeps it for
    // its owner until free) plus the owner's pin.
    unsafe { Chan::pin(c) };
    t.period.set(ns);
    let now = nanotime();
    // SAFETY: the channel is not shared yet, but the node becomes visible
    // to the heap inside: take the lock as always.
    unsafe {
        (*c).lock();
        let after = t.arm_locked(now, now.saturating_add(ns.max(0)));
        (*c).unlock();
        after.finish(c);
    }
    t
}

/// `gort_timer_free`: stops the timer and drops it. The channel's
/// reference goes first, through `chan::release`, which panics (changing
/// nothing) if goroutines are blocked on the channel and nobody else
/// holds a reference to it.
///
/// # Safety
/// `t` came from [`new_timer`] or [`new_ticker`] and is not used again.
pub(crate) unsafe fn free(t: *const Timer) {
    // SAFETY: the owner's pin keeps the timer alive.
    let tr = unsafe { &*t };
    let c = tr.chan;
    // SAFETY: the timer owns the channel's reference it was made with.
    unsafe { chan::release(c) };
    tr.stop_quietly();
    // SAFETY: the owner's pin; t is not used afterwards.
    unsafe { Chan::unpin(c) };
}

impl Timer {
    /// Disarms the timer and gives back the heap's pin if the node was in
    /// the heap (no drain: nobody receives any more).
    fn stop_quietly(&self) {
        let c = self.ch();
        c.lock();
        self.armed.set(false);
        let mut after = Followup::default();
        if self.node.is_queued() && sched::sched().timers.del_node(&self.node) {
            after.unpins = 1;
        }
        // SAFETY: we hold the lock.
        unsafe { c.unlock() };
        // SAFETY: the heap's pin, ours now; the caller holds another.
        unsafe { after.finish(self.chan) };
    }
}

/// `gort_after` (Go: `time.After`): a channel (capacity 1, `int64_t`
/// elements, one reference for the caller) that receives `nanotime()`
/// about `ns` nanoseconds from now, at once if `ns <= 0`. Releasing the
/// channel's last reference stops the timer: an abandoned timeout leaves
/// the heap at once.
pub(crate) fn after(ns: i64) -> *const Chan {
    let t = Timer::alloc(false, false);
    let c = t.chan;
    // SAFETY: the channel is not shared yet; its trailer is the timer.
    unsafe { (*c).set_release_hook(after_released) };
    let now = nanotime();
    // SAFETY: as in start; the caller's reference keeps the channel.
    unsafe {
        (*c).lock();
        let after = t.arm_locked(now, now.saturating_add(ns.max(0)));
        (*c).unlock();
        after.finish(c);
    }
    c
}

/// The release hook of a `gort_after` channel: its last reference is gone
/// (the channel lives until `release` drops the references' pin, after
/// this returns).
fn after_released(trailer: *mut u8) {
    // SAFETY: the trailer of a gort_after channel is its timer.
    unsafe { (*(trailer as *const Timer)).stop_quietly() };
}

#[cfg(test)]
mod tests;
