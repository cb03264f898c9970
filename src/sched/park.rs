//! Spawning, readying and parking goroutines (Go: `newproc`, `goready`,
//! `injectglist`, `gopark`, `Gosched`, `entersyscallblock`).
//!
//! # Invariants
//!
//! - A goroutine is readied only from WAITING, by a compare-and-swap, so
//!   it is never readied twice ([`ready`], [`inject`]).
//! - [`park`] publishes the goroutine to its waker only from the M's
//!   stack, after the goroutine is off its own (the unlock callback), so
//!   no waker can resume a goroutine that is still running.
//! - A foreign record parks its thread on the record's note and leaves
//!   only after consuming the waker's notification.
//!
//! # The status handshake
//!
//! The status word's part in a park is two functions, used by every park
//! and every ready: [`park_status`] (the parking side: WAITING with a
//! Release store, *then* the unlock callback; a cancelled park goes back
//! to running) and [`ready_status`] (the waker's WAITING -> RUNNABLE
//! compare-and-swap). Because the WAITING store comes before the callback
//! that publishes the goroutine, a waker that found it through that
//! publication sees WAITING, and only one compare-and-swap can move it
//! out of WAITING. loom checks both on a real `Goroutine` (see
//! `loom_tests.rs`); the stack switch around them is stressed on real
//! threads (`tests.rs`).

use super::*;
use crate::sync_shim::AtomicU32;

/// Creates a goroutine running `entry(arg)`; returns its id.
/// Go: `runtime.newproc`.
pub(crate) fn spawn(entry: GoFunc, arg: *mut c_void) -> i64 {
    spawn_from(entry, arg, 0)
}

/// [`spawn`], recording `creator_pc` (a return address in the function
/// that asked for the goroutine) for dumps.
///
/// A goroutine whose P sysmon flagged (`Processor::preempt`: it has run
/// for 10 ms while others wait) yields here, after queuing the new one:
/// a loop of spawns is where Go would preempt it. So does one whose P
/// sysmon took (it ignored the flag, stalled): it is back in the runtime,
/// and yielding gets it a P again (Go's `exitsyscall`) instead of queuing
/// every further spawn globally. Not a goroutine inside
/// gort_blocking_enter/exit, which gave its P up on purpose, nor a
/// foreign thread.
pub(crate) fn spawn_from(entry: GoFunc, arg: *mut c_void, creator_pc: usize) -> i64 {
    let (id, give_way) = with_p(|pp| {
        let id = spawn_with(pp, entry, arg, creator_pc);
        // SAFETY: with_p hands out the P this M holds (or null); Ps are
        // never freed.
        let give_way = match unsafe { pp.as_ref() } {
            Some(p) => p.preempt.load(Ordering::Relaxed),
            None => goroutine_m().is_some_and(|m| !m.blocking.load(Ordering::Relaxed)),
        };
        (id, give_way)
    });
    if give_way {
        gosched();
    }
    id
}

pub(super) fn spawn_with(
    pp: *const Processor,
    entry: GoFunc,
    arg: *mut c_void,
    creator_pc: usize,
) -> i64 {
    let s = sched();
    let gp = gfget(pp);
    let g = gp.get();
    let id = new_goid(pp);
    g.id.store(id, Ordering::Relaxed);
    g.start_fn.store(entry as usize, Ordering::Relaxed);
    g.creator_pc.store(creator_pc, Ordering::Relaxed);
    g.arg.set(arg);
    g.errno.set(0);
    g.wait_reason.store(ptr::null_mut(), Ordering::Relaxed);
    g.counted.store(true, Ordering::Relaxed);
    g.status.store(status::RUNNABLE, Ordering::Relaxed);
    if crate::timeline::on() {
        crate::timeline::spawn(g);
    }
    if pp.is_null() {
        s.global.created.fetch_add(1, Ordering::Relaxed);
        s.globrunq.push(gp);
        wakep_after_inject();
    } else {
        // SAFETY: this M holds pp.
        let p = unsafe { &*pp };
        bump(&p.counters.created);
        runqput(p, gp, true);
        wakep();
    }
    id
}

