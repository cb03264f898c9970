//! Contexts: cancellation trees with deadlines (Go's `context` package,
//! `WithCancel` and `WithDeadline`; API.md §11).
//!
//! # Model
//!
//! A [`Context`] is Go's `cancelCtx` (and `timerCtx`): an error (0 until
//! cancelled, then `ECANCELED` or `ETIMEDOUT`, never changed again), a
//! `done` channel closed when it is cancelled, and the list of its
//! children that are not cancelled yet. Cancelling a context (Go's
//! `cancel`) sets its error, closes `done`, stops its deadline timer,
//! takes its list of children and cancels each of them the same way, with
//! the same error, and removes the context from its parent's list. A
//! parent's cancellation thus reaches every descendant; a child's never
//! reaches its parent. A new child of a cancelled parent is born
//! cancelled, with the parent's error, and joins no list.
//!
//! - The background context is a static: never cancelled, never freed,
//!   no parent. Its children join no list (nothing can cancel them from
//!   above), as in Go, where `propagateCancel` stops at a parent whose
//!   `Done` is nil; its `done` is NULL, Go's nil channel.
//! - A deadline is a [`TimerNode`] in the timer heap that cancels the
//!   context with `ETIMEDOUT`. `with_deadline` under a parent whose
//!   deadline is earlier is `with_cancel` (Go does the same), and a
//!   context's deadline is the earliest of its own and its ancestors'.
//! - `done` is made on first use (Go makes it lazily too): a context
//!   nobody waits on costs no channel. One made after the cancellation is
//!   born closed.
//! - Cancellation walks the tree with a work list, not by recursion: a
//!   deep chain of contexts must not overflow the stack of whoever
//!   cancels (a goroutine, or a timer firing on a scheduler thread).
//!
//! # Lifetime
//!
//! The program's references (`user_refs`: one from `with_*`, one per
//! `retain`) are what it may release; releasing more than it has panics
//! (detected while the record still exists: a released context's pointer
//! is dangling once it has been freed, as after `free(3)`). Memory is
//! governed by `refs`, which counts:
//!
//! - 1 while `user_refs > 0`;
//! - 1 per child in the context's list (the child's link to its parent);
//! - 1 while the deadline timer is in the heap or firing;
//! - 1 per canceller that is about to cancel it (taken under the
//!   parent's lock from the parent's list, so a context that is being
//!   freed is never taken: `try_ref` refuses a count of 0).
//!
//! At 0 the context leaves its parent's list, releases its `done` channel
//! and is freed; the reference it held on its parent goes with it, which
//! may free the parent in turn (a loop, not recursion). A context the
//! program has released stops its deadline timer as soon as its list is
//! empty (at the release, or when its last listed child leaves): nobody
//! can observe it then. While it has children it keeps its place in its
//! parent's list and its timer, so that its parent's cancellation and its
//! own deadline still reach them (API.md: releasing a parent neither
//! cancels it nor cuts its children off). Children cancelled, or released
//! with no children of their own, leave the list at once (Go's
//! `TestCancelRemoves`): a long-lived parent does not accumulate them.
//!
//! # Locks
//!
//! One lock per context (the runtime's `Mutex`), guarding its error's
//! transition, `done`'s creation, its children list and its timer's
//! state. `in_list` and the sibling links belong to the parent's list:
//! `in_list` changes only with both the parent's and the child's lock
//! held (so either one is enough to read it); the links only with the
//! parent's. Lock order:
//!
//! - parent before child (as Go: `cancel` holds the parent's lock while
//!   it takes each child's), and never two siblings at once;
//! - a context's lock before a channel lock (closing `done`) and before
//!   the timer heap lock (arming or stopping the deadline);
//! - timers fire outside the heap lock: the deadline's firing takes the
//!   context's lock with nothing held, like a poll descriptor's deadline
//!   (`crate::netpoll`: pd lock → timer heap).
//!
//! A child that must leave its parent's list holds a reference to the
//! parent (taken under its own lock while it is listed, which makes the
//! parent's life certain) between dropping its own lock and taking the
//! parent's, then takes both in order.
//!
//! # Invariants
//!
//! - `err` goes from 0 to `ECANCELED` or `ETIMEDOUT` once, under the lock.
//! - `in_list` implies the context is in its parent's list, holds one of
//!   the parent's `refs`, and `err` of the parent is 0 (cancelling takes
//!   the whole list under the lock that sets `err`).
//! - A cancelled context has an empty list and no armed timer.
//! - `done`, once set, is never changed; it is closed iff `err != 0`
//!   (both happen under the lock).

