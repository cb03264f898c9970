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

pub mod g;
mod globrunq;
pub mod m;
pub mod p;
pub mod running;
pub mod sysmon;
#[cfg(test)]
mod tests;

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{fence, AtomicI64, AtomicPtr, AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::lock::Mutex;
use corosensei::{Coroutine, CoroutineResult};
use crossbeam_deque::Steal;

pub use g::{status, Action, GRef, GYielder, GoFunc, Goroutine, UnlockFn};
pub use m::{current_m, Machine};
pub use p::{pstatus, Processor};

use crate::config::{Config, MAX_PROCS};
use crate::os;
use crate::panic::fatal;
use crate::stack;
use crate::time::Timers;

/// Goroutine ids handed to a P at a time.
const GOID_BATCH: i64 = 16;
/// Goroutines a P's local queue holds before half of them move to the
/// global queue (Go: the 256-entry `runq`).
const LOCAL_QUEUE_MAX: usize = 256;
/// Every this many rounds an M looks at the global queue first (fairness).
const GLOBAL_CHECK_INTERVAL: u32 = 61;
/// How long past its deadline a timer is left to the Ps' own scheduling
/// rounds before an idle M or sysmon fires it (and queues its goroutine
/// globally) because every P is stuck.
pub(crate) const TIMER_GRACE_NS: i64 = 1_000_000;
/// Stack size of a runtime thread (its scheduler context; goroutines run on
/// their own stacks).
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

/// Per-P counters, summed on read.
#[derive(Debug, Default)]
struct Counters {
    created: AtomicI64,
    exited: AtomicI64,
    steals: AtomicI64,
}

/// The scheduler's global state.
pub struct Sched {
    procs: Box<[OnceLock<Box<Processor>>]>,
    counters: Box<[Counters]>,
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
    /// Default usable stack bytes.
    pub stack_size: usize,
    ncpu: usize,
    gfree_global: Mutex<Vec<GRef>>,
    /// Every goroutine record ever allocated.
    allgs: Mutex<Vec<GRef>>,
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
/// an unspecified order).
#[inline]
pub fn sched() -> &'static Sched {
    SCHED.get_or_init(|| Sched::new(Config::from_env()))
}

impl Sched {
    fn new(cfg: Config) -> Sched {
        let procs: Box<[OnceLock<Box<Processor>>]> =
            (0..MAX_PROCS).map(|_| OnceLock::new()).collect();
        let counters = (0..MAX_PROCS).map(|_| Counters::default()).collect();
        let s = Sched {
            procs,
            counters,
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
            stack_size: cfg.stack_size,
            ncpu: os::ncpu(),
            gfree_global: Mutex::new(Vec::new()),
            allgs: Mutex::new(Vec::new()),
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

// ---------------------------------------------------------------------------
// The current goroutine.

/// The goroutine running on this thread: null on a foreign thread and on a
/// runtime thread's scheduler stack.
#[inline]
pub fn current_g() -> *mut Goroutine {
    let m = current_m();
    if m.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: Ms are never freed; curg is only written by this thread.
    unsafe { (*m).curg.load(Ordering::Relaxed) }
}

/// The running goroutine, which must exist.
pub fn current_gref() -> GRef {
    let g = current_g();
    if g.is_null() {
        fatal("current_gref: not on a goroutine");
    }
    // SAFETY: a live goroutine record.
    unsafe { GRef::from_ptr(g) }
}

/// The running goroutine, or the calling foreign thread's record: what
/// [`park`] parks and [`ready`] wakes on this thread.
pub fn current_or_foreign_gref() -> GRef {
    let g = current_g();
    if g.is_null() {
        foreign_g()
    } else {
        // SAFETY: a live goroutine record.
        unsafe { GRef::from_ptr(g) }
    }
}

/// The running goroutine's id: a goroutine's, a foreign thread's inside
/// gort_call, else 0.
pub fn goid() -> i64 {
    let mut g = current_g();
    if g.is_null() {
        g = crate::foreign::current_call();
        if g.is_null() {
            return 0;
        }
    }
    // SAFETY: the running G (or our own record) is live.
    unsafe { (*g).goid() }
}

/// Stops counting the calling goroutine (in gort_num_goroutine and dumps)
/// a moment before it ends, so that whoever it wakes last (e.g. callers
/// waiting for init) never sees it still counted.
pub fn uncount_current() {
    let g = current_g();
    if g.is_null() {
        return;
    }
    // SAFETY: the running goroutine is ours.
    let g = unsafe { &*g };
    if g.counted.swap(false, Ordering::Relaxed) {
        sched().global.exited.fetch_add(1, Ordering::Relaxed);
    }
}

/// A goroutine id for a goroutine made without a P (a gort_call).
pub fn new_goid_global() -> i64 {
    new_goid(ptr::null())
}

/// The P held by this thread's M, or null. Racy unless the M is inside
/// the runtime (see [`with_p`]); fine for hints.
#[inline]
fn current_p() -> *const Processor {
    let m = current_m();
    if m.is_null() {
        ptr::null()
    } else {
        // SAFETY: as in current_g.
        unsafe { (*m).p() }
    }
}

/// Runs `f` with the P of this thread's M (null on a foreign thread or when
/// the M lost its P), with the M marked as inside the runtime so that
/// sysmon cannot take the P meanwhile.
#[inline]
fn with_p<R>(f: impl FnOnce(*const Processor) -> R) -> R {
    let m = current_m();
    if m.is_null() {
        return f(ptr::null());
    }
    // SAFETY: Ms are never freed; this is our own M.
    let m = unsafe { &*m };
    let was = m.enter_runtime();
    let r = f(m.p());
    m.exit_runtime(was);
    r
}

/// Switches from the running goroutine to its M's scheduler context.
///
/// # Safety
/// Must run on a goroutine (`current_g()` non-null). No lock guard or
/// thread-local reference may be live in the caller's frames except a lock
/// that `action`'s unlock callback releases.
unsafe fn switch_to_m(action: Action) {
    let g = current_g();
    debug_assert!(!g.is_null());
    // SAFETY: the caller guarantees we run on goroutine `g`, whose yielder
    // points into its own coroutine stack and stays valid while it runs.
    unsafe { (*(*g).yielder.get()).suspend(action) };
}

// ---------------------------------------------------------------------------
// Spawning, readying, parking.

/// Creates a goroutine running `entry(arg)`; returns its id.
/// Go: `runtime.newproc`.
pub fn spawn(entry: GoFunc, arg: *mut c_void) -> i64 {
    spawn_from(entry, arg, 0)
}

/// [`spawn`], recording `creator_pc` (a return address in the function
/// that asked for the goroutine) for dumps.
pub fn spawn_from(entry: GoFunc, arg: *mut c_void, creator_pc: usize) -> i64 {
    with_p(|pp| spawn_with(pp, entry, arg, creator_pc))
}

fn spawn_with(pp: *const Processor, entry: GoFunc, arg: *mut c_void, creator_pc: usize) -> i64 {
    let s = sched();
    let gp = gfget(pp);
    let g = gp.get();
    let id = new_goid(pp);
    g.id.store(id, Ordering::Relaxed);
    g.entry.set(Some(entry));
    g.start_fn.store(entry as usize, Ordering::Relaxed);
    g.creator_pc.store(creator_pc, Ordering::Relaxed);
    g.arg.set(arg);
    g.errno.set(0);
    g.wait_reason.store(ptr::null_mut(), Ordering::Relaxed);
    g.counted.store(true, Ordering::Relaxed);
    g.status.store(status::RUNNABLE, Ordering::Relaxed);
    if pp.is_null() {
        s.global.created.fetch_add(1, Ordering::Relaxed);
        s.globrunq.push(gp);
        wakep_after_inject();
    } else {
        // SAFETY: this M holds pp.
        let p = unsafe { &*pp };
        bump(&s.counters[p.id].created);
        runqput(p, gp, true);
        wakep();
    }
    id
}

/// Owner-only increment of a per-P counter (no read-modify-write).
#[inline]
fn bump(c: &AtomicI64) {
    c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

fn new_goid(pp: *const Processor) -> i64 {
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

/// Makes a waiting goroutine runnable. With `next`, it runs next on this P
/// (Go: `goready`, which uses runnext). Any thread may call this, with or
/// without a P; a foreign record's thread is woken instead.
pub fn ready(gp: GRef, next: bool) {
    let g = gp.get();
    if g.status
        .compare_exchange(
            status::WAITING,
            status::RUNNABLE,
            Ordering::AcqRel,
            Ordering::Relaxed,
        )
        .is_err()
    {
        fatal("ready of a goroutine that is not waiting");
    }
    if g.foreign {
        g.note.notify();
        return;
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
pub fn inject(gs: &[GRef]) {
    if gs.is_empty() {
        return;
    }
    for &gp in gs {
        let g = gp.get();
        if g.status
            .compare_exchange(
                status::WAITING,
                status::RUNNABLE,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_err()
        {
            fatal("inject of a goroutine that is not waiting");
        }
        debug_assert!(!g.foreign);
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
pub unsafe fn park(unlock: UnlockFn, data: *mut (), reason: &'static &'static str) {
    let g = current_g();
    if g.is_null() {
        // SAFETY: forwarded contract.
        unsafe { park_foreign(unlock, data, reason) };
        return;
    }
    // SAFETY: we run on goroutine g, which is owned by this thread.
    unsafe {
        (*g).wait_reason
            .store(reason as *const _ as *mut _, Ordering::Relaxed)
    };
    // SAFETY: on a goroutine; forwarded contract.
    unsafe { switch_to_m(Action::Park { unlock, data }) };
}

unsafe fn park_foreign(unlock: UnlockFn, data: *mut (), reason: &'static &'static str) {
    let gp = foreign_g();
    let g = gp.get();
    g.wait_reason
        .store(reason as *const _ as *mut _, Ordering::Relaxed);
    g.status.store(status::WAITING, Ordering::Release);
    // SAFETY: forwarded contract; the record stays alive while its thread
    // is blocked here.
    if !unsafe { unlock(gp, data) } {
        g.status.store(status::RUNNING, Ordering::Relaxed);
        return;
    }
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
pub fn gosched() {
    // The running slot (one load through the thread pointer) rather than
    // current_g (a call): it holds the goroutine this thread runs, or a
    // foreign thread's record inside gort_call, which does not yield.
    let g = running::get();
    // SAFETY: a non-null slot names a live record owned by this thread.
    if g.is_null() || unsafe { (*g).foreign } {
        return;
    }
    debug_assert_eq!(g, current_g());
    // SAFETY: we run on goroutine g; its yielder points into its own stack.
    // No locks are held by this frame.
    unsafe { (*(*g).yielder.get()).suspend(Action::Yield) };
}

/// Ends the calling goroutine (Go: `runtime.Goexit`, without deferred calls
/// for now). Must run on a goroutine.
///
/// # Safety
/// No frame on the goroutine's stack may own anything that needs dropping:
/// the stack is reclaimed without unwinding.
pub unsafe fn goexit() -> ! {
    debug_assert!(!current_g().is_null());
    // SAFETY: on a goroutine; the caller guarantees nothing needs dropping.
    unsafe { switch_to_m(Action::Exit) };
    fatal("goexit: a dead goroutine was resumed")
}

/// This thread's M, if it is running a goroutine (not on a foreign
/// thread, not on the scheduler stack).
fn goroutine_m() -> Option<&'static Machine> {
    let mp = current_m();
    // SAFETY: Ms are never freed; this is our own M.
    let m = unsafe { mp.as_ref() }?;
    (!m.curg.load(Ordering::Relaxed).is_null()).then_some(m)
}

/// The calling goroutine is about to block in C (Go: `entersyscall`):
/// if its P has other work, hand the P on now; otherwise keep it, marked
/// as blocked, so that sysmon hands it on as soon as work appears, and an
/// early return takes it back without a locked instruction. A no-op on a
/// foreign thread, and when already blocking.
pub fn blocking_enter() {
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
pub fn blocking_exit() {
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

// ---------------------------------------------------------------------------
// Foreign threads.

/// This foreign thread's wait record (see `crate::foreign`).
pub fn foreign_record() -> *mut Goroutine {
    crate::foreign::record().as_ptr()
}

fn foreign_g() -> GRef {
    crate::foreign::record()
}

/// Locks the calling goroutine to its thread (Go: `LockOSThread`);
/// nests. On a foreign thread (inside gort_call the goroutine is the
/// thread anyway) only the count changes.
pub fn lock_os_thread() {
    let gp = current_g();
    if gp.is_null() {
        count_foreign_lock(1);
        return;
    }
    // SAFETY: the running goroutine and its M are ours.
    let (g, m) = unsafe { (&*gp, &*current_m()) };
    let n = g.lock_count.get();
    if n == u32::MAX {
        fatal("LockOSThread nesting depth overflow");
    }
    g.lock_count.set(n + 1);
    if n == 0 {
        g.locked_m
            .store(m as *const Machine as *mut Machine, Ordering::Release);
        m.locked_g.store(gp, Ordering::Relaxed);
    }
}

/// On a foreign thread inside gort_call the goroutine is its thread
/// anyway: locking only counts.
fn count_foreign_lock(delta: i32) {
    let r = crate::foreign::current_call();
    if !r.is_null() {
        // SAFETY: our own record.
        let r = unsafe { &*r };
        r.lock_count
            .set(r.lock_count.get().saturating_add_signed(delta));
    }
}

/// Undoes one [`lock_os_thread`]; a no-op when not locked (as in Go).
pub fn unlock_os_thread() {
    let gp = current_g();
    if gp.is_null() {
        count_foreign_lock(-1);
        return;
    }
    // SAFETY: as above.
    let (g, m) = unsafe { (&*gp, &*current_m()) };
    let n = g.lock_count.get();
    if n == 0 {
        return;
    }
    g.lock_count.set(n - 1);
    if n == 1 {
        g.locked_m.store(ptr::null_mut(), Ordering::Release);
        m.locked_g.store(ptr::null_mut(), Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------
// Run queues.

/// Queues `gp` on `p` (Go: `runqput`): in `runnext` with `next` (the
/// goroutine there before joins the queue), else at the queue's tail.
fn runqput(p: &Processor, gp: GRef, next: bool) {
    let gp = if next {
        let old = p.runnext.swap(gp.as_ptr(), Ordering::AcqRel);
        if old.is_null() {
            return;
        }
        // SAFETY: runnext only ever holds live Gs.
        unsafe { GRef::from_ptr(old) }
    } else {
        gp
    };
    // SAFETY: the caller's M holds p.
    let q = unsafe { p.runq() };
    if q.len() >= LOCAL_QUEUE_MAX {
        runqputslow(q);
    }
    q.push(gp);
}

/// Moves the older half of a full local queue to the global queue (Go:
/// `runqputslow`). Bounding the local queue keeps the newest goroutines
/// local: a program that spawns faster than it finishes (a spawn tree)
/// then runs close to depth-first, with far fewer goroutines started and
/// blocked at once (each holding a stack page), while the global queue,
/// checked every GLOBAL_CHECK_INTERVAL rounds, keeps the older ones moving.
#[cold]
fn runqputslow(q: &crossbeam_deque::Worker<GRef>) {
    sched().globrunq.push_from(LOCAL_QUEUE_MAX / 2, || q.pop());
    // No wake-up here: every caller holds a P (which looks at the global
    // queue at least every GLOBAL_CHECK_INTERVAL rounds) and calls wakep
    // after queueing anyway.
}

/// Takes the next goroutine from `p`'s own queues (Go: `runqget`).
/// `runnext` comes first and inherits the running time slice, so a chain
/// of hand-offs counts as one slice; once sysmon has flagged that slice as
/// too long (`preempt`), the `runnext` goroutine joins the back of the
/// queue instead and the queue's head starts a new slice.
fn runqget(p: &Processor) -> Option<GRef> {
    // A plain load first: runnext is usually empty, and a locked swap costs
    // as much as the rest of a goroutine switch.
    if !p.runnext.load(Ordering::Relaxed).is_null() {
        let next = p.runnext.swap(ptr::null_mut(), Ordering::AcqRel);
        if !next.is_null() {
            // SAFETY: runnext only ever holds live Gs.
            let next = unsafe { GRef::from_ptr(next) };
            if !p.preempt.load(Ordering::Relaxed) {
                return Some(next);
            }
            // SAFETY: the caller's M holds p.
            unsafe { p.runq().push(next) };
        }
    }
    // SAFETY: the caller's M holds p.
    let g = unsafe { p.runq().pop() }?;
    p.new_slice();
    Some(g)
}

/// Whether `p`'s runnext slot is taken (owner's view).
#[inline]
fn runnext_taken(p: &Processor) -> bool {
    !p.runnext.load(Ordering::Relaxed).is_null()
}

/// Takes goroutines from the global queue (Go: `globrunqget`): one, or
/// with `batch` a fair share (the queue's length over GOMAXPROCS, plus
/// one) of at most half a local queue; returns the first and queues the
/// rest locally. The periodic fairness check takes one, as Go's does: a
/// batch there would cycle through a full local queue, whose older half
/// flows back to the global queue.
fn globrunqget(p: &Processor, batch: bool) -> Option<GRef> {
    let s = sched();
    if s.globrunq.is_empty() {
        return None;
    }
    let n = if batch {
        let procs = s.gomaxprocs.load(Ordering::Relaxed).max(1);
        (s.globrunq.len() / procs + 1).min(LOCAL_QUEUE_MAX / 2)
    } else {
        1
    };
    // SAFETY: the caller's M holds p.
    let q = unsafe { p.runq() };
    s.globrunq.pop_batch(n, |g| q.push(g))
}

// ---------------------------------------------------------------------------
// Free goroutines.

fn gfget(pp: *const Processor) -> GRef {
    if !pp.is_null() {
        // SAFETY: this M holds pp.
        let local = unsafe { (*pp).gfree() };
        if let Some(g) = local.pop() {
            return g;
        }
        let mut global = sched().gfree_global.lock();
        let n = global.len().min(p::GFREE_LOCAL / 2);
        let at = global.len() - n;
        local.extend(global.drain(at..));
        drop(global);
        if let Some(g) = local.pop() {
            return g;
        }
    } else if let Some(g) = sched().gfree_global.lock().pop() {
        return g;
    }
    let g = Box::leak(Box::new(Goroutine::new(false)));
    let gp = GRef(ptr::NonNull::from(g));
    sched().allgs.lock().push(gp);
    gp
}

/// Every goroutine record ever allocated (records are recycled, never
/// freed), for dumps.
pub fn all_goroutines() -> Vec<GRef> {
    sched().allgs.lock().clone()
}

fn gfput(p: &Processor, gp: GRef) {
    gp.get().status.store(status::IDLE, Ordering::Relaxed);
    // SAFETY: this M holds p.
    let local = unsafe { p.gfree() };
    local.push(gp);
    if local.len() > p::GFREE_LOCAL {
        let mut global = sched().gfree_global.lock();
        global.extend(local.drain(..p::GFREE_LOCAL / 2));
    }
}

// ---------------------------------------------------------------------------
// Machines.

/// Wakes an idle P if there is one and no M is spinning (Go: `wakep`).
///
/// After pushing to a local run queue no fence is needed: if the check
/// reads a stale "someone is spinning", the worst case is that the owner P
/// runs the goroutine itself later (as in Go). Work pushed to the global queue
/// by a thread without a P has no owner to fall back on, so those paths
/// call [`wakep_after_inject`].
pub fn wakep() {
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
fn wakep_after_inject() {
    fence(Ordering::SeqCst);
    if sched().npidle.load(Ordering::SeqCst) == 0 {
        // Every P is busy, perhaps held by an M blocked in C: let sysmon
        // look now rather than at the end of a long poll interval.
        sysmon::kick();
    }
    wakep();
}

/// Hands an idle P to an idle or new M (Go: `startm`).
fn startm(spinning: bool) {
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
fn startm_with(p: &Processor, spinning: bool) {
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
        None => newm(p, spinning),
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

/// Starts a runtime thread that holds `p` (Go: `newm`).
fn newm(p: &Processor, spinning: bool) {
    let s = sched();
    start_sysmon();
    let recycled = s.mfree.lock().pop();
    let m: &'static Machine = match recycled {
        Some(m) => {
            m.reuse(p, spinning);
            m
        }
        None => {
            let id = s.mid_gen.fetch_add(1, Ordering::Relaxed) + 1;
            let m: &'static Machine = Box::leak(Box::new(Machine::new(id, p, spinning)));
            m::register(m);
            m
        }
    };
    s.allm.lock().push(m);
    s.nthreads.fetch_add(1, Ordering::Relaxed);
    s.nm_alive.fetch_add(1, Ordering::SeqCst);
    if spawn_thread(m_entry, m as *const Machine as *mut c_void).is_err() {
        fatal("newm: cannot create a runtime thread");
    }
}

extern "C" fn m_entry(arg: *mut c_void) -> *mut c_void {
    // SAFETY: newm passes a leaked, never-freed Machine.
    let m: &'static Machine = unsafe { &*(arg as *const Machine) };
    let name = format!("gort-m{}\0", m.id);
    // SAFETY: a NUL-terminated name of at most 15 bytes for this thread.
    unsafe { libc::pthread_setname_np(libc::pthread_self(), name.as_ptr().cast()) };
    mstart(m);
    ptr::null_mut()
}

/// Starts a detached OS thread running `entry(arg)` on an M_STACK_SIZE
/// stack. Raw pthreads rather than std::thread: no per-thread bookkeeping
/// or extra signal stack, which matters when locked goroutines retire
/// threads at a high rate.
fn spawn_thread(
    entry: extern "C" fn(*mut c_void) -> *mut c_void,
    arg: *mut c_void,
) -> Result<(), i32> {
    // SAFETY: attr is initialised before use and destroyed after;
    // pthread_create copies what it needs.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        libc::pthread_attr_init(&mut attr);
        libc::pthread_attr_setstacksize(&mut attr, M_STACK_SIZE);
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        let mut t: libc::pthread_t = 0;
        let r = libc::pthread_create(&mut t, &attr, entry, arg);
        libc::pthread_attr_destroy(&mut attr);
        if r == 0 {
            Ok(())
        } else {
            Err(r)
        }
    }
}

/// Program mode: makes the calling thread (the process main thread) a
/// runtime thread, starts `main` as a goroutine, and schedules forever.
pub fn run_main_thread(main: GoFunc) -> ! {
    let s = sched();
    start_sysmon();
    let id = s.mid_gen.fetch_add(1, Ordering::Relaxed) + 1;
    let m: &'static Machine = Box::leak(Box::new(Machine::new(id, ptr::null(), false)));
    m.main_thread.store(true, Ordering::Relaxed);
    s.allm.lock().push(m);
    m::register(m);
    s.nthreads.fetch_add(1, Ordering::Relaxed);
    s.nm_alive.fetch_add(1, Ordering::SeqCst);
    s.program_mode.store(true, Ordering::SeqCst);
    minit(m);
    // Take a P first, so that the main goroutine lands in this thread's
    // runnext and starts here, on the process main thread, as in Go.
    if let Some(p) = pidleget() {
        m.set_p(p);
    }
    spawn(main, ptr::null_mut());
    schedule(m);
    // Only a goroutine that exits while locked to this thread ends the
    // loop; the main thread must not exit: wedge it.
    mexit(m);
    unreachable!("the main thread returned from mexit")
}

/// Starts sysmon once, with the first runtime thread.
fn start_sysmon() {
    let s = sched();
    s.sysmon_started.call_once(|| {
        crate::signals::install_handlers();
        s.nthreads.fetch_add(1, Ordering::Relaxed);
        extern "C" fn sysmon_entry(_: *mut c_void) -> *mut c_void {
            // SAFETY: a NUL-terminated name of at most 15 bytes.
            unsafe { libc::pthread_setname_np(libc::pthread_self(), c"gort-sysmon".as_ptr()) };
            crate::memory::register_thread_locals(false);
            sysmon::sysmon_main();
            ptr::null_mut()
        }
        if spawn_thread(sysmon_entry, ptr::null_mut()).is_err() {
            fatal("cannot create the sysmon thread");
        }
    });
}

fn mstart(m: &'static Machine) {
    minit(m);
    schedule(m);
    mexit(m);
}

/// Binds the calling thread to `m` (TLS, thread id, errno slot, signal
/// stack).
fn minit(m: &'static Machine) {
    m::set_current_m(m);
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() };
    m.thread.store(me as u64, Ordering::Release);
    crate::signals::install_altstack();
    crate::memory::register_thread_locals(true);
    // SAFETY: __errno_location has no preconditions.
    m.errno_ptr.set(unsafe { libc::__errno_location() });
}

/// The end of a runtime thread whose goroutine exited while locked to it:
/// the thread exits (its pthread TLS destructors run) and is never reused,
/// though its M record is, by the next new thread; the process main thread
/// is wedged instead (DESIGN.md trap 7).
fn mexit(m: &'static Machine) {
    let s = sched();
    m.thread.store(0, Ordering::Release);
    m::set_current_m(ptr::null());
    if !m.main_thread.load(Ordering::Relaxed) {
        crate::signals::release_altstack();
    }
    if m.main_thread.load(Ordering::Relaxed) {
        // Blocked forever; its P was handed on. Nothing hands a P to an M
        // that is on no list, so the note is never notified again. It
        // counts as idle for deadlock detection.
        s.nm_locked_idle.fetch_add(1, Ordering::SeqCst);
        checkdead();
        loop {
            m.note.wait(None);
        }
    }
    s.nthreads.fetch_sub(1, Ordering::Relaxed);
    s.nm_alive.fetch_sub(1, Ordering::SeqCst);
    s.allm.lock().retain(|&x| !ptr::eq(x, m));
    // The last touch of m by this thread: from here a new thread may take
    // the record over while this one finishes exiting (which no longer
    // reads it: its current-M slot is already cleared).
    s.mfree.lock().push(m);
}

fn pidleget_locked<'a>(s: &'a Sched, idle: &mut IdleLists) -> Option<&'a Processor> {
    let p = idle.ps.pop()?;
    s.npidle.fetch_sub(1, Ordering::SeqCst);
    sysmon::wake_if_sleeping();
    // SAFETY: Ps are never freed.
    let p = unsafe { &*p };
    p.status.store(pstatus::RUNNING, Ordering::Relaxed);
    Some(p)
}

fn pidleput_locked(s: &Sched, idle: &mut IdleLists, p: &Processor) {
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
fn stopm(m: &Machine) {
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
                let now = os::nanotime();
                if now >= s.timers.next_when().saturating_add(TIMER_GRACE_NS) {
                    s.timers.run(now);
                    grace = 0;
                } else {
                    grace = TIMER_GRACE_NS;
                }
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
fn poll_as_m(m: &Machine, grace: &mut i64) -> bool {
    let s = sched();
    let next = s.timers.next_when();
    let until = if next == i64::MAX {
        i64::MAX
    } else {
        next.saturating_add(*grace).max(1)
    };
    let gs = crate::netpoll::netpoll(until);
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
        // Every P is busy: as in stopm, fire only for Ps stuck past the
        // grace period.
        if now >= s.timers.next_when().saturating_add(TIMER_GRACE_NS) {
            s.timers.run(now);
            *grace = 0;
        } else {
            *grace = TIMER_GRACE_NS;
        }
    }
    false
}

fn take_handed_p(m: &Machine) -> bool {
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
pub fn timer_kick() {
    if crate::netpoll::poller_blocked() {
        // The M blocked in the poller is the timer M.
        crate::netpoll::wake_poller();
        return;
    }
    let s = sched();
    let tm = s.timer_m.load(Ordering::SeqCst);
    if tm.is_null() {
        wakep();
    } else {
        // SAFETY: Ms are never freed.
        unsafe { (*tm).note.notify() };
    }
}

fn reset_spinning(m: &Machine) {
    m.spinning.set(false);
    sched().nmspinning.fetch_sub(1, Ordering::SeqCst);
    wakep();
}

// ---------------------------------------------------------------------------
// The scheduler loop.

/// Runs goroutines forever on the calling runtime thread (Go: `schedule`).
/// Runs goroutines on the calling runtime thread (Go: `schedule`) until
/// the thread must end: a goroutine exited while locked to it.
fn schedule(m: &'static Machine) {
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
enum After {
    /// Run this goroutine next (the M holds a P).
    Run(GRef),
    /// Find the next goroutine (or wait for a P).
    Schedule,
    /// End this thread: its goroutine exited while locked to it.
    Retire,
}

/// Takes the P's yield slot.
fn take_yield_slot(p: &Processor) -> Option<GRef> {
    // Owner-only writes: a load and a plain store, no locked instruction.
    let g = p.yield_slot.load(Ordering::Relaxed);
    if !g.is_null() {
        p.yield_slot.store(ptr::null_mut(), Ordering::Relaxed);
    }
    // SAFETY: the slot only ever holds live, runnable Gs.
    (!g.is_null()).then(|| unsafe { GRef::from_ptr(g) })
}

/// Finds a goroutine to run; returns with `m` holding a P (Go:
/// `findRunnable`).
fn find_runnable(m: &Machine) -> GRef {
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
            if !gs.is_empty() {
                inject(&gs);
                continue;
            }
        }

        if !m.spinning.get() {
            let busy = s
                .gomaxprocs
                .load(Ordering::Relaxed)
                .saturating_sub(s.npidle.load(Ordering::SeqCst));
            if 2 * s.nmspinning.load(Ordering::SeqCst) < busy {
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
fn found(m: &Machine, p: &Processor, g: GRef) -> GRef {
    p.new_slice();
    if m.spinning.get() {
        reset_spinning(m);
    }
    g
}

fn any_runq_nonempty(s: &Sched) -> bool {
    let n = s.nprocs_alloc.load(Ordering::Acquire);
    (0..n).any(|i| s.proc(i).is_some_and(|p| !p.runq_empty()))
}

/// Retires `p` (beyond GOMAXPROCS): its goroutines go to the global queue.
/// Returns false if GOMAXPROCS grew back meanwhile.
fn retire_p(m: &Machine, p: &Processor) -> bool {
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
fn steal_work(m: &Machine, p: &Processor) -> Option<GRef> {
    const ROUNDS: usize = 4;
    let s = sched();
    let n = s.nprocs_alloc.load(Ordering::Acquire);
    for round in 0..ROUNDS {
        let last = round == ROUNDS - 1;
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
                        bump(&s.counters[p.id].steals);
                        return Some(g);
                    }
                    Steal::Empty => break,
                    Steal::Retry => continue,
                }
            }
            if last {
                if let Some(g) = steal_runnext(v) {
                    bump(&s.counters[p.id].steals);
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

fn steal_runnext(v: &Processor) -> Option<GRef> {
    let g = v.runnext.load(Ordering::Acquire);
    if g.is_null() {
        return None;
    }
    if v.status.load(Ordering::Relaxed) == pstatus::RUNNING {
        // The owner is probably about to run it (a hand-off in progress):
        // give it ~3 µs first, as Go does.
        let t0 = os::nanotime();
        while os::nanotime() - t0 < 3_000 {
            std::hint::spin_loop();
            if v.runnext.load(Ordering::Relaxed) != g {
                return None;
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
fn execute(m: &Machine, gp: GRef) -> After {
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
    let errno = m.errno_ptr.get();
    // SAFETY: errno_ptr is this thread's errno slot (set in mstart).
    unsafe { *errno = g.errno.get() };
    // From here until the goroutine switches back, sysmon may take our P.
    m.in_gort.store(false, Ordering::Release);
    let result = match coro {
        Some(c) => c.resume(()),
        None => unreachable!(),
    };
    m.in_gort.store(true, Ordering::Relaxed);
    m::enter_fence();
    // SAFETY: as above; we are back on this M's own thread.
    g.errno.set(unsafe { *errno });
    m.curg.store(ptr::null_mut(), Ordering::Relaxed);
    running::set(ptr::null_mut());
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
    match result {
        CoroutineResult::Yield(Action::Yield) => {
            g.status.store(status::RUNNABLE, Ordering::Relaxed);
            return match yield_next(s, p, gp) {
                Some(g) => After::Run(g),
                None => After::Schedule,
            };
        }
        CoroutineResult::Yield(Action::Park { unlock, data }) => {
            g.status.store(status::WAITING, Ordering::Release);
            // SAFETY: the goroutine is off its stack; the parker promised
            // that unlock/data form a valid pair. After unlock returns true
            // another thread may own gp: it is not touched again.
            if !unsafe { unlock(gp, data) } {
                g.status.store(status::RUNNABLE, Ordering::Relaxed);
                runqput(p, gp, true);
            }
        }
        CoroutineResult::Yield(Action::Exit) => {
            if let Some(c) = coro {
                // SAFETY: goexit's contract: nothing on the stack needs
                // dropping, so abandoning its frames is sound.
                unsafe { c.force_reset() };
            }
            gdestroy(Some(p), gp);
        }
        CoroutineResult::Return(()) => gdestroy(Some(p), gp),
    }
    After::Schedule
}

/// Hands our P to `lm`, whose locked goroutine we just dequeued; `lm`
/// runs it (Go: `startlockedm`). This M is left without a P.
fn startlockedm(m: &Machine, lm: &Machine) {
    let p = m.p();
    m.set_p(ptr::null());
    lm.next_spinning.store(false, Ordering::Relaxed);
    lm.next_p.store(p as *mut Processor, Ordering::Release);
    lm.note.notify();
}

/// Parks an M whose locked goroutine is not running until another M hands
/// it a P along with that goroutine (Go: `stoplockedm`).
fn stoplockedm(m: &Machine) {
    debug_assert!(m.p().is_null());
    let s = sched();
    s.nm_locked_idle.fetch_add(1, Ordering::SeqCst);
    checkdead();
    loop {
        m.note.wait(None);
        if take_handed_p(m) {
            s.nm_locked_idle.fetch_sub(1, Ordering::SeqCst);
            return;
        }
    }
}

/// Program mode: dies with Go's deadlock report if no goroutine can ever
/// run again (Go: `checkdead`): every runtime thread idle (a thread running
/// C code, or inside gort_blocking_enter, is not), no thread in the process
/// but runtime threads (a host thread could still call in and wake
/// something), nothing queued, and either goroutines left and no timer
/// pending, or no goroutine left at all after the main goroutine called
/// gort_goexit. When in doubt it does not report: a false report kills a
/// correct program.
fn checkdead() {
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
    if (none_left && !crate::init::main_called_goexit()) || (!none_left && s.timers.pending()) {
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

/// The continuation of [`execute`] for a goroutine locked to this M: the M
/// runs nothing else, so whenever the goroutine stops running the P goes
/// to other Ms and this M sleeps until the goroutine is runnable again.
/// A goroutine that exits while locked takes its thread with it.
fn after_locked(
    m: &Machine,
    pp: *const Processor,
    gp: GRef,
    result: CoroutineResult<Action, ()>,
) -> After {
    let s = sched();
    let g = gp.get();
    // SAFETY: m holds pp (when non-null) and is inside the runtime.
    let held: Option<&Processor> = unsafe { pp.as_ref() };
    let give_up_p = |requeue: bool| match held {
        None => {
            if requeue {
                s.globrunq.push(gp);
                wakep_after_inject();
            }
        }
        Some(p) => {
            if requeue {
                runqput(p, gp, false);
            }
            m.set_p(ptr::null());
            handoffp(p);
        }
    };
    match result {
        CoroutineResult::Yield(Action::Yield) => {
            g.status.store(status::RUNNABLE, Ordering::Relaxed);
            if let Some(p) = held {
                p.tick();
                // SAFETY: m holds p.
                if !unsafe { p.has_local_work_owned() } && s.globrunq.is_empty() {
                    return After::Run(gp); // nothing else wants this P
                }
            }
            give_up_p(true);
            stoplockedm(m);
            After::Run(gp)
        }
        CoroutineResult::Yield(Action::Park { unlock, data }) => {
            g.status.store(status::WAITING, Ordering::Release);
            // SAFETY: as in execute.
            if unsafe { unlock(gp, data) } {
                give_up_p(false);
            } else {
                g.status.store(status::RUNNABLE, Ordering::Relaxed);
                if held.is_some() {
                    return After::Run(gp);
                }
                give_up_p(true);
            }
            stoplockedm(m);
            After::Run(gp)
        }
        CoroutineResult::Yield(Action::Exit) | CoroutineResult::Return(()) => {
            if let CoroutineResult::Yield(Action::Exit) = result {
                // SAFETY: m owns gp; goexit's contract, as in execute.
                if let Some(c) = unsafe { &mut *g.coro.get() } {
                    // SAFETY: as above.
                    unsafe { c.force_reset() };
                }
            }
            m.locked_g.store(ptr::null_mut(), Ordering::Relaxed);
            g.locked_m.store(ptr::null_mut(), Ordering::Relaxed);
            g.lock_count.set(0);
            gdestroy(held, gp);
            give_up_p(false);
            After::Retire
        }
    }
}

/// The continuation of [`execute`] for an M that lost its P while the
/// goroutine ran and found no idle one (Go: `exitsyscall0`): runnable
/// goroutines go to the global queue, finished ones to the global pools,
/// and the M then waits for a P.
fn execute_without_p(gp: GRef, result: CoroutineResult<Action, ()>) {
    let s = sched();
    let g = gp.get();
    match result {
        CoroutineResult::Yield(Action::Yield) => {
            g.status.store(status::RUNNABLE, Ordering::Relaxed);
            s.globrunq.push(gp);
            wakep_after_inject();
        }
        CoroutineResult::Yield(Action::Park { unlock, data }) => {
            g.status.store(status::WAITING, Ordering::Release);
            // SAFETY: as in execute.
            if !unsafe { unlock(gp, data) } {
                g.status.store(status::RUNNABLE, Ordering::Relaxed);
                s.globrunq.push(gp);
                wakep_after_inject();
            }
        }
        CoroutineResult::Yield(Action::Exit) => {
            // SAFETY: this M owns gp; as in execute.
            if let Some(c) = unsafe { &mut *g.coro.get() } {
                // SAFETY: goexit's contract, as in execute.
                unsafe { c.force_reset() };
            }
            gdestroy(None, gp);
        }
        CoroutineResult::Return(()) => gdestroy(None, gp),
    }
}

/// Takes an idle P, if any.
fn pidleget() -> Option<&'static Processor> {
    let s = sched();
    if s.npidle.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let mut idle = s.idle.lock();
    pidleget_locked(s, &mut idle)
}

fn new_coro(m: &Machine, gp: GRef, size: usize) -> g::Coro {
    // SAFETY: m holds its P while executing, inside the runtime.
    let cache = unsafe { (*m.p()).stacks() };
    let Some(stack) = stack::alloc(cache, size) else {
        crate::panic::out_of_memory(size + stack::GUARD_SIZE, "goroutine stack");
    };
    let g = gp.get();
    g.stack_lo.set(stack.low());
    g.stack_hi.set(stack.high());
    let entry = g.entry.take();
    let arg = g.arg.get();
    Coroutine::with_stack(stack, move |y: &GYielder, ()| {
        // SAFETY: gp is live and owned by the M running it.
        unsafe { (*gp.as_ptr()).yielder.set(y) };
        // SAFETY: gort_go checked the function pointer; calling it with
        // its argument is the contract of gort_go. The entry frame's
        // deferred calls run after it.
        unsafe { crate::panic::run_entry(entry, arg) };
    })
}

/// Chooses what runs after `gp` yields (Go: `gosched_m`), keeping
/// round-robin order among the runnable goroutines of this P:
///
/// - global work first: the yielder goes behind a batch from the global queue
///   (Go puts it on the global queue);
/// - runnext, an idle P, or a retiring P: the yielder joins the stealable
///   queue and the scheduler picks normally;
/// - otherwise the yield slot (see [`execute`]) holds the goroutine that
///   yielded last: with an empty queue the two swap with no locked
///   instruction; with a non-empty queue the slot's goroutine and the
///   yielder join its tail in yield order.
fn yield_next(s: &Sched, p: &Processor, gp: GRef) -> Option<GRef> {
    p.tick();
    p.new_slice();
    s.timers.run_if_due(|| runnext_taken(p));
    if !s.globrunq.is_empty() {
        if let Some(next) = globrunqget(p, false) {
            if let Some(older) = take_yield_slot(p) {
                runqput(p, older, false);
            }
            runqput(p, gp, false);
            return Some(next);
        }
    }
    if !p.runnext.load(Ordering::Relaxed).is_null()
        || s.npidle.load(Ordering::Relaxed) != 0
        || p.id >= s.gomaxprocs.load(Ordering::Relaxed)
    {
        if let Some(older) = take_yield_slot(p) {
            runqput(p, older, false);
        }
        runqput(p, gp, false);
        return None;
    }
    // SAFETY: this M holds p.
    let q = unsafe { p.runq() };
    match take_yield_slot(p) {
        None if q.is_empty() => Some(gp), // nothing else to run here
        None => {
            p.yield_slot.store(gp.as_ptr(), Ordering::Relaxed);
            q.pop().or_else(|| take_yield_slot(p))
        }
        Some(older) if q.is_empty() => {
            p.yield_slot.store(gp.as_ptr(), Ordering::Relaxed);
            Some(older)
        }
        Some(older) => {
            q.push(older);
            q.push(gp);
            q.pop()
        }
    }
}

/// Recycles a finished goroutine (Go: `goexit0` + `gfput`), into `p`'s
/// caches, or the global pools when the M has no P.
fn gdestroy(p: Option<&Processor>, gp: GRef) {
    let s = sched();
    let g = gp.get();
    g.status.store(status::DEAD, Ordering::Relaxed);
    // SAFETY: the goroutine is finished and owned by this M.
    let coro = unsafe { &mut *g.coro.get() }.take();
    if let Some(c) = coro {
        match p {
            // SAFETY: this M holds p.
            Some(p) => stack::free(unsafe { p.stacks() }, c.into_stack()),
            None => stack::free_global(c.into_stack()),
        }
    }
    g.yielder.set(ptr::null());
    g.arg.set(ptr::null_mut());
    g.is_main.set(false);
    // SAFETY: the goroutine is finished; its state is ours to reset.
    unsafe { (*g.panic.get()).reset() };
    g.stack_lo.set(0);
    g.stack_hi.set(0);
    let counted = g.counted.swap(false, Ordering::Relaxed);
    match p {
        Some(p) => {
            if counted {
                bump(&s.counters[p.id].exited);
            }
            gfput(p, gp);
        }
        None => {
            if counted {
                s.global.exited.fetch_add(1, Ordering::Relaxed);
            }
            g.status.store(status::IDLE, Ordering::Relaxed);
            s.gfree_global.lock().push(gp);
        }
    }
}

/// Whether a short active spin is worthwhile (Go: `sync_runtime_canSpin`,
/// minus the iteration limit): more than one CPU, some other processor
/// busy, and nothing waiting in our own run queue.
pub fn can_spin() -> bool {
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

// ---------------------------------------------------------------------------
// GOMAXPROCS and statistics.

/// Sets GOMAXPROCS to `n` (clamped to 1..=MAX_PROCS); returns the previous
/// value.
pub fn set_gomaxprocs(n: usize) -> usize {
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
pub struct Stats {
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
pub fn stats() -> Stats {
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
pub fn num_goroutine() -> i64 {
    stats().goroutines
}
