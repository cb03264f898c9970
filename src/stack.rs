//! Goroutine stacks: allocation, guard regions, pooling.
//!
//! # Layout
//!
//! ```text
//!   limit                      limit + GUARD                          base
//!   |<------ guard (no access) ------>|<------- usable stack ------------>|
//!   low addresses                                   stack grows down  <-- high
//! ```
//!
//! One anonymous `MAP_NORESERVE` mapping per stack: only the pages a
//! goroutine touches cost memory. The guard region at the low end catches
//! overflow.
//!
//! # Guard regions and the VMA limit (DESIGN.md trap 3)
//!
//! An `mprotect`ed guard splits the mapping in two VMAs, and Linux allows
//! `vm.max_map_count` (65530 by default) per process: guarded stacks would
//! stop near 32,700. Linux 6.13+ has `madvise(MADV_GUARD_INSTALL)`, which
//! installs guard pages inside one mapping (no VMA split; adjacent stacks
//! may even merge into one VMA). We probe it on the first allocation and use
//! it when the kernel has it. Otherwise we use `mprotect` guards while they
//! fit in a budget of half the map-count limit, and past that budget new
//! stacks get no guard (one warning on stderr), so 100,000 live goroutines
//! still work on old kernels, without overflow detection for the excess.
//!
//! # Pooling
//!
//! Stacks are reused, never mapped and unmapped per goroutine: each
//! processor keeps a cache of [`LOCAL_CACHE`] stacks (no locking), and a
//! global pool, sized by use (it grows to the most stacks ever free at
//! once), takes the overflow and refills the caches, half a cache per lock
//! round. Spawning, parking and waking goroutines in a steady state
//! therefore makes no system call for stacks.
//!
//! Memory goes back to the kernel lazily: sysmon calls [`scavenge`] every
//! [`SCAVENGE_PERIOD_NS`] while the pool holds more than [`POOL_RESERVE`]
//! stacks, and it releases only the stacks that sat in the pool for the
//! whole period (the pool is LIFO, so those are its bottom `low_water`
//! entries): they are unmapped, except a reserve that is trimmed to its top
//! [`KEEP_RESIDENT`] bytes (`MADV_DONTNEED`), so a burst of deep recursion
//! or of goroutines does not pin memory for long.
//!
//! # Invariants
//!
//! - Every stack in a cache or the pool has the size it was mapped with
//!   and no goroutine running on it.
//! - `Pool::low_water <= Pool::stacks.len()` after every operation under
//!   the pool lock.
//! - A stack is `trimmed` only if its pages below the top `KEEP_RESIDENT`
//!   bytes were given back after it was last handed out.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use crate::lock::Mutex;

use crate::os;

/// Bytes of guard region below every stack. Large, so that a C function
/// with a big frame (code built without `-fstack-clash-protection` moves
/// the stack pointer past its locals without touching them) still lands in
/// the guard rather than in the stack below: the guard costs address
/// space only (no memory, and no more map entries than a small one).
pub(crate) const GUARD_SIZE: usize = 256 * 1024;
/// Bytes at the top of a pooled stack kept resident when it is trimmed.
pub(crate) const KEEP_RESIDENT: usize = 16 * 1024;
/// Stacks kept by each processor without locking.
pub(crate) const LOCAL_CACHE: usize = 64;
/// Idle stacks the global pool keeps (trimmed) when it scavenges.
pub(crate) const POOL_RESERVE: usize = 64;
/// How long a pooled stack must sit unused before [`scavenge`] gives its
/// memory back.
pub(crate) const SCAVENGE_PERIOD_NS: i64 = 2_000_000_000;

/// `madvise` advice that installs guard pages (Linux 6.13+).
const MADV_GUARD_INSTALL: libc::c_int = 102;

const GUARD_UNKNOWN: u8 = 0;
const GUARD_INSTALL: u8 = 1;
const GUARD_MPROTECT: u8 = 2;
static GUARD_MODE: AtomicU8 = AtomicU8::new(GUARD_UNKNOWN);
/// Live stacks whose guard costs an extra VMA (mprotect mode).
static MPROTECT_GUARDS: AtomicUsize = AtomicUsize::new(0);
static MPROTECT_BUDGET: AtomicUsize = AtomicUsize::new(0);
static WARNED_UNGUARDED: AtomicU8 = AtomicU8::new(0);

