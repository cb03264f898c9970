//! `Goroutine` (Go's G): one stackful task.
//!
//! # States and who owns the G in each
//!
//! | status     | meaning                                     | owner (may touch non-atomic fields) |
//! |------------|---------------------------------------------|-------------------------------------|
//! | `IDLE`     | on a free list, not in use                  | the free list's owner               |
//! | `RUNNABLE` | in a run queue, runnext or the global queue | whoever dequeues it                 |
//! | `RUNNING`  | executing on an M                           | that M                              |
//! | `WAITING`  | parked; linked in exactly one wait queue    | the holder of that queue's lock     |
//! | `DEAD`     | finished, being recycled                    | the M that ran it                   |
//!
//! The only cross-thread transition without a lock is `WAITING ->
//! RUNNABLE` in [`super::ready`], done with a compare-and-swap so that a
//! goroutine is never readied twice. Both halves of that handshake are
//! two small functions in `park.rs` (`park_status`, `ready_status`) that
//! the scheduler calls and the loom models check, on a real `status`
//! word: under `--cfg loom` it is loom's atomic (`crate::sync_shim`).
//!
//! A *foreign* G is the record of a thread the runtime did not start (the
//! process main thread, the host's pthreads) while it blocks in a gort call:
//! it sits in wait queues like any goroutine, but parking blocks the thread
//! on the G's [`Note`] and readying notifies it.
//!
//! The stack is attached lazily: a goroutine that has not run yet has no
//! coroutine, so queued goroutines cost only this struct.

use std::cell::{Cell, UnsafeCell};
use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use crate::note::Note;
use crate::sync_shim::AtomicU32;

/// A C entry function: `void fn(void *arg)`.
pub(crate) type GoFunc = unsafe extern "C" fn(*mut c_void);

/// Nanoseconds per minute, for a dump's `, N minutes` (Go: `goroutineheader`'s 60e9).
const NS_PER_MINUTE: i64 = 60_000_000_000;

/// What a goroutine asks its M to do when it switches back to the scheduler.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Action {
    /// Go: `Gosched`. Put the goroutine at the back of the run queue.
    Yield,
    /// Go: `gopark`. Mark the goroutine waiting, then call `unlock(gp,
    /// data)` on the scheduler stack; if it returns false the park is
    /// cancelled and the goroutine runs again at once.
    Park { unlock: UnlockFn, data: *mut () },
    /// Go: `goexit1`. The goroutine is finished; its stack is reclaimed
    /// without unwinding (only C frames and drop-free runtime frames lie on
    /// it).
    Exit,
}

/// Callback run on the scheduler stack after a goroutine has parked.
pub(crate) type UnlockFn = unsafe fn(gp: GRef, data: *mut ()) -> bool;

/// The context behind every goroutine (its stack and switch state).
pub(crate) type Coro = crate::coro::Coro;

/// Goroutine states (see the module table).
pub(crate) mod status {
    /// On a free list.
    pub(crate) const IDLE: u32 = 0;
    /// Queued to run.
    pub(crate) const RUNNABLE: u32 = 1;
    /// Running on an M.
    pub(crate) const RUNNING: u32 = 2;
    /// Parked.
    pub(crate) const WAITING: u32 = 3;
    /// Finished.
    pub(crate) const DEAD: u32 = 4;
}

/// One goroutine (or a foreign thread's wait record).
pub(crate) struct Goroutine {
    /// Goroutine id (> 0); 0 for a foreign record. Atomic (relaxed) only
    /// because dumps read it from other threads.
    pub id: AtomicI64,
    /// One of [`status`]. From `crate::sync_shim`: loom's atomic in the
    /// park/ready models.
    pub status: AtomicU32,
    /// Whether this is a foreign thread's record.
    pub foreign: bool,
    /// Argument passed to the entry function.
    pub arg: Cell<*mut c_void>,
    /// Address of the entry function: the goroutine's first run calls it
    /// (it is a `GoFunc` then); dumps and the timeline name the goroutine
    /// by it (the main goroutine's becomes the program's main function
    /// once it runs).
    pub start_fn: AtomicUsize,
    /// Return address in the function that called `gort_go` (for
    /// `created by`), 0 if unknown.
    pub creator_pc: AtomicUsize,
    /// Top (highest address) of the stack, 0 when it has none. Atomic
    /// (relaxed) because dumps on other threads read it as the bound of a
    /// walk (see [`SavedContext`]). Every goroutine stack has the same
    /// size, so the bottom follows from it ([`Goroutine::stack_lo`]).
    pub stack_hi: AtomicUsize,
    /// The coroutine, created on first run.
    pub coro: UnsafeCell<Option<Coro>>,
    /// errno while the goroutine is switched out.
    pub errno: Cell<i32>,
    /// Foreign records: the blocked thread sleeps on this.
    pub note: Note,
    /// Defer records, frames and panics (owner only; see `crate::panic`).
    pub panic: UnsafeCell<crate::panic::PanicState>,
    /// Whether this is the main goroutine of gort_main.
    pub is_main: Cell<bool>,
    /// Whether the goroutine counts in gort_num_goroutine and dumps
    /// (cleared by [`super::uncount_current`] just before it ends).
    pub counted: AtomicBool,
    /// LockOSThread nesting depth (written by the owner only; atomic so
    /// that dumps may read it).
    pub lock_count: std::sync::atomic::AtomicU32,
    /// The M this goroutine is locked to, or null.
    pub locked_m: AtomicPtr<super::Machine>,
    /// Foreign records: whether the thread is inside gort_call, i.e. the
    /// record is a goroutine (counted, dumped).
    pub in_call: AtomicBool,
    /// What the goroutine waits for, for dumps (points to a static str).
    pub wait_reason: AtomicPtr<&'static str>,
    /// GORT_TRACE: the flow arrow that ends at the goroutine's next slice
    /// (0: none), set by whoever readies or creates it (module `timeline`).
    pub timeline_flow: AtomicU64,
    /// Where the goroutine switched out, for dumps.
    pub ctx: SavedContext,
    /// Since when the goroutine has waited, for the dumps' `, N minutes`:
    /// the census (`sysmon`) stamps a waiting goroutine the first time it
    /// sees it in a park (`wait_seq` is that park's `ctx.seq`), so the
    /// time is late by at most the census period. The low 32 bits of the
    /// sequence: a match that is 2^32 switches stale only misstates the
    /// minutes of a dump.
    pub wait_seq: std::sync::atomic::AtomicU32,
    /// The census's first sighting of the current park (nanotime).
    pub wait_since: AtomicI64,
}

