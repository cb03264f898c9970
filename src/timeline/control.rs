//! Sessions: starting and stopping a trace (gort_trace_start,
//! gort_trace_stop, `GORT_TRACE` at start-up), and writing it when the
//! process ends (exit, a fatal error, an unrecovered panic). A stop or an
//! exit path ends the recording (module `buffer`), has the writer turn
//! the records into the trace file (module `writer`), and gives the
//! memory and the files back.
//!
//! # Invariants
//!
//! - A session is live exactly while `buffer::LIVE` is non-zero; `CTL`
//!   holds it. Only one session exists at a time, and a new one cannot
//!   start while the last one is being written (`Ctl::writing`).
//! - The session's files are closed only after every buffer's lock has
//!   been taken once with the session no longer live, so no M writes to a
//!   closed (or reused) descriptor.
//! - The exit paths write the trace at most once; a failure while writing
//!   it (a fatal error inside the writer) does not write it again.
//! - Only the process that started a session writes it: a child forked
//!   without exec finds the session's `pid` is not its own.

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::clock::{anchor, choose_clock, ticks};
use super::hooks::{self, record_here};
use super::record::{kind, Rec};
use super::{buffer, store, writer};
use crate::lock::Mutex;
use crate::sched;

/// A trace being recorded.
#[derive(Debug)]
struct Session {
    id: u32,
    /// The trace file, opened at start.
    out: i32,
    /// The spill file (unlinked).
    spill: i32,
    /// Start anchor: ticks and nanotime.
    t0: u64,
    ns0: i64,
    clock: &'static str,
    /// The process that started it: a child forked without exec has a
    /// copy of the session, which is not its own to write.
    pid: i32,
}

#[derive(Debug)]
struct Ctl {
    session: Option<Session>,
    /// A stopped session's trace is being written.
    writing: bool,
    last_id: u32,
    atexit_registered: bool,
}

static CTL: Mutex<Ctl> = Mutex::new(Ctl {
    session: None,
    writing: false,
    last_id: 0,
    atexit_registered: false,
});

/// `pthread_self()` of the thread writing a trace (0: none), so that a
/// fatal error inside the writer does not try to write it again.
static WRITER: AtomicU64 = AtomicU64::new(0);

fn getpid() -> i32 {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
}

fn this_thread() -> u64 {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() as u64 }
}

/// Starts recording to `path` (gort_trace_start). Errors are errno values.
pub(crate) fn start(path: &CStr) -> Result<(), i32> {
    let mut ctl = CTL.lock();
    if ctl.session.is_some() || ctl.writing {
        return Err(libc::EBUSY);
    }
    // SAFETY: path is NUL-terminated; open has no other preconditions.
    let out = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
            0o666,
        )
    };
    if out < 0 {
        return Err(crate::os::errno());
    }
    let spill = match open_spill(path) {
        Ok(fd) => fd,
        Err(e) => {
            // SAFETY: our own descriptor.
            unsafe { libc::close(out) };
            return Err(e);
        }
    };
    if !ctl.atexit_registered {
        ctl.atexit_registered = true;
        // SAFETY: a plain extern "C" function; the library is never
        // unloaded (-z nodelete).
        unsafe { libc::atexit(flush_at_exit) };
    }
    let clock = choose_clock();
    let (t0, ns0) = anchor();
    ctl.last_id = ctl.last_id.wrapping_add(1).max(1);
    let id = ctl.last_id;
    ctl.session = Some(Session {
        id,
        out,
        spill,
        t0,
        ns0,
        clock,
        pid: getpid(),
    });
    hooks::sysmon_resample();
    buffer::begin(id, spill);
    store::prefault();
    hooks::record_counters();
    Ok(())
}

