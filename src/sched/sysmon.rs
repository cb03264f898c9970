//! sysmon: the runtime's monitor thread (Go: `sysmon`, `retake`).
//!
//! Goroutines here run C code, and C code blocks (`read` on a pipe) or
//! computes for long without calling into gort. Its M keeps its P all that
//! time, starving the P's other goroutines and the timers. sysmon watches
//! the Ps and takes a P away from an M whose goroutine is stuck in C code:
//!
//! - a goroutine that declared itself blocked (`gort_blocking_enter`) loses
//!   its P at sysmon's next look if there is work the P could run (local
//!   queue, global queue, a due timer), and after 10 ms anyway (the P then
//!   goes idle, where new work finds it at once);
//! - a goroutine that runs C code without yielding loses its P when it has
//!   held it for more than 10 ms without a scheduling round and there is
//!   work waiting; sysmon first flags the P (`preempt`), and a goroutine
//!   that calls into the runtime where it can yield (`gort_go`) does so
//!   and keeps its P, so only one that ignores the flag for
//!   `PREEMPT_GRACE_NS` is taken to be stuck in C.
//!
//! The taken P is handed to another M (`handoffp`); the stuck goroutine
//! keeps running on its M, without a P, and gets one back the normal way
//! when it next needs one (see `Machine` for the handshake that makes the
//! taking safe while that goroutine might re-enter the runtime).
//!
//! - a chain of goroutines handing work to each other through `runnext`
//!   (a channel ping-pong) shares one time slice; when the slice has
//!   lasted more than 10 ms while goroutines wait in the P's queue, sysmon
//!   flags the P (`preempt`) and the next hand-off goes to the back of the
//!   queue (Go preempts the running goroutine; here it switches at its next
//!   hand-off anyway).
//!
//! sysmon also fires due timers when every P is busy in C code, gives
//! the memory of stacks that sat unused in the pool back to the kernel
//! (`stack::scavenge`, every two seconds while there are any), and writes
//! the `GORT_DEBUG=schedtrace` reports (`schedtrace.rs`).
//!
//! # Cost when idle
//!
//! sysmon polls every 20 µs while it finds something to do, doubling the
//! interval after 50 quiet rounds up to 10 ms; once every P has been idle
//! for [`NAP_WINDOW_NS`] (idle whenever sysmon looked, and no P scheduled
//! in between) it sleeps on a note until a P becomes busy (or
//! the next scavenge, while idle stacks remain to give back, or the next
//! schedtrace report while schedtrace is on), so an idle process soon has
//! no thread waking up. Within that window it keeps polling, so that a
//! program flipping between idle and busy (a server between requests)
//! does not pay a wake-up call each time a P becomes busy.

use std::sync::atomic::Ordering;

use super::schedtrace::SchedTrace;
use super::{handoffp, sched, Machine};
use crate::config::MAX_PROCS;
use crate::{os, stack};

/// How long a P may go without a scheduling round before sysmon takes it
/// (Go: `retake`'s `10*1000*1000` for a P in a system call).
pub(crate) const FORCE_HANDOFF_NS: i64 = 10_000_000;
/// How long a chain of hand-offs may keep a P while others wait (Go:
/// `forcePreemptNS`).
const FORCE_PREEMPT_NS: i64 = 10_000_000;
/// How long a goroutine that looks stuck in C has, once its P is flagged
/// (`preempt`), to call into the runtime and yield before sysmon takes
/// the P (no Go counterpart: Go preempts the goroutine instead).
const PREEMPT_GRACE_NS: i64 = 1_000_000;
/// sysmon's poll interval while it finds work (Go: sysmon's 20 µs `delay`).
const MIN_DELAY_NS: i64 = 20_000;
/// sysmon's longest poll interval while a P is busy (Go: its 10 ms `delay` cap).
const MAX_DELAY_NS: i64 = 10_000_000;
/// Quiet rounds before the poll interval starts doubling (Go: sysmon's `idle > 50`).
const QUIET_ROUNDS: u32 = 50;
/// A poll interval above which [`kick`] wakes sysmon at once (no Go counterpart).
const KICK_ABOVE_NS: i64 = 4 * MIN_DELAY_NS;
/// How long every P must have been idle before sysmon sleeps until one
/// becomes busy, rather than napping through its poll interval.
const NAP_WINDOW_NS: i64 = 10_000_000;

