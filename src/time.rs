//! Time: the monotonic clock, the timer heap, sleep, and `gort_after`.
//!
//! # Timers
//!
//! One min-heap of (deadline, what to do) under a short lock, plus an atomic
//! copy of the earliest deadline so that the scheduler's per-round check
//! ("is anything due?") is one relaxed load when nothing is pending, and
//! one clock read otherwise. Due timers are fired by Ms holding a P at
//! every scheduling round (until one goroutine is readied into the P's
//! `runnext`, as Go's `goready` does: it runs next), and by the *timer M*
//! (an idle M sleeping on its note until the earliest deadline; see
//! `sched`), which takes an idle P to do so, or, when every P has been busy
//! past a grace period (stuck in C code), fires them itself into the global
//! queue. No thread is dedicated to timers, and an idle process with no
//! timers has no thread waking up.
//!
//! A sleeping goroutine's timer is added by the park callback, i.e. after
//! the goroutine is off its stack, so it can never fire early onto a
//! goroutine that is still running.
//!
//! A timer either readies a goroutine (sleep) or sends on a channel
//! (`gort_after`, Go's `time.After`): [`after`] makes a channel of
//! capacity 1 and adds a timer that, when it fires, offers the current
//! time to it without blocking (Go's `sendTime`: a full or closed channel
//! drops the value). The timer holds a pin on the channel (see
//! `crate::chan`), so the program may release the channel before it
//! fires. Fired timers act outside the heap lock; a channel timer takes the
//! channel's lock and may ready a receiver, so the heap lock and channel
//! locks are never held together.
//!
//! Rejected: per-P heaps (Go 1.14+). They scale better under heavy timer
//! use but need timer stealing when a P is busy; one heap is simpler and
//! its lock is held for O(log n) per operation.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::lock::Mutex;

use crate::chan::{self, Chan, TimerChan};
use crate::os;
use crate::sched::{self, GRef};

/// Monotonic nanoseconds.
#[inline]
pub fn nanotime() -> i64 {
    os::nanotime()
}

/// What a timer does when it fires.
#[derive(Debug)]
enum Fire {
    /// Ready a sleeping goroutine.
    Ready(GRef),
    /// Offer the time to a `gort_after` channel.
    Send(TimerChan),
}

#[derive(Debug)]
struct Entry {
    when: i64,
    seq: u64,
    fire: Fire,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.when == o.when && self.seq == o.seq
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    /// Reversed: the heap's top is the earliest deadline (FIFO among equal
    /// deadlines).
    fn cmp(&self, o: &Self) -> CmpOrdering {
        (o.when, o.seq).cmp(&(self.when, self.seq))
    }
}

/// The timer heap.
#[derive(Debug)]
pub struct Timers {
    heap: Mutex<BinaryHeap<Entry>>,
    next_when: AtomicI64,
    seq: AtomicU64,
}

impl Default for Timers {
    fn default() -> Self {
        Self::new()
    }
}

impl Timers {
    /// An empty heap.
    pub fn new() -> Timers {
        Timers {
            heap: Mutex::new(BinaryHeap::new()),
            next_when: AtomicI64::new(i64::MAX),
            seq: AtomicU64::new(0),
        }
    }

    /// Whether any timer is pending.
    pub fn pending(&self) -> bool {
        self.next_when.load(Ordering::SeqCst) != i64::MAX
    }

    /// The earliest deadline (i64::MAX if none).
    pub fn next_when(&self) -> i64 {
        self.next_when.load(Ordering::SeqCst)
    }

    /// Adds a timer that readies `gp` at `when`. Returns whether it is now
    /// the earliest.
    pub fn add(&self, when: i64, gp: GRef) -> bool {
        self.push(when, Fire::Ready(gp))
    }

    /// Adds a timer that offers the time to `ch` at `when`. Returns
    /// whether it is now the earliest.
    pub fn add_chan(&self, when: i64, ch: TimerChan) -> bool {
        self.push(when, Fire::Send(ch))
    }

    fn push(&self, when: i64, fire: Fire) -> bool {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut h = self.heap.lock();
        h.push(Entry { when, seq, fire });
        let earliest = when < self.next_when.load(Ordering::Relaxed);
        if earliest {
            self.next_when.store(when, Ordering::SeqCst);
        }
        earliest
    }

