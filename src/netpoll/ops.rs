//! The operations of API.md §10 (`gort_read`, `gort_write`,
//! `gort_accept`, `gort_connect`, `gort_fd_wait`, `gort_fd_close`). Each
//! holds a reference on the descriptor (`Hold`) while it runs, tries the
//! call, and waits on EAGAIN. Results are `Ok` or `Err(errno)`.

use super::*;

/// A call's hold on a descriptor: `incref` at the start, `decref` on drop.
pub(super) struct Hold(&'static PollDesc);

impl Hold {
    pub(super) fn new(fd: i32) -> Result<Hold, i32> {
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
pub(super) fn reset(pd: &PollDesc, events: u8) {
    if events & POLL_IN != 0 && pd.drained.load(Ordering::Relaxed) {
        pd.drained.store(false, Ordering::Relaxed);
    }
    if pd.ready.load(Ordering::Relaxed) & events != 0 {
        pd.ready.fetch_and(!events, Ordering::SeqCst);
    }
}

/// After an attempt failed with EAGAIN: waits for `events`; Ok to try
/// again, Err(errno) to give up. `arm` says how (see [`Arm`]); any wait
/// after this one re-arms.
pub(super) fn wait_again(
    pd: &'static PollDesc,
    events: u8,
    deadline: i64,
    arm: &mut Arm,
) -> Result<(), i32> {
    if deadline != -1 && deadline <= os::nanotime() {
        return Err(libc::ETIMEDOUT);
    }
    let how = std::mem::replace(arm, Arm::Now);
    match wait(pd, events, deadline, how) {
        0 => Err(libc::ETIMEDOUT),
        r if r < 0 => Err(-r),
        _ => Ok(()),
    }
}

/// Waits until the descriptor is ready for `events` and returns the
/// ready ones (`poll`'s answer, checked again after every wake-up), or
/// fails (ETIMEDOUT, EBADF, ...). For `gort_fd_wait`, a connect in
/// progress, and descriptors kept in blocking mode.
pub(super) fn await_ready(pd: &'static PollDesc, events: u8, deadline: i64) -> Result<u8, i32> {
    loop {
        reset(pd, events);
        match poll_now(pd.fd, events) {
            r if r > 0 => return Ok(r as u8),
            r if r < 0 && r != -libc::EINTR => return Err(-r),
            _ => {}
        }
        wait_again(pd, events, deadline, &mut Arm::Now)?;
    }
}

/// Runs a C call that may block as a blocking call (sysmon hands the P on).
pub(super) fn blocking<R>(f: impl FnOnce() -> R) -> R {
    sched::blocking_enter();
    let r = f();
    let e = os::errno();
    sched::blocking_exit();
    os::set_errno(e);
    r
}

pub(super) fn check_events(events: i32) -> Result<u8, i32> {
    if events == 0 || events & !(POLL_BOTH as i32) != 0 {
        return Err(libc::EINVAL);
    }
    Ok(events as u8)
}

/// `gort_fd_wait`.
pub(crate) fn fd_wait(fd: i32, events: i32, deadline: i64) -> Result<u8, i32> {
    let events = check_events(events)?;
    let h = Hold::new(fd)?;
    await_ready(h.0, events, deadline)
}

/// One non-blocking attempt at a transfer: a socket call with
/// MSG_DONTWAIT (`sock`), else the plain call on a descriptor made
/// non-blocking (`plain`). Returns the call's result (errno set). With
/// `wait_first`, the first attempt waits for readiness before it tries
/// (see `PollDesc::take_drained`).
pub(super) fn attempt(
    pd: &'static PollDesc,
    events: u8,
    deadline: i64,
    wait_first: bool,
    sock: impl Fn() -> isize,
    plain: impl Fn() -> isize,
) -> Result<isize, i32> {
    // The call's first wait trusts the registration; a wake-up that finds
    // nothing to do re-arms before the next (see `Arm`, `wait_again`).
    let mut arm = Arm::Trusted;
    if wait_first {
        wait_again(pd, events, deadline, &mut arm)?;
    }
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
                    wait_again(pd, events, deadline, &mut arm)?;
                    continue;
                }
                e => return Err(e),
            }
        }
        match prepare_mode(pd.fd)? {
            Mode::NonBlocking => {}
            Mode::Blocking => {
                await_ready(pd, events, deadline)?;
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
            libc::EAGAIN => wait_again(pd, events, deadline, &mut arm)?,
            e => return Err(e),
        }
    }
}