#[derive(Clone, Copy, Default)]
struct Seen {
    m: i64,
    tick: u32,
    since: i64,
    /// The P's slice counter when last seen to change, and when.
    slice: u32,
    slice_since: i64,
    /// When retake flagged the P of a goroutine that looked stuck in C
    /// (0: not flagged since the P last made progress).
    flagged_at: i64,
}

/// The sysmon thread's body.
pub(crate) fn sysmon_main() {
    let s = sched();
    crate::signals::monitor_started();
    let mut trace = SchedTrace::from_config(os::nanotime());
    let mut seen = vec![Seen::default(); MAX_PROCS];
    // retake's copy of the M list, kept to spare an allocation per round.
    let mut ms = Vec::new();
    let mut delay = MIN_DELAY_NS;
    let mut quiet = 0u32;
    let mut next_scavenge = os::nanotime() + stack::SCAVENGE_PERIOD_NS;
    let mut next_census = os::nanotime() + CENSUS_PERIOD_NS;
    let mut next_rescue = os::nanotime() + RESCUE_PERIOD_NS;
    crate::timeline::sysmon_thread();
    // When sysmon last found a P busy, or found that one had scheduled
    // since its previous look (`ticks`, the Ps' scheduling rounds then).
    let mut last_busy = os::nanotime();
    let mut ticks = sched_ticks();
    loop {
        if let Some(t) = &mut trace {
            // Reports are due whether sysmon is busy or idle: the polling
            // interval never overshoots the next one (nor does the idle
            // sleep, below).
            let to_next = t.tick(os::nanotime());
            delay = delay.min(to_next.max(MIN_DELAY_NS));
        }
        let idle = all_idle();
        let t = sched_ticks();
        if !idle || t != ticks {
            // Busy now, or since the previous look: a server whose Ps all
            // happen to be idle at the moments sysmon looks is still busy.
            last_busy = os::nanotime();
            ticks = t;
        }
        // A program that was busy moments ago (a server between requests)
        // goes idle and busy again thousands of times a second: sysmon
        // naps through its poll interval then, so that a P becoming busy
        // costs its thread no wake-up call (Go's sysmon, too, sleeps on
        // its note only once its poll interval finds every P idle). The
        // naps lengthen at once, so an idle program pays a few of them.
        if idle && os::nanotime() - last_busy >= NAP_WINDOW_NS {
            s.sysmon_sleeping.store(true, Ordering::SeqCst);
            if all_idle() {
                // Whoever waits now may wait long: stamp it before sleeping.
                // The census walks every record, so at most once per
                // IDLE_CENSUS_GAP_NS: sooner than that, wake for it once
                // the gap has passed (a program that goes idle and busy
                // again thousands of times a second walks nothing).
                let now = os::nanotime();
                let census_due = next_census - CENSUS_PERIOD_NS + IDLE_CENSUS_GAP_NS;
                let mut until = None;
                if now >= census_due {
                    next_census = census(now);
                } else {
                    until = Some(census_due);
                }
                // Idle with stacks to give back: wake for the scavenge.
                let until = earliest(until, stack::scavengeable().then_some(next_scavenge));
                let until = SchedTrace::sooner(&trace, until);
                // Trusted descriptor waits must be rescued even when idle.
                let until = earliest(until, rescue_pending().then_some(next_rescue));
                s.sysmon_note.wait(until);
            }
            crate::signals::serve_monitor();
            s.sysmon_sleeping.store(false, Ordering::SeqCst);
            delay = MIN_DELAY_NS;
            quiet = 0;
            scavenge_if_due(&mut next_scavenge);
            rescue_if_due(&mut next_rescue);
            continue;
        }
        s.sysmon_delay.store(delay, Ordering::Relaxed);
        // The poll interval grows to 10 ms, past the rescue's period: wake
        // for the scan while one is due.
        let wake = os::nanotime() + delay;
        let wake = earliest(Some(wake), rescue_pending().then_some(next_rescue));
        s.sysmon_note.wait(wake);
        crate::signals::serve_monitor();
        if os::nanotime() >= next_census {
            next_census = census(os::nanotime());
        }
        scavenge_if_due(&mut next_scavenge);
        rescue_if_due(&mut next_rescue);

        let now = os::nanotime();
        let mut acted = false;
        if crate::timeline::on() {
            crate::timeline::sysmon_tick();
        }
        if s.timers.next_when().saturating_add(super::TIMER_GRACE_NS) <= now
            && s.npidle.load(Ordering::SeqCst) == 0
        {
            // Every P is busy and has let a timer go overdue (stuck in C):
            // fire it; the goroutines go to the global queue, which the
            // retake below serves.
            s.timers.run(now);
            acted = true;
        }
        if crate::netpoll::overdue(now) {
            // Nobody polled for a while (every P busy in C code): collect
            // the ready descriptors; their goroutines go to the global
            // queue, which the retake below serves.
            let gs = crate::netpoll::netpoll(0);
            if !gs.is_empty() {
                super::inject(&gs);
                acted = true;
            }
        }
        acted |= retake(&mut seen, &mut ms, now);
        if acted {
            quiet = 0;
            delay = MIN_DELAY_NS;
        } else {
            quiet += 1;
            // Napping (every P idle), there is nothing to watch closely.
            if quiet > QUIET_ROUNDS || idle {
                delay = (delay * 2).min(MAX_DELAY_NS);
            }
        }
    }
}

