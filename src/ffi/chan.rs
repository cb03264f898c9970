//! Channels and select (API.md §5), and gort_after.
//!
//! The channel itself is `crate::chan`, select is `crate::select`, the
//! timer behind gort_after is `crate::timer`; this file checks C arguments
//! and converts types. Every panic raised here or below is recoverable
//! (gort_pcall, gort_recover): it is raised with no channel lock held and
//! nothing owned that would need dropping.

use std::ffi::{c_int, c_void};

use super::{fence, NIL_DEREF};
use crate::chan::{self, Chan, Recv, WAIT_RECV_NIL, WAIT_SEND_NIL};
use crate::panic::go_panic;
use crate::select::{self, Case};

/// A channel (Go's `chan`): a typed-by-size pipe between goroutines and
/// threads. Opaque and reference counted: gort_chan_new() and gort_after()
/// return one reference, gort_chan_retain() adds one, gort_chan_release()
/// drops one; the channel is freed when the last reference is gone and no
/// operation is still using it.
///
/// Elements are `elem_size` bytes copied with memcpy: a send copies from
/// `elem`, a receive copies into it. Element sizes 0 (pure
/// synchronisation; `elem` may then be NULL everywhere) to any size that
/// fits in memory are supported.
///
/// Every operation works from goroutines and from any other thread: a
/// goroutine that must wait parks (its thread runs other goroutines), a
/// thread outside the runtime blocks. A goroutine woken by a channel
/// operation runs next on its waker's processor.
///
/// A NULL `gort_chan *` is Go's nil channel: sends and receives on it
/// block forever, it is never ready in gort_select(), its length and
/// capacity are 0, and closing it panics.
#[derive(Debug)]
pub struct gort_chan {
    _private: [u8; 0],
}

/// The direction of a gort_select_case: receive.
pub const GORT_RECV: c_int = 1;
/// The direction of a gort_select_case: send.
pub const GORT_SEND: c_int = 2;

/// One case of gort_select().
#[repr(C)]
#[derive(Debug)]
pub struct gort_select_case {
    /// The channel. NULL: the case is never ready (a nil channel in Go).
    pub chan: *mut gort_chan,
    /// GORT_RECV or GORT_SEND; anything else panics.
    pub dir: c_int,
    /// GORT_SEND: the value to send (elem_size bytes; may be NULL only if
    /// the element size is 0). GORT_RECV: where to store the value
    /// received (NULL: drop it).
    pub elem: *mut c_void,
    /// Written by gort_select() for the chosen case only: for a receive,
    /// true if a value was received and false if the channel is closed and
    /// drained (elem zeroed); true for a send.
    pub ok: bool,
}

const _: () = {
    use std::mem::{align_of, offset_of, size_of};
    assert!(GORT_RECV == select::RECV && GORT_SEND == select::SEND);
    assert!(size_of::<gort_select_case>() == size_of::<Case>());
    assert!(align_of::<gort_select_case>() == align_of::<Case>());
    assert!(offset_of!(gort_select_case, chan) == offset_of!(Case, chan));
    assert!(offset_of!(gort_select_case, dir) == offset_of!(Case, dir));
    assert!(offset_of!(gort_select_case, elem) == offset_of!(Case, elem));
    assert!(offset_of!(gort_select_case, ok) == offset_of!(Case, ok));
};

#[inline(always)]
fn inner<'a>(c: *const gort_chan) -> Option<&'a Chan> {
    // SAFETY: a non-null gort_chan pointer is a live Chan (the caller
    // holds a reference, per every function's contract).
    unsafe { (c as *const Chan).as_ref() }
}

/// Makes a channel of `cap` elements of `elem_size` bytes each (cap 0:
/// unbuffered, every send waits for a receiver), and returns it with one
/// reference. `elem_size` may be 0. A size whose buffer could not exist
/// panics with "makechan: size out of range".
#[no_mangle]
pub extern "C" fn gort_chan_new(elem_size: usize, cap: usize) -> *mut gort_chan {
    fence(|| Chan::new(elem_size, cap) as *mut gort_chan)
}

/// Adds a reference to `c` and returns `c`. The caller must already hold
/// one. NULL returns NULL.
///
/// # Safety
/// `c` is NULL or a channel the caller holds a reference to.
#[no_mangle]
pub unsafe extern "C" fn gort_chan_retain(c: *mut gort_chan) -> *mut gort_chan {
    if let Some(ch) = inner(c) {
        // SAFETY: forwarded contract.
        fence(|| unsafe { chan::retain(ch) });
    }
    c
}

