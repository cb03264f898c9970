//! Tests of the handle table: encoding, validation, reuse, growth, and
//! multi-thread stress of new/value/delete with slot reuse.
//!
//! Every test takes `SERIAL`: the table is process-wide, and several tests
//! check the live count exactly.

use std::collections::HashSet;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use parking_lot::Mutex;

use super::encoding::{
    check_bits, encode, first_state, freed_state, CHECK_MASK, GEN_MASK, MAX_SLOTS,
};
use super::segments::{locate, seg_base, seg_len};
use super::*;

static SERIAL: Mutex<()> = Mutex::new(());

fn p(n: usize) -> *mut c_void {
    n as *mut c_void
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn handle_encoding_round_trips() {
    for index in [1, 2, 63, 64, 65, 1000, MAX_SLOTS - 1] {
        for g in [0u64, 1, 0xdead_beef, 0xffff_ffff] {
            let h = encode(g << 32, index);
            assert_ne!(h, 0);
            assert_eq!(index_of(h), index);
            assert_eq!(h >> 32, g);
            assert_eq!(h & CHECK_MASK, check_bits(h));
            assert_eq!(freed_state(h), ((g + 1) & 0xffff_ffff) << 32);
            // A free state word never equals a handle.
            assert_eq!(freed_state(h) & !GEN_MASK, 0);
        }
    }
    // Generations wrap at 2^32 and nowhere else.
    let h = encode(0xffff_ffff << 32, 7);
    assert_eq!(freed_state(h), 0);
}

#[test]
fn handle_segments_cover_every_index_once() {
    let mut expect = 0;
    for seg in 0..NSEG {
        assert_eq!(seg_base(seg), expect);
        let len = seg_len(seg);
        assert!(len > 0);
        assert_eq!(locate(seg_base(seg)), (seg, 0));
        assert_eq!(locate(seg_base(seg) + len - 1), (seg, len - 1));
        expect += len;
    }
    assert_eq!(expect, MAX_SLOTS);
    assert_eq!(locate(1), (0, 1));
    assert_eq!(locate(63), (0, 63));
    assert_eq!(locate(64), (1, 0));
}

#[test]
fn handle_first_generations_differ_between_neighbours() {
    let gens: HashSet<u64> = (1..100_000).map(first_state).collect();
    assert!(gens.len() > 99_990);
}

/// Go: TestHandle (runtime/cgo/handle_test.go).
#[test]
fn handle_go_test_handle() {
    let _s = SERIAL.lock();
    let base = live_count();
    let x = 42usize;
    let xp = &x as *const usize as *mut c_void;
    for v in [p(42), xp, ptr::null_mut()] {
        let h1 = new(v);
        let h2 = new(v);
        assert!(h1 != 0 && h2 != 0);
        assert_ne!(h1, h2, "equal values must get different handles");
        assert_eq!(live_count(), base + 2);
        assert_eq!(value(h1), Some(v));
        assert_eq!(value(h2), Some(v));
        assert!(delete(h1));
        assert!(delete(h2));
    }
    assert_eq!(live_count(), base);
}

/// Go: TestInvalidHandle (zero, and a valid handle plus one).
#[test]
fn handle_go_test_invalid_handle() {
    let _s = SERIAL.lock();
    assert_eq!(value(0), None);
    assert!(!delete(0));
    let h = new(p(42));
    assert_eq!(value(h + 1), None);
    assert!(!delete(h + 1));
    assert_eq!(value(h - 1), None);
    assert!(!delete(h - 1));
    assert_eq!(value(h), Some(p(42)));
    assert!(delete(h));
}

#[test]
fn handle_stale_after_reuse() {
    let _s = SERIAL.lock();
    let h1 = new(p(1));
    assert!(delete(h1));
    // LIFO: the same thread gets the same slot back, one generation on.
    let h2 = new(p(2));
    assert_eq!(index_of(h2), index_of(h1));
    assert_eq!(h2 >> 32, ((h1 >> 32) + 1) & 0xffff_ffff);
    assert_ne!(h1, h2);
    assert_eq!(value(h1), None);
    assert!(!delete(h1));
    assert_eq!(value(h2), Some(p(2)));
    // Many reuses of one slot never repeat a handle.
    let mut seen = HashSet::new();
    seen.insert(h1);
    seen.insert(h2);
    assert!(delete(h2));
    for i in 0..100_000 {
        let h = new(p(i));
        assert!(seen.insert(h), "handle {h:#x} reissued");
        assert!(delete(h));
    }
    for &h in &seen {
        assert_eq!(value(h), None);
    }
}

#[test]
fn handle_generation_wraps_only_after_2_pow_32() {
    let _s = SERIAL.lock();
    let h0 = new(p(1));
    let index = index_of(h0);
    assert!(delete(h0));
    // Pretend the slot was reissued until its generation is the last one.
    TABLE
        .owned_slot(index)
        .state
        .store(0xffff_ffff << 32, Ordering::Relaxed);
    let h1 = new(p(2));
    assert_eq!(index_of(h1), index);
    assert_eq!(h1 >> 32, 0xffff_ffff);
    assert!(delete(h1));
    let h2 = new(p(3));
    assert_eq!(index_of(h2), index);
    assert_eq!(h2 >> 32, 0);
    assert_eq!(value(h1), None);
    assert_eq!(value(h2), Some(p(3)));
    assert!(delete(h2));
}

#[test]
fn handle_double_delete_is_detected_and_frees_once() {
    let _s = SERIAL.lock();
    let h = new(p(7));
    assert!(delete(h));
    assert!(!delete(h));
    assert!(!delete(h));
    // Had the slot gone onto the free list twice, two new handles would
    // share it.
    let a = new(p(1));
    let b = new(p(2));
    assert_ne!(index_of(a), index_of(b));
    assert_eq!(value(a), Some(p(1)));
    assert_eq!(value(b), Some(p(2)));
    assert!(delete(a) && delete(b));
}

#[test]
fn handle_forged_values_are_rejected() {
    let _s = SERIAL.lock();
    let live: Vec<u64> = (0..1000).map(|i| new(p(i))).collect();
    let set: HashSet<u64> = live.iter().copied().collect();
    let mut rejected = 0u64;
    let mut try_forged = |f: u64| {
        if !set.contains(&f) {
            assert_eq!(value(f), None, "forged {f:#x} validated");
            rejected += 1;
        }
    };
    for f in 0..100_000u64 {
        try_forged(f);
    }
    for b in 0..64 {
        try_forged(1 << b);
        try_forged(!(1u64 << b));
        for &h in &live {
            try_forged(h ^ (1 << b));
        }
    }
    for &h in &live {
        for k in 1..64 {
            try_forged(h.wrapping_add(k));
            try_forged(h.wrapping_sub(k));
        }
    }
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..1_000_000 {
        try_forged(rng.next());
    }
    // Right index and check bits, wrong generation.
    for &h in &live {
        for g in 1..16u64 {
            let f = (h & !GEN_MASK & !CHECK_MASK) | (h & GEN_MASK).wrapping_add(g << 32);
            try_forged(f | check_bits(f));
        }
    }
    assert!(rejected > 1_000_000);
    for (i, &h) in live.iter().enumerate() {
        assert_eq!(value(h), Some(p(i)));
        assert!(delete(h));
    }
    // Deleted handles are rejected too.
    for &h in &live {
        assert_eq!(value(h), None);
        assert!(!delete(h));
    }
}

#[test]
fn handle_table_grows_without_moving_slots() {
    let _s = SERIAL.lock();
    let base = live_count();
    let n = 300_000;
    let first = new(p(usize::MAX));
    let addr = TABLE.owned_slot(index_of(first)) as *const Slot;
    let hs: Vec<u64> = (0..n).map(|i| new(p(i))).collect();
    assert_eq!(live_count(), base + n as i64 + 1);
    // The first slot did not move, and keeps its value.
    assert_eq!(TABLE.owned_slot(index_of(first)) as *const Slot, addr);
    assert_eq!(value(first), Some(p(usize::MAX)));
    let distinct: HashSet<u64> = hs.iter().copied().collect();
    assert_eq!(distinct.len(), n);
    for (i, &h) in hs.iter().enumerate() {
        assert_eq!(value(h), Some(p(i)));
    }
    for &h in &hs {
        assert!(delete(h));
    }
    assert!(delete(first));
    assert_eq!(live_count(), base);
}

#[test]
fn handle_thread_exit_returns_its_cache() {
    let _s = SERIAL.lock();
    let base = live_count();
    let leaked = std::thread::spawn(|| {
        // Fill this thread's cache, and leave two handles live.
        let hs: Vec<u64> = (0..CACHE_CAP + 10).map(p).map(new).collect();
        for &h in &hs[2..] {
            assert!(delete(h));
        }
        (hs[0], hs[1])
    })
    .join()
    .unwrap();
    // The exited thread's block still counts its two live handles.
    assert_eq!(live_count(), base + 2);
    // Its block was released: some block is unowned now.
    let mut unowned = 0;
    let mut b = TABLE.blocks.load(Ordering::Acquire);
    // SAFETY: blocks are never freed.
    while let Some(r) = unsafe { b.as_ref() } {
        if !r.owned.load(Ordering::Acquire) {
            unowned += 1;
            // SAFETY: nobody owns the block, and while we hold SERIAL no
            // thread claims it (a claim needs a first handle call, and
            // tests that make one hold SERIAL), so the read races with none.
            assert_eq!(unsafe { (*r.cache.get()).len }, 0);
        }
        b = r.next;
    }
    assert!(unowned >= 1);
    assert_eq!(value(leaked.0), Some(p(0)));
    assert!(delete(leaked.0) && delete(leaked.1));
    assert_eq!(live_count(), base);
}

/// Threads make, check and delete handles, keeping a window of live ones
/// and passing some to other threads to delete: no handle is handed out
/// twice (values would be overwritten), and none is lost (the count ends
/// where it began).
#[test]
fn handle_stress_new_value_delete_with_reuse() {
    let _s = SERIAL.lock();
    let base = live_count();
    const THREADS: usize = 4;
    const OPS: usize = 200_000;
    // Mailboxes: (handle, tag) passed between threads.
    type Mailbox = Mutex<Vec<(u64, usize)>>;
    let boxes: Arc<Vec<Mailbox>> = Arc::new((0..THREADS).map(|_| Mutex::new(Vec::new())).collect());
    let barrier = Arc::new(Barrier::new(THREADS));
    let made = Arc::new(AtomicUsize::new(0));
    let ths: Vec<_> = (0..THREADS)
        .map(|t| {
            let boxes = boxes.clone();
            let barrier = barrier.clone();
            let made = made.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let mut rng = Rng(t as u64 * 7919 + 1);
                let mut window: Vec<(u64, usize)> = Vec::new();
                for i in 0..OPS {
                    let tag = (t << 40) | (i + 1);
                    let h = new(p(tag));
                    assert_eq!(value(h), Some(p(tag)));
                    window.push((h, tag));
                    let r = rng.next();
                    if window.len() > 64 || r % 3 == 0 {
                        let k = (r >> 8) as usize % window.len();
                        let (h, tag) = window.swap_remove(k);
                        if r % 16 == 0 {
                            boxes[(t + 1) % THREADS].lock().push((h, tag));
                        } else {
                            assert_eq!(value(h), Some(p(tag)), "handle {h:#x} lost its value");
                            assert!(delete(h));
                            assert_eq!(value(h), None);
                        }
                    }
                    if i % 256 == 0 {
                        let got = std::mem::take(&mut *boxes[t].lock());
                        for (h, tag) in got {
                            assert_eq!(value(h), Some(p(tag)));
                            assert!(delete(h));
                        }
                    }
                }
                for (h, tag) in window {
                    assert_eq!(value(h), Some(p(tag)));
                    assert!(delete(h));
                }
                made.fetch_add(OPS, Ordering::Relaxed);
            })
        })
        .collect();
    for th in ths {
        th.join().unwrap();
    }
    for b in boxes.iter() {
        for (h, tag) in std::mem::take(&mut *b.lock()) {
            assert_eq!(value(h), Some(p(tag)));
            assert!(delete(h));
        }
    }
    assert_eq!(made.load(Ordering::Relaxed), THREADS * OPS);
    assert_eq!(live_count(), base);
}

