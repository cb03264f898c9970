//! The goroutine whose frames run on this thread, in a thread-local slot
//! that the defer and frame entry points read without a call.
//!
//! `gort_defer` and `gort_pcall` must find the running goroutine's frames
//! on every call, and are cheap only if that costs a load or two. The
//! usual way, [`super::current_g`] (the M's thread-local, then its `curg`;
//! on a foreign thread, its record's thread-local and `in_call` after
//! that), costs up to two thread-locals and four loads; and a Rust
//! thread-local in position-independent code is a call to
//! `__tls_get_addr` as far as the compiler knows (the linker turns it into
//! a load only in an executable), so every caller saves its arguments
//! around it.
//!
//! # The slot
//!
//! One word per thread: the goroutine running on this runtime thread (null
//! on its scheduler stack), or this foreign thread's record while it is
//! inside `gort_call` (or a `gort_pcall` outside one), null otherwise. It
//! is written only by its own thread, where the state it mirrors changes:
//!
//! - `sched::execute` sets it to the goroutine it resumes and clears it
//!   when the goroutine switches back (the M's `curg` changes there too);
//! - `foreign::enter_call` sets it to the thread's record and
//!   `foreign::end_call` clears it (the record's `in_call` changes there).
//!
//! So it equals what `current_g()`, or else `foreign::current_call()`,
//! returns; module `panic` checks that in debug builds.
//!
//! # Migration (DESIGN.md trap 1)
//!
//! On x86_64 (64-bit pointers) the slot is read and written by inline assembly with the
//! initial-exec model: the slot's offset from the thread pointer is a
//! constant of the process (in the GOT; an executable's link turns it into
//! an immediate), and every read goes through `fs` again, so no thread's
//! address can be kept across a switch: a read after a switch finds the
//! new thread's slot. This makes the shared library ask for its
//! thread-local block (about 200 bytes) in static TLS (`DF_STATIC_TLS`, as
//! Go's own shared libraries do); glibc keeps a reserve for libraries
//! loaded with `dlopen` that do. Elsewhere the slot is a Rust
//! thread-local behind functions that are never inlined, as `current_m`
//! is.

use super::g::Goroutine;

#[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
std::arch::global_asm!(
    ".pushsection .tbss.__gortrt_running,\"awT\",@nobits",
    ".p2align 3",
    ".hidden __gortrt_running",
    ".globl __gortrt_running",
    ".type __gortrt_running,@object",
    ".size __gortrt_running, 8",
    "__gortrt_running:",
    ".zero 8",
    ".popsection",
);

/// The goroutine whose frames run on this thread, or null (module docs).
#[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
#[inline(always)]
pub(crate) fn get() -> *mut Goroutine {
    let g: *mut Goroutine;
    // SAFETY: reads this thread's slot, which every thread has (static
    // TLS); no memory is written and no stack used. Not `pure`: each read
    // happens where it is written, never merged across a call.
    unsafe {
        std::arch::asm!(
            "mov {g}, qword ptr [rip + __gortrt_running@GOTTPOFF]",
            "mov {g}, qword ptr fs:[{g}]",
            g = out(reg) g,
            options(nostack, readonly, preserves_flags),
        );
    }
    g
}

/// Sets this thread's slot (module docs: only where the state it mirrors
/// changes).
#[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
#[inline(always)]
pub(crate) fn set(g: *mut Goroutine) {
    // SAFETY: writes this thread's slot, which no one else reads or writes.
    unsafe {
        std::arch::asm!(
            "mov {t}, qword ptr [rip + __gortrt_running@GOTTPOFF]",
            "mov qword ptr fs:[{t}], {g}",
            t = out(reg) _,
            g = in(reg) g,
            options(nostack, preserves_flags),
        );
    }
}

#[cfg(not(all(target_arch = "x86_64", target_pointer_width = "64")))]
thread_local! {
    static RUNNING: std::cell::Cell<*mut Goroutine> =
        const { std::cell::Cell::new(std::ptr::null_mut()) };
}

/// The goroutine whose frames run on this thread, or null (module docs).
#[cfg(not(all(target_arch = "x86_64", target_pointer_width = "64")))]
#[inline(never)]
pub(crate) fn get() -> *mut Goroutine {
    RUNNING.with(|c| c.get())
}

/// Sets this thread's slot (module docs: only where the state it mirrors
/// changes).
#[cfg(not(all(target_arch = "x86_64", target_pointer_width = "64")))]
#[inline(never)]
pub(crate) fn set(g: *mut Goroutine) {
    RUNNING.with(|c| c.set(g));
}
