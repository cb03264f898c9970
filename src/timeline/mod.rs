//! GORT_TRACE: a timeline of the scheduler that opens in Perfetto
//! (ui.perfetto.dev) and chrome://tracing (API.md §8.3).
//!
//! (Not to be confused with module `trace`, the goroutine dumps.)
//!
//! # What is recorded
//!
//! One track per P and per M; a slice for every stretch a goroutine ran,
//! on the track of its P and of its M, named `G<id> <entry function>`;
//! instants for creation, blocking (with the wait reason of the dumps),
//! unblocking by something that is not a goroutine, sysmon's retakes,
//! netpoll wake-ups, foreign `gort_call` entry and exit (with a slice on
//! the foreign thread's track); flow arrows from a creator's slice to the
//! created goroutine's first slice and from a readier's slice to the
//! readied goroutine's next one; counters of runnable and live goroutines.
//!
//! # Format: Chrome JSON, written at the end
//!
//! The trace is Chrome's JSON trace event format (`{"traceEvents":[...]}`):
//! both viewers open it, and it can be checked with any JSON parser.
//! Perfetto's protobuf would be several times smaller but chrome://tracing
//! does not read it, and writing it means hand-encoding a schema we could
//! not check without Perfetto's tools. The few event shapes are written
//! by hand (module `writer`): a JSON crate would add code and buy
//! nothing for objects this regular.
//!
//! JSON costs time: a slice with its flow and instant is some 400 bytes
//! of text, several hundred nanoseconds to format, where a channel
//! hand-off costs about 50 ns. Formatting as events happen would make a
//! traced ping-pong several times slower, so the hot paths only append
//! 32-byte binary records to their M's buffer (module `buffer`): raw
//! goroutine ids, code addresses and pointers to static wait reasons,
//! stamped with the CPU's time-stamp counter where the kernel trusts it
//! (10 ns here against 23 for `clock_gettime`). A hand-off costs two
//! records (the end of one slice, the start of the next) and two clock
//! reads: a ready by a goroutine leaves no record of its own, as the
//! readied goroutine carries a *flow word* naming the readier's slice
//! (M id and start), from which the writer draws the arrow. Full buffers
//! are copied into memory mapped in huge pages, which sysmon maps and
//! populates ahead of need (a first touch of memory is what costs most
//! on a virtual machine), and past 256 MiB into an unlinked spill file
//! next to the trace (or in `$TMPDIR`). When the session ends
//! (gort_trace_stop, exit, a fatal error or an unrecovered panic) the
//! records are read back and the JSON written in one pass, with names
//! symbolized once per entry function and ticks converted to
//! `CLOCK_MONOTONIC` microseconds (the clock of `gort_nanotime`) by the
//! two anchors taken at the session's start and end. The price: the file
//! appears only at the end, and the end takes time proportional to the
//! trace (about a second per million slices). Events made while a
//! goroutine runs (its readies and spawns) carry the time its slice
//! started: the arrows bind to the right slices, only their tails sit at
//! the slice's start rather than at the moment of the ready.
//!
//! # Cost
//!
//! Off: every hook is `if timeline::on() { timeline::hook(..) }`, one
//! relaxed load of a global and a predictable branch; the recording
//! functions are `#[cold]` and out of line. On: a hook is a thread-local
//! (or the M at hand), a check that the M's buffer belongs to the live
//! session, a clock read and four stores; no lock and no locked
//! instruction, except in threads without an M (foreign threads, sysmon),
//! which share one buffer behind a mutex. The counters are sampled by an
//! M at a slice start at most every 100,000 ticks (30-100 µs), and by
//! sysmon at most every millisecond.
//!
//! # Invariants
//!
//! - A session is live exactly while `buffer::LIVE` is non-zero; `CTL`
//!   holds it. Only one session exists at a time, and a new one cannot
//!   start while the last one is being written (`Ctl::writing`).
//! - Hooks never block, switch goroutines or change errno; they take no
//!   lock but the M buffer's own (once per buffer fill) and the shared
//!   buffer's (threads without an M).
//! - A goroutine's `timeline_flow` is written by whoever readies or
//!   creates it, before it is queued, and read and cleared by the M that
//!   runs it next: the run queue hand-off orders the two.
//! - The session's files are closed only after every buffer's lock has
//!   been taken once with the session no longer live, so no M writes to a
//!   closed (or reused) descriptor.
//! - The exit paths write the trace at most once; a failure while writing
//!   it (a fatal error inside the writer) does not write it again.

