//! Where slots live: the segment directory, finding the slot a handle
//! names, and handing out never-used indices. A segment, once published,
//! is never freed or moved, and an index is handed out only after its
//! segment exists.
//!
//! # Growth
//!
//! Slots live in a fixed directory of 23 segments of doubling size (64,
//! 128, ... slots; the last is trimmed to end at index 2^28 - 1), each
//! allocated zeroed the first time an index in it is handed out, published
//! with a Release store, and never freed or moved. Finding a slot is a
//! leading-zero count, a subtraction and one Acquire load of the segment
//! pointer; an index in a segment that does not exist yet is rejected
//! there, so a forged index never reaches unallocated memory. Fresh indices
//! come from one atomic bump counter, in batches.

use std::alloc::{self, Layout};
use std::ffi::c_void;
use std::sync::atomic::Ordering;

use crate::panic::fatal;

use super::encoding::{check_bits, first_state, index_of, CHECK_MASK, INDEX_BITS, MAX_SLOTS};
use super::slot::Slot;
use super::HandleTable;

const FIRST_SEG_SHIFT: u32 = 6;
/// Slots in segment 0; segment `k` has `FIRST_SEG << k`.
const FIRST_SEG: usize = 1 << FIRST_SEG_SHIFT;
/// Enough segments to reach index `MAX_SLOTS - 1`.
pub(super) const NSEG: usize = (INDEX_BITS - FIRST_SEG_SHIFT + 1) as usize;

/// The segment holding `index` and the offset in it.
#[inline(always)]
pub(super) fn locate(index: usize) -> (usize, usize) {
    let i = index + FIRST_SEG;
    let seg = (usize::BITS - 1 - i.leading_zeros() - FIRST_SEG_SHIFT) as usize;
    (seg, i - (FIRST_SEG << seg))
}

/// The first index of segment `seg`.
pub(super) fn seg_base(seg: usize) -> usize {
    (FIRST_SEG << seg) - FIRST_SEG
}

/// Slots in segment `seg` (the last one ends at `MAX_SLOTS - 1`).
pub(super) fn seg_len(seg: usize) -> usize {
    (FIRST_SEG << seg).min(MAX_SLOTS - seg_base(seg))
}

const _: () = {
    // Every index below MAX_SLOTS has a segment.
    assert!((MAX_SLOTS - 1 + FIRST_SEG) >> (NSEG as u32 - 1 + FIRST_SEG_SHIFT) == 1);
};

impl HandleTable {
    /// The slot `h` names, if `h` is well formed (index not 0, check bits
    /// right) and its segment exists. Says nothing about liveness.
    #[inline(always)]
    pub(super) fn slot_for(&self, h: u64) -> Option<&Slot> {
        let index = index_of(h);
        if index == 0 || h & CHECK_MASK != check_bits(h) {
            return None;
        }
        let (seg, off) = locate(index);
        let base = self.segments[seg].load(Ordering::Acquire);
        if base.is_null() {
            return None;
        }
        // SAFETY: segment `seg` is an allocation of seg_len(seg) slots,
        // never freed, and off < seg_len(seg) because index < MAX_SLOTS.
        Some(unsafe { &*base.add(off) })
    }

    /// The slot of an index this thread obtained from a free list.
    #[inline(always)]
    pub(super) fn owned_slot(&self, index: usize) -> &Slot {
        let (seg, off) = locate(index);
        let base = self.segments[seg].load(Ordering::Acquire);
        debug_assert!(!base.is_null());
        // SAFETY: an index on a free list was handed out by `fresh`, which
        // allocated its segment first (and the hand-over synchronized with
        // that); off < seg_len(seg).
        unsafe { &*base.add(off) }
    }

    /// Makes a live handle of the free slot `index`, which the caller owns.
    #[inline(always)]
    pub(super) fn issue(&self, index: usize, value: *mut c_void) -> u64 {
        self.owned_slot(index).issue(index, value)
    }

    /// Hands out up to `want` never-used indices, allocating their segments
    /// and setting their first generation.
    #[cold]
    pub(super) fn fresh(&self, want: usize) -> std::ops::Range<usize> {
        let start = self.next_fresh.fetch_add(want, Ordering::Relaxed);
        if start >= MAX_SLOTS {
            fatal("handle table is full (268,435,455 handles)");
        }
        let end = (start + want).min(MAX_SLOTS);
        let (first, _) = locate(start);
        let (last, _) = locate(end - 1);
        for seg in first..=last {
            if self.segments[seg].load(Ordering::Acquire).is_null() {
                self.alloc_segment(seg);
            }
        }
        for index in start..end {
            self.owned_slot(index)
                .state
                .store(first_state(index), Ordering::Relaxed);
        }
        start..end
    }

    #[cold]
    fn alloc_segment(&self, seg: usize) {
        if cfg!(all(test, loom)) {
            // Zeroed memory is a free slot of std's atomics, not of loom's.
            panic!("the handle table runs only with std's atomics; loom models single slots");
        }
        let _g = self.grow.lock();
        if !self.segments[seg].load(Ordering::Acquire).is_null() {
            return;
        }
        let Ok(layout) = Layout::array::<Slot>(seg_len(seg)) else {
            fatal("handle table: segment size overflow");
        };
        // SAFETY: the layout has a non-zero size. Zeroed slots are free
        // (state 0 has a zero low half) and valid atomics.
        let p = unsafe { alloc::alloc_zeroed(layout) } as *mut Slot;
        if p.is_null() {
            crate::panic::out_of_memory(layout.size(), "handle table segment");
        }
        self.segments[seg].store(p, Ordering::Release);
    }
}
