//! Mutex, WaitGroup, Once (API.md §5), RWMutex and Cond (API.md §11).
//!
//! The C types are opaque storage whose all-zero value is ready to use
//! (static storage, `= {0}`, the `GORT_*_INIT` macros, or memset); there is no
//! init or destroy call. They must not be copied once in use. The layouts
//! behind them are `sync::mutex::RawMutex` and friends; the size
//! assertions below keep the two in step.

use std::ffi::c_void;

use super::runtime::gort_func;
use super::{fence, NIL_DEREF};
use crate::panic::go_panic;
use crate::sync::{
    cond::RawCond, mutex::RawMutex, once::RawOnce, rwmutex::RawRWMutex, waitgroup::RawWaitGroup,
};

/// A mutual exclusion lock (Go's sync.Mutex). Zero value: unlocked.
/// Locking parks a goroutine, or blocks a thread outside the runtime.
#[repr(C)]
#[derive(Debug)]
pub struct gort_mutex {
    _opaque: [u32; 2],
}

/// Waits for a collection of goroutines to finish (Go's sync.WaitGroup).
/// Zero value: counter 0. Reusable once gort_wg_wait() has returned.
#[repr(C)]
#[derive(Debug)]
pub struct gort_waitgroup {
    _opaque: [u64; 2],
}

/// Runs a function exactly once (Go's sync.Once). Zero value: not run yet.
#[repr(C)]
#[derive(Debug)]
pub struct gort_once {
    _opaque: [u32; 3],
}

/// A reader/writer mutual exclusion lock (Go's sync.RWMutex). Zero value:
/// unlocked. Any number of readers or one writer may hold it. A writer
/// that is waiting keeps new readers out until it has had its turn
/// (writer preference, as in Go), so readers cannot starve it. Waiting
/// parks a goroutine, or blocks a thread outside the runtime. Do not copy
/// one that is in use.
#[repr(C)]
#[derive(Debug)]
pub struct gort_rwmutex {
    _opaque: [u32; 6],
}

/// A condition variable (Go's sync.Cond), used with a gort_mutex that is
/// passed to each gort_cond_wait(). Zero value: nobody waiting. Do not
/// copy one that is in use.
#[repr(C)]
#[derive(Debug)]
pub struct gort_cond {
    _opaque: [u32; 2],
}

const _: () = {
    assert!(std::mem::size_of::<gort_rwmutex>() == std::mem::size_of::<RawRWMutex>());
    assert!(std::mem::align_of::<gort_rwmutex>() >= std::mem::align_of::<RawRWMutex>());
    assert!(std::mem::size_of::<gort_cond>() == std::mem::size_of::<RawCond>());
    assert!(std::mem::align_of::<gort_cond>() >= std::mem::align_of::<RawCond>());
    assert!(std::mem::size_of::<gort_mutex>() == std::mem::size_of::<RawMutex>());
    assert!(std::mem::align_of::<gort_mutex>() >= std::mem::align_of::<RawMutex>());
    assert!(std::mem::size_of::<gort_waitgroup>() >= std::mem::size_of::<RawWaitGroup>());
    assert!(std::mem::align_of::<gort_waitgroup>() >= std::mem::align_of::<RawWaitGroup>());
    assert!(std::mem::size_of::<gort_once>() == std::mem::size_of::<RawOnce>());
    assert!(std::mem::align_of::<gort_once>() >= std::mem::align_of::<RawOnce>());
};

/// Reinterprets C storage as the Rust type behind it.
///
/// # Safety
/// `p` is null or points to live storage of `C`'s size and alignment that
/// is only accessed through gort; `R` is the matching Raw type, whose
/// all-zero bit pattern is valid.
unsafe fn raw<'a, C, R>(p: *mut C) -> &'a R {
    if p.is_null() {
        go_panic(NIL_DEREF);
    }
    // SAFETY: per the contract: size and alignment were checked at compile
    // time, all-zero is valid, and all access is through atomics.
    unsafe { &*(p as *const R) }
}

/// Locks `m`, waiting as long as necessary.
///
/// # Safety
/// `m` points to a gort_mutex (NULL panics).
#[no_mangle]
pub unsafe extern "C" fn gort_mutex_lock(m: *mut gort_mutex) {
    // SAFETY: forwarded contract.
    let m: &RawMutex = unsafe { raw(m) };
    fence(|| m.lock())
}

/// Locks `m` if it is unlocked; returns whether it did. Never waits.
///
/// # Safety
/// `m` points to a gort_mutex (NULL panics).
#[no_mangle]
pub unsafe extern "C" fn gort_mutex_trylock(m: *mut gort_mutex) -> bool {
    // SAFETY: forwarded contract.
    let m: &RawMutex = unsafe { raw(m) };
    fence(|| m.try_lock())
}

/// Unlocks `m`. Any goroutine or thread may unlock a mutex another locked,
/// as in Go. Unlocking an unlocked mutex is a fatal error
/// ("sync: unlock of unlocked mutex").
///
/// # Safety
/// `m` points to a gort_mutex (NULL panics).
#[no_mangle]
pub unsafe extern "C" fn gort_mutex_unlock(m: *mut gort_mutex) {
    // SAFETY: forwarded contract.
    let m: &RawMutex = unsafe { raw(m) };
    fence(|| m.unlock())
}

/// Adds `delta` (which may be negative) to the counter. A negative counter
/// panics ("sync: negative WaitGroup counter").
///
/// # Safety
/// `wg` points to a gort_waitgroup (NULL panics).
#[no_mangle]
pub unsafe extern "C" fn gort_wg_add(wg: *mut gort_waitgroup, delta: i64) {
    // SAFETY: forwarded contract.
    let wg: &RawWaitGroup = unsafe { raw(wg) };
    fence(|| wg.add(delta))
}

