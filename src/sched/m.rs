//! `Machine` (Go's M): an OS thread running the scheduler.
//!
//! A runtime thread's own stack is its scheduler context (Go's g0): the
//! loop in `schedule` runs there and resumes goroutines; every goroutine
//! switch goes goroutine -> g0 -> goroutine.
//!
//! # Thread-local state and migration (DESIGN.md trap 1)
//!
//! The current M is found through a thread-local. A goroutine may resume on
//! a different thread after any switch, and the compiler may keep a TLS
//! address in a register across a call, so code running on a goroutine
//! stack reads the current M only through [`current_m`], a non-inlined
//! function, and never keeps the result across a switch.
//!
//! # Losing the P while a goroutine runs C code (Go: entersyscall/retake)
//!
//! A goroutine that runs C code for long (a blocking read, a long loop)
//! must not keep its P from the other goroutines. sysmon may take the P
//! away from its M while the goroutine runs *user* code, and
//! `gort_blocking_enter` gives it away on purpose. Afterwards the M runs
//! its goroutine without a P (as a foreign thread would), and gets a P back
//! the normal way when the goroutine next needs one.
//!
//! The handshake is an asymmetric Dekker protocol on two words:
//!
//! - `in_gort`: true while the M may touch its P: on the scheduler stack,
//!   and inside gort entry points that use the P. Set with a plain store
//!   and a compiler barrier, then `p` is read.
//! - `p`: the P, null, or [`RETAKING`] while sysmon decides. sysmon
//!   compare-and-swaps `p` to `RETAKING`, executes a process-wide memory
//!   barrier (`membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, which runs a
//!   full fence on every CPU running this process), then reads `in_gort`:
//!   if set, it puts the P back; otherwise it owns the P.
//!
//! The barrier orders sysmon's store before the M's next load of `p`, or
//! the M's store of `in_gort` before sysmon's load, so the two can never
//! both proceed. The M's side therefore costs no locked instruction; the
//! rare retake pays for a system call. Without `membarrier` (old kernels)
//! the M side uses a full fence instead ([`enter_fence`]).
//!
//! # Ownership
//!
//! `spinning`, `errno_ptr`, `rng` belong to the M's own thread
//! (`spinning` is an [`OwnerFlag`] so that schedtrace may read it). `p` is
//! written by the M (always with a compare-and-swap that waits out
//! `RETAKING`) and by sysmon (only from `RETAKING`). `curg` is written by
//! the M and read by others for dumps. `next_p`/`next_spinning` are written
//! by the M that wakes this one (startm) before it notifies `note`.

use std::cell::Cell;
use std::sync::atomic::{compiler_fence, fence, AtomicBool, AtomicPtr, Ordering};

use super::g::Goroutine;
use super::p::Processor;
use crate::note::Note;

/// An OS thread of the runtime.
pub(crate) struct Machine {
    /// Thread id within the runtime (for names and dumps).
    pub id: i64,
    /// The P held, null, or RETAKING (see the module docs).
    p: AtomicPtr<Processor>,
    /// The goroutine running on this M, or null on g0.
    pub curg: AtomicPtr<Goroutine>,
    /// Whether the M may be touching its P (module docs).
    pub in_gort: AtomicBool,
    /// Whether the running goroutine declared itself blocked in C
    /// (`gort_blocking_enter`) while keeping the P.
    pub blocking: AtomicBool,
    /// Whether this M is spinning (holding a P, looking for work).
    /// Written by the M only; read by schedtrace.
    pub spinning: OwnerFlag,
    /// Idle Ms sleep here.
    pub note: Note,
    /// A P handed over by the waker.
    pub next_p: AtomicPtr<Processor>,
    /// Whether the handed-over P comes with the spinning role.
    pub next_spinning: AtomicBool,
    /// xorshift state for steal order.
    pub rng: Cell<u64>,
    /// This thread's errno slot (set when the thread starts; constant for
    /// the thread's life), so switches save and restore errno without a
    /// libc call.
    pub errno_ptr: Cell<*mut i32>,
    /// `pthread_self()` of the thread, set when it starts (0 before), so
    /// that a signal handler can find its M without thread-local storage.
    pub thread: std::sync::atomic::AtomicU64,
    /// Next M in the lock-free list of all Ms (see [`register`]).
    next_all: AtomicPtr<Machine>,
    /// The goroutine locked to this M (LockOSThread), or null.
    pub locked_g: AtomicPtr<Goroutine>,
    /// Whether this M is the process main thread (never exits: wedged).
    pub main_thread: AtomicBool,
    /// This M's GORT_TRACE buffer, made on first use (module `timeline`).
    pub timeline: crate::timeline::MBufPtr,
}

