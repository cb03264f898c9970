//! Defer, panic and recover (Go: `runtime/panic.go`), fatal errors, and the
//! exit race.
//!
//! # Frames and deferred calls
//!
//! A goroutine's entry function, `gort_call`, `gort_main`'s main function
//! and every `gort_pcall` open a *frame*. The entry frame is implicit (the
//! bottom of the goroutine); each of the others is a `Frame` record in
//! the stack frame of the function that opened it, which calls the
//! frame's boundary (module `frame`) and so outlives it, linked from
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
//! # Panics
//!
//! `gort_panic` runs deferred calls innermost frame first. A deferred call
//! that calls `gort_recover` while a panic runs it gets the message and
//! stops the panic: the remaining deferred calls of that frame run as on a
//! normal return, then the frame returns: a pcall or gort_call *jumps* to
//! its boundary (skipping the C frames in between: see module `frame` for
//! why a saved context rather than unwinding), a goroutine ends normally,
//! the main goroutine makes the process exit 0. A panic that reaches a
//! pcall frame with no deferred call left is recovered by the pcall, which
//! returns 1. A gort_call frame passes it on, as a Go function passes a
//! panic to its caller: the deferred calls of the frames outside it run
//! next, and one of them, or an enclosing pcall, may still recover it. A
//! panic that reaches the bottom (a goroutine's entry frame, or the
//! outermost gort_call of a foreign thread) is reported (`panic: <msg>`, a
//! blank line, the goroutine's dump; a panic raised while running the
//! deferred calls of another is printed after it, Go's way) and the
//! process exits with status 2.
//!
//! While a panic travels outward, the records of the gort_call frames it
//! left stay linked (their deferred calls all ran) until a jump removes
//! them together with their boundaries: a record and its
//! boundary's trampoline leave together, which the unwinding rules below
//! rely on. A panic never stops at such a left frame: only pcall frames
//! stop a panic, and a gort_call frame always passes it on.
//!
//! # Foreign unwinding (C++ exceptions, thread exit)
//!
//! gort never unwinds: it is built with `panic = "abort"`, so its Rust
//! frames have unwind tables but no landing pads, and Rust defines no
//! behaviour for a C++ exception that unwinds through them. Every frame
//! boundary's trampoline and every goroutine's entry guard (module
//! `frame`) carry a personality routine, which the platform unwinder calls
//! before it leaves the frame:
//!
//! - A C++ exception (any unforced unwind) is found in the unwinder's
//!   search phase, before any frame is removed: a fatal error that names
//!   the boundary (`fatal error: C++ exception unwound through gort_call`).
//!   The stack is intact, so the report shows where it was thrown.
//! - A forced unwind (glibc's `pthread_exit` and thread cancellation) of a
//!   foreign thread's gort_call or gort_pcall frame: [`foreign_unwind`]
//!   releases the frame (its deferred calls run, as `gort_goexit` runs
//!   them; the outermost one also ends the call: goroutine count, id) and
//!   lets the unwind continue, so the thread exits as it asked to (its
//!   attach state is freed by the pthread key destructor). The frames it
//!   then removes are gort's own plain old frames: nothing to drop, no
//!   `catch_unwind`, which is the case Rust leaves to forced unwinding,
//!   as a `longjmp` over them is what [`frame::jump`] does. On a goroutine
//!   a thread exit would take a runtime thread away: a fatal error.
//!
//! A `longjmp` out of a callback over gort's frames cannot be seen and is
//! not supported.
//!
//! The runtime's own misuse panics (`go of nil func value`, `misuse of an
//! invalid handle`, ...) go through the same path, so they are recoverable
//! too. Every place that raises one holds no lock and owns nothing that
//! needs dropping, because a recovered panic abandons the frames between
//! it and the recovering frame.
//!
//! # Fatal errors
//!
//! An internal fault or a misuse Go treats as unrecoverable (`sync: unlock
//! of unlocked mutex`): `fatal error: <what>` and every goroutine's dump,
//! exit status 2, without atexit handlers (Go's `throw`). Never
//! recoverable. A Rust panic inside gort is a bug in gort: release builds
//! abort on panic (nothing unwinds into C), after the hook installed by the
//! library constructor reports it as `fatal error: internal error: ...`.
//!
//! Out of memory (a failed allocation anywhere in the runtime, see module
//! `memory`, or a goroutine stack that cannot be mapped) is the fatal error
//! `runtime: out of memory`, reported by [`out_of_memory`] without needing
//! memory for its first lines.
//!
//! # The exit race (Go issues 3934, 20018)
//!
//! A panic's report must not be lost to a process exit racing with it.
//! Program mode: before `exit`, the main goroutine waits (about a thousand
//! yields) while any goroutine runs the deferred calls of a panic, and
//! parks forever if a panic is then being reported (the panicking
//! goroutine exits with status 2). Library mode: an `atexit` handler holds
//! the host's exit back, at most about a second, for the same reason.
//!
//! # Ownership
//!
//! `PanicState` lives in its goroutine (or foreign record) and only that
//! goroutine touches it. User callbacks run in the middle of the
//! algorithms, and may defer, panic and recover themselves, so the state is
//! reached through a raw pointer and never borrowed across a callback.

