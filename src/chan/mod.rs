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
//!   ([`sched::park`](crate::sched::park)). The lock is held across the park and released by
//!   the park callback once the goroutine is off its stack (as in
//!   `sync::sema`), so no waker can ready a goroutine that is still
//!   running.
//! - `close` marks the channel closed and readies every waiter: receivers
//!   get a zeroed element and "closed", senders wake up to panic
//!   `send on closed channel`.
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
//! # Panics
//!
//! Misuse panics (`send on closed channel`, `close of closed channel`,
//! `release of channel with blocked goroutines`, ...) are recoverable, and
//! a recovered panic abandons the frames between it and the recovering
//! frame. So every panic is raised after the channel lock was released and
//! with nothing owned that needs dropping, and leaves the channel as it
//! was before the call (a refused release keeps its reference).
//!
//! # Files
//!
//! - this file: [`Chan`] (the fields the invariants above are about), its
//!   constructors and racy accessors, the wait reasons, [`Recv`];
//! - [`wait`]: waiters and their FIFO queues, on their owners' stacks,
//!   and the state a blocked select shares between its waiters;
//! - [`lock`]: the channel lock and the lock order;
//! - [`transfer`]: moving elements under the lock: the ring buffer and
//!   the direct hand-off to a dequeued waiter;
//! - [`ops`]: send, receive, offer and close, parking and waking;
//! - [`lifetime`]: references and pins, the release hook, and freeing.

mod lifetime;
mod lock;
mod ops;
mod transfer;
mod wait;

use std::alloc::{self, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use crate::panic::go_panic;

use lock::ChanLock;
use wait::WaitQueue;

pub(crate) use lifetime::{release, release_quiet, retain};
pub(crate) use ops::{block_forever, close, close_if_open, offer, recv, send};
pub(crate) use wait::{SelectState, Waiter};

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

/// A channel (Go's `hchan`). Created by [`Chan::new`], shared by raw
/// pointer, freed by the last unpin (see [`lifetime`]).
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
    /// The trailer's size and alignment (see [`Chan::new_with_trailer`]),
    /// small so that the record stays small: the allocation's layout is
    /// recomputed from them, `cap` and `elem_size` when it is freed.
    trailer_size: u16,
    trailer_align: u8,
    /// A `gort_timer` channel: reports length and capacity 0, as Go 1.23's
    /// timer channels do (it is synchronous in effect: see `crate::timer`).
    sync_timer: bool,
    /// Next slot to fill / to empty (under the lock).
    sendx: Cell<usize>,
    recvx: Cell<usize>,
    /// Blocked receivers and senders (under the lock).
    recvq: WaitQueue,
    sendq: WaitQueue,
    /// C references (32 bits, so that the record stays small: a count
    /// beyond 2^31 is a fatal error).
    refs: AtomicU32,
    /// See [`lifetime`]: the channel is freed when this reaches 0.
    pins: AtomicU32,
    /// Called once, with the channel's trailer, when the last reference
    /// is released (a `gort_fd_ready` channel cancels its wait, a
    /// `gort_after` channel stops its timer). Set before the channel is
    /// shared; taken by the release that drops `refs` to 0.
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

/// A release hook: called with the channel's trailer when its last
/// reference is released.
pub(crate) type ReleaseHook = fn(*mut u8);

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
        let Some((layout, buf_off, trailer_off)) = Chan::layout(elem_size, cap, trailer) else {
            go_panic("makechan: size out of range")
        };
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
                trailer_size: trailer.size() as u16,
                trailer_align: trailer.align() as u8,
                sync_timer,
                sendx: Cell::new(0),
                recvx: Cell::new(0),
                recvq: WaitQueue::new(),
                sendq: WaitQueue::new(),
                refs: AtomicU32::new(1),
                pins: AtomicU32::new(1),
                release_hook: Cell::new(None),
            })
        };
        // SAFETY: the trailer's offset is inside the allocation.
        (c, unsafe { p.add(trailer_off) })
    }

    /// The allocation of a channel (the `Chan`, its buffer, its trailer)
    /// and the buffer's and the trailer's offsets in it; None if it cannot
    /// exist. An empty buffer adds no padding: an unbuffered channel costs
    /// the record alone.
    fn layout(elem_size: usize, cap: usize, trailer: Layout) -> Option<(Layout, usize, usize)> {
        let bytes = elem_size.checked_mul(cap)?;
        if bytes > MAX_BUF || elem_size > isize::MAX as usize {
            return None;
        }
        // The record keeps the trailer's layout in 24 bits.
        assert!(trailer.size() <= u16::MAX as usize && trailer.align() <= u8::MAX as usize);
        let align = if bytes == 0 { 1 } else { BUF_ALIGN };
        let buf = Layout::from_size_align(bytes, align).ok()?;
        let (layout, buf_off) = Layout::new::<Chan>().extend(buf).ok()?;
        let (layout, trailer_off) = layout.extend(trailer).ok()?;
        Some((layout.pad_to_align(), buf_off, trailer_off))
    }

    /// The layout the channel was allocated with, and its trailer's
    /// offset.
    fn alloc_layout(&self) -> (Layout, usize) {
        let trailer =
            Layout::from_size_align(self.trailer_size as usize, self.trailer_align as usize);
        let l = trailer
            .ok()
            .and_then(|t| Chan::layout(self.elem_size, self.cap, t));
        let (layout, _, trailer_off) = l.expect("a channel's layout was valid when it was made");
        (layout, trailer_off)
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
}

#[cfg(test)]
pub(crate) mod tests;
