//! Frame boundaries that a recovered panic can return to (DESIGN.md trap 5).
//!
//! `gort_pcall` and `gort_call` open *frames*. When a panic is recovered
//! (or reaches a pcall), execution must continue as if the frame's function
//! had returned, skipping every C frame in between. We do that with a saved
//! context at the frame boundary, not by forced unwinding:
//!
//! - C frames have no destructors, so skipping them loses nothing;
//! - it works for C compiled without unwind tables, and does not depend on
//!   which unwinder the host program links;
//! - opening a frame costs one register save (a pcall of a no-op is a few
//!   nanoseconds), where unwinding costs microseconds per frame.
//!
//! [`run`] is a small assembly trampoline: it saves the callee-saved
//! registers on its own stack, marks where its stack pointer is with a
//! [`JumpBuf`] (on aarch64, which also holds the registers, the stack
//! pointer and a resume address), then calls `body(ctx, &jumpbuf, a, b)`
//! (it moves its first two arguments and leaves the next two in their
//! registers, so a caller hands two words to the body without storing
//! them). If the body returns, its value is returned (the body preserved
//! the callee-saved registers, so none is reloaded). [`jump`] restores the
//! caller's registers from the trampoline's frame and returns the given
//! value from it, so `run` returns that value to its caller instead. No
//! Rust function ever "returns twice": `run` returns normally either way.
//!
//! On x86_64 the jump relies only on the frame's layout: the buffer word
//! at rbp - 48 of a frame that pushed rbp, rbx, r12, r13, r14 and r15 in
//! this order right below its return address. `gort_pcall`'s fast path
//! (module `panic::frames`) is a boundary of that shape too.
//!
//! # Safety rules for jumping
//!
//! A jump abandons every frame between the panic and the trampoline. Those
//! are C frames and the runtime's own panic path, which holds no lock and
//! owns nothing that needs dropping when it jumps (module `panic`). The
//! buffer must belong to a `run` that is still active on the current
//! stack.
//!
//! # Unwinding
//!
//! The trampoline has call frame information (its callee-saved registers
//! keep their values until the body changes them, and the body's own
//! unwind tables say where it saved them), so unwinders can walk through
//! it, and it names a personality routine, `personality`. So does the
//! entry guard, [`guarded_call`], a frame with nothing else in it that
//! goroutine entry functions run behind. The platform unwinder calls the
//! routine before a C++ exception or a thread exit (`pthread_exit`,
//! cancellation) leaves either; module `panic` decides (a fatal error, or
//! releasing the frame of a foreign thread's call so that the thread may
//! exit). The routine reads nothing from the unwinder, so it works with
//! any unwinder (libgcc's, LLVM's, the private copy inside libgort.a).
//!
//! The decision needs the panic state of the goroutine, which is the
//! core's, a layer above this one: the routine only says what the unwind
//! is ([`ForeignUnwind`]) and calls the handler that module `panic`
//! installs when the runtime starts ([`set_unwind_handler`]), before any
//! frame can open. With no handler installed every foreign unwind is a
//! fatal error.

use std::ffi::{c_int, c_void};
use std::sync::OnceLock;

/// The function [`guarded_call`] runs: a goroutine's entry function
/// (`sched::GoFunc`).
pub(crate) type EntryFn = unsafe extern "C" fn(*mut c_void);

/// What an unwinder was told to do to a frame boundary (module docs,
/// *Unwinding*; module `panic::foreign_unwind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ForeignUnwind {
    /// An unforced unwind: a C++ exception (GCC's or Clang's exception
    /// class), or another language's.
    Exception {
        /// Whether the exception class is C++'s.
        cplusplus: bool,
    },
    /// A forced unwind: `pthread_exit` or thread cancellation.
    ThreadExit,
}

/// What a foreign unwind does to a frame (module docs): returns to let a
/// forced unwind go on, or ends the process.
pub(crate) type UnwindHandler = fn(ForeignUnwind);

static UNWIND_HANDLER: OnceLock<UnwindHandler> = OnceLock::new();

/// Installs the handler the personality routine calls (module docs); later
/// calls change nothing.
pub(crate) fn set_unwind_handler(h: UnwindHandler) {
    let _ = UNWIND_HANDLER.set(h);
}

/// A frame boundary's saved context: its address is where the stack
/// pointer resumes. On aarch64 it also holds the callee-saved registers,
/// the stack pointer and the resume address; on x86_64 the trampoline's
/// own pushes keep the registers and nothing more is needed.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct JumpBuf {
    #[cfg(target_arch = "x86_64")]
    regs: [usize; 1],
    #[cfg(target_arch = "aarch64")]
    regs: [usize; 22],
}