use std::ffi::{c_char, c_void, CString};
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use crate::frame::{self, JumpBuf};
use crate::os;
use crate::sched::{self, GoFunc, Goroutine};

/// Set once a report is being written, so that a fault while writing it
/// (or a second failing thread) does not report again.
static REPORTING: AtomicBool = AtomicBool::new(false);
/// `pthread_self()` of the thread writing the report (valid once
/// REPORTING is set; 0 for a moment before).
static REPORTER: AtomicU64 = AtomicU64::new(0);
/// The out-of-memory report's first lines are on stderr.
static OOM_PRINTED: AtomicBool = AtomicBool::new(false);
/// Goroutines running the deferred calls of a panic.
static RUNNING_PANIC_DEFERS: AtomicI64 = AtomicI64::new(0);

/// What kind of boundary a frame record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// An open frame above the goroutine's entry frame (module docs, *Frames
/// and deferred calls*). It lives in the stack frame of the function that
/// opens it, which calls the frame's trampoline, and is in its goroutine's
/// list ([`PanicState::top`]) from the moment the body links it until the
/// frame ends, a jump leaves it, or the list is cleared.
#[derive(Debug)]
struct Frame {
    // Set by the opener.
    /// The state of the goroutine running the frame.
    st: *mut PanicState,
    kind: FrameKind,
    /// Where a pcall copies the message of a panic it recovers.
    msg: *mut c_char,
    msglen: usize,
    /// The next frame outside (null: the entry frame): the innermost one
    /// when this one opened.
    prev: *mut Frame,
    /// The deferred calls at and above this index are the frame's.
    defer_base: usize,
    /// The panics at and above this index were raised inside the frame:
    /// the ones it ends when it recovers one (earlier ones run on).
    panic_base: usize,
    /// `panic_defer_depth` when the frame opened, restored when a panic
    /// returns to it (a pcall opened inside a deferred call that a panic
    /// runs is still inside that call).
    depth_at_open: u32,
    // Set by the body (left uninitialised by the opener: a frame record
    // is read only once the body has linked it).
    /// The boundary's buffer.
    jb: MaybeUninit<*const JumpBuf>,
    /// `panic_defer_depth` while the frame's deferred calls run on its
    /// return (they cannot recover a panic in progress outside).
    saved_depth: MaybeUninit<u32>,
}

#[derive(Debug)]
struct PanicRec {
    msg: CString,
    recovered: bool,
}

/// A goroutine's deferred calls, open frames and running panics.
#[derive(Debug)]
pub(crate) struct PanicState {
    /// The innermost open frame above the entry frame, or null.
    top: *mut Frame,
    /// Deferred calls of every open frame, the innermost frame's last.
    defers: Vec<(GoFunc, usize)>,
    panics: Vec<PanicRec>,
    /// Nesting of deferred calls being run by a panic (recover works
    /// only inside them).
    panic_defer_depth: u32,
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
            defers: Vec::new(),
            panics: Vec::new(),
            panic_defer_depth: 0,
            recovered: None,
        }
    }

    /// Pushes a deferred call; the copy into a larger buffer (rare: the
    /// buffer is kept for the goroutine record's life) is out of line.
    #[inline(always)]
    fn push_defer(&mut self, f: GoFunc, arg: *mut c_void) {
        if self.defers.len() == self.defers.capacity() {
            return push_defer_grow(f, arg, self);
        }
        self.defers.push((f, arg as usize));
    }

    /// Forgets frames, deferred calls and panics at the end of a gort_call
    /// (or a pcall outside one), but keeps the last recovered message:
    /// gort_recover's result stays valid until the thread's next recover.
    pub(crate) fn end_call(&mut self) {
        self.top = std::ptr::null_mut();
        self.defers.clear();
        self.panics.clear();
        self.panic_defer_depth = 0;
    }

    /// Forgets everything (the goroutine record is being recycled); keeps
    /// the allocations.
    pub(crate) fn reset(&mut self) {
        self.top = std::ptr::null_mut();
        self.defers.clear();
        self.panics.clear();
        self.panic_defer_depth = 0;
        self.recovered = None;
    }
}

