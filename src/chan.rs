//! Channels (Go: `runtime/chan.go`).
//!
//! # Model
//!
//! A [`Chan`] is Go's `hchan`: one lock, a ring buffer of `cap` elements of
//! `elem_size` bytes each (none when `cap == 0`), and two FIFO queues of
//! `Waiter`s (Go's sudog): goroutines, or foreign threads, blocked
//! sending (`sendq`) and receiving (`recvq`). Elements are plain bytes,
//! copied with `memcpy`; `elem_size` may be 0.
//!
//! - A sender that finds a waiting receiver copies its element straight
//!   into the receiver's destination and readies it (*direct hand-off*);
//!   the buffer is not touched. Likewise a receiver that finds a waiting
//!   sender: on an unbuffered channel it copies from the sender; on a full
//!   buffered channel it takes the head of the buffer and puts the
//!   sender's element at the tail, keeping FIFO order.
//! - Otherwise a sender uses a free buffer slot, a receiver a full one.
//! - Otherwise the operation enqueues a waiter and parks
//!   ([`sched::park`]). The lock is held across the park and released by
//!   the park callback once the goroutine is off its stack (as in
//!   `sync::sema`), so no waker can ready a goroutine that is still
//!   running.
//! - `close` marks the channel closed and readies every waiter: receivers
//!   get a zeroed element and "closed", senders wake up to panic
//!   `send on closed channel`.
//!
//! A goroutine woken by a channel operation goes into its waker's `runnext`
//! slot (`ready(gp, true)`): in a ping-pong the woken goroutine runs as
//! soon as the waker blocks, on the same thread, with no other queue
//! involved. A waiter is always dequeued under the lock and readied after
//! the lock is dropped; `ready` is never called with a channel lock held.
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
//!
//! # Invariants (under `lock`; Go's chan.go list)
//!
//! - At least one of `sendq` and `recvq` is empty, except on an
//!   unbuffered channel where one select waits to both send and receive:
//!   its two waiters cannot match each other, since matching happens only
//!   when an operation arrives, and a select enqueues only after finding
//!   no case ready.
//! - Buffered: `sendq` non-empty implies `qcount == cap`; `recvq`
//!   non-empty implies `qcount == 0` (ignoring stale select waiters).
//! - Closed: both queues are empty; nothing is enqueued on a closed
//!   channel. A closed channel never reopens.
//! - `sendx`, `recvx` are in `0..cap` (0 when `cap == 0`), and the
//!   occupied slots are `recvx, recvx+1, ...` (mod cap), `qcount` of them.
//!
//! # Lifetime
//!
//! Two counts govern a channel's memory:
//!
//! - `refs`: the C program's references (`gort_chan_new` gives one,
//!   `retain` adds one, `release` drops one).
//! - `pins`: 1 while `refs > 0`, plus 1 for each select that has waiters
//!   on the channel, plus the pins of the timer that lives in the
//!   channel's allocation, if any (`crate::timer`: its owner's, and one
//!   while it is in the timer heap or firing), plus 1 held by a context
//!   for its `done` channel (`crate::context`). The channel is freed when
//!   `pins` drops to 0.
//!
//! A channel, its buffer and an optional *trailer* (a timer) are one
//! allocation ([`Chan::new_with_trailer`]): a timer costs one `malloc`,
//! and its trailer lives exactly as long as the channel.
//!
//! Dropping the last reference while a goroutine (or thread) is blocked on
//! the channel panics (`release of channel with blocked goroutines`) and
//! leaves the reference in place, so the blocked operation is not lost.
//!
//! An operation in progress needs no reference of its own: once a waiter
//! has been dequeued, neither its owner nor its waker touches the channel
//! again (the owner's park callback unlocks it before anyone can dequeue
//! the waiter, and the waker unlocks it before readying). So the other
//! side may release the last reference the moment it has received a value
//! or seen a close. The exceptions are a select, which relocks all its
//! channels after it wakes up to unlink its other waiters (hence its
//! pins), and a timer, which sends later (hence its pins).
//!
//! # Panics
//!
//! Misuse panics (`send on closed channel`, `close of closed channel`,
//! `release of channel with blocked goroutines`, ...) are recoverable, and
//! a recovered panic abandons the frames between it and the recovering
//! frame. So every panic is raised after the channel lock was released and
//! with nothing owned that needs dropping, and leaves the channel as it
//! was before the call (a refused release keeps its reference).
//!
//! # Lock order
//!
//! Channel code takes no other lock while it holds a channel lock:
//! `ready` is called after unlocking, and a parking operation's lock is
//! released by the park callback. Between the switch and that callback the
//! M may take the scheduler's `idle` lock (the scheduler allows a wait
//! queue's lock to be held while taking it, as for semaphore buckets), but
//! never a channel lock or the timer heap's. Several channel locks are
//! taken together only by a select, in increasing address order
//! ([`crate::select`]).
//!
//! Two other modules hold a channel lock as their own: a timer's state is
//! guarded by its channel's lock, which it holds while it moves its node
//! in the timer heap (channel lock → heap lock, `crate::timer`); a
//! context closes its `done` channel with its own lock held (context lock
//! → channel lock, `crate::context`). Never the reverse: timers fire
//! outside the heap lock, and channel code takes no other lock.
//!
//! # The lock
//!
//! Each channel has one small lock (`ChanLock`): test-and-test-and-set
//! with a short exponential spin, then `sched_yield` while it stays taken;
//! unlocking is a plain release store. Every critical section is a few
//! dozen instructions plus one element copy, never blocks and never
//! switches goroutines (the park callback that releases it runs right
//! after the switch), so a waiter almost always gets the lock while
//! spinning. A futex lock (parking_lot's, or Go's `lock_futex`) needs a
//! locked instruction on unlock to see sleeping waiters; on the hand-off
//! path (lock and unlock twice per operation) that was about 15% of an
//! unbuffered ping-pong on the development machine. The price: a thread
//! that wants a lock whose holder was descheduled by the OS yields until
//! the holder has run again, instead of sleeping on a futex.
//!
//! Rejected: a lock-free channel (crossbeam-channel's flavours). Go's
//! design with one short lock is simpler to get right with select, close
//! and foreign threads, and the costs that matter (the hand-off, the
//! switch) are dominated by the scheduler, not the lock.

