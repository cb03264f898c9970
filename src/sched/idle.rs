//! Idle Ps and Ms, and waking them (Go: `wakep`, `startm`, `handoffp`,
//! `stopm`, `pidleget`/`pidleput`).
//!
//! See the module docs of `sched`, *Spinning Ms*, for the wake-up
//! protocol. An M with nothing to do parks here: on the idle list,
//! sleeping on its note until it is handed a P; while timers are pending
//! one idle M (the timer M) sleeps only until the next one; while
//! goroutines wait for descriptors one idle M blocks in the poller
//! instead (`poll_as_m`), off the idle list, and serves as the timer M.
//!
//! # Invariants
//!
//! - `Sched::idle` is the only lock taken here; it is never held while
//!   another lock is taken.
//! - A P on the idle list has empty queues; an M on it holds no P.

use super::*;

/// Wakes an idle P if there is one and no M is spinning (Go: `wakep`).
///
/// After pushing to a local run queue no fence is needed: if the check
/// reads a stale "someone is spinning", the worst case is that the owner P
/// runs the goroutine itself later (as in Go). Work pushed to the global queue
/// by a thread without a P has no owner to fall back on, so those paths
/// call [`wakep_after_inject`].
pub(crate) fn wakep() {
    let s = sched();
    if s.npidle.load(Ordering::SeqCst) == 0 || s.nmspinning.load(Ordering::SeqCst) != 0 {
        return;
    }
    if s.nmspinning
        .compare_exchange(0, 1, Ordering::SeqCst, Ordering::Relaxed)
        .is_err()
    {
        return;
    }
    startm(true);
}

/// `wakep` after a push to the global queue: the fence pairs with the one in
/// `find_runnable` after a P goes idle, so either this sees the idle P or
/// that M sees the goroutine.
pub(super) fn wakep_after_inject() {
    fence(Ordering::SeqCst);
    if sched().npidle.load(Ordering::SeqCst) == 0 {
        // Every P is busy, perhaps held by an M blocked in C: let sysmon
        // look now rather than at the end of a long poll interval.
        sysmon::kick();
    }
    wakep();
}

