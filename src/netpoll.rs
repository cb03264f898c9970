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
//! # Registration: edge-triggered, re-armed at each wait
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
//! So before every park the registration is re-armed with `EPOLL_CTL_MOD`:
//! it fails with `ENOENT` when the number now names another file, which
//! is then registered afresh (`EPOLL_CTL_ADD`) under a new *generation*;
//! the epoll data carries (fd, generation), and events of an older
//! generation are dropped. `MOD` also re-checks readiness, so an edge lost
//! while the number named nothing is still seen. This costs one
//! `epoll_ctl` per park (Go needs none, as it owns every close); sockets
//! are read and written with `MSG_DONTWAIT`, so a reused number that is a
//! blocking socket never blocks a thread, and other descriptors have their
//! `O_NONBLOCK` flag checked at each call (one `fcntl`).
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
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU8, Ordering};
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

static WAIT_IO: &str = "IO wait";

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
pub fn has_waiters() -> bool {
    POLLER
        .get()
        .is_some_and(|p| p.nwait.load(Ordering::SeqCst) > 0)
}

/// Whether a scheduler round should poll without blocking: something
/// waits and no M is blocked in the poller already (it collects
/// everything).
#[inline]
pub fn should_poll() -> bool {
    POLLER
        .get()
        .is_some_and(|p| p.nwait.load(Ordering::Relaxed) > 0 && !p.blocked.load(Ordering::Relaxed))
}

/// For sysmon: nobody polled for SYSMON_POLL_NS while something waits.
pub fn overdue(now: i64) -> bool {
    POLLER.get().is_some_and(|p| {
        p.nwait.load(Ordering::Relaxed) > 0
            && !p.blocked.load(Ordering::Relaxed)
            && now - p.last_poll.load(Ordering::Relaxed) > SYSMON_POLL_NS
    })
}

/// Becomes the one M that blocks in the poller; false if another is.
pub fn claim() -> bool {
    let p = poller();
    p.blocked
        .compare_exchange(false, true, Ordering::SeqCst, Ordering::Relaxed)
        .is_ok()
}

/// Whether an M is blocked in the poller (or about to be).
#[inline]
pub fn poller_blocked() -> bool {
    POLLER
        .get()
        .is_some_and(|p| p.blocked.load(Ordering::SeqCst))
}

/// Breaks a blocking poll (an earlier timer was added, or work for the
/// polling M arrived). Cheap when nobody is blocked.
pub fn wake_poller() {
    let Some(p) = POLLER.get() else { return };
    if p.blocked.load(Ordering::SeqCst) && !p.wake_sent.swap(true, Ordering::SeqCst) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd.
        unsafe { libc::write(p.wakefd, &one as *const u64 as *const libc::c_void, 8) };
    }
}

/// Polls for ready descriptors: without blocking when `until` is 0,
/// otherwise until the absolute time `until` (i64::MAX: no limit) or an
/// event. Channel and foreign waiters are woken here; the goroutines made
/// runnable are returned for the caller to queue (`sched::inject`).
///
/// A blocking poll must be made by the M that [`claim`]ed the poller; it
/// gives the claim up before returning.
pub fn netpoll(until: i64) -> Vec<GRef> {
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
    if blocking {
        p.blocked.store(false, Ordering::SeqCst);
    }
    p.last_poll.store(os::nanotime(), Ordering::Relaxed);
    let mut gs = Vec::new();
    for ev in events.iter().take(n.max(0) as usize) {
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
        let fd = (data >> 32) as i32;
        if let Some(pd) = pd_lookup(fd) {
            pd.on_event(data as u32, mask, bits & hup != 0, &mut gs);
        }
    }
    gs
}

// ---------------------------------------------------------------------------
// Descriptor records.

/// Who a waiter is, and how to wake it.
#[derive(Clone, Copy)]
enum Who {
    /// A parked goroutine.
    G(GRef),
    /// A foreign thread blocked in `ppoll` on its eventfd (and the fd).
    Foreign(i32),
    /// A `gort_fd_ready` channel (see `ChanWait`).
    Chan(*const ChanWait),
}

/// One wait on a descriptor, linked in its `PollDesc` (see the module
/// invariants).
pub(crate) struct Waiter {
    next: Cell<*const Waiter>,
    prev: Cell<*const Waiter>,
    linked: Cell<bool>,
    events: u8,
    seq: Cell<u64>,
    who: Who,
    /// Set by whoever unlinks the waiter: the ready events (> 0), 0 for
    /// the deadline, or a negative errno.
    result: Cell<i32>,
}

impl Waiter {
    fn new(events: u8, who: Who) -> Waiter {
        Waiter {
            next: Cell::new(ptr::null()),
            prev: Cell::new(ptr::null()),
            linked: Cell::new(false),
            events,
            seq: Cell::new(0),
            who,
            result: Cell::new(0),
        }
    }
}

/// The lock-protected part of a `PollDesc`.
struct Inner {
    /// Head of the waiter list.
    head: *const Waiter,
    /// The next waiter's sequence number (deadline timers name their
    /// waiter by it).
    next_seq: u64,
    /// The goroutine (or foreign record) in `gort_fd_close` waiting for
    /// the calls inside the descriptor to leave.
    closer: Option<GRef>,
}

