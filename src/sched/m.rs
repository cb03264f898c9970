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
//! # Ownership
//!
//! `p`, `curg`, `spinning` belong to the M's own thread. `next_p` and
//! `next_spinning` are written by the M that wakes this one (startm), before
//! it notifies `note`; the note's release/acquire orders them.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use super::g::Goroutine;
use super::p::Processor;
use crate::note::Note;

/// An OS thread of the runtime.
pub struct Machine {
    /// Thread id within the runtime (for names and dumps).
    pub id: i64,
    /// The P held, or null.
    pub p: Cell<*const Processor>,
    /// The goroutine running on this M, or null on g0.
    pub curg: Cell<*mut Goroutine>,
    /// Whether this M is spinning (holding a P, looking for work).
    pub spinning: Cell<bool>,
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
    pub fn new(id: i64, p: *const Processor, spinning: bool) -> Machine {
        Machine {
            id,
            p: Cell::new(p),
            curg: Cell::new(std::ptr::null_mut()),
            spinning: Cell::new(spinning),
            note: Note::new(),
            next_p: AtomicPtr::new(std::ptr::null_mut()),
            next_spinning: AtomicBool::new(false),
            rng: Cell::new(0x9E37_79B9_7F4A_7C15 ^ (id as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9)),
            errno_ptr: Cell::new(std::ptr::null_mut()),
        }
    }

    /// A pseudo-random number (xorshift64*).
    pub fn rand(&self) -> u64 {
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Takes the P handed over by a waker, if any.
    pub fn take_next_p(&self) -> *const Processor {
        self.next_p.swap(std::ptr::null_mut(), Ordering::Acquire)
    }
}

thread_local! {
    static CURRENT_M: Cell<*const Machine> = const { Cell::new(std::ptr::null()) };
}

/// The M running on this thread, or null on a foreign thread.
///
/// Never inlined: see the module docs on migration.
#[inline(never)]
pub fn current_m() -> *const Machine {
    CURRENT_M.with(|c| c.get())
}

/// Binds `m` to the calling thread.
pub fn set_current_m(m: *const Machine) {
    CURRENT_M.with(|c| c.set(m));
}
