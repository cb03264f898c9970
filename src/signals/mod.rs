//! Signals: reports for the faults of goroutine code (a stack overflow,
//! any other crash signal), SIGQUIT's dump, and nothing else (DESIGN.md
//! traps 4 and 11).
//!
//! # Crash signals
//!
//! gort installs SIGSEGV, SIGBUS, SIGFPE and SIGILL handlers, run on an
//! alternate signal stack (the faulting stack may be unusable), when the
//! first runtime thread starts or a foreign thread first attaches (its
//! first `gort_call` or blocking call), not when the library loads: a
//! handler the host installs in `main` before either is chained; one
//! installed after that replaces gort's (and loses only the reports).
//!
//! - A goroutine that overflows its stack runs into the guard region below
//!   it: `fatal error: stack overflow`, the goroutine's frames, exit
//!   status 2 ([`overflow`]).
//! - Any other fault raised by the CPU (si_code > 0) in code a goroutine
//!   runs, when the host has no handler of its own for the signal: Go's
//!   `fatal error: unexpected signal during runtime execution` and
//!   `[signal SIGSEGV: segmentation violation code=... addr=... pc=...]`,
//!   the faulting goroutine's frames first, then every other goroutine;
//!   then the default action, so the process ends as the signal would
//!   have ended it (status, core dump).
//! - Everything else (a fault outside goroutine code, a signal sent with
//!   kill, a host handler installed first) goes to the handler that was
//!   installed before gort's, or to the default action: the host's own
//!   signal handling keeps working.
//!
//! # SIGQUIT ([`monitor`])
//!
//! In program mode (and with `GORT_DEBUG=sigquit=1`) SIGQUIT prints every
//! goroutine's dump and exits with status 2, unless the host installed a
//! handler of its own first. The handler only records what it was given
//! and wakes sysmon, which writes the dump: off the signal path, where
//! allocating and taking locks is safe. sysmon also flushes the host's
//! stdio before any report ends the process.
//!
//! # Foreign threads ([`foreign`]; Go: `minitSignalStack` for cgo callbacks)
//!
//! `gort_call` runs its goroutine on the calling thread's own stack; gort
//! learns that stack's bounds when the thread attaches and gives the
//! thread an alternate signal stack if it has none.
//!
//! # Async-signal safety
//!
//! Deciding what a fault is uses no thread-local storage (a lazily
//! allocated TLS block could call malloc), takes no lock and allocates
//! nothing: the handler finds its M by `pthread_self()` in the lock-free
//! list of Ms (or its slot in the lock-free list of foreign threads) and
//! reads the running goroutine's stack bounds (fields owned by this very
//! thread). The first lines of the overflow report are formatted into a
//! buffer on the alternate stack. The frames and the dumps of the crash
//! reports allocate (the process is ending; the locks involved are taken
//! with short timeouts while a report is written): a fault inside the C
//! library's allocator may cut a report short.
//!
//! # Invariants
//!
//! - `OLD` is written once, before any handler of gort's can run.
//! - A foreign slot's `thread` is the `pthread_self()` of the thread that
//!   holds it, or 0 when free; every other field is written only by that
//!   thread, before `thread` is published (attach) or after the fields are
//!   cleared (detach). Slots are never freed, so the handler may walk the
//!   list at any time.

use std::ffi::c_void;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
use std::sync::Once;

use crate::sched::m as machine;
use crate::sched::Goroutine;
use crate::stack::GUARD_SIZE;

mod foreign;
mod monitor;
mod overflow;

pub(crate) use foreign::{
    attach_foreign_thread, detach_foreign_thread, foreign_stack_top, install_altstack,
    release_altstack,
};
use foreign::{current_altstack, find_slot};
pub(crate) use monitor::{flush_stdio_for_report, install_sigquit, monitor_started, serve_monitor};
use overflow::overflow;

static INSTALL: Once = Once::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The synchronous crash signals gort reports (module docs).
const CRASH_SIGNALS: [libc::c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL];

/// The handlers that were installed before ours, for chaining. Written
/// once (inside INSTALL), before our handler can run; read by it.
struct OldActions(std::cell::UnsafeCell<[MaybeUninit<libc::sigaction>; 4]>);
// SAFETY: written only inside INSTALL.call_once, before the handler that
// reads it is installed (sigaction is a full barrier for the signal).
unsafe impl Sync for OldActions {}
static OLD: OldActions = OldActions(std::cell::UnsafeCell::new([MaybeUninit::uninit(); 4]));

fn slot(sig: libc::c_int) -> usize {
    CRASH_SIGNALS.iter().position(|&s| s == sig).unwrap_or(0)
}