/// A goroutine stack: one mapping, guard region at the bottom.
#[derive(Debug)]
pub(crate) struct GStack {
    /// Lowest address of the mapping (the guard region starts here).
    low: usize,
    /// Bytes mapped, guard included.
    len: usize,
    /// Whether the guard costs a VMA (counted in MPROTECT_GUARDS).
    mprotected: bool,
    /// Whether the pages below the top KEEP_RESIDENT bytes were given
    /// back since the stack was last handed out.
    trimmed: bool,
    _valgrind: crate::valgrind::StackRegistration,
}

// SAFETY: a GStack is exclusively owned memory; moving ownership between
// threads is fine (goroutines migrate with their stacks).
unsafe impl Send for GStack {}

impl GStack {
    /// Maps a new stack with `size` usable bytes (a page multiple).
    /// Returns None if the address space is exhausted.
    pub(crate) fn new(size: usize) -> Option<GStack> {
        let len = size + GUARD_SIZE;
        let low = map_fresh(len)?;
        let (_guarded, mprotected) = install_guard(low);
        crate::valgrind::make_mem_noaccess(low, GUARD_SIZE);
        Some(GStack {
            low,
            len,
            mprotected,
            // Handed out at once: the flag means "trimmed since handed out".
            trimmed: false,
            _valgrind: crate::valgrind::StackRegistration::new(low + GUARD_SIZE, low + len),
        })
    }

    /// Lowest address of the mapping (start of the guard region).
    pub(crate) fn low(&self) -> usize {
        self.low
    }

    /// Highest address (the stack's base).
    pub(crate) fn high(&self) -> usize {
        self.low + self.len
    }

    /// Usable bytes.
    pub(crate) fn size(&self) -> usize {
        self.len - GUARD_SIZE
    }

    /// Hides the usable region from memcheck while the stack is pooled
    /// (see `crate::valgrind`).
    fn pool_enter(&self) {
        crate::valgrind::make_mem_noaccess(self.low + GUARD_SIZE, self.size());
    }

    /// Undoes [`GStack::pool_enter`] as the stack leaves the pool.
    fn pool_leave(&mut self) {
        crate::valgrind::make_mem_undefined(self.low + GUARD_SIZE, self.size());
        self.trimmed = false;
    }

    /// Returns the stack's pages below the top KEEP_RESIDENT bytes to the
    /// kernel; the next touch reads zeros. Once per hand-out.
    fn trim(&mut self) {
        if std::mem::replace(&mut self.trimmed, true) {
            return;
        }
        let keep = KEEP_RESIDENT.min(self.size());
        let from = self.low + GUARD_SIZE;
        let n = self.size() - keep;
        if n > 0 {
            // SAFETY: [from, from+n) lies inside our mapping, above the
            // guard, and no goroutine runs on a pooled stack.
            unsafe { libc::madvise(from as *mut libc::c_void, n, libc::MADV_DONTNEED) };
        }
    }
}

impl Drop for GStack {
    fn drop(&mut self) {
        if self.mprotected {
            MPROTECT_GUARDS.fetch_sub(1, Ordering::Relaxed);
        }
        // A dump may hold the gate (the wait could change errno).
        let e = crate::os::errno();
        let gate = UNMAP_GATE.read();
        // SAFETY: we own the mapping and nothing runs on it any more.
        unsafe { libc::munmap(self.low as *mut libc::c_void, self.len) };
        drop(gate);
        crate::os::set_errno(e);
    }
}

/// Held shared while a goroutine stack is unmapped, and exclusively by a
/// dump while it walks the stacks of goroutines it does not own
/// (`crate::unwind`): a goroutine may end and give its stack back during
/// the walk, but no stack is unmapped under the walk's reads.
static UNMAP_GATE: parking_lot::RwLock<()> = parking_lot::RwLock::new(());

/// Keeps every goroutine stack mapped until the guard is dropped. `None`
/// if that could not be had within a fatal report's short wait (the
/// reporting thread may itself be unmapping a stack).
pub(crate) fn hold_mapped() -> Option<parking_lot::RwLockWriteGuard<'static, ()>> {
    if crate::fatal::reporting() {
        UNMAP_GATE.try_write_for(std::time::Duration::from_millis(100))
    } else {
        Some(UNMAP_GATE.write())
    }
}

