//! Channel tests: semantics on one thread, hand-offs between goroutines
//! and foreign threads, close, lifetimes, and a many-to-many stress test.
//!
//! Panics (send on a closed channel, ...) end the process, so they are
//! tested by the C programs in `c-tests/`, not here.

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use super::*;
use crate::sched;
use crate::sync::waitgroup::RawWaitGroup;

/// A channel pointer the tests share between threads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ch(pub(crate) *const Chan);

// SAFETY: channels are Sync; the tests keep them alive while shared.
unsafe impl Send for Ch {}
// SAFETY: as above.
unsafe impl Sync for Ch {}

impl Ch {
    pub(crate) fn new(elem_size: usize, cap: usize) -> Ch {
        Ch(Chan::new(elem_size, cap))
    }
    pub(crate) fn ptr(&self) -> *const Chan {
        self.0
    }
    pub(crate) fn get(&self) -> &Chan {
        // SAFETY: tests release a channel only after every user is done.
        unsafe { &*self.0 }
    }
    pub(crate) fn send(&self, v: u64) {
        // SAFETY: live channel of 8-byte elements.
        unsafe { send(self.get(), &v as *const u64 as *const u8, true) };
    }
    pub(crate) fn try_send(&self, v: u64) -> bool {
        // SAFETY: as above.
        unsafe { send(self.get(), &v as *const u64 as *const u8, false) }
    }
    pub(crate) fn recv(&self) -> Option<u64> {
        let mut v = u64::MAX;
        // SAFETY: as above.
        match unsafe { recv(self.get(), &mut v as *mut u64 as *mut u8, true) } {
            Recv::Value => Some(v),
            Recv::Closed => {
                assert_eq!(v, 0, "closed receive must zero the element");
                None
            }
            Recv::WouldBlock => unreachable!(),
        }
    }
    pub(crate) fn try_recv(&self) -> (Recv, u64) {
        let mut v = u64::MAX;
        // SAFETY: as above.
        let r = unsafe { recv(self.get(), &mut v as *mut u64 as *mut u8, false) };
        (r, v)
    }
    pub(crate) fn close(&self) {
        close(self.get());
    }
    pub(crate) fn release(self) {
        // SAFETY: the test's reference.
        unsafe { release(self.0) };
    }
}

/// Runs `f` on a new goroutine.
pub(crate) fn go<F: FnOnce() + Send + 'static>(f: F) {
    unsafe extern "C" fn tramp<F: FnOnce()>(arg: *mut c_void) {
        // SAFETY: arg is the Box made below, handed over exactly once.
        let f = unsafe { Box::from_raw(arg as *mut F) };
        f();
    }
    sched::spawn(tramp::<F>, Box::into_raw(Box::new(f)) as *mut c_void);
}

/// A waitgroup the tests can share.
pub(crate) fn wg() -> Arc<RawWaitGroup> {
    Arc::new(RawWaitGroup::new())
}

#[test]
fn buffered_fifo_len_cap_on_one_thread() {
    let c = Ch::new(8, 4);
    assert_eq!((c.get().len(), c.get().cap()), (0, 4));
    for i in 0..4 {
        assert!(c.try_send(i));
    }
    assert!(!c.try_send(99), "a full channel refuses");
    assert_eq!(c.get().len(), 4);
    for round in 0..10u64 {
        // Wrap around the ring several times.
        assert_eq!(c.recv(), Some(round));
        c.send(round + 4);
    }
    assert_eq!(c.try_recv(), (Recv::Value, 10));
    c.close();
    // Buffered values survive close, then closed-and-drained.
    assert_eq!(c.recv(), Some(11));
    assert_eq!(c.recv(), Some(12));
    assert_eq!(c.recv(), Some(13));
    assert_eq!(c.recv(), None);
    assert_eq!(c.try_recv(), (Recv::Closed, 0));
    c.release();
}

#[test]
fn unbuffered_non_blocking_without_partner() {
    let c = Ch::new(8, 0);
    assert!(!c.try_send(1));
    assert_eq!(c.try_recv(), (Recv::WouldBlock, u64::MAX));
    c.close();
    assert_eq!(c.try_recv(), (Recv::Closed, 0));
    c.release();
}

