//! Goroutine contexts: the stack switch between an M's scheduler stack
//! (Go's g0) and a goroutine.
//!
//! # How a switch works
//!
//! A suspended context is one word, its saved stack pointer. At that
//! address lie the address to continue at and the callee-saved
//! registers that the compiler cannot be told to save (x86_64, from low
//! to high: continuation, rbx, rbp; aarch64: x29, x19, continuation, a
//! pad word). Every other callee-saved
//! register is declared clobbered by the switch, so the compiler keeps
//! only the live ones, in the frame that switches. [`switch`] pushes the
//! current context that way, stores its stack pointer, loads the other
//! one and *jumps* to its continuation.
//!
//! Both directions are the same code. Neither side uses `call`/`ret`
//! across stacks (Go's `gogo` does the same): a return whose target the
//! processor predicted from another stack's call is mispredicted, and
//! a switch built on call/ret (one per direction) costs two such misses,
//! about a third of a `gort_gosched` round. With jumps, the processor's
//! return-address predictor sees only each stack's own calls.
//!
//! A new context's stack holds the entry trampoline's address
//! ([`STACK_BOTTOM`]) and the goroutine, so the first switch into it
//! lands on the trampoline, which calls [`goroutine_main`] with the frame
//! chain ended (a zero frame pointer, and call-frame information marking
//! the return address undefined): debuggers and the dumps' walker stop
//! there.
//!
//! # Invariants
//!
//! - A context is resumed only by the M that owns its goroutine (status
//!   RUNNING), and only while suspended: `sp` is then a value [`switch`]
//!   stored, or the initial frame [`Coro::new`] wrote.
//! - `parent_sp` is valid while the goroutine runs: the scheduler stack
//!   that resumed it, suspended inside [`Coro::resume`].
//! - A goroutine that suspended with [`Action::Exit`] is never resumed;
//!   its stack gets a fresh initial frame before it runs anything again.
//! - With the `sanitizer` feature, every switch is bracketed by
//!   AddressSanitizer's `__sanitizer_start_switch_fiber` /
//!   `__sanitizer_finish_switch_fiber`, and a stack is unpoisoned when a
//!   new goroutine gets it (the frames of the last one were abandoned).

use std::cell::Cell;

use crate::sched::{Action, GRef};
use crate::stack::GStack;

/// A goroutine's stack and switch state. The cells are read and written
/// only by the thread that runs the goroutine or resumes it (module
/// invariants), which is why shared references suffice on both sides.
pub(crate) struct Coro {
    stack: GStack,
    /// Saved stack pointer of the goroutine while it is suspended.
    sp: Cell<usize>,
    /// Saved stack pointer of the scheduler stack that resumed it.
    parent_sp: Cell<usize>,
    #[cfg(feature = "sanitizer")]
    asan: asan::State,
}

impl Coro {
    /// A context that will run `goroutine_main(gp)` on `stack` when first
    /// resumed.
    pub(crate) fn new(stack: GStack, gp: GRef) -> Coro {
        let top = stack.high();
        debug_assert_eq!(top % 16, 0);
        #[cfg(feature = "sanitizer")]
        asan::unpoison(stack.high() - stack.size(), stack.size());
        let frame = initial_frame(gp.as_ptr() as usize);
        let sp = top - std::mem::size_of_val(&frame);
        // SAFETY: the frame goes at the top of a stack this value owns and
        // nothing runs on (module invariants); sp is word aligned.
        unsafe { (sp as *mut [usize; INITIAL_WORDS]).write(frame) };
        Coro {
            stack,
            sp: Cell::new(sp),
            parent_sp: Cell::new(0),
            #[cfg(feature = "sanitizer")]
            asan: asan::State::default(),
        }
    }

    /// Gives the stack back (the goroutine ended or never ran).
    pub(crate) fn into_stack(self) -> GStack {
        self.stack
    }