/// `gort_read`.
///
/// # Safety
/// `buf` is NULL or `len` writable bytes (the kernel checks them).
pub(crate) unsafe fn read(fd: i32, buf: *mut u8, len: usize, deadline: i64) -> Result<usize, i32> {
    if len == 0 {
        return if fd < 0 { Err(libc::EBADF) } else { Ok(0) };
    }
    if buf.is_null() {
        return Err(libc::EFAULT);
    }
    let h = Hold::new(fd)?;
    // A past deadline asks for one non-blocking try, which must happen.
    let wait_first = h.0.take_drained() && (deadline == -1 || deadline > os::nanotime());
    let n = attempt(
        h.0,
        POLL_IN,
        deadline,
        wait_first,
        || {
            // SAFETY: the caller promised len writable bytes at buf (the
            // kernel checks them: EFAULT, never a fault here).
            unsafe { libc::recv(fd, buf.cast(), len, libc::MSG_DONTWAIT) }
        },
        || {
            // SAFETY: as above.
            unsafe { libc::read(fd, buf.cast(), len) }
        },
    )? as usize;
    if h.0.socket.load(Ordering::Relaxed) {
        h.0.note_recv(n, len);
    }
    Ok(n)
}

/// `gort_write`: everything, or how much went out and why it stopped.
///
/// # Safety
/// `buf` is NULL or `len` readable bytes (the kernel checks them).
pub(crate) unsafe fn write(fd: i32, buf: *const u8, len: usize, deadline: i64) -> (usize, i32) {
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
            false,
            || {
                // SAFETY: the caller promised len readable bytes at buf
                // (the kernel checks them).
                unsafe { libc::send(fd, p.cast(), rest, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) }
            },
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
pub(super) fn write_no_sigpipe(fd: i32, p: *const u8, n: usize) -> isize {
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
pub(crate) unsafe fn accept(
    fd: i32,
    addr: *mut libc::sockaddr,
    addrlen: *mut libc::socklen_t,
    deadline: i64,
) -> Result<i32, i32> {
    let h = Hold::new(fd)?;
    let mut arm = Arm::Trusted;
    loop {
        reset(h.0, POLL_IN);
        if let Mode::Blocking = prepare_mode(fd)? {
            await_ready(h.0, POLL_IN, deadline)?;
        }
        let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        // SAFETY: addr/addrlen are the caller's (NULL allowed); the kernel
        // checks them.
        let nfd = unsafe { libc::accept4(fd, addr, addrlen, flags) };
        if nfd >= 0 {
            fresh_file(nfd);
            return Ok(nfd);
        }
        match os::errno() {
            libc::EINTR | libc::ECONNABORTED => {}
            libc::EAGAIN => wait_again(h.0, POLL_IN, deadline, &mut arm)?,
            e => return Err(e),
        }
    }
}

/// `fd` names a file the runtime has not seen (just accepted): whatever
/// its number's record knew belonged to an earlier file, closed with
/// `close(2)`, so it is forgotten and events of that file's registration
/// (alive through a `dup`) are dropped; the first wait registers the new
/// file instead of trusting a registration it does not have.
fn fresh_file(fd: i32) {
    if let Some(pd) = pd_lookup(fd) {
        pd.number_reused(&mut pd.inner.lock());
    }
}

/// `gort_connect`.
///
/// # Safety
/// `addr` is as for connect(2) (the kernel checks it).
pub(crate) unsafe fn connect(
    fd: i32,
    addr: *const libc::sockaddr,
    addrlen: libc::socklen_t,
    deadline: i64,
) -> Result<(), i32> {
    let h = Hold::new(fd)?;
    if let Mode::Blocking = prepare_mode(fd)? {
        // A terminal or 0-2: not a socket we may make non-blocking.
        let r = blocking(|| {
            // SAFETY: the caller's address; the kernel checks it.
            unsafe { libc::connect(fd, addr, addrlen) }
        });
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
    await_ready(h.0, POLL_OUT, deadline)?;
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
    if err == 0 {
        Ok(())
    } else {
        Err(err)
    }
}

/// `gort_fd_close`.
pub(crate) fn close(fd: i32) -> Result<(), i32> {
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
        pd.number_reused(&mut pd.inner.lock());
    }
    pd.refs.store(0, Ordering::Release);
    if r < 0 {
        Err(e)
    } else {
        Ok(())
    }
}