/// An unlinked file for the binary records: in the trace's directory (the
/// space the trace needs anyway), else in `$TMPDIR` or /tmp.
fn open_spill(path: &CStr) -> Result<i32, i32> {
    let bytes = path.to_bytes();
    let dir: &[u8] = match bytes.iter().rposition(|&c| c == b'/') {
        Some(0) => b"/",
        Some(i) => &bytes[..i],
        None => b".",
    };
    let tmp = std::env::var_os("TMPDIR");
    let tmp: &[u8] = match tmp.as_deref().map(OsStrExt::as_bytes) {
        Some(t) if !t.is_empty() => t,
        _ => b"/tmp",
    };
    let mut first_err = 0;
    for d in [dir, tmp] {
        match open_unlinked(d) {
            Ok(fd) => return Ok(fd),
            Err(e) if first_err == 0 => first_err = e,
            Err(_) => {}
        }
    }
    Err(first_err)
}

/// An unlinked file in directory `dir`. Errors are errno values, 0 if
/// `dir` cannot be a path (it holds a NUL).
#[inline(never)]
fn open_unlinked(dir: &[u8]) -> Result<i32, i32> {
    let Ok(c) = CString::new(dir) else {
        return Err(0);
    };
    // SAFETY: c is NUL-terminated.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_TMPFILE | libc::O_RDWR | libc::O_CLOEXEC,
            0o600,
        )
    };
    if fd >= 0 {
        return Ok(fd);
    }
    // No O_TMPFILE on this file system: a named file, unlinked at once.
    let name = format!("/.gort-trace-{}-{}", getpid(), crate::os::nanotime());
    let Ok(n) = CString::new([dir, name.as_bytes()].concat()) else {
        return Err(0);
    };
    // SAFETY: n is NUL-terminated.
    let fd = unsafe {
        libc::open(
            n.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_RDWR | libc::O_CLOEXEC,
            0o600,
        )
    };
    if fd < 0 {
        return Err(crate::os::errno());
    }
    // SAFETY: as above.
    unsafe { libc::unlink(n.as_ptr()) };
    Ok(fd)
}

/// Stops recording and writes the trace (gort_trace_stop). Errors are
/// errno values: EINVAL if no trace was being recorded, else the first
/// error writing the trace or its spill file.
pub(crate) fn stop() -> Result<(), i32> {
    let sess = {
        let mut ctl = CTL.lock();
        if ctl.session.as_ref().is_some_and(|s| s.pid != getpid()) {
            return Err(libc::EINVAL); // a forked child: the trace is its parent's
        }
        let Some(s) = ctl.session.take() else {
            return Err(libc::EINVAL);
        };
        ctl.writing = true;
        s
    };
    // Writing takes a while: on a goroutine, let the P's other work go on
    // meanwhile (the lock is not held across the possible switch).
    sched::blocking_enter();
    let r = finish(sess, 0, Duration::from_secs(5));
    CTL.lock().writing = false;
    sched::blocking_exit();
    r
}

/// Ends the session and writes its trace; `exit` says how the process is
/// ending (0: it is not).
fn finish(sess: Session, exit: u64, patience: Duration) -> Result<(), i32> {
    WRITER.store(this_thread(), Ordering::SeqCst);
    hooks::record_counters();
    if exit != 0 {
        record_here(Rec::new(ticks(), kind::EXIT, exit, 0, 0));
    }
    let (len, spill_err) = buffer::end(sess.id, patience);
    let end = anchor();
    let info = writer::Info {
        pid: getpid(),
        start: (sess.t0, sess.ns0),
        end,
        clock: sess.clock,
        spill_err,
    };
    let mut r = writer::write(sess.spill, len, sess.out, &info);
    store::release_memory();
    // SAFETY: the session's own descriptors, closed once; no M writes to
    // the spill file any more (buffer::end took every buffer's lock).
    unsafe {
        libc::close(sess.spill);
        if libc::close(sess.out) != 0 && r.is_ok() {
            r = Err(crate::os::errno());
        }
    }
    WRITER.store(0, Ordering::SeqCst);
    if r.is_ok() && spill_err != 0 {
        r = Err(spill_err);
    }
    r
}