/// [`PanicState::push_defer`] when the buffer is full (arguments in the
/// order that leaves the caller's where they are).
#[cold]
#[inline(never)]
fn push_defer_grow(f: GoFunc, arg: *mut c_void, s: &mut PanicState) {
    s.defers.push((f, arg as usize));
}

/// The running goroutine (or the foreign thread inside gort_call), from
/// the thread's slot (module `sched::running`).
#[inline(always)]
fn current() -> Option<&'static Goroutine> {
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
fn st(g: &Goroutine) -> *mut PanicState {
    g.panic.get()
}

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

/// `gort_recover`: the running panic's message if called while a panic
/// runs deferred calls; that panic then stops. NULL otherwise.
pub(crate) fn recover() -> *const c_char {
    let Some(g) = current() else {
        return std::ptr::null();
    };
    // SAFETY: our own state; no callback runs while it is borrowed.
    let s = unsafe { &mut *st(g) };
    if s.panic_defer_depth == 0 {
        return std::ptr::null();
    }
    match s.panics.last_mut() {
        Some(p) if !p.recovered => {
            // The pointer stays valid: the CString's buffer does not move
            // when the record later moves into `recovered`.
            p.recovered = true;
            p.msg.as_ptr()
        }
        _ => std::ptr::null(),
    }
}

