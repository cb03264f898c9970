//! `select` over channels (Go: `runtime/select.go`, `selectgo`).
//!
//! # Algorithm
//!
//! 1. Check the cases: each `dir` must be `RECV` or `SEND`; a send
//!    from a NULL element pointer with a non-zero element size panics.
//!    Cases whose channel is NULL take no further part: a nil channel is
//!    never ready, as in Go.
//! 2. *Poll order*: a uniformly random permutation of the remaining cases
//!    (Fisher-Yates by insertion, one random number per case), so that
//!    among several ready cases each is chosen with equal probability.
//!    *Lock order*: the same cases sorted by channel address; locking in
//!    that order on every select (duplicates locked once) is what makes
//!    two selects over the same channels deadlock-free.
//! 3. *Pass 0* (not in Go): in poll order, peek at each channel without
//!    its lock (the racy checks of Go's non-blocking fast paths); for a
//!    case that looks ready, lock that one channel and try the case as
//!    pass 1 would. The first success is the result: the operation was
//!    performed under its channel's lock, so it is as linearizable as a
//!    plain send or receive, and the choice among ready cases is still
//!    uniform. A select with a ready case thus locks one channel instead
//!    of all of them and sorts nothing.
//! 4. Otherwise sort into lock order and lock every channel. Pass 1: in
//!    poll order, take the first case that can proceed now: a waiting
//!    partner (direct hand-off, as in [`chan`]), buffer room or a
//!    buffered element, or a closed channel (a receive gets a zeroed
//!    element and `ok == false`; a send panics `send on closed channel`).
//!    Unlock everything, ready the partner. This pass is the authority:
//!    "nothing is ready" is only ever decided with every lock held, so a
//!    select never misses a case that was ready at one moment because it
//!    looked at the channels at different moments (Go's
//!    TestNonblockSelectRace).
//! 5. Nothing ready and `block == false` (Go's `default`): unlock and
//!    return "none".
//! 6. Pass 2: enqueue one waiter per case, all sharing one
//!    `SelectState`, pin every channel, and park. The park callback
//!    unlocks the channels once the goroutine is off its stack.
//! 7. A waker dequeues one of the waiters and claims the state with a
//!    compare-and-swap (`done`), recording itself as the winner; wakers of
//!    the other channels then skip (and unlink) the select's stale
//!    waiters. Woken, the select locks all its channels again, unlinks
//!    its waiters that are still queued (pass 3), unlocks, drops its pins
//!    and reports the winning case; a send case woken by close panics.
//!
//! The same channel may appear in several cases, in both directions: the
//! select's own send and receive waiters cannot meet, since matching only
//! happens when an operation arrives, and the select enqueues only after
//! it found nothing ready while holding every lock.
//!
//! # Where things live
//!
//! The scratch arrays (poll order, lock order, distinct channels) and the
//! waiters are on the selecting goroutine's stack for up to `INLINE`
//! cases; beyond that they are allocated. The waiters and the
//! `SelectState` are only set up when the select blocks (in a separate,
//! non-inlined function), so a select that finds a case ready pays only
//! for its passes 0 and 1.
//!
//! # Panics
//!
//! A send case on a closed channel panics only after every lock is
//! released, the pins are dropped and the scratch space is freed (the
//! inner functions return `SendClosed` to [`select`], which raises the
//! panic), so a recovered panic leaves nothing locked or leaked.
//!
//! # Files
//!
//! - this file: the cases and their checks, [`select`] (the passes in
//!   order, the scratch space) and the one-case shortcut;
//! - [`order`]: poll order and lock order, locking the channels;
//! - [`ready`]: trying a case that can proceed now (passes 0 and 1);
//! - [`block`]: waiting on every case, then cleaning up after the winner
//!   (passes 2 and 3).

mod block;
mod order;
mod ready;

use std::ffi::{c_int, c_void};
use std::ptr;

use crate::chan::{self, block_forever, Chan, Recv};
use crate::panic::{go_panic, panic_with};

use block::block_on;
use order::{lock_all, shuffle, sort_by_chan, unlock_all};
use ready::{attempt, try_one};

/// A receive case (`GORT_RECV`).
pub(crate) const RECV: c_int = 1;
/// A send case (`GORT_SEND`).
pub(crate) const SEND: c_int = 2;

/// Cases handled with stack scratch space only.
pub(crate) const INLINE: usize = 8;
/// The most cases one select may have (Go's limit for `reflect.Select`).
pub(crate) const MAX_CASES: usize = 1 << 16;
/// The panic for a count above [`MAX_CASES`] (Go's words for
/// `reflect.Select`).
pub(crate) const TOO_MANY_CASES: &str = "gort_select: too many cases (max 65536)";
/// The panic for a count that is a negative C integer converted to
/// `size_t`.
pub(crate) const NEGATIVE_CASES: &str = "gort_select: negative case count";

static WAIT_SELECT: &str = "select";
static WAIT_SELECT_NO_CASES: &str = "select (no cases)";

/// One case (the layout of the C `gort_select_case`).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Case {
    /// The channel; null: never ready.
    pub chan: *const Chan,
    /// `RECV` or `SEND`.
    pub dir: c_int,
    /// The value to send, or where to receive (may be null).
    pub elem: *mut c_void,
    /// Set for the chosen case: for a receive, false when the channel is
    /// closed and drained; true for a send.
    pub ok: bool,
}