/// Address space mapped ahead for new stacks: `[next, end)` of the last
/// chunk, in steps of `len`.
struct Fresh {
    next: usize,
    end: usize,
    len: usize,
}

static FRESH: Mutex<Fresh> = Mutex::new(Fresh {
    next: 0,
    end: 0,
    len: 0,
});

/// Stacks mapped by one `mmap` call.
const CHUNK_STACKS: usize = 16;

/// Carves `len` bytes for a new stack out of a chunk mapped for
/// [`CHUNK_STACKS`] stacks at once (one system call fewer per new stack;
/// each stack is unmapped on its own later, which `munmap` allows for any
/// page range). Returns None when the address space is exhausted.
fn map_fresh(len: usize) -> Option<usize> {
    let mut f = FRESH.lock();
    if f.len != len || f.next == f.end {
        if f.next != f.end {
            // SAFETY: the rest of our own chunk, never handed out.
            unsafe { libc::munmap(f.next as *mut libc::c_void, f.end - f.next) };
        }
        let mut n = CHUNK_STACKS;
        let p = loop {
            // SAFETY: a fresh anonymous private mapping; no existing memory
            // is affected.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len * n,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
                    -1,
                    0,
                )
            };
            if p != libc::MAP_FAILED {
                break p as usize;
            }
            if n == 1 {
                *f = Fresh {
                    next: 0,
                    end: 0,
                    len: 0,
                };
                return None;
            }
            n = 1; // near the limit: one stack's worth may still fit
        };
        *f = Fresh {
            next: p,
            end: p + len * n,
            len,
        };
    }
    let low = f.next;
    f.next += len;
    Some(low)
}

/// Installs the guard at `low`; returns (guarded, costs a VMA).
fn install_guard(low: usize) -> (bool, bool) {
    let mut mode = GUARD_MODE.load(Ordering::Relaxed);
    if mode != GUARD_MPROTECT {
        // SAFETY: [low, low+GUARD_SIZE) is the start of our fresh mapping.
        let r = unsafe { libc::madvise(low as *mut libc::c_void, GUARD_SIZE, MADV_GUARD_INSTALL) };
        if r == 0 {
            if mode == GUARD_UNKNOWN {
                GUARD_MODE.store(GUARD_INSTALL, Ordering::Relaxed);
            }
            return (true, false);
        }
        if mode == GUARD_INSTALL {
            // It worked before, so this is resource exhaustion: no guard.
            warn_unguarded();
            return (false, false);
        }
        GUARD_MODE.store(GUARD_MPROTECT, Ordering::Relaxed);
        MPROTECT_BUDGET.store(mprotect_budget(), Ordering::Relaxed);
        mode = GUARD_MPROTECT;
    }
    debug_assert_eq!(mode, GUARD_MPROTECT);
    if MPROTECT_GUARDS.fetch_add(1, Ordering::Relaxed) < MPROTECT_BUDGET.load(Ordering::Relaxed) {
        // SAFETY: as above.
        let r = unsafe { libc::mprotect(low as *mut libc::c_void, GUARD_SIZE, libc::PROT_NONE) };
        if r == 0 {
            return (true, true);
        }
    }
    MPROTECT_GUARDS.fetch_sub(1, Ordering::Relaxed);
    warn_unguarded();
    (false, false)
}

fn warn_unguarded() {
    if WARNED_UNGUARDED.swap(1, Ordering::Relaxed) == 0 {
        os::write_stderr(
            b"gort: too many guarded stacks for vm.max_map_count; new goroutine stacks have no overflow guard\n",
        );
    }
}

/// Half of vm.max_map_count, less headroom for the host's own mappings.
fn mprotect_budget() -> usize {
    let max = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(65530);
    max.saturating_sub(4096) / 2
}

/// The process-wide pool behind the per-processor caches.
struct Pool {
    stacks: Vec<GStack>,
    /// The fewest stacks the pool held since the last scavenge: that many
    /// (the bottom of this LIFO pool) sat unused for the whole period.
    low_water: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    stacks: Vec::new(),
    low_water: 0,
});

