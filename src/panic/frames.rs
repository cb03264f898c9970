//! Frames and deferred calls: opening and closing a frame (a goroutine's
//! entry, `gort_call`, `gort_pcall`), pushing deferred calls and running
//! them when the frame's function returns, and `gort_goexit`'s run of all
//! of them.
//!
//! # Frames and deferred calls
//!
//! A goroutine's entry function, `gort_call`, `gort_main`'s main function
//! and every `gort_pcall` open a *frame*. The entry frame is implicit (the
//! bottom of the goroutine); each of the others is a `Frame` record in
//! the stack frame of the function that opened it, which calls the
//! frame's boundary (module `frame`) and so outlives it (on x86_64,
//! `gort_pcall`'s common case is one assembly function that is opener,
//! boundary and body at once, with the record in its own frame), linked from
//! `PanicState::top` to the next frame outside: opening or closing a
//! frame allocates nothing and writes a few words. `gort_defer` pushes
//! onto the goroutine's one stack of deferred calls (`PanicState::defers`,
//! a buffer the goroutine record keeps for its life, so a push allocates
//! only when it outgrows every earlier one); a frame owns the calls pushed
//! since it opened (`defer_base`). When the frame's function returns they
//! run last-in first-out.
//!
//! The entry points find the goroutine through the thread's running-
//! goroutine slot (module `sched::running`), one load from thread-local
//! storage; `gort_pcall` hands it to its frame, whose body reads nothing
//! thread-local after the user's function (which may have moved the
//! goroutine to another thread).
//!
//! # Invariants
//!
//! - A frame record is linked (made the innermost) by its body, inside
//!   its boundary's trampoline, and unlinked by the body once its function
//!   and deferred calls returned; otherwise it is left by a jump to its
//!   boundary or one outside it (module `panics`), released by a thread
//!   exit (module `foreign_unwind`), or dropped with the whole list
//!   (`gort_goexit`, the end of a foreign thread's call).
//! - The state is never borrowed across a user callback: a frame's body
//!   reads its record again after each call (the callback may have moved
//!   the goroutine to another thread, never to another state).

use std::ffi::{c_char, c_void};
use std::mem::MaybeUninit;
use std::ptr;

use super::state::{current, st, Frame, FrameKind, PanicState};
#[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
use super::state::{Deferred, PS_COLD, PS_DEFERS_LEN, PS_DEFERS_PTR, PS_DEPTH, PS_TOP};
use crate::foreign::InitGate;
use crate::frame::{self, JumpBuf};
use crate::sched::{GoFunc, Goroutine};

/// `gort_defer`: pushes `f(arg)` onto the innermost open frame; false
/// (nothing pushed) outside a goroutine.
#[inline(always)]
pub(crate) fn try_defer(f: GoFunc, arg: *mut c_void) -> bool {
    match current() {
        Some(g) => {
            // SAFETY: our own state; no callback runs while it is borrowed.
            unsafe { (*st(g)).push_defer(f, arg) };
            true
        }
        None => false,
    }
}

/// Pops the innermost deferred call (the one the caller pushed) and runs it.
pub(crate) fn pop_and_run_defer() {
    if let Some(g) = current() {
        // SAFETY: our own state; released before the call.
        let d = unsafe { (*st(g)).defers.pop() };
        if let Some((f, a)) = d {
            // SAFETY: running a deferred call is the contract of defer.
            unsafe { f(a as *mut c_void) };
        }
    }
}

/// Pops the innermost deferred call if the frame starting at `base` still
/// has one.
#[inline]
pub(super) fn pop_defer_above(s: *mut PanicState, base: usize) -> Option<(GoFunc, usize)> {
    // SAFETY: `s` is the running goroutine's own state, not borrowed
    // across a user callback (the borrow ends here).
    let s = unsafe { &mut *s };
    if s.defers.len() > base {
        s.defers.pop()
    } else {
        None
    }
}

