//! A goroutine's panic state: its open frame records, deferred calls and
//! running panics ([`PanicState`], [`Frame`], [`PanicRec`]), and how the
//! entry points find the state of the running goroutine ([`current`],
//! [`st`]).
//!
//! # Ownership
//!
//! `PanicState` lives in its goroutine (or foreign record) and only that
//! goroutine touches it. User callbacks run in the middle of the
//! algorithms, and may defer, panic and recover themselves, so the state is
//! reached through a raw pointer and never borrowed across a callback.
//!
//! # Invariants
//!
//! - `PanicState::top` is null or the innermost linked [`Frame`]; each
//!   record's `prev` is the next frame outside (null: the entry frame).
//!   Records are linked and unlinked innermost first; a jump removes the
//!   records above its target together with their boundaries.
//! - The deferred calls at and above a frame's `defer_base` are the
//!   frame's; the panics at and above its `panic_base` were raised inside
//!   it.
//! - `panic_defer_depth` is the nesting of deferred calls a panic is
//!   running: `gort_recover` works only while it is not 0.

use std::ffi::{c_char, c_void, CString};
use std::mem::MaybeUninit;
use std::ptr;

use crate::frame::JumpBuf;
use crate::sched::{self, GoFunc, Goroutine};

/// What kind of boundary a frame record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum FrameKind {
    /// `gort_pcall`: recovers a panic that reaches it (returns 1).
    Pcall,
    /// `gort_call`: passes a panic that reaches it on to the frames
    /// outside it (at the bottom of a foreign thread's call there are none:
    /// the panic is reported).
    Call,
    /// The deferred calls of a frame that a thread exit is removing: a
    /// panic that they do not recover themselves is reported (it cannot
    /// reach the frames outside, which the exit has not reached yet).
    Exiting,
}

/// An open frame above the goroutine's entry frame (module `frames`,
/// *Frames and deferred calls*). It lives in the stack frame of the
/// function that opens it, which calls the frame's trampoline, and is in
/// its goroutine's list ([`PanicState::top`]) from the moment the body
/// links it until the frame ends, a jump leaves it, or the list is
/// cleared.
#[derive(Debug)]
pub(super) struct Frame {
    // Set by the opener.
    /// The state of the goroutine running the frame.
    pub(super) st: *mut PanicState,
    pub(super) kind: FrameKind,
    /// Where a pcall copies the message of a panic it recovers.
    pub(super) msg: *mut c_char,
    pub(super) msglen: usize,
    /// The next frame outside (null: the entry frame): the innermost one
    /// when this one opened.
    pub(super) prev: *mut Frame,
    /// The deferred calls at and above this index are the frame's.
    pub(super) defer_base: usize,
    /// The panics at and above this index were raised inside the frame:
    /// the ones it ends when it recovers one (earlier ones run on).
    pub(super) panic_base: usize,
    /// `panic_defer_depth` when the frame opened, restored when a panic
    /// returns to it (a pcall opened inside a deferred call that a panic
    /// runs is still inside that call).
    pub(super) depth_at_open: u32,
    // Set by the body (left uninitialised by the opener: a frame record
    // is read only once the body has linked it).
    /// The boundary's buffer.
    pub(super) jb: MaybeUninit<*const JumpBuf>,
    /// `panic_defer_depth` while the frame's deferred calls run on its
    /// return (they cannot recover a panic in progress outside).
    pub(super) saved_depth: MaybeUninit<u32>,
}

#[derive(Debug)]
pub(super) struct PanicRec {
    pub(super) msg: CString,
    pub(super) recovered: bool,
}

/// A goroutine's deferred calls, open frames and running panics.
#[derive(Debug)]
pub(crate) struct PanicState {
    /// The innermost open frame above the entry frame, or null.
    pub(super) top: *mut Frame,
    /// Deferred calls of every open frame, the innermost frame's last.
    pub(super) defers: DeferStack,
    /// The running panics and the last recovered message, allocated the
    /// first time the goroutine panics (most never do: the record stays
    /// small) and kept for the record's life.
    cold: Option<Box<Panics>>,
    /// Nesting of deferred calls being run by a panic (recover works
    /// only inside them).
    pub(super) panic_defer_depth: u32,
}

