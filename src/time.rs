//! Time: the monotonic clock, the timer heap, and sleep.
//!
//! # Timers
//!
//! One min-heap of (deadline, what to do) under a short lock, plus an atomic
//! lower bound of the earliest deadline (`next_when`) so that the
//! scheduler's per-round check ("is anything due?") is one relaxed load
//! when nothing is pending, and one clock read otherwise. Due timers are fired by Ms holding a P at
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
//! A timer either readies a goroutine (sleep) or calls a [`TimerNode`]'s
//! function: a node is an entry whose heap position is tracked, so that it
//! can be stopped (it leaves the heap at once, O(log n)) or moved in
//! place. Channel timers (`gort_timer`, `gort_ticker`, `gort_after`:
//! module `timer`), context deadlines (module `context`) and netpoll
//! deadlines are nodes. Fired timers act outside the heap lock, so a
//! node's function may take any lock that is allowed above the heap lock
//! (a channel's, a context's, a poll descriptor's); the heap lock is the
//! innermost lock of all of them.
//!
//! # `next_when` is a lower bound
//!
//! `next_when` is `i64::MAX` when the heap is empty (as far as anyone who
//! asked [`Timers::pending`] knows), otherwise at most the earliest
//! deadline. Adding a timer lowers it and kicks the timer M when the new
//! deadline is below it; removing one (a stopped timer) leaves it alone,
//! so the timer M, which sleeps until some earlier `next_when`, wakes up
//! early once, finds nothing due and recomputes (firing stores the exact
//! value). The point: a program that starts and stops timeouts in a loop
//! (`gort_timer_new` + `gort_timer_stop`, each later than the last) kicks
//! the timer M once, not at every start. `pending` looks at the heap
//! itself, under its lock, and stores `i64::MAX` when it finds it empty:
//! the M that asks it before going to sleep does not watch a stale
//! deadline then, and the next timer added kicks again; deadlock
//! detection, which asks it too, is never delayed by a stopped timer.
//!
//! Rejected: per-P heaps (Go 1.14+). They scale better under heavy timer
//! use but need timer stealing when a P is busy; one heap is simpler and
//! its lock is held for O(log n) per operation.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

use crate::lock::Mutex;

use crate::os;
use crate::sched::{self, GRef};

/// Monotonic nanoseconds.
#[inline]
pub(crate) fn nanotime() -> i64 {
    os::nanotime()
}

/// What a timer does when it fires.
#[derive(Debug)]
enum Fire {
    /// Ready a sleeping goroutine.
    Ready(GRef),
    /// Call a [`TimerNode`]'s function with the sequence number it was
    /// armed with.
    Call { node: NodeRef, arg_seq: u64 },
}

/// A fired timer's action, carried out of the heap lock.
enum Firing {
    Ready(GRef),
    Call(fn(usize, u64), usize, u64),
}

/// A pointer to a node in the heap.
#[derive(Debug, Clone, Copy)]
struct NodeRef(*const TimerNode);

// SAFETY: a node is only reached through the heap while it is in the heap,
// under the heap lock; its owner keeps it alive until it has left the heap
// (see `TimerNode`).
unsafe impl Send for NodeRef {}

/// A timer that can be stopped or moved: a heap entry whose position is
/// tracked, so that removing it costs O(log n) and a stopped timer leaves
/// the heap at once (no dead entries waiting for their deadline).
///
/// When it fires, `f(arg, seq)` runs outside the heap lock, where `seq` is
/// the number given to [`Timers::add_node`]. The call may race with a
/// [`Timers::del_node`] that then returns false: `f` must use `seq` to
/// tell a stale firing from a current one, and must not touch the node
/// (which its owner may free as soon as `del_node` returned).
///
/// The owner keeps the node alive and in place while it is in the heap,
/// i.e. until `del_node` returned or `f` has been called.
pub(crate) struct TimerNode {
    /// Position in the heap, or NOT_IN_HEAP. Changed under the heap lock.
    idx: AtomicUsize,
    f: fn(usize, u64),
    arg: usize,
}

impl std::fmt::Debug for TimerNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimerNode")
            .field("idx", &self.idx)
            .finish_non_exhaustive()
    }
}

