//! Foreign threads: threads the runtime did not start (the process main
//! thread before `gort_main`, the host's pthreads), their attach state, and
//! `gort_call` (Go: `needm`/`dropm`, `cgocallback`).
//!
//! # Attach state
//!
//! A foreign thread that blocks in a gort call, or calls in with
//! `gort_call`, gets a *record*: a `Goroutine` with `foreign` set, which
//! wait queues hold like any goroutine; parking blocks the thread on the
//! record's note. The record is created on first use and kept for the
//! thread's life, so repeated calls cost a thread-local load. It is found
//! through a thread-local pointer and owned by a pthread key whose
//! destructor frees it when the thread exits. POSIX clears the key's value
//! before calling the destructor, so the destructor runs once per record;
//! if a later destructor of the host calls into gort again, a new record is
//! made and the key's destructor runs again for it (the "more than once"
//! of `PTHREAD_DESTRUCTOR_ITERATIONS`, DESIGN.md trap 6).
//!
//! # gort_call
//!
//! `gort_call(fn, arg)` on a foreign thread runs `fn(arg)` as a goroutine
//! locked to the thread, on the thread's own stack: the record gets a
//! goroutine id, counts in `gort_num_goroutine` and appears in dumps while
//! the call runs (Go CL for issue 16631: idle attach state is invisible).
//! Everything inside works as on any locked goroutine: spawning, blocking
//! (which blocks this thread), nested `gort_call` (a frame of its own on
//! the same goroutine). The goroutine runs where the thread already is.
//! Only the fault handler needs the thread's stack bounds (to report an
//! overflow inside the call as a goroutine's stack overflow); they are
//! learned once, at attach, never per call (DESIGN.md trap 10), together
//! with an alternate signal stack for threads that have none (module
//! `signals`).
//!
//! # Invariants
//!
//! - A record is linked in [`REGISTRY`] exactly while its thread holds it.
//! - `in_call` is true exactly while the thread is inside the outermost
//!   `gort_call` (or a `gort_pcall` made outside one); `IN_CALL` counts
//!   such records. A call ends when its outermost frame returns, or when a
//!   thread exit (`pthread_exit`, cancellation) unwinds that frame: the
//!   frame boundary ends it then (module `panic`), and the pthread key
//!   destructor frees the record as the thread finishes exiting.
//!
//! # Waiting for init
//!
//! A thread's outermost call waits for library-mode init after it
//! attached and before it becomes a goroutine (Go's `cgocallbackg` waits
//! for `main_init_done`). Init is module `init`, a layer above this one,
//! so the C entry points hand its wait down as an [`InitGate`]: this
//! module calls it at that point and never imports it.

use std::cell::Cell;
use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;

use crate::lock::Mutex;

use crate::sched::{self, status, GRef, GoFunc, Goroutine};

thread_local! {
    /// This thread's record (no destructor here: the pthread key owns it).
    static RECORD: Cell<*mut Goroutine> = const { Cell::new(ptr::null_mut()) };
}

static KEY: OnceLock<libc::pthread_key_t> = OnceLock::new();

/// Every live record, for dumps and statistics.
static REGISTRY: Mutex<Vec<GRef>> = Mutex::new(Vec::new());

/// Records currently inside gort_call (they count as goroutines).
static IN_CALL: AtomicI64 = AtomicI64::new(0);

fn key() -> libc::pthread_key_t {
    *KEY.get_or_init(|| {
        let mut k: libc::pthread_key_t = 0;
        // SAFETY: k is a valid out-pointer; release has the destructor ABI.
        if unsafe { libc::pthread_key_create(&mut k, Some(release)) } != 0 {
            crate::panic::fatal("pthread_key_create failed");
        }
        k
    })
}

/// The calling foreign thread's record, created on first use.
pub(crate) fn record() -> GRef {
    let p = RECORD.with(|r| r.get());
    if !p.is_null() {
        // SAFETY: non-null records are live until the key destructor runs.
        return unsafe { GRef::from_ptr(p) };
    }
    attach()
}

/// This thread's record if it has one (no allocation).
pub(crate) fn record_if_any() -> *mut Goroutine {
    RECORD.with(|r| r.get())
}

#[cold]
fn attach() -> GRef {
    let p = Box::into_raw(Box::new(Goroutine::new(true)));
    RECORD.with(|r| r.set(p));
    // SAFETY: the key exists; p stays valid until the destructor frees it.
    unsafe { libc::pthread_setspecific(key(), p as *const c_void) };
    // SAFETY: p is non-null and live.
    let gp = unsafe { GRef::from_ptr(p) };
    REGISTRY.lock().push(gp);
    crate::memory::register_thread_locals(false);
    crate::signals::attach_foreign_thread(p);
    gp
}

/// The pthread key destructor: the thread is exiting.
unsafe extern "C" fn release(p: *mut c_void) {
    let g = p as *mut Goroutine;
    if g.is_null() {
        return;
    }
    RECORD.with(|r| {
        if r.get() == g {
            r.set(ptr::null_mut());
        }
    });
    {
        let mut reg = REGISTRY.lock();
        if let Some(i) = reg.iter().position(|x| x.as_ptr() == g) {
            reg.swap_remove(i);
        }
    }
    crate::signals::detach_foreign_thread();
    // SAFETY: allocated by attach with Box::into_raw; the thread is exiting,
    // so the record is in no wait queue and nothing else refers to it.
    drop(unsafe { Box::from_raw(g) });
}