/// Runs the deferred calls above `base` as on a normal return; `s` is the
/// running goroutine's state. Not inlined: a frame's body then keeps only
/// its record across the call of its function.
#[inline(never)]
pub(super) fn run_defers_to(s: *mut PanicState, base: usize) {
    // SAFETY: our own state, not borrowed across the calls.
    let saved = unsafe { std::mem::replace(&mut (*s).panic_defer_depth, 0) };
    while let Some((f, a)) = pop_defer_above(s, base) {
        // SAFETY: running a deferred call is the contract of gort_defer.
        unsafe { f(a as *mut c_void) };
    }
    // SAFETY: our own state, not borrowed across a user callback.
    unsafe { (*s).panic_defer_depth = saved };
}

/// The entry frame returned: runs every deferred call of the goroutine.
pub(crate) fn run_entry_defers() {
    if let Some(g) = current() {
        // SAFETY: our own state.
        if unsafe { !(*st(g)).defers.is_empty() } {
            run_defers_to(st(g), 0);
        }
    }
}

/// `gort_goexit` on a goroutine: runs every deferred call (all frames;
/// pcall does not stop it), then the caller ends the goroutine.
pub(crate) fn goexit_defers(g: &Goroutine) {
    run_defers_to(st(g), 0);
    // SAFETY: our own state; the goroutine never returns to its frames.
    unsafe { (*st(g)).top = std::ptr::null_mut() };
}

/// Runs a goroutine's entry function `f(arg)`, then the entry frame's
/// deferred calls, behind the entry guard (module `frame`), which turns a
/// C++ exception or a thread exit that would leave them into a fatal
/// error.
///
/// # Safety
/// On a goroutine, at the bottom of its stack; `f` must be safe to call
/// with `arg`.
pub(crate) unsafe fn run_entry(f: Option<GoFunc>, arg: *mut c_void) {
    struct Entry {
        f: Option<GoFunc>,
        arg: *mut c_void,
    }
    unsafe extern "C" fn body(ctx: *mut c_void) {
        // SAFETY: `run_entry` passes its Entry, alive for the call.
        let e = unsafe { &*(ctx as *const Entry) };
        if let Some(f) = e.f {
            // SAFETY: the contract of run_entry.
            unsafe { f(e.arg) };
        }
        // The entry frame returned: its deferred calls run now.
        run_entry_defers();
    }
    let mut e = Entry { f, arg };
    // SAFETY: body follows the guard's contract with its Entry.
    unsafe { frame::guarded_call(body, &mut e as *mut Entry as *mut c_void) };
}

/// Makes `fr`, whose boundary's buffer is `jb`, the innermost frame of its
/// goroutine; `fr.prev` is the innermost frame so far.
///
/// # Safety
/// `fr` is a frame record that stays alive until it is unlinked (it lives
/// in a caller of the boundary of `jb`), and the running goroutine owns
/// `fr.st`.
#[inline(always)]
pub(super) unsafe fn link(fr: *mut Frame, jb: *const JumpBuf) {
    // SAFETY: per the contract; nothing else is borrowed.
    unsafe {
        let s = (*fr).st;
        debug_assert!(ptr::eq((*fr).prev, (*s).top), "frame opened out of order");
        (*fr).jb = MaybeUninit::new(jb);
        (*s).top = fr;
    }
}

/// Removes `fr`, the innermost frame, from its goroutine's list.
///
/// # Safety
/// As for [`link`], with `fr` linked and innermost.
#[inline(always)]
pub(super) unsafe fn unlink(fr: *mut Frame) {
    // SAFETY: per the contract.
    unsafe {
        let s = (*fr).st;
        debug_assert!(ptr::eq((*s).top, fr), "frame records out of order");
        (*s).top = (*fr).prev;
    }
}

/// The body of a pcall or gort_call frame: links the frame, runs its
/// function, then its deferred calls.
unsafe extern "C" fn frame_body(
    ctx: *mut c_void,
    jb: *const JumpBuf,
    f: usize,
    arg: usize,
) -> isize {
    let fr = ctx as *mut Frame;
    // SAFETY: `open_frame` passes a GoFunc as `f`.
    let f = unsafe { std::mem::transmute::<usize, GoFunc>(f) };
    // SAFETY: `open_frame` passes its live Frame, whose goroutine runs this
    // and owns `st`; the state is not borrowed across the user's calls and
    // is read again after them (they may change the thread, not the state).
    unsafe {
        link(fr, jb);
        f(arg as *mut c_void);
        if (*(*fr).st).defers.len() > (*fr).defer_base {
            // As run_defers_to, keeping nothing in registers across the
            // calls but `fr`. The depth is 0 unless a panic is running
            // deferred calls: then there is nothing to save, and 0 is
            // what run_defers_to would restore.
            if (*(*fr).st).panic_defer_depth == 0 {
                run_frame_defers(fr);
                (*(*fr).st).panic_defer_depth = 0;
            } else {
                run_frame_defers_in_panic(fr);
            }
        }
        unlink(fr);
    }
    0
}

