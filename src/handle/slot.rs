//! One slot and its protocol: [`Slot::issue`], [`Slot::load`] and
//! [`Slot::retire`] are the whole of it, and the loom models
//! (`loom_tests.rs`) run exactly these.
//!
//! # A slot
//!
//! `Slot { state: AtomicU64, value: AtomicPtr }`, 16 bytes. The whole
//! protocol rests on one invariant:
//!
//! > **`state == h` if and only if `h` is a live handle.**
//!
//! While the slot is live, `state` holds the handle value itself (low 32
//! bits non-zero, since the index is not 0); while it is free, `state`
//! holds the *next* generation in its high 32 bits and zero in its low 32
//! bits, which no handle has. Zeroed memory is therefore a free slot.
//!
//! - `new`: take a free slot (owned exclusively: it came out of a free
//!   list), read its next generation `g`, store the value (Release), then
//!   store `state = h(g, index)` (Release). No read-modify-write.
//! - `delete(h)`: decode, then `CAS(state: h -> (g + 1) << 32)`. Only one
//!   CAS can succeed for a given `h`, so a second delete (even racing on
//!   another thread) and a delete of a stale or forged handle fail and
//!   nothing reaches the free list twice. Only the winner frees the slot.
//! - `value(h)`: decode; load `state` (Acquire) and compare with `h`; load
//!   `value` (Acquire); load `state` again and compare with `h` again.
//!   Lock-free, no write to shared memory.
//!
//! A deleted handle cannot validate again until its slot's generation has
//! come round, i.e. until the slot has been reissued 2^32 times.
//!
//! ## Why `value` cannot return another handle's value
//!
//! The value field is rewritten only by `new` on a slot it owns, and a slot
//! is owned only after the `delete` CAS that moved `state` away from the
//! previous handle. Suppose `value(h)` saw `state == h` and then read a
//! value `V2` written by a later `new` (of a later handle `h2` of that
//! slot). `V2` is a Release store and the read is an Acquire load, so the
//! reader synchronizes with that `new`, which happens after the `delete(h)`
//! CAS (same thread, or through the free-list locks). By coherence the
//! second `state` load then returns that CAS's value or a later one, which
//! is not `h` unless the generation went all the way round (2^32
//! reissues between the reader's two loads, a few nanoseconds apart): the
//! read is rejected. Without the second load a reader delayed between its
//! two loads could hand out the value of the slot's next handle.
//! Conversely, a value read between two matching loads was written before
//! the `state = h` store the first load saw (Release/Acquire), so it is
//! `h`'s value.
//!
//! ## Model checking
//!
//! The three slot operations are `Slot::issue`, `Slot::load` and
//! `Slot::retire`; `new`, `value` and `delete` call them, and so do the
//! loom models (`loom_tests.rs`, run by `make check`), on a slot whose
//! atomics are loom's under `--cfg loom` (`crate::sync_shim`). Under
//! every interleaving and every read the memory model allows, they check
//! that `value(h)` racing with `delete(h)` and the slot's reissue as `h2`
//! (by the deleting thread, or through a lock-protected free list on a
//! third thread) returns `h`'s value or nothing, never `h2`'s, while
//! `value(h2)` never returns `h`'s; and that of two racing `delete(h)`
//! exactly one succeeds. Each step of the argument above is load-bearing
//! there: without the second `state` load, with the value stored after
//! the state, or with either Acquire load weakened to Relaxed, the models
//! fail. The segments and free lists are not modelled (std's atomics and
//! locks); the models stand for them with a lock that hands the slot over.

use std::ffi::c_void;
use std::sync::atomic::Ordering;

use crate::panic::fatal;
use crate::sync_shim;

use super::encoding::{encode, freed_state, GEN_MASK};

/// One slot. `state` is the handle while live, the next generation (low
/// half zero) while free; see the module notes. Its three operations below
/// are the whole slot protocol, and the loom models run exactly these.
#[repr(C, align(16))]
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) state: sync_shim::AtomicU64,
    pub(super) value: sync_shim::AtomicPtr<c_void>,
}

impl Slot {
    /// `new` on this free slot, which the caller owns (it came out of a
    /// free list): makes `value` the value of the slot's next handle and
    /// returns that handle.
    #[inline(always)]
    pub(super) fn issue(&self, index: usize, value: *mut c_void) -> u64 {
        // Owned: nobody else writes the state of a free slot.
        let free = self.state.load(Ordering::Relaxed);
        if free & !GEN_MASK != 0 {
            fatal("handle table: a slot on the free list is live");
        }
        let h = encode(free, index);
        self.value.store(value, Ordering::Release);
        self.state.store(h, Ordering::Release);
        h
    }

    /// `value(h)` on this slot: `h`'s value if `h` is its live handle.
    #[inline(always)]
    pub(super) fn load(&self, h: u64) -> Option<*mut c_void> {
        if self.state.load(Ordering::Acquire) != h {
            return None;
        }
        let v = self.value.load(Ordering::Acquire);
        // The Acquire load above keeps this load after it; see the module
        // notes for why the second check is needed.
        if self.state.load(Ordering::Relaxed) != h {
            return None;
        }
        Some(v)
    }

    /// `delete(h)` on this slot: ends `h` if it is the live handle. Only
    /// one call can succeed for a given `h`; the one that does owns the
    /// (now free) slot and must put it on a free list.
    #[inline(always)]
    pub(super) fn retire(&self, h: u64) -> bool {
        self.state
            .compare_exchange(h, freed_state(h), Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }
}

const _: () = {
    // (loom's atomics are larger; a loom build only runs the models.)
    assert!(cfg!(all(test, loom)) || std::mem::size_of::<Slot>() == 16);
};