// SAFETY: the raw pointers are only followed with the lock held, and point
// to waiters whose owners are parked (module invariants).
unsafe impl Send for Inner {}

/// The runtime's record of one descriptor number.
pub(crate) struct PollDesc {
    fd: i32,
    inner: Mutex<Inner>,
    /// Readiness that arrived while no one waited for it.
    ready: AtomicU8,
    /// The epoll registration generation; events of another are stale.
    gen: AtomicU32,
    /// Calls inside the descriptor, plus CLOSING / FINAL.
    refs: AtomicU32,
    /// A hint: the descriptor was last seen to be a socket.
    socket: AtomicBool,
}

impl PollDesc {
    fn new(fd: i32) -> PollDesc {
        PollDesc {
            fd,
            inner: Mutex::new(Inner {
                head: ptr::null(),
                next_seq: 1,
                closer: None,
            }),
            ready: AtomicU8::new(0),
            gen: AtomicU32::new(0),
            refs: AtomicU32::new(0),
            socket: AtomicBool::new(true),
        }
    }

    fn link(inner: &mut Inner, w: &Waiter) {
        w.next.set(inner.head);
        w.prev.set(ptr::null());
        if !inner.head.is_null() {
            // SAFETY: linked waiters are alive (module invariants).
            unsafe { (*inner.head).prev.set(w) };
        }
        inner.head = w;
        w.linked.set(true);
        w.seq.set(inner.next_seq);
        inner.next_seq += 1;
    }

    fn unlink(inner: &mut Inner, w: &Waiter) {
        let (n, p) = (w.next.get(), w.prev.get());
        if p.is_null() {
            inner.head = n;
        } else {
            // SAFETY: linked waiters are alive.
            unsafe { (*p).next.set(n) };
        }
        if !n.is_null() {
            // SAFETY: as above.
            unsafe { (*n).prev.set(p) };
        }
        w.next.set(ptr::null());
        w.prev.set(ptr::null());
        w.linked.set(false);
    }

    /// Whether `w` is in a list (read with the lock held).
    fn is_linked(w: &Waiter) -> bool {
        w.linked.get()
    }

    /// An event of generation `gen` reported `mask`: wake the waiters it
    /// satisfies, remember the rest.
    fn on_event(&self, gen: u32, mask: u8, hup: bool, gs: &mut Vec<GRef>) {
        let mut woken = Woken::default();
        {
            let mut inner = self.inner.lock();
            if self.gen.load(Ordering::Relaxed) != gen {
                return; // a registration of a file this number no longer names
            }
            let mut claimed = 0;
            let mut w = inner.head;
            while !w.is_null() {
                // SAFETY: linked waiters are alive while we hold the lock.
                let wr = unsafe { &*w };
                w = wr.next.get();
                if matches!(wr.who, Who::Foreign(_)) || wr.events & mask == 0 {
                    continue;
                }
                claimed |= wr.events & mask;
                Self::unlink(&mut inner, wr);
                // An error or hang-up reports both directions (API.md §10).
                let got = if hup { POLL_BOTH } else { wr.events & mask };
                wr.result.set(got as i32);
                woken.push(wr.who);
            }
            let rest = mask & !claimed;
            if rest != 0 {
                self.ready.fetch_or(rest, Ordering::SeqCst);
            }
        }
        woken.wake(gs, false);
    }

    /// Wakes every waiter with -EBADF (`gort_fd_close`).
    fn evict(&self) {
        let mut woken = Woken::default();
        {
            let mut inner = self.inner.lock();
            let mut w = inner.head;
            while !w.is_null() {
                // SAFETY: as in on_event.
                let wr = unsafe { &*w };
                w = wr.next.get();
                Self::unlink(&mut inner, wr);
                wr.result.set(-libc::EBADF);
                woken.push(wr.who);
            }
        }
        let mut gs = Vec::new();
        woken.wake(&mut gs, false);
        sched::inject(&gs);
    }

    /// The deadline of waiter `seq` passed.
    fn on_deadline(&self, seq: u64) {
        let mut woken = Woken::default();
        {
            let mut inner = self.inner.lock();
            let mut w = inner.head;
            while !w.is_null() {
                // SAFETY: as in on_event.
                let wr = unsafe { &*w };
                if wr.seq.get() == seq {
                    Self::unlink(&mut inner, wr);
                    wr.result.set(0);
                    woken.push(wr.who);
                    break;
                }
                w = wr.next.get();
            }
        }
        let mut gs = Vec::new();
        woken.wake(&mut gs, true);
    }