#[test]
fn zero_size_elements() {
    let c = Chan::new(0, 3);
    // SAFETY: live channel of 0-byte elements; null elements are fine.
    unsafe {
        let ch = &*c;
        for _ in 0..3 {
            assert!(send(ch, ptr::null(), false));
        }
        assert!(!send(ch, ptr::null(), false));
        assert_eq!(ch.len(), 3);
        assert_eq!(recv(ch, ptr::null_mut(), false), Recv::Value);
        close(ch);
        assert_eq!(recv(ch, ptr::null_mut(), true), Recv::Value);
        assert_eq!(recv(ch, ptr::null_mut(), true), Recv::Value);
        assert_eq!(recv(ch, ptr::null_mut(), true), Recv::Closed);
        release(c);
    }
}

#[test]
fn large_elements_round_trip_between_threads() {
    const SIZE: usize = 1024;
    for cap in [0, 1, 3] {
        let c = Ch::new(SIZE, cap);
        let t = std::thread::spawn(move || {
            for k in 0..200u8 {
                let v = [k; SIZE];
                // SAFETY: live channel, SIZE-byte elements.
                unsafe { send(c.get(), v.as_ptr(), true) };
            }
        });
        for k in 0..200u8 {
            let mut v = [0xeeu8; SIZE];
            // SAFETY: as above.
            assert_eq!(unsafe { recv(c.get(), v.as_mut_ptr(), true) }, Recv::Value);
            assert!(v.iter().all(|&b| b == k));
        }
        t.join().unwrap();
        c.release();
    }
}

#[test]
fn unbuffered_ping_pong_goroutine_and_thread() {
    let ping = Ch::new(8, 0);
    let pong = Ch::new(8, 0);
    go(move || {
        while let Some(v) = ping.recv() {
            pong.send(v + 1);
        }
        pong.close();
    });
    for i in 0..20_000u64 {
        ping.send(i);
        assert_eq!(pong.recv(), Some(i + 1));
    }
    ping.close();
    assert_eq!(pong.recv(), None);
    ping.release();
    pong.release();
}

#[test]
fn buffered_full_channel_keeps_fifo_with_blocked_senders() {
    // Senders block on a full buffer; a receiver takes the head and moves
    // the first blocked sender's value to the tail.
    let c = Ch::new(8, 2);
    c.send(0);
    c.send(1);
    let done = wg();
    done.add(1);
    let d = done.clone();
    let t = std::thread::spawn(move || {
        c.send(2); // blocks: the buffer is full
        d.done();
    });
    while {
        c.get().lock();
        // SAFETY: lock held.
        let waiting = !c.get().sendq.is_empty();
        // SAFETY: lock held.
        unsafe { c.get().unlock() };
        !waiting
    } {
        std::thread::yield_now();
    }
    assert_eq!(c.recv(), Some(0));
    done.wait();
    assert_eq!(c.recv(), Some(1));
    assert_eq!(c.recv(), Some(2));
    t.join().unwrap();
    c.release();
}

#[test]
fn close_wakes_every_blocked_receiver_and_thread() {
    let c = Ch::new(8, 0);
    let woke = Arc::new(AtomicUsize::new(0));
    let done = wg();
    done.add(8);
    for _ in 0..4 {
        let (w, d) = (woke.clone(), done.clone());
        go(move || {
            assert_eq!(c.recv(), None);
            w.fetch_add(1, Ordering::SeqCst);
            d.done();
        });
    }
    let mut ts = Vec::new();
    for _ in 0..4 {
        let (w, d) = (woke.clone(), done.clone());
        ts.push(std::thread::spawn(move || {
            assert_eq!(c.recv(), None);
            w.fetch_add(1, Ordering::SeqCst);
            d.done();
        }));
    }
    // Wait until all eight are queued, then close.
    loop {
        c.get().lock();
        let mut n = 0;
        let mut w = c.get().recvq.first.load(Ordering::Relaxed);
        while !w.is_null() {
            n += 1;
            // SAFETY: lock held; linked waiters are live.
            w = unsafe { (*w).next.get() };
        }
        // SAFETY: lock held.
        unsafe { c.get().unlock() };
        if n == 8 {
            break;
        }
        std::thread::yield_now();
    }
    c.close();
    done.wait();
    assert_eq!(woke.load(Ordering::SeqCst), 8);
    for t in ts {
        t.join().unwrap();
    }
    c.release();
}

