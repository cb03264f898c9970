//! Waiting for file descriptors: the netpoller (API.md §10).

use std::ffi::{c_int, c_void};

use super::chan::gort_chan;
use super::fence;
use crate::netpoll;
use crate::os;

/// gort_fd_wait() and gort_fd_ready() events: readable (or at end of
/// file).
pub const GORT_POLL_IN: c_int = 1;
/// gort_fd_wait() and gort_fd_ready() events: writable.
pub const GORT_POLL_OUT: c_int = 2;

/// cbindgen:ignore
type ssize_t = isize;

fn ret_int(r: Result<c_int, i32>) -> c_int {
    match r {
        Ok(v) => v,
        Err(e) => {
            os::set_errno(e);
            -1
        }
    }
}

/// Waits until `fd` is ready for `events` (GORT_POLL_IN, GORT_POLL_OUT or
/// both) and returns the ready ones: a non-zero subset of `events`, or
/// both when the descriptor has an error or hang-up condition (so the next
/// read or write sees it).
///
/// The calling goroutine parks; its thread runs other goroutines. On a
/// thread that is not a goroutine the thread blocks (poll(2)).
///
/// `deadline` is an absolute time on the gort_nanotime() clock, or -1 for
/// none; a deadline that has passed makes the call non-blocking (it still
/// succeeds if the descriptor is ready, unlike Go's SetDeadline).
///
/// Errors (-1 with errno): ETIMEDOUT when the deadline passed; EBADF when
/// `fd` is not open, or gort_fd_close() closed it meanwhile; EINVAL when
/// `events` is 0 or has other bits.
#[no_mangle]
pub extern "C" fn gort_fd_wait(fd: c_int, events: c_int, deadline: i64) -> c_int {
    fence(|| ret_int(netpoll::fd_wait(fd, events, deadline).map(c_int::from)))
}

/// Reads up to `len` bytes from `fd` into `buf`, parking the calling
/// goroutine until some are available: like read(2), it returns as soon as
/// some bytes were read, and 0 at end of file.
///
/// The first time gort waits on a descriptor it makes it non-blocking
/// (O_NONBLOCK), except descriptors 0, 1, 2 and terminals, whose mode it
/// never changes: those it waits for in the poller and then reads with a
/// plain blocking read(2). Non-blocking mode belongs to the open file
/// description, shared with every dup() and every process that inherited
/// it.
///
/// `deadline`: as for gort_fd_wait(). Returns the byte count, or -1 with
/// errno: ETIMEDOUT, EBADF (not open, or closed by gort_fd_close()),
/// EFAULT for a NULL `buf` with `len > 0`, or read(2)'s own errors.
/// `len == 0` returns 0 at once. On a thread that is not a goroutine the
/// thread blocks.
#[no_mangle]
pub extern "C" fn gort_read(fd: c_int, buf: *mut c_void, len: usize, deadline: i64) -> ssize_t {
    fence(|| {
        // SAFETY: buf/len are the caller's, checked by the kernel (EFAULT).
        let r = unsafe { netpoll::read(fd, buf.cast(), len, deadline) };
        match r {
            Ok(n) => n as ssize_t,
            Err(e) => {
                os::set_errno(e);
                -1
            }
        }
    })
}

/// Writes all `len` bytes of `buf` to `fd`, parking the calling goroutine
/// whenever the descriptor is full, as Go's Write does.
///
/// Returns `len` on success. When an error or the deadline stops it after
/// some bytes went out, it returns that count (less than `len`) with errno
/// set to the reason; -1 with errno when nothing was written (ETIMEDOUT,
/// EBADF, EPIPE, EFAULT for a NULL `buf` with `len > 0`, write(2)'s own
/// errors). Never raises SIGPIPE: writing to a closed peer fails with
/// EPIPE. `len == 0` returns 0 at once. `deadline` and the descriptor's
/// mode: as for gort_read().
#[no_mangle]
pub extern "C" fn gort_write(fd: c_int, buf: *const c_void, len: usize, deadline: i64) -> ssize_t {
    fence(|| {
        // SAFETY: buf/len are the caller's, checked by the kernel (EFAULT).
        let (n, e) = unsafe { netpoll::write(fd, buf.cast(), len, deadline) };
        if e != 0 {
            os::set_errno(e);
            if n == 0 {
                return -1;
            }
        }
        n as ssize_t
    })
}

/// Accepts a connection on the listening socket `fd`, parking the calling
/// goroutine until one arrives (accept4(2)). The new descriptor is
/// already non-blocking and close-on-exec. `addr` and `addrlen` are as
/// for accept(2) (both may be NULL).
///
/// Returns the new descriptor, or -1 with errno: ETIMEDOUT, EBADF, or
/// accept4(2)'s own errors. `deadline`: as for gort_fd_wait().
// The pointers go to the kernel, which checks them (EFAULT).
#[allow(clippy::not_unsafe_ptr_arg_deref)]
#[no_mangle]
pub extern "C" fn gort_accept(
    fd: c_int,
    addr: *mut libc::sockaddr,
    addrlen: *mut libc::socklen_t,
    deadline: i64,
) -> c_int {
    // SAFETY: addr/addrlen are the caller's, checked by the kernel.
    fence(|| ret_int(unsafe { netpoll::accept(fd, addr, addrlen, deadline) }))
}

/// Connects the socket `fd` to `addr`, parking the calling goroutine until
/// the connection completes, and reports its result: 0, or -1 with errno
/// (ECONNREFUSED, ETIMEDOUT, EBADF, connect(2)'s own errors). Makes the
/// socket non-blocking. After ETIMEDOUT the socket is still connecting:
/// close it. `deadline`: as for gort_fd_wait().
// The pointers go to the kernel, which checks them (EFAULT).
#[allow(clippy::not_unsafe_ptr_arg_deref)]
#[no_mangle]
pub extern "C" fn gort_connect(
    fd: c_int,
    addr: *const libc::sockaddr,
    addrlen: libc::socklen_t,
    deadline: i64,
) -> c_int {
    // SAFETY: addr is the caller's, checked by the kernel.
    fence(|| ret_int(unsafe { netpoll::connect(fd, addr, addrlen, deadline) }.map(|()| 0)))
}

/// Closes `fd`, which other goroutines or threads may be using: calls that
/// start after it began fail with EBADF, every goroutine or thread waiting
/// on `fd` in a gort call is woken with EBADF, and the descriptor is
/// closed once no gort call is still inside a read or write on it (so a
/// woken call never touches a reused number).
///
/// Returns 0, or -1 with errno: EBADF if `fd` is not open or is already
/// being closed, or close(2)'s own errors.
///
/// A plain close(2) is fine for a descriptor no gort call is using.
#[no_mangle]
pub extern "C" fn gort_fd_close(fd: c_int) -> c_int {
    fence(|| ret_int(netpoll::close(fd).map(|()| 0)))
}

/// The select-able form of gort_fd_wait(): returns a new channel
/// (capacity 1, `int` elements, one reference for the caller) that
/// receives one `int` once: the ready events, 0 when the deadline passed,
/// or a negative errno (-EBADF, -EINVAL, ...) on error. With it a
/// goroutine can gort_select() over descriptors, channels and timers
/// together.
///
/// Releasing the channel (gort_chan_release()) before it received its
/// value cancels the wait. The channel is not closed after its value.
#[no_mangle]
pub extern "C" fn gort_fd_ready(fd: c_int, events: c_int, deadline: i64) -> *mut gort_chan {
    fence(|| crate::fdready::fd_ready(fd, events, deadline) as *mut gort_chan)
}
