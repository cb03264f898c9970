//! Handles (API.md §7): Go's runtime/cgo.Handle.
//!
//! The table itself is `crate::handle`; this file only converts types and
//! turns an invalid handle into Go's panic.

use std::ffi::c_void;

use super::fence;
use crate::handle;
use crate::panic::go_panic;

#[cfg(not(target_pointer_width = "64"))]
compile_error!("gort handles are 64-bit values: a 64-bit target is required");

/// cbindgen writes Rust's `usize` as `size_t` (`usize_is_size_t` in
/// cbindgen.toml) but the contract says `uintptr_t`: cbindgen.toml renames
/// this alias to `uintptr_t` and does not emit it.
pub type GortUintptr = usize;

/// An opaque handle for a pointer, as Go's `runtime/cgo.Handle`: made by
/// gort_handle_new(), valid until gort_handle_delete(), usable from any
/// thread. 0 is never a valid handle. Handles are 64-bit values that check
/// themselves: a deleted handle is not reissued until its slot has been
/// reused 2^32 times, and a made-up or corrupted value is rejected (a
/// panic, or false from gort_handle_lookup()), never dereferenced.
pub type gort_handle = GortUintptr;

#[cold]
fn invalid_handle() -> ! {
    go_panic("misuse of an invalid handle")
}

/// Returns a new handle for `value`. The value may be any pointer, NULL
/// included; two handles of one value differ, and the handle differs from
/// every other live handle. Never returns 0. Callable from goroutines and
/// from any other thread.
///
/// Each handle holds a slot of the handle table until gort_handle_delete()
/// frees it; a program that never deletes its handles leaks them, as in
/// Go. More than 268,435,455 live handles at once is a fatal error.
#[no_mangle]
pub extern "C" fn gort_handle_new(value: *mut c_void) -> gort_handle {
    fence(|| handle::new(value) as gort_handle)
}

/// Returns the value `h` was made with. If `h` is not a live handle (never
/// made, 0, already deleted, or corrupted) this panics with
/// "misuse of an invalid handle". Lock-free; callable from any thread.
#[no_mangle]
pub extern "C" fn gort_handle_value(h: gort_handle) -> *mut c_void {
    match fence(|| handle::value(h as u64)) {
        Some(v) => v,
        None => invalid_handle(),
    }
}

/// Deletes `h`: it becomes invalid, and the pointer it stood for is not
/// touched (freeing what it points to is the caller's business). Deleting
/// a handle that is not live (twice, 0, made up) panics with
/// "misuse of an invalid handle". Any thread may delete a handle another
/// made; deleting a handle while another thread uses it is a race in the
/// program, as in Go (the other thread's call may see it valid or invalid).
#[no_mangle]
pub extern "C" fn gort_handle_delete(h: gort_handle) {
    if !fence(|| handle::delete(h as u64)) {
        invalid_handle();
    }
}

/// The non-panicking check: returns whether `h` is a live handle. If it is
/// and `value` is not NULL, stores its value in `*value`; if it is not and
/// `value` is not NULL, stores NULL there. `value` may be NULL to check
/// validity only.
///
/// # Safety
/// `value` is NULL or points to writable storage for a `void *`.
#[no_mangle]
pub unsafe extern "C" fn gort_handle_lookup(h: gort_handle, value: *mut *mut c_void) -> bool {
    let v = fence(|| handle::value(h as u64));
    if !value.is_null() {
        // SAFETY: non-null, and the caller guarantees it is writable.
        unsafe { value.write(v.unwrap_or(std::ptr::null_mut())) };
    }
    v.is_some()
}
