//! Descriptor records (`PollDesc`), their waiter lists, and the table that
//! holds them by descriptor number. See the parent module for the
//! invariants.

use super::*;

/// Who a waiter is, and how to wake it.
#[derive(Clone, Copy)]
pub(super) enum Who {
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
    pub(super) next: Cell<*const Waiter>,
    pub(super) prev: Cell<*const Waiter>,
    pub(super) linked: Cell<bool>,
    pub(super) events: u8,
    pub(super) seq: Cell<u64>,
    pub(super) who: Who,
    /// Set by whoever unlinks the waiter: the ready events (> 0), 0 for
    /// the deadline, or a negative errno.
    pub(super) result: Cell<i32>,
    /// A trusted wait (`Arm::Trusted`) not yet re-armed: counted in the
    /// descriptor's `unarmed` (cleared under the lock by the rescue, else
    /// by the owner after it woke).
    pub(super) unarmed: Cell<bool>,
}

impl Waiter {
    pub(super) fn new(events: u8, who: Who) -> Waiter {
        Waiter {
            next: Cell::new(ptr::null()),
            prev: Cell::new(ptr::null()),
            linked: Cell::new(false),
            events,
            seq: Cell::new(0),
            who,
            result: Cell::new(0),
            unarmed: Cell::new(false),
        }
    }
}

/// The lock-protected part of a `PollDesc`.
pub(super) struct Inner {
    /// Head of the waiter list.
    pub(super) head: *const Waiter,
    /// The next waiter's sequence number (deadline timers name their
    /// waiter by it).
    pub(super) next_seq: u64,
    /// The goroutine (or foreign record) in `gort_fd_close` waiting for
    /// the calls inside the descriptor to leave.
    pub(super) closer: Option<GRef>,
}

// SAFETY: the raw pointers are only followed with the lock held, and point
// to waiters whose owners are parked (module invariants).
unsafe impl Send for Inner {}

/// The runtime's record of one descriptor number.
/// `PollDesc::kind`: not asked yet.
pub(super) const KIND_UNKNOWN: u8 = 0;
/// `PollDesc::kind`: a TCP socket.
pub(super) const KIND_STREAM: u8 = 1;
/// `PollDesc::kind`: any other socket (datagrams, sequenced packets).
pub(super) const KIND_OTHER: u8 = 2;
/// `PollDesc::kind`: the file reported its end, an error or urgent data:
/// whatever it is, a short read may leave something to read.
pub(super) const KIND_ENDED: u8 = 3;

/// One epoll event, decoded ([`PollDesc::on_event`]).
pub(super) struct Event {
    /// The registration generation it carries.
    pub gen: u32,
    /// The directions it makes ready.
    pub mask: u8,
    /// An error or hang-up: it readies both directions.
    pub hup: bool,
    /// The end of the stream, an error or urgent data (`KIND_ENDED`).
    pub ended: bool,
}

/// The inode of socket `fd` (None: not a socket, or not open).
fn socket_inode(fd: i32) -> Option<u64> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: st is writable and sized for the stat record.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: fstat succeeded, so it filled st.
    let st = unsafe { st.assume_init() };
    (st.st_mode & libc::S_IFMT == libc::S_IFSOCK).then_some(st.st_ino)
}

