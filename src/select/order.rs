//! Poll order and lock order (step 2 of the algorithm in the module
//! overview): a uniformly random permutation of the cases that have a
//! channel, the same cases sorted by channel address, and locking and
//! unlocking the distinct channels in that order.
//!
//! Every select locks its distinct channels in increasing address order,
//! each once, so two selects over the same channels cannot deadlock. The
//! random state is per thread: a goroutine uses the state of the thread
//! it runs on and never holds it across a switch.

use std::cell::Cell;

use crate::chan::Chan;

use super::{Case, INLINE};

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
pub(super) fn shuffle(cases: &[Case], order: &mut [u32]) -> usize {
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

/// Sorts case indices by channel address (insertion sort: selects are
/// small; large ones fall back to the library sort).
pub(super) fn sort_by_chan(cases: &[Case], order: &mut [u32]) {
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

/// Locks the distinct channels, in address order.
#[inline]
pub(super) fn lock_all(chans: &[*const Chan]) {
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
pub(super) unsafe fn unlock_all(chans: &[*const Chan]) {
    for &c in chans.iter().rev() {
        // SAFETY: forwarded contract.
        unsafe { (*c).unlock() };
    }
}
