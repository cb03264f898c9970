//! Stress tests of the park/ready handshake and the scheduler.
//!
//! loom cannot model a stack switch, so the handshake is stressed on real
//! threads here: wakers ready a goroutine the instant its park callback
//! publishes it (the tightest possible race with the switch), across
//! goroutines on different Ms and foreign threads. The status protocol on
//! its own is model-checked in `loom_tests.rs`.

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicI64, AtomicPtr, AtomicUsize, Ordering};
use std::sync::Arc;

use super::*;
use crate::sync::waitgroup::RawWaitGroup;

/// A one-slot mailbox: `park_in` parks the caller and publishes it in the
/// slot from the unlock callback; `wake` spins until a parked G appears and
/// readies it.
struct Slot(AtomicPtr<Goroutine>);

unsafe fn publish(gp: GRef, data: *mut ()) -> bool {
    // SAFETY: data is a live Slot (the test keeps it alive).
    let slot = unsafe { &*(data as *const Slot) };
    slot.0.store(gp.as_ptr(), Ordering::Release);
    true
}

fn park_in(slot: &Slot) {
    // SAFETY: publish hands the G to exactly one waker (whoever swaps the
    // slot); the slot outlives the park.
    unsafe { park(publish, slot as *const Slot as *mut (), &"test") };
}

fn wake(slot: &Slot) {
    loop {
        let g = slot.0.swap(ptr::null_mut(), Ordering::Acquire);
        if !g.is_null() {
            // SAFETY: the slot held a parked, live G.
            ready(unsafe { GRef::from_ptr(g) }, true);
            return;
        }
        gosched();
        std::hint::spin_loop();
    }
}

struct PingPong {
    a: Slot,
    b: Slot,
    rounds: usize,
    done: RawWaitGroup,
    count: AtomicUsize,
}

unsafe extern "C" fn pinger(arg: *mut c_void) {
    // SAFETY: arg is an Arc<PingPong> leaked for the test's duration.
    let pp = unsafe { &*(arg as *const PingPong) };
    for _ in 0..pp.rounds {
        park_in(&pp.a);
        pp.count.fetch_add(1, Ordering::Relaxed);
        wake(&pp.b);
    }
    pp.done.done();
}

unsafe extern "C" fn ponger(arg: *mut c_void) {
    // SAFETY: as in pinger.
    let pp = unsafe { &*(arg as *const PingPong) };
    for _ in 0..pp.rounds {
        wake(&pp.a);
        park_in(&pp.b);
    }
    pp.done.done();
}

fn new_pingpong(rounds: usize) -> Arc<PingPong> {
    Arc::new(PingPong {
        a: Slot(AtomicPtr::new(ptr::null_mut())),
        b: Slot(AtomicPtr::new(ptr::null_mut())),
        rounds,
        done: RawWaitGroup::new(),
        count: AtomicUsize::new(0),
    })
}

#[test]
fn park_ready_handshake_between_goroutines() {
    let pairs: Vec<_> = (0..8).map(|_| new_pingpong(5_000)).collect();
    for p in &pairs {
        p.done.add(2);
        let arg = Arc::as_ptr(p) as *mut c_void;
        spawn(pinger, arg);
        spawn(ponger, arg);
    }
    for p in &pairs {
        p.done.wait();
        assert_eq!(p.count.load(Ordering::Relaxed), 5_000);
    }
}

