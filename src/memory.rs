//! The runtime's heap: the system allocator, with allocation failure made
//! Go's fatal error.
//!
//! Every Rust allocation of the runtime (goroutine records, run-queue
//! blocks, channels and their buffers, the handle table, timers, dumps)
//! goes through [`RuntimeAllocator`], the crate's `#[global_allocator]`:
//! `std::alloc::System` (malloc) unchanged, except that an allocation that
//! fails ends the process the way Go's runtime does when it cannot get
//! memory: `fatal error: runtime: out of memory`, exit status 2 (see
//! [`crate::fatal::out_of_memory`], which writes its report without
//! allocating). A stack mapping that fails when a goroutine first runs
//! ends the same way (`sched::new_coro`).
//!
//! Rust's own answer to a failed allocation is to print `memory
//! allocation of N bytes failed` and abort (status 134), and a stable
//! build cannot change that answer: `std::alloc::set_alloc_error_hook` and
//! `#[alloc_error_handler]` are unstable. Wrapping `System` is the one
//! stable hook; it keeps malloc's behaviour and speed (one null check per
//! allocation) and needs no allocator of our own.
//!
//! # Invariants
//!
//! - No allocation in the runtime can fail and return: `Vec::try_reserve`
//!   and the like end the process too. Code that must survive a failed
//!   allocation would have to call `System` directly (nothing does).
//! - Only the runtime's Rust code is affected: the C host's `malloc` is
//!   its own business, and `libgort.a` / `libgort.so` export no allocator
//!   symbol.
//!
//! # Thread-local destructors
//!
//! One allocation is not ours to fail: glibc allocates a record for every
//! thread-local destructor it registers (`__cxa_thread_atexit_impl`) and
//! aborts the process if it cannot ("Fatal glibc error: failed to register
//! TLS destructor: out of memory", status 134). Two dependencies register
//! one lazily: parking_lot's per-thread parking data (on a thread's first
//! wait for a contended lock) and crossbeam's epoch handle (on its first
//! steal). So each runtime thread, when it starts, and each foreign
//! thread, when it attaches, registers them at once
//! ([`register_thread_locals`]): the first contended lock or steal under
//! memory exhaustion then costs no allocation outside our allocator. A
//! thread that starts when memory is already exhausted makes sure of some
//! first (a probe allocation, freed just before the registrations), so
//! that it dies with our report rather than glibc's. This narrows the
//! window to another thread taking that memory in the instant between;
//! it cannot close it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::time::Duration;

/// `System`, with a failed allocation made a fatal error (module docs).
#[derive(Debug)]
pub(crate) struct RuntimeAllocator;

#[global_allocator]
static ALLOCATOR: RuntimeAllocator = RuntimeAllocator;

#[cold]
#[inline(never)]
fn failed(layout: Layout) -> ! {
    crate::fatal::out_of_memory(layout.size(), "block")
}

// SAFETY: every method forwards to `System` with the caller's arguments,
// so `System`'s guarantees hold; the only change is that a null result
// (failure) never returns.
unsafe impl GlobalAlloc for RuntimeAllocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract (layout has a non-zero size).
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            failed(layout);
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            failed(layout);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract: ptr came from this allocator, which
        // is System's.
        unsafe { System.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            // The size asked for; the layout's alignment is kept.
            failed(Layout::from_size_align(new_size, layout.align()).unwrap_or(layout));
        }
        p
    }
}

/// Bytes made sure of before the registrations (module docs): the
/// parking data, crossbeam's per-thread record (a couple of KiB) and
/// glibc's small records, with room to spare.
const REGISTRATION_PROBE: usize = 64 * 1024;

/// Registers, now, the thread-local destructors that the runtime's
/// dependencies would otherwise register lazily (module docs). `steals`:
/// the thread may steal from run queues (a runtime thread).
///
/// A thread started when memory is already exhausted would still die in
/// glibc here, so the memory is probed first: if a block of
/// [`REGISTRATION_PROBE`] bytes cannot be had, it is our out-of-memory
/// report; if it can, freeing it leaves that much for the registrations
/// just after (on this thread's malloc arena).
pub(crate) fn register_thread_locals(steals: bool) {
    // SAFETY: a non-zero size and a valid alignment.
    let probe = unsafe { Layout::from_size_align_unchecked(REGISTRATION_PROBE, 16) };
    // SAFETY: as above; a direct System call, so that failure is handled
    // here (with the size that failed) rather than in the allocator. Not
    // zeroed: only whether the memory can be had matters.
    let p = unsafe { System.alloc(probe) };
    if p.is_null() {
        crate::fatal::out_of_memory(REGISTRATION_PROBE, "block for thread-local state");
    }
    // SAFETY: allocated just above with this layout.
    unsafe { System.dealloc(p, probe) };
    wait_if_dying();
    // parking_lot: a wait that has already timed out still goes through
    // the parking path, which sets up the thread's parking data.
    let lock = parking_lot::Mutex::new(());
    let cv = parking_lot::Condvar::new();
    let mut guard = lock.lock();
    let _ = cv.wait_for(&mut guard, Duration::ZERO);
    drop(guard);
    if steals {
        wait_if_dying();
        // crossbeam: a steal pins the thread's epoch handle.
        let _ = crossbeam_deque::Worker::<u8>::new_fifo().stealer().steal();
    }
}

/// A thread that is still setting up while a fatal report is being
/// written (memory ran out elsewhere) registers nothing more: the
/// registration could fail in glibc and abort the process before the
/// report is out. The reporting thread ends the process.
fn wait_if_dying() {
    if crate::fatal::reporting() {
        loop {
            crate::os::thread_sleep(1_000_000_000);
        }
    }
}