/// Owner-only increment of a per-P counter (no read-modify-write).
#[inline]
pub(super) fn bump(c: &AtomicI64) {
    c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

pub(super) fn new_goid(pp: *const Processor) -> i64 {
    let s = sched();
    if pp.is_null() {
        return s.goid_gen.fetch_add(1, Ordering::Relaxed) + 1;
    }
    // SAFETY: this M holds pp.
    let p = unsafe { &*pp };
    if p.goid_next.get() == p.goid_end.get() {
        let start = s.goid_gen.fetch_add(GOID_BATCH, Ordering::Relaxed) + 1;
        p.goid_next.set(start);
        p.goid_end.set(start + GOID_BATCH);
    }
    let id = p.goid_next.get();
    p.goid_next.set(id + 1);
    id
}

/// The parking side of the status handshake, once the goroutine is off
/// its stack (or, for a foreign record, on its blocked thread): WAITING,
/// then `unlock`, which publishes the goroutine to exactly one waker
/// (true) or cancels the park (false). A cancelled park is `cancelled`
/// again (RUNNABLE for a goroutine, to be queued; RUNNING for a foreign
/// record). Returns whether the goroutine was published: then another
/// thread may own it already and its status is the waker's.
#[inline(always)]
pub(super) fn park_status(word: &AtomicU32, cancelled: u32, unlock: impl FnOnce() -> bool) -> bool {
    word.store(status::WAITING, Ordering::Release);
    if unlock() {
        return true;
    }
    word.store(cancelled, Ordering::Relaxed);
    false
}

/// The waker's side of the status handshake: WAITING -> RUNNABLE. False,
/// changing nothing, if the goroutine was not waiting.
#[inline(always)]
pub(super) fn ready_status(word: &AtomicU32) -> bool {
    word.compare_exchange(
        status::WAITING,
        status::RUNNABLE,
        Ordering::AcqRel,
        Ordering::Relaxed,
    )
    .is_ok()
}

/// Makes a waiting goroutine runnable. With `next`, it runs next on this P
/// (Go: `goready`, which uses runnext). Any thread may call this, with or
/// without a P; a foreign record's thread is woken instead.
pub(crate) fn ready(gp: GRef, next: bool) {
    let g = gp.get();
    if !ready_status(&g.status) {
        fatal("ready of a goroutine that is not waiting");
    }
    if g.foreign {
        g.note.notify();
        return;
    }
    if crate::timeline::on() {
        crate::timeline::ready(g);
    }
    with_p(|pp| {
        if pp.is_null() {
            sched().globrunq.push(gp);
            wakep_after_inject();
        } else {
            // SAFETY: this M holds pp, inside the runtime.
            runqput(unsafe { &*pp }, gp, next);
            wakep();
        }
    })
}

/// Makes a batch of waiting goroutines runnable (Go: `injectglist`): into
/// this M's local queue if it holds a P, else the global queue, then
/// starts Ms for them once.
pub(crate) fn inject(gs: &[GRef]) {
    if gs.is_empty() {
        return;
    }
    if gs.len() > 1 {
        // Each record is cold, and each status change below is a locked
        // instruction that would wait for its own miss: start them all.
        for &gp in gs {
            prefetch_record(gp.get());
        }
    }
    for &gp in gs {
        let g = gp.get();
        if !ready_status(&g.status) {
            fatal("inject of a goroutine that is not waiting");
        }
        debug_assert!(!g.foreign);
        if crate::timeline::on() {
            crate::timeline::ready(g);
        }
        // The goroutine resumes where it parked, on a stack that has gone
        // cold since: start loading its top while the batch is queued.
        let sp = g.ctx.sp.load(Ordering::Relaxed);
        if sp != 0 {
            crate::os::prefetch(sp);
            crate::os::prefetch(sp + 64);
        }
    }
    with_p(|pp| {
        if pp.is_null() {
            for &gp in gs {
                sched().globrunq.push(gp);
            }
            wakep_after_inject();
        } else {
            for &gp in gs {
                // SAFETY: this M holds pp, inside the runtime.
                runqput(unsafe { &*pp }, gp, false);
            }
            wakep();
        }
    })
}

/// Starts loading the parts of a goroutine's record that readying and
/// resuming it read: its status, its saved context, and what `execute`
/// looks at (its locked M, its coroutine).
#[inline]
fn prefetch_record(g: &Goroutine) {
    crate::os::prefetch(&g.status as *const _ as usize);
    crate::os::prefetch(&g.ctx as *const _ as usize);
    crate::os::prefetch(&g.locked_m as *const _ as usize);
    crate::os::prefetch(g.coro.get() as usize);
}

/// Parks the calling goroutine (Go: `gopark`): it is marked waiting, then
/// `unlock(g, data)` runs once the goroutine is off its stack; if that
/// returns false the park is cancelled. Returns after [`ready`].
///
/// On a foreign thread the thread itself blocks until readied.
///
/// # Safety
/// `unlock` must publish the goroutine to exactly one waker (or return
/// false), and `data` must be valid for it. The caller's frames hold no
/// lock guard other than the one `unlock` releases.
#[inline(always)]
pub(crate) unsafe fn park(unlock: UnlockFn, data: *mut (), reason: &'static &'static str) {
    let g = current_g();
    if g.is_null() {
        // SAFETY: forwarded contract.
        unsafe { park_foreign(unlock, data, reason) };
        return;
    }
    // SAFETY: we run on goroutine g, which is owned by this thread.
    let st = unsafe { (*g).status.load(Ordering::Relaxed) };
    debug_assert_eq!(
        st,
        status::RUNNING,
        "park of a goroutine that is not running"
    );
    // SAFETY: we run on goroutine g, which is owned by this thread.
    unsafe {
        (*g).wait_reason
            .store(reason as *const _ as *mut _, Ordering::Relaxed)
    };
    // SAFETY: on a goroutine; forwarded contract.
    unsafe { switch_to_m(Action::Park { unlock, data }) };
}

pub(super) unsafe fn park_foreign(unlock: UnlockFn, data: *mut (), reason: &'static &'static str) {
    let gp = foreign_g();
    let g = gp.get();
    g.wait_reason
        .store(reason as *const _ as *mut _, Ordering::Relaxed);
    let published = park_status(&g.status, status::RUNNING, || {
        // SAFETY: forwarded contract; the record stays alive while its
        // thread is blocked here.
        unsafe { unlock(gp, data) }
    });
    if !published {
        return;
    }
    count_park(None);
    // Leave only after consuming the waker's notification, never on seeing
    // RUNNABLE alone: the waker touches the record once more after setting
    // the status (the note's swap), and the record is freed when this
    // thread exits. Exactly one notify answers each park, so no token is
    // ever left over for the next park.
    loop {
        g.note.wait(None);
        if g.status.load(Ordering::Acquire) == status::RUNNABLE {
            break;
        }
    }
    g.status.store(status::RUNNING, Ordering::Relaxed);
}

/// Yields the processor (Go: `runtime.Gosched`); a no-op on a foreign
/// thread.
pub(crate) fn gosched() {
    // The running slot (one load through the thread pointer) rather than
    // current_g (a call): it holds the goroutine this thread runs, or a
    // foreign thread's record inside gort_call, which does not yield.
    let g = running::get();
    // SAFETY: a non-null slot names a live record owned by this thread.
    if g.is_null() || unsafe { (*g).foreign } {
        return;
    }
    debug_assert_eq!(g, current_g());
    // SAFETY: we run on goroutine g. No locks are held by this frame.
    unsafe { suspend(g, Action::Yield) };
}

/// Ends the calling goroutine (Go: `runtime.Goexit`, without deferred calls
/// for now). Must run on a goroutine.
///
/// # Safety
/// No frame on the goroutine's stack may own anything that needs dropping:
/// the stack is reclaimed without unwinding.
pub(crate) unsafe fn goexit() -> ! {
    debug_assert!(!current_g().is_null());
    // SAFETY: on a goroutine; the caller guarantees nothing needs dropping.
    unsafe { switch_to_m(Action::Exit) };
    fatal("goexit: a dead goroutine was resumed")
}

/// The calling goroutine is about to block in C (Go: `entersyscall`):
/// if its P has other work, hand the P on now; otherwise keep it, marked
/// as blocked, so that sysmon hands it on as soon as work appears, and an
/// early return takes it back without a locked instruction. A no-op on a
/// foreign thread, and when already blocking.
pub(crate) fn blocking_enter() {
    let Some(m) = goroutine_m() else { return };
    let was = m.enter_runtime();
    let p = m.p();
    if !p.is_null() && !m.blocking.load(Ordering::Relaxed) {
        // SAFETY: m holds p and is inside the runtime.
        let pr = unsafe { &*p };
        // SAFETY: as above.
        if unsafe { pr.has_local_work_owned() } || !sched().globrunq.is_empty() {
            m.set_p(ptr::null());
            handoffp(pr);
        } else {
            m.blocking.store(true, Ordering::Relaxed);
        }
    }
    m.exit_runtime(was);
}

/// The goroutine is back from blocking in C (Go: `exitsyscall`): keep the
/// P if sysmon did not take it, else take an idle one, else wait for one.
pub(crate) fn blocking_exit() {
    let Some(m) = goroutine_m() else { return };
    let was = m.enter_runtime();
    m.blocking.store(false, Ordering::Relaxed);
    if !m.p().is_null() {
        m.exit_runtime(was);
        return;
    }
    if let Some(p) = pidleget() {
        m.set_p(p);
        m.exit_runtime(was);
        return;
    }
    m.exit_runtime(was);
    // No P free: queue ourselves globally; this M then waits for a P.
    gosched();
}
