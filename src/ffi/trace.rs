//! GORT_TRACE at run time: gort_trace_start, gort_trace_stop (API.md §8.3).

use std::ffi::{c_char, c_int, CStr};

use super::fence;
use crate::{os, timeline};

/// Starts recording a timeline of the scheduler to the file `path`
/// (created, or truncated if it exists), as setting `GORT_TRACE=path` in
/// the environment does from start-up (there, `%p` in the path stands
/// for the process id, so that child processes, which inherit the
/// variable, write files of their own). The trace is Chrome's JSON trace
/// format: open it in Perfetto (https://ui.perfetto.dev, "Open trace
/// file") or in chrome://tracing ("Load"). It shows one track per
/// processor and per thread, a slice for every stretch a goroutine ran
/// (named "G<id> <entry function>"), its creation, where it blocked and
/// why ("chan receive", "sync.Mutex.Lock", ...), arrows from the goroutine
/// that created or unblocked it, the runtime taking processors from
/// threads stuck in C code, gort_call() from foreign threads, descriptors
/// becoming ready, and counters of runnable and live goroutines.
///
/// While recording, events are kept in a compact binary form (in memory,
/// and in an unlinked temporary file in the trace's directory, or in
/// `$TMPDIR` or /tmp if that fails); the JSON file is written when
/// recording ends: by gort_trace_stop(), or when the process exits
/// (`exit()`, a return from `main`, the end of gort_main()'s main
/// function), or dies of a fatal error, an unrecovered panic or the
/// SIGQUIT dump. A process
/// killed by a signal, or ended with `_exit()`, leaves the file empty.
/// Writing takes about a second per million goroutine switches recorded.
/// A child made by fork() does not own its parent's recording: its
/// `exit()` leaves the file alone, and gort_trace_stop() there fails.
///
/// Returns 0 on success. On failure returns -1 and sets errno: `EINVAL`
/// for `path == NULL`, `EBUSY` if a trace is already being recorded or
/// written, or the error of open(2) for `path` (`ENOENT`, `EACCES`, ...).
/// Callable from goroutines and from any other thread.
///
/// # Safety
/// `path` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn gort_trace_start(path: *const c_char) -> c_int {
    if path.is_null() {
        os::set_errno(libc::EINVAL);
        return -1;
    }
    // SAFETY: the caller guarantees a NUL-terminated string.
    let path = unsafe { CStr::from_ptr(path) };
    match fence(|| timeline::start(path)) {
        Ok(()) => 0,
        Err(e) => {
            os::set_errno(e);
            -1
        }
    }
}

/// Stops recording the timeline started by gort_trace_start() or
/// `GORT_TRACE`, and writes the trace file; returns when the file is
/// complete. On a goroutine, its processor goes on running other
/// goroutines while the file is written.
///
/// Returns 0 on success. On failure returns -1 and sets errno: `EINVAL`
/// if no trace is being recorded (never started, already stopped, or
/// started by the parent of this forked process), or
/// the error of writing the file (`ENOSPC`, `EIO`, ...), in which case
/// recording has stopped all the same and the file may be incomplete.
/// Callable from goroutines and from any other thread.
#[no_mangle]
pub extern "C" fn gort_trace_stop() -> c_int {
    match fence(timeline::stop) {
        Ok(()) => 0,
        Err(e) => {
            os::set_errno(e);
            -1
        }
    }
}