/// Hands an idle P to an idle or new M (Go: `startm`).
pub(super) fn startm(spinning: bool) {
    let s = sched();
    match pidleget() {
        Some(p) => startm_with(p, spinning),
        None => {
            if spinning {
                s.nmspinning.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

/// Hands `p` (owned by the caller) to an idle or new M.
pub(super) fn startm_with(p: &Processor, spinning: bool) {
    let s = sched();
    let m = {
        let mut idle = s.idle.lock();
        let m = idle.ms.pop();
        if m.is_some() {
            s.nmidle.fetch_sub(1, Ordering::Relaxed);
        }
        m
    };
    match m {
        Some(m) => {
            // SAFETY: Ms are never freed.
            let m = unsafe { &*m };
            m.next_spinning.store(spinning, Ordering::Relaxed);
            m.next_p.store(p as *const _ as *mut _, Ordering::Release);
            m.note.notify();
        }
        None => {
            // The M blocked in the poller is idle too: wake it with the P
            // rather than start a thread.
            let pm = s.poll_m.load(Ordering::SeqCst);
            if !pm.is_null()
                && s.poll_m
                    .compare_exchange(pm, ptr::null_mut(), Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
            {
                // SAFETY: Ms are never freed.
                let pm = unsafe { &*pm };
                pm.next_spinning.store(spinning, Ordering::Relaxed);
                pm.next_p.store(p as *const _ as *mut _, Ordering::Release);
                crate::netpoll::wake_poller();
                return;
            }
            newm(p, spinning)
        }
    }
}

/// Passes on a P that its owner will not run (Go: `handoffp`): to an M if
/// there is work for it, otherwise to the idle list.
pub(crate) fn handoffp(p: &Processor) {
    let s = sched();
    if p.has_local_work() || !s.globrunq.is_empty() || s.timers.next_when() <= os::nanotime() {
        startm_with(p, false);
        return;
    }
    // Nobody spinning and no idle P: start a spinning M so that work
    // arriving next is picked up (as Go does).
    if s.nmspinning.load(Ordering::SeqCst) + s.npidle.load(Ordering::SeqCst) == 0
        && s.nmspinning
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
    {
        startm_with(p, true);
        return;
    }
    {
        let mut idle = s.idle.lock();
        pidleput_locked(s, &mut idle, p);
    }
    // Work queued before the P went idle must not be stranded.
    fence(Ordering::SeqCst);
    if !s.globrunq.is_empty() {
        wakep();
    }
}

pub(super) fn pidleget_locked<'a>(s: &'a Sched, idle: &mut IdleLists) -> Option<&'a Processor> {
    let p = idle.ps.pop()?;
    s.npidle.fetch_sub(1, Ordering::SeqCst);
    sysmon::wake_if_sleeping();
    // SAFETY: Ps are never freed.
    let p = unsafe { &*p };
    p.status.store(pstatus::RUNNING, Ordering::Relaxed);
    Some(p)
}

pub(super) fn pidleput_locked(s: &Sched, idle: &mut IdleLists, p: &Processor) {
    debug_assert!(p.runq_empty());
    if p.id >= s.gomaxprocs.load(Ordering::Relaxed) {
        p.status.store(pstatus::DEAD, Ordering::Relaxed);
        return;
    }
    p.status.store(pstatus::IDLE, Ordering::Relaxed);
    idle.ps.push(p);
    s.npidle.fetch_add(1, Ordering::SeqCst);
}

/// Parks `m` until it is handed a P; returns holding one (Go: `stopm`).
/// While timers are pending one idle M sleeps only until the next one.
pub(super) fn stopm(m: &Machine) {
    let s = sched();
    debug_assert!(m.p().is_null());
    // Extra time the busy Ps get to fire a due timer themselves.
    let mut grace = 0;
    loop {
        if crate::netpoll::has_waiters() && crate::netpoll::claim() {
            if poll_as_m(m, &mut grace) {
                return;
            }
            continue;
        }
        s.idle.lock().ms.push(m);
        s.nmidle.fetch_add(1, Ordering::SeqCst);
        checkdead();

        let me = m as *const Machine as *mut Machine;
        let mut deadline = None;
        if s.timers.pending()
            && s.timer_m
                .compare_exchange(ptr::null_mut(), me, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
        {
            deadline = Some(s.timers.next_when().saturating_add(grace));
        }
        m.note.wait(deadline);
        if deadline.is_some() {
            s.timer_m.store(ptr::null_mut(), Ordering::SeqCst);
        }
        if take_handed_p(m) {
            return;
        }

        // Woken without a P: the timer deadline, or a timer kick.
        let mut idle = s.idle.lock();
        match idle.ms.iter().position(|&x| ptr::eq(x, m)) {
            Some(i) => {
                idle.ms.swap_remove(i);
                s.nmidle.fetch_sub(1, Ordering::Relaxed);
                if let Some(p) = pidleget_locked(s, &mut idle) {
                    drop(idle);
                    // find_runnable runs the due timers with this P.
                    m.set_p(p);
                    m.spinning.set(false);
                    return;
                }
                drop(idle);
                // Every P is busy. A P that keeps scheduling fires the due
                // timers itself at its next round, readying the sleepers
                // into its runnext; firing them here would queue them in
                // the global queue behind everything else. So wait out a grace
                // period first, and fire only for Ps that stay stuck (in C
                // code); the readied goroutines then go to the global queue.
                grace = fire_if_stuck(os::nanotime());
            }
            None => {
                // A waker took us off the list and is handing us a P.
                drop(idle);
                loop {
                    m.note.wait(None);
                    if take_handed_p(m) {
                        return;
                    }
                }
            }
        }
    }
}

/// The idle M that blocks in the poller (Go: the blocking `netpoll` of
/// `findRunnable`), also serving as the timer M: it waits for an event,
/// the next timer (plus `grace`, see `stopm`) or a wake-up. Returns true
/// holding a P. It is on no idle list, so nobody hands it a P; it takes
/// an idle one for what it found, or queues the goroutines globally.
pub(super) fn poll_as_m(m: &Machine, grace: &mut i64) -> bool {
    let s = sched();
    let next = s.timers.next_when();
    let until = if next == i64::MAX {
        i64::MAX
    } else {
        next.saturating_add(*grace).max(1)
    };
    let me = m as *const Machine as *mut Machine;
    s.poll_m.store(me, Ordering::SeqCst);
    let gs = crate::netpoll::netpoll(until);
    // Stop being the poll M before giving up the claim: once it is given
    // up another M may claim and become the poll M.
    let handed = s
        .poll_m
        .compare_exchange(me, ptr::null_mut(), Ordering::SeqCst, Ordering::Relaxed)
        .is_err();
    crate::netpoll::unclaim();
    if handed {
        // startm is handing us a P (it cleared poll_m first).
        loop {
            if take_handed_p(m) {
                inject(&gs);
                *grace = 0;
                return true;
            }
            std::hint::spin_loop();
        }
    }
    let now = os::nanotime();
    let timer_due = s.timers.next_when() <= now;
    if gs.is_empty() && !timer_due {
        return false; // woken up, or nothing: look again
    }
    if let Some(p) = pidleget() {
        m.set_p(p);
        m.spinning.set(false);
        // Into p's queue; find_runnable runs the due timers.
        inject(&gs);
        *grace = 0;
        return true;
    }
    inject(&gs);
    if timer_due {
        // Every P is busy: as in stopm.
        *grace = fire_if_stuck(now);
    }
    false
}

/// For an idle M that found a timer due while every P is busy: fires the
/// due timers if they are TIMER_GRACE_NS overdue (the Ps are stuck in C
/// code; the goroutines go to the global queue), and returns the grace to
/// add to its next wait (0 after firing, else TIMER_GRACE_NS: a P that
/// keeps scheduling fires them itself into its runnext meanwhile).
fn fire_if_stuck(now: i64) -> i64 {
    let s = sched();
    if now >= s.timers.next_when().saturating_add(TIMER_GRACE_NS) {
        s.timers.run(now);
        0
    } else {
        TIMER_GRACE_NS
    }
}

pub(super) fn take_handed_p(m: &Machine) -> bool {
    let p = m.take_next_p();
    if p.is_null() {
        return false;
    }
    m.set_p(p);
    m.spinning.set(m.next_spinning.load(Ordering::Relaxed));
    true
}

/// Wakes the timer M after an earlier timer was added, or starts an M that
/// will become it.
pub(crate) fn timer_kick() {
    let s = sched();
    // The M blocked in the poller waits with the next timer as its
    // timeout: wake it to wait again with the new one. The timer M (on the
    // idle list) must hear of it too: the poll M may stop polling (its
    // descriptors are ready) and go idle, leaving the timers to the timer
    // M, which would otherwise keep sleeping to its old deadline.
    let polled = crate::netpoll::poller_blocked();
    if polled {
        crate::netpoll::wake_poller();
    }
    let tm = s.timer_m.load(Ordering::SeqCst);
    if !tm.is_null() {
        // SAFETY: Ms are never freed.
        unsafe { (*tm).note.notify() };
    } else if !polled {
        wakep();
    }
}

pub(super) fn reset_spinning(m: &Machine) {
    m.spinning.set(false);
    sched().nmspinning.fetch_sub(1, Ordering::SeqCst);
    wakep();
}

/// Takes an idle P, if any.
pub(super) fn pidleget() -> Option<&'static Processor> {
    let s = sched();
    if s.npidle.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let mut idle = s.idle.lock();
    pidleget_locked(s, &mut idle)
}
