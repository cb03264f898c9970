//! The hooks the scheduler, sysmon, the netpoller and `gort_call` call
//! while a session is live (each behind `if timeline::on()`): they append
//! records to the calling M's buffer, or to the shared buffer in threads
//! without an M. See the module `timeline` docs, "Cost", for what a hook
//! costs; the hooks are `#[cold]` and out of line, and inline the small
//! functions here that they share (`p_now`, `record_with_flow`).
//!
//! # Invariants
//!
//! - Hooks never block, switch goroutines or change errno; they take no
//!   lock but the M buffer's own (once per buffer fill) and the shared
//!   buffer's (threads without an M).
//! - A goroutine's `timeline_flow` is written by whoever readies or
//!   creates it, before it is queued, and read and cleared by the M that
//!   runs it next: the run queue hand-off orders the two.

use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};

use super::buffer;
use super::clock::ticks;
use super::record::{flow, kind, who, Rec};
use super::store;
use crate::sched::{self, Action, Goroutine, Machine};

/// Ticks between two samples of the counters by one M (some 30-100 µs).
const SAMPLE_TICKS: u64 = 100_000;
/// sysmon samples the counters at most this often.
const SYSMON_SAMPLE_NS: i64 = 1_000_000;

/// P id + 1 of the P `m` holds (0 if none), and the P's scheduling
/// round.
#[inline(always)]
fn p_now(m: &Machine) -> (u64, u32) {
    let p = m.p();
    if p.is_null() {
        (0, 0)
    } else {
        // SAFETY: Ps are never freed.
        let p = unsafe { &*p };
        (p.id as u64 + 1, p.schedtick.load(Ordering::Relaxed))
    }
}

/// `m` is about to resume `g`.
#[cold]
#[inline(never)]
pub(crate) fn slice_start(m: &Machine, g: &Goroutine) {
    let Some(b) = buffer::mbuf(m) else { return };
    let now = ticks();
    b.slice_ticks.set(now);
    let flow = g.timeline_flow.load(Ordering::Relaxed);
    if flow != 0 {
        g.timeline_flow.store(0, Ordering::Relaxed);
    }
    let entry = g.start_fn.load(Ordering::Relaxed) as u64 & ((1 << 48) - 1);
    let p = p_now(m);
    b.slice_p.set(p);
    b.push(Rec::new(
        now,
        kind::SLICE_START,
        g.goid() as u64,
        entry | (p.0 << 48),
        flow,
    ));
    if now.wrapping_sub(b.last_sample.get()) > SAMPLE_TICKS {
        b.last_sample.set(now);
        let (live, runnable) = counters();
        b.push(Rec::new(now, kind::COUNTERS, live, runnable, 0));
    }
}

/// `g` switched back to `m` with `result`. Called before the scheduler
/// acts on it: a parked goroutine is not yet published to its waker, so
/// its wait reason is still its own.
#[cold]
#[inline(never)]
pub(crate) fn slice_end(m: &Machine, g: &Goroutine, result: &Action) {
    let Some(b) = buffer::mbuf(m) else { return };
    let (k, reason) = match result {
        Action::Yield => (kind::END_YIELD, 0),
        Action::Park { .. } => (
            kind::END_PARK,
            g.wait_reason.load(Ordering::Relaxed) as usize as u64,
        ),
        Action::Exit => (kind::END_EXIT, 0),
    };
    // The slice belongs on its P's track only if the goroutine kept the P
    // throughout: another M that ran the P meanwhile (the goroutine
    // blocked in C code and the P was handed off, then taken back) moved
    // the P's scheduling round on.
    let p = if p_now(m) == b.slice_p.get() {
        b.slice_p.get().0
    } else {
        0
    };
    b.push(Rec::new(ticks(), k, g.goid() as u64, reason, p));
}

/// `g` (not a foreign record) was made runnable by the calling thread.
#[cold]
#[inline(never)]
pub(crate) fn ready(g: &Goroutine) {
    record_with_flow(g, kind::READY, 0, |goid, _entry, flow| (goid, flow, 0));
}

/// `g` was created by the calling thread.
#[cold]
#[inline(never)]
pub(crate) fn spawn(g: &Goroutine) {
    record_with_flow(g, kind::SPAWN, flow::CREATE, |goid, entry, flow| {
        (goid, entry, flow)
    });
}

