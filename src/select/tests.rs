//! Select tests: fairness, blocking and waking, nil cases, the same
//! channel in both directions, lifetimes, and a stress test.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::*;
use crate::chan::tests::{go, wg, Ch};

fn recv_case(c: Ch, dst: &mut u64) -> Case {
    Case {
        chan: c.ptr(),
        dir: RECV,
        elem: dst as *mut u64 as *mut c_void,
        ok: false,
    }
}

fn send_case(c: Ch, src: &u64) -> Case {
    Case {
        chan: c.ptr(),
        dir: SEND,
        elem: src as *const u64 as *mut c_void,
        ok: false,
    }
}

fn nil_case() -> Case {
    Case {
        chan: ptr::null(),
        dir: RECV,
        elem: ptr::null_mut(),
        ok: false,
    }
}

fn sel(cases: &mut [Case], block: bool) -> Option<usize> {
    // SAFETY: the tests' channels are live and elems valid.
    unsafe { select(cases, block) }
}

#[test]
fn fairness_between_two_ready_cases() {
    let a = Ch::new(8, 1);
    let b = Ch::new(8, 1);
    let mut hits = [0u32; 2];
    for _ in 0..10_000 {
        a.try_send(1);
        b.try_send(2);
        let (mut x, mut y) = (0, 0);
        let mut cases = [recv_case(a, &mut x), recv_case(b, &mut y)];
        let i = sel(&mut cases, true).unwrap();
        assert!(cases[i].ok);
        hits[i] += 1;
    }
    assert!((4_000..=6_000).contains(&hits[0]), "{hits:?}");
    a.release();
    b.release();
}

#[test]
fn non_blocking_nil_and_empty() {
    let a = Ch::new(8, 0);
    let (mut x, v) = (0, 5u64);
    let mut cases = [nil_case(), recv_case(a, &mut x), send_case(a, &v)];
    assert_eq!(sel(&mut cases, false), None);
    assert_eq!(sel(&mut [], false), None);
    assert_eq!(sel(&mut [nil_case()], false), None);
    a.close();
    let mut cases = [nil_case(), recv_case(a, &mut x)];
    assert_eq!(sel(&mut cases, false), Some(1));
    assert!(!cases[1].ok);
    a.release();
}

#[test]
fn blocking_select_woken_by_thread_and_goroutine() {
    for round in 0..400u64 {
        let chans: Vec<Ch> = (0..4).map(|_| Ch::new(8, 0)).collect();
        let target = chans[(round % 4) as usize];
        if round % 2 == 0 {
            go(move || target.send(round));
        } else {
            std::thread::spawn(move || target.send(round));
        }
        let mut dst = [0u64; 4];
        let [d0, d1, d2, d3] = &mut dst;
        let mut cases = [
            recv_case(chans[0], d0),
            recv_case(chans[1], d1),
            recv_case(chans[2], d2),
            recv_case(chans[3], d3),
        ];
        let i = sel(&mut cases, true).unwrap();
        assert_eq!(i, (round % 4) as usize);
        assert!(cases[i].ok);
        assert_eq!(dst[i], round);
        for c in chans {
            c.release();
        }
    }
}

#[test]
fn same_channel_send_and_receive_in_one_select() {
    // Go's TestSelfSelect: goroutines that select on sending to and
    // receiving from the same channel never pair with themselves.
    for cap in [0usize, 10] {
        let c = Ch::new(8, cap);
        let done = wg();
        done.add(2);
        for p in 0..2u64 {
            let d = done.clone();
            go(move || {
                for i in 0..1_000u64 {
                    let v = p * 1_000_000 + i;
                    let mut got = 0u64;
                    let mut cases = [send_case(c, &v), recv_case(c, &mut got)];
                    if sel(&mut cases, true) == Some(1) {
                        assert!(
                            cap != 0 || got / 1_000_000 != p,
                            "unbuffered self-receive of {got}"
                        );
                    }
                }
                d.done();
            });
        }
        done.wait();
        c.release();
    }
}