#[cold]
fn bad_dir(i: usize, dir: c_int) -> ! {
    let msg = format!("gort_select: case {i} has invalid dir {dir} (want GORT_RECV or GORT_SEND)");
    // The message moves into the panic: nothing here needs dropping if it
    // is recovered.
    panic_with(std::ffi::CString::new(msg).unwrap_or_default())
}

/// A panic found while scratch space or locks are held: raised by
/// [`select`] once they are gone (a recovered panic abandons the frames it
/// skips, so nothing on them may need dropping).
#[derive(Debug)]
struct SendClosed;

#[cold]
fn nil_elem() -> ! {
    go_panic("gort_select: nil element pointer")
}

/// Checks what Go's compiler would have: directions and send elements.
///
/// # Safety
/// Every non-null channel is live.
#[inline]
unsafe fn check(cases: &[Case]) {
    for (i, cas) in cases.iter().enumerate() {
        match cas.dir {
            RECV => {}
            SEND if cas.elem.is_null() && !cas.chan.is_null() => {
                // SAFETY: non-null channels are live.
                if unsafe { (*cas.chan).elem_size() } != 0 {
                    nil_elem();
                }
            }
            SEND => {}
            d => bad_dir(i, d),
        }
    }
}

/// Runs a select (Go: `selectgo`): returns the index of the case that
/// proceeded, or `None` when `block` is false and no case was ready.
/// Blocks forever when every channel is null and `block` is true.
///
/// # Safety
/// Every non-null channel is live for the duration of the call (the caller
/// holds references); each case's `elem` is valid for the channel's
/// element size (readable for a send, writable or null for a receive).
pub(crate) unsafe fn select(cases: &mut [Case], block: bool) -> Option<usize> {
    if cases.len() > MAX_CASES {
        go_panic(TOO_MANY_CASES);
    }
    // SAFETY: forwarded contract.
    unsafe { check(cases) };
    if cases.len() == 1 && !cases[0].chan.is_null() {
        // SAFETY: forwarded contract.
        return unsafe { select_one(&mut cases[0], block) };
    }
    // SAFETY: forwarded contract.
    match unsafe { select_cases(cases, block) } {
        Ok(r) => r,
        Err(SendClosed) => go_panic("send on closed channel"),
    }
}

/// [`select`] for any number of cases, after the checks.
///
/// # Safety
/// As [`select`].
unsafe fn select_cases(cases: &mut [Case], block: bool) -> Result<Option<usize>, SendClosed> {
    let n = cases.len();

    let mut inline_order = [0u32; 2 * INLINE];
    let mut inline_chans = [ptr::null::<Chan>(); INLINE];
    let mut heap_order = Vec::new();
    let mut heap_chans = Vec::new();
    let (order, chans): (&mut [u32], &mut [*const Chan]) = if n <= INLINE {
        (&mut inline_order[..2 * n], &mut inline_chans[..n])
    } else {
        heap_order.resize(2 * n, 0u32);
        heap_chans.resize(n, ptr::null::<Chan>());
        (&mut heap_order[..], &mut heap_chans[..])
    };
    let (poll, lockorder) = order.split_at_mut(n);
    let norder = shuffle(cases, poll);
    if norder == 0 {
        if !block {
            return Ok(None);
        }
        block_forever(if n == 0 {
            &WAIT_SELECT_NO_CASES
        } else {
            &WAIT_SELECT
        });
    }
    let poll = &poll[..norder];
    // Pass 0.
    for &i in poll {
        let i = i as usize;
        // SAFETY: forwarded contract.
        if let Some(r) = unsafe { try_one(&mut cases[i], i) }? {
            return Ok(Some(r));
        }
    }
    let lockorder = &mut lockorder[..norder];
    lockorder.copy_from_slice(poll);
    sort_by_chan(cases, lockorder);
    let mut nchans = 0;
    for &i in lockorder.iter() {
        let c = cases[i as usize].chan;
        if nchans == 0 || chans[nchans - 1] != c {
            chans[nchans] = c;
            nchans += 1;
        }
    }
    let chans = &chans[..nchans];

    lock_all(chans);
    // Pass 1: the first ready case in poll order, every lock held.
    for &i in poll {
        let i = i as usize;
        // SAFETY: every channel is locked; forwarded contract.
        if let Some(r) = unsafe { attempt(&mut cases[i], i, chans) }? {
            return Ok(Some(r));
        }
    }
    if !block {
        // SAFETY: we hold every lock.
        unsafe { unlock_all(chans) };
        return Ok(None);
    }
    // SAFETY: every lock is held; forwarded contract.
    unsafe { block_on(cases, lockorder, chans) }.map(Some)
}

/// A one-case select is a plain channel operation (as Go's compiler
/// rewrites it).
///
/// # Safety
/// As [`select`].
unsafe fn select_one(cas: &mut Case, block: bool) -> Option<usize> {
    // SAFETY: forwarded contract.
    let c = unsafe { &*cas.chan };
    if cas.dir == SEND {
        // SAFETY: forwarded contract.
        if !unsafe { chan::send(c, cas.elem as *const u8, block) } {
            return None;
        }
        cas.ok = true;
        return Some(0);
    }
    // SAFETY: forwarded contract.
    match unsafe { chan::recv(c, cas.elem as *mut u8, block) } {
        Recv::Value => cas.ok = true,
        Recv::Closed => cas.ok = false,
        Recv::WouldBlock => return None,
    }
    Some(0)
}

#[cfg(test)]
mod tests;
