//! The scheduler loop (Go: `schedule`, `findRunnable`, `execute`,
//! `checkdead`).
//!
//! Each runtime thread loops in [`schedule`]: find a runnable goroutine,
//! resume it, and when it switches back act on what it asked for (yield,
//! park, exit).
//!
//! # Invariants
//!
//! - `find_runnable` returns with the M holding a P.
//! - A goroutine's non-atomic fields are touched only by the M running
//!   it, between `execute`'s resume and the after-switch step.

use super::*;

/// Busy Ps per spinning M at most (Go: `findRunnable`'s `2*sched.nmspinning`).
const BUSY_PS_PER_SPINNING_M: usize = 2;
/// Rounds over the other Ps a spinning M makes to steal (Go: `stealTries`).
const STEAL_TRIES: usize = 4;
/// How long a running P's `runnext` is left to its owner (Go: `runqgrab`'s
/// `usleep(3)`): slept (which timer slack stretches), or spun when no
/// other M idles (see [`steal_runnext`]).
const RUNNEXT_STEAL_DELAY_NS: i64 = 3_000;
/// Spin iterations of a mutex waiter before it sleeps (Go: `active_spin`).
pub(crate) const ACTIVE_SPIN: i32 = 4;
/// Pause instructions per spin iteration (Go: `active_spin_cnt`).
pub(crate) const ACTIVE_SPIN_CNT: u32 = 30;

/// Runs goroutines forever on the calling runtime thread (Go: `schedule`).
/// Runs goroutines on the calling runtime thread (Go: `schedule`) until
/// the thread must end: a goroutine exited while locked to it.
pub(super) fn schedule(m: &'static Machine) {
    let mut next = None;
    loop {
        if next.is_none() && m.p().is_null() {
            // The last goroutine ran without a P (sysmon took it, it
            // blocked in C, or we handed the P to a locked M): wait to be
            // handed one.
            stopm(m);
        }
        let gp = match next.take() {
            Some(g) => g,
            None => find_runnable(m),
        };
        match execute(m, gp) {
            After::Run(g) => next = Some(g),
            After::Schedule => {}
            After::Retire => return,
        }
    }
}

/// What the scheduler loop does after [`execute`].
pub(super) enum After {
    /// Run this goroutine next (the M holds a P).
    Run(GRef),
    /// Find the next goroutine (or wait for a P).
    Schedule,
    /// End this thread: its goroutine exited while locked to it.
    Retire,
}

/// Finds a goroutine to run; returns with `m` holding a P (Go:
/// `findRunnable`).
pub(super) fn find_runnable(m: &Machine) -> GRef {
    let s = sched();
    loop {
        // SAFETY: on entry to each round m holds a P (stopm returns with
        // one), and Ps are never freed.
        let p = unsafe { &*m.p() };
        if p.id >= s.gomaxprocs.load(Ordering::Relaxed) && retire_p(m, p) {
            stopm(m);
            continue;
        }
        s.timers.run_if_due(|| runnext_taken(p));

        let tick = p.tick();
        if tick % GLOBAL_CHECK_INTERVAL == 0 {
            if let Some(g) = globrunqget(p, false) {
                return found(m, p, g);
            }
        }
        if let Some(g) = runqget(p) {
            // runqget started a new slice unless g inherits this one.
            if m.spinning.get() {
                reset_spinning(m);
            }
            return g;
        }
        if let Some(g) = globrunqget(p, true) {
            return found(m, p, g);
        }
        if let Some(g) = take_yield_slot(p) {
            return found(m, p, g);
        }
        // Ready descriptors before stealing (Go: findRunnable's
        // non-blocking netpoll), unless an M blocked in the poller already
        // collects them.
        if crate::netpoll::should_poll() {
            let gs = crate::netpoll::netpoll(0);
            // A gort_fd_ready channel that fired may have readied its
            // receiver into this P's runnext, even with no goroutine in gs.
            if !gs.is_empty() || !p.runq_empty() {
                inject(&gs);
                continue;
            }
        }

        if !m.spinning.get() {
            let busy = s
                .gomaxprocs
                .load(Ordering::Relaxed)
                .saturating_sub(s.npidle.load(Ordering::SeqCst));
            if BUSY_PS_PER_SPINNING_M * s.nmspinning.load(Ordering::SeqCst) < busy {
                m.spinning.set(true);
                s.nmspinning.fetch_add(1, Ordering::SeqCst);
            }
        }
        if m.spinning.get() {
            if let Some(g) = steal_work(m, p) {
                return found(m, p, g);
            }
        }

        // Nothing to do: give up the P.
        let was_spinning = m.spinning.get();
        {
            let mut idle = s.idle.lock();
            pidleput_locked(s, &mut idle, p);
        }
        m.set_p(ptr::null());
        if was_spinning {
            m.spinning.set(false);
            s.nmspinning.fetch_sub(1, Ordering::SeqCst);
        }
        // Pairs with the fence in wakep: a G readied while we were going
        // idle is seen here, or its waker saw our idle P.
        fence(Ordering::SeqCst);
        if !s.globrunq.is_empty() || (was_spinning && any_runq_nonempty(s)) {
            if let Some(p) = pidleget() {
                m.set_p(p);
                if was_spinning {
                    m.spinning.set(true);
                    s.nmspinning.fetch_add(1, Ordering::SeqCst);
                }
                continue;
            }
        }
        stopm(m);
    }
}