/// The `KIND_*` of socket `fd`: KIND_STREAM for TCP (`SO_PROTOCOL`),
/// else KIND_OTHER. Only TCP qualifies: a Unix stream socket's read stops
/// early at a message that carries descriptors or another sender's
/// credentials, with more queued behind it.
fn socket_kind(fd: i32) -> u8 {
    let mut proto: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: proto and len are live and sized for SO_PROTOCOL's int.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PROTOCOL,
            (&mut proto as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r == 0 && proto == libc::IPPROTO_TCP {
        KIND_STREAM
    } else {
        KIND_OTHER
    }
}

pub(crate) struct PollDesc {
    pub(super) fd: i32,
    pub(super) inner: Mutex<Inner>,
    /// Readiness that arrived while no one waited for it.
    pub(super) ready: AtomicU8,
    /// The epoll registration generation; events of another are stale.
    pub(super) gen: AtomicU32,
    /// Whether the number has an epoll registration as far as we know:
    /// set when arming succeeds, cleared when `gort_fd_close` closes it
    /// (the close removed it). A trusted wait needs one.
    pub(super) registered: AtomicBool,
    /// Calls inside the descriptor, plus CLOSING / FINAL.
    pub(super) refs: AtomicU32,
    /// A hint: the descriptor was last seen to be a socket.
    pub(super) socket: AtomicBool,
    /// A hint for the next `gort_read`: the last one on this stream
    /// socket came back short, so the receive queue was empty then, and
    /// data arriving since has set `ready` (see [`PollDesc::take_drained`]).
    /// Any other look at read readiness (`reset`, a wait) clears it.
    pub(super) drained: AtomicBool,
    /// What the socket is, once asked (`KIND_*`; reset with `gen`): a
    /// short read means an empty queue only on a stream.
    pub(super) kind: AtomicU8,
    /// Trusted waits parked without a re-arm, and (while there are any)
    /// the rescue scan count ([`RESCUE_SCANS`]) when the oldest parked:
    /// what the rescue scan reads.
    pub(super) unarmed: AtomicU32,
    pub(super) unarmed_scan: AtomicU32,
    /// The inode of the socket registered under the current generation
    /// (0: not a socket, or not registered): lets the rescue tell a live
    /// registration from a reused number with one `fstat` (see
    /// [`PollDesc::still_registered`]).
    pub(super) sock_ino: AtomicU64,
    /// The address of the goroutine waiter linked last: a prefetch hint
    /// for the poller (see [`prefetch_events`]), possibly stale, never
    /// followed.
    pub(super) recent: AtomicUsize,
}

impl PollDesc {
    pub(super) fn new(fd: i32) -> PollDesc {
        PollDesc {
            fd,
            inner: Mutex::new(Inner {
                head: ptr::null(),
                next_seq: 1,
                closer: None,
            }),
            ready: AtomicU8::new(0),
            gen: AtomicU32::new(0),
            registered: AtomicBool::new(false),
            refs: AtomicU32::new(0),
            socket: AtomicBool::new(true),
            drained: AtomicBool::new(false),
            kind: AtomicU8::new(KIND_UNKNOWN),
            unarmed: AtomicU32::new(0),
            unarmed_scan: AtomicU32::new(0),
            sock_ino: AtomicU64::new(0),
            recent: AtomicUsize::new(0),
        }
    }

    pub(super) fn link(inner: &mut Inner, w: &Waiter) {
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

    pub(super) fn unlink(inner: &mut Inner, w: &Waiter) {
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
    pub(super) fn is_linked(w: &Waiter) -> bool {
        w.linked.get()
    }

    /// An event: wake the waiters it satisfies, remember the rest.
    pub(super) fn on_event(&self, ev: Event, gs: &mut Vec<GRef>) {
        let Event {
            gen,
            mask,
            hup,
            ended,
        } = ev;
        let mut woken = Woken::default();
        {
            let mut inner = self.inner.lock();
            if self.gen.load(Ordering::Relaxed) != gen {
                return; // a registration of a file this number no longer names
            }
            if ended {
                self.kind.store(KIND_ENDED, Ordering::Relaxed);
                self.drained.store(false, Ordering::Relaxed);
            }
            let mut claimed = 0;
            Self::take(&mut inner, &mut woken, false, |w| {
                if matches!(w.who, Who::Foreign(_)) || w.events & mask == 0 {
                    return None;
                }
                claimed |= w.events & mask;
                // An error or hang-up reports both directions (API.md §10).
                Some(if hup { POLL_BOTH } else { w.events & mask } as i32)
            });
            let rest = mask & !claimed;
            if rest != 0 {
                self.ready.fetch_or(rest, Ordering::SeqCst);
            }
        }
        woken.wake(gs, false);
    }

    /// Wakes every waiter with -EBADF (`gort_fd_close`).
    pub(super) fn evict(&self) {
        let mut woken = Woken::default();
        Self::take(&mut self.inner.lock(), &mut woken, false, |_| {
            Some(-libc::EBADF)
        });
        let mut gs = Vec::new();
        woken.wake(&mut gs, false);
        sched::inject(&gs);
    }

    /// The deadline of waiter `seq` passed.
    pub(super) fn on_deadline(&self, seq: u64) {
        let mut woken = Woken::default();
        Self::take(&mut self.inner.lock(), &mut woken, true, |w| {
            (w.seq.get() == seq).then_some(0)
        });
        woken.wake(&mut Vec::new(), true);
    }

    /// Unlinks the waiters `pick` gives a result for (only the first with
    /// `first_only`), setting that result, and collects them in `woken`.
    /// Lock held.
    fn take(
        inner: &mut Inner,
        woken: &mut Woken,
        first_only: bool,
        mut pick: impl FnMut(&Waiter) -> Option<i32>,
    ) {
        let mut w = inner.head;
        while !w.is_null() {
            // SAFETY: linked waiters are alive while we hold the lock
            // (module invariants).
            let wr = unsafe { &*w };
            w = wr.next.get();
            if let Some(r) = pick(wr) {
                Self::unlink(inner, wr);
                wr.result.set(r);
                woken.push(wr.who);
                if first_only {
                    return;
                }
            }
        }
    }

    /// Re-arms (or makes) the epoll registration for this descriptor; see
    /// the module docs. Called with the lock held. Err: an errno (EPERM:
    /// the file cannot be polled, e.g. a regular file: always ready).
    pub(super) fn arm(&self, _inner: &mut Inner) -> Result<(), i32> {
        let p = poller();
        let ev = |gen: u32| libc::epoll_event {
            events: (libc::EPOLLIN
                | libc::EPOLLOUT
                | libc::EPOLLRDHUP
                | libc::EPOLLPRI
                | libc::EPOLLET) as u32,
            u64: ((self.fd as u32 as u64) << 32) | gen as u64,
        };
        let gen = self.gen.load(Ordering::Relaxed);
        let mut e = ev(gen);
        // SAFETY: e is a valid epoll_event for the call.
        if unsafe { libc::epoll_ctl(p.epfd, libc::EPOLL_CTL_MOD, self.fd, &mut e) } == 0 {
            self.registered.store(true, Ordering::Relaxed);
            return Ok(());
        }
        let err = os::errno();
        if err != libc::ENOENT {
            return Err(err);
        }
        // A file this number did not name when we last registered it.
        let gen = gen.wrapping_add(1);
        self.gen.store(gen, Ordering::Relaxed);
        // Readiness seen so far was the old file's, and so was its kind.
        self.forget_file();
        let mut e = ev(gen);
        // SAFETY: as above.
        if unsafe { libc::epoll_ctl(p.epfd, libc::EPOLL_CTL_ADD, self.fd, &mut e) } != 0 {
            return Err(os::errno());
        }
        self.registered.store(true, Ordering::Relaxed);
        self.sock_ino
            .store(socket_inode(self.fd).unwrap_or(0), Ordering::Relaxed);
        set_nonblocking_if_allowed(self.fd);
        Ok(())
    }

    /// The number names (or will name) a file the runtime has not seen,
    /// the last one having been closed (lock held): a new generation, so
    /// events of the old file's registration are dropped, and everything
    /// learnt about that file forgotten.
    pub(super) fn number_reused(&self, _inner: &mut Inner) {
        self.gen.fetch_add(1, Ordering::Relaxed);
        self.forget_file();
        self.socket.store(true, Ordering::Relaxed);
    }

    /// Forgets what was learnt about the file the number named (lock
    /// held): its registration, readiness and kind.
    pub(super) fn forget_file(&self) {
        self.registered.store(false, Ordering::Relaxed);
        self.sock_ino.store(0, Ordering::Relaxed);
        self.ready.store(0, Ordering::SeqCst);
        self.drained.store(false, Ordering::Relaxed);
        self.kind.store(KIND_UNKNOWN, Ordering::Relaxed);
    }

    /// After a `recv` on this socket returned `n` of `len` bytes: a short
    /// read on a stream socket emptied its receive queue (a datagram
    /// socket returns one message, however many wait), so the next
    /// `gort_read` may wait before it tries (Tokio clears readiness the
    /// same way). Edge-triggered epoll reports every arrival, so data
    /// that comes after this read sets `ready` and the wait returns at
    /// once; a registration lost to a reused number is what the rescue
    /// repairs, as for any trusted wait.
    pub(super) fn note_recv(&self, n: usize, len: usize) {
        if n == 0 || n >= len {
            return;
        }
        let kind = match self.kind.load(Ordering::Relaxed) {
            KIND_UNKNOWN => {
                let k = socket_kind(self.fd);
                // An event may have ended the stream meanwhile: it wins.
                match self.kind.compare_exchange(
                    KIND_UNKNOWN,
                    k,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => k,
                    Err(now) => now,
                }
            }
            k => k,
        };
        if kind == KIND_STREAM {
            self.drained.store(true, Ordering::Relaxed);
        }
    }

    /// Takes the [`drained`](Self::drained) hint: true if the last read
    /// left the queue empty and no read readiness has arrived since, so a
    /// read should wait before it tries.
    pub(super) fn take_drained(&self) -> bool {
        if !self.drained.load(Ordering::Relaxed) {
            return false;
        }
        self.drained.store(false, Ordering::Relaxed);
        self.ready.load(Ordering::SeqCst) & POLL_IN == 0
    }

    /// Counts `w`, just linked by a trusted wait that did not re-arm (lock
    /// held), for the rescue.
    pub(super) fn add_unarmed(&self, w: &Waiter) {
        w.unarmed.set(true);
        if self.unarmed.fetch_add(1, Ordering::SeqCst) == 0 {
            self.unarmed_scan
                .store(RESCUE_SCANS.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        if !RESCUE_PENDING.load(Ordering::Relaxed) && !RESCUE_PENDING.swap(true, Ordering::SeqCst) {
            // The first since the last scan that left nothing: sysmon may
            // sleep longer than the scan period.
            sched::sysmon::wake_for_rescue();
        }
    }

    /// The rescue of a descriptor whose trusted waits have parked through
    /// [`RESCUE_AGE_SCANS`] rescue scans: re-arms its registration once for
    /// them (a number the host reused is registered afresh, and
    /// `EPOLL_CTL_MOD` reports readiness that is already there), or wakes
    /// them with the error that arming met.
    pub(super) fn rescue(&self) {
        let mut woken = Woken::default();
        {
            let mut inner = self.inner.lock();
            let mut any = false;
            let mut w = inner.head;
            while !w.is_null() {
                // SAFETY: linked waiters are alive while we hold the lock.
                let wr = unsafe { &*w };
                if wr.unarmed.replace(false) {
                    self.unarmed.fetch_sub(1, Ordering::Relaxed);
                    any = true;
                }
                w = wr.next.get();
            }
            if !any || self.still_registered() {
                return;
            }
            let err = match self.arm(&mut inner) {
                Ok(()) => return,
                Err(e) => e,
            };
            Self::take(&mut inner, &mut woken, false, |w| match w.who {
                // A file that cannot be polled is always ready.
                Who::G(_) if err == libc::EPERM => Some(w.events as i32),
                Who::G(_) => Some(-err),
                _ => None,
            });
        }
        let mut gs = Vec::new();
        woken.wake(&mut gs, false);
        sched::inject(&gs);
    }

    /// Whether the number still names the socket registered under the
    /// current generation (same inode), so its registration is intact and
    /// its waits are simply idle: the rescue then leaves them be, with an
    /// `fstat` instead of an `epoll_ctl` (which contends with `epoll_wait`
    /// for the epoll instance's lock). A socket's inode belongs to that
    /// socket alone, which has one open file description; other files
    /// (pipes, FIFOs opened twice) are always re-armed.
    fn still_registered(&self) -> bool {
        let ino = self.sock_ino.load(Ordering::Relaxed);
        ino != 0 && socket_inode(self.fd) == Some(ino)
    }

    /// Before linking a waiter for `events` (lock held): re-arms the
    /// registration, then consumes readiness that arrived since the
    /// caller's last attempt. Some(result) means do not wait: the ready
    /// events (a descriptor that cannot be polled, like a regular file, is
    /// always ready) or -errno. Arming first matters: it is what notices a
    /// reused number, whose readiness bits belonged to the old file.
    /// With `arm` false (a trusted wait) the registration is left as it is.
    pub(super) fn prepare_wait(&self, inner: &mut Inner, events: u8, arm: bool) -> Option<i32> {
        if arm {
            match self.arm(inner) {
                Ok(()) => {}
                Err(libc::EPERM) => return Some(events as i32),
                Err(e) => return Some(-e),
            }
        }
        if events & POLL_IN != 0 {
            self.drained.store(false, Ordering::Relaxed);
        }
        let r = self.ready.load(Ordering::SeqCst) & events;
        if r != 0 {
            self.ready.fetch_and(!r, Ordering::SeqCst);
            return Some(r as i32);
        }
        None
    }

    /// Enters a call on the descriptor; false once `gort_fd_close` began.
    pub(super) fn incref(&self) -> bool {
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
    pub(super) fn decref(&self) {
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
pub(super) struct Woken {
    pub(super) n: usize,
    pub(super) who: [Option<Who>; 8],
    pub(super) more: Vec<Who>,
}

impl Woken {
    pub(super) fn push(&mut self, w: Who) {
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
    pub(super) fn wake(self, gs: &mut Vec<GRef>, now: bool) {
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
pub(super) static TABLE: [AtomicPtr<PollDesc>; NCHUNKS] =
    [const { AtomicPtr::new(ptr::null_mut()) }; NCHUNKS];
/// One past the highest chunk ever allocated (where the rescue scan stops).
pub(super) static CHUNKS_USED: AtomicUsize = AtomicUsize::new(0);

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
            Ok(_) => {
                chunk = fresh;
                CHUNKS_USED.fetch_max(c + 1, Ordering::AcqRel);
            }
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
pub(super) fn pd_lookup(fd: i32) -> Option<&'static PollDesc> {
    if fd < 0 || fd as usize >= CHUNK * NCHUNKS {
        return None;
    }
    let chunk = TABLE[fd as usize / CHUNK].load(Ordering::Acquire);
    // SAFETY: as in pd_get.
    (!chunk.is_null()).then(|| unsafe { &*chunk.add(fd as usize % CHUNK) })
}

/// Some descriptor may have trusted waits not yet re-armed: sysmon's cue
/// to scan (set by `add_unarmed`, cleared by a scan that leaves none).
static RESCUE_PENDING: AtomicBool = AtomicBool::new(false);

/// Whether the rescue scan has anything to look at.
pub(crate) fn rescue_pending() -> bool {
    RESCUE_PENDING.load(Ordering::SeqCst)
}

/// Rescue scans so far (wrapping): the clock of trusted waits, which
/// stamp themselves with it instead of reading the time.
static RESCUE_SCANS: AtomicU32 = AtomicU32::new(0);

/// sysmon's rescue scan (see `Arm::Trusted`), made every
/// [`RESCUE_PERIOD_NS`]: re-arms every descriptor whose trusted waits have
/// parked through [`RESCUE_AGE_SCANS`] scans.
pub(crate) fn rescue() {
    if !RESCUE_PENDING.swap(false, Ordering::SeqCst) {
        return;
    }
    let scan = RESCUE_SCANS.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
    let mut left = false;
    for slot in TABLE.iter().take(CHUNKS_USED.load(Ordering::Acquire)) {
        let chunk = slot.load(Ordering::Acquire);
        if chunk.is_null() {
            continue;
        }
        for i in 0..CHUNK {
            // SAFETY: chunks are never freed and hold CHUNK records.
            let pd = unsafe { &*chunk.add(i) };
            if pd.unarmed.load(Ordering::SeqCst) == 0 {
                continue;
            }
            if scan.wrapping_sub(pd.unarmed_scan.load(Ordering::Relaxed)) >= RESCUE_AGE_SCANS {
                pd.rescue();
            } else {
                left = true;
            }
        }
    }
    if left {
        RESCUE_PENDING.store(true, Ordering::SeqCst);
    }
}
