//! The M:N scheduler (Go: `runtime/proc.go`).
//!
//! # Model
//!
//! GOMAXPROCS processors (Ps) each own a FIFO run queue and a `runnext`
//! slot. OS threads (Ms) run goroutines (Gs) while holding a P. A global
//! run queue (`globrunq`) takes goroutines made runnable by threads that
//! hold no P (foreign threads, timer expiry on an idle M), the older half of
//! a local queue that reached LOCAL_QUEUE_MAX, and the queues of retired
//! Ps. Idle Ms steal half of another P's queue.
//!
//! Each M loops in [`schedule`] on its own thread stack: find a runnable G
//! ([`find_runnable`]), resume it ([`execute`]), and when the G switches
//! back (it yields, parks, or ends) act on what it asked for. Switching
//! always goes through the M's stack, as Go's `mcall` does; this is what
//! makes "park, then release the lock" safe: the lock that protects a wait
//! queue is released only after the G is off its stack, so no waker can
//! resume a G that is still running.
//!
//! # Spinning Ms (Go's wake-up protocol)
//!
//! Making a G runnable calls [`wakep`]: if some P is idle and no M is
//! spinning, it hands an idle P to an idle (or new) M in the *spinning*
//! state. A spinning M looks for work (local, global, stealing); when it
//! finds some it stops spinning and calls `wakep` again, so Ms are started
//! one at a time as long as there is work, and never all at once. At most
//! half the busy Ps' worth of Ms spin. An M that gives up its P re-checks
//! the queues *after* publishing itself idle (sequentially consistent
//! fences on both sides), so a G readied concurrently is never stranded:
//! either the waker sees the idle P and starts an M, or the M sees the G.
//!
//! # Fairness (Go: `runqget`'s `inheritTime`, `retake`)
//!
//! A goroutine readied by a hand-off (a channel, a semaphore, a timer, a
//! spawn) goes to `runnext` and runs next: that is what makes a ping-pong
//! cheap, and it inherits the running *time slice* (`Processor::slicetick`
//! counts slices; only a goroutine taken from elsewhere starts one). So
//! two goroutines handing work to each other share one slice, and once it
//! has lasted 10 ms while others wait, sysmon sets the P's `preempt` flag
//! and the next `runnext` goroutine joins the back of the queue instead
//! ([`runqget`]). Every GLOBAL_CHECK_INTERVAL rounds one goroutine comes
//! from the global queue first. The local queue holds LOCAL_QUEUE_MAX
//! goroutines; beyond that its older half moves to the global queue
//! ([`runqputslow`]), which keeps the newest work local (a spawn tree runs
//! close to depth-first, with few goroutines started and blocked at once).
//!
//! # Timers
//!
//! One timer heap ([`crate::time`]). Ms holding a P fire due timers at
//! every scheduling round, until one readies a goroutine into the P's
//! `runnext` (the rest wait for the next rounds, ahead of the queue); when
//! an M goes idle while timers are pending, one of them (the *timer M*)
//! sleeps on its note with a deadline, so no thread is spent per timer and
//! an idle process with no timers sleeps indefinitely. The timer M (and
//! sysmon) fire timers themselves only when every P has let one go
//! TIMER_GRACE_NS overdue (stuck in C code): their goroutines then go to
//! the global queue.
//!
//! # GOMAXPROCS changes
//!
//! Growing makes more Ps idle and wakes an M. Shrinking marks the idle Ps
//! beyond the new count dead at once; a P beyond the count that is held by
//! an M is retired by that M at its next scheduling round (its queue moves
//! to the global queue). Until then the old count may briefly be exceeded, as
//! with Go's stop-the-world, which also waits for a preemption point.
//!
//! # Locks
//!
//! `Sched::idle` (idle Ps and Ms) is the only scheduler lock, taken when an
//! M goes idle or is woken, never on the run/ready fast paths. Lock order:
//! a wait-queue lock (semaphore bucket) may be held while taking `idle`
//! (through `ready`); `idle` is never held while taking another lock except
//! the timer heap (never: timers are run without `idle`).
//!
//! # Invariants
//!
//! - A P is in exactly one of: the idle list (IDLE, queues empty), held by
//!   one M (RUNNING), or dead (DEAD, queues empty, id >= GOMAXPROCS).
//! - An M is either on the idle list (sleeping on its note, no P), or holds
//!   a P, or is between the two inside `stopm`/`find_runnable`.
//! - `nmspinning` equals the number of Ms with `spinning` set, plus a
//!   reservation taken by `wakep` for an M being started.

