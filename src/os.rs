//! Thin wrappers over the OS calls the runtime needs: futexes, the
//! monotonic clock, errno, CPU count, and raw writes to stderr (with
//! [`FixedBuf`] to format them without allocating); and a cache prefetch
//! hint.
//!
//! Nothing here allocates or takes a lock, so every function is safe to call
//! from the scheduler context, from a signal-free fatal path and while a
//! runtime lock is held.

use std::sync::atomic::AtomicU32;

/// Asks the CPU to start loading the cache line at `addr`, which the
/// caller will read soon. Only a hint: any address is allowed (an
/// unmapped one is ignored, never a fault), and nothing is read.
#[inline(always)]
pub(crate) fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: PREFETCHT0 never faults and changes no register or memory.
        unsafe {
            std::arch::asm!("prefetcht0 [{}]", in(reg) addr, options(nostack, preserves_flags, readonly));
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: PRFM never faults and changes no register, flag or memory.
        unsafe {
            std::arch::asm!("prfm pldl1keep, [{}]", in(reg) addr, options(nostack, preserves_flags, readonly));
        }
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = addr;
}

/// Waits while `*word == expected`, at most `timeout_ns` (None: forever).
/// Returns on wake-up, timeout, signal or mismatch; callers re-check.
/// errno is left as it was (the caller may be a goroutine's thread).
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout_ns: Option<i64>) {
    let saved = errno();
    let ts;
    let tsp = match timeout_ns {
        Some(ns) => {
            let ns = ns.max(0);
            ts = libc::timespec {
                tv_sec: (ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (ns % 1_000_000_000) as libc::c_long,
            };
            &ts as *const libc::timespec
        }
        None => std::ptr::null(),
    };
    // SAFETY: `word` is a valid, aligned u32 for the duration of the call;
    // FUTEX_WAIT only reads it. A relative timeout pointer is either null or
    // points to `ts`, which outlives the call.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            tsp,
        );
    }
    set_errno(saved);
}

/// Wakes up to `n` threads waiting on the futex at `addr`. The memory is
/// not accessed (the address only keys the kernel's wait queue), so it may
/// already be freed.
pub(crate) fn futex_wake_addr(addr: usize, n: i32) {
    // SAFETY: FUTEX_WAKE does not read or write the memory.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            addr,
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            n,
        );
    }
}

/// Monotonic time in nanoseconds (CLOCK_MONOTONIC, through the vDSO).
#[inline]
pub(crate) fn nanotime() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// The calling thread's errno.
#[inline]
pub(crate) fn errno() -> i32 {
    // SAFETY: __errno_location always returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's errno.
#[inline]
pub(crate) fn set_errno(v: i32) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = v }
}

/// The system page size.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

/// The number of CPUs this process may run on (its affinity mask).
pub(crate) fn ncpu() -> usize {
    // SAFETY: cpu_set_t is plain data; zeroed is a valid empty set, and
    // sched_getaffinity writes at most size_of::<cpu_set_t>() bytes.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            let n = libc::CPU_COUNT(&set);
            if n > 0 {
                return n as usize;
            }
        }
        let n = libc::sysconf(libc::_SC_NPROCESSORS_ONLN);
        if n > 0 {
            n as usize
        } else {
            1
        }
    }
}

/// Writes all of `bytes` to stderr without buffering or allocation.
/// errno is preserved.
pub(crate) fn write_stderr(bytes: &[u8]) {
    let saved = errno();
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: `rest` is a valid readable slice.
        let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
        if n > 0 {
            rest = &rest[n as usize..];
        } else if n < 0 && errno() == libc::EINTR {
            continue;
        } else {
            break;
        }
    }
    set_errno(saved);
}

/// Sleeps the calling OS thread for `ns` nanoseconds (restarting on EINTR).
pub(crate) fn thread_sleep(ns: i64) {
    if ns <= 0 {
        return;
    }
    let saved = errno();
    let mut req = libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    };
    loop {
        let mut rem = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: both pointers are valid for the call.
        let r = unsafe { libc::nanosleep(&req, &mut rem) };
        if r == 0 || errno() != libc::EINTR {
            break;
        }
        req = rem;
    }
    set_errno(saved);
}

/// A fixed-size text buffer for reports that must not allocate: from a
/// signal handler, or when memory is exhausted. Text past its 1 KiB is
/// dropped.
#[derive(Debug)]
pub(crate) struct FixedBuf {
    b: [u8; 1024],
    n: usize,
}

impl Default for FixedBuf {
    fn default() -> FixedBuf {
        FixedBuf::new()
    }
}

impl FixedBuf {
    /// An empty buffer.
    pub(crate) fn new() -> FixedBuf {
        FixedBuf { b: [0; 1024], n: 0 }
    }

    /// Appends `s`.
    pub(crate) fn s(&mut self, s: &str) {
        for &c in s.as_bytes() {
            if self.n < self.b.len() {
                self.b[self.n] = c;
                self.n += 1;
            }
        }
    }

    /// Appends `v` in decimal.
    pub(crate) fn dec(&mut self, mut v: u64) {
        let mut d = [0u8; 20];
        let mut i = d.len();
        loop {
            i -= 1;
            d[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        for &c in &d[i..] {
            self.s(std::str::from_utf8(&[c]).unwrap_or("?"));
        }
    }

    /// Appends `v` in hexadecimal, with `0x`.
    pub(crate) fn hex(&mut self, v: u64) {
        self.s("0x");
        let mut started = false;
        for shift in (0..16).rev() {
            let nib = ((v >> (shift * 4)) & 0xf) as usize;
            if nib != 0 || started || shift == 0 {
                started = true;
                self.s(&"0123456789abcdef"[nib..nib + 1]);
            }
        }
    }

    /// The text so far.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.b[..self.n]
    }
}

extern "C" {
    static mut stdout: *mut libc::FILE;
    fn ftrylockfile(f: *mut libc::FILE) -> libc::c_int;
    fn funlockfile(f: *mut libc::FILE);
    fn fflush_unlocked(f: *mut libc::FILE) -> libc::c_int;
}

/// Flushes the C host's buffered `stdout` before the process ends with
/// `_exit` (a fatal error, an unrecovered panic, SIGQUIT), so what the
/// program printed to a pipe or a file is not lost. Only if the stream's
/// lock is free: a thread blocked while holding it (or this thread, if
/// it was interrupted inside stdio) must not hang the report. Never call
/// it from a signal handler.
pub(crate) fn flush_stdout() {
    let e = errno();
    // SAFETY: `stdout` is the C library's stream, valid for the life of
    // the process; it is flushed only while its lock is held here.
    unsafe {
        let f = stdout;
        if !f.is_null() && ftrylockfile(f) == 0 {
            fflush_unlocked(f);
            funlockfile(f);
        }
    }
    set_errno(e);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_formats_numbers() {
        let mut b = FixedBuf::new();
        b.dec(0);
        b.s(" ");
        b.dec(262144);
        b.s(" ");
        b.hex(0x7f00_dead_beef);
        b.s(" ");
        b.hex(0);
        assert_eq!(b.bytes(), b"0 262144 0x7f00deadbeef 0x0");
    }
}