    /// Re-arms (or makes) the epoll registration for this descriptor; see
    /// the module docs. Called with the lock held. Err: an errno (EPERM:
    /// the file cannot be polled, e.g. a regular file: always ready).
    fn arm(&self, _inner: &mut Inner) -> Result<(), i32> {
        let p = poller();
        let ev = |gen: u32| libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: ((self.fd as u32 as u64) << 32) | gen as u64,
        };
        let gen = self.gen.load(Ordering::Relaxed);
        let mut e = ev(gen);
        // SAFETY: e is a valid epoll_event for the call.
        if unsafe { libc::epoll_ctl(p.epfd, libc::EPOLL_CTL_MOD, self.fd, &mut e) } == 0 {
            return Ok(());
        }
        let err = os::errno();
        if err != libc::ENOENT {
            return Err(err);
        }
        // A file this number did not name when we last registered it.
        let gen = gen.wrapping_add(1);
        self.gen.store(gen, Ordering::Relaxed);
        let mut e = ev(gen);
        // SAFETY: as above.
        if unsafe { libc::epoll_ctl(p.epfd, libc::EPOLL_CTL_ADD, self.fd, &mut e) } != 0 {
            return Err(os::errno());
        }
        set_nonblocking_if_allowed(self.fd);
        Ok(())
    }

    /// Enters a call on the descriptor; false once `gort_fd_close` began.
    fn incref(&self) -> bool {
        loop {
            let r = self.refs.load(Ordering::Acquire);
            if r & FINAL != 0 {
                // Closing this very moment: a caller racing with the
                // close of a number it reuses; wait for the close.
                std::thread::yield_now();
                continue;
            }
            if r & CLOSING != 0 {
                return false;
            }
            if r & COUNT_MASK == COUNT_MASK {
                fatal("netpoll: too many calls on one descriptor");
            }
            if self
                .refs
                .compare_exchange_weak(r, r + 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return true;
            }
        }
    }

    /// Leaves a call; the last one out of a closing descriptor wakes the
    /// closer.
    fn decref(&self) {
        if self.refs.fetch_sub(1, Ordering::AcqRel) == CLOSING | 1 {
            let closer = self.inner.lock().closer.take();
            if let Some(c) = closer {
                sched::ready(c, false);
            }
        }
    }
}

/// Waiters unlinked under a pd lock, woken after it is released.
#[derive(Default)]
struct Woken {
    n: usize,
    who: [Option<Who>; 8],
    more: Vec<Who>,
}

impl Woken {
    fn push(&mut self, w: Who) {
        if self.n < self.who.len() {
            self.who[self.n] = Some(w);
            self.n += 1;
        } else {
            self.more.push(w);
        }
    }

    /// Wakes foreign and channel waiters now; goroutines are appended to
    /// `gs`, or readied at once with `now` (for timers: into runnext, as
    /// a sleep's timer does).
    fn wake(self, gs: &mut Vec<GRef>, now: bool) {
        let p = poller();
        for w in self.who.into_iter().flatten().chain(self.more) {
            match w {
                Who::G(g) => {
                    p.nwait.fetch_sub(1, Ordering::SeqCst);
                    if now {
                        sched::ready(g, true);
                    } else {
                        gs.push(g);
                    }
                }
                Who::Foreign(efd) => {
                    let one: u64 = 1;
                    // SAFETY: 8 bytes from a live u64 to the waiter's eventfd,
                    // which lives as long as its thread, blocked in ppoll.
                    unsafe { libc::write(efd, &one as *const u64 as *const libc::c_void, 8) };
                }
                Who::Chan(cw) => {
                    p.nwait.fetch_sub(1, Ordering::SeqCst);
                    // SAFETY: the list's reference, now ours (unlinked).
                    unsafe { ChanWait::fire(cw) };
                }
            }
        }
    }
}

/// The table: chunks of CHUNK records, allocated on first use.
static TABLE: [AtomicPtr<PollDesc>; NCHUNKS] = [const { AtomicPtr::new(ptr::null_mut()) }; NCHUNKS];

/// The record of descriptor `fd`, made on first use; None if `fd` is
/// negative or beyond the table.
pub(crate) fn pd_get(fd: i32) -> Option<&'static PollDesc> {
    if fd < 0 || fd as usize >= CHUNK * NCHUNKS {
        return None;
    }
    let (c, i) = (fd as usize / CHUNK, fd as usize % CHUNK);
    let mut chunk = TABLE[c].load(Ordering::Acquire);
    if chunk.is_null() {
        let base = (c * CHUNK) as i32;
        let fresh: Box<[PollDesc]> = (0..CHUNK as i32).map(|k| PollDesc::new(base + k)).collect();
        let fresh = Box::into_raw(fresh) as *mut PollDesc;
        match TABLE[c].compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => chunk = fresh,
            Err(other) => {
                // SAFETY: ours, never published.
                drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(fresh, CHUNK)) });
                chunk = other;
            }
        }
    }
    // SAFETY: chunks are never freed and hold CHUNK records.
    Some(unsafe { &*chunk.add(i) })
}

/// The record of `fd` if its chunk exists (the poller's lookup).
fn pd_lookup(fd: i32) -> Option<&'static PollDesc> {
    if fd < 0 || fd as usize >= CHUNK * NCHUNKS {
        return None;
    }
    let chunk = TABLE[fd as usize / CHUNK].load(Ordering::Acquire);
    // SAFETY: as in pd_get.
    (!chunk.is_null()).then(|| unsafe { &*chunk.add(fd as usize % CHUNK) })
}

// ---------------------------------------------------------------------------
// Blocking mode.