mod current;
pub(crate) mod g;
mod gfree;
mod globrunq;
mod idle;
mod lockthread;
#[cfg(all(test, loom))]
mod loom_tests;
pub(crate) mod m;
mod mstart;
pub(crate) mod p;
mod park;
pub(crate) mod running;
mod runq;
mod schedtrace;
mod schedule;
mod stats;
pub(crate) mod sysmon;
#[cfg(test)]
mod tests;

pub(crate) use current::*;
pub(crate) use gfree::*;
pub(crate) use idle::*;
pub(crate) use lockthread::*;
pub(crate) use mstart::*;
pub(crate) use park::*;
use runq::*;
pub(crate) use schedule::*;
pub(crate) use stats::*;

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{fence, AtomicI64, AtomicPtr, AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::lock::Mutex;
use crossbeam_deque::Steal;

pub(crate) use g::{status, Action, GRef, GoFunc, Goroutine, UnlockFn};
pub(crate) use m::{current_m, Machine};
pub(crate) use p::{pstatus, Processor};

use crate::config::{Config, MAX_PROCS};
use crate::os;
use crate::panic::fatal;
use crate::stack;
use crate::time::Timers;

/// Goroutine ids handed to a P at a time (Go: `_GoidCacheBatch`).
const GOID_BATCH: i64 = 16;
/// Goroutines a P's local queue holds before half of them move to the
/// global queue (Go: the 256-entry `runq`).
const LOCAL_QUEUE_MAX: usize = 256;
/// Every this many rounds an M looks at the global queue first, for
/// fairness (Go: `findRunnable`'s `pp.schedtick%61 == 0`).
const GLOBAL_CHECK_INTERVAL: u32 = 61;
/// How long past its deadline a timer is left to the Ps' own scheduling
/// rounds before an idle M or sysmon fires it (and queues its goroutine
/// globally) because every P is stuck (no Go counterpart: Go's Ms
/// preempt).
pub(crate) const TIMER_GRACE_NS: i64 = 1_000_000;
/// Stack size of a runtime thread (its scheduler context; goroutines run on
/// their own stacks). Go: the g0 stack `allocm` gives an M.
const M_STACK_SIZE: usize = 256 * 1024;

/// Idle Ps and Ms, under `Sched::idle`.
#[derive(Debug, Default)]
struct IdleLists {
    ps: Vec<*const Processor>,
    ms: Vec<*const Machine>,
}

// SAFETY: the pointers are to leaked, never-freed Ps and Ms; the list is
// only touched under its mutex.
unsafe impl Send for IdleLists {}

/// Scheduler counters, summed on read: one set in each P
/// (`Processor::counters`), written only by the M holding it (`bump`: a
/// load and a store, no locked instruction), and the global set
/// (`Sched::global`) for what happens without a P, with atomic adds (off
/// the hot paths: foreign threads, Ms that lost their P, sysmon).
#[derive(Debug, Default)]
pub(super) struct Counters {
    created: AtomicI64,
    exited: AtomicI64,
    steals: AtomicI64,
    /// Goroutine parks that took effect (a cancelled park is not one).
    parks: AtomicI64,
    /// Parks waiting for descriptor readiness (also counted in parks).
    netpoll_waits: AtomicI64,
    /// Ps sysmon took from Ms stuck in C code (global set only).
    handoffs: AtomicI64,
}

/// The scheduler's global state.
pub(crate) struct Sched {
    procs: Box<[OnceLock<Box<Processor>>]>,
    /// Ps allocated so far (a high-water mark; ids below it exist).
    nprocs_alloc: AtomicUsize,
    /// GOMAXPROCS.
    pub gomaxprocs: AtomicUsize,
    /// The global run queue.
    globrunq: globrunq::GlobalRunq,
    idle: Mutex<IdleLists>,
    npidle: AtomicUsize,
    nmspinning: AtomicUsize,
    nmidle: AtomicUsize,
    nthreads: AtomicI64,
    /// Goroutines created and exited by threads without a P.
    global: Counters,
    goid_gen: AtomicI64,
    mid_gen: AtomicI64,
    /// The timer heap.
    pub timers: Timers,
    /// The M sleeping until the next timer, if any.
    timer_m: AtomicPtr<Machine>,
    /// The M blocked in the poller, if any: `startm` hands it a P rather
    /// than starting a thread when no M is idle.
    poll_m: AtomicPtr<Machine>,
    /// Default usable stack bytes.
    pub stack_size: usize,
    /// `GORT_DEBUG` settings.
    pub debug: crate::config::DebugFlags,
    ncpu: usize,
    gfree_global: Mutex<Vec<GRef>>,
    /// Every goroutine record ever allocated.
    allgs: Mutex<gfree::AllGs>,
    /// Every M whose thread is running (M records are never freed).
    allm: Mutex<Vec<&'static Machine>>,
    /// Records of retired Ms (their goroutine exited locked to them and
    /// their thread ended), reused by the next new thread (Go frees them:
    /// `mexit`, `sched.freem`), so retiring threads at any rate keeps the
    /// number of records at the most threads alive at once.
    mfree: Mutex<Vec<&'static Machine>>,
    sysmon_started: std::sync::Once,
    sysmon_note: crate::note::Note,
    sysmon_sleeping: std::sync::atomic::AtomicBool,
    sysmon_delay: AtomicI64,
    /// Runtime threads alive (sysmon excluded).
    nm_alive: AtomicI64,
    /// Ms parked in stoplockedm (their goroutine blocked).
    nm_locked_idle: AtomicI64,
    /// Program mode (gort_main) started: deadlocks are reported.
    pub program_mode: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Sched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sched")
            .field("gomaxprocs", &self.gomaxprocs)
            .finish_non_exhaustive()
    }
}