use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{fence, AtomicI32, AtomicPtr, AtomicUsize, Ordering};

use crate::chan::{self, Chan};
use crate::lock::Mutex;
use crate::panic::{fatal, go_panic};
use crate::sched;
use crate::time::{nanotime, TimerNode};

/// `gort_context_err` of a context cancelled by a cancel call (Go's
/// `context.Canceled`).
///
/// cbindgen:ignore
pub(crate) const CANCELED: i32 = libc::ECANCELED;
/// `gort_context_err` of a context whose deadline passed (Go's
/// `context.DeadlineExceeded`).
///
/// cbindgen:ignore
pub(crate) const DEADLINE_EXCEEDED: i32 = libc::ETIMEDOUT;

// cbindgen reads the crate by names alone: without the directive below it
// would take `addr2line::Context<..>` (module trace) for this type. The C
// type is `gort_context`.
/// A context (module docs).
///
/// cbindgen:ignore
#[derive(Debug)]
pub(crate) struct Context {
    lock: Mutex<()>,
    /// The parent, fixed at birth; null for the background context and its
    /// children. Dereferenced only while `in_list` holds the parent.
    parent: *const Context,
    /// The earliest deadline of this context and its ancestors
    /// (`i64::MAX`: none).
    deadline: i64,
    /// 0, CANCELED or DEADLINE_EXCEEDED.
    err: AtomicI32,
    /// Made on first use, under the lock (null until then). The context
    /// holds one reference and one pin.
    done: AtomicPtr<Chan>,
    /// The program's references.
    user_refs: AtomicUsize,
    /// See the module docs.
    refs: AtomicUsize,
    /// The deadline timer; its argument is this context.
    timer: TimerNode,
    /// The timer is in the heap or firing (under the lock).
    timer_armed: Cell<bool>,
    /// The first child of this context's list (under the lock).
    first_child: Cell<*const Context>,
    /// In the parent's list (under both locks; see the module docs).
    in_list: Cell<bool>,
    /// Sibling links in the parent's list (under the parent's lock).
    prev: Cell<*const Context>,
    next: Cell<*const Context>,
    /// The static background context.
    background: bool,
}

// SAFETY: the Cells are guarded by the locks named on each field (module
// docs), everything else is atomic or fixed at birth; nothing is tied to
// a thread.
unsafe impl Sync for Context {}
// SAFETY: as above.
unsafe impl Send for Context {}

static BACKGROUND: Context = Context::fresh(ptr::null(), i64::MAX, true);

impl Context {
    /// A context with one reference of the caller's, nothing armed and no
    /// children, under `parent` (null: none).
    const fn fresh(parent: *const Context, deadline: i64, background: bool) -> Context {
        Context {
            lock: Mutex::new(()),
            parent,
            deadline,
            err: AtomicI32::new(0),
            done: AtomicPtr::new(ptr::null_mut()),
            user_refs: AtomicUsize::new(1),
            refs: AtomicUsize::new(1),
            timer: TimerNode::new(deadline_fired, 0),
            timer_armed: Cell::new(false),
            first_child: Cell::new(ptr::null()),
            in_list: Cell::new(false),
            prev: Cell::new(ptr::null()),
            next: Cell::new(ptr::null()),
            background,
        }
    }
}

/// Go's `context.Background()`.
pub(crate) fn background() -> *const Context {
    &BACKGROUND
}

/// Go's `context.WithCancel(parent)`: a new context with one reference.
pub(crate) fn with_cancel(parent: &Context) -> *const Context {
    new_child(parent, parent.deadline)
}