/// Pops the innermost deferred call if the frame starting at `base` still
/// has one.
#[inline]
fn pop_defer_above(s: *mut PanicState, base: usize) -> Option<(GoFunc, usize)> {
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
fn run_defers_to(s: *mut PanicState, base: usize) {
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

/// What an unwinder was told to do to a frame boundary (module docs,
/// *Foreign unwinding*).
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

/// Names the boundary a foreign unwind is crossing: the innermost open
/// frame, or the goroutine's entry function if none is open.
fn boundary_name(kind: Option<FrameKind>) -> &'static str {
    match kind {
        Some(FrameKind::Pcall) => "through gort_pcall",
        Some(FrameKind::Call) => "through gort_call",
        Some(FrameKind::Exiting) => "through a deferred call run by a thread exit",
        None => "out of a goroutine's entry function",
    }
}

/// Called by the personality routine of a frame boundary or entry guard
/// (module `frame`) when an unwind is about to leave it. Returns only for
/// a thread exit of a foreign thread's frame, after releasing the frame:
/// the unwind then goes on. Everything else is a fatal error.
pub(crate) fn foreign_unwind(what: ForeignUnwind) {
    let g = current();
    // SAFETY: our own state, not borrowed across a user callback.
    let kind = g.and_then(|g| unsafe { (*st(g)).top.as_ref().map(|f| f.kind) });
    match what {
        ForeignUnwind::Exception { cplusplus } => {
            let which = if cplusplus { "C++ exception" } else { "foreign exception" };
            fatal(&format!("{which} unwound {}", boundary_name(kind)));
        }
        ForeignUnwind::ThreadExit => match (g, kind) {
            (Some(g), Some(FrameKind::Call | FrameKind::Pcall)) if g.foreign => release_frame(g),
            (_, Some(FrameKind::Exiting)) => fatal(
                "thread exit (pthread_exit or cancellation) inside a deferred call run by a thread exit",
            ),
            (Some(_), _) => fatal(&format!(
                "thread exit (pthread_exit or cancellation) on a goroutine, unwound {}",
                boundary_name(kind)
            )),
            // Not ours: a thread outside any call has no open frame.
            (None, _) => {}
        },
    }
}

/// A thread exit is removing the innermost frame of `g`, a foreign
/// thread's call: the frame's deferred calls run (as gort_goexit runs
/// them), a panic the thread was running is abandoned (as Go's Goexit
/// abandons one), and the outermost frame ends the call.
fn release_frame(g: &Goroutine) {
    let s = st(g);
    // SAFETY: our own state, not borrowed across a user callback; a
    // non-null top is a linked frame, alive in a caller of ours.
    let (fr, n) = unsafe {
        let n = std::mem::take(&mut (*s).panics).len();
        (*s).panic_defer_depth = 0;
        let fr = (*s).top;
        if !fr.is_null() {
            (*s).top = (*fr).prev;
        }
        (fr, n)
    };
    RUNNING_PANIC_DEFERS.fetch_sub(n as i64, Ordering::SeqCst);
    if fr.is_null() {
        return;
    }
    // SAFETY: as above; the record outlives this call.
    let base = unsafe { (*fr).defer_base };
    // SAFETY: our own state, not borrowed across a user callback.
    if unsafe { (*s).defers.len() } > base {
        unsafe extern "C" fn body(
            ctx: *mut c_void,
            jb: *const JumpBuf,
            _: usize,
            _: usize,
        ) -> isize {
            let fr = ctx as *mut Frame;
            // SAFETY: release_frame passes its Frame, alive for the call,
            // with its base set; the goroutine running it owns `st`.
            unsafe {
                let s = (*fr).st;
                link(fr, jb);
                run_defers_to(s, (*fr).defer_base);
                unlink(fr);
            }
            0
        }
        let mut exiting = Frame {
            st: s,
            kind: FrameKind::Exiting,
            msg: std::ptr::null_mut(),
            msglen: 0,
            // SAFETY: our own state, not borrowed.
            prev: unsafe { (*s).top },
            defer_base: base,
            // SAFETY: our own state, not borrowed.
            panic_base: unsafe { (*s).panics.len() },
            // SAFETY: as above.
            depth_at_open: unsafe { (*s).panic_defer_depth },
            jb: MaybeUninit::uninit(),
            saved_depth: MaybeUninit::uninit(),
        };
        // A deferred call that recovers a panic of another ends at this
        // boundary, after the remaining deferred calls ran (module docs).

        // SAFETY: body follows the trampoline's contract with its Frame.
        unsafe { frame::run(body, &mut exiting as *mut Frame as *mut c_void, 0, 0) };
    }
    // SAFETY: our own state.
    if unsafe { (*s).top.is_null() } {
        crate::foreign::end_call(g);
    }
}

/// Makes `fr`, whose boundary's buffer is `jb`, the innermost frame of its
/// goroutine; `fr.prev` is the innermost frame so far.
///
/// # Safety
/// `fr` is a frame record that stays alive until it is unlinked (it lives
/// in a caller of the boundary of `jb`), and the running goroutine owns
/// `fr.st`.
#[inline(always)]
unsafe fn link(fr: *mut Frame, jb: *const JumpBuf) {
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
unsafe fn unlink(fr: *mut Frame) {
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
    // SAFETY: `open_frame` passes its Frame, alive for the call, whose
    // goroutine runs this frame and owns `st`; the state is not borrowed
    // across the user's function or the deferred calls, and the fields are
    // read again after them (the calls may move the goroutine to another
    // thread, never to another state).
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
/// panic runs: its own deferred calls cannot recover that panic.
///
/// # Safety
/// As in `frame_body`.
#[cold]
#[inline(never)]
unsafe fn run_frame_defers_in_panic(fr: *mut Frame) {
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
        panic_base: unsafe { (*s).panics.len() },
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
/// thread outside gort_call, which waits for init and becomes a goroutine
/// for the call.
///
/// # Safety
/// As for [`open_frame`].
#[inline(always)]
pub(crate) unsafe fn pcall(f: GoFunc, arg: *mut c_void, msg: *mut c_char, msglen: usize) -> i32 {
    match current() {
        // SAFETY: forwarded contract; g is the running goroutine.
        Some(g) => unsafe { open_frame(g, FrameKind::Pcall, f, arg, msg, msglen) },
        // SAFETY: forwarded contract.
        None => unsafe { crate::foreign::pcall_outside_call(f, arg, msg, msglen) },
    }
}

/// A panic with Go's words (misuse Go answers with a panic; the panic
/// algorithm is in the module docs). Recoverable like any panic: callers
/// hold no lock and own nothing that needs dropping.
#[cold]
pub(crate) fn go_panic(msg: &str) -> ! {
    panic_with(cstring(msg))
}

/// [`go_panic`] with a message already owned (no copy). Nothing on the
/// caller's frame may need dropping: a recovered panic abandons it.
pub(crate) fn panic_with(msg: CString) -> ! {
    let Some(g) = current() else {
        // A foreign thread outside gort_call: nothing can recover it.
        report_unrecovered(&[(msg, false)]);
    };
    let s = st(g);
    RUNNING_PANIC_DEFERS.fetch_add(1, Ordering::SeqCst);
    // SAFETY: our own state, never borrowed across a user callback (as
    // every access to *s below).
    unsafe {
        (*s).panics.push(PanicRec {
            msg,
            recovered: false,
        })
    };
    // The panic has left every frame above `at` (only gort_call frames
    // are left behind: their records stay linked until a jump; module
    // docs). Null: the entry frame.

    // SAFETY: our own state, not borrowed across a user callback.
    let mut at = unsafe { (*s).top };
    loop {
        // SAFETY: `at` is null or a linked frame record: alive, below us.
        let base = unsafe { at.as_ref().map_or(0, |fr| fr.defer_base) };
        while let Some((f, a)) = pop_defer_above(s, base) {
            // SAFETY: our own state, not borrowed across a user callback.
            unsafe { (*s).panic_defer_depth += 1 };
            // SAFETY: running a deferred call is the contract of gort_defer.
            unsafe { f(a as *mut c_void) };
            // SAFETY: our own state, not borrowed across a user callback.
            unsafe { (*s).panic_defer_depth -= 1 };
            // SAFETY: our own state, not borrowed across a user callback.
            let recovered = unsafe { (*s).panics.last().is_some_and(|p| p.recovered) };
            if recovered {
                // Stop panicking (the panics raised inside this frame that
                // this one interrupted are over too; older ones, raised
                // outside it, run on), finish the frame's deferred calls,
                // return. The recovered message moves to where
                // gort_recover's pointer stays valid.

                // SAFETY: our own state, not borrowed across a user
                // callback; `at` is null or a linked frame record.
                let (n, depth) = unsafe {
                    let (pbase, depth) = at
                        .as_ref()
                        .map_or((0, 0), |fr| (fr.panic_base, fr.depth_at_open));
                    let mut ended: Vec<PanicRec> = (*s).panics.drain(pbase..).collect();
                    let n = ended.len();
                    (*s).recovered = ended.pop().map(|p| p.msg);
                    (n, depth)
                };
                RUNNING_PANIC_DEFERS.fetch_sub(n as i64, Ordering::SeqCst);
                run_defers_to(s, base);
                // SAFETY: our own state, not borrowed across a user callback.
                unsafe { (*s).panic_defer_depth = depth };
                return_from_frame(g, at, 0);
            }
        }
        // SAFETY: as above.
        let kind = unsafe { at.as_ref().map(|fr| fr.kind) };
        match kind {
            Some(FrameKind::Pcall) => {
                // SAFETY: our own state, not borrowed across a user
                // callback; `at` is a linked frame record.
                let (jb, n) = unsafe {
                    (*s).top = (*at).prev;
                    let top = (*s).panics.last().expect("panic");
                    copy_message(&top.msg, (*at).msg, (*at).msglen);
                    // The panics raised inside this frame end here; one
                    // raised outside (this pcall runs in a deferred call
                    // of it) runs on when that deferred call returns.
                    let n = (*s).panics.len() - (*at).panic_base;
                    (*s).panics.truncate((*at).panic_base);
                    (*s).panic_defer_depth = (*at).depth_at_open;
                    ((*at).jb.assume_init(), n)
                };
                RUNNING_PANIC_DEFERS.fetch_sub(n as i64, Ordering::SeqCst);
                // SAFETY: the pcall's trampoline is active below us; the
                // frames in between are C frames, left gort_call frames
                // and this function, which holds nothing that needs
                // dropping now.
                unsafe { frame::jump(jb, 1) };
            }
            // A gort_call passes the panic on to the frames outside it.

            // SAFETY: `at` is a linked frame record.
            Some(FrameKind::Call) => at = unsafe { (*at).prev },
            // The goroutine's entry frame, the bottom of a foreign
            // thread's call, or a thread exit's deferred calls.
            _ => {
                // SAFETY: our own state, not borrowed across a user callback.
                let chain: Vec<(CString, bool)> = unsafe {
                    (*s).panics
                        .iter()
                        .map(|p| (p.msg.clone(), p.recovered))
                        .collect()
                };
                report_unrecovered(&chain);
            }
        }
    }
}

/// Continues as if the function of frame `at` (null: the goroutine's
/// entry frame) had returned normally; the frames above it are left.
fn return_from_frame(g: &Goroutine, at: *mut Frame, value: isize) -> ! {
    if !at.is_null() {
        // SAFETY: our own state; `at` is a linked frame record whose
        // boundary is active below us, and the abandoned frames own
        // nothing (as in `panic`).
        unsafe {
            (*st(g)).top = (*at).prev;
            frame::jump((*at).jb.assume_init(), value)
        }
    }
    // SAFETY: our own state; no frame is left open above the entry frame.
    unsafe { (*st(g)).top = std::ptr::null_mut() };
    if g.is_main.get() {
        before_exit();
        // SAFETY: exit runs atexit handlers; our state needs none.
        unsafe { libc::exit(0) }
    }
    // SAFETY: a goroutine whose deferred calls all ran; nothing on its
    // stack needs dropping.
    unsafe { sched::goexit() }
}

fn copy_message(m: &CString, out: *mut c_char, len: usize) {
    if out.is_null() || len == 0 {
        return;
    }
    let b = m.as_bytes();
    let n = b.len().min(len - 1);
    // SAFETY: the pcall caller made out writable for len bytes; n < len.
    unsafe {
        std::ptr::copy_nonoverlapping(b.as_ptr(), out.cast::<u8>(), n);
        *out.add(n) = 0;
    }
}

fn cstring(msg: &str) -> CString {
    CString::new(msg.replace('\0', "\\0")).unwrap_or_default()
}

/// Prints the panic chain and the goroutine's dump; exits with status 2.
fn report_unrecovered(chain: &[(CString, bool)]) -> ! {
    let mut out = String::new();
    for (i, (m, recovered)) in chain.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        out.push_str("panic: ");
        out.push_str(&m.to_string_lossy());
        if *recovered {
            out.push_str(" [recovered]");
        }
        out.push('\n');
    }
    out.push('\n');
    // What the program printed before the panic is flushed by the report
    // (finish_report: signals::flush_stdio_for_report).
    finish_report(out, false)
}

/// Reports a fatal error and exits with status 2 (Go: `throw`): the
/// message, then every goroutine's block.
#[cold]
pub(crate) fn fatal(msg: &str) -> ! {
    finish_report(format!("fatal error: {msg}\n\n"), true)
}

/// A fatal error with nothing to dump (Go's `fatal` when no goroutine is
/// left): `fatal error: <msg>` alone, exit status 2.
#[cold]
pub(crate) fn fatal_alone(msg: &str) -> ! {
    REPORTER.store(this_thread(), Ordering::SeqCst);
    REPORTING.store(true, Ordering::SeqCst);
    os::write_stderr(format!("fatal error: {msg}\n").as_bytes());
    crate::timeline::at_exit(true);
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(2) }
}

/// Claims the right to write the process's last report (a fatal error,
/// an unrecovered panic, a crash signal): false if another report is
/// already being written.
pub(crate) fn begin_report() -> bool {
    if REPORTING.swap(true, Ordering::SeqCst) {
        return false;
    }
    REPORTER.store(this_thread(), Ordering::SeqCst);
    true
}

fn finish_report(mut out: String, all: bool) -> ! {
    if !reporting() {
        crate::signals::flush_stdio_for_report();
    }
    if !begin_report() {
        // Failing while reporting: print the bare message only.
        os::write_stderr(out.as_bytes());
        // SAFETY: _exit has no preconditions.
        unsafe { libc::_exit(2) }
    }
    let dump = crate::trace::dump(all);
    if dump.is_empty() {
        let id = sched::goid();
        if id != 0 {
            out.push_str(&format!("goroutine {id} [running]:\n"));
        } else {
            out.push_str("(on a thread outside the runtime)\n");
        }
    } else {
        out.push_str(&dump);
    }
    os::write_stderr(out.as_bytes());
    crate::timeline::at_exit(true);
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(2) }
}

/// Whether a fatal report or an unrecovered panic's report is being
/// written (the process is about to end).
pub(crate) fn reporting() -> bool {
    REPORTING.load(Ordering::Relaxed)
}

fn this_thread() -> u64 {
    // SAFETY: pthread_self has no preconditions and does not allocate.
    unsafe { libc::pthread_self() as u64 }
}

/// Memory is exhausted: `size` bytes of `what` could not be allocated
/// (Go: `throw("runtime: out of memory")`). Prints
///
/// ```text
/// runtime: out of memory: cannot allocate 65536-byte block
/// fatal error: runtime: out of memory
///
/// goroutine 7 [running]:
/// ...
/// ```
///
/// and exits with status 2. The first lines are written without
/// allocating. The dump is best effort and shows only the goroutine that
/// ran out: the others' records may sit behind a lock held by the
/// allocation that failed, and the dump needs memory itself. If it runs
/// out in turn, it says so and the process exits. Another thread that runs
/// out while a report is being written waits for that report (about a
/// second at most) instead of printing a second one.
#[cold]
pub(crate) fn out_of_memory(size: usize, what: &str) -> ! {
    let me = this_thread();
    if REPORTING.swap(true, Ordering::SeqCst) {
        if REPORTER.load(Ordering::SeqCst) == me {
            // The report itself ran out of memory.
            os::write_stderr(b"(no goroutine dump: it needed memory too)\n");
            // SAFETY: _exit has no preconditions.
            unsafe { libc::_exit(2) }
        }
        // Another thread is reporting and will end the process; if it is
        // stuck (a lock this thread holds), end it here.
        for _ in 0..1000 {
            os::thread_sleep(1_000_000);
        }
        if !OOM_PRINTED.load(Ordering::SeqCst) {
            os::write_stderr(b"fatal error: runtime: out of memory\n");
        }
        // SAFETY: _exit has no preconditions.
        unsafe { libc::_exit(2) }
    }
    REPORTER.store(me, Ordering::SeqCst);
    let mut b = os::FixedBuf::new();
    b.s("runtime: out of memory: cannot allocate ");
    b.dec(size as u64);
    b.s("-byte ");
    b.s(what);
    b.s("\nfatal error: runtime: out of memory\n\n");
    os::write_stderr(b.bytes());
    OOM_PRINTED.store(true, Ordering::SeqCst);
    let dump = crate::trace::dump(false);
    if dump.is_empty() {
        os::write_stderr(b"(on a thread outside the runtime)\n");
    } else {
        os::write_stderr(dump.as_bytes());
    }
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(2) }
}