use std::alloc::{self, Layout};
use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use crate::panic::{fatal, go_panic};
use crate::sched::{self, GRef, Goroutine};

/// Wait reasons shown in goroutine dumps (Go's words).
pub(crate) static WAIT_SEND: &str = "chan send";
/// See [`WAIT_SEND`].
pub(crate) static WAIT_RECV: &str = "chan receive";
/// See [`WAIT_SEND`].
pub(crate) static WAIT_SEND_NIL: &str = "chan send (nil chan)";
/// See [`WAIT_SEND`].
pub(crate) static WAIT_RECV_NIL: &str = "chan receive (nil chan)";

/// The largest buffer a channel may have (Go: `maxAlloc` on 64-bit Linux).
const MAX_BUF: usize = 1 << 48;
/// Buffer alignment: `max_align_t`, so that elements of any C type could be
/// read in place (they are always copied, but memcpy likes alignment).
const BUF_ALIGN: usize = 16;

/// Element sizes with an inlined copy instead of a call to memcpy.
#[inline(always)]
unsafe fn copy_elem(dst: *mut u8, src: *const u8, size: usize) {
    // SAFETY: (every arm) the caller guarantees `src` is readable and
    // `dst` writable for `size` bytes, and that they do not overlap.
    unsafe {
        match size {
            0 => {}
            4 => ptr::write_unaligned(dst as *mut u32, ptr::read_unaligned(src as *const u32)),
            8 => ptr::write_unaligned(dst as *mut u64, ptr::read_unaligned(src as *const u64)),
            16 => ptr::write_unaligned(dst as *mut u128, ptr::read_unaligned(src as *const u128)),
            _ => ptr::copy_nonoverlapping(src, dst, size),
        }
    }
}

/// Zeroes `size` bytes at `dst` unless `dst` is null.
#[inline]
unsafe fn clear_elem(dst: *mut u8, size: usize) {
    if !dst.is_null() && size != 0 {
        // SAFETY: the caller guarantees `dst` is writable for `size` bytes.
        unsafe { ptr::write_bytes(dst, 0, size) };
    }
}

#[cold]
fn panic_send_closed() -> ! {
    go_panic("send on closed channel")
}

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
    next: Cell<*mut Waiter>,
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
    first: AtomicPtr<Waiter>,
    last: Cell<*mut Waiter>,
}

impl WaitQueue {
    const fn new() -> WaitQueue {
        WaitQueue {
            first: AtomicPtr::new(ptr::null_mut()),
            last: Cell::new(ptr::null_mut()),
        }
    }