/// Records a ready or spawn of `g`, with a flow from the running
/// goroutine (if any) that `g`'s next slice ends.
#[inline(always)]
fn record_with_flow(
    g: &Goroutine,
    k: u8,
    flag: u64,
    args: impl Fn(u64, u64, u64) -> (u64, u64, u64),
) {
    let goid = g.goid() as u64;
    let entry = g.start_fn.load(Ordering::Relaxed) as u64;
    let mp = sched::current_m();
    if mp.is_null() {
        // A thread without an M: a flow only from inside gort_call.
        let flow = if crate::foreign::current_call().is_null() {
            0
        } else {
            buffer::shared_flow() | flag
        };
        g.timeline_flow.store(flow, Ordering::Relaxed);
        let (a, b, c) = args(goid, entry, flow);
        buffer::push_shared(thread_kind(), Rec::new(ticks(), k, a, b, c));
        return;
    }
    // SAFETY: Ms are never freed; this is the calling thread's own.
    let m = unsafe { &*mp };
    let Some(b) = buffer::mbuf(m) else { return };
    if m.curg.load(Ordering::Relaxed).is_null() {
        // From the scheduler (timers, the poller): no arrow, an instant.
        g.timeline_flow.store(0, Ordering::Relaxed);
        let (a0, a1, a2) = args(goid, entry, 0);
        b.push(Rec::new(ticks(), k, a0, a1, a2));
        return;
    }
    // From a goroutine: the flow word names the running slice, which is
    // all a ready needs (no record, no clock read: a clock read costs a
    // fifth of a hand-off). A spawn is recorded for its instant, stamped
    // with the slice's start too.
    let t = b.slice_ticks.get();
    let f = flow::from_slice(b.mid(), t) | flag;
    g.timeline_flow.store(f, Ordering::Relaxed);
    if k == kind::SPAWN {
        let (a0, a1, a2) = args(goid, entry, f);
        b.push(Rec::new(t, k, a0, a1, a2));
    }
}

/// sysmon took `p` from `m` (stuck in C code) and handed it off.
#[cold]
#[inline(never)]
pub(crate) fn retake(p: usize, m: &Machine) {
    buffer::push_shared(
        who::SYSMON,
        Rec::new(ticks(), kind::RETAKE, p as u64, m.id as u64, 0),
    );
}

/// One poll of the netpoller readied `n` goroutines.
#[cold]
#[inline(never)]
pub(crate) fn netpoll(n: usize) {
    record_here(Rec::new(ticks(), kind::NETPOLL, n as u64, 0, 0));
}

/// A foreign thread entered its outermost gort_call, as goroutine `g`
/// running `f`.
#[cold]
#[inline(never)]
pub(crate) fn call_enter(g: &Goroutine) {
    buffer::push_shared(
        who::FOREIGN,
        Rec::new(
            ticks(),
            kind::CALL_ENTER,
            g.goid() as u64,
            g.start_fn.load(Ordering::Relaxed) as u64,
            0,
        ),
    );
}

/// The foreign thread's outermost gort_call (goroutine `g`) ended.
#[cold]
#[inline(never)]
pub(crate) fn call_exit(g: &Goroutine) {
    buffer::push_shared(
        who::FOREIGN,
        Rec::new(ticks(), kind::CALL_EXIT, g.goid() as u64, 0, 0),
    );
}

/// Kernel thread id of sysmon (0 until it starts).
static SYSMON_TID: AtomicI32 = AtomicI32::new(0);
/// When sysmon last sampled the counters.
static SYSMON_SAMPLED: AtomicI64 = AtomicI64::new(0);

/// Called once by sysmon when it starts (tracing on or not).
pub(crate) fn sysmon_thread() {
    SYSMON_TID.store(buffer::cached_tid(), Ordering::Relaxed);
}

/// sysmon's round: keeps memory for the records mapped ahead, and
/// samples the counters now and then, so that they move while goroutines
/// run without scheduling (stuck in C code).
#[cold]
#[inline(never)]
pub(crate) fn sysmon_tick() {
    store::prefault();
    let now = crate::os::nanotime();
    if now - SYSMON_SAMPLED.load(Ordering::Relaxed) < SYSMON_SAMPLE_NS {
        return;
    }
    SYSMON_SAMPLED.store(now, Ordering::Relaxed);
    let (live, runnable) = counters();
    buffer::push_shared(
        who::SYSMON,
        Rec::new(ticks(), kind::COUNTERS, live, runnable, 0),
    );
}

/// A new thread took M record `m` (newly made or reused).
#[cold]
#[inline(never)]
pub(crate) fn thread_started(m: &Machine) {
    let b = m.timeline.load(Ordering::Acquire);
    if !b.is_null() {
        // SAFETY: buffers are leaked, never freed.
        unsafe { &*b }.rebind();
    }
}

fn thread_kind() -> u32 {
    if buffer::cached_tid() == SYSMON_TID.load(Ordering::Relaxed) {
        who::SYSMON
    } else {
        who::FOREIGN
    }
}

/// Records `r` in the calling thread's M buffer, or the shared one.
pub(super) fn record_here(r: Rec) {
    let mp = sched::current_m();
    if mp.is_null() {
        buffer::push_shared(thread_kind(), r);
        return;
    }
    // SAFETY: Ms are never freed; this is the calling thread's own.
    if let Some(b) = buffer::mbuf(unsafe { &*mp }) {
        b.push(r);
    }
}

/// Records the counters now, wherever the calling thread records (a
/// session's first and last records).
pub(super) fn record_counters() {
    let (live, runnable) = counters();
    record_here(Rec::new(ticks(), kind::COUNTERS, live, runnable, 0));
}

/// A new session starts: sysmon samples the counters at its next round.
pub(super) fn sysmon_resample() {
    SYSMON_SAMPLED.store(0, Ordering::Relaxed);
}

/// Live and runnable goroutines.
fn counters() -> (u64, u64) {
    (
        sched::num_goroutine().max(0) as u64,
        sched::runnable_count().max(0) as u64,
    )
}