mod buffer;
mod writer;

use std::ffi::CStr;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use corosensei::CoroutineResult;

use crate::lock::Mutex;
use crate::sched::{self, Action, Goroutine, Machine};
use buffer::{flow, kind, who, Rec};

pub(crate) use buffer::MBufPtr;

/// Ticks between two samples of the counters by one M (some 30-100 µs).
const SAMPLE_TICKS: u64 = 100_000;
/// sysmon samples the counters at most this often.
const SYSMON_SAMPLE_NS: i64 = 1_000_000;

/// Whether a trace is being recorded. The hooks' one check.
#[inline(always)]
pub(crate) fn on() -> bool {
    buffer::LIVE.load(Ordering::Relaxed) != 0
}

// ---------------------------------------------------------------------------
// Hooks.

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
    let now = buffer::ticks();
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
pub(crate) fn slice_end(m: &Machine, g: &Goroutine, result: &CoroutineResult<Action, ()>) {
    let Some(b) = buffer::mbuf(m) else { return };
    let (k, reason) = match result {
        CoroutineResult::Yield(Action::Yield) => (kind::END_YIELD, 0),
        CoroutineResult::Yield(Action::Park { .. }) => (
            kind::END_PARK,
            g.wait_reason.load(Ordering::Relaxed) as usize as u64,
        ),
        CoroutineResult::Yield(Action::Exit) | CoroutineResult::Return(()) => (kind::END_EXIT, 0),
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
    b.push(Rec::new(buffer::ticks(), k, g.goid() as u64, reason, p));
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
        buffer::push_shared(thread_kind(), Rec::new(buffer::ticks(), k, a, b, c));
        return;
    }
    // SAFETY: Ms are never freed; this is the calling thread's own.
    let m = unsafe { &*mp };
    let Some(b) = buffer::mbuf(m) else { return };
    if m.curg.load(Ordering::Relaxed).is_null() {
        // From the scheduler (timers, the poller): no arrow, an instant.
        g.timeline_flow.store(0, Ordering::Relaxed);
        let (a0, a1, a2) = args(goid, entry, 0);
        b.push(Rec::new(buffer::ticks(), k, a0, a1, a2));
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
        Rec::new(buffer::ticks(), kind::RETAKE, p as u64, m.id as u64, 0),
    );
}

/// One poll of the netpoller readied `n` goroutines.
#[cold]
#[inline(never)]
pub(crate) fn netpoll(n: usize) {
    record_here(Rec::new(buffer::ticks(), kind::NETPOLL, n as u64, 0, 0));
}