/// `g` was found elsewhere than in `p`'s own queues: it starts a new
/// time slice.
#[inline]
pub(super) fn found(m: &Machine, p: &Processor, g: GRef) -> GRef {
    p.new_slice();
    if m.spinning.get() {
        reset_spinning(m);
    }
    g
}

/// Retires `p` (beyond GOMAXPROCS): its goroutines go to the global queue.
/// Returns false if GOMAXPROCS grew back meanwhile.
pub(super) fn retire_p(m: &Machine, p: &Processor) -> bool {
    let s = sched();
    {
        let _idle = s.idle.lock();
        if p.id < s.gomaxprocs.load(Ordering::Relaxed) {
            return false;
        }
        while let Some(g) = runqget(p).or_else(|| take_yield_slot(p)) {
            s.globrunq.push(g);
        }
        p.status.store(pstatus::DEAD, Ordering::Relaxed);
        m.set_p(ptr::null());
    }
    if m.spinning.get() {
        m.spinning.set(false);
        s.nmspinning.fetch_sub(1, Ordering::SeqCst);
    }
    wakep_after_inject();
    true
}

/// Tries to steal from other Ps (Go: `stealWork`). The last round also
/// takes a victim's runnext, after giving its owner a moment to run it.
pub(super) fn steal_work(m: &Machine, p: &Processor) -> Option<GRef> {
    let s = sched();
    let n = s.nprocs_alloc.load(Ordering::Acquire);
    for round in 0..STEAL_TRIES {
        let last = round == STEAL_TRIES - 1;
        let start = (m.rand() % n as u64) as usize;
        for i in 0..n {
            let Some(v) = s.proc((start + i) % n) else {
                continue;
            };
            if ptr::eq(v, p) {
                continue;
            }
            loop {
                // SAFETY: m holds p, so it owns p's queue.
                match v.stealer.steal_batch_and_pop(unsafe { p.runq() }) {
                    Steal::Success(g) => {
                        bump(&p.counters.steals);
                        return Some(g);
                    }
                    Steal::Empty => break,
                    Steal::Retry => continue,
                }
            }
            if last {
                if let Some(g) = steal_runnext(v) {
                    bump(&p.counters.steals);
                    return Some(g);
                }
            }
        }
        if let Some(g) = globrunqget(p, true) {
            return Some(g);
        }
    }
    None
}

