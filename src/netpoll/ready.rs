//! `gort_fd_ready`: readiness as a channel that a `gort_select` can wait
//! on beside other channels and timers.

use super::*;

/// A `gort_fd_ready` wait: a heap record linked in the descriptor's list,
/// with a deadline timer and a pin on the channel. Reference counted: the
/// list (while linked) and the channel's release hook each hold one.
pub(crate) struct ChanWait {
    pub(super) waiter: Waiter,
    pub(super) timer: TimerNode,
    pub(super) pd: &'static PollDesc,
    pub(super) chan: *const crate::chan::Chan,
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
    pub(super) fn cancel(arg: usize) {
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
pub(crate) fn fd_ready(fd: i32, events: i32, deadline: i64) -> *const crate::chan::Chan {
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
    match pd.prepare_wait(&mut inner, events) {
        None => {
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
        Some(v) => {
            drop(inner);
            cwr.waiter.result.set(v);
            // SAFETY: never linked: the list's reference and pin are ours.
            unsafe { ChanWait::fire(cw) };
        }
    }
    c
}
