//! Free slot indices: the per-thread caches (`ThreadCache` blocks), the
//! shared pool's shards, and the live-handle count kept with them.
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

use std::cell::{Cell, UnsafeCell};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

use crate::lock::Mutex;

use super::{HandleTable, TABLE};

/// Indices a thread keeps for itself.
pub(super) const CACHE_CAP: usize = 256;
/// Indices moved between a thread and the pool at a time.
pub(super) const BATCH: usize = 128;
/// Shards of the shared pool.
pub(super) const NSHARDS: usize = 16;

/// A LIFO stack of free slot indices.
#[derive(Debug)]
pub(super) struct Cache {
    pub(super) len: usize,
    pub(super) idx: [u32; CACHE_CAP],
}

/// A thread's free-list cache and live-handle counter; owned by one thread
/// at a time, reused by later threads, never freed.
#[repr(align(128))]
#[derive(Debug)]
pub(super) struct ThreadCache {
    /// The block registered before this one; immutable once published.
    pub(super) next: *mut ThreadCache,
    /// Set while a thread owns the block.
    pub(super) owned: AtomicBool,
    /// Handles made minus handles deleted through this block, ever. Written
    /// by the owner only.
    live: AtomicI64,
    /// This block's shard of the shared pool.
    pub(super) shard: usize,
    /// Touched only by the owner.
    pub(super) cache: UnsafeCell<Cache>,
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
    pub(super) unsafe fn cache(&self) -> &mut Cache {
        // SAFETY: per the contract, the owner has exclusive access.
        unsafe { &mut *self.cache.get() }
    }

    /// Adds `d` to the live counter (owner only: a load and a store).
    #[inline(always)]
    pub(super) fn add_live(&self, d: i64) {
        let n = self.live.load(Ordering::Relaxed);
        self.live.store(n + d, Ordering::Relaxed);
    }
}

/// One shard of the shared pool of free indices.
#[repr(align(128))]
#[derive(Debug)]
pub(super) struct Shard {
    free: Mutex<Vec<u32>>,
    /// `free.len()`, readable without the lock (a hint: refill skips shards
    /// that look empty).
    len: AtomicUsize,
}

impl Shard {
    pub(super) const fn new() -> Shard {
        Shard {
            free: Mutex::new(Vec::new()),
            len: AtomicUsize::new(0),
        }
    }
}

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
pub(super) fn with_block<R>(f: impl FnOnce(&ThreadCache) -> R) -> Option<R> {
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
    /// Refills an empty cache from the pool (home shard first) or with
    /// fresh indices, and pops one.
    #[cold]
    pub(super) fn refill(&self, cache: &mut Cache, home: usize) -> usize {
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
    pub(super) fn flush(&self, cache: &mut Cache, home: usize, n: usize) {
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
    pub(super) fn take_uncached(&self) -> usize {
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
    pub(super) fn put_uncached(&self, index: usize) {
        self.orphan_live.fetch_sub(1, Ordering::Relaxed);
        let shard = &self.shards[index % NSHARDS];
        let mut free = shard.free.lock();
        free.push(index as u32);
        shard.len.store(free.len(), Ordering::Relaxed);
    }

    /// Live handles (see "Counting" in the module notes).
    pub(super) fn live_count(&self) -> i64 {
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