/// Set once [`before_exit`] has waited for panics' deferred calls.
static EXIT_WAITED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Program mode, just before `exit` (Go: the end of `runtime.main`): let
/// goroutines that are running the deferred calls of a panic finish (for
/// about a second at most), and never exit under a panic that is being
/// reported.
pub(crate) fn before_exit() {
    // As Go's main: give deferred calls that a panic runs a moment to
    // finish (here up to about a second), then wait for good only if a
    // panic is being reported. A panic whose deferred call recovered it
    // but has not returned yet (it may block: on this very goroutine, say)
    // must not hold the exit forever.
    EXIT_WAITED.store(true, Ordering::SeqCst);
    let deadline = os::nanotime() + 1_000_000_000;
    let mut spins = 0;
    while RUNNING_PANIC_DEFERS.load(Ordering::SeqCst) != 0
        && !REPORTING.load(Ordering::SeqCst)
        && os::nanotime() < deadline
    {
        if sched::current_g().is_null() {
            os::thread_sleep(1_000);
        } else if spins < 1000 {
            spins += 1;
            sched::gosched();
        } else {
            // Let the panicking goroutine have a processor of its own.
            sched::blocking_enter();
            os::thread_sleep(1_000_000);
            sched::blocking_exit();
        }
    }
    if REPORTING.load(Ordering::SeqCst) {
        // The panicking goroutine will exit the process with status 2.
        loop {
            os::thread_sleep(1_000_000_000);
        }
    }
}

/// Library mode: registered with atexit by the constructor. Holds the
/// host's exit back (at most about a second) while a panic is running
/// deferred calls or being reported, so that its report is printed and the
/// status is 2.
pub(crate) extern "C" fn hold_exit_for_panics() {
    for _ in 0..1000 {
        let quiet = RUNNING_PANIC_DEFERS.load(Ordering::SeqCst) == 0
            // Program mode's exit already gave them their second.
            || EXIT_WAITED.load(Ordering::SeqCst);
        if quiet && !REPORTING.load(Ordering::SeqCst) {
            return;
        }
        os::thread_sleep(1_000_000);
    }
}

/// Installs the hook that turns a Rust panic inside gort into a fatal
/// error report.
pub(crate) fn install_rust_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = format!("internal error: {info}");
        fatal(&msg);
    }));
}