/// Bounds a chain of `runnext` hand-offs (Go: `retake`'s `preemptone`
/// for a goroutine that has run for 10 ms): a P whose time slice has
/// lasted FORCE_PREEMPT_NS while goroutines wait in its queue is flagged,
/// and its next hand-off goes to the back of the queue. The goroutines
/// here switch constantly, so the flag is all it takes.
fn preempt_long_slice(p: &super::Processor, e: &mut Seen, now: i64) {
    let slice = p.slicetick.load(Ordering::Relaxed);
    if e.slice != slice || e.slice_since == 0 {
        e.slice = slice;
        e.slice_since = now;
        return;
    }
    if now - e.slice_since > FORCE_PREEMPT_NS
        && !p.preempt.load(Ordering::Relaxed)
        && (p.has_queued_work() || !sched().globrunq.is_empty())
    {
        p.preempt.store(true, Ordering::Relaxed);
    }
}

/// How often sysmon stamps waiting goroutines for the dumps' `, N
/// minutes` (and once more before it sleeps while every P is idle). Go
/// stamps `waitsince` in the garbage collector's stack scan instead.
const CENSUS_PERIOD_NS: i64 = 10_000_000_000;
/// The least time between two censuses taken as sysmon goes idle.
const IDLE_CENSUS_GAP_NS: i64 = 1_000_000_000;

/// Stamps the waiting goroutines (see `Goroutine::census`); returns when
/// the next census is due.
fn census(now: i64) -> i64 {
    super::wait_census(now);
    now + CENSUS_PERIOD_NS
}

/// Gives idle pooled stacks back to the kernel once per period.
fn scavenge_if_due(next: &mut i64) {
    let now = os::nanotime();
    if now >= *next {
        stack::scavenge();
        *next = now + stack::SCAVENGE_PERIOD_NS;
    }
}

// How often sysmon looks for descriptor waits to rescue (see
// `netpoll::Arm::Trusted`).
use crate::netpoll::RESCUE_PERIOD_NS;

/// Whether trusted descriptor waits await a rescue (never with
/// `GORT_DEBUG=fdrescueoff=1`).
fn rescue_pending() -> bool {
    !sched().debug.fdrescueoff && crate::netpoll::rescue_pending()
}

fn rescue_if_due(next: &mut i64) {
    if sched().debug.fdrescueoff {
        return;
    }
    let now = os::nanotime();
    if now >= *next {
        crate::netpoll::rescue();
        *next = now + RESCUE_PERIOD_NS;
    }
}