    /// Whether the queue looks empty (racy without the lock).
    #[inline]
    fn is_empty(&self) -> bool {
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
    unsafe fn any_blocked(&self) -> bool {
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

/// The channel lock: test-and-test-and-set, spinning briefly and then
/// yielding the thread while it is taken. Unlocking is a plain release
/// store. See the module docs ("The lock") for why this is not a futex
/// lock.
struct ChanLock {
    locked: AtomicBool,
}

impl ChanLock {
    /// Spin rounds (each twice as long as the last) before yielding.
    const SPIN_ROUNDS: u32 = 6;

    const fn new() -> ChanLock {
        ChanLock {
            locked: AtomicBool::new(false),
        }
    }

    #[inline]
    #[track_caller]
    fn lock(&self) {
        crate::lock::held::acquired();
        if !self.locked.swap(true, Ordering::Acquire) {
            return;
        }
        self.lock_slow();
    }

    #[cold]
    fn lock_slow(&self) {
        let mut round = 0u32;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                if round < Self::SPIN_ROUNDS {
                    for _ in 0..1u32 << round {
                        std::hint::spin_loop();
                    }
                    round += 1;
                } else {
                    // The holder may have lost its CPU: let it run.
                    std::thread::yield_now();
                }
            }
            if !self.locked.swap(true, Ordering::Acquire) {
                return;
            }
        }
    }

    #[inline]
    fn unlock(&self) {
        debug_assert!(self.locked.load(Ordering::Relaxed));
        crate::lock::held::released();
        self.locked.store(false, Ordering::Release);
    }
}

/// A channel (Go's `hchan`). Created by [`Chan::new`], shared by raw
/// pointer, freed by the last unpin (see the module docs).
pub(crate) struct Chan {
    lock: ChanLock,
    /// Set under the lock, never cleared; read without it by fast paths.
    closed: AtomicBool,
    /// Elements in the buffer. Written under the lock; read without it by
    /// `len` and the fast paths.
    qcount: AtomicUsize,
    cap: usize,
    elem_size: usize,
    /// `cap * elem_size` bytes in the channel's own allocation, after the
    /// `Chan` (never read when that is 0).
    buf: *mut u8,
    /// The allocation: the `Chan`, its buffer, its trailer.
    layout: Layout,
    /// A `gort_timer` channel: reports length and capacity 0, as Go 1.23's
    /// timer channels do (it is synchronous in effect: see `crate::timer`).
    sync_timer: bool,
    /// Next slot to fill / to empty (under the lock).
    sendx: Cell<usize>,
    recvx: Cell<usize>,
    /// Blocked receivers and senders (under the lock).
    recvq: WaitQueue,
    sendq: WaitQueue,
    /// C references.
    refs: AtomicUsize,
    /// See the module docs: the channel is freed when this reaches 0.
    pins: AtomicUsize,
    /// Called once when the last reference is released (a
    /// `gort_fd_ready` channel cancels its wait). Set before the channel
    /// is shared; taken by the release that drops `refs` to 0.
    release_hook: Cell<Option<ReleaseHook>>,
}

impl std::fmt::Debug for Chan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chan")
            .field("elem_size", &self.elem_size)
            .field("cap", &self.cap)
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

// SAFETY: the Cell fields and the buffer are only touched with `lock` held
// (module invariants); everything read without the lock is atomic.
unsafe impl Sync for Chan {}
// SAFETY: as above; nothing in a Chan is tied to a thread.
unsafe impl Send for Chan {}

/// A function and its argument, called when a channel's last reference
/// is released.
type ReleaseHook = (fn(usize), usize);

/// Result of a receive (Go: chanrecv's `selected, received`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recv {
    /// A value was received.
    Value,
    /// The channel is closed and drained; the element was zeroed.
    Closed,
    /// Non-blocking only: nothing to receive now.
    WouldBlock,
}

impl Chan {
    /// Makes a channel with one reference (Go: `makechan`). An element
    /// size or capacity whose buffer cannot exist panics with
    /// `makechan: size out of range`.
    pub(crate) fn new(elem_size: usize, cap: usize) -> *const Chan {
        Chan::new_with_trailer(elem_size, cap, Layout::new::<()>(), false).0
    }