/// The process is ending: a fatal error, an unrecovered panic or the
/// SIGQUIT dump (`fatal` true; the caller is about to `_exit(2)`), or
/// `exit()` (the atexit handler). Writes the trace if one is being recorded; if a stop is
/// writing one, waits for it (a few seconds at most).
pub(crate) fn at_exit(fatal: bool) {
    if WRITER.load(Ordering::SeqCst) == this_thread() {
        return; // failing inside the writer: leave it
    }
    let wait = if fatal { 2 } else { 10 };
    let Some(mut ctl) = CTL.try_lock_for(Duration::from_secs(wait)) else {
        return;
    };
    if ctl.session.as_ref().is_some_and(|s| s.pid != getpid()) {
        return; // a forked child: the trace is its parent's
    }
    if let Some(sess) = ctl.session.take() {
        ctl.writing = true;
        drop(ctl);
        let _ = finish(sess, if fatal { 2 } else { 1 }, Duration::from_millis(500));
        CTL.lock().writing = false;
        return;
    }
    let writing = ctl.writing;
    drop(ctl);
    if writing {
        let deadline = crate::os::nanotime() + wait as i64 * 1_000_000_000;
        while CTL.lock().writing && crate::os::nanotime() < deadline {
            crate::os::thread_sleep(1_000_000);
        }
    }
}

/// Registered with atexit by the first start: `exit()`, a return from
/// `main`, or the end of gort_main's main function.
extern "C" fn flush_at_exit() {
    crate::lock::keeping_errno(|| at_exit(false));
}

/// `GORT_TRACE=<file>` at start-up (`%p` in it replaced by the process
/// id): starts a trace, or says once on stderr why it cannot.
pub(crate) fn start_from_env() {
    let Some(v) = std::env::var_os("GORT_TRACE") else {
        return;
    };
    let raw = v.as_bytes().to_vec();
    if raw.is_empty() {
        return; // an empty value counts as unset
    }
    // "%p" stands for the process id: a child started with the same
    // environment writes a file of its own.
    let pid = getpid().to_string();
    let mut bytes = Vec::with_capacity(raw.len() + 8);
    let mut i = 0;
    while i < raw.len() {
        if raw[i..].starts_with(b"%p") {
            bytes.extend_from_slice(pid.as_bytes());
            i += 2;
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    let shown = String::from_utf8_lossy(&bytes).into_owned();
    let res = CString::new(bytes)
        .map_err(|_| libc::EINVAL)
        .and_then(|c| start(&c));
    if let Err(e) = res {
        // "No such file or directory", without std's " (os error 2)".
        let msg = std::io::Error::from_raw_os_error(e).to_string();
        let msg = msg.split(" (os error").next().unwrap_or_default();
        crate::os::write_stderr(
            format!("gort: GORT_TRACE=\"{shown}\": {msg}; not tracing\n").as_bytes(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spill_files_are_unlinked() {
        let dir = std::env::temp_dir();
        let fd = open_unlinked(dir.as_os_str().as_bytes()).unwrap();
        // SAFETY: libc::stat is integers only: all zero bytes are a valid one.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fd is open and st is writable.
        assert_eq!(unsafe { libc::fstat(fd, &mut st) }, 0);
        assert_eq!(st.st_nlink, 0);
        // SAFETY: our own descriptor, closed once.
        unsafe { libc::close(fd) };
        assert_eq!(open_unlinked(b"/nonexistent-gort-dir"), Err(libc::ENOENT));
        assert_eq!(open_unlinked(b"a\0b"), Err(0));
        // The trace's directory first, then $TMPDIR or /tmp.
        let fd = open_spill(c"/nonexistent-gort-dir/trace.json").unwrap();
        // SAFETY: as above.
        unsafe { libc::close(fd) };
    }
}
