//! What a handle value holds: a slot index, one generation of that slot
//! and check bits; and the state words of a free slot (the next
//! generation, zero below), which no handle equals.
//!
//! # Encoding
//!
//! ```text
//!  63                 32 31                           4 3     0
//! +---------------------+------------------------------+-------+
//! |  generation (32)    |        slot index (28)       | check |
//! +---------------------+------------------------------+-------+
//! ```
//!
//! - `index` is in `1..2^28`; slot 0 is never used, so 0 (and every value
//!   below 16) is never a handle.
//! - `check` is the top 4 bits of `(h >> 4) * K` (an odd 64-bit constant):
//!   every bit of index and generation feeds it, so a corrupted or made-up
//!   value fails this test 15 times in 16 before any memory is read.
//! - `generation` counts how often the slot was freed. A slot's first
//!   generation is a 32-bit hash of its index, not 0, so two slots are
//!   almost never at the same generation and a handle with a flipped index
//!   bit almost never names a live handle of the other slot.
//!
//! A value that passes the index and check tests is accepted only if it
//! equals the slot's state word (see [`slot`](super::slot)), i.e. only
//! if it *is* a live handle: a guessed generation is right once in 2^32.

const CHECK_BITS: u32 = 4;
pub(super) const INDEX_BITS: u32 = 28;
const GEN_SHIFT: u32 = 32;
pub(super) const CHECK_MASK: u64 = (1 << CHECK_BITS) - 1;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
pub(super) const GEN_MASK: u64 = !0 << GEN_SHIFT;
/// An odd constant (2^64 / golden ratio) mixing the check bits.
const CHECK_MUL: u64 = 0x9E37_79B9_7F4A_7C15;

/// Slot indices are `1..MAX_SLOTS`.
pub(super) const MAX_SLOTS: usize = 1 << INDEX_BITS;

/// The check bits `h` must carry, computed from its index and generation.
#[inline(always)]
pub(super) fn check_bits(h: u64) -> u64 {
    (h >> CHECK_BITS).wrapping_mul(CHECK_MUL) >> (64 - CHECK_BITS)
}

/// The slot index `h` names (0 when it names none).
#[inline(always)]
pub(super) fn index_of(h: u64) -> usize {
    ((h >> CHECK_BITS) & INDEX_MASK) as usize
}

/// The handle for generation `gen_word` (a free state word: generation in
/// the high half, zero below) of slot `index`.
#[inline(always)]
pub(super) fn encode(gen_word: u64, index: usize) -> u64 {
    debug_assert!(gen_word & !GEN_MASK == 0 && index != 0 && index < MAX_SLOTS);
    let h = (gen_word & GEN_MASK) | ((index as u64) << CHECK_BITS);
    h | check_bits(h)
}

/// The free state word that follows live handle `h`: the next generation.
#[inline(always)]
pub(super) fn freed_state(h: u64) -> u64 {
    (h & GEN_MASK).wrapping_add(1 << GEN_SHIFT)
}

/// The free state word of a slot that was never used: a hash of its index
/// as first generation (murmur3's 32-bit finalizer).
pub(super) fn first_state(index: usize) -> u64 {
    let mut x = index as u32;
    x ^= x >> 16;
    x = x.wrapping_mul(0x85eb_ca6b);
    x ^= x >> 13;
    x = x.wrapping_mul(0xc2b2_ae35);
    x ^= x >> 16;
    (x as u64) << GEN_SHIFT
}