    /// [`Chan::new`] with `trailer` bytes of storage after the buffer, in
    /// the same allocation, returned uninitialised with the channel. The
    /// trailer is freed with the channel and never dropped: it must hold
    /// nothing that needs dropping. `sync_timer` marks a `gort_timer`
    /// channel (length and capacity read as 0).
    pub(crate) fn new_with_trailer(
        elem_size: usize,
        cap: usize,
        trailer: Layout,
        sync_timer: bool,
    ) -> (*const Chan, *mut u8) {
        let bytes = match elem_size.checked_mul(cap) {
            Some(b) if b <= MAX_BUF && elem_size <= isize::MAX as usize => b,
            _ => go_panic("makechan: size out of range"),
        };
        let out_of_range = |_| -> (Layout, usize) { go_panic("makechan: size out of range") };
        let buf_layout = Layout::from_size_align(bytes, BUF_ALIGN)
            .unwrap_or_else(|_| go_panic("makechan: size out of range"));
        let (layout, buf_off) = Layout::new::<Chan>()
            .extend(buf_layout)
            .unwrap_or_else(out_of_range);
        let (layout, trailer_off) = layout.extend(trailer).unwrap_or_else(out_of_range);
        let layout = layout.pad_to_align();
        // SAFETY: the layout has a non-zero size (it holds a Chan).
        let p = unsafe { alloc::alloc(layout) };
        if p.is_null() {
            crate::panic::out_of_memory(layout.size(), "channel");
        }
        let c = p as *mut Chan;
        // SAFETY: p is a fresh allocation laid out for a Chan at offset 0.
        unsafe {
            c.write(Chan {
                lock: ChanLock::new(),
                closed: AtomicBool::new(false),
                qcount: AtomicUsize::new(0),
                cap,
                elem_size,
                buf: p.add(buf_off),
                layout,
                sync_timer,
                sendx: Cell::new(0),
                recvx: Cell::new(0),
                recvq: WaitQueue::new(),
                sendq: WaitQueue::new(),
                refs: AtomicUsize::new(1),
                pins: AtomicUsize::new(1),
                release_hook: Cell::new(None),
            })
        };
        // SAFETY: the trailer's offset is inside the allocation.
        (c, unsafe { p.add(trailer_off) })
    }

    /// Element size in bytes.
    #[inline]
    pub(crate) fn elem_size(&self) -> usize {
        self.elem_size
    }

    /// Buffer capacity, as the program sees it (0 for a `gort_timer`
    /// channel, as Go 1.23's `cap(t.C)`).
    #[inline]
    pub(crate) fn cap(&self) -> usize {
        if self.sync_timer {
            0
        } else {
            self.cap
        }
    }