// SAFETY: the Cell fields are only touched by the M's own thread (module
// docs); cross-thread fields are atomics.
unsafe impl Sync for Machine {}
// SAFETY: as above.
unsafe impl Send for Machine {}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine").field("id", &self.id).finish()
    }
}

impl Machine {
    /// A new M holding `p` (may be null).
    pub(crate) fn new(id: i64, p: *const Processor, spinning: bool) -> Machine {
        Machine {
            id,
            p: AtomicPtr::new(p as *mut Processor),
            curg: AtomicPtr::new(std::ptr::null_mut()),
            in_gort: AtomicBool::new(true),
            blocking: AtomicBool::new(false),
            spinning: OwnerFlag::new(spinning),
            note: Note::new(),
            next_p: AtomicPtr::new(std::ptr::null_mut()),
            next_spinning: AtomicBool::new(false),
            rng: Cell::new(0x9E37_79B9_7F4A_7C15 ^ (id as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9)),
            errno_ptr: Cell::new(std::ptr::null_mut()),
            thread: std::sync::atomic::AtomicU64::new(0),
            next_all: AtomicPtr::new(std::ptr::null_mut()),
            locked_g: AtomicPtr::new(std::ptr::null_mut()),
            main_thread: AtomicBool::new(false),
            timeline: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// Readies the record of a retired M (its thread has left it for
    /// good: see `sched::mexit`) for a new thread that will hold `p`. The
    /// id, the random state and the link in the list of all Ms stay.
    pub(crate) fn reuse(&self, p: *const Processor, spinning: bool) {
        debug_assert_eq!(self.thread.load(Ordering::Relaxed), 0);
        self.p.store(p as *mut Processor, Ordering::Relaxed);
        self.curg.store(std::ptr::null_mut(), Ordering::Relaxed);
        self.in_gort.store(true, Ordering::Relaxed);
        self.blocking.store(false, Ordering::Relaxed);
        self.spinning.set(spinning);
        self.next_p.store(std::ptr::null_mut(), Ordering::Relaxed);
        self.next_spinning.store(false, Ordering::Relaxed);
        self.errno_ptr.set(std::ptr::null_mut());
        self.locked_g.store(std::ptr::null_mut(), Ordering::Relaxed);
    }

    /// A pseudo-random number (xorshift64*).
    pub(crate) fn rand(&self) -> u64 {
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// The P held (null if none). Waits out a retake in progress.
    #[inline]
    pub(crate) fn p(&self) -> *const Processor {
        loop {
            let p = self.p.load(Ordering::Acquire);
            if p != RETAKING {
                return p;
            }
            std::hint::spin_loop();
        }
    }

    /// The raw P word, for sysmon (may be RETAKING, which only sysmon sets).
    pub(crate) fn p_unsynced(&self) -> *const Processor {
        self.p.load(Ordering::Acquire)
    }

    /// Sets the P held. Only the M itself calls this, on its own thread.
    pub(crate) fn set_p(&self, new: *const Processor) {
        let mut cur = self.p.load(Ordering::Relaxed);
        loop {
            if cur == RETAKING {
                std::hint::spin_loop();
                cur = self.p.load(Ordering::Relaxed);
                continue;
            }
            match self.p.compare_exchange_weak(
                cur,
                new as *mut Processor,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(c) => cur = c,
            }
        }
    }

    /// sysmon: tries to take `p` from this M while it runs user code.
    /// Returns true if sysmon now owns `p` (the M holds no P).
    pub(crate) fn try_retake(&self, p: *const Processor) -> bool {
        if self
            .p
            .compare_exchange(p as *mut _, RETAKING, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        process_barrier();
        if self.in_gort.load(Ordering::SeqCst) {
            self.p.store(p as *mut _, Ordering::Release);
            return false;
        }
        self.p.store(std::ptr::null_mut(), Ordering::Release);
        true
    }

    /// Marks the M as inside the runtime (may touch its P); returns whether
    /// it already was.
    #[inline]
    pub(crate) fn enter_runtime(&self) -> bool {
        let was = self.in_gort.load(Ordering::Relaxed);
        if !was {
            self.in_gort.store(true, Ordering::Relaxed);
            enter_fence();
        }
        was
    }

    /// Undoes [`Machine::enter_runtime`] given what it returned.
    #[inline]
    pub(crate) fn exit_runtime(&self, was: bool) {
        if !was {
            self.in_gort.store(false, Ordering::Release);
        }
    }

    /// Takes the P handed over by a waker, if any.
    pub(crate) fn take_next_p(&self) -> *const Processor {
        self.next_p.swap(std::ptr::null_mut(), Ordering::Acquire)
    }
}

/// A flag written only by its owner thread that other threads may read
/// for reports (schedtrace): a relaxed atomic, so `get`/`set` compile to
/// a plain load and store, as a `Cell` would.
#[derive(Debug)]
pub(crate) struct OwnerFlag(AtomicBool);

impl OwnerFlag {
    /// A flag set to `b`.
    pub(crate) const fn new(b: bool) -> OwnerFlag {
        OwnerFlag(AtomicBool::new(b))
    }

    /// The value (owner: exact; others: recent).
    #[inline]
    pub(crate) fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Sets the value (owner only).
    #[inline]
    pub(crate) fn set(&self, b: bool) {
        self.0.store(b, Ordering::Relaxed);
    }
}

/// The value of `Machine::p` while sysmon decides whether to take it.
pub(crate) const RETAKING: *mut Processor = 1usize as *mut Processor;

const MEMBARRIER_CMD_QUERY: libc::c_int = 0;
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

/// Whether `membarrier(PRIVATE_EXPEDITED)` is registered and usable.
static MEMBARRIER: AtomicBool = AtomicBool::new(false);

/// Registers this process for private expedited membarrier, if the kernel
/// has it (Linux 4.14+). Called once when the runtime starts, before any
/// runtime thread exists.
pub(crate) fn init_membarrier() {
    // SAFETY: membarrier takes integer arguments only.
    let q = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0) };
    if q > 0 && (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED as libc::c_long) != 0 {
        // SAFETY: as above.
        let r = unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
                0,
                0,
            )
        };
        MEMBARRIER.store(r == 0, Ordering::SeqCst);
    }
}