/// value() racing with delete()+reuse of the same slot on another thread
/// must return either None or the value the handle was made with.
#[test]
fn handle_value_races_with_delete_and_reuse() {
    let _s = SERIAL.lock();
    const ROUNDS: u64 = 300_000;
    // The current handle and the tag it was made with. The tag is derived
    // from the handle so a reader can check any handle it observes.
    let cur = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    fn tag_of(h: u64) -> usize {
        (h.rotate_left(17) ^ 0x5555) as usize
    }
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let cur = cur.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let (mut hits, mut misses) = (0u64, 0u64);
                // At least one look after the writer stopped (the handle is
                // then set), however late this thread got to run.
                loop {
                    let stopped = stop.load(Ordering::Acquire);
                    let h = cur.load(Ordering::Acquire);
                    if h == 0 {
                        continue;
                    }
                    for _ in 0..8 {
                        match value(h) {
                            Some(v) => {
                                assert_eq!(
                                    v,
                                    p(tag_of(h)),
                                    "stale handle {h:#x} returned another value"
                                );
                                hits += 1;
                            }
                            None => misses += 1,
                        }
                    }
                    if stopped {
                        break;
                    }
                }
                (hits, misses)
            })
        })
        .collect();
    // The writer reuses one slot over and over: new gets the slot of the
    // handle it just deleted. The value is set to the tag of the handle
    // that new will return, which this thread can predict (same slot, next
    // generation), so every handle maps to exactly one value.
    let mut h = new(ptr::null_mut());
    assert!(delete(h));
    for _ in 0..ROUNDS {
        let next = encode(freed_state(h), index_of(h));
        let nh = new(p(tag_of(next)));
        assert_eq!(nh, next);
        cur.store(nh, Ordering::Release);
        assert!(delete(nh));
        h = nh;
    }
    stop.store(true, Ordering::Release);
    for r in readers {
        let (hits, misses) = r.join().unwrap();
        assert!(hits + misses > 0);
    }
}
