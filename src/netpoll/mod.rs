//! The netpoller: goroutines wait for file descriptors without holding a
//! thread (Go: `runtime/netpoll.go`, `netpoll_epoll.go`; API.md §10).
//!
//! # Model
//!
//! One epoll instance for the process. A goroutine whose read or write
//! would block links a [`Waiter`] (on its own stack) into the descriptor's
//! [`PollDesc`], arms its deadline on the timer heap, and parks; its
//! thread runs other goroutines. Readiness is collected by the scheduler,
//! never by a thread of its own:
//!
//! - an M whose run queues are empty polls without blocking before it
//!   steals (`find_runnable`);
//! - one idle M at a time blocks in `epoll_wait` with the next timer as
//!   its timeout (`stopm`), instead of sleeping on its note; an eventfd
//!   registered in the epoll set breaks that wait when an earlier timer is
//!   added ([`wake_poller`]);
//! - sysmon polls when nobody has for 10 ms (every P busy in C code).
//!
//! The goroutines an event readies are handed to the scheduler together
//! (`sched::inject`, Go's `injectglist`).
//!
//! # Registration: edge-triggered, re-armed when it matters
//!
//! A descriptor is registered once, edge-triggered for both directions
//! (as Go does), so a reader and a writer never disturb each other and a
//! waiter costs no system call when it is woken. Readiness seen while no
//! one waits sets the descriptor's `ready` bits, which the next wait
//! consumes; each read or write clears its bit first (Go's
//! `pollReset`), so only readiness that arrived after the call began is
//! trusted.
//!
//! The host may `close(2)` a descriptor we registered and get its number
//! back for another file, possibly while the old file lives on through a
//! `dup` (then its epoll registration lives on too, and keeps reporting).
//! Re-arming with `EPOLL_CTL_MOD` notices: it fails with `ENOENT` when the
//! number now names another file, which is then registered afresh
//! (`EPOLL_CTL_ADD`) under a new *generation*; the epoll data carries
//! (fd, generation), and events of an older generation are dropped. `MOD`
//! also re-checks readiness, so an edge lost while the number named
//! nothing is still seen. Go needs none of this, as it owns every close.
//!
//! Waits that report readiness to their caller (`gort_fd_wait`,
//! `gort_fd_ready`) re-arm before every park. A read, write or accept
//! tries its call again after each wake-up, so a stale readiness costs it
//! one more attempt, not a wrong answer: its first wait *trusts* the
//! registration and parks with no system call (`Arm::Trusted`), and only
//! a wait that follows a wake-up with nothing to do re-arms. What trust
//! can miss is a reused number with no registration at all, which would
//! never report: sysmon's *rescue* scan, every [`RESCUE_PERIOD_NS`] (5 ms)
//! while such waits are parked, looks at every descriptor whose trusted
//! waits have parked through [`RESCUE_AGE_SCANS`] scans (10-15 ms), once
//! per park, so such a read is late by about 15 ms at most. Waits are
//! stamped with the scan count, not the time, so parking reads no clock;
//! the first one after a scan that left nothing wakes sysmon, whose poll
//! interval may be longer than the period. A socket whose number still
//! names the socket registered (the same inode, one `fstat`) is left be:
//! its waits are merely idle; anything else is re-armed. A busy
//! connection thus makes no `epoll_ctl` at all, even with waits longer
//! than 10 ms (a re-arm would also report its readiness again, waking
//! its waiters for nothing). Sockets are read
//! and written with `MSG_DONTWAIT`, so a reused number that is a blocking
//! socket never blocks a thread, and other descriptors have their
//! `O_NONBLOCK` flag checked at each call (one `fcntl`).
//!
//! A number closed with `gort_fd_close` has no registration left (the
//! close removed it), so the next file to get it is registered at its
//! first wait (`PollDesc::registered`) rather than trusted.
//!
//! # Short reads
//!
//! A `gort_read` on a TCP socket that returns less than it asked for
//! emptied the receive queue, so the next `gort_read` waits before it
//! tries (`PollDesc::drained`): a request-response connection then makes
//! no read that only says EAGAIN. That leans on two facts: edge-triggered
//! epoll reports every arrival (so data that came after the short read
//! has set `ready`, or will wake the wait), and only a TCP read stops
//! short with data left when something else ended it (the end of the
//! stream, an error, urgent data), which its event reports (`KIND_ENDED`
//! ends the hint for good). Any other look at read readiness (`reset`, a
//! wait) drops the hint, so it never outlives the read that set it.
//!
//! One-shot arming (`EPOLLONESHOT`, MOD per wait) costs the same system
//! call and spares the events nobody waits for, but a reader and a writer
//! waiting together share one arming that the first event disarms, so the
//! poller must re-arm for the other; edge-triggered needs nothing of the
//! kind.
//!
//! # Lifetime
//!
//! `PollDesc` records are indexed by descriptor number in a two-level
//! table and never freed (as Go's `pollcache`). Each has a lock over its
//! waiter list, taken by waiters, by the poller for an event, by the
//! deadline timers and by `gort_fd_close`; the lock order is pd lock →
//! timer heap lock (never the reverse: timers fire outside the heap lock).
//!
//! `refs` counts gort calls inside a read or write on the descriptor, with
//! a CLOSING flag: `gort_fd_close` sets it (later calls fail with EBADF),
//! wakes every waiter with EBADF, waits for the count to drain (as Go's
//! `fdMutex`) and only then closes, so a woken call never touches a
//! reused number.
//!
//! # Invariants
//!
//! - A waiter is linked in at most one list, and only while its owner is
//!   parked in (or about to park in, holding the lock) [`wait`]; whoever
//!   unlinks it (event, deadline, close) sets its result and wakes it,
//!   exactly once, and never touches it afterwards.
//! - `nwait` counts linked goroutine and channel waiters.

