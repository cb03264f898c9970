//! The handle table: Go's `runtime/cgo.Handle` for C (API.md §7).
//!
//! A handle is an opaque 64-bit value that stands for a pointer (NULL
//! included) from `new` until `delete`, usable from any thread. Go 1.17
//! builds it from an atomic counter and a `sync.Map`: every handle is a
//! map insert and handle values are never reissued. Here it is a slot
//! table, and a handle names a slot *and* one generation of it.
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
//! equals the slot's state word (below), i.e. only if it *is* a live
//! handle: a guessed generation is right once in 2^32.
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
//!
//! # Free lists
//!
//! Every thread that uses handles owns a `ThreadCache` block: a LIFO stack
//! of up to 256 free slot indices that only its owner touches, plus the
//! owner's live-handle counter. `new` pops, `delete` pushes, neither takes
//! a lock. An empty stack refills with up to 128 indices from the shared
//! pool, or else with 128 fresh ones; a full stack moves its 128 oldest
//! entries to the pool. The pool is 16 mutex-protected shards; a block
//! flushes to its home shard and refills from its home shard first, then
//! the others, so threads meet on a lock about once per 128 operations and
//! rarely on the same lock.
//!
//! Blocks are heap records on a push-only list (never freed). A thread
//! claims a free block (or makes one) on first use and releases it from its
//! thread-local destructor, first returning its cached indices to the pool,
//! so any number of threads, foreign or runtime, come and go without a
//! limit and without stranding slots (a live thread keeps at most 256 free
//! slots to itself). A handle call made after the thread's destructor ran
//! goes straight to the pool.
//!
//! # Counting
//!
//! `live_count` sums the blocks' counters: each is written by its owner
//! only (a plain load and store, no locked instruction), read by anyone.
//! A handle made on one thread and deleted on another counts +1 on one
//! block and -1 on the other. The sum is exact whenever no handle call is
//! running and otherwise a racy snapshot (clamped at 0).
//!
//! # Rejected alternatives
//!
//! - Go's `sync.Map`: an insert per handle (under a mutex, for a new key)
//!   costs hundreds of nanoseconds and contends across threads; it never
//!   reissues a value only because the counter is 64 bits wide.
//! - A single lock-free (Treiber) free list: every `new` and `delete` would
//!   be a CAS on one shared word, which is exactly the contention this
//!   table exists to avoid, and it needs ABA tags of its own.
//! - Value and generation in one 128-bit atomic: portable 128-bit CAS is
//!   not available in stable Rust and `value` does not need it; the
//!   double-checked generation gives the same atomicity for reads.
//!
//! Not async-signal-safe: a handle call must not interrupt another handle
//! call on the same thread.

use std::alloc::{self, Layout};
use std::cell::{Cell, UnsafeCell};
use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicUsize, Ordering};

use crate::lock::Mutex;
use crate::sync_shim;

use crate::panic::fatal;

// ---------------------------------------------------------------------------
// Encoding.

const CHECK_BITS: u32 = 4;
const INDEX_BITS: u32 = 28;
const GEN_SHIFT: u32 = 32;
const CHECK_MASK: u64 = (1 << CHECK_BITS) - 1;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
const GEN_MASK: u64 = !0 << GEN_SHIFT;
/// An odd constant (2^64 / golden ratio) mixing the check bits.
const CHECK_MUL: u64 = 0x9E37_79B9_7F4A_7C15;

/// Slot indices are `1..MAX_SLOTS`.
const MAX_SLOTS: usize = 1 << INDEX_BITS;

/// The check bits `h` must carry, computed from its index and generation.
#[inline(always)]
fn check_bits(h: u64) -> u64 {
    (h >> CHECK_BITS).wrapping_mul(CHECK_MUL) >> (64 - CHECK_BITS)
}

/// The slot index `h` names (0 when it names none).
#[inline(always)]
fn index_of(h: u64) -> usize {
    ((h >> CHECK_BITS) & INDEX_MASK) as usize
}