/// Descriptors whose blocking mode the runtime never changes: 0, 1, 2 and
/// terminals (their file description is shared with other processes).
fn keep_blocking_mode(fd: i32) -> bool {
    // SAFETY: isatty only inspects fd.
    fd <= 2 || unsafe { libc::isatty(fd) } == 1
}

fn set_nonblocking_if_allowed(fd: i32) {
    // SAFETY: fcntl on a descriptor number; a bad one fails harmlessly.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if fl >= 0 && fl & libc::O_NONBLOCK == 0 && !keep_blocking_mode(fd) {
        // SAFETY: as above.
        unsafe { libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) };
    }
}

/// How a call reaches a descriptor.
enum Mode {
    /// Non-blocking: try, and wait on EAGAIN.
    NonBlocking,
    /// Blocking (0-2, terminals): wait for readiness, then make the call
    /// as a blocking C call.
    Blocking,
}

/// Makes `fd` non-blocking unless it must keep its mode; Err(errno) if
/// it is not open.
fn prepare_mode(fd: i32) -> Result<Mode, i32> {
    // SAFETY: as in set_nonblocking_if_allowed.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if fl < 0 {
        return Err(os::errno());
    }
    if fl & libc::O_NONBLOCK != 0 {
        return Ok(Mode::NonBlocking);
    }
    if keep_blocking_mode(fd) {
        return Ok(Mode::Blocking);
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) } < 0 {
        return Err(os::errno());
    }
    Ok(Mode::NonBlocking)
}

// ---------------------------------------------------------------------------
// Waiting.

/// Checks readiness now (`poll` with a zero timeout): the ready subset
/// of `events` (both on an error or hang-up), or -errno.
fn poll_now(fd: i32, events: u8) -> i32 {
    poll_timed(fd, events, -1, Some(0))
}

