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
//! Stacks are reused: each processor keeps a small cache (no locking), and a
//! global pool takes the overflow. A stack entering the global pool has its
//! deep pages returned to the kernel (`MADV_DONTNEED` below the top
//! [`KEEP_RESIDENT`] bytes), so a burst of deep recursion does not pin
//! memory in the pool forever. Beyond the global pool's capacity stacks are
//! unmapped.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use corosensei::stack::valgrind::ValgrindStackRegistration;
use corosensei::stack::{Stack, StackPointer};
use parking_lot::Mutex;

use crate::os;

/// Bytes of guard region below every stack.
pub(crate) const GUARD_SIZE: usize = 64 * 1024;
/// Bytes at the top of a pooled stack kept resident when it is trimmed.
pub(crate) const KEEP_RESIDENT: usize = 16 * 1024;
/// Stacks kept by each processor without locking.
pub(crate) const LOCAL_CACHE: usize = 16;
/// Stacks kept in the global pool.
pub(crate) const GLOBAL_POOL: usize = 512;

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
pub struct GStack {
    /// Lowest address of the mapping (the guard region starts here).
    low: usize,
    /// Bytes mapped, guard included.
    len: usize,
    /// Whether the guard costs a VMA (counted in MPROTECT_GUARDS).
    mprotected: bool,
    /// Whether the low GUARD_SIZE bytes are a guard at all.
    guarded: bool,
    _valgrind: ValgrindStackRegistration,
}

// SAFETY: a GStack is exclusively owned memory; moving ownership between
// threads is fine (goroutines migrate with their stacks).
unsafe impl Send for GStack {}

// SAFETY: base() and limit() describe a mapping this object owns, with a
// guard region of GUARD_SIZE at the bottom (or, past the mprotect budget,
// documented as unguarded), at least MIN_STACK_SIZE usable bytes, and both
// ends page aligned (so 16-byte aligned).
unsafe impl Stack for GStack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.low + self.len).expect("stack base is not null")
    }

    fn limit(&self) -> StackPointer {
        StackPointer::new(self.low).expect("stack limit is not null")
    }
}

impl GStack {
    /// Maps a new stack with `size` usable bytes (a page multiple).
    /// Returns None if the address space is exhausted.
    pub fn new(size: usize) -> Option<GStack> {
        let len = size + GUARD_SIZE;
        // SAFETY: a fresh anonymous private mapping; no existing memory is
        // affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        let low = p as usize;
        let (guarded, mprotected) = install_guard(low);
        Some(GStack {
            low,
            len,
            mprotected,
            guarded,
            _valgrind: ValgrindStackRegistration::new((low + GUARD_SIZE) as *mut u8, size),
        })
    }

    /// Whether `addr` lies in this stack's guard region.
    pub fn in_guard(&self, addr: usize) -> bool {
        self.guarded && addr >= self.low && addr < self.low + GUARD_SIZE
    }

    /// Lowest address of the mapping (start of the guard region).
    pub fn low(&self) -> usize {
        self.low
    }

    /// Highest address (the stack's base).
    pub fn high(&self) -> usize {
        self.low + self.len
    }

    /// Usable bytes.
    pub fn size(&self) -> usize {
        self.len - GUARD_SIZE
    }

    /// Returns the stack's pages below the top KEEP_RESIDENT bytes to the
    /// kernel; the next touch reads zeros.
    fn trim(&self) {
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
        // SAFETY: we own the mapping and nothing runs on it any more.
        unsafe { libc::munmap(self.low as *mut libc::c_void, self.len) };
    }
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
static POOL: Mutex<Vec<GStack>> = Mutex::new(Vec::new());

/// Takes a stack of `size` bytes: from `cache`, the global pool, or a new
/// mapping. Returns None only when memory is exhausted.
pub fn alloc(cache: &mut Vec<GStack>, size: usize) -> Option<GStack> {
    if let Some(s) = cache.pop() {
        if s.size() == size {
            return Some(s);
        }
    }
    {
        let mut pool = POOL.lock();
        // Refill half the local cache in one lock round.
        while cache.len() < LOCAL_CACHE / 2 {
            match pool.pop() {
                Some(s) if s.size() == size => cache.push(s),
                Some(_) => {}
                None => break,
            }
        }
    }
    cache.pop().or_else(|| GStack::new(size))
}

/// Returns a stack to `cache`; when the cache is full, half of it moves to
/// the global pool (trimmed), or is unmapped if the pool is full.
pub fn free(cache: &mut Vec<GStack>, s: GStack) {
    cache.push(s);
    if cache.len() > LOCAL_CACHE {
        let spill: Vec<GStack> = cache.drain(..LOCAL_CACHE / 2).collect();
        for s in &spill {
            s.trim();
        }
        let mut pool = POOL.lock();
        for s in spill {
            if pool.len() < GLOBAL_POOL {
                pool.push(s);
            } else {
                drop(s);
            }
        }
    }
}

/// Returns a stack straight to the global pool (trimmed), for an M that
/// holds no processor.
pub fn free_global(s: GStack) {
    s.trim();
    let mut pool = POOL.lock();
    if pool.len() < GLOBAL_POOL {
        pool.push(s);
    }
}

/// Whether new stacks get guard pages through MADV_GUARD_INSTALL.
pub fn guard_install_in_use() -> bool {
    GUARD_MODE.load(Ordering::Relaxed) == GUARD_INSTALL
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_region_is_reported() {
        let s = GStack::new(64 * 1024).unwrap();
        assert_eq!(s.size(), 64 * 1024);
        assert!(s.guarded);
        assert!(s.in_guard(s.limit().get()));
        assert!(!s.in_guard(s.base().get() - 8));
        // The usable region is writable.
        // SAFETY: the byte lies in the usable part of the mapping.
        unsafe { *((s.base().get() - 1) as *mut u8) = 7 };
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
