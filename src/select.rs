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
//! # Panics
//!
//! A send case on a closed channel panics only after every lock is
//! released, the pins are dropped and the scratch space is freed (the
//! inner functions return `SendClosed` to [`select`], which raises the
//! panic), so a recovered panic leaves nothing locked or leaked.
//!
//! # Lifetime
//!
//! A blocked select pins each channel (see [`chan`]'s lifetime rules)
//! because it locks them again after it was woken: by then the other
//! sides may have dropped their last references.

use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::ptr;

use crate::chan::{self, block_forever, Chan, Recv, SelectState, Waiter};
use crate::panic::{fatal, go_panic, panic_with};
use crate::sched::{self, GRef};

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

thread_local! {
    /// Random state for poll orders (any thread's will do: a goroutine
    /// uses the state of the thread it runs on, never across a switch).
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// wyrand: a fast 64-bit generator, plenty for shuffling cases.
#[inline]
fn wyrand(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0xa076_1d64_78bd_642f);
    let t = (*state as u128).wrapping_mul((*state ^ 0xe703_7ed1_a0b4_28db) as u128);
    ((t >> 64) ^ t) as u64
}

/// Fills `order` with a uniformly random permutation of the indices of the
/// cases with a channel (Go: the `pollorder` loop); returns their number.
#[inline]
fn shuffle(cases: &[Case], order: &mut [u32]) -> usize {
    RNG.with(|r| {
        let mut s = r.get();
        if s == 0 {
            // First use on this thread: seed from the clock and the
            // thread's own address.
            s = (crate::time::nanotime() as u64) ^ (r as *const Cell<u64> as u64).rotate_left(32);
            s |= 1;
        }
        let mut n = 0usize;
        for (i, cas) in cases.iter().enumerate() {
            if cas.chan.is_null() {
                continue;
            }
            // j uniform in 0..=n (Lemire's multiply-shift; the bias is
            // below 2^-32 for the case counts allowed).
            let j = (((wyrand(&mut s) >> 32) * (n as u64 + 1)) >> 32) as usize;
            order[n] = order[j];
            order[j] = i as u32;
            n += 1;
        }
        r.set(s);
        n
    })
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

/// Locks the distinct channels, in address order.
#[inline]
fn lock_all(chans: &[*const Chan]) {
    for &c in chans {
        // SAFETY: the select's channels are live while it runs.
        unsafe { (*c).lock() };
    }
}

/// Unlocks the channels locked by [`lock_all`].
///
/// # Safety
/// The caller holds all their locks.
#[inline]
unsafe fn unlock_all(chans: &[*const Chan]) {
    for &c in chans.iter().rev() {
        // SAFETY: forwarded contract.
        unsafe { (*c).unlock() };
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

/// Sorts case indices by channel address (insertion sort: selects are
/// small; large ones fall back to the library sort).
fn sort_by_chan(cases: &[Case], order: &mut [u32]) {
    let key = |i: u32| cases[i as usize].chan as usize;
    if order.len() > 2 * INLINE {
        order.sort_unstable_by_key(|&i| key(i));
        return;
    }
    for j in 1..order.len() {
        let x = order[j];
        let k = key(x);
        let mut h = j;
        while h > 0 && key(order[h - 1]) > k {
            order[h] = order[h - 1];
            h -= 1;
        }
        order[h] = x;
    }
}

/// Pass 0 for one case: if the channel looks ready without its lock,
/// lock it alone and try the case. Returns `Some(i)` if it proceeded.
///
/// # Safety
/// As [`select`], for this case; its channel is not null.
#[inline]
unsafe fn try_one(cas: &mut Case, i: usize) -> Result<Option<usize>, SendClosed> {
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
/// as [`select`] otherwise.
#[inline]
unsafe fn attempt(
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
/// Every lock in `chans` is held; as [`select`] otherwise.
#[inline(never)]
unsafe fn block_on(
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

#[cfg(test)]
mod tests;
