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
//! when the first runtime thread starts, not when the library loads, so a
//! handler the host installs in `main` before starting goroutines is
//! chained; a handler installed after that replaces gort's (and loses only
//! the overflow report).
//!
//! # Async-signal safety
//!
//! The handler uses no thread-local storage (a lazily allocated TLS block
//! could call malloc), takes no lock and allocates nothing: it finds its M
//! by `pthread_self()` in the lock-free list of Ms, reads the running
//! goroutine's stack bounds (plain fields owned by this very thread), and
//! formats its report into a buffer on the alternate stack.
//!
//! A fault counts as a stack overflow when the faulting thread is a runtime
//! thread running a goroutine and either the fault address lies in that
//! goroutine's guard region, or the stack pointer is below the usable
//! stack but above `limit - 1 MiB` (a frame larger than the guard that
//! jumped over it).

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use crate::sched::m as machine;
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
pub fn install_handlers() {
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
static SPARE_ALTSTACKS: parking_lot::Mutex<Vec<usize>> = parking_lot::Mutex::new(Vec::new());

/// Gives the calling runtime thread an alternate signal stack (reusing one
/// from a thread that exited if possible).
pub fn install_altstack() {
    let spare = SPARE_ALTSTACKS.lock().pop();
    let p = match spare {
        Some(p) => p as *mut libc::c_void,
        // SAFETY: a fresh private mapping, handed to the kernel as this
        // thread's signal stack.
        None => unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ALTSTACK_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        },
    };
    if p == libc::MAP_FAILED {
        return; // no report on overflow, but nothing breaks
    }
    let ss = libc::stack_t {
        ss_sp: p,
        ss_flags: 0,
        ss_size: ALTSTACK_SIZE,
    };
    // SAFETY: p is ALTSTACK_SIZE bytes owned by this thread from now on.
    unsafe { libc::sigaltstack(&ss, std::ptr::null_mut()) };
}

/// Takes back the calling thread's alternate signal stack before it exits,
/// for the next runtime thread.
pub fn release_altstack() {
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
}

fn overflow(addr: usize, sp: usize) -> Option<Overflow> {
    // SAFETY: pthread_self reads the thread pointer; async-signal-safe.
    let me = unsafe { libc::pthread_self() } as u64;
    let m = machine::find_by_thread(me)?;
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
    let in_guard = addr >= lo && addr < usable_lo;
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
        w.s(" [running]:\n");
        w.s("\tentry function ");
        w.hex(self.start_fn as u64);
        w.s("\n");
        if self.creator_pc != 0 {
            w.s("created by ");
            w.hex(self.creator_pc as u64);
            w.s("\n");
        }
        w.s("(set GORT_STACK_SIZE for larger goroutine stacks)\n");
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
        // SAFETY: the host installed this as an SA_SIGINFO handler.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
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