/// The handle for generation `gen_word` (a free state word: generation in
/// the high half, zero below) of slot `index`.
#[inline(always)]
fn encode(gen_word: u64, index: usize) -> u64 {
    debug_assert!(gen_word & !GEN_MASK == 0 && index != 0 && index < MAX_SLOTS);
    let h = (gen_word & GEN_MASK) | ((index as u64) << CHECK_BITS);
    h | check_bits(h)
}

/// The free state word that follows live handle `h`: the next generation.
#[inline(always)]
fn freed_state(h: u64) -> u64 {
    (h & GEN_MASK).wrapping_add(1 << GEN_SHIFT)
}

/// The free state word of a slot that was never used: a hash of its index
/// as first generation (murmur3's 32-bit finalizer).
fn first_state(index: usize) -> u64 {
    let mut x = index as u32;
    x ^= x >> 16;
    x = x.wrapping_mul(0x85eb_ca6b);
    x ^= x >> 13;
    x = x.wrapping_mul(0xc2b2_ae35);
    x ^= x >> 16;
    (x as u64) << GEN_SHIFT
}

// ---------------------------------------------------------------------------
// Slots and segments.

/// One slot. `state` is the handle while live, the next generation (low
/// half zero) while free; see the module notes. Its three operations below
/// are the whole slot protocol, and the loom models run exactly these.
#[repr(C, align(16))]
#[derive(Debug)]
struct Slot {
    state: sync_shim::AtomicU64,
    value: sync_shim::AtomicPtr<c_void>,
}

