//! The handle table: Go's `runtime/cgo.Handle` for C (API.md §7).
//!
//! A handle is an opaque 64-bit value that stands for a pointer (NULL
//! included) from `new` until `delete`, usable from any thread. Go 1.17
//! builds it from an atomic counter and a `sync.Map`: every handle is a
//! map insert and handle values are never reissued. Here it is a slot
//! table, and a handle names a slot *and* one generation of it.
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
//!
//! # Files
//!
//! - this file: the table ([`HandleTable`]) and the operations: [`new`],
//!   [`value`], [`delete`], [`live_count`];
//! - [`encoding`]: what a handle value holds: slot index, generation,
//!   check bits;
//! - [`slot`]: one slot and its protocol, resting on one invariant:
//!   `state == h` if and only if `h` is a live handle (what the loom
//!   models check);
//! - [`segments`]: where slots live, how the table grows;
//! - [`free_lists`]: the per-thread caches of free indices, the shared
//!   pool, and the live-handle count.

mod encoding;
mod free_lists;
mod segments;
mod slot;

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicI64, AtomicPtr, AtomicUsize};

use crate::lock::Mutex;

use encoding::index_of;
use free_lists::{with_block, Shard, ThreadCache, BATCH, CACHE_CAP, NSHARDS};
use segments::NSEG;
use slot::Slot;

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
}

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