/// Drops a reference to `c`; the last one frees it. Releasing the last
/// reference while goroutines or threads are blocked on `c` panics with
/// "release of channel with blocked goroutines" and drops nothing. An
/// operation that has completed needs no reference: once a sent value has
/// been received (or a close observed), the other side may release the
/// last reference even if the sender has not yet returned. NULL is ignored.
///
/// # Safety
/// `c` is NULL or a channel the caller holds a reference to; the caller
/// does not use that reference again.
#[no_mangle]
pub unsafe extern "C" fn gort_chan_release(c: *mut gort_chan) {
    if c.is_null() {
        return;
    }
    // SAFETY: forwarded contract.
    fence(|| unsafe { chan::release(c as *const Chan) })
}

/// Sends the `elem_size` bytes at `elem` on `c`, waiting until a receiver
/// takes them or buffer room is free. Panics with "send on closed channel"
/// if `c` is closed, or closed while waiting. On NULL `c`, blocks forever.
/// `elem` may be NULL only if the element size is 0 (else panics with
/// "gort_chan_send: nil element pointer").
///
/// # Safety
/// `c` is NULL or a live channel; `elem` is readable for the element size.
#[no_mangle]
pub unsafe extern "C" fn gort_chan_send(c: *mut gort_chan, elem: *const c_void) {
    let Some(ch) = inner(c) else {
        return fence(|| chan::block_forever(&WAIT_SEND_NIL));
    };
    if elem.is_null() && ch.elem_size() != 0 {
        go_panic("gort_chan_send: nil element pointer");
    }
    // SAFETY: forwarded contract.
    fence(|| unsafe { chan::send(ch, elem as *const u8, true) });
}

/// Receives from `c` into `elem` (NULL: the value is dropped), waiting
/// until a value is available. Returns true for a value, false if `c` is
/// closed and drained (then `elem` is zeroed). On NULL `c`, blocks
/// forever.
///
/// # Safety
/// `c` is NULL or a live channel; `elem` is NULL or writable for the
/// element size.
#[no_mangle]
pub unsafe extern "C" fn gort_chan_recv(c: *mut gort_chan, elem: *mut c_void) -> bool {
    let Some(ch) = inner(c) else {
        return fence(|| chan::block_forever(&WAIT_RECV_NIL));
    };
    // SAFETY: forwarded contract.
    fence(|| unsafe { chan::recv(ch, elem as *mut u8, true) }) == Recv::Value
}

/// Sends without waiting (Go's select with one send case and default):
/// returns 1 if the value was taken or buffered, 0 if the send would have
/// to wait (always 0 for NULL `c`). Panics with "send on closed channel"
/// if `c` is closed. `elem` may be NULL only if the element size is 0.
///
/// # Safety
/// As gort_chan_send().
#[no_mangle]
pub unsafe extern "C" fn gort_chan_try_send(c: *mut gort_chan, elem: *const c_void) -> c_int {
    let Some(ch) = inner(c) else {
        return 0;
    };
    if elem.is_null() && ch.elem_size() != 0 {
        go_panic("gort_chan_try_send: nil element pointer");
    }
    // SAFETY: forwarded contract.
    fence(|| unsafe { chan::send(ch, elem as *const u8, false) }) as c_int
}

/// Receives without waiting: returns 1 if a value was received into
/// `elem`, 0 if none is available now (always 0 for NULL `c`), -1 if `c`
/// is closed and drained (then `elem` is zeroed). `elem` may be NULL.
///
/// # Safety
/// As gort_chan_recv().
#[no_mangle]
pub unsafe extern "C" fn gort_chan_try_recv(c: *mut gort_chan, elem: *mut c_void) -> c_int {
    let Some(ch) = inner(c) else {
        return 0;
    };
    // SAFETY: forwarded contract.
    match fence(|| unsafe { chan::recv(ch, elem as *mut u8, false) }) {
        Recv::Value => 1,
        Recv::WouldBlock => 0,
        Recv::Closed => -1,
    }
}