pub(super) fn steal_runnext(v: &Processor) -> Option<GRef> {
    let g = v.runnext.load(Ordering::Acquire);
    if g.is_null() {
        return None;
    }
    if v.status.load(Ordering::Relaxed) == pstatus::RUNNING {
        // The owner is probably about to run it (a hand-off in progress):
        // give it a moment first, as Go does.
        if sched().nmidle.load(Ordering::Relaxed) > 0 {
            // Sleep (Go's `usleep(3)`, which the kernel's timer slack
            // stretches to ~50 µs). The sleep also paces this spinning M:
            // while it sleeps it still counts as spinning, so two
            // goroutines handing work to each other on the other P do not
            // wake a thread at every hand-off. Only while another M idles:
            // a P handed off meanwhile (a locked goroutine exited) then
            // finds a thread without creating one.
            os::thread_sleep(RUNNEXT_STEAL_DELAY_NS);
            if v.runnext.load(Ordering::Relaxed) != g {
                return None;
            }
        } else {
            let t0 = os::nanotime();
            while os::nanotime() - t0 < RUNNEXT_STEAL_DELAY_NS {
                std::hint::spin_loop();
                if v.runnext.load(Ordering::Relaxed) != g {
                    return None;
                }
            }
        }
    }
    v.runnext
        .compare_exchange(g, ptr::null_mut(), Ordering::AcqRel, Ordering::Relaxed)
        .ok()
        // SAFETY: runnext only ever holds live Gs.
        .map(|g| unsafe { GRef::from_ptr(g) })
}

/// Runs `gp` on `m` until it switches back, then does what it asked (Go:
/// `execute` plus the `mcall` continuations `gosched_m`, `park_m`,
/// `goexit0`). May return the goroutine to run next.
///
/// # The yield slot
///
/// A goroutine that yields normally goes to the back of the local queue,
/// and the next one is popped from the front; with a stealable queue that
/// pop is a locked instruction, as costly here as the rest of the switch.
/// When no P is idle (so nobody could steal), the yielder may instead wait
/// in the P's private yield slot, behind the local queue: goroutines that
/// yield to each other then switch with no locked instruction at all (see
/// [`yield_next`]). The slot is drained into the queue as soon as a P is
/// idle or global work appears, is consulted before the P looks elsewhere
/// for work, and is emptied when the P retires, so it never hides work
/// from an idle P for longer than the running goroutine's next yield.
pub(super) fn execute(m: &Machine, gp: GRef) -> After {
    let s = sched();
    let g = gp.get();
    let lm = g.locked_m.load(Ordering::Acquire);
    if !lm.is_null() && !ptr::eq(lm, m) {
        // SAFETY: Ms are never freed.
        startlockedm(m, unsafe { &*lm });
        return After::Schedule;
    }
    g.status.store(status::RUNNING, Ordering::Relaxed);
    m.curg.store(gp.as_ptr(), Ordering::Relaxed);
    running::set(gp.as_ptr());
    // SAFETY: gp is RUNNING on this M, which alone touches its coroutine.
    let coro = unsafe { &mut *g.coro.get() };
    if coro.is_none() {
        *coro = Some(new_coro(m, gp, s.stack_size));
    }
    if crate::timeline::on() {
        crate::timeline::slice_start(m, g);
    }
    let errno = m.errno_ptr.get();
    // SAFETY: errno_ptr is this thread's errno slot (set in mstart).
    unsafe { *errno = g.errno.get() };
    // From here until the goroutine switches back, sysmon may take our P.
    m.in_gort.store(false, Ordering::Release);
    g.ctx.begin_run();
    let result = match coro {
        // SAFETY: gp is RUNNING on this M, suspended (it was queued) and
        // not exited; we are on the scheduler stack.
        Some(c) => unsafe { c.resume() },
        None => unreachable!(),
    };
    g.ctx.end_run();
    m.in_gort.store(true, Ordering::Relaxed);
    m::enter_fence();
    // SAFETY: as above; we are back on this M's own thread.
    g.errno.set(unsafe { *errno });
    m.curg.store(ptr::null_mut(), Ordering::Relaxed);
    running::set(ptr::null_mut());
    if crate::timeline::on() {
        crate::timeline::slice_end(m, g, &result);
    }
    let mut pp = m.p();
    if pp.is_null() {
        // The P was taken while the goroutine ran C code; take an idle
        // one if there is one (Go: exitsyscallfast).
        if let Some(p) = pidleget() {
            m.set_p(p);
            pp = p;
        }
    }
    if ptr::eq(m.locked_g.load(Ordering::Relaxed), gp.as_ptr()) {
        return after_locked(m, pp, gp, result);
    }
    if pp.is_null() {
        execute_without_p(gp, result);
        return After::Schedule;
    }
    // SAFETY: m holds pp and is inside the runtime.
    let p = unsafe { &*pp };
    match after_switch(gp, result) {
        Switched::Yielded => {
            return match yield_next(s, p, gp) {
                Some(g) => After::Run(g),
                None => After::Schedule,
            };
        }
        Switched::Parked => count_park(Some(p)),
        Switched::ParkCancelled => runqput(p, gp, true),
        Switched::Exited => gdestroy(Some(p), gp),
    }
    After::Schedule
}