    /// Runs the goroutine until it switches out; returns what it asked.
    ///
    /// # Safety
    /// Called on a scheduler stack by the M that owns the goroutine, which
    /// is suspended and not exited (module invariants).
    #[inline(always)]
    pub(crate) unsafe fn resume(&self) -> Action {
        debug_assert!(
            self.sp.get() > self.stack.high() - self.stack.size()
                && self.sp.get() < self.stack.high(),
            "a goroutine context saved outside its stack"
        );
        #[cfg(feature = "sanitizer")]
        let mut fake: *mut std::ffi::c_void = std::ptr::null_mut();
        #[cfg(feature = "sanitizer")]
        asan::start(
            &mut fake,
            self.stack.high() - self.stack.size(),
            self.stack.size(),
        );
        // SAFETY: the caller's contract; parent_sp is where the goroutine
        // will find us, sp its own suspended context.
        let asked = unsafe { switch(self.parent_sp.as_ptr(), self.sp.get(), (0, 0)) };
        #[cfg(feature = "sanitizer")]
        asan::finish(fake, None);
        decode(asked)
    }

    /// Switches the running goroutine (the caller) out to the scheduler
    /// stack that resumed it, asking for `action`. Returns when the
    /// goroutine is resumed again (never after [`Action::Exit`]).
    ///
    /// # Safety
    /// Must run on this context's goroutine.
    #[inline(always)]
    pub(crate) unsafe fn suspend(&self, action: Action) {
        #[cfg(feature = "sanitizer")]
        {
            let (lo, size) = self.asan.parent.get();
            let mut fake = self.asan.fake.get();
            let save = if matches!(action, Action::Exit) {
                None
            } else {
                Some(&mut fake)
            };
            asan::start_opt(save, lo, size);
            self.asan.fake.set(fake);
        }
        // SAFETY: the caller's contract: we run on this goroutine, and
        // parent_sp holds the scheduler stack that resumed it.
        unsafe { switch(self.sp.as_ptr(), self.parent_sp.get(), encode(action)) };
        #[cfg(feature = "sanitizer")]
        asan::finish(self.asan.fake.get(), Some(&self.asan.parent));
    }
}

/// An [`Action`] as the two words a switch carries in registers: the
/// unlock callback (never 0 or 1) and its data for a park, 0 for a yield,
/// 1 for an exit.
#[inline(always)]
fn encode(action: Action) -> (usize, usize) {
    match action {
        Action::Yield => (0, 0),
        Action::Exit => (1, 0),
        Action::Park { unlock, data } => (unlock as usize, data as usize),
    }
}

/// The inverse of [`encode`].
#[inline(always)]
fn decode(words: (usize, usize)) -> Action {
    match words.0 {
        0 => Action::Yield,
        1 => Action::Exit,
        f => Action::Park {
            // SAFETY: encode stored an UnlockFn there.
            unlock: unsafe { std::mem::transmute::<usize, crate::sched::UnlockFn>(f) },
            data: words.1 as *mut (),
        },
    }
}

/// The first code every goroutine runs, called by the entry trampoline
/// on the goroutine's own stack. Never returns.
extern "C" fn goroutine_main(gp: *mut crate::sched::Goroutine) -> ! {
    #[cfg(feature = "sanitizer")]
    {
        // SAFETY: gp is the goroutine this stack belongs to; its context
        // exists (it is being resumed) and is only read through cells.
        if let Some(coro) = unsafe { (*(*gp).coro.get()).as_ref() } {
            asan::finish(std::ptr::null_mut(), Some(&coro.asan.parent));
        }
    }
    // SAFETY: the trampoline passes the live goroutine that owns this
    // stack, as written by Coro::new.
    unsafe { crate::sched::goroutine_body(GRef::from_ptr(gp)) }
}

/// Saves the running context at `*save` and continues the suspended one
/// whose stack pointer is `to`, handing it `words`; returns the words
/// handed over by whoever resumes this context.
///
/// # Safety
/// `to` is a suspended context (module invariants) that nothing else
/// resumes; `save` stays valid until something resumes this context.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn switch(save: *mut usize, to: usize, words: (usize, usize)) -> (usize, usize) {
    let (got0, got1): (usize, usize);
    // SAFETY: the caller's contract. rdx and rcx pass through untouched.
    // The block restores rbx and rbp itself and declares every other
    // register clobbered, so the compiler keeps what is live; it may push
    // below rsp (no `nostack`).
    unsafe {
        std::arch::asm!(
            "push rbp",
            "push rbx",
            "lea rax, [rip + 2f]",
            "push rax",
            "mov [rdi], rsp",
            "mov rsp, rsi",
            "pop rax",
            "jmp rax",
            "2:",
            "pop rbx",
            "pop rbp",
            in("rdi") save,
            in("rsi") to,
            inlateout("rdx") words.0 => got0,
            inlateout("rcx") words.1 => got1,
            lateout("r12") _, lateout("r13") _, lateout("r14") _, lateout("r15") _,
            clobber_abi("C"),
        )
    }
    (got0, got1)
}