/// Decrements the counter by one.
///
/// # Safety
/// `wg` points to a gort_waitgroup (NULL panics).
#[no_mangle]
pub unsafe extern "C" fn gort_wg_done(wg: *mut gort_waitgroup) {
    // SAFETY: forwarded contract.
    let wg: &RawWaitGroup = unsafe { raw(wg) };
    fence(|| wg.done())
}

/// Waits until the counter is zero.
///
/// # Safety
/// `wg` points to a gort_waitgroup (NULL panics).
#[no_mangle]
pub unsafe extern "C" fn gort_wg_wait(wg: *mut gort_waitgroup) {
    // SAFETY: forwarded contract.
    let wg: &RawWaitGroup = unsafe { raw(wg) };
    fence(|| wg.wait())
}

/// Calls `fn(arg)` if no call through `o` has completed; every caller
/// returns only after that one call has returned.
///
/// # Safety
/// `o` points to a gort_once (NULL panics); `fn` NULL panics when called.
#[no_mangle]
pub unsafe extern "C" fn gort_once_do(o: *mut gort_once, r#fn: gort_func, arg: *mut c_void) {
    // SAFETY: forwarded contract.
    let o: &RawOnce = unsafe { raw(o) };
    fence(|| {
        o.call(|| match r#fn {
            // SAFETY: calling the user's function with its argument is the
            // contract of gort_once_do.
            Some(f) => unsafe { f(arg) },
            None => go_panic(NIL_DEREF),
        })
    })
}

/// Locks `m` for reading, waiting while a writer holds it or waits for it.
/// Several readers may hold it at once. A reader must not lock it for
/// reading again while a writer may be waiting (the second lock waits for
/// the writer, which waits for the first: deadlock, as in Go).
///
/// # Safety
/// `m` points to a gort_rwmutex (NULL panics).
#[no_mangle]
pub unsafe extern "C" fn gort_rwmutex_rlock(m: *mut gort_rwmutex) {
    // SAFETY: forwarded contract.
    let m: &RawRWMutex = unsafe { raw(m) };
    fence(|| m.rlock())
}

/// Undoes one gort_rwmutex_rlock(); any goroutine or thread may do it.
/// Unlocking when no reader holds the lock is a fatal error ("sync:
/// RUnlock of unlocked RWMutex").
///
/// # Safety
/// `m` points to a gort_rwmutex (NULL panics).
#[no_mangle]
pub unsafe extern "C" fn gort_rwmutex_runlock(m: *mut gort_rwmutex) {
    // SAFETY: forwarded contract.
    let m: &RawRWMutex = unsafe { raw(m) };
    fence(|| m.runlock())
}

/// Locks `m` for writing: waits until no other writer holds it, then keeps
/// new readers out and waits for the readers inside to leave.
///
/// # Safety
/// `m` points to a gort_rwmutex (NULL panics).
#[no_mangle]
pub unsafe extern "C" fn gort_rwmutex_lock(m: *mut gort_rwmutex) {
    // SAFETY: forwarded contract.
    let m: &RawRWMutex = unsafe { raw(m) };
    fence(|| m.lock())
}

/// Undoes gort_rwmutex_lock(); any goroutine or thread may do it. Readers
/// that waited for the writer enter before the next writer. Unlocking when
/// no writer holds the lock is a fatal error ("sync: Unlock of unlocked
/// RWMutex").
///
/// # Safety
/// `m` points to a gort_rwmutex (NULL panics).
#[no_mangle]
pub unsafe extern "C" fn gort_rwmutex_unlock(m: *mut gort_rwmutex) {
    // SAFETY: forwarded contract.
    let m: &RawRWMutex = unsafe { raw(m) };
    fence(|| m.unlock())
}

/// Unlocks `m`, waits until gort_cond_signal() or gort_cond_broadcast()
/// wakes this caller, then locks `m` again before returning. `m` must be
/// locked by the caller. There are no spurious wake-ups, but another
/// goroutine may change the condition before `m` is locked again: check it
/// in a loop, as in Go (`while (!cond) gort_cond_wait(c, m);`). Use one
/// mutex with each condition variable.
///
/// # Safety
/// `c` points to a gort_cond and `m` to a gort_mutex (NULL panics).
#[no_mangle]
pub unsafe extern "C" fn gort_cond_wait(c: *mut gort_cond, m: *mut gort_mutex) {
    // SAFETY: forwarded contract.
    let c: &RawCond = unsafe { raw(c) };
    // SAFETY: forwarded contract.
    let m: &RawMutex = unsafe { raw(m) };
    fence(|| c.wait(m))
}

/// Wakes the caller of gort_cond_wait() that has waited longest, if any.
/// Holding the mutex is allowed but not required.
///
/// # Safety
/// `c` points to a gort_cond (NULL panics).
#[no_mangle]
pub unsafe extern "C" fn gort_cond_signal(c: *mut gort_cond) {
    // SAFETY: forwarded contract.
    let c: &RawCond = unsafe { raw(c) };
    fence(|| c.signal())
}

/// Wakes every caller of gort_cond_wait() waiting on `c`. Holding the
/// mutex is allowed but not required.
///
/// # Safety
/// `c` points to a gort_cond (NULL panics).
#[no_mangle]
pub unsafe extern "C" fn gort_cond_broadcast(c: *mut gort_cond) {
    // SAFETY: forwarded contract.
    let c: &RawCond = unsafe { raw(c) };
    fence(|| c.broadcast())
}