/// The main goroutine ended through `gort_goexit` (set once by program
/// mode, module `init`; never reset: the process has no main goroutine
/// from then on).
static MAIN_GOEXITED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Records that the main goroutine ended through `gort_goexit`.
pub(crate) fn set_main_called_goexit() {
    MAIN_GOEXITED.store(true, Ordering::SeqCst);
}

/// Whether the main goroutine ended through `gort_goexit`: from then on,
/// no goroutine left at all is a deadlock ([`checkdead`]).
fn main_called_goexit() -> bool {
    MAIN_GOEXITED.load(Ordering::SeqCst)
}

/// Program mode: dies with Go's deadlock report if no goroutine can ever
/// run again (Go: `checkdead`): every runtime thread idle (a thread running
/// C code, or inside gort_blocking_enter, is not), no thread in the process
/// but runtime threads (a host thread could still call in and wake
/// something), nothing queued, and either goroutines left and no timer
/// pending, or no goroutine left at all after the main goroutine called
/// gort_goexit. When in doubt it does not report: a false report kills a
/// correct program.
pub(super) fn checkdead() {
    let s = sched();
    if !s.program_mode.load(Ordering::SeqCst) {
        return;
    }
    let idle = s.nmidle.load(Ordering::SeqCst) as i64 + s.nm_locked_idle.load(Ordering::SeqCst);
    if idle < s.nm_alive.load(Ordering::SeqCst) {
        return;
    }
    if !s.globrunq.is_empty() || any_runq_nonempty(s) || crate::foreign::attached_threads_busy() {
        return;
    }
    // No goroutine at all is a deadlock once the main goroutine called
    // gort_goexit; then pending timers cannot wake anybody (Go reports it
    // before looking at timers).
    let none_left = num_goroutine() == 0;
    if (none_left && !main_called_goexit()) || (!none_left && s.timers.pending()) {
        return;
    }
    // Every thread of the process must be ours: runtime threads + sysmon.
    let threads = std::fs::read_dir("/proc/self/task")
        .map(|d| d.count() as i64)
        .unwrap_or(i64::MAX);
    if threads > s.nm_alive.load(Ordering::SeqCst) + 1 {
        return;
    }
    // Re-check after the slow part: still nobody running?
    let idle = s.nmidle.load(Ordering::SeqCst) as i64 + s.nm_locked_idle.load(Ordering::SeqCst);
    if idle < s.nm_alive.load(Ordering::SeqCst)
        || (!none_left && s.timers.pending())
        || !s.globrunq.is_empty()
    {
        return;
    }
    if none_left {
        crate::panic::fatal_alone("no goroutines (main called runtime.Goexit) - deadlock!");
    }
    fatal("all goroutines are asleep - deadlock!");
}

