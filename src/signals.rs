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
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
use std::sync::Once;

use crate::sched::m as machine;
use crate::sched::Goroutine;
use crate::stack::GUARD_SIZE;

/// Bytes of alternate signal stack per runtime thread.
const ALTSTACK_SIZE: usize = 256 * 1024;
/// How far below the guard a stack pointer still counts as an overflow.
const FAR_BELOW: usize = 1 << 20;

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
        let lo = g.stack_lo.get();
        return (lo != 0).then(|| (g, lo + GUARD_SIZE, g.stack_hi.get()));
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

// ---------------------------------------------------------------------------
// Work done for signal handlers by sysmon, off the signal path.

/// A flush of the host's stdio asked for a report: 0 none, 1 asked, 2
/// done.
static FLUSH: AtomicU32 = AtomicU32::new(0);
/// sysmon's thread (`pthread_self()`), 0 until it runs.
static MONITOR: AtomicU64 = AtomicU64::new(0);
/// SIGQUIT arrived: (interrupted pc, si_code, the receiving M's id or -1).
static QUIT: AtomicBool = AtomicBool::new(false);
static QUIT_PC: AtomicUsize = AtomicUsize::new(0);
static QUIT_CODE: AtomicI64 = AtomicI64::new(0);
static QUIT_M: AtomicI64 = AtomicI64::new(-1);

/// Before a report ends the process: flushes the host's buffered stdio
/// streams (`fflush(NULL)`) so that what the program printed to a pipe or
/// a file is not lost. sysmon does the flush and the reporter waits for
/// it a quarter of a second at most: a stream whose lock is held by a
/// thread that never lets go (blocked writing to a full pipe, or the
/// faulting thread itself, interrupted inside stdio) then costs the
/// flush, never the report. On sysmon itself only `stdout` is flushed,
/// if its lock is free; before sysmon runs, the caller flushes (not from
/// a signal handler). Callable from a signal handler (it only wakes
/// sysmon and sleeps).
pub(crate) fn flush_stdio_for_report() {
    let monitor = MONITOR.load(Ordering::SeqCst);
    // SAFETY: pthread_self reads the thread pointer; async-signal-safe.
    let me = unsafe { libc::pthread_self() } as u64;
    if monitor == me {
        crate::os::flush_stdout();
        return;
    }
    if monitor == 0 {
        if !in_signal_handler() {
            // SAFETY: fflush(NULL) flushes every open output stream; not
            // from a signal handler that may have interrupted stdio.
            unsafe { libc::fflush(ptr::null_mut()) };
        }
        return;
    }
    FLUSH.store(1, Ordering::SeqCst);
    crate::sched::sysmon::wake_sysmon();
    for _ in 0..250 {
        if FLUSH.load(Ordering::SeqCst) == 2 {
            return;
        }
        crate::os::thread_sleep(1_000_000);
    }
}

/// Whether the calling thread runs on its alternate signal stack (inside
/// a crash handler).
fn in_signal_handler() -> bool {
    current_altstack().is_some_and(|s| s.ss_flags & libc::SS_ONSTACK != 0)
}

/// sysmon is about to serve (before its first wait): from now on
/// [`flush_stdio_for_report`] and SIGQUIT rely on it.
pub(crate) fn monitor_started() {
    // SAFETY: pthread_self has no preconditions.
    MONITOR.store(unsafe { libc::pthread_self() } as u64, Ordering::SeqCst);
}

/// sysmon's share of signal handling, after each of its waits: a flush
/// asked for a report; the SIGQUIT dump.
pub(crate) fn serve_monitor() {
    if FLUSH.load(Ordering::SeqCst) == 1 {
        // SAFETY: fflush(NULL) flushes every open output stream; sysmon is
        // never inside stdio itself.
        unsafe { libc::fflush(ptr::null_mut()) };
        FLUSH.store(2, Ordering::SeqCst);
    }
    if QUIT.load(Ordering::SeqCst) {
        quit_dump();
    }
}

/// Go's SIGQUIT report: every goroutine's dump, then exit status 2.
fn quit_dump() -> ! {
    flush_stdio_for_report();
    let mut out = format!(
        "SIGQUIT: quit\nPC={:#x} m={} sigcode={}\n\n",
        QUIT_PC.load(Ordering::SeqCst),
        QUIT_M.load(Ordering::SeqCst),
        QUIT_CODE.load(Ordering::SeqCst)
    );
    if crate::panic::begin_report() {
        out.push_str(&crate::trace::dump(true));
    }
    crate::os::write_stderr(out.as_bytes());
    crate::timeline::at_exit(true);
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(2) }
}