/// Where a goroutine stood when it last switched out (parked or yielded),
/// so a dump on another thread can walk its stack (see `crate::unwind`).
///
/// A sequence lock whose "writer active" mark is the goroutine's status:
/// its M stores `RUNNING` before resuming it (then a release fence, so a
/// reader that saw any write the goroutine made afterwards also sees
/// `RUNNING`), and bumps `seq` (a release store) after the goroutine
/// switched back, having stored the registers just before. A reader loads
/// `seq` (acquire), checks the status is not `RUNNING`, loads the
/// registers and walks the stack, then after an acquire fence checks that
/// `seq` is unchanged and the status still not `RUNNING`: only then does
/// the walk describe a switched-out goroutine. `pc` is 0 when there is
/// nothing to walk (never run, or exiting). The walk's upper bound is the
/// goroutine's `stack_hi`, set when the stack is attached.
#[derive(Debug, Default)]
pub(crate) struct SavedContext {
    pub seq: AtomicUsize,
    pub pc: AtomicUsize,
    pub sp: AtomicUsize,
    pub bp: AtomicUsize,
}

impl SavedContext {
    /// Records the calling goroutine's registers (`regs`, taken in the
    /// frame that is about to switch out). Called by the goroutine itself.
    #[inline(always)]
    pub(crate) fn save(&self, regs: crate::unwind::Regs) {
        self.pc.store(regs.pc, Ordering::Relaxed);
        self.sp.store(regs.sp, Ordering::Relaxed);
        self.bp.store(regs.bp, Ordering::Relaxed);
    }

    /// The goroutine (whose status its M just set to `RUNNING`) is about to
    /// run.
    #[inline(always)]
    pub(crate) fn begin_run(&self) {
        std::sync::atomic::fence(Ordering::Release);
    }

    /// The goroutine has switched out (by its M, after the switch).
    #[inline(always)]
    pub(crate) fn end_run(&self) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Release);
    }

    /// A consistent snapshot of the registers and the stack top (read
    /// from `stack_hi`, the goroutine's), if the goroutine (status word
    /// `status`) is switched out with something to walk, with the sequence
    /// number to [`SavedContext::still`] check after the walk.
    pub(crate) fn read(
        &self,
        status: &AtomicU32,
        stack_hi: &AtomicUsize,
    ) -> Option<(crate::unwind::Regs, usize, usize)> {
        let seq = self.seq.load(Ordering::Acquire);
        if status.load(Ordering::Relaxed) == status::RUNNING {
            return None;
        }
        let regs = crate::unwind::Regs {
            pc: self.pc.load(Ordering::Relaxed),
            sp: self.sp.load(Ordering::Relaxed),
            bp: self.bp.load(Ordering::Relaxed),
        };
        let hi = stack_hi.load(Ordering::Relaxed);
        (regs.pc != 0 && regs.sp < hi).then_some((regs, hi, seq))
    }

    /// Whether the goroutine stayed switched out since
    /// [`SavedContext::read`] returned `seq`.
    pub(crate) fn still(&self, seq: usize, status: &AtomicU32) -> bool {
        std::sync::atomic::fence(Ordering::Acquire);
        self.seq.load(Ordering::Relaxed) == seq && status.load(Ordering::Relaxed) != status::RUNNING
    }
}

// SAFETY: a Goroutine is shared between threads, but its non-atomic fields
// are only touched by the G's current owner as laid out in the module
// table; ownership passes through the run queues and wait-queue locks,
// which provide the needed happens-before edges.
unsafe impl Sync for Goroutine {}
// SAFETY: as above; the coroutine inside is never resumed by two threads at
// once, because only the owning M resumes it.
unsafe impl Send for Goroutine {}