/// Runs the deferred calls of `fr` (it has at least one), reading the
/// record again after each.
///
/// # Safety
/// As in `frame_body`.
#[inline(always)]
unsafe fn run_frame_defers(fr: *mut Frame) {
    // SAFETY: per the contract; the state is not borrowed across a call.
    unsafe {
        let mut d = (*(*fr).st).defers.pop();
        while let Some((f, a)) = d {
            f(a as *mut c_void);
            d = pop_defer_above((*fr).st, (*fr).defer_base);
        }
    }
}

/// [`run_frame_defers`] for a frame returning inside a deferred call that a
/// panic runs: its own deferred calls cannot recover that panic. C ABI:
/// `__gortrt_pcall` calls it too.
///
/// # Safety
/// As in `frame_body`.
#[cold]
#[inline(never)]
unsafe extern "C" fn run_frame_defers_in_panic(fr: *mut Frame) {
    // SAFETY: per the contract; the state is not borrowed across a call.
    unsafe {
        let s = (*fr).st;
        (*fr).saved_depth = MaybeUninit::new(std::mem::replace(&mut (*s).panic_defer_depth, 0));
        run_frame_defers(fr);
        (*(*fr).st).panic_defer_depth = (*fr).saved_depth.assume_init();
    }
}

/// Runs `f(arg)` in a new frame of kind `kind` on `g`, the calling
/// goroutine (or foreign thread inside gort_call). Returns 0 if `f`
/// returned or a deferred call of this frame recovered a panic, 1 if a
/// pcall frame recovered a panic itself (its message copied to `msg`).
///
/// # Safety
/// `g` is the running goroutine; `f` must be safe to call with `arg`;
/// `msg` is NULL or writable for `msglen` bytes.
#[inline(always)]
pub(crate) unsafe fn open_frame(
    g: &Goroutine,
    kind: FrameKind,
    f: GoFunc,
    arg: *mut c_void,
    msg: *mut c_char,
    msglen: usize,
) -> i32 {
    let s = st(g);
    let mut fr = Frame {
        st: s,
        kind,
        msg,
        msglen,
        // SAFETY: our own state, not borrowed.
        prev: unsafe { (*s).top },
        // SAFETY: as above.
        defer_base: unsafe { (*s).defers.len() },
        // SAFETY: as above.
        panic_base: unsafe { (*s).panics().len() },
        // SAFETY: as above.
        depth_at_open: unsafe { (*s).panic_defer_depth },
        jb: MaybeUninit::uninit(),
        saved_depth: MaybeUninit::uninit(),
    };
    // SAFETY: frame_body follows the trampoline's contract with its Frame,
    // which outlives the trampoline.
    unsafe {
        frame::run(
            frame_body,
            &mut fr as *mut Frame as *mut c_void,
            f as usize,
            arg as usize,
        ) as i32
    }
}