    /// The scheduler's per-round check, for an M holding a P: fires due
    /// timers until one has readied a goroutine into that P's `runnext`
    /// (at least one), leaving the rest for the next rounds. Firing a whole
    /// burst at once would push all but the last readied goroutine to the
    /// back of the local queue (each `runnext` ready kicks the previous one
    /// there), behind everything queued, which starves sleepers in a
    /// program that keeps its queue long.
    #[inline]
    pub fn run_if_due(&self, runnext_taken: impl Fn() -> bool) {
        let next = self.next_when.load(Ordering::Relaxed);
        if next != i64::MAX {
            let now = os::nanotime();
            if now >= next {
                while self.fire_one(now) && !runnext_taken() {}
            }
        }
    }

    /// Fires every timer due at `now` (for a thread without a P: the
    /// goroutines go to the global queue).
    pub fn run(&self, now: i64) {
        while self.fire_one(now) {}
    }

    /// Fires the earliest timer if it is due at `now`, outside the heap
    /// lock; returns whether it did.
    fn fire_one(&self, now: i64) -> bool {
        let fire = {
            let mut h = self.heap.lock();
            let due = matches!(h.peek(), Some(e) if e.when <= now);
            let fire = if due { h.pop().map(|e| e.fire) } else { None };
            let next = h.peek().map_or(i64::MAX, |e| e.when);
            self.next_when.store(next, Ordering::SeqCst);
            fire
        };
        match fire {
            Some(Fire::Ready(gp)) => sched::ready(gp, true),
            Some(Fire::Send(ch)) => ch.fire(),
            None => return false,
        }
        true
    }
}

static WAIT_SLEEP: &str = "sleep";

/// Parks for at least `ns` nanoseconds; returns at once if `ns <= 0`.
/// On a foreign thread the thread sleeps.
pub fn sleep(ns: i64) {
    if ns <= 0 {
        return;
    }
    if sched::current_g().is_null() {
        os::thread_sleep(ns);
        return;
    }
    let when = nanotime().saturating_add(ns);
    // SAFETY: add_timer publishes gp to exactly one waker (the timer heap);
    // data is the deadline encoded in the pointer, valid by value.
    unsafe { sched::park(add_timer, when as usize as *mut (), &WAIT_SLEEP) };
}

/// Returns a channel (capacity 1, 8-byte elements, one reference) that
/// receives `nanotime()` as an `i64` about `ns` nanoseconds from now (Go:
/// `time.After`); at once if `ns <= 0`.
pub fn after(ns: i64) -> *const Chan {
    let c = Chan::new(8, 1);
    if ns <= 0 {
        let now = nanotime();
        // SAFETY: c is new and ours, with 8-byte elements.
        unsafe { chan::offer(&*c, &now as *const i64 as *const u8) };
        return c;
    }
    // i64::MAX means "no timer" to the heap: a timer that far out is one
    // nanosecond earlier, so it still counts as pending.
    let when = nanotime().saturating_add(ns).min(i64::MAX - 1);
    // SAFETY: we hold c's only reference.
    let tc = unsafe { TimerChan::new(c) };
    if sched::sched().timers.add_chan(when, tc) {
        sched::timer_kick();
    }
    c
}

/// Park callback: queue the sleeping goroutine's timer.
unsafe fn add_timer(gp: GRef, data: *mut ()) -> bool {
    let when = data as usize as i64;
    if sched::sched().timers.add(when, gp) {
        sched::timer_kick();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_order_is_earliest_first_then_fifo() {
        let mut h = BinaryHeap::new();
        let g = Box::leak(Box::new(crate::sched::Goroutine::new(false)));
        let gp = GRef(std::ptr::NonNull::from(g));
        for (when, seq) in [(30, 0), (10, 1), (20, 2), (10, 3)] {
            h.push(Entry {
                when,
                seq,
                fire: Fire::Ready(gp),
            });
        }
        let order: Vec<_> = std::iter::from_fn(|| h.pop().map(|e| (e.when, e.seq))).collect();
        assert_eq!(order, vec![(10, 1), (10, 3), (20, 2), (30, 0)]);
    }
}
