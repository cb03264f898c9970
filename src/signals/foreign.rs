//! Foreign threads and alternate signal stacks.
//!
//! `gort_call` runs its goroutine on the calling thread's own stack, so an
//! overflow there runs off the end of a stack gort did not make. When a
//! foreign thread attaches ([`attach_foreign_thread`]), gort learns that
//! stack's bounds once (`pthread_getattr_np`, which reads
//! `/proc/self/maps` for the main thread: never per call, DESIGN.md trap
//! 10) and, if the thread has no alternate signal stack, gives it one of
//! its own (without one the handler could not run on an overflowed
//! stack). Both are recorded in a [`ForeignSlot`]; when the attach state
//! is freed ([`detach_foreign_thread`]), the alternate stack is taken back
//! only if it is still the one gort installed, and a host's own alternate
//! stack is never replaced or freed. Runtime threads get theirs when they
//! start ([`install_altstack`]) and give it back, for reuse, when they
//! exit.
//!
//! # Invariants
//!
//! - A slot's `thread` is the `pthread_self()` of the thread that holds
//!   it, or 0 when free; every other field is written only by that
//!   thread, before `thread` is published (attach) or after the fields are
//!   cleared (detach). Slots are never freed, so a signal handler may walk
//!   the list at any time.

use super::*;

/// Bytes of alternate signal stack per runtime thread.
const ALTSTACK_SIZE: usize = 256 * 1024;
/// Alternate signal stacks of runtime threads that exited, for reuse.
static SPARE_ALTSTACKS: crate::lock::Mutex<Vec<usize>> = crate::lock::Mutex::new(Vec::new());

/// Gives the calling runtime thread an alternate signal stack (reusing one
/// from a thread that exited if possible), unless it already has one (the
/// process main thread may have got one as a foreign thread).
pub(crate) fn install_altstack() {
    let _ = install_altstack_if_none();
}

/// The calling thread's alternate signal stack (None: the call failed).
pub(super) fn current_altstack() -> Option<libc::stack_t> {
    let mut cur = libc::stack_t {
        ss_sp: ptr::null_mut(),
        ss_flags: 0,
        ss_size: 0,
    };
    // SAFETY: a query only (null new stack); cur is a valid out-pointer.
    (unsafe { libc::sigaltstack(ptr::null(), &mut cur) } == 0).then_some(cur)
}

/// Gives the calling thread one of gort's alternate signal stacks if it
/// has none; returns that stack, or null if the thread keeps its own (or
/// none could be had: then there is no overflow report, but nothing
/// breaks).
fn install_altstack_if_none() -> *mut c_void {
    match current_altstack() {
        Some(cur) if cur.ss_flags & libc::SS_DISABLE != 0 => {}
        _ => return ptr::null_mut(),
    }
    let spare = SPARE_ALTSTACKS.lock().pop();
    let p = match spare {
        Some(p) => p as *mut c_void,
        // SAFETY: a fresh private mapping, handed to the kernel as this
        // thread's signal stack.
        None => unsafe {
            libc::mmap(
                ptr::null_mut(),
                ALTSTACK_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        },
    };
    if p == libc::MAP_FAILED {
        return ptr::null_mut();
    }
    let ss = libc::stack_t {
        ss_sp: p,
        ss_flags: 0,
        ss_size: ALTSTACK_SIZE,
    };
    // SAFETY: p is ALTSTACK_SIZE bytes owned by this thread from now on.
    if unsafe { libc::sigaltstack(&ss, ptr::null_mut()) } != 0 {
        SPARE_ALTSTACKS.lock().push(p as usize);
        return ptr::null_mut();
    }
    p
}

/// Takes back the calling thread's alternate signal stack before it exits,
/// for the next runtime thread.
pub(crate) fn release_altstack() {
    let off = libc::stack_t {
        ss_sp: std::ptr::null_mut(),
        ss_flags: libc::SS_DISABLE,
        ss_size: 0,
    };
    let mut old = libc::stack_t {
        ss_sp: std::ptr::null_mut(),
        ss_flags: 0,
        ss_size: 0,
    };
    // SAFETY: valid pointers; we are not running on the signal stack.
    if unsafe { libc::sigaltstack(&off, &mut old) } == 0
        && !old.ss_sp.is_null()
        && old.ss_size == ALTSTACK_SIZE
        && old.ss_flags & libc::SS_DISABLE == 0
    {
        SPARE_ALTSTACKS.lock().push(old.ss_sp as usize);
    }
}

/// What the handler knows about one foreign thread holding attach state
/// (module docs). Never freed; reused once `thread` is 0.
pub(super) struct ForeignSlot {
    pub(super) next: AtomicPtr<ForeignSlot>,
    /// `pthread_self()` of the holder, 0 when free.
    pub(super) thread: AtomicU64,
    /// The thread's attach record (a goroutine while it is in gort_call).
    pub(super) record: AtomicPtr<Goroutine>,
    /// Lowest usable address of the thread's stack (0: unknown).
    pub(super) lo: AtomicUsize,
    /// Top of the thread's stack.
    pub(super) hi: AtomicUsize,
    /// How far above `lo` a fault still counts (the main thread's gap).
    pub(super) above: AtomicUsize,
    /// The alternate signal stack gort gave the thread, or null.
    pub(super) altstack: AtomicPtr<c_void>,
}

/// Head of the list of foreign slots, newest first.
static FOREIGN: AtomicPtr<ForeignSlot> = AtomicPtr::new(ptr::null_mut());

/// The slot held by `thread`. Lock-free and allocation-free.
pub(super) fn find_slot(thread: u64) -> Option<&'static ForeignSlot> {
    let mut p = FOREIGN.load(Ordering::Acquire);
    while !p.is_null() {
        // SAFETY: slots are leaked, never freed.
        let slot = unsafe { &*p };
        if slot.thread.load(Ordering::Acquire) == thread {
            return Some(slot);
        }
        p = slot.next.load(Ordering::Acquire);
    }
    None
}

