//! Contexts (API.md §11).
//!
//! The context tree is `crate::context`; this file checks C arguments.

use std::ffi::c_int;

use super::chan::gort_chan;
use super::fence;
use crate::context::{self, Context};
use crate::panic::go_panic;

/// A context (Go's context.Context): a cancellation signal that flows
/// from a context to every context made from it, with an optional
/// deadline. gort_context_background() is the root; gort_context_with_cancel()
/// and gort_context_with_deadline() make children. Cancelling a context
/// (gort_context_cancel(), or its deadline passing) cancels all its
/// descendants, never its parent; a context made from a cancelled one is
/// born cancelled. gort_context_done() is a channel closed on
/// cancellation, for gort_select(); gort_context_err() says why.
///
/// Contexts are reference counted: gort_context_with_cancel() and
/// gort_context_with_deadline() return one reference, gort_context_retain()
/// adds one, gort_context_release() drops one. Releasing does not cancel:
/// a released context whose children are still referenced keeps passing
/// its parent's cancellation and its own deadline on to them, and is freed
/// with the last of them. A context released with no children, or
/// cancelled, leaves its parent at once, so a long-lived parent does not
/// collect dead children. Give each goroutine or thread that uses a
/// context its own reference.
///
/// Every function works from goroutines and from any other thread, on the
/// same context at once. NULL panics ("gort_context_cancel: nil context",
/// and for a parent Go's "cannot create context from nil parent"), except
/// in gort_context_release().
#[derive(Debug)]
pub struct gort_context {
    _private: [u8; 0],
}

#[inline(always)]
fn inner<'a>(c: *mut gort_context, what: &str) -> &'a Context {
    if c.is_null() {
        go_panic(what);
    }
    // SAFETY: a non-null gort_context is a live Context (every function's
    // contract).
    unsafe { &*(c as *const Context) }
}

const NIL_PARENT: &str = "cannot create context from nil parent";

/// Returns the background context (Go's context.Background()): never
/// cancelled, no deadline, the root of every tree. Never freed: retaining and
/// releasing it do nothing, cancelling it does nothing, its
/// gort_context_err() is 0 and its gort_context_done() is NULL (Go's nil
/// channel: never ready in gort_select(), a receive waits forever).
#[no_mangle]
pub extern "C" fn gort_context_background() -> *mut gort_context {
    fence(|| context::background() as *mut gort_context)
}

/// Returns a new child of `parent` (Go's context.WithCancel), with one
/// reference for the caller, cancelled by gort_context_cancel() on it or
/// on any of its ancestors; born cancelled, with the parent's error, if
/// `parent` is. Release the reference with gort_context_release() (cancel
/// it first if its work may still be running, as Go's `defer cancel()`).
/// A NULL parent panics with "cannot create context from nil parent".
///
/// # Safety
/// `parent` is a live context the caller holds a reference to.
#[no_mangle]
pub unsafe extern "C" fn gort_context_with_cancel(parent: *mut gort_context) -> *mut gort_context {
    let p = inner(parent, NIL_PARENT);
    fence(|| context::with_cancel(p) as *mut gort_context)
}

/// Returns a new child of `parent` as gort_context_with_cancel() does,
/// also cancelled, with error ETIMEDOUT, at `deadline`, an absolute time
/// on the gort_nanotime()
/// clock (Go's context.WithDeadline; for Go's WithTimeout(d) pass
/// `gort_nanotime() + d`). A deadline that has passed gives a context
/// cancelled at once. Under a parent whose deadline is earlier, this is
/// gort_context_with_cancel(), as in Go. The deadline costs one timer and
/// no thread; cancelling or releasing the context stops it.
///
/// # Safety
/// `parent` is a live context the caller holds a reference to.
#[no_mangle]
pub unsafe extern "C" fn gort_context_with_deadline(
    parent: *mut gort_context,
    deadline: i64,
) -> *mut gort_context {
    let p = inner(parent, NIL_PARENT);
    fence(|| context::with_deadline(p, deadline) as *mut gort_context)
}

/// Adds a reference to `c` and returns `c`. The caller must already hold
/// one.
///
/// # Safety
/// `c` is a live context the caller holds a reference to (NULL panics).
#[no_mangle]
pub unsafe extern "C" fn gort_context_retain(c: *mut gort_context) -> *mut gort_context {
    let cr = inner(c, "gort_context_retain: nil context");
    fence(|| context::retain(cr));
    c
}

/// Cancels `c` (Go's CancelFunc): its error becomes ECANCELED, its done
/// channel is closed, and so for every descendant not cancelled yet; a
/// deadline it had is stopped. Its parent and the parent's other children
/// are not affected. Idempotent: cancelling a cancelled context does
/// nothing (its error stays what it was).
///
/// # Safety
/// `c` is a live context the caller holds a reference to (NULL panics).
#[no_mangle]
pub unsafe extern "C" fn gort_context_cancel(c: *mut gort_context) {
    let cr = inner(c, "gort_context_cancel: nil context");
    fence(|| context::cancel(cr))
}

/// Returns a channel (element size 0) that is closed when `c` is
/// cancelled (Go's Done): a receive gives false then, and a gort_select()
/// receive case
/// on it becomes ready. Borrowed from `c`: valid while the caller holds a
/// reference to `c`; do not release or close it. The same channel every
/// time; NULL for the background context. A goroutine that waits on it
/// should hold its own reference to `c`: freeing a context leaves a wait
/// on its channel waiting for good.
///
/// # Safety
/// `c` is a live context the caller holds a reference to (NULL panics).
#[no_mangle]
pub unsafe extern "C" fn gort_context_done(c: *mut gort_context) -> *mut gort_chan {
    let cr = inner(c, "gort_context_done: nil context");
    fence(|| context::done(cr) as *mut gort_chan)
}

/// Returns why `c` is done (Go's Err): 0 while it is not, ECANCELED after a
/// cancel (its own or an ancestor's), ETIMEDOUT after its deadline or an
/// ancestor's passed. Once non-zero it never changes. errno is not
/// touched.
///
/// # Safety
/// `c` is a live context the caller holds a reference to (NULL panics).
#[no_mangle]
pub unsafe extern "C" fn gort_context_err(c: *mut gort_context) -> c_int {
    let cr = inner(c, "gort_context_err: nil context");
    fence(|| context::err(cr))
}

/// Drops a reference to `c`. Releasing does not cancel (see gort_context);
/// the last reference frees `c` once no child needs it. Releasing more
/// references than gort_context_with_cancel(), gort_context_with_deadline()
/// and gort_context_retain() gave panics with "release of a released
/// context" while the context still exists (a freed context's pointer is
/// dangling, as after free(3)). NULL is ignored.
///
/// # Safety
/// `c` is NULL or a live context the caller holds a reference to, not
/// used again through that reference.
#[no_mangle]
pub unsafe extern "C" fn gort_context_release(c: *mut gort_context) {
    if c.is_null() {
        return;
    }
    // SAFETY: forwarded contract.
    fence(|| unsafe { context::release(c as *const Context) })
}
