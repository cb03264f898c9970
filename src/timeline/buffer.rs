//! Where timeline events are recorded: binary records in per-M buffers,
//! written out in chunks to the session's spill file (through the chunk
//! store, module `store`; the records' form is module `record`).
//!
//! # Per-M buffers ([`MBuf`])
//!
//! Every M record gets a buffer the first time it records while a session
//! is live; buffers are never freed (like M records), and are listed in
//! [`all_buffers`] for the flush at stop.
//!
//! - Only the M's own thread appends: it writes the record past `len`,
//!   then publishes it with a release store of `len`. No lock, no locked
//!   instruction.
//! - Records `[flushed, len)` are not yet in the spill file. They are
//!   written out, and `flushed`/`len` changed, only under the buffer's
//!   `lock`: by the owner when the buffer is full (once per [`CAP`]
//!   records), and by the thread that stops the session. The stopper reads
//!   only published records, so a record the owner is writing meanwhile
//!   is at worst left out.
//! - `session` is the session the records belong to. The owner resets
//!   the buffer (under the lock) when it finds a newer session live, so a
//!   buffer never mixes sessions.
//!
//! # Threads without an M
//!
//! Foreign threads (inside `gort_call`, readying goroutines) and sysmon
//! record into one buffer behind a mutex ([`SHARED`]): they are rare on
//! the hot paths, and a buffer per foreign thread would need releasing
//! when the thread exits.
//!
//! # Sessions
//!
//! - A session is live exactly while [`LIVE`] holds its id (never 0);
//!   [`begin`] makes it so, [`end`] ends it and writes out what every
//!   buffer still holds.

use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use super::record::{flow, ChunkHdr, Rec, SharedRec, CHUNK_M, CHUNK_SHARED, MAGIC};
use super::store::{self, write_chunk};
use crate::lock::Mutex;
use crate::sched::Machine;

/// Records per M buffer (80 KiB of records).
pub(super) const CAP: usize = 2560;
/// Records the shared buffer holds before it is written out.
const SHARED_CAP: usize = 1024;

// ---------------------------------------------------------------------------
// Sessions.

/// The live session's id; 0 when none. Read on every record.
pub(super) static LIVE: AtomicU32 = AtomicU32::new(0);
/// Flow ids of records made without an M.
static SHARED_FLOW: AtomicU64 = AtomicU64::new(0);

/// Makes `fd` the spill file of session `id` and starts recording.
pub(super) fn begin(id: u32, fd: i32) {
    store::open_spill(fd);
    SHARED.lock().clear();
    store::release_memory();
    LIVE.store(id, Ordering::Release);
}

/// Ends session `id`'s recording: writes every buffer's pending records.
/// Returns the spill file's size and the first error writing it. The
/// caller then owns the spill file descriptor. `patience` bounds the wait
/// for each buffer's lock (an exit path must not hang on a thread that
/// died holding one).
pub(super) fn end(id: u32, patience: std::time::Duration) -> (u64, i32) {
    LIVE.store(0, Ordering::SeqCst);
    for b in all_buffers() {
        if let Some(_g) = b.lock.try_lock_for(patience) {
            if b.session.load(Ordering::Relaxed) == id {
                b.write_pending(id);
            }
        }
    }
    if let Some(mut s) = SHARED.try_lock_for(patience) {
        write_shared(&mut s, id);
    }
    store::close_spill()
}

// ---------------------------------------------------------------------------
// Per-M buffers.