impl std::fmt::Debug for Goroutine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Goroutine")
            .field("id", &self.id.load(Ordering::Relaxed))
            .field("status", &self.status.load(Ordering::Relaxed))
            .field("foreign", &self.foreign)
            .finish()
    }
}

impl Goroutine {
    /// Stops counting the goroutine, returning whether it was counted.
    /// Only the thread that owns the goroutine writes the flag (spawn, the
    /// goroutine itself, its recycling), so a load and a store do: a
    /// locked swap here would wait for the record's other stores, which
    /// miss when the record was last used on another processor.
    #[inline]
    pub(crate) fn take_counted(&self) -> bool {
        let was = self.counted.load(Ordering::Relaxed);
        if was {
            self.counted.store(false, Ordering::Relaxed);
        }
        was
    }

    /// Lowest address of the goroutine's stack mapping (its guard region
    /// starts there), 0 when it has no stack. Async-signal-safe: the fault
    /// handler reads it on the goroutine's own thread.
    pub(crate) fn stack_lo(&self) -> usize {
        match self.stack_hi.load(Ordering::Relaxed) {
            0 => 0,
            hi => hi - super::sched().stack_size - crate::stack::GUARD_SIZE,
        }
    }

    /// The goroutine id.
    #[inline]
    pub(crate) fn goid(&self) -> i64 {
        self.id.load(Ordering::Relaxed)
    }

    /// What the goroutine waits for ("" if nothing recorded).
    pub(crate) fn reason(&self) -> &'static str {
        let r = self.wait_reason.load(Ordering::Relaxed);
        if r.is_null() {
            ""
        } else {
            // SAFETY: only pointers to `&'static str` statics are stored.
            unsafe { *r }
        }
    }

    /// Minutes this goroutine has been waiting in its current park, as
    /// far as the census has seen (0 when unknown or under a minute).
    pub(crate) fn wait_minutes(&self, now: i64) -> i64 {
        if self.status.load(Ordering::Relaxed) != status::WAITING
            || self.wait_seq.load(Ordering::Relaxed) != self.ctx.seq.load(Ordering::Relaxed) as u32
        {
            return 0;
        }
        (now - self.wait_since.load(Ordering::Relaxed)) / NS_PER_MINUTE
    }

    /// The census: stamps the goroutine's current park with `now` the
    /// first time it is seen waiting in it.
    pub(crate) fn census(&self, now: i64) {
        let seq = self.ctx.seq.load(Ordering::Relaxed) as u32;
        if self.status.load(Ordering::Relaxed) == status::WAITING
            && self.wait_seq.load(Ordering::Relaxed) != seq
        {
            self.wait_since.store(now, Ordering::Relaxed);
            self.wait_seq.store(seq, Ordering::Relaxed);
        }
    }

    /// A fresh record.
    pub(crate) fn new(foreign: bool) -> Goroutine {
        Goroutine {
            id: AtomicI64::new(0),
            status: AtomicU32::new(if foreign {
                status::RUNNING
            } else {
                status::IDLE
            }),
            foreign,
            arg: Cell::new(std::ptr::null_mut()),
            start_fn: AtomicUsize::new(0),
            creator_pc: AtomicUsize::new(0),
            stack_hi: AtomicUsize::new(0),
            coro: UnsafeCell::new(None),
            errno: Cell::new(0),
            note: Note::new(),
            wait_reason: AtomicPtr::new(std::ptr::null_mut()),
            panic: UnsafeCell::new(crate::panic::PanicState::new()),
            is_main: Cell::new(false),
            counted: AtomicBool::new(false),
            lock_count: std::sync::atomic::AtomicU32::new(0),
            locked_m: AtomicPtr::new(std::ptr::null_mut()),
            in_call: AtomicBool::new(false),
            timeline_flow: AtomicU64::new(0),
            ctx: SavedContext::default(),
            wait_seq: std::sync::atomic::AtomicU32::new(u32::MAX),
            wait_since: AtomicI64::new(0),
        }
    }
}

/// A pointer to a live goroutine, passed between threads through queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GRef(pub NonNull<Goroutine>);

// SAFETY: ownership of the pointed-to G moves with the GRef (see the
// ownership table); Goroutine is Sync.
unsafe impl Send for GRef {}

impl GRef {
    /// The goroutine.
    #[inline]
    pub(crate) fn get(&self) -> &Goroutine {
        // SAFETY: Gs are never freed while referenced from a queue or a
        // running M (they are recycled through free lists, not dropped).
        unsafe { self.0.as_ref() }
    }

    /// The raw pointer.
    #[inline]
    pub(crate) fn as_ptr(&self) -> *mut Goroutine {
        self.0.as_ptr()
    }

    /// Wraps a non-null pointer.
    ///
    /// # Safety
    /// `p` must point to a live Goroutine.
    #[inline]
    pub(crate) unsafe fn from_ptr(p: *mut Goroutine) -> GRef {
        // SAFETY: the caller guarantees p is non-null and live.
        GRef(unsafe { NonNull::new_unchecked(p) })
    }
}