use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
use std::sync::OnceLock;

use crate::lock::Mutex;
use crate::os;
use crate::panic::fatal;
use crate::sched::{self, GRef};
use crate::time::TimerNode;

/// Ready for reading (or at end of file, or an error condition).
pub(crate) const POLL_IN: u8 = 1;
/// Ready for writing (or an error condition).
pub(crate) const POLL_OUT: u8 = 2;
const POLL_BOTH: u8 = POLL_IN | POLL_OUT;

/// Descriptors per table chunk, and chunks: descriptors below 16M.
const CHUNK: usize = 1024;
const NCHUNKS: usize = 16384;

/// `refs` flag: `gort_fd_close` has begun.
const CLOSING: u32 = 1 << 31;
/// `refs` flag: the descriptor is being closed right now.
const FINAL: u32 = 1 << 30;
const COUNT_MASK: u32 = FINAL - 1;

/// How long the poller may go unpolled while goroutines wait before
/// sysmon polls (Go: 10 ms in `sysmon`).
pub(crate) const SYSMON_POLL_NS: i64 = 10_000_000;

/// How often sysmon's rescue scan runs while trusted waits (`Arm::Trusted`)
/// are parked (no Go counterpart: Go owns every close).
pub(crate) const RESCUE_PERIOD_NS: i64 = 5_000_000;

/// The scan that rescues a trusted wait: the third after it parked, so
/// that it has parked for two whole periods (10 ms: a busy connection's
/// ordinary waits are left alone, as each rescue costs an `fstat`) and at
/// most three (15 ms, plus sysmon's lateness): the longest a read on a
/// number the host closed and got back waits for a registration.
pub(crate) const RESCUE_AGE_SCANS: u32 = 3;

static WAIT_IO: &str = "IO wait";

mod ops;
mod pd;
mod ready;
mod wait;

pub(crate) use ops::*;
use pd::*;
pub(crate) use pd::{rescue, rescue_pending};
pub(crate) use ready::*;
use wait::*;

// ---------------------------------------------------------------------------
// The poller.

struct Poller {
    epfd: i32,
    /// An eventfd in the epoll set (level-triggered) that breaks a
    /// blocking `epoll_wait`.
    wakefd: i32,
    /// Goroutine and channel waiters linked anywhere.
    nwait: AtomicI64,
    /// An M is blocked in `epoll_wait` (at most one: `claim`).
    blocked: AtomicBool,
    /// The wake-up eventfd was written and not yet drained.
    wake_sent: AtomicBool,
    /// When the poller last ran (for sysmon).
    last_poll: AtomicI64,
}

static POLLER: OnceLock<Poller> = OnceLock::new();

/// epoll data of the wake-up eventfd.
const WAKE_DATA: u64 = u64::MAX;

fn poller() -> &'static Poller {
    POLLER.get_or_init(|| {
        // SAFETY: plain system calls with valid arguments.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            fatal("netpoll: epoll_create1 failed");
        }
        // SAFETY: as above.
        let wakefd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if wakefd < 0 {
            fatal("netpoll: eventfd failed");
        }
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: WAKE_DATA,
        };
        // SAFETY: ev is a valid epoll_event for the duration of the call.
        if unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, wakefd, &mut ev) } != 0 {
            fatal("netpoll: cannot register the wake-up eventfd");
        }
        Poller {
            epfd,
            wakefd,
            nwait: AtomicI64::new(0),
            blocked: AtomicBool::new(false),
            wake_sent: AtomicBool::new(false),
            last_poll: AtomicI64::new(os::nanotime()),
        }
    })
}

/// Whether goroutines (or `gort_fd_ready` channels) wait for readiness.
#[inline]
pub(crate) fn has_waiters() -> bool {
    POLLER
        .get()
        .is_some_and(|p| p.nwait.load(Ordering::SeqCst) > 0)
}

/// Whether a scheduler round should poll without blocking: something
/// waits and no M is blocked in the poller already (it collects
/// everything).
#[inline]
pub(crate) fn should_poll() -> bool {
    POLLER
        .get()
        .is_some_and(|p| p.nwait.load(Ordering::Relaxed) > 0 && !p.blocked.load(Ordering::Relaxed))
}