const NOT_IN_HEAP: usize = usize::MAX;

impl TimerNode {
    /// A node that calls `f(arg, seq)` when it fires.
    pub(crate) const fn new(f: fn(usize, u64), arg: usize) -> TimerNode {
        TimerNode {
            idx: AtomicUsize::new(NOT_IN_HEAP),
            f,
            arg,
        }
    }

    /// Whether the node is in the heap: exact for its owner when only the
    /// owner adds it and nothing can fire it (it is not in the heap, and
    /// only the owner can put it back); otherwise a hint that may turn
    /// false at any moment, when the heap fires it. An owner uses it to
    /// skip a [`Timers::del_node`] (and its lock) that would find nothing.
    #[inline]
    pub(crate) fn is_queued(&self) -> bool {
        self.idx.load(Ordering::Relaxed) != NOT_IN_HEAP
    }
}

#[derive(Debug)]
struct Entry {
    when: i64,
    seq: u64,
    fire: Fire,
}

impl Entry {
    /// Heap order: earliest deadline first, FIFO among equal deadlines.
    #[inline]
    fn before(&self, o: &Entry) -> bool {
        (self.when, self.seq) < (o.when, o.seq)
    }
}

/// A binary min-heap of entries that keeps every node entry's `idx` equal
/// to its position (under the heap lock).
#[derive(Debug, Default)]
struct Heap(Vec<Entry>);

impl Heap {
    #[inline]
    fn place(&mut self, i: usize) {
        if let Fire::Call { node, .. } = self.0[i].fire {
            // SAFETY: a node in the heap is alive (TimerNode's contract).
            unsafe { (*node.0).idx.store(i, Ordering::Relaxed) };
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if !self.0[i].before(&self.0[parent]) {
                break;
            }
            self.0.swap(i, parent);
            self.place(i);
            i = parent;
        }
        self.place(i);
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.0.len();
        loop {
            let l = 2 * i + 1;
            if l >= n {
                break;
            }
            let r = l + 1;
            let c = if r < n && self.0[r].before(&self.0[l]) {
                r
            } else {
                l
            };
            if !self.0[c].before(&self.0[i]) {
                break;
            }
            self.0.swap(i, c);
            self.place(i);
            i = c;
        }
        self.place(i);
    }

    fn push(&mut self, e: Entry) {
        self.0.push(e);
        let i = self.0.len() - 1;
        self.sift_up(i);
    }

    /// Gives the entry at `i` a new deadline and order, and moves it to
    /// its place.
    fn update(&mut self, i: usize, when: i64, seq: u64, arg_seq: u64) {
        let e = &mut self.0[i];
        e.when = when;
        e.seq = seq;
        if let Fire::Call { arg_seq: a, .. } = &mut e.fire {
            *a = arg_seq;
        }
        if i > 0 && self.0[i].before(&self.0[(i - 1) / 2]) {
            self.sift_up(i);
        } else {
            self.sift_down(i);
        }
    }

    /// Removes and returns the entry at `i`.
    fn remove(&mut self, i: usize) -> Entry {
        let last = self.0.len() - 1;
        self.0.swap(i, last);
        let e = self.0.pop().expect("remove from an empty timer heap");
        if i < self.0.len() {
            self.sift_down(i);
            self.sift_up(i);
        }
        if let Fire::Call { node, .. } = e.fire {
            // SAFETY: the node was in the heap, so it is alive.
            unsafe { (*node.0).idx.store(NOT_IN_HEAP, Ordering::Relaxed) };
        }
        e
    }

