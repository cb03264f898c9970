//! Passes 2 and 3 (steps 6 and 7 of the algorithm in the module
//! overview): a select that found nothing ready enqueues one waiter per
//! case, all sharing one `SelectState`, pins its channels and parks; once
//! woken it locks them again, unlinks the waiters that lost, drops its
//! pins and reports the winning case.
//!
//! # The park callback and the select's stack
//!
//! The callback unlocks the channels in lock order, reading the list of
//! channels from the parked select's stack. Once it unlocks the first
//! channel the select may be readied and resume on another thread. That
//! is still safe: the resumed select first locks all the channels again,
//! in the same order, so it cannot get past the channel the callback is
//! about to unlock, and it never writes the list. After unlocking the last
//! channel the callback touches nothing on that stack (Go's
//! `selparkcommit` makes the same argument).
//!
//! # Lifetime
//!
//! A blocked select pins each channel (see [`chan`](crate::chan)'s lifetime rules)
//! because it locks them again after it was woken: by then the other
//! sides may have dropped their last references.

use std::ptr;

use crate::chan::{Chan, SelectState, Waiter};
use crate::panic::fatal;
use crate::sched::{self, GRef};

use super::{lock_all, unlock_all, Case, SendClosed, INLINE, SEND, WAIT_SELECT};

/// What the park callback needs: the distinct channels in lock order.
struct LockList {
    ptr: *const *const Chan,
    len: usize,
}

/// Park callback: unlock every channel of the select (Go:
/// `selparkcommit`). See the module docs for why reading the list from the
/// parked select's stack is safe.
unsafe fn unlock_list(_gp: GRef, data: *mut ()) -> bool {
    // SAFETY: data is the parked select's LockList; its fields are copied
    // out before the first unlock.
    let (p, n) = unsafe {
        let l = &*(data as *const LockList);
        (l.ptr, l.len)
    };
    for i in 0..n {
        // SAFETY: the list is immutable and stays in place until the
        // select has relocked everything, which needs the lock we are
        // about to release; the entry is read before that release.
        unsafe { (**p.add(i)).unlock() };
    }
    true
}

/// Passes 2 and 3: wait on every case, then clean up after the winner.
///
/// # Safety
/// Every lock in `chans` is held; as [`select`](super::select) otherwise.
#[inline(never)]
pub(super) unsafe fn block_on(
    cases: &mut [Case],
    lockorder: &[u32],
    chans: &[*const Chan],
) -> Result<usize, SendClosed> {
    let n = cases.len();
    let state = SelectState::new();
    let me = sched::current_record();
    let inline: [Waiter; INLINE] = [const { Waiter::new() }; INLINE];
    let heap: Vec<Waiter>;
    let waiters: &[Waiter] = if n <= INLINE {
        &inline[..n]
    } else {
        heap = (0..n).map(|_| Waiter::new()).collect();
        &heap
    };
    for &i in lockorder {
        let i = i as usize;
        let cas = &cases[i];
        let w = &waiters[i];
        w.g.set(me);
        w.elem.set(cas.elem as *mut u8);
        w.sel.set(&state);
        // SAFETY: the channel is live and locked; w stays in place until
        // pass 3 has unlinked it (or a waker has).
        unsafe {
            let (sendq, recvq) = (*cas.chan).queues();
            let q = if cas.dir == SEND { sendq } else { recvq };
            q.enqueue(w as *const Waiter as *mut Waiter);
        }
    }
    for &c in chans {
        // SAFETY: live channel; the caller holds a reference.
        unsafe { Chan::pin(c) };
    }
    let locks = LockList {
        ptr: chans.as_ptr(),
        len: chans.len(),
    };
    // SAFETY: unlock_list releases exactly the locks we hold; a waker can
    // only claim us after that, and exactly one can (the `done` CAS).
    unsafe {
        sched::park(
            unlock_list,
            &locks as *const LockList as *mut (),
            &WAIT_SELECT,
        )
    };

    // Pass 3.
    lock_all(chans);
    let winner = state.winner.get();
    let mut chosen = usize::MAX;
    for &i in lockorder {
        let i = i as usize;
        let w = &waiters[i];
        if ptr::eq(w, winner) {
            chosen = i;
            continue;
        }
        // SAFETY: live, locked channel; w is ours and valid.
        unsafe {
            let (sendq, recvq) = (*cases[i].chan).queues();
            let q = if cases[i].dir == SEND { sendq } else { recvq };
            q.remove(w as *const Waiter as *mut Waiter);
        }
    }
    // SAFETY: we hold every lock.
    unsafe { unlock_all(chans) };
    for &c in chans {
        // SAFETY: our pin from above; we do not use c afterwards.
        unsafe { Chan::unpin(c) };
    }
    if chosen == usize::MAX {
        fatal("select: woken without a winning case");
    }
    let success = waiters[chosen].success.get();
    let cas = &mut cases[chosen];
    if cas.dir == SEND {
        if !success {
            return Err(SendClosed);
        }
        cas.ok = true;
    } else {
        cas.ok = success;
    }
    Ok(chosen)
}