/// Takes a stack of `size` bytes: from `cache`, the global pool, or a new
/// mapping. Returns None only when memory is exhausted.
pub(crate) fn alloc(cache: &mut Vec<GStack>, size: usize) -> Option<GStack> {
    // A cached stack came back from use untrimmed; only the pool trims.
    if let Some(s) = cache.pop() {
        if s.size() == size {
            return Some(s);
        }
    }
    {
        let mut pool = POOL.lock();
        // Refill half the local cache in one lock round.
        while cache.len() < LOCAL_CACHE / 2 {
            match pool.stacks.pop() {
                Some(mut s) if s.size() == size => {
                    s.pool_leave();
                    cache.push(s);
                }
                Some(_) => {}
                None => break,
            }
        }
        pool.low_water = pool.low_water.min(pool.stacks.len());
    }
    cache.pop().or_else(|| GStack::new(size))
}

/// Returns a stack to `cache`; when the cache is full, half of it moves to
/// the global pool. No system call: memory goes back to the kernel only
/// when [`scavenge`] finds stacks unused for a whole period.
pub(crate) fn free(cache: &mut Vec<GStack>, s: GStack) {
    cache.push(s);
    if cache.len() > LOCAL_CACHE {
        for s in &cache[..LOCAL_CACHE / 2] {
            s.pool_enter();
        }
        let mut pool = POOL.lock();
        pool.stacks.extend(cache.drain(..LOCAL_CACHE / 2));
    }
}

/// Returns a stack straight to the global pool, for an M that holds no
/// processor.
pub(crate) fn free_global(s: GStack) {
    s.pool_enter();
    POOL.lock().stacks.push(s);
}

/// Whether the global pool holds stacks that [`scavenge`] could release.
pub(crate) fn scavengeable() -> bool {
    POOL.lock().stacks.len() > POOL_RESERVE
}

/// Gives back the memory of stacks that sat in the global pool, unused,
/// since the previous call (sysmon calls this every [`SCAVENGE_PERIOD_NS`]):
/// beyond the first [`POOL_RESERVE`], they are unmapped; the reserve is
/// trimmed to its top pages. Stacks in use, or reused during the period,
/// are not touched, so a program that keeps spawning and parking
/// goroutines makes no system call for its stacks.
pub(crate) fn scavenge() {
    let idle: Vec<GStack> = {
        let mut pool = POOL.lock();
        let n = pool.low_water.min(pool.stacks.len());
        let idle = pool.stacks.drain(..n).collect();
        pool.low_water = pool.stacks.len();
        idle
    };
    if idle.is_empty() {
        return;
    }
    let mut keep = Vec::new();
    for mut s in idle {
        if keep.len() < POOL_RESERVE {
            s.trim();
            keep.push(s);
        } // else: dropped, i.e. unmapped
    }
    let mut pool = POOL.lock();
    // The reserve goes back to the bottom, which allocation reaches last;
    // it counts as unused for the next period too (trimming it again is a
    // no-op without a system call).
    pool.low_water += keep.len();
    let rest = std::mem::replace(&mut pool.stacks, keep);
    pool.stacks.extend(rest);
    debug_assert!(pool.low_water <= pool.stacks.len());
}

/// Whether `addr` lies in the guard region of the stack mapped at `low`
/// (async-signal-safe: plain arithmetic).
#[inline]
pub(crate) fn guard_contains(low: usize, addr: usize) -> bool {
    addr >= low && addr < low + GUARD_SIZE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_region_is_reported() {
        let s = GStack::new(64 * 1024).unwrap();
        assert_eq!(s.size(), 64 * 1024);
        assert!(guard_contains(s.low(), s.low()));
        assert!(guard_contains(s.low(), s.high() - s.size() - 1));
        assert!(!guard_contains(s.low(), s.high() - s.size()));
        assert!(!guard_contains(s.low(), s.high() - 8));
        // The usable region is writable.

        // SAFETY: the byte lies in the usable part of the mapping.
        unsafe { *((s.high() - 1) as *mut u8) = 7 };
    }

    #[test]
    fn pool_reuses() {
        let mut cache = Vec::new();
        let a = alloc(&mut cache, 32 * 1024).unwrap();
        let low = a.low;
        free(&mut cache, a);
        let b = alloc(&mut cache, 32 * 1024).unwrap();
        assert_eq!(b.low, low);
    }

    #[test]
    fn spill_and_trim() {
        let mut cache = Vec::new();
        let stacks: Vec<_> = (0..40)
            .map(|_| alloc(&mut cache, 32 * 1024).unwrap())
            .collect();
        for s in stacks {
            free(&mut cache, s);
        }
        assert!(cache.len() <= LOCAL_CACHE);
    }
}