/// Go's `context.WithDeadline(parent, d)`, `d` on the `nanotime` clock: a
/// new context with one reference, cancelled with `DEADLINE_EXCEEDED` at
/// `d` (at once if `d` has passed).
pub(crate) fn with_deadline(parent: &Context, d: i64) -> *const Context {
    if parent.deadline <= d {
        return with_cancel(parent);
    }
    let c = new_child(parent, d);
    // SAFETY: c is new; the caller's reference (ours until we return it)
    // keeps it alive.
    let cr = unsafe { &*c };
    if d <= nanotime() {
        cancel_own(cr, DEADLINE_EXCEEDED);
        return c;
    }
    let g = cr.lock.lock();
    let mut kick = false;
    if cr.err.load(Ordering::Relaxed) == 0 {
        cr.timer_armed.set(true);
        cr.refs.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the timer's reference keeps cr, and so the node, alive
        // until the node leaves the heap (del_node true) or has fired.
        kick = unsafe { sched::sched().timers.place_node(&cr.timer, d, 0) }.1;
    }
    drop(g);
    if kick {
        sched::timer_kick();
    }
    c
}

fn new_child(parent: &Context, deadline: i64) -> *const Context {
    let under = if parent.background {
        ptr::null()
    } else {
        parent as *const Context
    };
    let c = Box::into_raw(Box::new(Context::fresh(under, deadline, false)));
    // SAFETY: c is ours alone until returned.
    let cr = unsafe { &mut *c };
    cr.timer = TimerNode::new(deadline_fired, c as usize);
    if parent.background {
        return c;
    }
    let g = parent.lock.lock();
    let e = parent.err.load(Ordering::Relaxed);
    if e != 0 {
        cr.err.store(e, Ordering::Relaxed);
    } else {
        // Link at the head; c's own lock is not needed, nobody sees it yet.
        let first = parent.first_child.get();
        cr.next.set(first);
        if !first.is_null() {
            // SAFETY: listed children are alive (they leave the list before
            // they are freed, under this lock).
            unsafe { (*first).prev.set(c) };
        }
        parent.first_child.set(c);
        cr.in_list.set(true);
        // The caller's reference keeps the parent alive: not from 0.
        parent.refs.fetch_add(1, Ordering::Relaxed);
    }
    drop(g);
    c
}

/// `gort_context_retain`.
pub(crate) fn retain(c: &Context) {
    if c.background {
        return;
    }
    let prev = c.user_refs.fetch_add(1, Ordering::Relaxed);
    if prev == 0 {
        c.user_refs.fetch_sub(1, Ordering::Relaxed);
        go_panic("retain of a released context");
    }
    if prev > isize::MAX as usize {
        fatal("context reference count overflow");
    }
}

/// `gort_context_release`: drops one of the program's references
/// (module docs, *Lifetime*). Panics `release of a released context` if
/// it has none left.
///
/// # Safety
/// `c` is a live context (its record not freed yet).
pub(crate) unsafe fn release(c: *const Context) {
    // SAFETY: forwarded contract.
    let cr = unsafe { &*c };
    if cr.background {
        return;
    }
    let prev = cr.user_refs.fetch_sub(1, Ordering::AcqRel);
    if prev > 1 {
        return;
    }
    if prev == 0 {
        cr.user_refs.fetch_add(1, Ordering::Relaxed);
        go_panic("release of a released context");
    }
    let mut n = 1;
    let g = cr.lock.lock();
    if cr.first_child.get().is_null() {
        n += stop_timer_locked(cr);
    }
    drop(g);
    // SAFETY: the user token, and the timer's reference if we stopped it.
    unsafe { drop_refs(c, n) };
}

/// `gort_context_cancel` (Go's `CancelFunc`): cancels `c` and its
/// descendants with `CANCELED`; does nothing if `c` is cancelled already
/// or is the background context.
pub(crate) fn cancel(c: &Context) {
    if !c.background {
        cancel_own(c, CANCELED);
    }
}

/// `gort_context_err`.
pub(crate) fn err(c: &Context) -> i32 {
    c.err.load(Ordering::Acquire)
}