/// `gort_pcall`: a pcall frame on the running goroutine, or on a foreign
/// thread outside gort_call, which waits for init (`init_gate`, handed
/// down by the C entry point: see [`InitGate`]) and becomes a goroutine
/// for the call.
///
/// On x86_64 the common case (a goroutine that is not panicking and never
/// did since its record was reset) is one assembly function that is at
/// once the frame's opener, boundary and body (see `__gortrt_pcall`
/// below); every other case goes to [`pcall_slow`].
///
/// # Safety
/// As for [`open_frame`].
#[inline(always)]
pub(crate) unsafe fn pcall(
    f: GoFunc,
    arg: *mut c_void,
    msg: *mut c_char,
    msglen: usize,
    init_gate: InitGate,
) -> i32 {
    #[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
    {
        // The gate is a pointer-sized Rust function pointer that the
        // assembly passes on untouched, never calls.
        #[allow(improper_ctypes)]
        extern "C" {
            #[link_name = "__gortrt_pcall"]
            fn pcall_asm(
                f: GoFunc,
                arg: *mut c_void,
                msg: *mut c_char,
                msglen: usize,
                init_gate: InitGate,
            ) -> i32;
        }
        // SAFETY: forwarded contract; the assembly function takes the same
        // arguments as pcall_slow and goes there when it cannot finish.
        unsafe { pcall_asm(f, arg, msg, msglen, init_gate) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_pointer_width = "64")))]
    {
        // SAFETY: forwarded contract.
        unsafe { pcall_slow(f, arg, msg, msglen, init_gate) }
    }
}

/// [`pcall`] in every case (C ABI: `__gortrt_pcall` jumps here with its
/// arguments; the gate is passed on as the pointer it is).
///
/// # Safety
/// As for [`open_frame`].
#[allow(improper_ctypes_definitions)]
unsafe extern "C" fn pcall_slow(
    f: GoFunc,
    arg: *mut c_void,
    msg: *mut c_char,
    msglen: usize,
    init_gate: InitGate,
) -> i32 {
    match current() {
        // SAFETY: forwarded contract; g is the running goroutine.
        Some(g) => unsafe { open_frame(g, FrameKind::Pcall, f, arg, msg, msglen) },
        // SAFETY: forwarded contract.
        None => unsafe { crate::foreign::pcall_outside_call(f, arg, msg, msglen, init_gate) },
    }
}

/// Stack space of `__gortrt_pcall` below its six pushed registers: its
/// Frame record at the stack pointer and the boundary's buffer word at the
/// top (at rbp - 48, where module `frame`'s jump expects it), keeping the
/// stack pointer 16-byte aligned at its calls.
#[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
const PCALL_SPACE: usize = (std::mem::size_of::<Frame>() + 8 + 40).next_multiple_of(16) - 40;
#[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
const _: () = assert!(
    std::mem::size_of::<Deferred>() == 16
        && std::mem::size_of::<JumpBuf>() == 8
        && PCALL_SPACE >= std::mem::size_of::<Frame>() + 8
);