/// The M side of the handshake, after setting `in_gort`: a compiler
/// barrier when sysmon can use membarrier, a full fence otherwise.
#[inline(always)]
pub(crate) fn enter_fence() {
    if MEMBARRIER.load(Ordering::Relaxed) {
        compiler_fence(Ordering::SeqCst);
    } else {
        fence(Ordering::SeqCst);
    }
}

/// sysmon's side: a full fence on every CPU running this process.
fn process_barrier() {
    fence(Ordering::SeqCst);
    if MEMBARRIER.load(Ordering::Relaxed) {
        let r =
            // SAFETY: membarrier takes integer arguments only.
            unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) };
        if r != 0 {
            crate::panic::fatal("membarrier failed after registration");
        }
    }
    fence(Ordering::SeqCst);
}

/// Head of the list of all M records, newest first. Records are never
/// freed (a retired thread's record is reused by a later thread), so the
/// list can be walked without locks, from a signal handler too.
static ALL_MS: AtomicPtr<Machine> = AtomicPtr::new(std::ptr::null_mut());

/// Adds `m` to the list of all Ms.
pub(crate) fn register(m: &'static Machine) {
    let mp = m as *const Machine as *mut Machine;
    let mut head = ALL_MS.load(Ordering::Acquire);
    loop {
        m.next_all.store(head, Ordering::Relaxed);
        match ALL_MS.compare_exchange_weak(head, mp, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(h) => head = h,
        }
    }
}

/// Every M record, newest first. Lock-free and allocation-free: safe in a
/// signal handler.
pub(crate) fn all() -> impl Iterator<Item = &'static Machine> {
    let mut p = ALL_MS.load(Ordering::Acquire);
    std::iter::from_fn(move || {
        // SAFETY: list entries are leaked Ms, never freed.
        let m = unsafe { p.as_ref() }?;
        p = m.next_all.load(Ordering::Acquire);
        Some(m)
    })
}

/// The M whose thread is `thread` (a `pthread_self()` value), if any.
/// Lock-free and allocation-free: safe in a signal handler.
pub(crate) fn find_by_thread(thread: u64) -> Option<&'static Machine> {
    all().find(|m| m.thread.load(Ordering::Acquire) == thread)
}

thread_local! {
    static CURRENT_M: Cell<*const Machine> = const { Cell::new(std::ptr::null()) };
}

/// The M running on this thread, or null on a foreign thread.
///
/// Never inlined: see the module docs on migration.
#[inline(never)]
pub(crate) fn current_m() -> *const Machine {
    CURRENT_M.with(|c| c.get())
}

/// Binds `m` to the calling thread.
pub(crate) fn set_current_m(m: *const Machine) {
    CURRENT_M.with(|c| c.set(m));
}