/// Installs the crash signal handlers (once).
pub(crate) fn install_handlers() {
    INSTALL.call_once(|| {
        for sig in CRASH_SIGNALS {
            // SAFETY: sigaction structs are plain data (zeroed is valid);
            // OLD is only written here, before our handler can run.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = handler as *const () as libc::sighandler_t;
                sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut sa.sa_mask);
                let old = (*OLD.0.get())[slot(sig)].as_mut_ptr();
                if libc::sigaction(sig, &sa, old) != 0 {
                    crate::panic::fatal("sigaction failed installing the crash handlers");
                }
            }
        }
        INSTALLED.store(true, Ordering::Release);
    });
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo and ucontext.
    let (addr, code, regs) = unsafe {
        (
            (*info).si_addr() as usize,
            (*info).si_code,
            crate::unwind::from_signal(ctx),
        )
    };
    if sig == libc::SIGSEGV || sig == libc::SIGBUS {
        if let Some(report) = overflow(addr, regs.sp) {
            report.print_and_exit(regs);
        }
    }
    // A fault of the code a goroutine runs, raised by the CPU (not sent
    // with kill), that the host does not handle itself: Go's report.
    if code > 0 && !host_handles(sig) {
        if let Some((g, lo, hi)) = faulting_goroutine() {
            crash_report(sig, code, addr, regs, g, lo, hi);
        }
    }
    // SAFETY: forwarding the kernel's arguments to the previous handler.
    unsafe { chain(sig, info, ctx) };
}

/// Whether the host installed a handler of its own for `sig` before gort.
fn host_handles(sig: libc::c_int) -> bool {
    if !INSTALLED.load(Ordering::Acquire) {
        return false;
    }
    // SAFETY: OLD was initialised before INSTALLED was set.
    let old = unsafe { (*OLD.0.get())[slot(sig)].assume_init_ref() };
    old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN
}

/// The goroutine the faulting thread runs, with its stack's usable bounds:
/// a runtime thread's current goroutine, or a foreign thread's record
/// while it is inside gort_call.
fn faulting_goroutine() -> Option<(&'static Goroutine, usize, usize)> {
    // SAFETY: pthread_self reads the thread pointer; async-signal-safe.
    let me = unsafe { libc::pthread_self() } as u64;
    if let Some(m) = machine::find_by_thread(me) {
        // SAFETY: curg is the goroutine this very thread was running when
        // it faulted; goroutine records are never freed.
        let g = unsafe { m.curg.load(Ordering::Relaxed).as_ref() }?;
        let lo = g.stack_lo();
        return (lo != 0).then(|| (g, lo + GUARD_SIZE, g.stack_hi.load(Ordering::Relaxed)));
    }
    let slot = find_slot(me)?;
    // SAFETY: the slot's record is this very thread's attach record, freed
    // only by this thread after clearing the slot.
    let g = unsafe { slot.record.load(Ordering::Acquire).as_ref() }?;
    let (lo, hi) = (
        slot.lo.load(Ordering::Relaxed),
        slot.hi.load(Ordering::Relaxed),
    );
    (g.in_call.load(Ordering::Relaxed) && lo != 0).then_some((g, lo, hi))
}

/// Go's name and description of a crash signal.
fn describe(sig: libc::c_int) -> (&'static str, &'static str) {
    match sig {
        libc::SIGSEGV => ("SIGSEGV", "segmentation violation"),
        libc::SIGBUS => ("SIGBUS", "bus error"),
        libc::SIGFPE => ("SIGFPE", "floating-point exception"),
        _ => ("SIGILL", "illegal instruction"),
    }
}

/// Writes Go's report of a crash signal raised by goroutine `g`'s code:
/// the signal, the goroutine's frames, then every other goroutine. Then
/// returns, and the caller restores the default action so that the fault
/// ends the process as it would have without gort (core dump, status).
/// Allocates: a fault inside the C library's allocator may cut the report
/// short (the locks involved are taken with short timeouts).
fn crash_report(
    sig: libc::c_int,
    code: libc::c_int,
    addr: usize,
    regs: crate::unwind::Regs,
    g: &Goroutine,
    lo: usize,
    hi: usize,
) {
    if crate::panic::reporting() {
        return; // another report is being written: just end
    }
    // First, while threads still starting up may finish (they wait while
    // a report is written).
    flush_stdio_for_report();
    if !crate::panic::begin_report() {
        return;
    }
    let (name, what) = describe(sig);
    let mut out = format!(
        "fatal error: unexpected signal during runtime execution\n\
         [signal {name}: {what} code={code:#x} addr={addr:#x} pc={:#x}]\n\n",
        regs.pc
    );
    out.push_str(&crate::trace::crash_dump(g, regs, lo, hi, true));
    crate::os::write_stderr(out.as_bytes());
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