static SCHED: OnceLock<Sched> = OnceLock::new();

/// The scheduler, started on first use (normally by the library
/// constructor; any entry point may come first, since constructors run in
/// an unspecified order). Starting it first installs the core's fatal
/// report and foreign-unwind handler into the base layer
/// (`panic::install_reports`), before any goroutine or frame exists.
#[inline]
pub(crate) fn sched() -> &'static Sched {
    SCHED.get_or_init(|| {
        crate::panic::install_reports();
        Sched::new(Config::from_env())
    })
}

impl Sched {
    fn new(cfg: Config) -> Sched {
        let procs: Box<[OnceLock<Box<Processor>>]> =
            (0..MAX_PROCS).map(|_| OnceLock::new()).collect();
        let s = Sched {
            procs,
            nprocs_alloc: AtomicUsize::new(0),
            gomaxprocs: AtomicUsize::new(cfg.maxprocs),
            globrunq: globrunq::GlobalRunq::new(),
            idle: Mutex::new(IdleLists::default()),
            npidle: AtomicUsize::new(0),
            nmspinning: AtomicUsize::new(0),
            nmidle: AtomicUsize::new(0),
            nthreads: AtomicI64::new(0),
            global: Counters::default(),
            goid_gen: AtomicI64::new(0),
            mid_gen: AtomicI64::new(0),
            timers: Timers::new(),
            timer_m: AtomicPtr::new(ptr::null_mut()),
            poll_m: AtomicPtr::new(ptr::null_mut()),
            stack_size: cfg.stack_size,
            debug: cfg.debug,
            ncpu: os::ncpu(),
            gfree_global: Mutex::new(Vec::new()),
            allgs: Mutex::new(gfree::AllGs::new()),
            allm: Mutex::new(Vec::new()),
            mfree: Mutex::new(Vec::new()),
            sysmon_started: std::sync::Once::new(),
            sysmon_note: crate::note::Note::new(),
            sysmon_sleeping: std::sync::atomic::AtomicBool::new(false),
            sysmon_delay: AtomicI64::new(0),
            nm_alive: AtomicI64::new(0),
            nm_locked_idle: AtomicI64::new(0),
            program_mode: std::sync::atomic::AtomicBool::new(false),
        };
        m::init_membarrier();
        {
            let mut idle = s.idle.lock();
            for id in (0..cfg.maxprocs).rev() {
                let p = s.ensure_proc(id);
                p.status.store(pstatus::IDLE, Ordering::Relaxed);
                idle.ps.push(p);
            }
            s.npidle.store(cfg.maxprocs, Ordering::SeqCst);
        }
        s
    }

    fn ensure_proc(&self, id: usize) -> &Processor {
        let p = self.procs[id].get_or_init(|| Box::new(Processor::new(id)));
        self.nprocs_alloc.fetch_max(id + 1, Ordering::AcqRel);
        p
    }

    /// Processor `id`, which must have been allocated.
    fn proc(&self, id: usize) -> Option<&Processor> {
        self.procs[id].get().map(|b| &**b)
    }
}