/// A foreign thread entered its outermost gort_call, as goroutine `g`
/// running `f`.
#[cold]
#[inline(never)]
pub(crate) fn call_enter(g: &Goroutine) {
    buffer::push_shared(
        who::FOREIGN,
        Rec::new(
            buffer::ticks(),
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
        Rec::new(buffer::ticks(), kind::CALL_EXIT, g.goid() as u64, 0, 0),
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
    buffer::prefault();
    let now = crate::os::nanotime();
    if now - SYSMON_SAMPLED.load(Ordering::Relaxed) < SYSMON_SAMPLE_NS {
        return;
    }
    SYSMON_SAMPLED.store(now, Ordering::Relaxed);
    let (live, runnable) = counters();
    buffer::push_shared(
        who::SYSMON,
        Rec::new(buffer::ticks(), kind::COUNTERS, live, runnable, 0),
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
fn record_here(r: Rec) {
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

/// Live and runnable goroutines.
fn counters() -> (u64, u64) {
    (
        sched::num_goroutine().max(0) as u64,
        sched::runnable_count().max(0) as u64,
    )
}

// ---------------------------------------------------------------------------
// Sessions.

/// A trace being recorded.
#[derive(Debug)]
struct Session {
    id: u32,
    /// The trace file, opened at start.
    out: i32,
    /// The spill file (unlinked).
    spill: i32,
    /// Start anchor: ticks and nanotime.
    t0: u64,
    ns0: i64,
    clock: &'static str,
    /// The process that started it: a child forked without exec has a
    /// copy of the session, which is not its own to write.
    pid: i32,
}

#[derive(Debug)]
struct Ctl {
    session: Option<Session>,
    /// A stopped session's trace is being written.
    writing: bool,
    last_id: u32,
    atexit_registered: bool,
}

static CTL: Mutex<Ctl> = Mutex::new(Ctl {
    session: None,
    writing: false,
    last_id: 0,
    atexit_registered: false,
});

/// `pthread_self()` of the thread writing a trace (0: none), so that a
/// fatal error inside the writer does not try to write it again.
static WRITER: AtomicU64 = AtomicU64::new(0);

fn getpid() -> i32 {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
}

fn this_thread() -> u64 {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() as u64 }
}

/// Starts recording to `path` (gort_trace_start). Errors are errno values.
pub(crate) fn start(path: &CStr) -> Result<(), i32> {
    let mut ctl = CTL.lock();
    if ctl.session.is_some() || ctl.writing {
        return Err(libc::EBUSY);
    }
    // SAFETY: path is NUL-terminated; open has no other preconditions.
    let out = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
            0o666,
        )
    };
    if out < 0 {
        return Err(crate::os::errno());
    }
    let spill = match open_spill(path) {
        Ok(fd) => fd,
        Err(e) => {
            // SAFETY: our own descriptor.
            unsafe { libc::close(out) };
            return Err(e);
        }
    };
    if !ctl.atexit_registered {
        ctl.atexit_registered = true;
        // SAFETY: a plain extern "C" function; the library is never
        // unloaded (-z nodelete).
        unsafe { libc::atexit(flush_at_exit) };
    }
    let clock = buffer::choose_clock();
    let (t0, ns0) = buffer::anchor();
    ctl.last_id = ctl.last_id.wrapping_add(1).max(1);
    let id = ctl.last_id;
    ctl.session = Some(Session {
        id,
        out,
        spill,
        t0,
        ns0,
        clock,
        pid: getpid(),
    });
    SYSMON_SAMPLED.store(0, Ordering::Relaxed);
    buffer::begin(id, spill);
    buffer::prefault();
    let (live, runnable) = counters();
    record_here(Rec::new(buffer::ticks(), kind::COUNTERS, live, runnable, 0));
    Ok(())
}

/// An unlinked file for the binary records: in the trace's directory (the
/// space the trace needs anyway), else in `$TMPDIR` or /tmp.
fn open_spill(path: &CStr) -> Result<i32, i32> {
    let bytes = path.to_bytes();
    let dir = match bytes.iter().rposition(|&c| c == b'/') {
        Some(0) => b"/".to_vec(),
        Some(i) => bytes[..i].to_vec(),
        None => b".".to_vec(),
    };
    let tmp = std::env::var_os("TMPDIR")
        .map(|s| std::os::unix::ffi::OsStrExt::as_bytes(s.as_os_str()).to_vec())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| b"/tmp".to_vec());
    let mut first_err = 0;
    for d in [dir, tmp] {
        let Ok(c) = std::ffi::CString::new(d.clone()) else {
            continue;
        };
        // SAFETY: c is NUL-terminated.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_TMPFILE | libc::O_RDWR | libc::O_CLOEXEC,
                0o600,
            )
        };
        if fd >= 0 {
            return Ok(fd);
        }
        // No O_TMPFILE on this file system: a named file, unlinked at once.
        let mut name = d.clone();
        let pid = getpid();
        name.extend_from_slice(format!("/.gort-trace-{pid}-{}", crate::os::nanotime()).as_bytes());
        let Ok(n) = std::ffi::CString::new(name) else {
            continue;
        };
        // SAFETY: n is NUL-terminated.
        let fd = unsafe {
            libc::open(
                n.as_ptr(),
                libc::O_CREAT | libc::O_EXCL | libc::O_RDWR | libc::O_CLOEXEC,
                0o600,
            )
        };
        if fd >= 0 {
            // SAFETY: as above.
            unsafe { libc::unlink(n.as_ptr()) };
            return Ok(fd);
        }
        if first_err == 0 {
            first_err = crate::os::errno();
        }
    }
    Err(first_err)
}