/// A new context's initial frame, from its stack pointer up: the
/// trampoline's address (popped and jumped to by [`switch`]) and the
/// goroutine. Two words keep the stack 16-byte aligned.
#[cfg(target_arch = "x86_64")]
fn initial_frame(gp: usize) -> [usize; INITIAL_WORDS] {
    [goroutine_start as *const () as usize, gp]
}

// The entry trampoline: [rsp] is the goroutine (the switch popped the
// trampoline's address). It ends the frame chain and calls
// goroutine_main(gp) with an aligned stack.
#[cfg(target_arch = "x86_64")]
std::arch::global_asm!(
    ".pushsection .text.gort_coro,\"ax\",@progbits",
    ".p2align 4",
    ".hidden __gortrt_goroutine_start",
    ".globl __gortrt_goroutine_start",
    ".type __gortrt_goroutine_start,@function",
    "__gortrt_goroutine_start:",
    ".cfi_startproc",
    ".cfi_undefined rip",
    "xor ebp, ebp",
    "mov rdi, [rsp]",
    "and rsp, -16",
    "call {main}",
    "ud2",
    ".cfi_endproc",
    ".size __gortrt_goroutine_start, . - __gortrt_goroutine_start",
    ".popsection",
    main = sym goroutine_main,
);

/// aarch64: as on x86_64, with a 32-byte record: x29, x19, the address
/// to continue at, and a pad. The continuation is reached with `br`, which
/// the return-address predictor ignores.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
unsafe fn switch(save: *mut usize, to: usize, words: (usize, usize)) -> (usize, usize) {
    let (got0, got1): (usize, usize);
    // SAFETY: as for x86_64 (x4 and x5 pass through): x19 and x29 are
    // restored by the block, every other register is declared clobbered
    // (x30 by the ABI clobber).
    unsafe {
        std::arch::asm!(
            "adr x2, 2f",
            "stp x29, x19, [sp, #-32]!",
            "str x2, [sp, #16]",
            "mov x3, sp",
            "str x3, [x0]",
            "mov sp, x1",
            "ldr x2, [sp, #16]",
            "br x2",
            "2:",
            "ldp x29, x19, [sp], #32",
            in("x0") save,
            in("x1") to,
            inlateout("x4") words.0 => got0,
            inlateout("x5") words.1 => got1,
            lateout("x20") _, lateout("x21") _, lateout("x22") _, lateout("x23") _,
            lateout("x24") _, lateout("x25") _, lateout("x26") _, lateout("x27") _,
            lateout("x28") _,
            clobber_abi("C"),
        )
    }
    (got0, got1)
}

/// aarch64: the record [`switch`] pops (x29, x19, continuation, pad),
/// with the goroutine in x19's slot.
#[cfg(target_arch = "aarch64")]
fn initial_frame(gp: usize) -> [usize; INITIAL_WORDS] {
    [0, gp, goroutine_start as *const () as usize, 0]
}

// aarch64 trampoline: sp points at the initial record; x19's slot holds
// the goroutine.
#[cfg(target_arch = "aarch64")]
std::arch::global_asm!(
    ".pushsection .text.gort_coro,\"ax\",@progbits",
    ".p2align 4",
    ".hidden __gortrt_goroutine_start",
    ".globl __gortrt_goroutine_start",
    ".type __gortrt_goroutine_start,@function",
    "__gortrt_goroutine_start:",
    ".cfi_startproc",
    ".cfi_undefined x30",
    "ldr x0, [sp, #8]",
    "add sp, sp, #32",
    "mov x29, #0",
    "mov x30, #0",
    "bl {main}",
    "brk #1",
    ".cfi_endproc",
    ".size __gortrt_goroutine_start, . - __gortrt_goroutine_start",
    ".popsection",
    main = sym goroutine_main,
);

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("gort switches stacks on x86_64 and aarch64 only");

