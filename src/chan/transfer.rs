//! Moving elements under the channel lock: the ring buffer
//! ([`Chan::buf_push`], [`Chan::buf_pop`]) and the direct hand-off between
//! an operation and a waiter it dequeued ([`Chan::send_to`],
//! [`Chan::recv_from`]). `crate::select` uses the same pieces for its
//! cases.
//!
//! Elements are plain bytes, copied with `memcpy` (inlined for the common
//! sizes); `elem_size` may be 0, and a null receive destination drops the
//! value. Everything here runs with the channel lock held and keeps the
//! buffer invariants of the module overview: `sendx` and `recvx` in
//! `0..cap`, the `qcount` occupied slots starting at `recvx`. A hand-off
//! writes the waiter's element and `success` and returns the record to
//! ready; it never readies anything itself, since `ready` is called only
//! after the lock is dropped.

use std::ptr;
use std::sync::atomic::Ordering;

use crate::sched::GRef;

use super::{Chan, Waiter};

/// Element sizes with an inlined copy instead of a call to memcpy.
#[inline(always)]
unsafe fn copy_elem(dst: *mut u8, src: *const u8, size: usize) {
    // SAFETY: (every arm) the caller guarantees `src` is readable and
    // `dst` writable for `size` bytes, and that they do not overlap.
    unsafe {
        match size {
            0 => {}
            4 => ptr::write_unaligned(dst as *mut u32, ptr::read_unaligned(src as *const u32)),
            8 => ptr::write_unaligned(dst as *mut u64, ptr::read_unaligned(src as *const u64)),
            16 => ptr::write_unaligned(dst as *mut u128, ptr::read_unaligned(src as *const u128)),
            _ => ptr::copy_nonoverlapping(src, dst, size),
        }
    }
}

/// Zeroes `size` bytes at `dst` unless `dst` is null.
#[inline]
unsafe fn clear_elem(dst: *mut u8, size: usize) {
    if !dst.is_null() && size != 0 {
        // SAFETY: the caller guarantees `dst` is writable for `size` bytes.
        unsafe { ptr::write_bytes(dst, 0, size) };
    }
}

impl Chan {
    #[inline]
    fn slot(&self, i: usize) -> *mut u8 {
        self.buf.wrapping_add(i * self.elem_size)
    }

    #[inline]
    fn advance(&self, i: usize) -> usize {
        if i + 1 == self.cap {
            0
        } else {
            i + 1
        }
    }

    /// Hands `elem` to the dequeued receiver `w` and returns the record to
    /// ready once the lock is dropped (Go: `send`).
    ///
    /// # Safety
    /// The lock is held; `w` was just dequeued from `recvq`; `elem` is
    /// readable for `elem_size` bytes.
    #[inline]
    pub(crate) unsafe fn send_to(&self, w: *mut Waiter, elem: *const u8) -> GRef {
        // SAFETY: w is dequeued but its owner still blocked, so it and its
        // destination are valid; the lock orders our writes before the
        // owner's reads (through ready).
        unsafe {
            let dst = (*w).elem.get();
            if !dst.is_null() {
                copy_elem(dst, elem, self.elem_size);
            }
            (*w).success.set(true);
            (*w).gref()
        }
    }

    /// Takes a value for the receiver `elem` from the dequeued sender `w`
    /// (Go: `recv`) and returns the record to ready once the lock is
    /// dropped. On a buffered channel (then full) the receiver gets the
    /// head of the buffer and the sender's element goes to the tail.
    ///
    /// # Safety
    /// The lock is held; `w` was just dequeued from `sendq`; `elem` is null
    /// or writable for `elem_size` bytes.
    #[inline]
    pub(crate) unsafe fn recv_from(&self, w: *mut Waiter, elem: *mut u8) -> GRef {
        // SAFETY: as in send_to; buffer slots are in bounds (invariants).
        unsafe {
            let src = (*w).elem.get();
            if self.cap == 0 {
                if !elem.is_null() {
                    copy_elem(elem, src, self.elem_size);
                }
            } else {
                let r = self.recvx.get();
                let slot = self.slot(r);
                if !elem.is_null() {
                    copy_elem(elem, slot, self.elem_size);
                }
                copy_elem(slot, src, self.elem_size);
                let r = self.advance(r);
                self.recvx.set(r);
                self.sendx.set(r);
            }
            (*w).success.set(true);
            (*w).gref()
        }
    }

    /// Appends `elem` to the buffer.
    ///
    /// # Safety
    /// The lock is held, `qcount < cap`, `elem` readable for `elem_size`.
    #[inline]
    pub(crate) unsafe fn buf_push(&self, elem: *const u8) {
        let s = self.sendx.get();
        // SAFETY: slot s is in bounds and free (invariants).
        unsafe { copy_elem(self.slot(s), elem, self.elem_size) };
        self.sendx.set(self.advance(s));
        let q = self.qcount.load(Ordering::Relaxed);
        self.qcount.store(q + 1, Ordering::Relaxed);
    }

    /// Takes the head of the buffer into `elem` (if not null).
    ///
    /// # Safety
    /// The lock is held, `qcount > 0`, `elem` null or writable.
    #[inline]
    pub(crate) unsafe fn buf_pop(&self, elem: *mut u8) {
        let r = self.recvx.get();
        if !elem.is_null() {
            // SAFETY: slot r is in bounds and full (invariants).
            unsafe { copy_elem(elem, self.slot(r), self.elem_size) };
        }
        self.recvx.set(self.advance(r));
        let q = self.qcount.load(Ordering::Relaxed);
        self.qcount.store(q - 1, Ordering::Relaxed);
    }

    /// Whether the lock holder may buffer one more element.
    #[inline]
    pub(crate) fn has_room(&self) -> bool {
        self.qcount.load(Ordering::Relaxed) < self.cap
    }

    /// Whether the lock holder finds buffered elements.
    #[inline]
    pub(crate) fn has_items(&self) -> bool {
        self.qcount.load(Ordering::Relaxed) > 0
    }

    /// Zeroes a receive destination (a receive from a closed channel).
    ///
    /// # Safety
    /// `elem` is null or writable for `elem_size` bytes.
    #[inline]
    pub(crate) unsafe fn clear(&self, elem: *mut u8) {
        // SAFETY: forwarded contract.
        unsafe { clear_elem(elem, self.elem_size) };
    }
}
