//! References and pins: what keeps a channel's memory alive, the release
//! hook, and freeing the channel.
//!
//! Two counts govern a channel's memory:
//!
//! - `refs`: the C program's references (`gort_chan_new` gives one,
//!   `retain` adds one, `release` drops one).
//! - `pins`: 1 while `refs > 0`, plus 1 for each select that has waiters
//!   on the channel, plus the pins of the timer that lives in the
//!   channel's allocation, if any (`crate::timer`: its owner's, and one
//!   while it is in the timer heap or firing), plus 1 held by a context
//!   for its `done` channel (`crate::context`). The channel is freed when
//!   `pins` drops to 0.
//!
//! A channel, its buffer and an optional *trailer* (a timer) are one
//! allocation ([`Chan::new_with_trailer`]): a timer costs one `malloc`,
//! and its trailer lives exactly as long as the channel.
//!
//! Dropping the last reference while a goroutine (or thread) is blocked on
//! the channel panics (`release of channel with blocked goroutines`) and
//! leaves the reference in place, so the blocked operation is not lost.
//!
//! An operation in progress needs no reference of its own: once a waiter
//! has been dequeued, neither its owner nor its waker touches the channel
//! again (the owner's park callback unlocks it before anyone can dequeue
//! the waiter, and the waker unlocks it before readying). So the other
//! side may release the last reference the moment it has received a value
//! or seen a close. The exceptions are a select, which relocks all its
//! channels after it wakes up to unlink its other waiters (hence its
//! pins), and a timer, which sends later (hence its pins).

use std::alloc;
use std::ptr;
use std::sync::atomic::{fence, Ordering};

use crate::panic::{fatal, go_panic};

use super::Chan;

impl Chan {
    /// Sets the function called with the channel's trailer when the last
    /// reference is released.
    ///
    /// # Safety
    /// The caller holds the only reference and no pin is shared yet.
    pub(crate) unsafe fn set_release_hook(&self, f: super::ReleaseHook) {
        self.release_hook.set(Some(f));
    }

    /// Adds a pin (see the module docs).
    ///
    /// # Safety
    /// The channel is live and stays so meanwhile: the caller holds a
    /// reference or a pin.
    #[inline]
    pub(crate) unsafe fn pin(c: *const Chan) {
        // SAFETY: forwarded contract.
        unsafe { (*c).pins.fetch_add(1, Ordering::Relaxed) };
    }

    /// Drops a pin; the last one frees the channel.
    ///
    /// # Safety
    /// The caller owns one pin of `c` and does not use `c` afterwards.
    pub(crate) unsafe fn unpin(c: *const Chan) {
        // SAFETY: the caller's pin keeps c alive until this decrement.
        if unsafe { (*c).pins.fetch_sub(1, Ordering::Release) } != 1 {
            return;
        }
        // Order every other unpinner's use of the channel before the free.
        fence(Ordering::Acquire);
        // SAFETY: no pin left: nobody can reach the channel any more.
        unsafe { Chan::free(c) };
    }

    /// # Safety
    /// `c` came from `Chan::new_with_trailer` and is unreachable.
    unsafe fn free(c: *const Chan) {
        // SAFETY: forwarded contract; the layout is the one the allocation
        // was made with (the trailer needs no drop, per new_with_trailer).
        unsafe {
            let (layout, _) = (*c).alloc_layout();
            ptr::drop_in_place(c as *mut Chan);
            alloc::dealloc(c as *mut u8, layout);
        }
    }
}

/// Adds a reference.
///
/// # Safety
/// The caller holds a reference to `c`.
pub(crate) unsafe fn retain(c: &Chan) {
    if c.refs.fetch_add(1, Ordering::Relaxed) > i32::MAX as u32 {
        fatal("channel reference count overflow");
    }
}

/// Drops a reference; the last one frees the channel unless something is
/// blocked on it, which panics `release of channel with blocked
/// goroutines` and keeps the reference.
///
/// # Safety
/// The caller owns a reference to `c` and, unless this panics, gives it up.
pub(crate) unsafe fn release(c: *const Chan) {
    // SAFETY: forwarded contract (the reference keeps c alive).
    match unsafe { drop_ref(c) } {
        Dropped::Kept => {}
        Dropped::AlreadyReleased => go_panic("release of a released channel"),
        Dropped::Blocked => go_panic("release of channel with blocked goroutines"),
    }
}

/// Drops a reference that the runtime holds for one of its objects (a
/// context's `done` channel), never panicking, since it runs wherever that
/// object is freed (a timer firing, another context's release). If
/// goroutines are still blocked on the channel, which only a program that
/// kept using a borrowed channel after its last reference to the owner
/// can cause, the reference is kept: the channel stays allocated and they
/// stay blocked, as on a context that is never cancelled. If the program
/// released the reference already (a borrowed channel released by
/// mistake), nothing happens.
///
/// # Safety
/// `c` is live (the caller holds a pin); the caller's reference, if the
/// program left it, is given up.
pub(crate) unsafe fn release_quiet(c: *const Chan) {
    // SAFETY: forwarded contract (the caller's pin keeps c alive).
    let _ = unsafe { drop_ref(c) };
}

/// What [`drop_ref`] did.
enum Dropped {
    /// Given up (and the channel freed if it was the last reference).
    Kept,
    /// Nothing: no reference was left (it is restored).
    AlreadyReleased,
    /// Nothing: the last reference, but goroutines are blocked on the
    /// channel (it is restored).
    Blocked,
}

/// Gives up one reference to `c`; the last one runs the release hook and
/// frees the channel, unless goroutines are still blocked on it.
///
/// # Safety
/// `c` is live for the duration of the call.
unsafe fn drop_ref(c: *const Chan) -> Dropped {
    // SAFETY: live per the contract.
    let ch = unsafe { &*c };
    let prev = ch.refs.fetch_sub(1, Ordering::AcqRel);
    if prev > 1 {
        return Dropped::Kept;
    }
    if prev == 0 {
        ch.refs.fetch_add(1, Ordering::Relaxed);
        return Dropped::AlreadyReleased;
    }
    ch.lock();
    // SAFETY: lock held.
    let blocked = unsafe { ch.recvq.any_blocked() || ch.sendq.any_blocked() };
    if blocked {
        ch.refs.fetch_add(1, Ordering::Relaxed);
    }
    // SAFETY: lock held.
    unsafe { ch.unlock() };
    if blocked {
        return Dropped::Blocked;
    }
    // refs is 0: this release alone reads the hook.
    if let Some(f) = ch.release_hook.take() {
        let (_, trailer_off) = ch.alloc_layout();
        // SAFETY: the trailer lies inside c's allocation, which the pin
        // keeps; `c` is the allocation's own pointer.
        f(unsafe { (c as *mut u8).add(trailer_off) });
    }
    // SAFETY: the references' pin; nothing of ours touches c afterwards.
    unsafe { Chan::unpin(c) };
    Dropped::Kept
}