/// The part of [`PanicState`] that only panics use.
#[derive(Debug, Default)]
struct Panics {
    /// Running panics, the innermost last.
    running: Vec<PanicRec>,
    /// The message gort_recover last returned (kept alive for the caller).
    recovered: Option<CString>,
}

impl Default for PanicState {
    fn default() -> PanicState {
        PanicState::new()
    }
}

impl PanicState {
    /// Empty state.
    pub(crate) const fn new() -> PanicState {
        PanicState {
            top: std::ptr::null_mut(),
            defers: DeferStack::new(),
            cold: None,
            panic_defer_depth: 0,
        }
    }

    /// The running panics, the innermost last.
    #[inline]
    pub(super) fn panics(&self) -> &[PanicRec] {
        self.cold.as_ref().map_or(&[], |c| &c.running)
    }

    /// The innermost running panic, if any.
    pub(super) fn last_panic_mut(&mut self) -> Option<&mut PanicRec> {
        self.cold.as_mut().and_then(|c| c.running.last_mut())
    }

    /// The running panics, for a change (allocates the record's panic
    /// part the first time).
    pub(super) fn panics_mut(&mut self) -> &mut Vec<PanicRec> {
        &mut self.cold.get_or_insert_with(Box::default).running
    }

    /// Keeps `msg`, the message gort_recover returned, alive until the
    /// next recover (or the record's reuse).
    pub(super) fn set_recovered(&mut self, msg: Option<CString>) {
        self.cold.get_or_insert_with(Box::default).recovered = msg;
    }

    /// Pushes a deferred call; the copy into a larger buffer (rare: the
    /// buffer is kept for the goroutine record's life) is out of line.
    #[inline(always)]
    pub(super) fn push_defer(&mut self, f: GoFunc, arg: *mut c_void) {
        let d = &mut self.defers;
        if d.len == d.cap {
            return push_defer_grow(f, arg, self);
        }
        // SAFETY: len < cap: a slot of the buffer, unused.
        unsafe {
            d.ptr.add(d.len).write(Deferred {
                f,
                arg: arg as usize,
            })
        };
        d.len += 1;
    }

    /// Forgets frames, deferred calls and panics at the end of a gort_call
    /// (or a pcall outside one), but keeps the last recovered message:
    /// gort_recover's result stays valid until the thread's next recover.
    pub(crate) fn end_call(&mut self) {
        self.top = std::ptr::null_mut();
        self.defers.clear();
        if let Some(c) = &mut self.cold {
            c.running.clear();
        }
        self.panic_defer_depth = 0;
    }

    /// Forgets everything (the goroutine record is being recycled); keeps
    /// the buffer of deferred calls, frees the panic part (a record
    /// without one takes `gort_pcall`'s fast path: module `frames`).
    pub(crate) fn reset(&mut self) {
        self.top = std::ptr::null_mut();
        self.defers.clear();
        self.cold = None;
        self.panic_defer_depth = 0;
    }
}

/// Where the pcall trampoline (module `frames`) finds the state's parts:
/// offsets of the panic part (null while the goroutine never panicked
/// since its record was last reset: `Option<Box<_>>` is a nullable
/// pointer), the innermost frame, the panic depth and the deferred calls'
/// buffer and length.
#[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
pub(super) const PS_COLD: usize = std::mem::offset_of!(PanicState, cold);
#[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
pub(super) const PS_TOP: usize = std::mem::offset_of!(PanicState, top);
#[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
pub(super) const PS_DEPTH: usize = std::mem::offset_of!(PanicState, panic_defer_depth);
#[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
pub(super) const PS_DEFERS_PTR: usize =
    std::mem::offset_of!(PanicState, defers) + std::mem::offset_of!(DeferStack, ptr);
#[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
pub(super) const PS_DEFERS_LEN: usize =
    std::mem::offset_of!(PanicState, defers) + std::mem::offset_of!(DeferStack, len);
const _: () = assert!(std::mem::size_of::<Option<Box<Panics>>>() == std::mem::size_of::<usize>());