/// One M's buffer (see the module docs for who touches what).
pub(crate) struct MBuf {
    /// Taken to write records out or reset the buffer.
    lock: Mutex<()>,
    /// The session the records belong to.
    session: AtomicU32,
    /// The M's id.
    mid: u32,
    /// Kernel thread id of the M's current thread.
    tid: AtomicI32,
    /// Records published by the owner.
    len: AtomicUsize,
    /// Records already in the spill file.
    flushed: AtomicUsize,
    /// When the counters were last sampled (owner only).
    pub last_sample: Cell<u64>,
    /// When the running goroutine's slice started (owner only): the time
    /// of the readies and spawns it makes (see `timeline::ready`).
    pub slice_ticks: Cell<u64>,
    /// The P the slice started on (id + 1, 0: none) and its scheduling
    /// round then (owner only), to tell whether the goroutine kept the P.
    pub slice_p: Cell<(u64, u32)>,
    recs: Box<[UnsafeCell<Rec>]>,
}

// SAFETY: the Cell fields and the records past `len` are touched only by
// the owning M's thread; records below `len` are read by others only under
// `lock`, after the release store of `len` that published them; the rest
// is atomics and a mutex.
unsafe impl Sync for MBuf {}
// SAFETY: as above.
unsafe impl Send for MBuf {}

impl std::fmt::Debug for MBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MBuf")
            .field("mid", &self.mid)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// Every M buffer ever made.
static BUFFERS: Mutex<Vec<&'static MBuf>> = Mutex::new(Vec::new());

fn all_buffers() -> Vec<&'static MBuf> {
    BUFFERS.lock().clone()
}

impl MBuf {
    fn new(mid: u32) -> MBuf {
        MBuf {
            lock: Mutex::new(()),
            session: AtomicU32::new(0),
            mid,
            tid: AtomicI32::new(0),
            len: AtomicUsize::new(0),
            flushed: AtomicUsize::new(0),
            last_sample: Cell::new(0),
            slice_ticks: Cell::new(0),
            slice_p: Cell::new((0, 0)),
            recs: (0..CAP).map(|_| UnsafeCell::new(Rec::default())).collect(),
        }
    }

    /// Appends a record (owner only).
    #[inline(always)]
    pub(super) fn push(&self, r: Rec) {
        let mut n = self.len.load(Ordering::Relaxed);
        if n == CAP {
            if !self.make_room() {
                return;
            }
            n = 0;
        }
        // SAFETY: slot n is past `len`: only the owner (us) touches it.
        unsafe { *self.recs[n].get() = r };
        self.len.store(n + 1, Ordering::Release);
    }

    /// The M id, as recorded.
    pub(super) fn mid(&self) -> u32 {
        self.mid
    }

    /// The buffer is full: writes it out. False if the session ended (the
    /// records stay for the stopper, and the new one is dropped).
    #[cold]
    #[inline(never)]
    fn make_room(&self) -> bool {
        let _g = self.lock.lock();
        let id = self.session.load(Ordering::Relaxed);
        if LIVE.load(Ordering::Relaxed) != id {
            return false;
        }
        self.write_pending(id);
        self.len.store(0, Ordering::Relaxed);
        self.flushed.store(0, Ordering::Relaxed);
        true
    }

    /// Writes `[flushed, len)` out. The caller holds `lock`.
    fn write_pending(&self, _id: u32) {
        let from = self.flushed.load(Ordering::Relaxed);
        let to = self.len.load(Ordering::Acquire);
        if to <= from {
            return;
        }
        let hdr = ChunkHdr {
            magic: MAGIC,
            kind: CHUNK_M,
            mid: self.mid,
            tid: self.tid.load(Ordering::Relaxed),
            n: (to - from) as u32,
            pad: 0,
        };
        write_chunk(
            hdr,
            self.recs[from].get() as *const u8,
            (to - from) * std::mem::size_of::<Rec>(),
        );
        self.flushed.store(to, Ordering::Relaxed);
    }

    /// Prepares the buffer for session `id` on the calling (owner) thread.
    fn reset(&self, id: u32) {
        let _g = self.lock.lock();
        self.len.store(0, Ordering::Relaxed);
        self.flushed.store(0, Ordering::Relaxed);
        self.last_sample.set(0);
        self.tid.store(gettid(), Ordering::Relaxed);
        self.session.store(id, Ordering::Relaxed);
    }

