//! Timer tests, run on the test threads (foreign threads: a blocking
//! receive blocks the thread). Timings are generous: the suite shares the
//! machine with everything else.

use super::*;
use crate::chan::{recv, Recv};

const MS: i64 = 1_000_000;

fn t<'a>(p: *const Timer) -> &'a Timer {
    // SAFETY: the tests free each timer only after its last use.
    unsafe { &*p }
}

fn try_recv(tm: &Timer) -> Option<i64> {
    let mut v = 0i64;
    // SAFETY: a live timer channel of 8-byte elements.
    match unsafe { recv(&*tm.chan(), &mut v as *mut i64 as *mut u8, false) } {
        Recv::Value => Some(v),
        _ => None,
    }
}

fn recv_blocking(tm: &Timer) -> i64 {
    let mut v = 0i64;
    // SAFETY: as above.
    let r = unsafe { recv(&*tm.chan(), &mut v as *mut i64 as *mut u8, true) };
    assert_eq!(r, Recv::Value);
    v
}

fn free_timer(p: *const Timer) {
    // SAFETY: not used afterwards; nobody is blocked on its channel.
    unsafe { free(p) };
}

#[test]
fn stop_before_the_fire_leaves_the_heap_and_sends_nothing() {
    let p = new_timer(200 * MS);
    let tm = t(p);
    assert!(tm.node.is_queued());
    assert!(tm.stop(), "a pending timer stops with true");
    assert!(!tm.node.is_queued(), "a stopped timer leaves the heap");
    assert!(!tm.stop(), "stopping twice");
    crate::time::sleep(300 * MS);
    assert_eq!(try_recv(tm), None);
    free_timer(p);
}

#[test]
fn stop_drops_a_value_nobody_received() {
    let p = new_timer(0);
    let tm = t(p);
    assert!(!tm.node.is_queued(), "a timer due at once sends at once");
    // SAFETY: the channel is live.
    let c = unsafe { &*tm.chan() };
    assert_eq!((c.len(), c.cap()), (0, 0), "Go 1.23: len and cap read 0");
    assert!(tm.stop(), "an unreceived value counts as pending");
    assert_eq!(try_recv(tm), None, "stop drained it");
    assert!(!tm.stop());
    // Received values are not pending.
    assert!(!tm.reset(0));
    assert!(try_recv(tm).is_some());
    assert!(!tm.stop());
    free_timer(p);
}

#[test]
fn reset_later_is_lazy_and_fires_at_the_new_time() {
    let p = new_timer(10 * MS);
    let tm = t(p);
    let t0 = nanotime();
    assert!(tm.reset(50 * MS), "reset of a pending timer returns true");
    let v = recv_blocking(tm);
    assert!(v >= t0 + 50 * MS, "fired {} ns after the reset", v - t0);
    assert!(!tm.node.is_queued());
    assert_eq!(try_recv(tm), None, "exactly one value");
    free_timer(p);
}

#[test]
fn reset_earlier_moves_the_node() {
    let p = new_timer(3_600_000 * MS);
    let tm = t(p);
    let t0 = nanotime();
    assert!(tm.reset(5 * MS));
    let v = recv_blocking(tm);
    assert!(v >= t0 + 5 * MS);
    assert!(!tm.reset(3_600_000 * MS), "fired and received: not pending");
    assert!(tm.node.is_queued());
    free_timer(p);
}

#[test]
fn ticker_ticks_and_drops_ticks_for_a_slow_receiver() {
    let t0 = nanotime();
    let p = new_ticker(5 * MS);
    let tm = t(p);
    for _ in 0..3 {
        recv_blocking(tm);
    }
    // Three distinct ticks, the third due 15 ms after the start.
    assert!(nanotime() - t0 >= 15 * MS);
    crate::time::sleep(40 * MS);
    // Eight periods passed: at most one tick waited, plus one that may
    // have come while we receive.
    let mut n = 0;
    while try_recv(tm).is_some() {
        n += 1;
    }
    assert!((1..=2).contains(&n), "{n} ticks waiting");
    assert!(tm.stop(), "a running ticker stops with true");
    crate::time::sleep(15 * MS);
    assert_eq!(try_recv(tm), None, "a stopped ticker sends nothing");
    assert!(!tm.node.is_queued());
    assert!(!tm.reset(2 * MS));
    recv_blocking(tm);
    free_timer(p);
}

#[test]
fn free_of_a_pending_timer_gives_back_its_pins() {
    for i in 0..1000 {
        let p = new_timer(if i % 2 == 0 { 3_600_000 * MS } else { 0 });
        free_timer(p);
    }
}

#[test]
fn after_sends_once_and_a_release_stops_it() {
    let c = after(2 * MS);
    let mut v = 0i64;
    // SAFETY: a live channel of 8-byte elements; we hold its reference.
    unsafe {
        assert_eq!(recv(&*c, &mut v as *mut i64 as *mut u8, true), Recv::Value);
        assert_eq!((*c).cap(), 1, "gort_after's channel keeps capacity 1");
        chan::release(c);
    }
    for _ in 0..1000 {
        // SAFETY: our reference, released at once: the hook stops the timer.
        unsafe { chan::release(after(3_600_000 * MS)) };
    }
}