/// Stops recording and writes the trace (gort_trace_stop). Errors are
/// errno values: EINVAL if no trace was being recorded, else the first
/// error writing the trace or its spill file.
pub(crate) fn stop() -> Result<(), i32> {
    let sess = {
        let mut ctl = CTL.lock();
        if ctl.session.as_ref().is_some_and(|s| s.pid != getpid()) {
            return Err(libc::EINVAL); // a forked child: the trace is its parent's
        }
        let Some(s) = ctl.session.take() else {
            return Err(libc::EINVAL);
        };
        ctl.writing = true;
        s
    };
    // Writing takes a while: on a goroutine, let the P's other work go on
    // meanwhile (the lock is not held across the possible switch).
    sched::blocking_enter();
    let r = finish(sess, 0, Duration::from_secs(5));
    CTL.lock().writing = false;
    sched::blocking_exit();
    r
}

/// Ends the session and writes its trace; `exit` says how the process is
/// ending (0: it is not).
fn finish(sess: Session, exit: u64, patience: Duration) -> Result<(), i32> {
    WRITER.store(this_thread(), Ordering::SeqCst);
    let (live, runnable) = counters();
    record_here(Rec::new(buffer::ticks(), kind::COUNTERS, live, runnable, 0));
    if exit != 0 {
        record_here(Rec::new(buffer::ticks(), kind::EXIT, exit, 0, 0));
    }
    let (len, spill_err) = buffer::end(sess.id, patience);
    let end = buffer::anchor();
    let info = writer::Info {
        pid: getpid(),
        start: (sess.t0, sess.ns0),
        end,
        clock: sess.clock,
        spill_err,
    };
    let mut r = writer::write(sess.spill, len, sess.out, &info);
    buffer::release_memory();
    // SAFETY: the session's own descriptors, closed once; no M writes to
    // the spill file any more (buffer::end took every buffer's lock).
    unsafe {
        libc::close(sess.spill);
        if libc::close(sess.out) != 0 && r.is_ok() {
            r = Err(crate::os::errno());
        }
    }
    WRITER.store(0, Ordering::SeqCst);
    if r.is_ok() && spill_err != 0 {
        r = Err(spill_err);
    }
    r
}

/// The process is ending: a fatal error, an unrecovered panic or the
/// SIGQUIT dump (`fatal` true; the caller is about to `_exit(2)`), or
/// `exit()` (the atexit handler). Writes the trace if one is being recorded; if a stop is
/// writing one, waits for it (a few seconds at most).
pub(crate) fn at_exit(fatal: bool) {
    if WRITER.load(Ordering::SeqCst) == this_thread() {
        return; // failing inside the writer: leave it
    }
    let wait = if fatal { 2 } else { 10 };
    let Some(mut ctl) = CTL.try_lock_for(Duration::from_secs(wait)) else {
        return;
    };
    if ctl.session.as_ref().is_some_and(|s| s.pid != getpid()) {
        return; // a forked child: the trace is its parent's
    }
    if let Some(sess) = ctl.session.take() {
        ctl.writing = true;
        drop(ctl);
        let _ = finish(sess, if fatal { 2 } else { 1 }, Duration::from_millis(500));
        CTL.lock().writing = false;
        return;
    }
    let writing = ctl.writing;
    drop(ctl);
    if writing {
        let deadline = crate::os::nanotime() + wait as i64 * 1_000_000_000;
        while CTL.lock().writing && crate::os::nanotime() < deadline {
            crate::os::thread_sleep(1_000_000);
        }
    }
}

/// Registered with atexit by the first start: `exit()`, a return from
/// `main`, or the end of gort_main's main function.
extern "C" fn flush_at_exit() {
    crate::lock::keeping_errno(|| at_exit(false));
}