/// Closes `c`: no more values may be sent. Buffered values can still be
/// received; after them every receive returns at once with a zeroed
/// element and false/-1. Every waiting receiver wakes up that way, and
/// every waiting sender wakes up and panics with "send on closed channel".
/// Closing a closed channel panics with "close of closed channel"; closing
/// NULL panics with "close of nil channel".
///
/// # Safety
/// `c` is NULL or a live channel.
#[no_mangle]
pub unsafe extern "C" fn gort_chan_close(c: *mut gort_chan) {
    let Some(ch) = inner(c) else {
        go_panic("close of nil channel")
    };
    fence(|| chan::close(ch))
}

/// The number of values buffered in `c` now (0 for NULL), as Go's
/// `len(c)`: a snapshot that may be stale by the time it is used.
///
/// # Safety
/// `c` is NULL or a live channel.
#[no_mangle]
pub unsafe extern "C" fn gort_chan_len(c: *const gort_chan) -> usize {
    fence(|| inner(c).map_or(0, Chan::len))
}

/// The buffer capacity of `c` (0 for NULL or an unbuffered channel).
///
/// # Safety
/// `c` is NULL or a live channel.
#[no_mangle]
pub unsafe extern "C" fn gort_chan_cap(c: *const gort_chan) -> usize {
    fence(|| inner(c).map_or(0, Chan::cap))
}

/// Returns a new channel (capacity 1, element `int64_t`) that receives one
/// value, gort_nanotime() at that moment, about `ns` nanoseconds from now
/// (at once if `ns <= 0`), like Go's time.After. The caller owns the one
/// reference and releases it when done, whether or not the value arrived:
/// releasing it before the timer fired stops the timer, so an abandoned
/// timeout costs nothing from then on. The timer costs no thread. If the
/// buffer is full or the channel closed when the timer fires, the value is
/// dropped. For a timeout that can be stopped or reset, see gort_timer.
#[no_mangle]
pub extern "C" fn gort_after(ns: i64) -> *mut gort_chan {
    fence(|| crate::timer::after(ns) as *mut gort_chan)
}

/// Waits until one of the `n` cases can proceed, performs it, and returns
/// its index (Go's select statement). Among several ready cases one is
/// chosen uniformly at random. A receive case on a closed, drained channel
/// is ready (its `elem` is zeroed and `ok` set false); a send case on a
/// closed channel panics with "send on closed channel". Cases with a NULL
/// channel are never ready. With `block` false (Go's `default`), returns
/// -1 at once if no case is ready; with `block` true and no case that can
/// ever become ready (n == 0, or all channels NULL), blocks forever.
///
/// The same channel may appear in several cases, in either direction.
/// `ok` is written for the chosen case only. A `dir` other than GORT_RECV
/// or GORT_SEND panics, and so does a send case with a NULL `elem` and a
/// non-zero element size ("gort_select: nil element pointer").
///
/// `n` is at most 65536 (Go's limit for reflect.Select). The count is
/// checked before any case is read: a larger `n` panics with
/// "gort_select: too many cases (max 65536)", and a negative count that
/// was converted to `size_t` (a value of 2^63 or more) with "gort_select:
/// negative case count". `cases` may be NULL only if `n` is 0; NULL with
/// cases to read is a nil-pointer panic ("runtime error: invalid memory
/// address or nil pointer dereference"). All of these are recoverable.
///
/// # Safety
/// `cases` points to `n` cases; each non-NULL channel is live, and each
/// `elem` is valid for its channel's element size.
#[no_mangle]
pub unsafe extern "C" fn gort_select(cases: *mut gort_select_case, n: usize, block: bool) -> c_int {
    // The count first: a slice of `n` cases must never be formed for an
    // `n` that cannot be a real array (undefined behaviour even unread).
    if n > isize::MAX as usize {
        go_panic(select::NEGATIVE_CASES);
    }
    if n > select::MAX_CASES {
        go_panic(select::TOO_MANY_CASES);
    }
    let cases: &mut [Case] = if n == 0 {
        &mut []
    } else {
        if cases.is_null() {
            go_panic(NIL_DEREF);
        }
        // SAFETY: the caller guarantees n cases at `cases`, and n is at
        // most MAX_CASES (checked above), so the slice's size cannot
        // overflow; the layouts match (checked at compile time above).
        unsafe { std::slice::from_raw_parts_mut(cases as *mut Case, n) }
    };
    // SAFETY: forwarded contract.
    match fence(|| unsafe { select::select(cases, block) }) {
        Some(i) => i as c_int,
        None => -1,
    }
}