    /// Elements buffered now (racy, as Go's `len(c)`; 0 for a
    /// `gort_timer` channel, as Go 1.23's `len(t.C)`).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        if self.sync_timer {
            0
        } else {
            self.qcount.load(Ordering::Relaxed)
        }
    }

    /// Whether the channel is closed (racy unless the lock is held).
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Takes the channel lock.
    #[inline]
    #[track_caller]
    pub(crate) fn lock(&self) {
        self.lock.lock();
    }

    /// Releases the channel lock.
    ///
    /// # Safety
    /// The caller holds it (possibly taken on another thread, as when a
    /// park callback releases it).
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        self.lock.unlock();
    }

    /// Whether a send would block now (Go: `full`), racy.
    #[inline]
    fn full(&self) -> bool {
        if self.cap == 0 {
            self.recvq.is_empty()
        } else {
            self.qcount.load(Ordering::Relaxed) == self.cap
        }
    }

    /// Whether a receive would block now (Go: `empty`), racy.
    #[inline]
    fn empty(&self) -> bool {
        if self.cap == 0 {
            self.sendq.is_empty()
        } else {
            self.qcount.load(Ordering::Relaxed) == 0
        }
    }

    /// Whether a send might proceed now (racy; select's pass 0).
    #[inline]
    pub(crate) fn can_send_hint(&self) -> bool {
        !self.full()
    }

    /// Whether a receive might proceed now (racy; select's pass 0).
    #[inline]
    pub(crate) fn can_recv_hint(&self) -> bool {
        !self.empty()
    }

    /// The waiter queues, for select: `(sendq, recvq)`.
    #[inline]
    pub(crate) fn queues(&self) -> (&WaitQueue, &WaitQueue) {
        (&self.sendq, &self.recvq)
    }

    #[inline]
    fn slot(&self, i: usize) -> *mut u8 {
        self.buf.wrapping_add(i * self.elem_size)
    }

    #[inline]
    fn advance(&self, i: usize) -> usize {
        if i + 1 == self.cap {
            0
        } else {
            i + 1
        }
    }

    /// Hands `elem` to the dequeued receiver `w` and returns the record to
    /// ready once the lock is dropped (Go: `send`).
    ///
    /// # Safety
    /// The lock is held; `w` was just dequeued from `recvq`; `elem` is
    /// readable for `elem_size` bytes.
    #[inline]
    pub(crate) unsafe fn send_to(&self, w: *mut Waiter, elem: *const u8) -> GRef {
        // SAFETY: w is dequeued but its owner still blocked, so it and its
        // destination are valid; the lock orders our writes before the
        // owner's reads (through ready).
        unsafe {
            let dst = (*w).elem.get();
            if !dst.is_null() {
                copy_elem(dst, elem, self.elem_size);
            }
            (*w).success.set(true);
            (*w).gref()
        }
    }

    /// Takes a value for the receiver `elem` from the dequeued sender `w`
    /// (Go: `recv`) and returns the record to ready once the lock is
    /// dropped. On a buffered channel (then full) the receiver gets the
    /// head of the buffer and the sender's element goes to the tail.
    ///
    /// # Safety
    /// The lock is held; `w` was just dequeued from `sendq`; `elem` is null
    /// or writable for `elem_size` bytes.
    #[inline]
    pub(crate) unsafe fn recv_from(&self, w: *mut Waiter, elem: *mut u8) -> GRef {
        // SAFETY: as in send_to; buffer slots are in bounds (invariants).
        unsafe {
            let src = (*w).elem.get();
            if self.cap == 0 {
                if !elem.is_null() {
                    copy_elem(elem, src, self.elem_size);
                }
            } else {
                let r = self.recvx.get();
                let slot = self.slot(r);
                if !elem.is_null() {
                    copy_elem(elem, slot, self.elem_size);
                }
                copy_elem(slot, src, self.elem_size);
                let r = self.advance(r);
                self.recvx.set(r);
                self.sendx.set(r);
            }
            (*w).success.set(true);
            (*w).gref()
        }
    }

    /// Appends `elem` to the buffer.
    ///
    /// # Safety
    /// The lock is held, `qcount < cap`, `elem` readable for `elem_size`.
    #[inline]
    pub(crate) unsafe fn buf_push(&self, elem: *const u8) {
        let s = self.sendx.get();
        // SAFETY: slot s is in bounds and free (invariants).
        unsafe { copy_elem(self.slot(s), elem, self.elem_size) };
        self.sendx.set(self.advance(s));
        let q = self.qcount.load(Ordering::Relaxed);
        self.qcount.store(q + 1, Ordering::Relaxed);
    }

    /// Takes the head of the buffer into `elem` (if not null).
    ///
    /// # Safety
    /// The lock is held, `qcount > 0`, `elem` null or writable.
    #[inline]
    pub(crate) unsafe fn buf_pop(&self, elem: *mut u8) {
        let r = self.recvx.get();
        if !elem.is_null() {
            // SAFETY: slot r is in bounds and full (invariants).
            unsafe { copy_elem(elem, self.slot(r), self.elem_size) };
        }
        self.recvx.set(self.advance(r));
        let q = self.qcount.load(Ordering::Relaxed);
        self.qcount.store(q - 1, Ordering::Relaxed);
    }

    /// Whether the lock holder may buffer one more element.
    #[inline]
    pub(crate) fn has_room(&self) -> bool {
        self.qcount.load(Ordering::Relaxed) < self.cap
    }

    /// Whether the lock holder finds buffered elements.
    #[inline]
    pub(crate) fn has_items(&self) -> bool {
        self.qcount.load(Ordering::Relaxed) > 0
    }

    /// Zeroes a receive destination (a receive from a closed channel).
    ///
    /// # Safety
    /// `elem` is null or writable for `elem_size` bytes.
    #[inline]
    pub(crate) unsafe fn clear(&self, elem: *mut u8) {
        // SAFETY: forwarded contract.
        unsafe { clear_elem(elem, self.elem_size) };
    }

    /// Sets the function called with `arg` when the last reference is
    /// released.
    ///
    /// # Safety
    /// The caller holds the only reference and no pin is shared yet.
    pub(crate) unsafe fn set_release_hook(&self, f: fn(usize), arg: usize) {
        self.release_hook.set(Some((f, arg)));
    }

    /// Adds a pin (see the module docs).
    ///
    /// # Safety
    /// The channel is live and stays so meanwhile: the caller holds a
    /// reference or a pin.
    #[inline]
    pub(crate) unsafe fn pin(c: *const Chan) {
        // SAFETY: forwarded contract.
        unsafe { (*c).pins.fetch_add(1, Ordering::Relaxed) };
    }

    /// Drops a pin; the last one frees the channel.
    ///
    /// # Safety
    /// The caller owns one pin of `c` and does not use `c` afterwards.
    pub(crate) unsafe fn unpin(c: *const Chan) {
        // SAFETY: the caller's pin keeps c alive until this decrement.
        if unsafe { (*c).pins.fetch_sub(1, Ordering::Release) } != 1 {
            return;
        }
        // Order every other unpinner's use of the channel before the free.
        fence(Ordering::Acquire);
        // SAFETY: no pin left: nobody can reach the channel any more.
        unsafe { Chan::free(c) };
    }

    /// # Safety
    /// `c` came from `Chan::new_with_trailer` and is unreachable.
    unsafe fn free(c: *const Chan) {
        // SAFETY: forwarded contract; the layout is the one the allocation
        // was made with (the trailer needs no drop, per new_with_trailer).
        unsafe {
            let layout = (*c).layout;
            ptr::drop_in_place(c as *mut Chan);
            alloc::dealloc(c as *mut u8, layout);
        }
    }
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