#[test]
fn park_ready_handshake_with_foreign_threads() {
    // A foreign thread plays the ponger: its wakes come from outside the
    // scheduler, and its own parks block the thread.
    let pairs: Vec<_> = (0..4).map(|_| new_pingpong(2_000)).collect();
    let mut threads = Vec::new();
    for p in &pairs {
        p.done.add(2);
        spawn(pinger, Arc::as_ptr(p) as *mut c_void);
        let p2 = p.clone();
        threads.push(std::thread::spawn(move || {
            // SAFETY: p2 keeps the PingPong alive.
            unsafe { ponger(Arc::as_ptr(&p2) as *mut c_void) };
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    for p in &pairs {
        p.done.wait();
        assert_eq!(p.count.load(Ordering::Relaxed), 2_000);
    }
}

static SPAWNED_RAN: AtomicI64 = AtomicI64::new(0);

unsafe extern "C" fn bump_and_done(arg: *mut c_void) {
    SPAWNED_RAN.fetch_add(1, Ordering::Relaxed);
    // SAFETY: arg is a live waitgroup.
    unsafe { (*(arg as *const RawWaitGroup)).done() };
}

#[test]
fn spawn_from_many_foreign_threads_while_resizing() {
    let wg = Arc::new(RawWaitGroup::new());
    let before = SPAWNED_RAN.load(Ordering::Relaxed);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let wg = wg.clone();
            std::thread::spawn(move || {
                for _ in 0..20_000 {
                    wg.add(1);
                    spawn(bump_and_done, Arc::as_ptr(&wg) as *mut c_void);
                }
            })
        })
        .collect();
    let procs = set_gomaxprocs(3);
    for n in [1, 4, 2, 3, 1] {
        std::thread::sleep(std::time::Duration::from_millis(2));
        set_gomaxprocs(n);
    }
    for t in threads {
        t.join().unwrap();
    }
    wg.wait();
    set_gomaxprocs(procs);
    assert!(SPAWNED_RAN.load(Ordering::Relaxed) - before >= 80_000);
}

#[test]
fn sleeping_goroutines_wake() {
    static WOKE: AtomicI64 = AtomicI64::new(0);
    unsafe extern "C" fn sleeper(arg: *mut c_void) {
        let t0 = crate::os::nanotime();
        crate::time::sleep(2_000_000);
        assert!(crate::os::nanotime() - t0 >= 2_000_000);
        WOKE.fetch_add(1, Ordering::Relaxed);
        // SAFETY: arg is a live waitgroup.
        unsafe { (*(arg as *const RawWaitGroup)).done() };
    }
    let wg = RawWaitGroup::new();
    wg.add(200);
    for _ in 0..200 {
        spawn(sleeper, &wg as *const RawWaitGroup as *mut c_void);
    }
    wg.wait();
    assert_eq!(WOKE.load(Ordering::Relaxed), 200);
}

#[test]
fn foreign_threads_exit_right_after_being_woken() {
    // Each thread blocks once on its own semaphore, is released by a
    // goroutine, and exits at once (freeing its wait record); the waker
    // must be done with the record by then.
    use crate::sync::sema;
    use std::sync::atomic::AtomicU32;
    unsafe extern "C" fn releaser(arg: *mut c_void) {
        // SAFETY: arg is an AtomicU32 kept alive by the Arc in the test.
        sema::release(unsafe { &*(arg as *const AtomicU32) }, false);
    }
    for _ in 0..10 {
        let threads: Vec<_> = (0..40)
            .map(|_| {
                std::thread::spawn(|| {
                    let s = Arc::new(AtomicU32::new(0));
                    spawn(releaser, Arc::as_ptr(&s) as *mut c_void);
                    sema::acquire(&s, false, &"test");
                    // The goroutine may still be returning from release;
                    // keep the semaphore alive until it is surely done.
                    std::mem::forget(s);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}

#[test]
fn running_slot_names_the_running_goroutine_after_every_switch() {
    // The slot gort_defer and gort_pcall read (module `running`) follows
    // goroutines as they yield, sleep and resume on whichever thread, and
    // names a foreign thread's record exactly while it is inside gort_call.
    static CHECKED: AtomicI64 = AtomicI64::new(0);
    unsafe extern "C" fn checker(arg: *mut c_void) {
        let me = current_g();
        assert!(!me.is_null());
        for i in 0..1_000 {
            assert_eq!(running::get(), me);
            if i % 3 == 0 {
                crate::time::sleep(10_000);
            } else {
                gosched();
            }
            assert_eq!(current_g(), me);
            assert_eq!(running::get(), me);
            CHECKED.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: arg is a live waitgroup.
        unsafe { (*(arg as *const RawWaitGroup)).done() };
    }
    unsafe extern "C" fn in_call(arg: *mut c_void) {
        let rec = crate::foreign::current_call();
        assert!(!rec.is_null());
        assert_eq!(running::get(), rec);
        // Blocking inside gort_call parks the thread itself.
        crate::time::sleep(1_000);
        assert_eq!(running::get(), rec);
        // SAFETY: arg is a live AtomicI64.
        unsafe { (*(arg as *const AtomicI64)).fetch_add(1, Ordering::Relaxed) };
    }
    let before = CHECKED.load(Ordering::Relaxed);
    let wg = RawWaitGroup::new();
    wg.add(16);
    for _ in 0..16 {
        spawn(checker, &wg as *const RawWaitGroup as *mut c_void);
    }
    let calls = AtomicI64::new(0);
    let arg = &calls as *const AtomicI64 as usize;
    std::thread::scope(|sc| {
        for _ in 0..2 {
            sc.spawn(move || {
                for _ in 0..50 {
                    assert!(running::get().is_null());
                    // SAFETY: in_call may be called with a live AtomicI64.
                    unsafe {
                        crate::foreign::call(
                            in_call,
                            arg as *mut c_void,
                            crate::init::wait_for_init,
                        )
                    };
                    assert!(running::get().is_null());
                }
            });
        }
    });
    wg.wait();
    assert!(running::get().is_null());
    assert_eq!(calls.load(Ordering::Relaxed), 100);
    assert_eq!(CHECKED.load(Ordering::Relaxed) - before, 16_000);
}

#[test]
fn wait_minutes_count_from_the_first_census_of_a_park() {
    const MIN: i64 = 60_000_000_000;
    let g = Goroutine::new(false);
    g.status.store(status::WAITING, Ordering::Relaxed);
    g.ctx.seq.store(2, Ordering::Relaxed);
    assert_eq!(g.wait_minutes(5 * MIN), 0, "not seen by a census yet");
    g.census(MIN);
    g.census(3 * MIN); // the same park: the first sighting stays
    assert_eq!(g.wait_minutes(MIN + 59_000_000_000), 0);
    assert_eq!(g.wait_minutes(4 * MIN), 3);
    // Resumed and parked again: a new park, not yet seen.
    g.ctx.seq.store(3, Ordering::Relaxed);
    assert_eq!(g.wait_minutes(10 * MIN), 0);
    g.census(10 * MIN);
    assert_eq!(g.wait_minutes(12 * MIN), 2);
    g.status.store(status::RUNNABLE, Ordering::Relaxed);
    assert_eq!(g.wait_minutes(20 * MIN), 0, "not waiting");
}
/// A parked goroutine costs one stack page plus its record: the record
/// must fit the 4,352-byte budget (with the allocator's 8-byte header,
/// 240 bytes of heap).
#[test]
fn goroutine_record_fits_its_budget() {
    let size = std::mem::size_of::<Goroutine>();
    assert!(size <= 232, "the goroutine record grew to {size} bytes");
}