/// `gort_context_done`: the channel closed when `c` is cancelled (made
/// now if need be), borrowed from `c`; null for the background context.
pub(crate) fn done(c: &Context) -> *const Chan {
    let d = c.done.load(Ordering::Acquire);
    if !d.is_null() || c.background {
        return d;
    }
    let g = c.lock.lock();
    let mut d = c.done.load(Ordering::Relaxed) as *const Chan;
    if d.is_null() {
        d = Chan::new(0, 0);
        // SAFETY: d is new and ours: the context's pin, besides its
        // reference, so that a program releasing the borrowed channel by
        // mistake cannot free it under us.
        unsafe { Chan::pin(d) };
        if c.err.load(Ordering::Relaxed) != 0 {
            // SAFETY: d is live; nobody else has it, so it is open.
            chan::close_if_open(unsafe { &*d });
        }
        c.done.store(d as *mut Chan, Ordering::Release);
    }
    drop(g);
    d
}

/// Stops the deadline timer (lock held): returns the references to drop
/// (1 if it took the node out of the heap; a firing under way drops its
/// own).
fn stop_timer_locked(c: &Context) -> usize {
    usize::from(c.timer_armed.replace(false) && sched::sched().timers.del_node(&c.timer))
}

/// Takes a reference unless the count is 0 (the context is being freed).
fn try_ref(c: &Context) -> bool {
    let mut r = c.refs.load(Ordering::Relaxed);
    loop {
        if r == 0 {
            return false;
        }
        match c
            .refs
            .compare_exchange_weak(r, r + 1, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => return true,
            Err(x) => r = x,
        }
    }
}

/// Cancels `c` itself (a cancel call or its deadline) and removes it from
/// its parent's list. The caller keeps `c` alive.
fn cancel_own(c: &Context, err: i32) {
    let mut work = Vec::new();
    let Some(drops) = cancel_one(c, err, &mut work) else {
        return; // cancelled already
    };
    let up = remove_from_parent(c);
    while let Some(k) = work.pop() {
        // SAFETY: work holds a reference to each context in it.
        let kr = unsafe { &*k };
        let d = cancel_one(kr, err, &mut work).unwrap_or(0);
        // SAFETY: that reference, and the timer's if cancel_one stopped it.
        unsafe { drop_refs(k, 1 + d) };
    }
    if drops > 0 {
        // SAFETY: the timer's reference; the caller's keeps c alive.
        unsafe { drop_refs(c, drops) };
    }
    if let Some((p, n)) = up {
        // SAFETY: references remove_from_parent handed us.
        unsafe { drop_refs(p, n) };
    }
}

/// Cancels `c` alone under its lock: sets the error, closes `done`, stops
/// the timer, and moves its listed children to `work` (each with a
/// reference; one being freed is skipped). Returns None if `c` was
/// cancelled already, else the references to drop on `c` (the timer's).
/// The caller keeps `c` alive.
fn cancel_one(c: &Context, err: i32, work: &mut Vec<*const Context>) -> Option<usize> {
    let g = c.lock.lock();
    if c.err.load(Ordering::Relaxed) != 0 {
        return None;
    }
    c.err.store(err, Ordering::Release);
    let d = c.done.load(Ordering::Relaxed);
    if !d.is_null() {
        // SAFETY: the context's pin keeps the channel alive.
        chan::close_if_open(unsafe { &*d });
    }
    let drops = stop_timer_locked(c);
    let mut k = c.first_child.replace(ptr::null());
    while !k.is_null() {
        // SAFETY: a listed child is alive until it leaves the list, which
        // needs our lock.
        let kr = unsafe { &*k };
        let kg = kr.lock.lock();
        let next = kr.next.get();
        kr.prev.set(ptr::null());
        kr.next.set(ptr::null());
        if try_ref(kr) {
            work.push(k);
        }
        // Last, and under k's lock: a child being freed waits for that
        // lock to see it, and must find us done with it.
        kr.in_list.set(false);
        drop(kg);
        // The child's link to us. Our caller keeps us alive: not to 0.
        let prev = c.refs.fetch_sub(1, Ordering::Release);
        debug_assert!(prev > 1);
        k = next;
    }
    drop(g);
    Some(drops)
}