    /// The owner's thread changed (a retired M's record taken by a new
    /// thread): what the old thread recorded goes out under its tid.
    pub(super) fn rebind(&self) {
        let _g = self.lock.lock();
        let id = self.session.load(Ordering::Relaxed);
        if LIVE.load(Ordering::Relaxed) == id {
            self.write_pending(id);
        }
        self.len.store(0, Ordering::Relaxed);
        self.flushed.store(0, Ordering::Relaxed);
        self.tid.store(gettid(), Ordering::Relaxed);
    }
}

/// `m`'s buffer for the live session, if one is live. On `m`'s thread.
#[inline(always)]
pub(super) fn mbuf(m: &Machine) -> Option<&'static MBuf> {
    let b = m.timeline.load(Ordering::Relaxed);
    let live = LIVE.load(Ordering::Relaxed);
    // SAFETY: a non-null pointer is a leaked, never-freed MBuf.
    if !b.is_null() && unsafe { (*b).session.load(Ordering::Relaxed) } == live && live != 0 {
        // SAFETY: as above.
        return Some(unsafe { &*b });
    }
    mbuf_slow(m, live)
}

#[cold]
#[inline(never)]
fn mbuf_slow(m: &Machine, live: u32) -> Option<&'static MBuf> {
    if live == 0 {
        return None;
    }
    let mut b = m.timeline.load(Ordering::Relaxed);
    if b.is_null() {
        let nb: &'static MBuf = Box::leak(Box::new(MBuf::new(m.id as u32)));
        BUFFERS.lock().push(nb);
        b = nb as *const MBuf as *mut MBuf;
        m.timeline.store(b, Ordering::Release);
    }
    // SAFETY: leaked, never freed.
    let b = unsafe { &*b };
    b.reset(live);
    Some(b)
}

/// The pointer type `Machine` keeps its buffer in.
pub(crate) type MBufPtr = AtomicPtr<MBuf>;

// ---------------------------------------------------------------------------
// The shared buffer.

/// Records of threads without an M.
static SHARED: Mutex<Vec<SharedRec>> = Mutex::new(Vec::new());

/// Records an event of a thread without an M, sysmon or a foreign thread.
pub(super) fn push_shared(who: u32, r: Rec) {
    let id = LIVE.load(Ordering::Relaxed);
    if id == 0 {
        return;
    }
    let mut s = SHARED.lock();
    if LIVE.load(Ordering::Relaxed) != id {
        return;
    }
    s.push(SharedRec {
        tid: cached_tid(),
        who,
        rec: r,
    });
    if s.len() >= SHARED_CAP {
        write_shared(&mut s, id);
    }
}

/// A flow word for a record made without an M.
pub(super) fn shared_flow() -> u64 {
    flow::SHARED | (SHARED_FLOW.fetch_add(1, Ordering::Relaxed) + 1)
}

fn write_shared(s: &mut Vec<SharedRec>, _id: u32) {
    if s.is_empty() {
        return;
    }
    let hdr = ChunkHdr {
        magic: MAGIC,
        kind: CHUNK_SHARED,
        mid: 0,
        tid: 0,
        n: s.len() as u32,
        pad: 0,
    };
    write_chunk(
        hdr,
        s.as_ptr() as *const u8,
        s.len() * std::mem::size_of::<SharedRec>(),
    );
    s.clear();
}

fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

thread_local! {
    static TID: Cell<i32> = const { Cell::new(0) };
}

/// The calling thread's kernel id, cached (threads without an M).
pub(super) fn cached_tid() -> i32 {
    TID.with(|t| {
        if t.get() == 0 {
            t.set(gettid());
        }
        t.get()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_flow_words() {
        let s = shared_flow();
        assert_ne!(s & flow::SHARED, 0);
        assert_ne!(shared_flow(), s);
    }
}