/// The body a frame runs: `body(ctx, jb, a, b)`, with `ctx`, `a` and `b` as
/// given to [`run`].
pub(crate) type Body =
    unsafe extern "C" fn(ctx: *mut c_void, jb: *const JumpBuf, a: usize, b: usize) -> isize;

extern "C" {
    #[link_name = "__gortrt_frame_run"]
    fn frame_run(body: Body, ctx: *mut c_void, a: usize, b: usize) -> isize;
    #[link_name = "__gortrt_frame_jump"]
    fn frame_jump(jb: *const JumpBuf, value: isize) -> !;
    #[link_name = "__gortrt_guarded_call"]
    fn guarded_call_asm(f: EntryFn, arg: *mut c_void);
}

// The unwinding interface's values (Itanium C++ ABI, Level I): actions
// passed to a personality routine and the code it returns.
const UA_FORCE_UNWIND: c_int = 8;
const URC_CONTINUE_UNWIND: c_int = 8;
/// The exception classes of GCC's and Clang's C++ runtimes, without the
/// last byte (0, or 1 for a dependent exception from rethrow_exception).
const CLASS_GNU_CXX: u64 = u64::from_be_bytes(*b"\0GNUCC++");
const CLASS_CLANG_CXX: u64 = u64::from_be_bytes(*b"\0CLNGC++");

/// The personality routine of the trampoline and the entry guard: the
/// platform unwinder calls it before an unwind leaves one of them (module
/// `panic`, *Foreign unwinding*). It calls no unwinder function, so it
/// works with whichever unwinder the host uses (libgcc, LLVM's).
///
/// In the search phase of an unforced unwind (a C++ exception) nothing has
/// been unwound yet: a fatal error. In a forced unwind (a thread exit) the
/// frame is released and the unwind goes on.
unsafe extern "C" fn personality(
    _version: c_int,
    actions: c_int,
    class: u64,
    _exception: *mut c_void,
    _context: *mut c_void,
) -> c_int {
    let what = if actions & UA_FORCE_UNWIND != 0 {
        ForeignUnwind::ThreadExit
    } else {
        // The search phase (the cleanup phase of an unforced unwind never
        // reaches a boundary whose search phase ended the process).
        let c = class >> 8;
        ForeignUnwind::Exception {
            cplusplus: c == CLASS_GNU_CXX || c == CLASS_CLANG_CXX,
        }
    };
    match UNWIND_HANDLER.get() {
        Some(h) => h(what),
        None => unhandled(what),
    }
    URC_CONTINUE_UNWIND
}

/// A foreign unwind with no handler installed (module docs).
#[cold]
fn unhandled(what: ForeignUnwind) -> ! {
    crate::fatal::fatal(match what {
        ForeignUnwind::Exception { cplusplus: true } => {
            "C++ exception unwound through a frame boundary"
        }
        ForeignUnwind::Exception { cplusplus: false } => {
            "foreign exception unwound through a frame boundary"
        }
        ForeignUnwind::ThreadExit => {
            "thread exit (pthread_exit or cancellation) unwound through a frame boundary"
        }
    })
}

/// The x86_64 prologue of a frame boundary (module docs): pushes rbp as
/// the frame pointer, with its call frame information, then the
/// callee-saved registers in the order `__gortrt_frame_jump` pops them.
/// Every boundary starts with it: the jump relies on this layout.
#[cfg(target_arch = "x86_64")]
macro_rules! boundary_prologue {
    () => {
        "push rbp
        .cfi_def_cfa_offset 16
        .cfi_offset rbp, -16
        mov rbp, rsp
        .cfi_def_cfa_register rbp
        push rbx
        push r12
        push r13
        push r14
        push r15"
    };
}
#[cfg(target_arch = "x86_64")]
pub(crate) use boundary_prologue;