    fn peek_when(&self) -> i64 {
        self.0.first().map_or(i64::MAX, |e| e.when)
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

/// The timer heap.
#[derive(Debug)]
pub(crate) struct Timers {
    heap: Mutex<Heap>,
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
    pub(crate) fn new() -> Timers {
        Timers {
            heap: Mutex::new(Heap::default()),
            next_when: AtomicI64::new(i64::MAX),
            seq: AtomicU64::new(0),
        }
    }

    /// Whether any timer is pending. Looks at the heap itself; finding it
    /// empty, it sets `next_when` to `i64::MAX`, so that the next timer
    /// added kicks the timer M (module docs).
    pub(crate) fn pending(&self) -> bool {
        let h = self.heap.lock();
        if h.len() == 0 {
            self.next_when.store(i64::MAX, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// A lower bound of the earliest deadline (module docs); `i64::MAX` if
    /// no timer is pending.
    pub(crate) fn next_when(&self) -> i64 {
        self.next_when.load(Ordering::SeqCst)
    }

    /// Timers in the heap (takes the heap lock: for statistics and tests,
    /// not for the scheduler's checks).
    pub(crate) fn len(&self) -> usize {
        self.heap.lock().len()
    }

    /// Whether the heap is empty.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a timer that readies `gp` at `when`. Returns whether it is now
    /// the earliest.
    pub(crate) fn add(&self, when: i64, gp: GRef) -> bool {
        self.push(when, Fire::Ready(gp))
    }

    /// Arms `node` to fire at `when` with `seq`, moving it in place if it
    /// is pending, and kicks the timer M if that is earlier than
    /// `next_when`. Returns whether the node was pending (moved rather
    /// than added).
    ///
    /// # Safety
    /// The caller keeps `node` alive and in place until `del_node`
    /// returned true or the node fired (see [`TimerNode`]).
    pub(crate) unsafe fn add_node(&self, node: &TimerNode, when: i64, seq: u64) -> bool {
        // SAFETY: forwarded contract.
        let (moved, kick) = unsafe { self.place_node(node, when, seq) };
        if kick {
            sched::timer_kick();
        }
        moved
    }

    /// [`Timers::add_node`] without the kick: returns (moved, kick), and
    /// the caller calls `sched::timer_kick` if `kick`, once it has dropped
    /// its own locks (a kick may wake a thread or start one).
    ///
    /// # Safety
    /// As [`Timers::add_node`].
    pub(crate) unsafe fn place_node(&self, node: &TimerNode, when: i64, seq: u64) -> (bool, bool) {
        // i64::MAX means "no timer" to next_when: a timer that far out is
        // one nanosecond earlier, so it still counts as pending.
        let when = when.min(i64::MAX - 1);
        let mut h = self.heap.lock();
        let s = self.seq.fetch_add(1, Ordering::Relaxed);
        let i = node.idx.load(Ordering::Relaxed);
        let moved = i != NOT_IN_HEAP;
        if moved {
            h.update(i, when, s, seq);
        } else {
            h.push(Entry {
                when,
                seq: s,
                fire: Fire::Call {
                    node: NodeRef(node),
                    arg_seq: seq,
                },
            });
        }
        (moved, self.publish_next(&h))
    }

    /// Stops `node`: removes it from the heap. Returns whether it was
    /// pending (false: it fired, or its firing is under way). Leaves
    /// `next_when` alone (module docs).
    pub(crate) fn del_node(&self, node: &TimerNode) -> bool {
        // Always under the lock: a firing copies the node's function out
        // under it, after marking the node gone, so an owner that sees the
        // node gone here may free it at once.
        let mut h = self.heap.lock();
        let i = node.idx.load(Ordering::Relaxed);
        if i == NOT_IN_HEAP {
            return false;
        }
        h.remove(i);
        true
    }

    /// Lowers `next_when` to the earliest deadline after an addition, if
    /// that is below it; returns whether it did (the timer M must look).
    /// Under the heap lock, as every store to `next_when`.
    fn publish_next(&self, h: &Heap) -> bool {
        let next = h.peek_when();
        let earlier = next < self.next_when.load(Ordering::Relaxed);
        if earlier {
            self.next_when.store(next, Ordering::SeqCst);
        }
        earlier
    }

    fn push(&self, when: i64, fire: Fire) -> bool {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut h = self.heap.lock();
        h.push(Entry { when, seq, fire });
        self.publish_next(&h)
    }

    /// The scheduler's per-round check, for an M holding a P: fires due
    /// timers until one has readied a goroutine into that P's `runnext`
    /// (at least one), leaving the rest for the next rounds. Firing a whole
    /// burst at once would push all but the last readied goroutine to the
    /// back of the local queue (each `runnext` ready kicks the previous one
    /// there), behind everything queued, which starves sleepers in a
    /// program that keeps its queue long.
    #[inline]
    pub(crate) fn run_if_due(&self, runnext_taken: impl Fn() -> bool) {
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
    pub(crate) fn run(&self, now: i64) {
        while self.fire_one(now) {}
    }

    /// Fires the earliest timer if it is due at `now`, outside the heap
    /// lock; returns whether it did.
    fn fire_one(&self, now: i64) -> bool {
        let fire = {
            let mut h = self.heap.lock();
            let due = h.peek_when() <= now;
            let fire = if due { Some(h.remove(0).fire) } else { None };
            self.next_when.store(h.peek_when(), Ordering::SeqCst);
            match fire {
                Some(Fire::Call { node, arg_seq }) => {
                    // SAFETY: the node is alive until we release the lock
                    // (its owner's del_node takes it); f and arg are copied
                    // out, and the node is not touched again.
                    let (f, arg) = unsafe { ((*node.0).f, (*node.0).arg) };
                    Some(Firing::Call(f, arg, arg_seq))
                }
                Some(Fire::Ready(gp)) => Some(Firing::Ready(gp)),
                None => None,
            }
        };
        match fire {
            Some(Firing::Ready(gp)) => sched::ready(gp, true),
            Some(Firing::Call(f, arg, seq)) => f(arg, seq),
            None => return false,
        }
        true
    }
}

static WAIT_SLEEP: &str = "sleep";

/// Parks for at least `ns` nanoseconds; returns at once if `ns <= 0`.
/// On a foreign thread the thread sleeps.
pub(crate) fn sleep(ns: i64) {
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

    fn node_fired(arg: usize, seq: u64) {
        // SAFETY: the tests pass the address of a live Vec.
        let v = unsafe { &*(arg as *const Mutex<Vec<u64>>) };
        v.lock().push(seq);
    }

    #[test]
    fn heap_order_is_earliest_first_then_fifo() {
        let mut h = Heap::default();
        let g = Box::leak(Box::new(crate::sched::Goroutine::new(false)));
        let gp = GRef(std::ptr::NonNull::from(g));
        for (when, seq) in [(30, 0), (10, 1), (20, 2), (10, 3)] {
            h.push(Entry {
                when,
                seq,
                fire: Fire::Ready(gp),
            });
        }
        let order: Vec<_> = std::iter::from_fn(|| (h.len() > 0).then(|| h.remove(0)))
            .map(|e| (e.when, e.seq))
            .collect();
        assert_eq!(order, vec![(10, 1), (10, 3), (20, 2), (30, 0)]);
    }

    #[test]
    fn nodes_are_removed_and_moved_in_place() {
        let fired: &'static Mutex<Vec<u64>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        let arg = fired as *const Mutex<Vec<u64>> as usize;
        let t = Timers::new();
        let nodes: Vec<TimerNode> = (0..200).map(|_| TimerNode::new(node_fired, arg)).collect();
        // Pseudo-random deadlines, then stop every third, move every fifth.
        let mut x = 12345u64;
        for (i, n) in nodes.iter().enumerate() {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // SAFETY: the nodes outlive the heap's use of them (all are
            // fired or deleted below).
            unsafe { t.add_node(n, 1_000 + (x >> 40) as i64 % 1_000, i as u64) };
        }
        for (i, n) in nodes.iter().enumerate() {
            if i % 3 == 0 {
                assert!(t.del_node(n));
                assert!(!t.del_node(n));
            } else if i % 5 == 0 {
                // SAFETY: as above.
                unsafe { t.add_node(n, 5_000 + i as i64, i as u64) };
            }
        }
        let left = nodes.len() - nodes.len().div_ceil(3);
        assert_eq!(t.len(), left);
        t.run(4_999);
        t.run(1_000_000);
        let got = fired.lock().clone();
        assert_eq!(got.len(), left);
        assert!(got.iter().all(|&i| i % 3 != 0));
        // The moved ones fire last, in deadline order.
        let moved: Vec<u64> = (0..200u64).filter(|i| i % 3 != 0 && i % 5 == 0).collect();
        assert_eq!(&got[got.len() - moved.len()..], &moved[..]);
        assert!(!t.pending());
        assert!(t.is_empty());
    }
}