#[test]
fn select_timeout_with_after() {
    let never = Ch::new(8, 0);
    let t0 = crate::time::nanotime();
    let t = Ch(crate::time::after(3_000_000));
    let (mut x, mut y) = (0, 0);
    let mut cases = [recv_case(never, &mut x), recv_case(t, &mut y)];
    assert_eq!(sel(&mut cases, true), Some(1));
    assert!(crate::time::nanotime() - t0 >= 3_000_000);
    assert!(y as i64 >= t0 + 3_000_000);
    t.release();
    never.release();
}

#[test]
fn woken_select_outlives_released_channels() {
    // The goroutine that wakes the select releases its channel at once;
    // the select's pin keeps it valid until the select has cleaned up.
    for _ in 0..2_000 {
        let a = Ch::new(8, 0);
        let b = Ch::new(8, 0);
        let done = wg();
        done.add(1);
        let d = done.clone();
        go(move || {
            let (mut x, mut y) = (0, 0);
            let mut cases = [recv_case(a, &mut x), recv_case(b, &mut y)];
            let i = sel(&mut cases, true).unwrap();
            assert_eq!((i, x), (0, 42));
            d.done();
        });
        a.send(42);
        a.release();
        done.wait();
        b.release();
    }
}

/// Selecting goroutines and threads contend on shared channels in both
/// directions; every value arrives exactly once.
#[test]
fn stress_select_many_to_many() {
    const PRODUCERS: u64 = 6;
    const PER: u64 = 3_000;
    let chans: Vec<Ch> = (0..3).map(|i| Ch::new(8, i)).collect();
    let sum = Arc::new(AtomicU64::new(0));
    let count = Arc::new(AtomicU64::new(0));
    let producers = wg();
    producers.add(PRODUCERS as i64);
    for p in 0..PRODUCERS {
        let chans = chans.clone();
        let d = producers.clone();
        let body = move || {
            for i in 0..PER {
                let v = p * PER + i + 1;
                let mut cases = [
                    send_case(chans[0], &v),
                    send_case(chans[1], &v),
                    send_case(chans[2], &v),
                ];
                sel(&mut cases, true).unwrap();
            }
            d.done();
        };
        if p == 0 {
            std::thread::spawn(body);
        } else {
            go(body);
        }
    }
    let consumers = wg();
    consumers.add(4);
    let quit = Ch::new(0, 0);
    for k in 0..4 {
        let chans = chans.clone();
        let (sum, count, d) = (sum.clone(), count.clone(), consumers.clone());
        let body = move || {
            loop {
                let mut v = [0u64; 3];
                let [v0, v1, v2] = &mut v;
                let mut cases = [
                    recv_case(chans[0], v0),
                    recv_case(chans[1], v1),
                    recv_case(chans[2], v2),
                    Case {
                        chan: quit.ptr(),
                        dir: RECV,
                        elem: ptr::null_mut(),
                        ok: false,
                    },
                ];
                let i = sel(&mut cases, true).unwrap();
                if i == 3 {
                    break;
                }
                sum.fetch_add(v[i], Ordering::Relaxed);
                count.fetch_add(1, Ordering::Relaxed);
            }
            d.done();
        };
        if k == 0 {
            std::thread::spawn(body);
        } else {
            go(body);
        }
    }
    producers.wait();
    // Drain what is buffered before telling the consumers to stop.
    while chans.iter().any(|c| c.get().len() != 0) {
        std::thread::yield_now();
    }
    quit.close();
    consumers.wait();
    let n = PRODUCERS * PER;
    assert_eq!(count.load(Ordering::Relaxed), n);
    assert_eq!(sum.load(Ordering::Relaxed), n * (n + 1) / 2);
    for c in chans {
        c.release();
    }
    quit.release();
}
