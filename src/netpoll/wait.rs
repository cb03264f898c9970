//! Waiting for readiness: a goroutine parks on its descriptor's waiter
//! list; a foreign thread blocks in `ppoll` on the descriptor and its own
//! eventfd (so that `gort_fd_close` can wake it).

use super::*;

/// Descriptors whose blocking mode the runtime never changes: 0, 1, 2 and
/// terminals (their file description is shared with other processes).
pub(super) fn keep_blocking_mode(fd: i32) -> bool {
    // SAFETY: isatty only inspects fd.
    fd <= 2 || unsafe { libc::isatty(fd) } == 1
}

pub(super) fn set_nonblocking_if_allowed(fd: i32) {
    // SAFETY: fcntl on a descriptor number; a bad one fails harmlessly.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if fl >= 0 && fl & libc::O_NONBLOCK == 0 && !keep_blocking_mode(fd) {
        // SAFETY: as above.
        unsafe { libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) };
    }
}

/// How a call reaches a descriptor.
pub(super) enum Mode {
    /// Non-blocking: try, and wait on EAGAIN.
    NonBlocking,
    /// Blocking (0-2, terminals): wait for readiness, then make the call
    /// as a blocking C call.
    Blocking,
}

/// Makes `fd` non-blocking unless it must keep its mode; Err(errno) if
/// it is not open.
pub(super) fn prepare_mode(fd: i32) -> Result<Mode, i32> {
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

/// Checks readiness now (`poll` with a zero timeout): the ready subset
/// of `events` (both on an error or hang-up), or -errno.
pub(super) fn poll_now(fd: i32, events: u8) -> i32 {
    poll_timed(fd, events, -1, Some(0))
}

/// `ppoll` on `fd` (and `efd` if >= 0) for at most `ns` (None: no limit).
/// Returns the ready subset of `events`, 0 if none, or -errno; -EINTR is
/// retried by the caller.
pub(super) fn poll_timed(fd: i32, events: u8, efd: i32, ns: Option<i64>) -> i32 {
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

pub(super) fn to_poll_events(events: u8) -> i16 {
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
pub(super) fn deadline_fired(arg: usize, seq: u64) {
    // SAFETY: PollDescs are never freed.
    let pd = unsafe { &*(arg as *const PollDesc) };
    pd.on_deadline(seq);
}

pub(super) unsafe fn unlock_pd(_gp: GRef, data: *mut ()) -> bool {
    // SAFETY: wait() forgot the guard of this lock just before parking.
    unsafe { (*(data as *const PollDesc)).inner.force_unlock() };
    true
}

/// How a goroutine's wait treats the descriptor's epoll registration.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Arm {
    /// Re-arm it before parking (`EPOLL_CTL_MOD`, see the module docs):
    /// for waits that report readiness to their caller (`gort_fd_wait`,
    /// `gort_fd_ready`), and for a wait that follows a wake-up which
    /// found nothing to do.
    Now,
    /// Trust it, if the descriptor has one: park with no system call. For
    /// the first wait of a call that tries again after every wake-up
    /// (`gort_read`, `gort_write`, `gort_accept`), so that a stale
    /// readiness costs one more attempt, then an armed wait. A
    /// registration that no longer names the file (the host closed the
    /// number and got it back) is repaired by the rescue: sysmon re-arms
    /// a trusted wait still parked after 10-15 ms ([`RESCUE_AGE_SCANS`]).
    Trusted,
}

/// Waits until `pd`'s descriptor is ready for `events` (or error), the
/// deadline passes, or `gort_fd_close` closes it. Returns the ready
/// events (> 0), 0 when the deadline passed, or -errno. The caller holds
/// a reference (`incref`) and cleared the `ready` bits it waits for
/// before its last attempt.
pub(super) fn wait(pd: &'static PollDesc, events: u8, deadline: i64, arm: Arm) -> i32 {
    if sched::current_g().is_null() {
        return wait_foreign(pd, events, deadline);
    }
    let mut inner = pd.inner.lock();
    let trusted = arm == Arm::Trusted && pd.registered.load(Ordering::Relaxed);
    if let Some(r) = pd.prepare_wait(&mut inner, events, !trusted) {
        return r;
    }
    if deadline != -1 && deadline <= os::nanotime() {
        return 0;
    }
    let gp = sched::current_gref();
    let w = Waiter::new(events, Who::G(gp));
    PollDesc::link(&mut inner, &w);
    pd.recent
        .store(&w as *const Waiter as usize, Ordering::Relaxed);
    if trusted {
        pd.add_unarmed(&w);
    }
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
    sched::count_netpoll_wait();
    // SAFETY: the waiter is published in pd's list under its lock, which
    // unlock_pd releases once we are off our stack; whoever unlinks it
    // readies us exactly once.
    unsafe { sched::park(unlock_pd, pd as *const PollDesc as *mut (), &WAIT_IO) };
    if deadline != -1 {
        sched::sched().timers.del_node(&timer);
    }
    // Unlinked by whoever woke us, so the flag is ours again.
    if w.unarmed.get() {
        pd.unarmed.fetch_sub(1, Ordering::Relaxed);
    }
    w.result.get()
}

thread_local! {
    /// A foreign thread's eventfd, for `gort_fd_close` to wake it.
    static FOREIGN_EFD: ForeignEfd = const { ForeignEfd(Cell::new(-1)) };
}

pub(super) struct ForeignEfd(Cell<i32>);

impl Drop for ForeignEfd {
    fn drop(&mut self) {
        if self.0.get() >= 0 {
            // SAFETY: our own eventfd, no longer used by anyone (its thread
            // is exiting, so it waits on nothing).
            unsafe { libc::close(self.0.get()) };
        }
    }
}

pub(super) fn foreign_efd() -> Result<i32, i32> {
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

pub(super) fn linked_locked(pd: &PollDesc, w: &Waiter) -> bool {
    let _inner = pd.inner.lock();
    PollDesc::is_linked(w)
}

/// [`wait`] on a thread outside the runtime: the thread blocks in
/// `ppoll` on the descriptor and its eventfd.
pub(super) fn wait_foreign(pd: &'static PollDesc, events: u8, deadline: i64) -> i32 {
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