/// `GORT_TRACE=<file>` at start-up (`%p` in it replaced by the process
/// id): starts a trace, or says once on stderr why it cannot.
pub(crate) fn start_from_env() {
    let Some(v) = std::env::var_os("GORT_TRACE") else {
        return;
    };
    let raw = std::os::unix::ffi::OsStrExt::as_bytes(v.as_os_str()).to_vec();
    if raw.is_empty() {
        return; // an empty value counts as unset
    }
    // "%p" stands for the process id: a child started with the same
    // environment writes a file of its own.
    let pid = getpid().to_string();
    let mut bytes = Vec::with_capacity(raw.len() + 8);
    let mut i = 0;
    while i < raw.len() {
        if raw[i..].starts_with(b"%p") {
            bytes.extend_from_slice(pid.as_bytes());
            i += 2;
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    let shown = String::from_utf8_lossy(&bytes).into_owned();
    let res = std::ffi::CString::new(bytes)
        .map_err(|_| libc::EINVAL)
        .and_then(|c| start(&c));
    if let Err(e) = res {
        // "No such file or directory", without std's " (os error 2)".
        let msg = std::io::Error::from_raw_os_error(e).to_string();
        let msg = msg.split(" (os error").next().unwrap_or_default();
        crate::os::write_stderr(
            format!("gort: GORT_TRACE=\"{shown}\": {msg}; not tracing\n").as_bytes(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    static RAN: AtomicBool = AtomicBool::new(false);

    unsafe extern "C" fn traced_goroutine(_: *mut std::ffi::c_void) {
        crate::sched::gosched();
        RAN.store(true, Ordering::SeqCst);
    }

    #[test]
    fn a_session_writes_a_complete_file() {
        let dir = std::env::temp_dir().join(format!("gort-timeline-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.json");
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        assert_eq!(stop(), Err(libc::EINVAL));
        start(&c).unwrap();
        assert!(on());
        assert_eq!(start(&c), Err(libc::EBUSY));
        sched::spawn(traced_goroutine, std::ptr::null_mut());
        while !RAN.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        stop().unwrap();
        assert!(!on());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\"traceEvents\":["), "{text}");
        assert!(text.ends_with("}}\n"), "{text}");
        assert!(text.contains("\"ph\":\"X\""), "{text}");
        assert!(text.contains("traced_goroutine"), "{text}");
        assert!(text.contains("\"end\":\"yield\""), "{text}");

        // A second session whose records mostly go to the spill file (one
        // chunk fits in memory): every slice is paired in order.
        buffer::set_mem_cap(100_000);
        let path2 = dir.join("spill.json");
        std::fs::create_dir_all(&dir).unwrap();
        let c2 = std::ffi::CString::new(path2.to_str().unwrap()).unwrap();
        start(&c2).unwrap();
        YIELDS_DONE.store(0, Ordering::SeqCst);
        for _ in 0..2 {
            sched::spawn(yielder, std::ptr::null_mut());
        }
        while YIELDS_DONE.load(Ordering::SeqCst) < 2 {
            std::thread::sleep(Duration::from_millis(1));
        }
        stop().unwrap();
        buffer::set_mem_cap(256 << 20);
        let text = std::fs::read_to_string(&path2).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(text.ends_with("}}\n"));
        let yielded = text.matches("\"end\":\"yield\"").count();
        // Each yield's slice is on its M's track, and on its P's unless
        // the P changed hands meanwhile.
        assert!(yielded >= 2 * YIELDS, "{yielded} yield slices");
        assert!(
            !text.contains("\"end\":\"unknown\""),
            "a slice start without its end"
        );
        assert!(!text.contains("incomplete"));
    }

    const YIELDS: usize = 5000;
    static YIELDS_DONE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    unsafe extern "C" fn yielder(_: *mut std::ffi::c_void) {
        for _ in 0..YIELDS {
            crate::sched::gosched();
        }
        YIELDS_DONE.fetch_add(1, Ordering::SeqCst);
    }
}
