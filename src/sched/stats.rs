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
}

/// Reads the counters (each exact; together a racy snapshot).
pub(crate) fn stats() -> Stats {
    let s = sched();
    let n = s.nprocs_alloc.load(Ordering::Acquire);
    let mut created = s.global.created.load(Ordering::Relaxed);
    let mut exited = s.global.exited.load(Ordering::Relaxed);
    let mut steals = 0;
    for c in &s.counters[..n] {
        created += c.created.load(Ordering::Relaxed);
        exited += c.exited.load(Ordering::Relaxed);
        steals += c.steals.load(Ordering::Relaxed);
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
    }
}

/// Live goroutines (Go: `runtime.NumGoroutine`).
pub(crate) fn num_goroutine() -> i64 {
    stats().goroutines
}