// x86_64: the trampoline's own pushes keep the caller's callee-saved
// registers, so the buffer needs no copy of them: its address says where
// they are (module docs), and a jump pops them from there and returns.
#[cfg(target_arch = "x86_64")]
std::arch::global_asm!(
    ".pushsection .text.gort_frame,\"ax\",@progbits",
    ".p2align 4",
    ".hidden __gortrt_frame_run",
    ".globl __gortrt_frame_run",
    ".type __gortrt_frame_run,@function",
    "__gortrt_frame_run:",
    ".cfi_startproc",
    ".cfi_personality 0x9b, __gortrt_frame_personality_ref",
    boundary_prologue!(),
    // The JumpBuf, one word, at [rsp] = rbp - 48 (keeps rsp 16-aligned).
    "sub rsp, 8",
    // body(ctx, jb, a, b): rdx and rcx (a, b) are never touched.
    "mov rax, rdi",
    "mov rdi, rsi",
    "mov rsi, rsp",
    "call rax",
    // The body preserved the callee-saved registers: nothing to reload.
    "leave",
    ".cfi_def_cfa rsp, 8",
    "ret",
    ".cfi_endproc",
    ".size __gortrt_frame_run, . - __gortrt_frame_run",
    "",
    // The jump: the buffer is at rbp - 48 of a frame that pushed rbp,
    // rbx, r12, r13, r14, r15 in this order below its return address.
    ".p2align 4",
    ".hidden __gortrt_frame_jump",
    ".globl __gortrt_frame_jump",
    ".type __gortrt_frame_jump,@function",
    "__gortrt_frame_jump:",
    "mov rax, rsi",
    "lea rsp, [rdi + 8]",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "ret",
    ".size __gortrt_frame_jump, . - __gortrt_frame_jump",
    "",
    // The entry guard: a frame with the personality, nothing else.
    ".p2align 4",
    ".hidden __gortrt_guarded_call",
    ".globl __gortrt_guarded_call",
    ".type __gortrt_guarded_call,@function",
    "__gortrt_guarded_call:",
    ".cfi_startproc",
    ".cfi_personality 0x9b, __gortrt_frame_personality_ref",
    "push rbp",
    ".cfi_def_cfa_offset 16",
    ".cfi_offset rbp, -16",
    "mov rbp, rsp",
    ".cfi_def_cfa_register rbp",
    "mov rax, rdi",
    "mov rdi, rsi",
    "call rax",
    "pop rbp",
    ".cfi_def_cfa rsp, 8",
    "ret",
    ".cfi_endproc",
    ".size __gortrt_guarded_call, . - __gortrt_guarded_call",
    ".popsection",
);

#[cfg(target_arch = "aarch64")]
std::arch::global_asm!(
    ".pushsection .text.gort_frame,\"ax\",@progbits",
    ".p2align 4",
    ".hidden __gortrt_frame_run",
    ".globl __gortrt_frame_run",
    ".type __gortrt_frame_run,%function",
    "__gortrt_frame_run:",
    ".cfi_startproc",
    ".cfi_personality 0x9b, __gortrt_frame_personality_ref",
    "stp x29, x30, [sp, #-192]!",
    ".cfi_def_cfa_offset 192",
    ".cfi_offset x29, -192",
    ".cfi_offset x30, -184",
    "mov x29, sp",
    // JumpBuf at [sp + 16]: x19..x28, x29, sp, resume, d8..d15
    "stp x19, x20, [sp, #16]",
    "stp x21, x22, [sp, #32]",
    "stp x23, x24, [sp, #48]",
    "stp x25, x26, [sp, #64]",
    "stp x27, x28, [sp, #80]",
    "mov x9, sp",
    "stp x29, x9, [sp, #96]",
    "adr x10, 2f",
    "str x10, [sp, #112]",
    "stp d8, d9, [sp, #120]",
    "stp d10, d11, [sp, #136]",
    "stp d12, d13, [sp, #152]",
    "stp d14, d15, [sp, #168]",
    // body(ctx, jb, a, b): x2 and x3 (a, b) are never touched.
    "mov x9, x0",
    "mov x0, x1",
    "add x1, sp, #16",
    "blr x9",
    "2:",
    "ldp x19, x20, [sp, #16]",
    "ldp x21, x22, [sp, #32]",
    "ldp x23, x24, [sp, #48]",
    "ldp x25, x26, [sp, #64]",
    "ldp x27, x28, [sp, #80]",
    "ldp d8, d9, [sp, #120]",
    "ldp d10, d11, [sp, #136]",
    "ldp d12, d13, [sp, #152]",
    "ldp d14, d15, [sp, #168]",
    "ldp x29, x30, [sp], #192",
    ".cfi_def_cfa_offset 0",
    "ret",
    ".cfi_endproc",
    ".size __gortrt_frame_run, . - __gortrt_frame_run",
    "",
    ".p2align 4",
    ".hidden __gortrt_frame_jump",
    ".globl __gortrt_frame_jump",
    ".type __gortrt_frame_jump,%function",
    "__gortrt_frame_jump:",
    "ldp x19, x20, [x0]",
    "ldp x21, x22, [x0, #16]",
    "ldp x23, x24, [x0, #32]",
    "ldp x25, x26, [x0, #48]",
    "ldp x27, x28, [x0, #64]",
    "ldp x29, x9, [x0, #80]",
    "ldr x10, [x0, #96]",
    "ldp d8, d9, [x0, #104]",
    "ldp d10, d11, [x0, #120]",
    "ldp d12, d13, [x0, #136]",
    "ldp d14, d15, [x0, #152]",
    "mov sp, x9",
    "mov x0, x1",
    "br x10",
    ".size __gortrt_frame_jump, . - __gortrt_frame_jump",
    "",
    // The entry guard: a frame with the personality, nothing else.
    ".p2align 4",
    ".hidden __gortrt_guarded_call",
    ".globl __gortrt_guarded_call",
    ".type __gortrt_guarded_call,%function",
    "__gortrt_guarded_call:",
    ".cfi_startproc",
    ".cfi_personality 0x9b, __gortrt_frame_personality_ref",
    "stp x29, x30, [sp, #-16]!",
    ".cfi_def_cfa_offset 16",
    ".cfi_offset x29, -16",
    ".cfi_offset x30, -8",
    "mov x29, sp",
    "mov x9, x0",
    "mov x0, x1",
    "blr x9",
    "ldp x29, x30, [sp], #16",
    ".cfi_def_cfa_offset 0",
    ".cfi_restore x29",
    ".cfi_restore x30",
    "ret",
    ".cfi_endproc",
    ".size __gortrt_guarded_call, . - __gortrt_guarded_call",
    ".popsection",
);