/// [`PanicState::push_defer`] when the buffer is full (arguments in the
/// order that leaves the caller's where they are).
#[cold]
#[inline(never)]
fn push_defer_grow(f: GoFunc, arg: *mut c_void, s: &mut PanicState) {
    s.defers.grow();
    s.push_defer(f, arg);
}

/// A deferred call: `f(arg)`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(super) struct Deferred {
    pub(super) f: GoFunc,
    pub(super) arg: usize,
}

/// A goroutine's stack of deferred calls: a vector's three words, with a
/// layout of our own so that the pcall trampoline (module `frames`) can
/// read its length and pop its top. The buffer is the global allocator's,
/// grown (and freed) by `Vec`.
///
/// Invariant: `ptr` and `cap` are those of a `Vec<Deferred>` (dangling and
/// 0 when nothing was ever pushed) whose first `len` elements are set.
#[repr(C)]
#[derive(Debug)]
pub(super) struct DeferStack {
    pub(super) ptr: *mut Deferred,
    pub(super) len: usize,
    cap: usize,
}

impl DeferStack {
    const fn new() -> DeferStack {
        DeferStack {
            ptr: ptr::NonNull::dangling().as_ptr(),
            len: 0,
            cap: 0,
        }
    }

    #[inline(always)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The innermost deferred call, taken off.
    #[inline(always)]
    pub(super) fn pop(&mut self) -> Option<(GoFunc, usize)> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY: below the old length: a set element.
        let d = unsafe { self.ptr.add(self.len).read() };
        Some((d.f, d.arg))
    }

    pub(super) fn clear(&mut self) {
        self.len = 0;
    }

    /// Makes room for at least one more call.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        // SAFETY: per the invariant these are a Vec's parts; the Vec is
        // taken apart again below, so the buffer has one owner.
        let mut v = unsafe { Vec::from_raw_parts(self.ptr, self.len, self.cap) };
        v.reserve(v.capacity().max(8));
        let mut v = std::mem::ManuallyDrop::new(v);
        (self.ptr, self.cap) = (v.as_mut_ptr(), v.capacity());
    }
}

impl Drop for DeferStack {
    fn drop(&mut self) {
        // SAFETY: per the invariant; dropped once.
        drop(unsafe { Vec::from_raw_parts(self.ptr, self.len, self.cap) });
    }
}

/// The running goroutine (or the foreign thread inside gort_call), from
/// the thread's slot (module `sched::running`).
#[inline(always)]
pub(super) fn current() -> Option<&'static Goroutine> {
    let g = sched::running::get();
    debug_assert!(
        ptr::eq(g, {
            let c = sched::current_g();
            if c.is_null() {
                crate::foreign::current_call()
            } else {
                c
            }
        }),
        "the running goroutine's slot is stale"
    );
    // SAFETY: the running goroutine (or our own record inside gort_call)
    // is live.
    unsafe { g.as_ref() }
}

/// The state of `g`, which must be the running goroutine.
#[inline]
pub(super) fn st(g: &Goroutine) -> *mut PanicState {
    g.panic.get()
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" fn f1(_: *mut c_void) {}
    unsafe extern "C" fn f2(_: *mut c_void) {}

    /// The deferred calls come back last-in first-out across the buffer's
    /// growth, and the length the pcall trampoline reads is the stack's.
    #[test]
    fn defer_stack_is_lifo_across_growth() {
        let mut s = PanicState::new();
        assert!(s.defers.is_empty());
        for i in 0..1000usize {
            let f: GoFunc = if i % 2 == 0 { f1 } else { f2 };
            s.push_defer(f, i as *mut c_void);
            assert_eq!(s.defers.len(), i + 1);
            assert!(s.defers.cap >= s.defers.len);
        }
        for i in (0..1000usize).rev() {
            let (f, a) = s.defers.pop().expect("a deferred call");
            assert_eq!(a, i);
            let want: GoFunc = if i % 2 == 0 { f1 } else { f2 };
            assert_eq!(f as usize, want as usize);
        }
        assert!(s.defers.pop().is_none());
        s.push_defer(f1, ptr::null_mut());
        s.reset();
        assert!(
            s.defers.is_empty() && s.defers.cap > 0,
            "reset keeps the buffer"
        );
    }
}