impl Slot {
    /// `new` on this free slot, which the caller owns (it came out of a
    /// free list): makes `value` the value of the slot's next handle and
    /// returns that handle.
    #[inline(always)]
    fn issue(&self, index: usize, value: *mut c_void) -> u64 {
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
    fn load(&self, h: u64) -> Option<*mut c_void> {
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
    fn retire(&self, h: u64) -> bool {
        self.state
            .compare_exchange(h, freed_state(h), Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }
}

const FIRST_SEG_SHIFT: u32 = 6;
/// Slots in segment 0; segment `k` has `FIRST_SEG << k`.
const FIRST_SEG: usize = 1 << FIRST_SEG_SHIFT;
/// Enough segments to reach index `MAX_SLOTS - 1`.
const NSEG: usize = (INDEX_BITS - FIRST_SEG_SHIFT + 1) as usize;

/// The segment holding `index` and the offset in it.
#[inline(always)]
fn locate(index: usize) -> (usize, usize) {
    let i = index + FIRST_SEG;
    let seg = (usize::BITS - 1 - i.leading_zeros() - FIRST_SEG_SHIFT) as usize;
    (seg, i - (FIRST_SEG << seg))
}

/// The first index of segment `seg`.
fn seg_base(seg: usize) -> usize {
    (FIRST_SEG << seg) - FIRST_SEG
}

/// Slots in segment `seg` (the last one ends at `MAX_SLOTS - 1`).
fn seg_len(seg: usize) -> usize {
    (FIRST_SEG << seg).min(MAX_SLOTS - seg_base(seg))
}

const _: () = {
    // Every index below MAX_SLOTS has a segment.
    assert!((MAX_SLOTS - 1 + FIRST_SEG) >> (NSEG as u32 - 1 + FIRST_SEG_SHIFT) == 1);
    // (loom's atomics are larger; a loom build only runs the models.)
    assert!(cfg!(all(test, loom)) || std::mem::size_of::<Slot>() == 16);
};

// ---------------------------------------------------------------------------
// Free lists.

/// Indices a thread keeps for itself.
const CACHE_CAP: usize = 256;
/// Indices moved between a thread and the pool at a time.
const BATCH: usize = 128;
/// Shards of the shared pool.
const NSHARDS: usize = 16;

/// A LIFO stack of free slot indices.
#[derive(Debug)]
struct Cache {
    len: usize,
    idx: [u32; CACHE_CAP],
}

/// A thread's free-list cache and live-handle counter; owned by one thread
/// at a time, reused by later threads, never freed.
#[repr(align(128))]
#[derive(Debug)]
struct ThreadCache {
    /// The block registered before this one; immutable once published.
    next: *mut ThreadCache,
    /// Set while a thread owns the block.
    owned: AtomicBool,
    /// Handles made minus handles deleted through this block, ever. Written
    /// by the owner only.
    live: AtomicI64,
    /// This block's shard of the shared pool.
    shard: usize,
    /// Touched only by the owner.
    cache: UnsafeCell<Cache>,
}

// SAFETY: `cache` is accessed only by the thread that owns the block (it
// claimed `owned` with an Acquire CAS; the previous owner released it with
// a Release store, which orders its last cache writes before ours). The
// other fields are atomics, or immutable after the Release CAS that
// published the block (`next`, `shard`).
unsafe impl Sync for ThreadCache {}
// SAFETY: as for Sync; `next` points to a block that is never freed.
unsafe impl Send for ThreadCache {}

impl ThreadCache {
    /// The owner's view of the free-index stack.
    ///
    /// # Safety
    /// The calling thread owns this block, and no other reference returned
    /// by this function is live.
    #[allow(clippy::mut_from_ref)]
    #[inline(always)]
    unsafe fn cache(&self) -> &mut Cache {
        // SAFETY: per the contract, the owner has exclusive access.
        unsafe { &mut *self.cache.get() }
    }

    /// Adds `d` to the live counter (owner only: a load and a store).
    #[inline(always)]
    fn add_live(&self, d: i64) {
        let n = self.live.load(Ordering::Relaxed);
        self.live.store(n + d, Ordering::Relaxed);
    }
}

/// One shard of the shared pool of free indices.
#[repr(align(128))]
#[derive(Debug)]
struct Shard {
    free: Mutex<Vec<u32>>,
    /// `free.len()`, readable without the lock (a hint: refill skips shards
    /// that look empty).
    len: AtomicUsize,
}

impl Shard {
    const fn new() -> Shard {
        Shard {
            free: Mutex::new(Vec::new()),
            len: AtomicUsize::new(0),
        }
    }
}

// ---------------------------------------------------------------------------
// The table.

/// The process's handle table. See the module notes.
#[derive(Debug)]
pub(crate) struct HandleTable {
    /// Segment `k` holds indices `seg_base(k)..seg_base(k) + seg_len(k)`;
    /// null until allocated, then fixed forever.
    segments: [AtomicPtr<Slot>; NSEG],
    /// The next index never handed out (starts at 1).
    next_fresh: AtomicUsize,
    /// Serializes segment allocation.
    grow: Mutex<()>,
    /// The shared pool.
    shards: [Shard; NSHARDS],
    /// Every ThreadCache block, newest first (push-only).
    blocks: AtomicPtr<ThreadCache>,
    /// Blocks made so far (assigns home shards).
    nblocks: AtomicUsize,
    /// Live-count changes made without a block (after the calling thread's
    /// thread-locals were destroyed).
    orphan_live: AtomicI64,
}

static TABLE: HandleTable = HandleTable::new();

/// The thread-local side of a `ThreadCache` block: claims one on first use,
/// releases it when the thread exits.
struct ThreadCacheRef(Cell<*const ThreadCache>);

impl Drop for ThreadCacheRef {
    fn drop(&mut self) {
        let b = self.0.replace(ptr::null());
        if !b.is_null() {
            // SAFETY: this thread claimed `b` and still owns it; blocks are
            // never freed.
            unsafe { TABLE.release(&*b) };
        }
    }
}

thread_local! {
    static LOCAL: ThreadCacheRef = const { ThreadCacheRef(Cell::new(ptr::null())) };
}

/// Runs `f` with this thread's block, claiming one if needed; `None` when
/// the thread's thread-locals are already destroyed.
#[inline(always)]
fn with_block<R>(f: impl FnOnce(&ThreadCache) -> R) -> Option<R> {
    LOCAL
        .try_with(|l| {
            let mut b = l.0.get();
            if b.is_null() {
                b = TABLE.claim();
                l.0.set(b);
            }
            // SAFETY: blocks are never freed.
            f(unsafe { &*b })
        })
        .ok()
}

impl HandleTable {
    const fn new() -> HandleTable {
        HandleTable {
            segments: [const { AtomicPtr::new(ptr::null_mut()) }; NSEG],
            next_fresh: AtomicUsize::new(1),
            grow: Mutex::new(()),
            shards: [const { Shard::new() }; NSHARDS],
            blocks: AtomicPtr::new(ptr::null_mut()),
            nblocks: AtomicUsize::new(0),
            orphan_live: AtomicI64::new(0),
        }
    }

    /// The slot `h` names, if `h` is well formed (index not 0, check bits
    /// right) and its segment exists. Says nothing about liveness.
    #[inline(always)]
    fn slot_for(&self, h: u64) -> Option<&Slot> {
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
    fn owned_slot(&self, index: usize) -> &Slot {
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
    fn issue(&self, index: usize, value: *mut c_void) -> u64 {
        self.owned_slot(index).issue(index, value)
    }

    /// Hands out up to `want` never-used indices, allocating their segments
    /// and setting their first generation.
    #[cold]
    fn fresh(&self, want: usize) -> std::ops::Range<usize> {
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

    /// Refills an empty cache from the pool (home shard first) or with
    /// fresh indices, and pops one.
    #[cold]
    fn refill(&self, cache: &mut Cache, home: usize) -> usize {
        debug_assert_eq!(cache.len, 0);
        for i in 0..NSHARDS {
            let shard = &self.shards[(home + i) % NSHARDS];
            if shard.len.load(Ordering::Relaxed) == 0 {
                continue;
            }
            let mut free = shard.free.lock();
            let n = free.len().min(BATCH);
            let from = free.len() - n;
            cache.idx[..n].copy_from_slice(&free[from..]);
            free.truncate(from);
            shard.len.store(free.len(), Ordering::Relaxed);
            drop(free);
            if n > 0 {
                cache.len = n - 1;
                return cache.idx[n - 1] as usize;
            }
        }
        let r = self.fresh(BATCH);
        // Highest first, so pops hand out the lowest index first.
        let n = r.len();
        for (k, index) in r.rev().enumerate() {
            cache.idx[k] = index as u32;
        }
        cache.len = n - 1;
        cache.idx[n - 1] as usize
    }

    /// Moves the `n` oldest entries of `cache` to shard `home`.
    #[cold]
    fn flush(&self, cache: &mut Cache, home: usize, n: usize) {
        let n = n.min(cache.len);
        let shard = &self.shards[home];
        {
            let mut free = shard.free.lock();
            free.extend_from_slice(&cache.idx[..n]);
            shard.len.store(free.len(), Ordering::Relaxed);
        }
        cache.idx.copy_within(n..cache.len, 0);
        cache.len -= n;
    }

    /// Claims a released block or registers a new one.
    #[cold]
    fn claim(&self) -> *const ThreadCache {
        let mut p = self.blocks.load(Ordering::Acquire);
        // SAFETY: blocks on the list are never freed.
        while let Some(b) = unsafe { p.as_ref() } {
            if !b.owned.load(Ordering::Relaxed)
                && b.owned
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return p;
            }
            p = b.next;
        }
        let n = self.nblocks.fetch_add(1, Ordering::Relaxed);
        let b = Box::into_raw(Box::new(ThreadCache {
            next: ptr::null_mut(),
            owned: AtomicBool::new(true),
            live: AtomicI64::new(0),
            shard: n % NSHARDS,
            cache: UnsafeCell::new(Cache {
                len: 0,
                idx: [0; CACHE_CAP],
            }),
        }));
        let mut head = self.blocks.load(Ordering::Relaxed);
        loop {
            // SAFETY: `b` is not published yet; this thread has the only
            // pointer to it.
            unsafe { (*b).next = head };
            match self
                .blocks
                .compare_exchange_weak(head, b, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return b,
                Err(h) => head = h,
            }
        }
    }

    /// Returns a block's cached indices to the pool and gives it up.
    ///
    /// # Safety
    /// The calling thread owns `b` and gives it up here.
    unsafe fn release(&self, b: &ThreadCache) {
        // SAFETY: the caller owns the block.
        let cache = unsafe { b.cache() };
        self.flush(cache, b.shard, CACHE_CAP);
        b.owned.store(false, Ordering::Release);
    }

    /// `new` without a thread cache.
    #[cold]
    fn take_uncached(&self) -> usize {
        self.orphan_live.fetch_add(1, Ordering::Relaxed);
        for shard in &self.shards {
            if shard.len.load(Ordering::Relaxed) == 0 {
                continue;
            }
            let mut free = shard.free.lock();
            if let Some(i) = free.pop() {
                shard.len.store(free.len(), Ordering::Relaxed);
                return i as usize;
            }
        }
        self.fresh(1).start
    }

    /// `delete` without a thread cache.
    #[cold]
    fn put_uncached(&self, index: usize) {
        self.orphan_live.fetch_sub(1, Ordering::Relaxed);
        let shard = &self.shards[index % NSHARDS];
        let mut free = shard.free.lock();
        free.push(index as u32);
        shard.len.store(free.len(), Ordering::Relaxed);
    }

    /// Live handles (see "Counting" in the module notes).
    fn live_count(&self) -> i64 {
        let mut n = self.orphan_live.load(Ordering::Relaxed);
        let mut p = self.blocks.load(Ordering::Acquire);
        // SAFETY: blocks on the list are never freed.
        while let Some(b) = unsafe { p.as_ref() } {
            n += b.live.load(Ordering::Relaxed);
            p = b.next;
        }
        n.max(0)
    }
}

// ---------------------------------------------------------------------------
// The operations.

/// A new handle for `value` (any pointer, null included). Never 0, and
/// different from every other live handle.
///
/// Go: `runtime/cgo.NewHandle`.
#[inline]
pub(crate) fn new(value: *mut c_void) -> u64 {
    let t = &TABLE;
    let index = with_block(|b| {
        // SAFETY: with_block runs on the owning thread; `cache` is the only
        // reference to the stack while this closure runs.
        let cache = unsafe { b.cache() };
        b.add_live(1);
        if cache.len > 0 {
            cache.len -= 1;
            cache.idx[cache.len] as usize
        } else {
            t.refill(cache, b.shard)
        }
    })
    .unwrap_or_else(|| t.take_uncached());
    t.issue(index, value)
}

/// The value of `h`, or `None` if `h` is not a live handle. Lock-free and
/// read-only.
///
/// Go: `runtime/cgo.Handle.Value`.
#[inline]
pub(crate) fn value(h: u64) -> Option<*mut c_void> {
    TABLE.slot_for(h)?.load(h)
}

/// Deletes `h`. Returns false, changing nothing, if `h` is not a live
/// handle (never made, already deleted, or deleted concurrently).
///
/// Go: `runtime/cgo.Handle.Delete`.
#[inline]
pub(crate) fn delete(h: u64) -> bool {
    let t = &TABLE;
    let Some(slot) = t.slot_for(h) else {
        return false;
    };
    if !slot.retire(h) {
        return false;
    }
    // The slot is ours now: put it on this thread's free list.
    let index = index_of(h);
    let cached = with_block(|b| {
        // SAFETY: as in `new`.
        let cache = unsafe { b.cache() };
        if cache.len == CACHE_CAP {
            t.flush(cache, b.shard, BATCH);
        }
        cache.idx[cache.len] = index as u32;
        cache.len += 1;
        b.add_live(-1);
    });
    if cached.is_none() {
        t.put_uncached(index);
    }
    true
}

/// The number of live handles: exact when no handle call is running,
/// otherwise a snapshot.
pub(crate) fn live_count() -> i64 {
    TABLE.live_count()
}

#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(test)]
mod tests;