// The personality routine's address, which the trampolines' unwind
// information names indirectly (DW_EH_PE_indirect | pcrel | sdata4, as
// compilers name theirs), so that no text relocation is needed.
std::arch::global_asm!(
    ".pushsection .data.rel.ro.gort_frame_personality,\"aw\",%progbits",
    ".p2align 3",
    ".hidden __gortrt_frame_personality_ref",
    ".globl __gortrt_frame_personality_ref",
    ".type __gortrt_frame_personality_ref,%object",
    "__gortrt_frame_personality_ref:",
    ".quad {personality}",
    ".size __gortrt_frame_personality_ref, 8",
    ".popsection",
    personality = sym personality,
);

/// Runs `body(ctx, jb, a, b)` behind a frame boundary; returns the body's
/// value, or the value given to [`jump`] with this frame's buffer.
///
/// # Safety
/// `body` must be safe to call with `ctx`, `a` and `b`.
#[inline]
pub(crate) unsafe fn run(body: Body, ctx: *mut c_void, a: usize, b: usize) -> isize {
    // SAFETY: the trampoline follows the C ABI, passes a and b on untouched
    // (x86_64: rdx, rcx; aarch64: x2, x3), and preserves callee-saved
    // registers on both of its return paths.
    unsafe { frame_run(body, ctx, a, b) }
}

/// Calls `f(arg)` behind the entry guard: a frame that only carries the
/// personality routine, so that a C++ exception or thread exit leaving
/// `f` is a fatal error instead of an unwind through the runtime.
///
/// # Safety
/// `f` must be safe to call with `arg`.
#[inline]
pub(crate) unsafe fn guarded_call(f: EntryFn, arg: *mut c_void) {
    // SAFETY: the guard follows the C ABI and calls f(arg) once.
    unsafe { guarded_call_asm(f, arg) }
}

/// Continues at the frame boundary whose buffer is `jb`, making its `run`
/// return `value`.
///
/// # Safety
/// `jb` belongs to a `run` still active on this thread's current stack,
/// and nothing on the frames being abandoned needs dropping.
pub(crate) unsafe fn jump(jb: *const JumpBuf, value: isize) -> ! {
    // AddressSanitizer keeps the redzones of the frames being abandoned
    // poisoned unless told, as its longjmp interceptor does.
    #[cfg(feature = "sanitizer")]
    {
        extern "C" {
            fn __asan_handle_no_return();
        }
        // SAFETY: ASan's own hook, linked with the ASan runtime (the
        // sanitizer feature is only for programs built with it).
        unsafe { __asan_handle_no_return() };
    }
    // SAFETY: per the contract.
    unsafe { frame_jump(jb, value) }
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" fn returns(
        ctx: *mut c_void,
        _jb: *const JumpBuf,
        a: usize,
        b: usize,
    ) -> isize {
        ctx as isize + 1 + (a * 1_000 + b * 1_000_000) as isize
    }

    #[inline(never)]
    unsafe fn deep(n: u32, jb: *const JumpBuf) {
        if n == 0 {
            // SAFETY: jb belongs to the active run in the test below.
            unsafe { jump(jb, 77) };
        }
        // SAFETY: recursion with the same contract.
        unsafe { deep(n - 1, jb) };
        std::hint::black_box(n);
    }

    unsafe extern "C" fn jumps(
        _ctx: *mut c_void,
        jb: *const JumpBuf,
        _a: usize,
        _b: usize,
    ) -> isize {
        // SAFETY: jb is ours; the frames in between own nothing.
        unsafe { deep(50, jb) };
        0
    }

    #[test]
    fn returns_or_jumps_back() {
        // SAFETY: the bodies follow the trampoline's contract.
        unsafe {
            assert_eq!(run(returns, 41 as *mut c_void, 2, 3), 3_002_042);
            for _ in 0..1000 {
                assert_eq!(run(jumps, std::ptr::null_mut(), 0, 0), 77);
            }
        }
    }
}
