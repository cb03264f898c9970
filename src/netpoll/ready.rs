//! `gort_fd_ready`'s waits: readiness handed to a [`Sink`] instead of a
//! parked goroutine. The sink is the channel of module `fdready`, a layer
//! above this one, which makes the wait a channel that a `gort_select` can
//! wait on beside other channels and timers; the poller knows nothing of
//! channels.
//!
//! # Invariants
//!
//! - A wait holds its sink's target (a pinned channel) from [`arm_ready`]
//!   until it hands the result over (an event, the deadline, a close) or
//!   is cancelled ([`cancel_ready`]); either happens once, by whoever
//!   unlinks the wait.
//! - A wait record is freed when its last reference is dropped: the
//!   list's (while linked, or until it fires) and the sink's release hook.

use super::*;

/// Where a readiness wait's result goes (module docs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sink {
    /// The receiver of the result (a channel the wait holds pinned).
    pub(crate) target: usize,
    /// Hands `result` to `target` and drops the wait's pin on it: the wait
    /// fired.
    pub(crate) deliver: unsafe fn(target: usize, result: i32),
    /// Drops the wait's pin on `target` without a result: the wait was
    /// cancelled.
    pub(crate) unpin: unsafe fn(target: usize),
}

/// A `gort_fd_ready` wait: a heap record linked in the descriptor's list,
/// with a deadline timer and a pin on the sink's channel. Reference
/// counted: the list (while linked) and the channel's release hook each
/// hold one.
pub(crate) struct ChanWait {
    pub(super) waiter: Waiter,
    pub(super) timer: TimerNode,
    pub(super) pd: &'static PollDesc,
    /// The deadline (-1: none).
    pub(super) deadline: i64,
    pub(super) sink: Sink,
    pub(super) refs: std::sync::atomic::AtomicUsize,
}

impl ChanWait {
    pub(super) unsafe fn drop_ref(cw: *const ChanWait) {
        // SAFETY: the caller owns one reference.
        if unsafe { (*cw).refs.fetch_sub(1, Ordering::AcqRel) } == 1 {
            // SAFETY: the last reference: nobody else can reach it.
            drop(unsafe { Box::from_raw(cw as *mut ChanWait) });
        }
    }

    /// Unlinked by an event, the deadline, or a close: send the result,
    /// stop the timer, drop the pin and the list's reference.
    pub(super) unsafe fn fire(cw: *const ChanWait) {
        // SAFETY: the list's reference keeps cw alive.
        let c = unsafe { &*cw };
        sched::sched().timers.del_node(&c.timer);
        let v: i32 = c.waiter.result.get();
        // SAFETY: our pin keeps the target alive (the sink's contract:
        // it takes the value and drops the pin).
        unsafe {
            (c.sink.deliver)(c.sink.target, v);
            Self::drop_ref(cw);
        }
    }
}

/// The release hook of a `gort_fd_ready` channel (`arg`: its wait): the
/// channel's last reference was released, so cancel the wait if it is
/// still pending.
pub(crate) fn cancel_ready(arg: usize) {
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
            (c.sink.unpin)(c.sink.target);
            ChanWait::drop_ref(cw);
        }
    }
    // SAFETY: the hook's reference.
    unsafe { ChanWait::drop_ref(cw) };
}

/// What [`begin_ready`] found.
#[derive(Debug)]
pub(crate) enum Ready {
    /// The result, at once: the ready events, 0 (the deadline has
    /// passed), or -errno.
    Now(i32),
    /// A wait to arm ([`arm_ready`]), with two references: the list's and
    /// the one for the channel's release hook ([`cancel_ready`]).
    Wait(*const ChanWait),
}

/// Begins a `gort_fd_ready` wait for `events` on `fd` until `deadline`,
/// whose result goes to `sink`.
pub(crate) fn begin_ready(fd: i32, events: i32, deadline: i64, sink: Sink) -> Ready {
    let events = match check_events(events) {
        Ok(e) => e,
        Err(e) => return Ready::Now(-e),
    };
    let pd = match pd_get(fd) {
        Some(pd) => pd,
        None => return Ready::Now(-libc::EBADF),
    };
    if pd.refs.load(Ordering::Acquire) & (CLOSING | FINAL) != 0 {
        return Ready::Now(-libc::EBADF);
    }
    reset(pd, events);
    match poll_now(fd, events) {
        r if r > 0 => return Ready::Now(r),
        r if r < 0 && r != -libc::EINTR => return Ready::Now(r),
        _ => {}
    }
    if deadline != -1 && deadline <= os::nanotime() {
        return Ready::Now(0);
    }
    let cw = Box::into_raw(Box::new(ChanWait {
        waiter: Waiter::new(events, Who::Chan(ptr::null())),
        timer: TimerNode::new(deadline_fired, pd as *const PollDesc as usize),
        pd,
        deadline,
        sink,
        refs: std::sync::atomic::AtomicUsize::new(2),
    }));
    // SAFETY: cw is ours until armed.
    unsafe { (*cw).waiter.who = Who::Chan(cw) };
    Ready::Wait(cw)
}

/// Links the wait in its descriptor's list with its deadline, or fires it
/// at once if the descriptor is ready already.
///
/// # Safety
/// `cw` comes from [`begin_ready`] and is armed once; the sink's target
/// holds a pin for the list, and the release hook holds the other
/// reference.
pub(crate) unsafe fn arm_ready(cw: *const ChanWait) {
    // SAFETY: per the contract, cw is alive (the list's reference).
    let cwr = unsafe { &*cw };
    let pd = cwr.pd;
    let mut inner = pd.inner.lock();
    match pd.prepare_wait(&mut inner, cwr.waiter.events, true) {
        None => {
            PollDesc::link(&mut inner, &cwr.waiter);
            poller().nwait.fetch_add(1, Ordering::SeqCst);
            if cwr.deadline != -1 {
                // SAFETY: the timer lives in cw, which stays alive until
                // the list's reference is dropped, after del_node.
                unsafe {
                    sched::sched()
                        .timers
                        .add_node(&cwr.timer, cwr.deadline, cwr.waiter.seq.get())
                };
            }
            drop(inner);
            // A goroutine waiting on this channel parks its M's round
            // into the poller; a foreign thread's select does not, so make
            // sure some M looks.
            sched::wakep();
        }
        Some(v) => {
            drop(inner);
            cwr.waiter.result.set(v);
            // SAFETY: never linked: the list's reference and pin are ours.
            unsafe { ChanWait::fire(cw) };
        }
    }
}
