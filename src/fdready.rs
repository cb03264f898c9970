//! `gort_fd_ready`: readiness as a channel that a `gort_select` can wait
//! on beside other channels and timers, as module `timer` makes channels
//! of the timer heap's deadlines.
//!
//! The channel (capacity 1, `int` elements) receives one value: the ready
//! events, 0 at the deadline, or -errno. The wait itself is the
//! netpoller's (module `netpoll`, a layer below, which knows nothing of
//! channels): this module gives it a sink that offers the result to the
//! channel, and makes the wait's cancellation the channel's release hook,
//! so that releasing the channel before its value arrived cancels the
//! wait.
//!
//! # Invariants
//!
//! - The wait holds one pin on the channel from when it is armed until it
//!   hands the result over or is cancelled; the release hook holds one
//!   reference to the wait.
//! - Nothing else sends on the channel: one value, offered without
//!   waiting, into an empty buffer of one.

use std::alloc::Layout;

use crate::chan::{self, Chan};
use crate::netpoll::{self, Ready, Sink};

/// The sink's delivery: offers `result` to the channel `target` and
/// drops the wait's pin.
///
/// # Safety
/// `target` is a channel with 4-byte elements, kept alive by the pin the
/// wait holds.
unsafe fn deliver(target: usize, result: i32) {
    let c = target as *const Chan;
    // SAFETY: our pin keeps the channel alive; it has 4-byte elements
    // and capacity 1, and nothing else sends on it.
    unsafe {
        chan::offer(&*c, &result as *const i32 as *const u8);
        Chan::unpin(c);
    }
}

/// The sink's cancellation: drops the wait's pin on the channel `target`.
///
/// # Safety
/// The wait holds a pin on `target`, which it gives up here.
unsafe fn unpin(target: usize) {
    // SAFETY: per the contract.
    unsafe { Chan::unpin(target as *const Chan) };
}

/// The release hook of a `gort_fd_ready` channel whose wait was armed:
/// the trailer holds the wait.
fn cancel_hook(trailer: *mut u8) {
    // SAFETY: fd_ready wrote the wait into the trailer before setting the
    // hook.
    netpoll::cancel_ready(unsafe { *(trailer as *const usize) });
}

/// `gort_fd_ready`: a channel (capacity 1, `int` elements) that receives
/// the ready events, 0 at the deadline, or -errno.
pub(crate) fn fd_ready(fd: i32, events: i32, deadline: i64) -> *const Chan {
    // The trailer holds the wait, for the release hook.
    let (c, trailer) = Chan::new_with_trailer(4, 1, Layout::new::<usize>(), false);
    let sink = Sink {
        target: c as usize,
        deliver,
        unpin,
    };
    match netpoll::begin_ready(fd, events, deadline, sink) {
        Ready::Now(v) => {
            // SAFETY: c is new and ours, with 4-byte elements.
            unsafe { chan::offer(&*c, &v as *const i32 as *const u8) };
        }
        Ready::Wait(cw) => {
            // SAFETY: we hold c's only reference; the pin is the wait's.
            unsafe { Chan::pin(c) };
            // SAFETY: c is not yet shared; the trailer is a usize slot of
            // its own, and the hook owns one reference to cw.
            unsafe {
                (trailer as *mut usize).write(cw as usize);
                (*c).set_release_hook(cancel_hook);
            }
            // SAFETY: cw is new and armed once, with the pin and the
            // hook's reference in place.
            unsafe { netpoll::arm_ready(cw) };
        }
    }
    c
}