/// For sysmon: nobody polled for SYSMON_POLL_NS while something waits.
pub(crate) fn overdue(now: i64) -> bool {
    POLLER.get().is_some_and(|p| {
        p.nwait.load(Ordering::Relaxed) > 0
            && !p.blocked.load(Ordering::Relaxed)
            && now - p.last_poll.load(Ordering::Relaxed) > SYSMON_POLL_NS
    })
}

/// Becomes the one M that blocks in the poller; false if another is.
pub(crate) fn claim() -> bool {
    let p = poller();
    p.blocked
        .compare_exchange(false, true, Ordering::SeqCst, Ordering::Relaxed)
        .is_ok()
}

/// Gives up the claim of [`claim`] after a blocking poll.
pub(crate) fn unclaim() {
    poller().blocked.store(false, Ordering::SeqCst);
}

/// Whether an M is blocked in the poller (or about to be).
#[inline]
pub(crate) fn poller_blocked() -> bool {
    POLLER
        .get()
        .is_some_and(|p| p.blocked.load(Ordering::SeqCst))
}

/// Breaks a blocking poll (an earlier timer was added, or work for the
/// polling M arrived). Cheap when nobody is blocked.
pub(crate) fn wake_poller() {
    let Some(p) = POLLER.get() else { return };
    if p.blocked.load(Ordering::SeqCst) && !p.wake_sent.swap(true, Ordering::SeqCst) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd.
        unsafe { libc::write(p.wakefd, &one as *const u64 as *const libc::c_void, 8) };
    }
}

/// The descriptor of an event's data (-1 for the wake-up eventfd's).
#[inline]
fn event_fd(data: u64) -> i32 {
    (data >> 32) as i32
}

/// Starts loading what handling `events` will read, so that the cache
/// misses of a batch overlap instead of following one another: each
/// descriptor's record, then the waiter it linked last (on a parked
/// goroutine's stack, cold by now).
fn prefetch_events(events: &[libc::epoll_event]) {
    if events.len() < 2 {
        return;
    }
    for ev in events {
        if let Some(pd) = pd_lookup(event_fd(ev.u64)) {
            let a = pd as *const PollDesc as usize;
            os::prefetch(a);
            os::prefetch(a + 64);
        }
    }
    for ev in events {
        if let Some(pd) = pd_lookup(event_fd(ev.u64)) {
            os::prefetch(pd.recent.load(Ordering::Relaxed));
        }
    }
}

/// Polls for ready descriptors: without blocking when `until` is 0,
/// otherwise until the absolute time `until` (i64::MAX: no limit) or an
/// event. Channel and foreign waiters are woken here; the goroutines made
/// runnable are returned for the caller to queue (`sched::inject`).
///
/// A blocking poll must be made by the M that [`claim`]ed the poller,
/// which gives the claim up afterwards ([`unclaim`]).
pub(crate) fn netpoll(until: i64) -> Vec<GRef> {
    let p = poller();
    let blocking = until != 0;
    let timeout_ms: i32 = if !blocking {
        0
    } else if until == i64::MAX {
        -1
    } else {
        let ns = until - os::nanotime();
        if ns <= 0 {
            0
        } else {
            // Round up: waking early only means polling again.
            ((ns + 999_999) / 1_000_000).min(i32::MAX as i64) as i32
        }
    };
    const N: usize = 128;
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; N];
    let e = os::errno();
    // SAFETY: events has room for N entries.
    let n = unsafe { libc::epoll_wait(p.epfd, events.as_mut_ptr(), N as i32, timeout_ms) };
    os::set_errno(e);
    p.last_poll.store(os::nanotime(), Ordering::Relaxed);
    let events = &events[..n.max(0) as usize];
    prefetch_events(events);
    let mut gs = Vec::new();
    for ev in events {
        let (bits, data) = (ev.events, ev.u64);
        if data == WAKE_DATA {
            if !blocking {
                // Level-triggered: left for the blocked M it is meant for.
                continue;
            }
            let mut buf = 0u64;
            // SAFETY: reads 8 bytes into a live u64 from our eventfd.
            unsafe { libc::read(p.wakefd, &mut buf as *mut u64 as *mut libc::c_void, 8) };
            p.wake_sent.store(false, Ordering::SeqCst);
            continue;
        }
        let mut mask = 0;
        let (r, w, hup) = (
            (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
            libc::EPOLLOUT as u32,
            (libc::EPOLLHUP | libc::EPOLLERR) as u32,
        );
        if bits & (r | hup) != 0 {
            mask |= POLL_IN;
        }
        if bits & (w | hup) != 0 {
            mask |= POLL_OUT;
        }
        // The end of the stream, an error, or urgent data: a short read no
        // longer means an empty queue (see `PollDesc::note_recv`).
        let ended = (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLPRI) as u32;
        if let Some(pd) = pd_lookup(event_fd(data)) {
            let ev = Event {
                gen: data as u32,
                mask,
                hup: bits & hup != 0,
                ended: bits & ended != 0,
            };
            pd.on_event(ev, &mut gs);
        }
    }
    if crate::timeline::on() && !gs.is_empty() {
        crate::timeline::netpoll(gs.len());
    }
    gs
}