/// `ppoll` on `fd` (and `efd` if >= 0) for at most `ns` (None: no limit).
/// Returns the ready subset of `events`, 0 if none, or -errno; -EINTR is
/// retried by the caller.
fn poll_timed(fd: i32, events: u8, efd: i32, ns: Option<i64>) -> i32 {
    let mut fds = [
        libc::pollfd {
            fd,
            events: to_poll_events(events),
            revents: 0,
        },
        libc::pollfd {
            fd: efd,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let n = if efd >= 0 { 2 } else { 1 };
    let ts = ns.map(|ns| libc::timespec {
        tv_sec: ns / 1_000_000_000,
        tv_nsec: ns % 1_000_000_000,
    });
    let tsp = ts
        .as_ref()
        .map_or(ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: fds has n valid entries; tsp is null or a live timespec.
    let r = unsafe { libc::ppoll(fds.as_mut_ptr(), n, tsp, ptr::null()) };
    if r < 0 {
        return -os::errno();
    }
    let re = fds[0].revents;
    if re & libc::POLLNVAL != 0 {
        return -libc::EBADF;
    }
    if re & (libc::POLLERR | libc::POLLHUP) != 0 {
        // An error or hang-up reports both directions (API.md §10).
        return POLL_BOTH as i32;
    }
    let mut got = 0u8;
    if re & (libc::POLLIN | libc::POLLRDHUP) != 0 {
        got |= POLL_IN;
    }
    if re & libc::POLLOUT != 0 {
        got |= POLL_OUT;
    }
    (got & events) as i32
}

fn to_poll_events(events: u8) -> i16 {
    let mut e = 0;
    if events & POLL_IN != 0 {
        e |= libc::POLLIN | libc::POLLRDHUP;
    }
    if events & POLL_OUT != 0 {
        e |= libc::POLLOUT;
    }
    e
}

/// Timer callback of a waiter's deadline: `arg` is the PollDesc.
fn deadline_fired(arg: usize, seq: u64) {
    // SAFETY: PollDescs are never freed.
    let pd = unsafe { &*(arg as *const PollDesc) };
    pd.on_deadline(seq);
}

unsafe fn unlock_pd(_gp: GRef, data: *mut ()) -> bool {
    // SAFETY: wait() forgot the guard of this lock just before parking.
    unsafe { (*(data as *const PollDesc)).inner.force_unlock() };
    true
}

/// Waits until `pd`'s descriptor is ready for `events` (or error), the
/// deadline passes, or `gort_fd_close` closes it. Returns the ready
/// events (> 0), 0 when the deadline passed, or -errno. The caller holds
/// a reference (`incref`) and cleared the `ready` bits it waits for
/// before its last attempt.
fn wait(pd: &'static PollDesc, events: u8, deadline: i64) -> i32 {
    if sched::current_g().is_null() {
        return wait_foreign(pd, events, deadline);
    }
    let mut inner = pd.inner.lock();
    let r = pd.ready.load(Ordering::SeqCst) & events;
    if r != 0 {
        pd.ready.fetch_and(!r, Ordering::SeqCst);
        return r as i32;
    }
    match pd.arm(&mut inner) {
        Ok(()) => {}
        Err(libc::EPERM) => return events as i32, // not pollable: always ready
        Err(e) => return -e,
    }
    if deadline != -1 && deadline <= os::nanotime() {
        return 0;
    }
    let gp = sched::current_gref();
    let w = Waiter::new(events, Who::G(gp));
    PollDesc::link(&mut inner, &w);
    poller().nwait.fetch_add(1, Ordering::SeqCst);
    let timer = TimerNode::new(deadline_fired, pd as *const PollDesc as usize);
    if deadline != -1 {
        // SAFETY: timer lives in this frame until del_node below (or its
        // firing, which only uses the pd and the sequence number).
        unsafe {
            sched::sched()
                .timers
                .add_node(&timer, deadline, w.seq.get())
        };
    }
    std::mem::forget(inner);
    // SAFETY: the waiter is published in pd's list under its lock, which
    // unlock_pd releases once we are off our stack; whoever unlinks it
    // readies us exactly once.
    unsafe { sched::park(unlock_pd, pd as *const PollDesc as *mut (), &WAIT_IO) };
    if deadline != -1 {
        sched::sched().timers.del_node(&timer);
    }
    w.result.get()
}

thread_local! {
    /// A foreign thread's eventfd, for `gort_fd_close` to wake it.
    static FOREIGN_EFD: ForeignEfd = const { ForeignEfd(Cell::new(-1)) };
}

struct ForeignEfd(Cell<i32>);

impl Drop for ForeignEfd {
    fn drop(&mut self) {
        if self.0.get() >= 0 {
            // SAFETY: our own eventfd, no longer used by anyone (its thread
            // is exiting, so it waits on nothing).
            unsafe { libc::close(self.0.get()) };
        }
    }
}

fn foreign_efd() -> Result<i32, i32> {
    FOREIGN_EFD
        .try_with(|e| {
            if e.0.get() < 0 {
                // SAFETY: a plain system call.
                let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
                if fd < 0 {
                    return Err(os::errno());
                }
                e.0.set(fd);
            }
            Ok(e.0.get())
        })
        .unwrap_or(Err(libc::EBADF))
}

fn linked_locked(pd: &PollDesc, w: &Waiter) -> bool {
    let _inner = pd.inner.lock();
    PollDesc::is_linked(w)
}

/// [`wait`] on a thread outside the runtime: the thread blocks in
/// `ppoll` on the descriptor and its eventfd.
fn wait_foreign(pd: &'static PollDesc, events: u8, deadline: i64) -> i32 {
    let efd = match foreign_efd() {
        Ok(fd) => fd,
        Err(e) => return -e,
    };
    let w = Waiter::new(events, Who::Foreign(efd));
    PollDesc::link(&mut pd.inner.lock(), &w);
    let drain = || {
        let mut buf = 0u64;
        // SAFETY: drains our own non-blocking eventfd into a live u64.
        unsafe { libc::read(efd, &mut buf as *mut u64 as *mut libc::c_void, 8) };
    };
    let r = loop {
        let ns = if deadline == -1 {
            None
        } else {
            Some((deadline - os::nanotime()).max(0))
        };
        let r = poll_timed(pd.fd, events, efd, ns);
        if r == -libc::EINTR {
            continue;
        }
        if r != 0 || ns == Some(0) {
            break r;
        }
        // Nothing on the descriptor: the deadline, or our eventfd (a
        // close, or a late write from an earlier one).
        if !linked_locked(pd, &w) || deadline != -1 && os::nanotime() >= deadline {
            break 0;
        }
        drain();
    };
    let mut inner = pd.inner.lock();
    let r = if PollDesc::is_linked(&w) {
        PollDesc::unlink(&mut inner, &w);
        r
    } else {
        w.result.get() // closed under us
    };
    drop(inner);
    drain();
    r
}

// ---------------------------------------------------------------------------
// The operations of API.md §10. Each returns the result or Err(errno).

/// A call's hold on a descriptor: `incref` at the start, `decref` on drop.
struct Hold(&'static PollDesc);

impl Hold {
    fn new(fd: i32) -> Result<Hold, i32> {
        let pd = pd_get(fd).ok_or(libc::EBADF)?;
        if !pd.incref() {
            return Err(libc::EBADF);
        }
        Ok(Hold(pd))
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.0.decref();
    }
}

/// Clears the `ready` bits of `events` before an attempt (Go's
/// `pollReset`): only readiness that arrives after it counts.
#[inline]
fn reset(pd: &PollDesc, events: u8) {
    if pd.ready.load(Ordering::Relaxed) & events != 0 {
        pd.ready.fetch_and(!events, Ordering::SeqCst);
    }
}

/// After an attempt failed with EAGAIN: waits for `events`; Ok to try
/// again, Err(errno) to give up.
fn wait_again(pd: &'static PollDesc, events: u8, deadline: i64) -> Result<(), i32> {
    if deadline != -1 && deadline <= os::nanotime() {
        return Err(libc::ETIMEDOUT);
    }
    match wait(pd, events, deadline) {
        0 => Err(libc::ETIMEDOUT),
        r if r < 0 => Err(-r),
        _ => Ok(()),
    }
}

/// For a descriptor kept in blocking mode: waits until it is ready for
/// `events` (Ok) or fails.
fn wait_blocking_fd(pd: &'static PollDesc, events: u8, deadline: i64) -> Result<(), i32> {
    loop {
        reset(pd, events);
        match poll_now(pd.fd, events) {
            r if r > 0 => return Ok(()),
            r if r < 0 && r != -libc::EINTR => return Err(-r),
            _ => {}
        }
        wait_again(pd, events, deadline)?;
    }
}

/// Runs a C call that may block as a blocking call (sysmon hands the P on).
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    sched::blocking_enter();
    let r = f();
    let e = os::errno();
    sched::blocking_exit();
    os::set_errno(e);
    r
}

fn check_events(events: i32) -> Result<u8, i32> {
    if events == 0 || events & !(POLL_BOTH as i32) != 0 {
        return Err(libc::EINVAL);
    }
    Ok(events as u8)
}

/// `gort_fd_wait`.
pub fn fd_wait(fd: i32, events: i32, deadline: i64) -> Result<u8, i32> {
    let events = check_events(events)?;
    let h = Hold::new(fd)?;
    reset(h.0, events);
    match poll_now(fd, events) {
        r if r > 0 => return Ok(r as u8),
        r if r < 0 && r != -libc::EINTR => return Err(-r),
        _ => {}
    }
    if deadline != -1 && deadline <= os::nanotime() {
        return Err(libc::ETIMEDOUT);
    }
    match wait(h.0, events, deadline) {
        0 => Err(libc::ETIMEDOUT),
        r if r < 0 => Err(-r),
        r => Ok(r as u8),
    }
}

/// One non-blocking attempt at a transfer: a socket call with
/// MSG_DONTWAIT (`sock`), else the plain call on a descriptor made
/// non-blocking (`plain`). Returns the call's result (errno set).
fn attempt(
    pd: &'static PollDesc,
    events: u8,
    deadline: i64,
    sock: impl Fn() -> isize,
    plain: impl Fn() -> isize,
) -> Result<isize, i32> {
    loop {
        reset(pd, events);
        if pd.socket.load(Ordering::Relaxed) {
            let n = sock();
            if n >= 0 {
                return Ok(n);
            }
            match os::errno() {
                libc::ENOTSOCK => pd.socket.store(false, Ordering::Relaxed),
                libc::EINTR => continue,
                libc::EAGAIN => {
                    wait_again(pd, events, deadline)?;
                    continue;
                }
                e => return Err(e),
            }
        }
        match prepare_mode(pd.fd)? {
            Mode::NonBlocking => {}
            Mode::Blocking => {
                wait_blocking_fd(pd, events, deadline)?;
                let n = blocking(&plain);
                return if n >= 0 { Ok(n) } else { Err(os::errno()) };
            }
        }
        let n = plain();
        if n >= 0 {
            return Ok(n);
        }
        match os::errno() {
            libc::EINTR => continue,
            libc::EAGAIN => wait_again(pd, events, deadline)?,
            e => return Err(e),
        }
    }
}

/// `gort_read`.
///
/// # Safety
/// `buf` is NULL or `len` writable bytes (the kernel checks them).
pub unsafe fn read(fd: i32, buf: *mut u8, len: usize, deadline: i64) -> Result<usize, i32> {
    if len == 0 {
        return if fd < 0 { Err(libc::EBADF) } else { Ok(0) };
    }
    if buf.is_null() {
        return Err(libc::EFAULT);
    }
    let h = Hold::new(fd)?;
    let n = attempt(
        h.0,
        POLL_IN,
        deadline,
        // SAFETY: the caller promised len writable bytes at buf (the
        // kernel checks them: EFAULT, never a fault here).
        || unsafe { libc::recv(fd, buf.cast(), len, libc::MSG_DONTWAIT) },
        // SAFETY: as above.
        || unsafe { libc::read(fd, buf.cast(), len) },
    )?;
    Ok(n as usize)
}

/// `gort_write`: everything, or how much went out and why it stopped.
///
/// # Safety
/// `buf` is NULL or `len` readable bytes (the kernel checks them).
pub unsafe fn write(fd: i32, buf: *const u8, len: usize, deadline: i64) -> (usize, i32) {
    if len == 0 {
        return (0, if fd < 0 { libc::EBADF } else { 0 });
    }
    if buf.is_null() {
        return (0, libc::EFAULT);
    }
    let h = match Hold::new(fd) {
        Ok(h) => h,
        Err(e) => return (0, e),
    };
    let mut done = 0usize;
    while done < len {
        // SAFETY: done < len, inside the caller's buffer.
        let p = unsafe { buf.add(done) };
        let rest = len - done;
        let r = attempt(
            h.0,
            POLL_OUT,
            deadline,
            // SAFETY: the caller promised len readable bytes at buf (the
            // kernel checks them).
            || unsafe { libc::send(fd, p.cast(), rest, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) },
            || write_no_sigpipe(fd, p, rest),
        );
        match r {
            Ok(n) => done += n as usize,
            Err(e) => return (done, e),
        }
    }
    (done, 0)
}

/// `write(2)` with SIGPIPE held off on this thread and consumed if the
/// write raised it (a pipe whose reader is gone): EPIPE instead of the
/// signal, as for sockets (MSG_NOSIGNAL).
fn write_no_sigpipe(fd: i32, p: *const u8, n: usize) -> isize {
    // SAFETY: signal-set calls on local sets; the mask is restored below.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        let r = libc::write(fd, p.cast(), n);
        let e = os::errno();
        if r < 0 && e == libc::EPIPE && libc::sigismember(&old, libc::SIGPIPE) == 0 {
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            libc::sigtimedwait(&set, ptr::null_mut(), &zero);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut());
        os::set_errno(e);
        r
    }
}

/// `gort_accept`.
///
/// # Safety
/// `addr`/`addrlen` are as for accept(2) (the kernel checks them).
pub unsafe fn accept(
    fd: i32,
    addr: *mut libc::sockaddr,
    addrlen: *mut libc::socklen_t,
    deadline: i64,
) -> Result<i32, i32> {
    let h = Hold::new(fd)?;
    loop {
        reset(h.0, POLL_IN);
        if let Mode::Blocking = prepare_mode(fd)? {
            wait_blocking_fd(h.0, POLL_IN, deadline)?;
        }
        let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        // SAFETY: addr/addrlen are the caller's (NULL allowed); the kernel
        // checks them.
        let nfd = unsafe { libc::accept4(fd, addr, addrlen, flags) };
        if nfd >= 0 {
            return Ok(nfd);
        }
        match os::errno() {
            libc::EINTR | libc::ECONNABORTED => {}
            libc::EAGAIN => wait_again(h.0, POLL_IN, deadline)?,
            e => return Err(e),
        }
    }
}

/// `gort_connect`.
///
/// # Safety
/// `addr` is as for connect(2) (the kernel checks it).
pub unsafe fn connect(
    fd: i32,
    addr: *const libc::sockaddr,
    addrlen: libc::socklen_t,
    deadline: i64,
) -> Result<(), i32> {
    let h = Hold::new(fd)?;
    if let Mode::Blocking = prepare_mode(fd)? {
        // A terminal or 0-2: not a socket we may make non-blocking.
        // SAFETY: the caller's address; the kernel checks it.
        let r = blocking(|| unsafe { libc::connect(fd, addr, addrlen) });
        return if r == 0 { Ok(()) } else { Err(os::errno()) };
    }
    // SAFETY: as above.
    let r = unsafe { libc::connect(fd, addr, addrlen) };
    if r == 0 {
        return Ok(());
    }
    match os::errno() {
        libc::EINPROGRESS | libc::EINTR | libc::EALREADY => {}
        e => return Err(e),
    }
    loop {
        reset(h.0, POLL_OUT);
        let ready = poll_now(fd, POLL_OUT);
        if ready < 0 && ready != -libc::EINTR {
            return Err(-ready);
        }
        if ready > 0 {
            let mut err: i32 = 0;
            let mut l = std::mem::size_of::<i32>() as libc::socklen_t;
            // SAFETY: err and l are live and sized for SO_ERROR.
            let r = unsafe {
                libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_ERROR,
                    &mut err as *mut i32 as *mut libc::c_void,
                    &mut l,
                )
            };
            if r < 0 {
                return Err(os::errno());
            }
            return if err == 0 { Ok(()) } else { Err(err) };
        }
        wait_again(h.0, POLL_OUT, deadline)?;
    }
}

/// `gort_fd_close`.
pub fn close(fd: i32) -> Result<(), i32> {
    let pd = pd_get(fd).ok_or(libc::EBADF)?;
    loop {
        let r = pd.refs.load(Ordering::Acquire);
        if r & (CLOSING | FINAL) != 0 {
            return Err(libc::EBADF); // another close is under way
        }
        if pd
            .refs
            .compare_exchange(r, r | CLOSING, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            break;
        }
    }
    pd.evict();
    // Wait for the calls inside to leave.
    let mut inner = pd.inner.lock();
    if pd.refs.load(Ordering::Acquire) & COUNT_MASK != 0 {
        inner.closer = Some(sched::current_or_foreign_gref());
        std::mem::forget(inner);
        // SAFETY: the closer slot is published under the pd lock, which
        // unlock_pd releases once we are parked; the last decref readies
        // us exactly once.
        unsafe { sched::park(unlock_pd, pd as *const PollDesc as *mut (), &WAIT_IO) };
    } else {
        drop(inner);
    }
    pd.refs.fetch_or(FINAL, Ordering::AcqRel);
    // SAFETY: closing a descriptor number the caller gave us to close.
    let r = unsafe { libc::close(fd) };
    let e = os::errno();
    {
        let _inner = pd.inner.lock();
        pd.gen.fetch_add(1, Ordering::Relaxed);
        pd.ready.store(0, Ordering::SeqCst);
        pd.socket.store(true, Ordering::Relaxed);
    }
    pd.refs.store(0, Ordering::Release);
    if r < 0 {
        Err(e)
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// gort_fd_ready: readiness as a channel.

/// A `gort_fd_ready` wait: a heap record linked in the descriptor's list,
/// with a deadline timer and a pin on the channel. Reference counted: the
/// list (while linked) and the channel's release hook each hold one.
pub(crate) struct ChanWait {
    waiter: Waiter,
    timer: TimerNode,
    pd: &'static PollDesc,
    chan: *const crate::chan::Chan,
    refs: std::sync::atomic::AtomicUsize,
}

impl ChanWait {
    unsafe fn drop_ref(cw: *const ChanWait) {
        // SAFETY: the caller owns one reference.
        if unsafe { (*cw).refs.fetch_sub(1, Ordering::AcqRel) } == 1 {
            // SAFETY: the last reference: nobody else can reach it.
            drop(unsafe { Box::from_raw(cw as *mut ChanWait) });
        }
    }

    /// Unlinked by an event, the deadline, or a close: send the result,
    /// stop the timer, drop the pin and the list's reference.
    unsafe fn fire(cw: *const ChanWait) {
        // SAFETY: the list's reference keeps cw alive.
        let c = unsafe { &*cw };
        sched::sched().timers.del_node(&c.timer);
        let v: i32 = c.waiter.result.get();
        // SAFETY: our pin keeps the channel alive; it has 4-byte elements
        // and capacity 1, and nothing else sends on it.
        unsafe {
            crate::chan::offer(&*c.chan, &v as *const i32 as *const u8);
            crate::chan::Chan::unpin(c.chan);
            Self::drop_ref(cw);
        }
    }

    /// The channel's last reference was released: cancel the wait if it
    /// is still pending.
    fn cancel(arg: usize) {
        let cw = arg as *const ChanWait;
        // SAFETY: the hook's reference keeps cw alive.
        let c = unsafe { &*cw };
        let linked = {
            let mut inner = c.pd.inner.lock();
            let l = PollDesc::is_linked(&c.waiter);
            if l {
                PollDesc::unlink(&mut inner, &c.waiter);
            }
            l
        };
        if linked {
            poller().nwait.fetch_sub(1, Ordering::SeqCst);
            sched::sched().timers.del_node(&c.timer);
            // SAFETY: we unlinked it, so the list's reference and the pin
            // are ours to drop.
            unsafe {
                crate::chan::Chan::unpin(c.chan);
                Self::drop_ref(cw);
            }
        }
        // SAFETY: the hook's reference.
        unsafe { Self::drop_ref(cw) };
    }
}

/// `gort_fd_ready`: a channel (capacity 1, `int` elements) that receives
/// the ready events, 0 at the deadline, or -errno.
pub fn fd_ready(fd: i32, events: i32, deadline: i64) -> *const crate::chan::Chan {
    use crate::chan::{self, Chan};
    let c = Chan::new(4, 1);
    let send_now = |v: i32| {
        // SAFETY: c is new and ours, with 4-byte elements.
        unsafe { chan::offer(&*c, &v as *const i32 as *const u8) };
        c
    };
    let events = match check_events(events) {
        Ok(e) => e,
        Err(e) => return send_now(-e),
    };
    let pd = match pd_get(fd) {
        Some(pd) => pd,
        None => return send_now(-libc::EBADF),
    };
    if pd.refs.load(Ordering::Acquire) & (CLOSING | FINAL) != 0 {
        return send_now(-libc::EBADF);
    }
    reset(pd, events);
    match poll_now(fd, events) {
        r if r > 0 => return send_now(r),
        r if r < 0 && r != -libc::EINTR => return send_now(r),
        _ => {}
    }
    if deadline != -1 && deadline <= os::nanotime() {
        return send_now(0);
    }
    let cw = Box::into_raw(Box::new(ChanWait {
        waiter: Waiter::new(events, Who::Chan(ptr::null())),
        timer: TimerNode::new(deadline_fired, pd as *const PollDesc as usize),
        pd,
        chan: c,
        refs: std::sync::atomic::AtomicUsize::new(2),
    }));
    // SAFETY: cw is ours until published below.
    let cwr = unsafe { &mut *cw };
    cwr.waiter.who = Who::Chan(cw);
    // SAFETY: we hold c's only reference; the pin is the list's.
    unsafe { Chan::pin(c) };
    // SAFETY: c is not yet shared; the hook owns one reference to cw.
    unsafe { (*c).set_release_hook(ChanWait::cancel, cw as usize) };
    let mut inner = pd.inner.lock();
    let r = pd.ready.load(Ordering::SeqCst) & events;
    let armed = if r != 0 {
        pd.ready.fetch_and(!r, Ordering::SeqCst);
        Err(r as i32)
    } else {
        match pd.arm(&mut inner) {
            Ok(()) => Ok(()),
            Err(libc::EPERM) => Err(events as i32),
            Err(e) => Err(-e),
        }
    };
    match armed {
        Ok(()) => {
            PollDesc::link(&mut inner, &cwr.waiter);
            poller().nwait.fetch_add(1, Ordering::SeqCst);
            if deadline != -1 {
                // SAFETY: the timer lives in cw, which stays alive until
                // the list's reference is dropped, after del_node.
                unsafe {
                    sched::sched()
                        .timers
                        .add_node(&cwr.timer, deadline, cwr.waiter.seq.get())
                };
            }
            drop(inner);
            // A goroutine waiting on this channel parks its M's round
            // into the poller; a foreign thread's select does not, so make
            // sure some M looks.
            sched::wakep();
        }
        Err(v) => {
            drop(inner);
            cwr.waiter.result.set(v);
            // SAFETY: never linked: the list's reference and pin are ours.
            unsafe { ChanWait::fire(cw) };
        }
    }
    c
}
