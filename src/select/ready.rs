//! Passes 0 and 1 (steps 3 and 4 of the algorithm in the module
//! overview): trying a case that can proceed now. [`try_one`] peeks at
//! one channel without its lock and, if it looks ready, locks that channel
//! alone and tries the case; [`attempt`] tries a case whose channel the
//! caller has locked, as Go's pass 1 does.
//!
//! A case proceeds only under its channel's lock, so it is as
//! linearizable as a plain send or receive. On success every held lock is
//! released before the partner is readied. When the case cannot proceed,
//! [`attempt`] leaves every lock held (pass 0's [`try_one`] then releases
//! its one lock), so that pass 1 decides "nothing is ready" with all of
//! them held. A send on a closed channel releases the locks and returns
//! `SendClosed`, for [`select`](super::select) to panic.

use crate::chan::Chan;
use crate::sched::{self, GRef};

use super::{unlock_all, Case, SendClosed, SEND};

/// Pass 0 for one case: if the channel looks ready without its lock,
/// lock it alone and try the case. Returns `Some(i)` if it proceeded.
///
/// # Safety
/// As [`select`](super::select), for this case; its channel is not null.
#[inline]
pub(super) unsafe fn try_one(cas: &mut Case, i: usize) -> Result<Option<usize>, SendClosed> {
    // SAFETY: forwarded contract.
    let c = unsafe { &*cas.chan };
    let looks_ready = c.is_closed()
        || if cas.dir == SEND {
            c.can_send_hint()
        } else {
            c.can_recv_hint()
        };
    if !looks_ready {
        return Ok(None);
    }
    let held = [cas.chan];
    c.lock();
    // SAFETY: we hold the channel's lock; forwarded contract.
    let r = unsafe { attempt(cas, i, &held) };
    if let Ok(None) = r {
        // SAFETY: attempt leaves the lock held when it fails.
        unsafe { c.unlock() };
    }
    r
}

/// Tries case `i` on its (locked) channel, as Go's pass 1 does. On
/// success, unlocks `held`, readies the partner and returns `Some(i)`; if
/// the case cannot proceed, leaves every lock held. A send on a closed
/// channel unlocks and returns the error.
///
/// # Safety
/// Every channel in `held` is locked by the caller, the case's among them;
/// as [`select`](super::select) otherwise.
#[inline]
pub(super) unsafe fn attempt(
    cas: &mut Case,
    i: usize,
    held: &[*const Chan],
) -> Result<Option<usize>, SendClosed> {
    // SAFETY: live, locked channel; elem valid as promised.
    unsafe {
        let c = &*cas.chan;
        let (sendq, recvq) = c.queues();
        if cas.dir == SEND {
            if c.is_closed() {
                unlock_all(held);
                return Err(SendClosed);
            }
            if let Some(w) = recvq.dequeue() {
                let g = c.send_to(w, cas.elem as *const u8);
                return Ok(Some(finish(held, Some(g), cas, true, i)));
            }
            if c.has_room() {
                c.buf_push(cas.elem as *const u8);
                return Ok(Some(finish(held, None, cas, true, i)));
            }
        } else {
            if let Some(w) = sendq.dequeue() {
                let g = c.recv_from(w, cas.elem as *mut u8);
                return Ok(Some(finish(held, Some(g), cas, true, i)));
            }
            if c.has_items() {
                c.buf_pop(cas.elem as *mut u8);
                return Ok(Some(finish(held, None, cas, true, i)));
            }
            if c.is_closed() {
                c.clear(cas.elem as *mut u8);
                return Ok(Some(finish(held, None, cas, false, i)));
            }
        }
    }
    Ok(None)
}

/// Unlocks, readies the partner, records `ok`; returns `i`.
///
/// # Safety
/// Every lock in `chans` is held.
#[inline]
unsafe fn finish(
    chans: &[*const Chan],
    partner: Option<GRef>,
    cas: &mut Case,
    ok: bool,
    i: usize,
) -> usize {
    // SAFETY: forwarded contract.
    unsafe { unlock_all(chans) };
    if let Some(g) = partner {
        sched::ready(g, true);
    }
    cas.ok = ok;
    i
}