/// The continuation of [`execute`] for an M that lost its P while the
/// goroutine ran and found no idle one (Go: `exitsyscall0`): runnable
/// goroutines go to the global queue, finished ones to the global pools,
/// and the M then waits for a P.
pub(super) fn execute_without_p(gp: GRef, result: Action) {
    match after_switch(gp, result) {
        Switched::Yielded | Switched::ParkCancelled => {
            sched().globrunq.push(gp);
            wakep_after_inject();
        }
        Switched::Parked => count_park(None),
        Switched::Exited => gdestroy(None, gp),
    }
}

/// What a goroutine that switched back to its M turned out to be, once
/// [`after_switch`] did the part common to every continuation.
pub(super) enum Switched {
    /// It yielded: RUNNABLE, to be queued.
    Yielded,
    /// It parked and its unlock callback published it: another thread may
    /// own it already, so it must not be touched.
    Parked,
    /// Its unlock callback cancelled the park: RUNNABLE, to be queued.
    ParkCancelled,
    /// It ended; its stack frames are abandoned and it awaits `gdestroy`.
    Exited,
}

/// The after-switch step (Go: the `mcall` continuations `gosched_m`,
/// `park_m`, `goexit0`), shared by [`execute`], [`execute_without_p`] and
/// `after_locked`: sets the goroutine's status, runs a park's unlock
/// callback on this M's stack, and abandons an exited goroutine's frames.
/// The caller decides where the goroutine goes next.
pub(super) fn after_switch(gp: GRef, result: Action) -> Switched {
    let g = gp.get();
    debug_assert_eq!(
        g.status.load(Ordering::Relaxed),
        status::RUNNING,
        "a goroutine switched back without running"
    );
    let r = match result {
        Action::Yield => {
            g.status.store(status::RUNNABLE, Ordering::Relaxed);
            Switched::Yielded
        }
        Action::Park { unlock, data } => {
            let published = park_status(&g.status, status::RUNNABLE, || {
                // SAFETY: the goroutine is off its stack and unlock/data
                // are the parker's valid pair; once unlock returns true gp
                // may belong to another thread and is not touched again.
                unsafe { unlock(gp, data) }
            });
            if published {
                Switched::Parked
            } else {
                Switched::ParkCancelled
            }
        }
        // The goroutine's frames are abandoned: goexit's contract says
        // nothing on the stack needs dropping.
        Action::Exit => Switched::Exited,
    };
    // Nothing of the runtime may stay held across a switch (STYLE habit
    // 10) but the lock a park's unlock callback just released.
    debug_assert_eq!(
        crate::lock::held::count(),
        0,
        "a runtime lock was held across a goroutine switch (last taken at {:?})",
        crate::lock::held::last_acquired()
    );
    r
}

/// Whether a short active spin is worthwhile (Go: `sync_runtime_canSpin`,
/// minus the iteration limit, [`ACTIVE_SPIN`]): more than one CPU, some
/// other processor busy, and nothing waiting in our own run queue.
pub(crate) fn can_spin() -> bool {
    let s = sched();
    if s.ncpu <= 1 {
        return false;
    }
    let busy_elsewhere = s.gomaxprocs.load(Ordering::Relaxed)
        > s.npidle.load(Ordering::Relaxed) + s.nmspinning.load(Ordering::Relaxed) + 1;
    if !busy_elsewhere {
        return false;
    }
    let p = current_p();
    // SAFETY: Ps are never freed; runq_empty is a racy read any thread may do.
    p.is_null() || unsafe { (*p).runq_empty() }
}

/// Goroutines waiting to run: in the global queue and in every P's local
/// queue, `runnext` and yield slot. Racy; for GORT_TRACE's counters.
pub(crate) fn runnable_count() -> i64 {
    let s = sched();
    let mut n = s.globrunq.len() as i64;
    for id in 0..s.nprocs_alloc.load(Ordering::Acquire) {
        if let Some(p) = s.proc(id) {
            n += p.stealer.len() as i64
                + !p.runnext.load(Ordering::Relaxed).is_null() as i64
                + !p.yield_slot.load(Ordering::Relaxed).is_null() as i64;
        }
    }
    n
}
