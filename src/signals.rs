//! Signals: the stack-overflow report, and nothing else (DESIGN.md traps 4
//! and 11).
//!
//! A goroutine that overflows its stack runs into the guard region below it
//! and faults. gort installs SIGSEGV and SIGBUS handlers, on an alternate
//! signal stack for each runtime thread (the faulting stack is unusable),
//! that recognise such a fault and die with
//!
//! ```text
//! fatal error: stack overflow
//!
//! runtime: goroutine 7 stack exceeds 262144-byte limit
//! runtime: sp=0x7f... stack=[0x7f..., 0x7f...]
//!
//! goroutine 7 [running]:
//!     created by 0x55...
//! ```
//!
//! and exit status 2. Every other fault is passed to the handler that was
//! installed before gort's (the host's), or to the default action: the
//! host's own signal handling keeps working. The handlers are installed
//! when the first runtime thread starts or a foreign thread first attaches
//! (its first `gort_call` or blocking call), not when the library loads,
//! so a handler the host installs in `main` before either is chained; a
//! handler installed after that replaces gort's (and loses only the
//! overflow report).
//!
//! # Foreign threads (Go: `minitSignalStack` for cgo callbacks)
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
//! stack is never replaced or freed.
//!
//! # Async-signal safety
//!
//! The handler uses no thread-local storage (a lazily allocated TLS block
//! could call malloc), takes no lock and allocates nothing: it finds its M
//! by `pthread_self()` in the lock-free list of Ms (or its slot in the
//! lock-free list of foreign threads), reads the running goroutine's stack
//! bounds (plain fields owned by this very thread), and formats its report
//! into a buffer on the alternate stack.
//!
//! A fault counts as a stack overflow when the faulting thread is a runtime
//! thread running a goroutine and either the fault address lies in that
//! goroutine's guard region, or the stack pointer is below the usable
//! stack but above `limit - 1 MiB` (a frame larger than the guard that
//! jumped over it). On a foreign thread inside `gort_call` the same holds
//! for the thread's stack: the fault address or the stack pointer lies
//! below its lowest usable address, by at most 1 MiB (the guard glibc
//! leaves below a thread's stack, or the gap the kernel keeps below the
//! main thread's).
//!
//! # Invariants
//!
//! - A foreign slot's `thread` is the `pthread_self()` of the thread that
//!   holds it, or 0 when free; every other field is written only by that
//!   thread, before `thread` is published (attach) or after the fields are
//!   cleared (detach). Slots are never freed, so the handler may walk the
//!   list at any time.

use std::ffi::c_void;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::Once;

use crate::sched::m as machine;
use crate::sched::Goroutine;
use crate::stack::GUARD_SIZE;

/// Bytes of alternate signal stack per runtime thread.
const ALTSTACK_SIZE: usize = 64 * 1024;
/// How far below the guard a stack pointer still counts as an overflow.
const FAR_BELOW: usize = 1 << 20;

static INSTALL: Once = Once::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The handlers that were installed before ours, for chaining. Written
/// once (inside INSTALL), before our handler can run; read by it.
struct OldActions(std::cell::UnsafeCell<[MaybeUninit<libc::sigaction>; 2]>);
// SAFETY: written only inside INSTALL.call_once, before the handler that
// reads it is installed (sigaction is a full barrier for the signal).
unsafe impl Sync for OldActions {}
static OLD: OldActions = OldActions(std::cell::UnsafeCell::new([MaybeUninit::uninit(); 2]));

fn slot(sig: libc::c_int) -> usize {
    if sig == libc::SIGSEGV {
        0
    } else {
        1
    }
}

/// Installs the SIGSEGV and SIGBUS handlers (once).
pub(crate) fn install_handlers() {
    INSTALL.call_once(|| {
        for sig in [libc::SIGSEGV, libc::SIGBUS] {
            // SAFETY: sigaction structs are plain data (zeroed is valid);
            // OLD is only written here, before our handler can run.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = handler as *const () as libc::sighandler_t;
                sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut sa.sa_mask);
                let old = (*OLD.0.get())[slot(sig)].as_mut_ptr();
                if libc::sigaction(sig, &sa, old) != 0 {
                    crate::panic::fatal("sigaction failed installing the stack overflow handler");
                }
            }
        }
        INSTALLED.store(true, Ordering::Release);
    });
}

