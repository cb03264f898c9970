//! GOMAXPROCS and the scheduler's counters.

use super::*;

/// Sets GOMAXPROCS to `n` (clamped to 1..=MAX_PROCS); returns the previous
/// value.
pub(crate) fn set_gomaxprocs(n: usize) -> usize {
    let s = sched();
    let n = n.clamp(1, MAX_PROCS);
    let old;
    {
        let mut idle = s.idle.lock();
        old = s.gomaxprocs.swap(n, Ordering::SeqCst);
        if n > old {
            for id in old..n {
                let p = s.ensure_proc(id);
                // A P still RUNNING was pending retirement: its M keeps it.
                if p.status.load(Ordering::Relaxed) == pstatus::DEAD {
                    p.status.store(pstatus::IDLE, Ordering::Relaxed);
                    idle.ps.push(p);
                    s.npidle.fetch_add(1, Ordering::SeqCst);
                }
            }
        } else if n < old {
            let before = idle.ps.len();
            idle.ps.retain(|&p| {
                // SAFETY: Ps are never freed.
                let p = unsafe { &*p };
                if p.id >= n {
                    p.status.store(pstatus::DEAD, Ordering::Relaxed);
                    false
                } else {
                    true
                }
            });
            s.npidle.fetch_sub(before - idle.ps.len(), Ordering::SeqCst);
        }
    }
    if n > old {
        wakep();
    }
    old
}

/// Runtime counters (see `gort_stats`).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Stats {
    /// Live goroutines.
    pub goroutines: i64,
    /// Runtime threads plus foreign threads with attach state.
    pub threads: i64,
    /// Foreign threads with attach state.
    pub foreign_threads: i64,
    /// Runtime threads parked with nothing to run.
    pub idle_threads: i64,
    /// GOMAXPROCS.
    pub procs: i64,
    /// Goroutines created since start.
    pub goroutines_created: i64,
    /// Successful steals since start.
    pub steals: i64,
    /// Goroutine parks since start.
    pub parks: i64,
    /// Ps sysmon took from Ms stuck in C code, since start.
    pub handoffs: i64,
    /// Goroutine waits for descriptor readiness since start.
    pub netpoll_waits: i64,
    /// Timers in the timer heap now.
    pub timers: i64,
}

/// Reads the counters (each exact; together a racy snapshot).
pub(crate) fn stats() -> Stats {
    let s = sched();
    let n = s.nprocs_alloc.load(Ordering::Acquire);
    let mut created = s.global.created.load(Ordering::Relaxed);
    let mut exited = s.global.exited.load(Ordering::Relaxed);
    let mut steals = 0;
    let mut parks = s.global.parks.load(Ordering::Relaxed);
    let mut netpoll_waits = s.global.netpoll_waits.load(Ordering::Relaxed);
    for c in (0..n).filter_map(|id| s.proc(id)).map(|p| &p.counters) {
        created += c.created.load(Ordering::Relaxed);
        exited += c.exited.load(Ordering::Relaxed);
        steals += c.steals.load(Ordering::Relaxed);
        parks += c.parks.load(Ordering::Relaxed);
        netpoll_waits += c.netpoll_waits.load(Ordering::Relaxed);
    }
    let foreign = crate::foreign::attached_threads();
    Stats {
        goroutines: (created - exited).max(0) + crate::foreign::calls_in_progress(),
        threads: s.nthreads.load(Ordering::Relaxed) + foreign,
        foreign_threads: foreign,
        idle_threads: s.nmidle.load(Ordering::Relaxed) as i64,
        procs: s.gomaxprocs.load(Ordering::Relaxed) as i64,
        goroutines_created: created,
        steals,
        parks,
        handoffs: s.global.handoffs.load(Ordering::Relaxed),
        netpoll_waits,
        timers: s.timers.len() as i64,
    }
}

/// Counts a park that took effect: on `p`'s counters when the caller's M
/// holds `p` (no locked instruction: the park path stays as it was),
/// else on the global ones (an M without a P, a foreign thread).
#[inline]
pub(super) fn count_park(p: Option<&Processor>) {
    match p {
        Some(p) => bump(&p.counters.parks),
        None => {
            sched().global.parks.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Counts a goroutine's wait for descriptor readiness (the netpoller
/// calls it just before parking), on the P of the calling M as
/// [`count_park`] does.
pub(crate) fn count_netpoll_wait() {
    with_p(|pp| {
        let s = sched();
        // SAFETY: with_p hands out the P this M holds (or null), and keeps
        // the M inside the runtime so nobody takes it meanwhile.
        match unsafe { pp.as_ref() } {
            Some(p) => bump(&p.counters.netpoll_waits),
            None => {
                s.global.netpoll_waits.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
}

/// Live goroutines (Go: `runtime.NumGoroutine`).
pub(crate) fn num_goroutine() -> i64 {
    stats().goroutines
}