/// Adds a reference.
///
/// # Safety
/// The caller holds a reference to `c`.
pub(crate) unsafe fn retain(c: &Chan) {
    if c.refs.fetch_add(1, Ordering::Relaxed) > isize::MAX as usize {
        fatal("channel reference count overflow");
    }
}

/// Drops a reference; the last one frees the channel unless something is
/// blocked on it, which panics `release of channel with blocked
/// goroutines` and keeps the reference.
///
/// # Safety
/// The caller owns a reference to `c` and, unless this panics, gives it up.
pub(crate) unsafe fn release(c: *const Chan) {
    // SAFETY: forwarded contract (the reference keeps c alive).
    match unsafe { drop_ref(c) } {
        Dropped::Kept => {}
        Dropped::AlreadyReleased => go_panic("release of a released channel"),
        Dropped::Blocked => go_panic("release of channel with blocked goroutines"),
    }
}

/// Drops a reference that the runtime holds for one of its objects (a
/// context's `done` channel), never panicking, since it runs wherever that
/// object is freed (a timer firing, another context's release). If
/// goroutines are still blocked on the channel, which only a program that
/// kept using a borrowed channel after its last reference to the owner
/// can cause, the reference is kept: the channel stays allocated and they
/// stay blocked, as on a context that is never cancelled. If the program
/// released the reference already (a borrowed channel released by
/// mistake), nothing happens.
///
/// # Safety
/// `c` is live (the caller holds a pin); the caller's reference, if the
/// program left it, is given up.
pub(crate) unsafe fn release_quiet(c: *const Chan) {
    // SAFETY: forwarded contract (the caller's pin keeps c alive).
    let _ = unsafe { drop_ref(c) };
}

/// What [`drop_ref`] did.
enum Dropped {
    /// Given up (and the channel freed if it was the last reference).
    Kept,
    /// Nothing: no reference was left (it is restored).
    AlreadyReleased,
    /// Nothing: the last reference, but goroutines are blocked on the
    /// channel (it is restored).
    Blocked,
}

/// Gives up one reference to `c`; the last one runs the release hook and
/// frees the channel, unless goroutines are still blocked on it.
///
/// # Safety
/// `c` is live for the duration of the call.
unsafe fn drop_ref(c: *const Chan) -> Dropped {
    // SAFETY: live per the contract.
    let ch = unsafe { &*c };
    let prev = ch.refs.fetch_sub(1, Ordering::AcqRel);
    if prev > 1 {
        return Dropped::Kept;
    }
    if prev == 0 {
        ch.refs.fetch_add(1, Ordering::Relaxed);
        return Dropped::AlreadyReleased;
    }
    ch.lock();
    // SAFETY: lock held.
    let blocked = unsafe { ch.recvq.any_blocked() || ch.sendq.any_blocked() };
    if blocked {
        ch.refs.fetch_add(1, Ordering::Relaxed);
    }
    // SAFETY: lock held.
    unsafe { ch.unlock() };
    if blocked {
        return Dropped::Blocked;
    }
    // refs is 0: this release alone reads the hook.
    if let Some((f, arg)) = ch.release_hook.take() {
        f(arg);
    }
    // SAFETY: the references' pin; nothing of ours touches c afterwards.
    unsafe { Chan::unpin(c) };
    Dropped::Kept
}

#[cfg(test)]
pub(crate) mod tests;