extern "C" {
    // The entry trampoline (global_asm above); its address is the first
    // continuation of every new context.
    #[link_name = "__gortrt_goroutine_start"]
    fn goroutine_start();
}

/// Words in a new context's initial frame.
#[cfg(target_arch = "x86_64")]
const INITIAL_WORDS: usize = 2;
#[cfg(target_arch = "aarch64")]
const INITIAL_WORDS: usize = 4;

/// The symbol of the first frame of every goroutine stack: a walk ends
/// there.
pub(crate) const STACK_BOTTOM: &str = "__gortrt_goroutine_start";

#[cfg(feature = "sanitizer")]
mod asan {
    //! AddressSanitizer's fiber hooks (provided by the ASan runtime that
    //! a program built with -fsanitize=address links).
    use std::cell::Cell;
    use std::ffi::c_void;
    use std::ptr;

    extern "C" {
        fn __sanitizer_start_switch_fiber(
            save: *mut *mut c_void,
            bottom: *const c_void,
            size: usize,
        );
        fn __sanitizer_finish_switch_fiber(
            save: *mut c_void,
            bottom_old: *mut *const c_void,
            size_old: *mut usize,
        );
        fn __asan_unpoison_memory_region(addr: *const c_void, size: usize);
    }

    /// A goroutine's ASan fiber state.
    #[derive(Default)]
    pub(super) struct State {
        /// The fake stack ASan saved when the goroutine last switched out.
        pub(super) fake: Cell<usize>,
        /// Bounds of the scheduler stack that last resumed the goroutine.
        pub(super) parent: Cell<(usize, usize)>,
    }

    pub(super) fn start(save: &mut *mut c_void, lo: usize, size: usize) {
        // SAFETY: plain ASan bookkeeping call with a valid out pointer.
        unsafe { __sanitizer_start_switch_fiber(save, lo as *const c_void, size) };
    }

    pub(super) fn start_opt(save: Option<&mut usize>, lo: usize, size: usize) {
        let p = match save {
            Some(s) => s as *mut usize as *mut *mut c_void,
            None => ptr::null_mut(),
        };
        // SAFETY: as in start; null tells ASan the fiber ends for good.
        unsafe { __sanitizer_start_switch_fiber(p, lo as *const c_void, size) };
    }

    pub(super) fn finish(fake: impl Into<FakeStack>, from: Option<&Cell<(usize, usize)>>) {
        let mut lo: *const c_void = ptr::null();
        let mut size = 0usize;
        // SAFETY: fake is what start saved for this context (or null for
        // a first entry); the out pointers are valid locals.
        unsafe { __sanitizer_finish_switch_fiber(fake.into().0, &mut lo, &mut size) };
        if let Some(f) = from {
            f.set((lo as usize, size));
        }
    }

    /// A fake-stack pointer, from either representation.
    pub(super) struct FakeStack(*mut c_void);
    impl From<*mut c_void> for FakeStack {
        fn from(p: *mut c_void) -> Self {
            FakeStack(p)
        }
    }
    impl From<usize> for FakeStack {
        fn from(p: usize) -> Self {
            FakeStack(p as *mut c_void)
        }
    }

    pub(super) fn unpoison(lo: usize, size: usize) {
        // SAFETY: the range is a stack this thread owns and nothing runs on.
        unsafe { __asan_unpoison_memory_region(lo as *const c_void, size) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe fn unlock(_: GRef, _: *mut ()) -> bool {
        true
    }

    #[test]
    fn actions_survive_the_registers() {
        assert!(matches!(decode(encode(Action::Yield)), Action::Yield));
        assert!(matches!(decode(encode(Action::Exit)), Action::Exit));
        let data = 0x1234usize as *mut ();
        match decode(encode(Action::Park { unlock, data })) {
            Action::Park { unlock: u, data: d } => {
                assert_eq!(u as usize, unlock as crate::sched::UnlockFn as usize);
                assert_eq!(d, data);
            }
            _ => panic!("a park decoded as something else"),
        }
    }
}