/// The earlier of two optional deadlines (None: no deadline).
fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// The sum of every P's scheduling rounds (wrapping): it changes
/// whenever some P has scheduled.
fn sched_ticks() -> u32 {
    let s = sched();
    s.procs.iter().filter_map(|p| p.get()).fold(0u32, |acc, p| {
        acc.wrapping_add(p.schedtick.load(Ordering::Relaxed))
    })
}

fn all_idle() -> bool {
    let s = sched();
    s.npidle.load(Ordering::SeqCst) >= s.gomaxprocs.load(Ordering::SeqCst)
}

/// Takes Ps from Ms stuck in C code; returns whether it took any or
/// flagged one to yield.
fn retake(seen: &mut [Seen], ms: &mut Vec<&'static Machine>, now: i64) -> bool {
    let s = sched();
    ms.clear();
    ms.extend_from_slice(&s.allm.lock());
    let mut took = false;
    let mut flagged = false;
    for &m in ms.iter() {
        let p = m.p_unsynced();
        if p.is_null() {
            continue;
        }
        // SAFETY: Ps are never freed; only atomics are read here.
        let pr = unsafe { &*p };
        let e = &mut seen[pr.id];
        preempt_long_slice(pr, e, now);
        if m.in_gort.load(Ordering::Acquire) {
            continue; // in the scheduler: it looks after itself
        }
        let tick = pr.schedtick.load(Ordering::Relaxed);
        if e.m != m.id || e.tick != tick {
            e.m = m.id;
            e.tick = tick;
            e.since = now;
            e.flagged_at = 0;
            continue;
        }
        let stuck = now - e.since;
        let work = pr.has_local_work() || !s.globrunq.is_empty() || s.timers.next_when() <= now;
        let blocking = m.blocking.load(Ordering::Relaxed);
        let take = if blocking {
            work || stuck > FORCE_HANDOFF_NS
        } else if work && stuck > FORCE_HANDOFF_NS {
            // First ask the goroutine to yield: one that calls into the
            // runtime (a loop of gort_go) does so at its next call and
            // keeps its P. Only one that ignores the flag is stuck in C.
            if e.flagged_at == 0 {
                e.flagged_at = now;
                pr.preempt.store(true, Ordering::Relaxed);
                flagged = true;
            }
            now - e.flagged_at >= PREEMPT_GRACE_NS
        } else {
            false
        };
        if take && m.try_retake(p) {
            s.global.handoffs.fetch_add(1, Ordering::Relaxed);
            e.m = 0;
            if crate::timeline::on() {
                crate::timeline::retake(pr.id, m);
            }
            handoffp(pr);
            took = true;
        }
    }
    // A flag set is an act too: look again soon, when the grace is over.
    took || flagged
}

/// Wakes sysmon from its idle sleep (a P became busy).
#[inline]
pub(crate) fn wake_if_sleeping() {
    let s = sched();
    if s.sysmon_sleeping.load(Ordering::SeqCst) {
        s.sysmon_note.notify();
    }
}

/// Cuts sysmon's poll interval short (work was queued while every P is
/// busy, perhaps held by an M blocked in C).
pub(crate) fn kick() {
    let s = sched();
    if s.sysmon_delay.load(Ordering::Relaxed) > KICK_ABOVE_NS {
        s.sysmon_note.notify();
    }
}

/// Wakes sysmon: a trusted descriptor wait has just made the rescue scan
/// due (`netpoll::rescue`), and sysmon may be in a sleep longer than the
/// scan's period (its poll interval grows to 10 ms, an idle spell may have
/// no deadline). Once awake it sleeps no longer than the period while a
/// scan is due.
pub(crate) fn wake_for_rescue() {
    sched().sysmon_note.notify();
}

/// Wakes sysmon now, whatever it is doing (work a signal handler left for
/// it: see `crate::signals`). Async-signal-safe.
pub(crate) fn wake_sysmon() {
    sched().sysmon_note.notify();
}