// `__gortrt_pcall(f, arg, msg, msglen, init_gate)`: gort_pcall's common
// case in one function (x86_64). It checks the running goroutine's slot
// (module `sched::running`) and that its state has no panic part and no
// panic running deferred calls, else it jumps to `pcall_slow` with its
// arguments untouched. Otherwise it does what `open_frame`, the
// trampoline of module `frame` and `frame_body` do together:
//
// - pushes rbp and the callee-saved registers in the order module
//   `frame`'s jump restores them from, and keeps the boundary's buffer
//   word at rbp - 48, so that a panic's jump to this frame lands as it
//   would on the trampoline;
// - builds the Frame record on its own stack (panic base and depth at
//   open 0: the checks above) and links it;
// - calls f(arg), then runs the frame's deferred calls as
//   `run_frame_defers` does (or, if a panic runs deferred calls by then,
//   `run_frame_defers_in_panic`), reading the record again after each;
// - unlinks the record and returns 0, without reloading the callee-saved
//   registers: the calls preserved them.
//
// Its call frame information names the boundaries' personality routine,
// as the trampoline's does.
#[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
std::arch::global_asm!(
    ".pushsection .text.gort_pcall,\"ax\",@progbits",
    ".p2align 4",
    ".hidden __gortrt_pcall",
    ".globl __gortrt_pcall",
    ".type __gortrt_pcall,@function",
    "__gortrt_pcall:",
    ".cfi_startproc",
    ".cfi_personality 0x9b, __gortrt_frame_personality_ref",
    "mov rax, qword ptr [rip + __gortrt_running@GOTTPOFF]",
    "mov rax, qword ptr fs:[rax]",
    "test rax, rax",
    "jz {slow}",
    "cmp qword ptr [rax + {g_panic} + {ps_cold}], 0",
    "jne {slow}",
    "cmp dword ptr [rax + {g_panic} + {ps_depth}], 0",
    "jne {slow}",
    crate::frame::boundary_prologue!(),
    "sub rsp, {space}",
    "lea r8, [rax + {g_panic}]",
    "mov qword ptr [rsp + {fr_st}], r8",
    "mov byte ptr [rsp + {fr_kind}], {kind_pcall}",
    "mov qword ptr [rsp + {fr_msg}], rdx",
    "mov qword ptr [rsp + {fr_msglen}], rcx",
    "mov rcx, qword ptr [r8 + {ps_top}]",
    "mov qword ptr [rsp + {fr_prev}], rcx",
    "mov rcx, qword ptr [r8 + {ps_len}]",
    "mov qword ptr [rsp + {fr_defer_base}], rcx",
    "mov qword ptr [rsp + {fr_panic_base}], 0",
    "mov dword ptr [rsp + {fr_depth_at_open}], 0",
    "lea rcx, [rbp - 48]",
    "mov qword ptr [rsp + {fr_jb}], rcx",
    "mov qword ptr [r8 + {ps_top}], rsp",
    "mov rax, rdi",
    "mov rdi, rsi",
    "call rax",
    "mov rax, qword ptr [rsp + {fr_st}]",
    "mov rcx, qword ptr [rax + {ps_len}]",
    "cmp rcx, qword ptr [rsp + {fr_defer_base}]",
    "ja 2f",
    "1:",
    "mov rcx, qword ptr [rsp + {fr_prev}]",
    "mov qword ptr [rax + {ps_top}], rcx",
    "xor eax, eax",
    ".cfi_remember_state",
    "leave",
    ".cfi_def_cfa rsp, 8",
    "ret",
    ".cfi_restore_state",
    // Deferred calls to run (rax: the state, rcx: its length).
    "2:",
    "cmp dword ptr [rax + {ps_depth}], 0",
    "jne 4f",
    "3:",
    "dec rcx",
    "mov qword ptr [rax + {ps_len}], rcx",
    "shl rcx, 4",
    "add rcx, qword ptr [rax + {ps_ptr}]",
    "mov rdi, qword ptr [rcx + {d_arg}]",
    "call qword ptr [rcx + {d_f}]",
    "mov rax, qword ptr [rsp + {fr_st}]",
    "mov rcx, qword ptr [rax + {ps_len}]",
    "cmp rcx, qword ptr [rsp + {fr_defer_base}]",
    "ja 3b",
    "mov dword ptr [rax + {ps_depth}], 0",
    "jmp 1b",
    "4:",
    "mov rdi, rsp",
    "call {in_panic}",
    "mov rax, qword ptr [rsp + {fr_st}]",
    "jmp 1b",
    ".cfi_endproc",
    ".size __gortrt_pcall, . - __gortrt_pcall",
    ".popsection",
    slow = sym pcall_slow,
    in_panic = sym run_frame_defers_in_panic,
    g_panic = const std::mem::offset_of!(Goroutine, panic),
    ps_cold = const PS_COLD,
    ps_top = const PS_TOP,
    ps_depth = const PS_DEPTH,
    ps_ptr = const PS_DEFERS_PTR,
    ps_len = const PS_DEFERS_LEN,
    space = const PCALL_SPACE,
    fr_st = const std::mem::offset_of!(Frame, st),
    fr_kind = const std::mem::offset_of!(Frame, kind),
    kind_pcall = const FrameKind::Pcall as u8,
    fr_msg = const std::mem::offset_of!(Frame, msg),
    fr_msglen = const std::mem::offset_of!(Frame, msglen),
    fr_prev = const std::mem::offset_of!(Frame, prev),
    fr_defer_base = const std::mem::offset_of!(Frame, defer_base),
    fr_panic_base = const std::mem::offset_of!(Frame, panic_base),
    fr_depth_at_open = const std::mem::offset_of!(Frame, depth_at_open),
    fr_jb = const std::mem::offset_of!(Frame, jb),
    d_f = const std::mem::offset_of!(Deferred, f),
    d_arg = const std::mem::offset_of!(Deferred, arg),
);