/// Takes `c` out of its parent's list if it is there. Returns the
/// references to drop on the parent (ours, the link's, and the parent's
/// timer's if the parent became unobservable), to be dropped by the
/// caller once it is done with `c`. The caller keeps `c` alive.
fn remove_from_parent(c: &Context) -> Option<(*const Context, usize)> {
    let p = c.parent;
    if p.is_null() {
        return None;
    }
    let listed = {
        let _g = c.lock.lock();
        let l = c.in_list.get();
        if l {
            // SAFETY: a listed context holds a reference to its parent;
            // ours makes it certain past our unlock.
            unsafe { (*p).refs.fetch_add(1, Ordering::Relaxed) };
        }
        l
    };
    if !listed {
        return None;
    }
    // SAFETY: our reference keeps the parent alive.
    let pr = unsafe { &*p };
    let mut n = 1;
    let pg = pr.lock.lock();
    let cg = c.lock.lock();
    let unlinked = c.in_list.get();
    if unlinked {
        let (prev, next) = (c.prev.get(), c.next.get());
        // SAFETY: listed siblings are alive (our parent's lock).
        unsafe {
            if prev.is_null() {
                pr.first_child.set(next);
            } else {
                (*prev).next.set(next);
            }
            if !next.is_null() {
                (*next).prev.set(prev);
            }
        }
        c.prev.set(ptr::null());
        c.next.set(ptr::null());
        c.in_list.set(false);
        n += 1;
    }
    drop(cg);
    if unlinked
        && pr.first_child.get().is_null()
        && pr.user_refs.load(Ordering::Acquire) == 0
        && pr.err.load(Ordering::Relaxed) == 0
    {
        // Released, and its last listed child gone: nobody can observe
        // the parent any more, so its deadline need not fire.
        n += stop_timer_locked(pr);
    }
    drop(pg);
    Some((p, n))
}

/// Drops `n` references on `c`; at 0, frees it, and goes on up with the
/// references it held on its parent.
///
/// # Safety
/// The caller owns those references and does not use `c` afterwards
/// unless it holds another.
unsafe fn drop_refs(c: *const Context, n: usize) {
    let mut next = Some((c, n));
    while let Some((c, n)) = next {
        // SAFETY: the references dropped keep c alive until this.
        let prev = unsafe { (*c).refs.fetch_sub(n, Ordering::Release) };
        debug_assert!(prev >= n);
        if prev != n {
            return;
        }
        fence(Ordering::Acquire);
        // SAFETY: no reference left: nobody else can reach c, except a
        // canceller holding the parent's lock that finds it listed (and
        // leaves it, try_ref failing), which remove_from_parent waits for.
        next = unsafe { free(c) };
    }
}

/// Frees a context whose count reached 0; returns the references to drop
/// on its parent.
///
/// # Safety
/// `c.refs` is 0, and the caller is the one that made it so.
unsafe fn free(c: *const Context) -> Option<(*const Context, usize)> {
    // SAFETY: forwarded contract: c is ours now.
    let cr = unsafe { &*c };
    let up = remove_from_parent(cr);
    debug_assert!(!cr.in_list.get() && cr.first_child.get().is_null());
    let d = cr.done.load(Ordering::Acquire) as *const Chan;
    if !d.is_null() {
        // SAFETY: the context's reference and pin on its done channel.
        unsafe {
            chan::release_quiet(d);
            Chan::unpin(d);
        }
    }
    // SAFETY: made by Box::into_raw in new_child; unreachable now.
    drop(unsafe { Box::from_raw(c as *mut Context) });
    up
}

/// The deadline timer's function: the heap's reference is ours.
fn deadline_fired(arg: usize, _seq: u64) {
    let c = arg as *const Context;
    // SAFETY: the timer's reference keeps c alive.
    cancel_own(unsafe { &*c }, DEADLINE_EXCEEDED);
    // SAFETY: that reference, not used afterwards.
    unsafe { drop_refs(c, 1) };
}

#[cfg(test)]
mod tests;
