//! `GORT_DEBUG=schedtrace=MS[,scheddetail=1]`: a periodic report of the
//! scheduler's state on stderr, in Go's format (Go: `schedtrace`).
//!
//! sysmon writes it: every period it calls [`SchedTrace::tick`], and while
//! schedtrace is on its idle sleep has a deadline (the next report) instead
//! of waiting for a P to become busy, so an idle process still reports.
//! Off, nothing changes anywhere: sysmon keeps one `Option` that is `None`.
//!
//! # Format
//!
//! ```text
//! SCHED 2004ms: gomaxprocs=2 idleprocs=0 threads=5 spinningthreads=0 idlethreads=1 runqueue=0 [3 0]
//! ```
//!
//! Time since the report started (the runtime's start, as far as a C
//! host can tell), GOMAXPROCS, idle Ps, runtime threads (sysmon included,
//! foreign threads not), spinning Ms, idle Ms, the global run queue's
//! length, and each P's local queue length. A P's length counts its
//! `runnext` slot and its yield slot with the queue (Go's bracket counts
//! the queue only): everything that P will run before looking elsewhere.
//!
//! With `scheddetail=1` the header ends with Go's detail fields instead of
//! the bracket, and one line per P, per M and per goroutine record
//! follows, as Go prints them:
//!
//! ```text
//! SCHED 0ms: gomaxprocs=2 idleprocs=1 threads=3 spinningthreads=0 idlethreads=0 runqueue=0 gcwaiting=0 nmidlelocked=0 stopwait=0 sysmonwait=0
//!   P0: status=1 schedtick=10 syscalltick=0 m=1 runqsize=0 gfreecnt=0 timerslen=0
//!   M1: p=0 curg=5 mallocing=0 throwing=0 preemptoff= locks=0 dying=0 spinning=false blocked=false lockedg=-1
//!   G5: status=2() m=1 lockedm=-1
//!   G6: status=4(chan receive) m=-1 lockedm=-1
//! ```
//!
//! Status numbers are Go's: P 0 idle, 1 running, 2 syscall (its goroutine
//! declared itself blocked in C), 4 dead; G 1 runnable, 2 running, 3
//! syscall (running C code after its P was taken, or inside
//! `gort_blocking_enter`), 4 waiting (with the wait reason of dumps), 6
//! dead (a recycled record: Go lists dead goroutines too). Fields gort has
//! no counterpart for print Go's idle values: `syscalltick`, `mallocing`,
//! `throwing`, `locks`, `dying`, `gcwaiting`, `stopwait`, `sysmonwait` 0,
//! `preemptoff` empty; `gfreecnt` and `timerslen` print 0 (a P's free
//! list belongs to its M and is not read from here; timers live in one
//! heap, not per P). `blocked=true` marks an M parked with no P and no
//! goroutine. Ms are listed newest first, as Go does; sysmon is no M here.
//!
//! # Consistency
//!
//! Nothing is stopped: every value is read with a relaxed load (or under
//! the short lock of a list), so one report is a racy snapshot, exactly as
//! Go's is. Records of Ps, Ms and goroutines are never freed, so reading
//! them from sysmon is always safe.

use std::fmt::Write as _;

use super::*;

/// Nanoseconds per millisecond (the schedtrace period, `SCHED <ms>ms`).
const NS_PER_MS: i64 = 1_000_000;

/// Go's `_Pidle`.
const GO_PIDLE: u32 = 0;
/// Go's `_Prunning`.
const GO_PRUNNING: u32 = 1;
/// Go's `_Psyscall`: here a P whose goroutine declared itself blocked.
const GO_PSYSCALL: u32 = 2;
/// Go's `_Pdead`: a P beyond GOMAXPROCS, or never made.
const GO_PDEAD: u32 = 4;
/// Go's `_Grunnable`.
const GO_GRUNNABLE: u32 = 1;
/// Go's `_Grunning`.
const GO_GRUNNING: u32 = 2;
/// Go's `_Gsyscall`: here a goroutine blocked in C code, or without a P.
const GO_GSYSCALL: u32 = 3;
/// Go's `_Gwaiting`.
const GO_GWAITING: u32 = 4;
/// Go's `_Gdead`.
const GO_GDEAD: u32 = 6;

/// The schedtrace state sysmon keeps while schedtrace is on.
#[derive(Debug)]
pub(super) struct SchedTrace {
    period_ns: i64,
    detail: bool,
    start: i64,
    /// When the next report is due.
    next: i64,
}

impl SchedTrace {
    /// The state for `GORT_DEBUG`'s settings, or None when schedtrace is
    /// off. The first report is due at once (Go prints `SCHED 0ms` when
    /// the program starts).
    pub(super) fn from_config(now: i64) -> Option<SchedTrace> {
        let d = sched().debug;
        if d.schedtrace_ms == 0 {
            return None;
        }
        let period_ns = i64::try_from(d.schedtrace_ms)
            .unwrap_or(i64::MAX)
            .saturating_mul(NS_PER_MS);
        Some(SchedTrace {
            period_ns,
            detail: d.scheddetail,
            start: now,
            next: now,
        })
    }

    /// `until` (an idle sleep's deadline, None for none), brought forward
    /// to the next report when schedtrace is on.
    pub(super) fn sooner(trace: &Option<SchedTrace>, until: Option<i64>) -> Option<i64> {
        match trace {
            Some(t) => Some(until.map_or(t.next, |u| u.min(t.next))),
            None => until,
        }
    }

    /// Writes a report if one is due at `now`; returns the nanoseconds
    /// until the next one (> 0). A late sysmon skips the reports it
    /// missed rather than writing them in a burst.
    pub(super) fn tick(&mut self, now: i64) -> i64 {
        if now < self.next {
            return self.next - now;
        }
        let text = report((now - self.start) / NS_PER_MS, self.detail);
        os::write_stderr(text.as_bytes());
        self.next = self.next.saturating_add(self.period_ns);
        if self.next <= now {
            self.next = now.saturating_add(self.period_ns);
        }
        self.next - now
    }
}