/// The top of the calling foreign thread's stack, as learned when it
/// attached (None if it holds no attach state or its stack is unknown).
pub(crate) fn foreign_stack_top() -> Option<usize> {
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() } as u64;
    let slot = find_slot(me)?;
    Some(slot.hi.load(Ordering::Relaxed)).filter(|&hi| hi != 0)
}

/// Takes a free slot for `thread`, or adds one.
fn claim_slot(thread: u64) -> &'static ForeignSlot {
    let mut p = FOREIGN.load(Ordering::Acquire);
    while !p.is_null() {
        // SAFETY: slots are leaked, never freed.
        let slot = unsafe { &*p };
        if slot
            .thread
            .compare_exchange(0, thread, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            return slot;
        }
        p = slot.next.load(Ordering::Acquire);
    }
    let slot: &'static ForeignSlot = Box::leak(Box::new(ForeignSlot {
        next: AtomicPtr::new(ptr::null_mut()),
        thread: AtomicU64::new(thread),
        record: AtomicPtr::new(ptr::null_mut()),
        lo: AtomicUsize::new(0),
        hi: AtomicUsize::new(0),
        above: AtomicUsize::new(0),
        altstack: AtomicPtr::new(ptr::null_mut()),
    }));
    let sp = slot as *const ForeignSlot as *mut ForeignSlot;
    let mut head = FOREIGN.load(Ordering::Acquire);
    loop {
        slot.next.store(head, Ordering::Relaxed);
        match FOREIGN.compare_exchange_weak(head, sp, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return slot,
            Err(h) => head = h,
        }
    }
}

/// The calling thread's stack, for the overflow check: (lowest usable
/// address, top, how far above the lowest address a fault still counts).
/// Costly on the main thread (glibc reads `/proc/self/maps`): called once
/// per attach.
fn this_thread_stack() -> Option<(usize, usize, usize)> {
    let mut addr: *mut c_void = ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: attr is initialised by pthread_getattr_np before it is read
    // and destroyed after; the out-pointers are valid.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let r = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        if r != 0 || addr.is_null() || size == 0 {
            return None;
        }
    }
    let lo = addr as usize;
    // SAFETY: getpid and gettid have no preconditions.
    let main_thread = unsafe { libc::getpid() == libc::gettid() };
    Some((lo, lo + size, if main_thread { main_gap(size) } else { 0 }))
}

/// The main thread's stack grows on demand up to RLIMIT_STACK. glibc
/// reports exactly that limit unless the mapping below the stack comes
/// first (an unlimited or huge RLIMIT_STACK): then it reports the end of
/// that mapping, and the kernel stops the stack a guard gap (256 pages by
/// default) above it, so an overflow faults up to that far above the
/// reported bottom.
fn main_gap(size: usize) -> usize {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: rl is a valid out-pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut rl) } != 0 {
        return 0;
    }
    let limit = rl.rlim_cur;
    let capped = limit == libc::RLIM_INFINITY || limit > (size as u64).saturating_add(1 << 20);
    if capped {
        257 * crate::os::page_size()
    } else {
        0
    }
}

/// A foreign thread has just attached with `record`: the handlers are
/// installed, the thread's stack bounds learned, and the thread given an
/// alternate signal stack if it has none (module docs).
pub(crate) fn attach_foreign_thread(record: *mut Goroutine) {
    install_handlers();
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() } as u64;
    let slot = claim_slot(me);
    let (lo, hi, above) = this_thread_stack().unwrap_or((0, 0, 0));
    slot.lo.store(lo, Ordering::Relaxed);
    slot.hi.store(hi, Ordering::Relaxed);
    slot.above.store(above, Ordering::Relaxed);
    slot.altstack
        .store(install_altstack_if_none(), Ordering::Relaxed);
    slot.record.store(record, Ordering::Release);
}

/// The calling foreign thread's attach state is being freed: its slot is
/// released, and the alternate signal stack gort gave it is taken back if
/// the thread still uses it (if the host replaced it, the kernel no longer
/// refers to it either).
pub(crate) fn detach_foreign_thread() {
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() } as u64;
    let Some(slot) = find_slot(me) else {
        return;
    };
    slot.record.store(ptr::null_mut(), Ordering::Release);
    slot.lo.store(0, Ordering::Relaxed);
    let ours = slot.altstack.swap(ptr::null_mut(), Ordering::Relaxed);
    if !ours.is_null() {
        release_altstack_if(ours);
    }
    slot.thread.store(0, Ordering::Release);
}

/// Takes back `ours`, an alternate signal stack gort gave this thread.
fn release_altstack_if(ours: *mut c_void) {
    let Some(cur) = current_altstack() else {
        return; // cannot tell whether the kernel still uses it: keep it
    };
    if cur.ss_sp == ours && cur.ss_flags & libc::SS_DISABLE == 0 {
        if cur.ss_flags & libc::SS_ONSTACK != 0 {
            return; // running on it (a handler's destructor): leave it be
        }
        let off = libc::stack_t {
            ss_sp: ptr::null_mut(),
            ss_flags: libc::SS_DISABLE,
            ss_size: 0,
        };
        // SAFETY: disabling this thread's alternate stack, not in use.
        if unsafe { libc::sigaltstack(&off, ptr::null_mut()) } != 0 {
            return;
        }
    }
    SPARE_ALTSTACKS.lock().push(ours as usize);
}
