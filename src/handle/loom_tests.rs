//! loom models of the slot protocol (module notes, "A slot"): the real
//! [`Slot::issue`], [`Slot::load`] and [`Slot::retire`], on one slot whose
//! atomics are loom's (`crate::sync_shim`), under every interleaving and
//! every stale read the memory model allows. What they check:
//!
//! - `value(h)` racing with `delete(h)` and the slot's reissue as `h2`
//!   (by the deleting thread, or by another thread that took the slot from
//!   a lock-protected free list) returns `h`'s value or nothing, never
//!   `h2`'s; and `value(h2)` returns `h2`'s value or nothing, never `h`'s.
//! - Two racing `delete(h)`: exactly one succeeds, and `h` is dead after.
//!
//! The table around the slot (segments, free-list caches and shards) is
//! std-only and not modelled: the models stand for it with the one thing
//! the protocol needs from it, that a slot reaches a second thread only
//! through a lock (the pool's shard mutex).

use std::ffi::c_void;
use std::ptr;

use loom::sync::{Arc, Mutex};
use loom::thread;

use super::encoding::{encode, first_state, freed_state};
use super::*;
use crate::sync_shim;

/// The slot the models use (any index; its first generation is the hash).
const INDEX: usize = 5;

fn p(n: usize) -> *mut c_void {
    n as *mut c_void
}

/// A never-used slot, as `fresh` leaves it.
fn fresh_slot() -> Slot {
    Slot {
        state: sync_shim::AtomicU64::new(first_state(INDEX)),
        value: sync_shim::AtomicPtr::new(ptr::null_mut()),
    }
}

/// `value(h)` may see `h` live or dead, but only ever with its own value.
fn check_read(slot: &Slot, h: u64, own: *mut c_void) {
    let got = slot.load(h);
    assert!(
        got.is_none() || got == Some(own),
        "value({h:#x}) returned {got:?}, not its own value {own:?}"
    );
}

#[test]
fn loom_handle_value_never_returns_the_reissued_value() {
    loom::model(|| {
        let slot = Arc::new(fresh_slot());
        let h1 = slot.issue(INDEX, p(1));
        let h2 = encode(freed_state(h1), INDEX);
        let s = slot.clone();
        let t = thread::spawn(move || {
            assert!(s.retire(h1));
            assert_eq!(s.issue(INDEX, p(2)), h2);
        });
        check_read(&slot, h1, p(1));
        check_read(&slot, h2, p(2));
        t.join().unwrap();
        assert_eq!(slot.load(h1), None);
        assert_eq!(slot.load(h2), Some(p(2)));
    });
}

#[test]
fn loom_handle_reissue_through_a_free_list() {
    loom::model(|| {
        let slot = Arc::new(fresh_slot());
        let free: Arc<Mutex<Vec<usize>>> = Arc::new(Mutex::new(Vec::new()));
        let h1 = slot.issue(INDEX, p(1));
        let h2 = encode(freed_state(h1), INDEX);
        let (s, f) = (slot.clone(), free.clone());
        let deleter = thread::spawn(move || {
            assert!(s.retire(h1));
            f.lock().unwrap().push(INDEX);
        });
        let (s, f) = (slot.clone(), free.clone());
        let maker = thread::spawn(move || {
            let index = f.lock().unwrap().pop();
            if let Some(index) = index {
                assert_eq!(s.issue(index, p(2)), h2);
            }
            index.is_some()
        });
        check_read(&slot, h1, p(1));
        check_read(&slot, h2, p(2));
        deleter.join().unwrap();
        let reissued = maker.join().unwrap();
        assert_eq!(slot.load(h1), None);
        assert_eq!(slot.load(h2), reissued.then_some(p(2)));
    });
}

#[test]
fn loom_handle_double_delete_exactly_one_wins() {
    loom::model(|| {
        let slot = Arc::new(fresh_slot());
        let h = slot.issue(INDEX, p(1));
        let s = slot.clone();
        let t = thread::spawn(move || s.retire(h));
        let here = slot.retire(h);
        let there = t.join().unwrap();
        assert!(here != there, "both or neither delete of one handle won");
        assert_eq!(slot.load(h), None);
        assert!(!slot.retire(h));
    });
}