/// A P's queued goroutines: its queue, `runnext` and yield slot (racy).
fn queued(p: &Processor) -> usize {
    p.stealer.len()
        + usize::from(!p.runnext.load(Ordering::Relaxed).is_null())
        + usize::from(!p.yield_slot.load(Ordering::Relaxed).is_null())
}

/// The P an M holds, if any (`RETAKING` counts as none: sysmon itself is
/// the only one that sets it, and not while it reports).
fn held_p(m: &Machine) -> Option<&'static Processor> {
    let p = m.p_unsynced();
    if p.is_null() || p == m::RETAKING {
        return None;
    }
    // SAFETY: Ps are never freed.
    Some(unsafe { &*p })
}

/// Go's number for a P's state.
fn p_status(p: &Processor, holder: Option<&Machine>) -> u32 {
    match p.status.load(Ordering::Relaxed) {
        pstatus::IDLE => GO_PIDLE,
        pstatus::RUNNING if holder.is_some_and(|m| m.blocking.load(Ordering::Relaxed)) => {
            GO_PSYSCALL
        }
        pstatus::RUNNING => GO_PRUNNING,
        _ => GO_PDEAD,
    }
}

/// Go's number for a goroutine's state and its wait reason; `m` is the M
/// running it, if any.
fn g_status(g: &Goroutine, m: Option<&Machine>) -> (u32, &'static str) {
    match g.status.load(Ordering::Relaxed) {
        status::RUNNABLE => (GO_GRUNNABLE, ""),
        status::RUNNING => match m {
            Some(m) if m.blocking.load(Ordering::Relaxed) || held_p(m).is_none() => {
                (GO_GSYSCALL, "")
            }
            _ => (GO_GRUNNING, ""),
        },
        status::WAITING => (GO_GWAITING, g.reason()),
        _ => (GO_GDEAD, ""),
    }
}

/// An M's id, or -1.
fn mid(m: Option<&Machine>) -> i64 {
    m.map_or(-1, |m| m.id)
}

/// The id of the goroutine behind `g`, or -1 for null.
fn goid_of(g: *const Goroutine) -> i64 {
    // SAFETY: goroutine records are never freed.
    unsafe { g.as_ref() }.map_or(-1, |g| g.goid())
}

/// One report (Go: `schedtrace(detailed)`), `ms` milliseconds in.
pub(super) fn report(ms: i64, detail: bool) -> String {
    let s = sched();
    let mut out = String::with_capacity(256);
    let gomaxprocs = s.gomaxprocs.load(Ordering::Relaxed);
    let _ = write!(
        out,
        "SCHED {ms}ms: gomaxprocs={gomaxprocs} idleprocs={} threads={} spinningthreads={} \
         idlethreads={} runqueue={}",
        s.npidle.load(Ordering::Relaxed),
        s.nthreads.load(Ordering::Relaxed),
        s.nmspinning.load(Ordering::Relaxed),
        s.nmidle.load(Ordering::Relaxed),
        s.globrunq.len(),
    );
    if !detail {
        out.push_str(" [");
        for id in 0..gomaxprocs {
            if id > 0 {
                out.push(' ');
            }
            let n = s.proc(id).map_or(0, queued);
            let _ = write!(out, "{n}");
        }
        out.push_str("]\n");
        return out;
    }
    let _ = writeln!(
        out,
        " gcwaiting=0 nmidlelocked={} stopwait=0 sysmonwait=0",
        s.nm_locked_idle.load(Ordering::Relaxed)
    );
    let ms_all: Vec<&'static Machine> = s.allm.lock().clone();
    let holder = |p: &Processor| {
        ms_all
            .iter()
            .copied()
            .find(|m| held_p(m).is_some_and(|h| ptr::eq(h, p)))
    };
    for id in 0..gomaxprocs {
        let Some(p) = s.proc(id) else {
            let _ = writeln!(
                out,
                "  P{id}: status={GO_PDEAD} schedtick=0 syscalltick=0 m=-1 runqsize=0 gfreecnt=0 \
                 timerslen=0"
            );
            continue;
        };
        let m = holder(p);
        let _ = writeln!(
            out,
            "  P{id}: status={} schedtick={} syscalltick=0 m={} runqsize={} gfreecnt=0 timerslen=0",
            p_status(p, m),
            p.schedtick.load(Ordering::Relaxed),
            mid(m),
            queued(p),
        );
    }
    for m in ms_all.iter().rev() {
        let p = held_p(m);
        let curg = m.curg.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "  M{}: p={} curg={} mallocing=0 throwing=0 preemptoff= locks=0 dying=0 \
             spinning={} blocked={} lockedg={}",
            m.id,
            p.map_or(-1, |p| p.id as i64),
            goid_of(curg),
            m.spinning.get(),
            p.is_none() && curg.is_null(),
            goid_of(m.locked_g.load(Ordering::Relaxed)),
        );
    }
    for gp in all_records() {
        let g = gp.get();
        let m = ms_all
            .iter()
            .copied()
            .find(|m| ptr::eq(m.curg.load(Ordering::Relaxed), gp.as_ptr()));
        let (st, reason) = g_status(g, m);
        let locked = g.locked_m.load(Ordering::Relaxed);
        // SAFETY: Ms are never freed.
        let locked = unsafe { locked.as_ref() };
        let _ = writeln!(
            out,
            "  G{}: status={st}({reason}) m={} lockedm={}",
            g.goid(),
            mid(m),
            mid(locked),
        );
    }
    out
}