extern "C" fn quit_handler(_: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo and ucontext.
    let (code, regs) = unsafe { ((*info).si_code, crate::unwind::from_signal(ctx)) };
    // SAFETY: pthread_self reads the thread pointer; async-signal-safe.
    let me = unsafe { libc::pthread_self() } as u64;
    QUIT_PC.store(regs.pc, Ordering::SeqCst);
    QUIT_CODE.store(i64::from(code), Ordering::SeqCst);
    QUIT_M.store(
        machine::find_by_thread(me).map_or(-1, |m| m.id),
        Ordering::SeqCst,
    );
    if MONITOR.load(Ordering::SeqCst) == 0 {
        // No sysmon to write the dump yet: the default action.
        // SAFETY: plain sigaction/raise calls, async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = libc::SIG_DFL;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGQUIT, &sa, ptr::null_mut());
            libc::raise(libc::SIGQUIT);
        }
        return;
    }
    QUIT.store(true, Ordering::SeqCst);
    crate::sched::sysmon::wake_sysmon();
}

/// Installs the SIGQUIT dump (program mode, or `GORT_DEBUG=sigquit=1`),
/// unless the host installed a handler of its own. An ignored SIGQUIT (a
/// shell's background job inherits that) is taken over, as Go does.
pub(crate) fn install_sigquit() {
    // SAFETY: sigaction structs are plain data (zeroed is valid); the
    // query and the installation are plain sigaction calls.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGQUIT, ptr::null(), &mut old) != 0
            || (old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN)
        {
            return;
        }
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = quit_handler as *const () as libc::sighandler_t;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGQUIT, &sa, ptr::null_mut());
    }
}

struct Overflow {
    g: &'static Goroutine,
    size: usize,
    sp: usize,
    lo: usize,
    hi: usize,
    /// A gort_call goroutine on a foreign thread's own stack.
    foreign: bool,
}

fn overflow(addr: usize, sp: usize) -> Option<Overflow> {
    // SAFETY: pthread_self reads the thread pointer; async-signal-safe.
    let me = unsafe { libc::pthread_self() } as u64;
    let Some(m) = machine::find_by_thread(me) else {
        return foreign_overflow(me, addr, sp);
    };
    // SAFETY: curg is the goroutine this very thread was running when it
    // faulted; its fields are owned by this thread, and goroutine records
    // are never freed.
    let g = unsafe { m.curg.load(Ordering::Relaxed).as_ref() }?;
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
        g,
        size: hi - usable_lo,
        sp,
        lo: usable_lo,
        hi,
        foreign: false,
    })
}

/// [`overflow`] on a thread that is not a runtime thread: an overflow only
/// while the thread is inside gort_call, of the stack learned at attach.
fn foreign_overflow(me: u64, addr: usize, sp: usize) -> Option<Overflow> {
    let slot = find_slot(me)?;
    // SAFETY: the slot's record is this very thread's attach record, freed
    // only by this thread after clearing the slot.
    let g = unsafe { slot.record.load(Ordering::Acquire).as_ref() }?;
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
        g,
        size: hi - lo,
        sp,
        lo,
        hi,
        foreign: true,
    })
}

impl Overflow {
    /// Go's report, with the goroutine's frames where they can be had (the
    /// walk reads only the usable stack; the report allocates, and if
    /// another report is under way only its first lines are written).
    fn print_and_exit(&self, regs: crate::unwind::Regs) -> ! {
        let mut w = crate::os::FixedBuf::new();
        w.s("fatal error: stack overflow\n\nruntime: goroutine ");
        w.dec(self.g.goid() as u64);
        w.s(" stack exceeds ");
        w.dec(self.size as u64);
        w.s("-byte limit\nruntime: sp=");
        w.hex(self.sp as u64);
        w.s(" stack=[");
        w.hex(self.lo as u64);
        w.s(", ");
        w.hex(self.hi as u64);
        w.s("]\n\n");
        crate::os::write_stderr(w.bytes());
        if crate::panic::begin_report() {
            let dump = crate::trace::crash_dump(self.g, regs, self.lo, self.hi, false);
            crate::os::write_stderr(dump.as_bytes());
        }
        crate::os::write_stderr(if self.foreign {
            b"(gort_call runs on the calling thread's own stack: give that thread a larger one)\n"
        } else {
            b"(set GORT_STACK_SIZE for larger goroutine stacks)\n"
        });
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