#[test]
fn receiver_releases_last_reference_at_once() {
    // The contract: once a value was received, the receiver may drop the
    // only reference while the sender is still returning from send.
    for cap in [0, 1] {
        let done = wg();
        for _ in 0..2_000 {
            let c = Ch::new(8, cap);
            done.add(1);
            let d = done.clone();
            go(move || {
                c.send(7);
                d.done();
            });
            assert_eq!(c.recv(), Some(7));
            c.release();
        }
        done.wait();
    }
}

#[test]
fn after_delivers_the_time_once() {
    let t0 = crate::time::nanotime();
    let c = Ch(crate::timer::after(2_000_000));
    assert_eq!(c.get().cap(), 1);
    let v = c.recv().unwrap() as i64;
    let t1 = crate::time::nanotime();
    assert!(v >= t0 + 2_000_000 && v <= t1, "t0 {t0} v {v} t1 {t1}");
    assert_eq!(c.try_recv().0, Recv::WouldBlock);
    c.release();
    // Released before firing: the timer's pin keeps it alive until then.
    for _ in 0..100 {
        Ch(crate::timer::after(100_000)).release();
    }
    let c = Ch(crate::timer::after(0));
    assert_eq!(c.try_recv().0, Recv::Value);
    c.release();
    std::thread::sleep(std::time::Duration::from_millis(5));
}

/// Many senders, many receivers, goroutines and threads mixed: every value
/// arrives exactly once.
#[test]
fn stress_many_to_many_no_loss_no_duplicates() {
    const SENDERS: u64 = 8;
    const PER: u64 = 5_000;
    for cap in [0usize, 1, 16] {
        let c = Ch::new(8, cap);
        let sum = Arc::new(AtomicU64::new(0));
        let count = Arc::new(AtomicU64::new(0));
        let senders = wg();
        let receivers = wg();
        senders.add(SENDERS as i64);
        for s in 0..SENDERS {
            let d = senders.clone();
            let body = move || {
                for i in 0..PER {
                    c.send(s * PER + i + 1);
                }
                d.done();
            };
            if s % 4 == 3 {
                std::thread::spawn(body);
            } else {
                go(body);
            }
        }
        receivers.add(6);
        for r in 0..6 {
            let (sum, count, d) = (sum.clone(), count.clone(), receivers.clone());
            let body = move || {
                while let Some(v) = c.recv() {
                    sum.fetch_add(v, Ordering::Relaxed);
                    count.fetch_add(1, Ordering::Relaxed);
                }
                d.done();
            };
            if r == 5 {
                std::thread::spawn(body);
            } else {
                go(body);
            }
        }
        senders.wait();
        c.close();
        receivers.wait();
        let n = SENDERS * PER;
        assert_eq!(count.load(Ordering::Relaxed), n, "cap {cap}");
        assert_eq!(sum.load(Ordering::Relaxed), n * (n + 1) / 2, "cap {cap}");
        c.release();
    }
}

/// An unbuffered channel is its record alone, 104 bytes: with the
/// allocator's header, 112 of heap (a 10,000-goroutine ring of channels
/// counts them against Go's 96-byte `hchan`).
#[test]
fn channel_record_stays_small() {
    let size = std::mem::size_of::<super::Chan>();
    assert!(size <= 104, "the channel record grew to {size} bytes");
    let (layout, _) = {
        let c = super::Chan::new(8, 0);
        // SAFETY: c is live until the release below.
        let l = unsafe { (*c).alloc_layout() };
        // SAFETY: our only reference.
        unsafe { super::release(c) };
        l
    };
    assert_eq!(layout.size(), size, "an unbuffered channel pads its record");
}