/// Alternate signal stacks of runtime threads that exited, for reuse.
static SPARE_ALTSTACKS: crate::lock::Mutex<Vec<usize>> = crate::lock::Mutex::new(Vec::new());

/// Gives the calling runtime thread an alternate signal stack (reusing one
/// from a thread that exited if possible), unless it already has one (the
/// process main thread may have got one as a foreign thread).
pub(crate) fn install_altstack() {
    let _ = install_altstack_if_none();
}

/// The calling thread's alternate signal stack (None: the call failed).
fn current_altstack() -> Option<libc::stack_t> {
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

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo and ucontext.
    let (addr, sp) = unsafe { ((*info).si_addr() as usize, stack_pointer(ctx)) };
    if let Some(report) = overflow(addr, sp) {
        report.print_and_exit();
    }
    // SAFETY: forwarding the kernel's arguments to the previous handler.
    unsafe { chain(sig, info, ctx) };
}

struct Overflow {
    goid: i64,
    size: usize,
    sp: usize,
    lo: usize,
    hi: usize,
    start_fn: usize,
    creator_pc: usize,
    /// A gort_call goroutine on a foreign thread's own stack.
    foreign: bool,
}

fn overflow(addr: usize, sp: usize) -> Option<Overflow> {
    // SAFETY: pthread_self reads the thread pointer; async-signal-safe.
    let me = unsafe { libc::pthread_self() } as u64;
    let Some(m) = machine::find_by_thread(me) else {
        return foreign_overflow(me, addr, sp);
    };
    let g = m.curg.load(Ordering::Relaxed);
    if g.is_null() {
        return None;
    }
    // SAFETY: curg is the goroutine this very thread was running when it
    // faulted; its fields are owned by this thread.
    let g = unsafe { &*g };
    let lo = g.stack_lo.get();
    let hi = g.stack_hi.get();
    if lo == 0 {
        return None;
    }
    let usable_lo = lo + GUARD_SIZE;
    let in_guard = crate::stack::guard_contains(lo, addr);
    let sp_below = sp < usable_lo && sp + FAR_BELOW > lo;
    if !in_guard && !sp_below {
        return None;
    }
    Some(Overflow {
        goid: g.goid(),
        size: hi - usable_lo,
        sp,
        lo: usable_lo,
        hi,
        start_fn: g.start_fn.load(Ordering::Relaxed),
        creator_pc: g.creator_pc.load(Ordering::Relaxed),
        foreign: false,
    })
}

/// [`overflow`] on a thread that is not a runtime thread: an overflow only
/// while the thread is inside gort_call, of the stack learned at attach.
fn foreign_overflow(me: u64, addr: usize, sp: usize) -> Option<Overflow> {
    let slot = find_slot(me)?;
    let g = slot.record.load(Ordering::Acquire);
    if g.is_null() {
        return None;
    }
    // SAFETY: the slot's record is this very thread's attach record, freed
    // only by this thread after clearing the slot.
    let g = unsafe { &*g };
    if !g.in_call.load(Ordering::Relaxed) {
        return None;
    }
    let lo = slot.lo.load(Ordering::Relaxed);
    let hi = slot.hi.load(Ordering::Relaxed);
    let above = slot.above.load(Ordering::Relaxed);
    if lo == 0 {
        return None;
    }
    let near = |a: usize| a < lo + above && a >= lo.saturating_sub(FAR_BELOW);
    if !near(addr) && !near(sp) {
        return None;
    }
    Some(Overflow {
        goid: g.goid(),
        size: hi - lo,
        sp,
        lo,
        hi,
        start_fn: g.start_fn.load(Ordering::Relaxed),
        creator_pc: 0,
        foreign: true,
    })
}