/// Foreign threads holding attach state.
pub(crate) fn attached_threads() -> i64 {
    REGISTRY.lock().len() as i64
}

/// Whether some foreign thread is inside gort_call or blocked in a gort
/// call (it is alive and may still wake something).
pub(crate) fn attached_threads_busy() -> bool {
    REGISTRY.lock().iter().any(|g| {
        let g = g.get();
        g.in_call.load(Ordering::Relaxed) || g.status.load(Ordering::Relaxed) != status::RUNNING
    })
}

/// Foreign threads currently inside gort_call.
pub(crate) fn calls_in_progress() -> i64 {
    IN_CALL.load(Ordering::Relaxed)
}

/// The records of threads inside gort_call (for dumps).
pub(crate) fn calling_records() -> Vec<GRef> {
    REGISTRY
        .lock()
        .iter()
        .copied()
        .filter(|g| g.get().in_call.load(Ordering::Relaxed))
        .collect()
}

/// The calling thread's gort_call goroutine, or null if it is not inside
/// gort_call.
pub(crate) fn current_call() -> *mut Goroutine {
    let p = record_if_any();
    // SAFETY: a non-null record is live and owned by this thread.
    if !p.is_null() && unsafe { (*p).in_call.load(Ordering::Relaxed) } {
        p
    } else {
        ptr::null_mut()
    }
}

/// Library-mode init's wait (module docs, *Waiting for init*): seals init
/// and waits until it is done; cheap once it is.
pub(crate) type InitGate = fn();

/// `gort_call`: runs `f(arg)` in a frame of its own, as a goroutine locked
/// to the calling thread if the thread is not already one; a thread's
/// outermost call passes `init_gate` first.
///
/// Nothing between the caller and `f` owns anything that needs dropping:
/// a thread exit inside `f` unwinds these frames after the frame boundary
/// released the call (module `panic::foreign_unwind`).
///
/// # Safety
/// `f` must be safe to call with `arg` (the C caller's contract).
pub(crate) unsafe fn call(f: GoFunc, arg: *mut c_void, init_gate: InitGate) {
    let cur = sched::current_g();
    if !cur.is_null() {
        // SAFETY: the running goroutine is live; the caller guarantees f
        // may be called with arg.
        unsafe { open_frame(&*cur, f, arg) };
        return;
    }
    let gp = record();
    let g = gp.get();
    if g.in_call.load(Ordering::Relaxed) {
        // SAFETY: as above; a nested call on this thread's goroutine.
        unsafe { open_frame(g, f, arg) };
        return;
    }
    init_gate();
    enter_call(g, f);
    // SAFETY: as above; a panic that reaches the outermost frame is
    // reported.
    unsafe { open_frame(g, f, arg) };
    end_call(g);
}

/// A gort_call frame on `g`, the running goroutine.
///
/// # Safety
/// As for `panic::open_frame`.
unsafe fn open_frame(g: &Goroutine, f: GoFunc, arg: *mut c_void) {
    // SAFETY: forwarded contract.
    unsafe {
        crate::panic::open_frame(g, crate::panic::FrameKind::Call, f, arg, ptr::null_mut(), 0)
    };
}

/// `gort_pcall` on a foreign thread outside gort_call: the thread becomes
/// a goroutine for the call, as in gort_call, and the pcall frame recovers.
/// Out of line and cold, so that a goroutine's `gort_pcall` keeps nothing
/// in callee-saved registers and saves none of them.
///
/// # Safety
/// As for `panic::open_frame`.
#[cold]
#[inline(never)]
pub(crate) unsafe fn pcall_outside_call(
    f: GoFunc,
    arg: *mut c_void,
    msg: *mut std::ffi::c_char,
    msglen: usize,
    init_gate: InitGate,
) -> i32 {
    let gp = record();
    let g = gp.get();
    init_gate();
    enter_call(g, f);
    let r =
        // SAFETY: forwarded contract.
        unsafe { crate::panic::open_frame(g, crate::panic::FrameKind::Pcall, f, arg, msg, msglen) };
    end_call(g);
    r
}

fn enter_call(g: &Goroutine, f: GoFunc) {
    g.id.store(sched::new_goid_global(), Ordering::Relaxed);
    g.start_fn.store(f as usize, Ordering::Relaxed);
    g.creator_pc.store(0, Ordering::Relaxed);
    g.status.store(status::RUNNING, Ordering::Relaxed);
    g.in_call.store(true, Ordering::Relaxed);
    sched::running::set(g as *const Goroutine as *mut Goroutine);
    IN_CALL.fetch_add(1, Ordering::Relaxed);
    if crate::timeline::on() {
        crate::timeline::call_enter(g);
    }
}

/// Ends the thread's outermost gort_call (or pcall outside one): the
/// record stops being a goroutine. Also called when a thread exit unwinds
/// the call's outermost frame.
pub(crate) fn end_call(g: &Goroutine) {
    if crate::timeline::on() {
        crate::timeline::call_exit(g);
    }
    IN_CALL.fetch_sub(1, Ordering::Relaxed);
    g.in_call.store(false, Ordering::Relaxed);
    sched::running::set(ptr::null_mut());
    g.lock_count.store(0, Ordering::Relaxed);
    g.id.store(0, Ordering::Relaxed);
    // SAFETY: our own record; the call is over.
    unsafe { (*g.panic.get()).end_call() };
}