impl Overflow {
    fn print_and_exit(&self) -> ! {
        let mut w = crate::os::FixedBuf::new();
        w.s("fatal error: stack overflow\n\nruntime: goroutine ");
        w.dec(self.goid as u64);
        w.s(" stack exceeds ");
        w.dec(self.size as u64);
        w.s("-byte limit\nruntime: sp=");
        w.hex(self.sp as u64);
        w.s(" stack=[");
        w.hex(self.lo as u64);
        w.s(", ");
        w.hex(self.hi as u64);
        w.s("]\n\ngoroutine ");
        w.dec(self.goid as u64);
        w.s(if self.foreign {
            " [running, locked to thread]:\n"
        } else {
            " [running]:\n"
        });
        w.s("\tentry function ");
        w.hex(self.start_fn as u64);
        w.s("\n");
        if self.creator_pc != 0 {
            w.s("created by ");
            w.hex(self.creator_pc as u64);
            w.s("\n");
        }
        w.s(if self.foreign {
            "(gort_call runs on the calling thread's own stack: give that thread a larger one)\n"
        } else {
            "(set GORT_STACK_SIZE for larger goroutine stacks)\n"
        });
        crate::os::write_stderr(w.bytes());
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(2) }
    }
}

/// Passes a fault that is not ours to the previous handler, or to the
/// default action.
///
/// # Safety
/// Must be called from the signal handler with the kernel's arguments.
unsafe fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    if !INSTALLED.load(Ordering::Acquire) {
        return;
    }
    // SAFETY: OLD was initialised before INSTALLED was set.
    let old = unsafe { (*OLD.0.get())[slot(sig)].assume_init_ref() };
    let h = old.sa_sigaction;
    if h == libc::SIG_DFL || h == libc::SIG_IGN {
        // Restore the default action and let the fault happen again (a
        // synchronous fault re-executes; a sent signal is re-raised).
        // SAFETY: plain sigaction/raise calls, async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = libc::SIG_DFL;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
            if (*info).si_code <= 0 {
                libc::raise(sig);
            }
        }
        return;
    }
    if old.sa_flags & libc::SA_SIGINFO != 0 {
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            // SAFETY: the host installed this as an SA_SIGINFO handler.
            unsafe { std::mem::transmute(h) };
        f(sig, info, ctx);
    } else {
        // SAFETY: the host installed this as a plain handler.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(h) };
        f(sig);
    }
}

/// The interrupted stack pointer.
///
/// # Safety
/// `ctx` is the ucontext the kernel passed to a signal handler.
unsafe fn stack_pointer(ctx: *mut libc::c_void) -> usize {
    let uc = ctx as *const libc::ucontext_t;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: per the contract.
    return unsafe { (*uc).uc_mcontext.gregs[libc::REG_RSP as usize] as usize };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: per the contract.
    return unsafe { (*uc).uc_mcontext.sp as usize };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = uc;
        0
    }
}

// ---------------------------------------------------------------------------
// Foreign threads.

/// What the handler knows about one foreign thread holding attach state
/// (module docs). Never freed; reused once `thread` is 0.
struct ForeignSlot {
    next: AtomicPtr<ForeignSlot>,
    /// `pthread_self()` of the holder, 0 when free.
    thread: AtomicU64,
    /// The thread's attach record (a goroutine while it is in gort_call).
    record: AtomicPtr<Goroutine>,
    /// Lowest usable address of the thread's stack (0: unknown).
    lo: AtomicUsize,
    /// Top of the thread's stack.
    hi: AtomicUsize,
    /// How far above `lo` a fault still counts (the main thread's gap).
    above: AtomicUsize,
    /// The alternate signal stack gort gave the thread, or null.
    altstack: AtomicPtr<c_void>,
}

/// Head of the list of foreign slots, newest first.
static FOREIGN: AtomicPtr<ForeignSlot> = AtomicPtr::new(ptr::null_mut());

/// The slot held by `thread`. Lock-free and allocation-free.
fn find_slot(thread: u64) -> Option<&'static ForeignSlot> {
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
