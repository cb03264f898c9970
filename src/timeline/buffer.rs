//! Where timeline events are recorded: binary records in per-M buffers,
//! written out in chunks to the session's spill file.
//!
//! # Records
//!
//! A record is four words ([`Rec`]): the first packs the time (clock
//! ticks since the session started, 56 bits) with the event kind (8
//! bits); the other three are the kind's arguments (see [`kind`]). Raw
//! values only (goroutine ids, code addresses, pointers to static wait
//! reasons): names are looked up when the trace is written.
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
//! # Where full buffers go
//!
//! A chunk is a [`ChunkHdr`] and its records. Chunks are copied into
//! memory (the store, a list of huge-page regions, behind a mutex taken
//! once per chunk) until it holds MEM_CAP bytes, then written to the
//! spill file with one `pwritev` at an offset reserved by `fetch_add`.
//! One M's chunks are stored in the order it recorded them (the owner
//! writes them one at a time under its buffer's lock, and the store
//! fills before the file is used), which the writer relies on to pair
//! slice starts with their ends.

use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::lock::Mutex;
use crate::sched::Machine;

/// Records per M buffer (80 KiB of records).
pub(crate) const CAP: usize = 2560;
/// Records the shared buffer holds before it is written out.
const SHARED_CAP: usize = 1024;

/// Event kinds, and what the three argument words hold.
pub(crate) mod kind {
    /// A goroutine starts running: goid, entry | (P id + 1) << 48, flow
    /// word (0: none; see [`flow`]).
    pub(crate) const SLICE_START: u8 = 1;
    /// The goroutine yielded: goid, 0, P id + 1 if it held the slice's P
    /// throughout (0: not, or none).
    pub(crate) const END_YIELD: u8 = 2;
    /// The goroutine parked: goid, wait reason (`*const &'static str`, may
    /// be null), P as for END_YIELD.
    pub(crate) const END_PARK: u8 = 3;
    /// The goroutine ended: goid, 0, P as for END_YIELD.
    pub(crate) const END_EXIT: u8 = 4;
    /// A goroutine was made runnable by the scheduler (flow word 0) or by
    /// a thread without an M: goid, flow word. (A ready by a goroutine on
    /// an M leaves no record: the readied goroutine's flow word says it.)
    pub(crate) const READY: u8 = 5;
    /// A goroutine was created: goid, entry, flow word (0: none).
    pub(crate) const SPAWN: u8 = 6;
    /// sysmon took a P from an M stuck in C code: P id, M id.
    pub(crate) const RETAKE: u8 = 7;
    /// A poll of the netpoller readied goroutines: how many.
    pub(crate) const NETPOLL: u8 = 8;
    /// Counters: live goroutines, runnable goroutines.
    pub(crate) const COUNTERS: u8 = 9;
    /// A foreign thread entered gort_call: goid, function.
    pub(crate) const CALL_ENTER: u8 = 10;
    /// The foreign thread's gort_call returned: goid.
    pub(crate) const CALL_EXIT: u8 = 11;
    /// The process is ending: 1 exit(), 2 exit status 2 (fatal error,
    /// unrecovered panic, SIGQUIT).
    pub(crate) const EXIT: u8 = 12;
}

/// One event (see the module docs).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Rec {
    /// Ticks << 8 | kind, then the kind's arguments.
    pub w: [u64; 4],
}

impl Rec {
    /// Packs an event.
    #[inline(always)]
    pub(crate) fn new(ticks: u64, kind: u8, a: u64, b: u64, c: u64) -> Rec {
        Rec {
            w: [(ticks << 8) | kind as u64, a, b, c],
        }
    }

    /// The event kind.
    pub(crate) fn kind(&self) -> u8 {
        self.w[0] as u8
    }

    /// Ticks since the session started.
    pub(crate) fn ticks(&self) -> u64 {
        self.w[0] >> 8
    }
}

/// A record of the shared buffer: the recording thread and what it is.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SharedRec {
    /// Kernel thread id of the recording thread.
    pub tid: i32,
    /// One of [`who`].
    pub who: u32,
    /// The event.
    pub rec: Rec,
}

/// What kind of thread recorded a shared record.
pub(crate) mod who {
    /// A thread the runtime did not start.
    pub(crate) const FOREIGN: u32 = 0;
    /// sysmon.
    pub(crate) const SYSMON: u32 = 1;
}

/// Chunk header in the spill file.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ChunkHdr {
    /// [`MAGIC`].
    pub magic: u32,
    /// [`CHUNK_M`] or [`CHUNK_SHARED`].
    pub kind: u32,
    /// M id (M chunks).
    pub mid: u32,
    /// Kernel thread id of the M's thread (M chunks).
    pub tid: i32,
    /// Records that follow.
    pub n: u32,
    /// Zero.
    pub pad: u32,
}

/// Chunk header magic ("gtl1").
pub(crate) const MAGIC: u32 = 0x316c_7467;
/// A chunk of one M's [`Rec`]s.
pub(crate) const CHUNK_M: u32 = 1;
/// A chunk of [`SharedRec`]s.
pub(crate) const CHUNK_SHARED: u32 = 2;

// ---------------------------------------------------------------------------
// The clock.

/// Whether ticks are the CPU's time-stamp counter (else nanoseconds).
static USE_TSC: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// Ticks when the session started.
static TICK0: AtomicU64 = AtomicU64::new(0);

/// Chooses the clock: the time-stamp counter where the kernel itself uses
/// it as its clock source (so it is invariant and synchronized across
/// CPUs), else `CLOCK_MONOTONIC`.
pub(crate) fn choose_clock() -> &'static str {
    let tsc = cfg!(target_arch = "x86_64")
        && std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .is_ok_and(|s| s.trim() == "tsc");
    USE_TSC.store(tsc, Ordering::Relaxed);
    TICK0.store(raw_ticks(), Ordering::Relaxed);
    if tsc {
        "tsc"
    } else {
        "monotonic"
    }
}

#[inline(always)]
fn raw_ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    if USE_TSC.load(Ordering::Relaxed) {
        // SAFETY: rdtsc has no preconditions on x86_64.
        return unsafe { core::arch::x86_64::_rdtsc() };
    }
    crate::os::nanotime() as u64
}

/// Ticks since the session started (56 bits are kept).
#[inline(always)]
pub(crate) fn ticks() -> u64 {
    raw_ticks().wrapping_sub(TICK0.load(Ordering::Relaxed)) & ((1 << 56) - 1)
}

/// A (ticks, nanotime) pair, for the writer's conversion.
pub(crate) fn anchor() -> (u64, i64) {
    (ticks(), crate::os::nanotime())
}

// ---------------------------------------------------------------------------
// Sessions and the spill file.

/// The live session's id; 0 when none. Read on every record.
pub(crate) static LIVE: AtomicU32 = AtomicU32::new(0);
/// The spill file of the live session (-1: none).
static SPILL_FD: AtomicI32 = AtomicI32::new(-1);
/// Bytes reserved in the spill file so far.
static SPILL_OFF: AtomicU64 = AtomicU64::new(0);
/// The first error writing the spill file (0: none).
static SPILL_ERR: AtomicI32 = AtomicI32::new(0);
/// Flow ids of records made without an M.
static SHARED_FLOW: AtomicU64 = AtomicU64::new(0);

/// Makes `fd` the spill file of session `id` and starts recording.
pub(crate) fn begin(id: u32, fd: i32) {
    SPILL_FD.store(fd, Ordering::Relaxed);
    SPILL_OFF.store(0, Ordering::Relaxed);
    SPILL_ERR.store(0, Ordering::Relaxed);
    SHARED.lock().clear();
    release_memory();
    LIVE.store(id, Ordering::Release);
}

/// Ends session `id`'s recording: writes every buffer's pending records.
/// Returns the spill file's size and the first error writing it. The
/// caller then owns the spill file descriptor. `patience` bounds the wait
/// for each buffer's lock (an exit path must not hang on a thread that
/// died holding one).
pub(crate) fn end(id: u32, patience: std::time::Duration) -> (u64, i32) {
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
    SPILL_FD.store(-1, Ordering::SeqCst);
    (
        SPILL_OFF.load(Ordering::SeqCst),
        SPILL_ERR.load(Ordering::SeqCst),
    )
}

/// Bytes of chunks kept in memory; past this they go to the spill file.
/// (A variable only so that tests can exercise the spill file.)
static MEM_CAP: AtomicUsize = AtomicUsize::new(256 << 20);

#[cfg(test)]
pub(crate) fn set_mem_cap(bytes: usize) {
    MEM_CAP.store(bytes, Ordering::Relaxed);
}
/// Memory is mapped this much at a time (plus 2 MiB to align it for
/// transparent huge pages: a fault per 2 MiB rather than per page).
const REGION: usize = 32 << 20;
const HUGE: usize = 2 << 20;

/// Mapped regions sysmon keeps ready ahead of the Ms (see [`prefault`]).
const SPARES: usize = 2;

/// Chunks kept in memory, in the order they were written.
#[derive(Debug)]
struct Store {
    /// Mappings: (address, length).
    maps: Vec<(usize, usize)>,
    /// Free space in the last mapping in use: (address, bytes).
    free: (usize, usize),
    /// Mapped, populated, unused regions: (address, bytes).
    spare: Vec<(usize, usize)>,
    /// Bytes of chunks stored.
    total: usize,
    /// A chunk did not fit: every later one goes to the spill file too,
    /// so that the file's chunks all come after the store's.
    full: bool,
    /// The chunks: (address, length), header first.
    chunks: Vec<(usize, usize)>,
}

static STORE: Mutex<Store> = Mutex::new(Store {
    maps: Vec::new(),
    free: (0, 0),
    spare: Vec::new(),
    total: 0,
    full: false,
    chunks: Vec::new(),
});

/// Maps a region of at least `len` usable bytes, aligned for huge pages,
/// populated if asked: ((mapping, length), (usable start, bytes)).
fn map_region(len: usize, populate: bool) -> Option<((usize, usize), (usize, usize))> {
    let maplen = len + HUGE;
    // SAFETY: an anonymous private mapping; no address hint.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            maplen,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    let start = (p as usize + HUGE - 1) & !(HUGE - 1);
    let usable = maplen - (start - p as usize);
    // SAFETY: advice on our own fresh mapping; failure is harmless.
    unsafe { libc::madvise(start as *mut libc::c_void, usable, libc::MADV_HUGEPAGE) };
    if populate {
        let page = crate::os::page_size();
        let mut a = start;
        while a < start + usable {
            // SAFETY: a is inside our fresh, writable mapping.
            unsafe { std::ptr::write_volatile(a as *mut u8, 0) };
            a += page;
        }
    }
    Some(((p as usize, maplen), (start, usable)))
}

/// Copies a chunk into memory, if it fits under [`MEM_CAP`]. The spill file
/// alone would do, but writing to the page cache costs about half a
/// nanosecond per byte (page allocation, accounting), a third of a traced
/// hand-off; memory mapped in huge pages, and populated ahead by sysmon,
/// costs a fraction of that.
fn keep_in_memory(hdr: &ChunkHdr, body: *const u8, body_len: usize) -> bool {
    let hsize = std::mem::size_of::<ChunkHdr>();
    let total = hsize + body_len;
    let mut st = STORE.lock();
    if st.full || st.total + total > MEM_CAP.load(Ordering::Relaxed) {
        st.full = true;
        return false;
    }
    if st.free.1 < total {
        match st.spare.pop() {
            Some(r) => st.free = r,
            None => {
                let Some((map, free)) = map_region(REGION.max(total), false) else {
                    st.full = true;
                    return false;
                };
                st.maps.push(map);
                st.free = free;
            }
        }
    }
    let at = st.free.0;
    // SAFETY: [at, at + total) is inside our mapping's free space; body is
    // readable for body_len bytes (the caller's records).
    unsafe {
        std::ptr::copy_nonoverlapping(hdr as *const ChunkHdr as *const u8, at as *mut u8, hsize);
        std::ptr::copy_nonoverlapping(body, (at + hsize) as *mut u8, body_len);
    }
    st.free = (at + total, st.free.1 - total);
    st.total += total;
    st.chunks.push((at, total));
    true
}

/// Maps and populates regions before the Ms need them (sysmon calls this
/// while a session is live; the start of a session, once), so that the
/// page faults of a growing trace are taken off the threads running
/// goroutines. On a virtual machine a first touch of memory can cost
/// microseconds per page.
pub(crate) fn prefault() {
    loop {
        {
            let st = STORE.lock();
            let mapped: usize = st.maps.iter().map(|m| m.1).sum();
            let cap = MEM_CAP.load(Ordering::Relaxed);
            if st.full || st.spare.len() >= SPARES || mapped >= cap.saturating_add(REGION) {
                return;
            }
        }
        let Some((map, free)) = map_region(REGION, true) else {
            return;
        };
        let mut st = STORE.lock();
        st.maps.push(map);
        st.spare.push(free);
    }
}

/// The chunks kept in memory, in order: (address, length).
pub(crate) fn memory_chunks() -> Vec<(usize, usize)> {
    STORE.lock().chunks.clone()
}

/// Gives the memory of the chunks back (after the trace is written).
pub(crate) fn release_memory() {
    let mut st = STORE.lock();
    for &(p, len) in &st.maps {
        // SAFETY: our own mapping, no longer referenced (the writer is done).
        unsafe { libc::munmap(p as *mut libc::c_void, len) };
    }
    st.maps.clear();
    st.spare.clear();
    st.chunks.clear();
    st.free = (0, 0);
    st.total = 0;
    st.full = false;
}

/// Appends one chunk to the session's records: in memory while there is
/// room, else in the spill file. errno is left as it was: hooks run on
/// goroutines (a ready, a spawn) and between a goroutine's errno being
/// restored and its resumption.
fn write_chunk(hdr: ChunkHdr, body: *const u8, body_len: usize) {
    crate::lock::keeping_errno(|| write_chunk_inner(hdr, body, body_len));
}

fn write_chunk_inner(hdr: ChunkHdr, body: *const u8, body_len: usize) {
    if SPILL_FD.load(Ordering::Relaxed) < 0 || keep_in_memory(&hdr, body, body_len) {
        return;
    }
    let fd = SPILL_FD.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let total = std::mem::size_of::<ChunkHdr>() + body_len;
    let mut off = SPILL_OFF.fetch_add(total as u64, Ordering::Relaxed);
    let mut iov = [
        libc::iovec {
            iov_base: &hdr as *const ChunkHdr as *mut libc::c_void,
            iov_len: std::mem::size_of::<ChunkHdr>(),
        },
        libc::iovec {
            iov_base: body as *mut libc::c_void,
            iov_len: body_len,
        },
    ];
    let mut idx = 0;
    while idx < 2 {
        // SAFETY: iov[idx..] describe live memory (the header on our stack,
        // the records of a buffer we hold the lock of) for their lengths.
        let n = unsafe { libc::pwritev(fd, iov[idx..].as_ptr(), (2 - idx) as i32, off as i64) };
        if n < 0 {
            if crate::os::errno() == libc::EINTR {
                continue;
            }
            let _ = SPILL_ERR.compare_exchange(
                0,
                crate::os::errno(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            break;
        }
        let mut n = n as usize;
        off += n as u64;
        while idx < 2 && n >= iov[idx].iov_len {
            n -= iov[idx].iov_len;
            idx += 1;
        }
        if idx < 2 {
            // SAFETY: n < iov_len, so the new base stays inside the buffer.
            iov[idx].iov_base = unsafe { (iov[idx].iov_base as *mut u8).add(n) }.cast();
            iov[idx].iov_len -= n;
        }
    }
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
    pub(crate) fn push(&self, r: Rec) {
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
    pub(crate) fn mid(&self) -> u32 {
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
    pub(crate) fn rebind(&self) {
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
pub(crate) fn mbuf(m: &Machine) -> Option<&'static MBuf> {
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
pub(crate) fn push_shared(who: u32, r: Rec) {
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

/// Flow words: what a goroutine's `timeline_flow` and a slice start's
/// flow argument hold, naming where the arrow to that slice begins.
///
/// From a goroutine on an M, the word is the M id and the start of the
/// readier's (or creator's) running slice: the writer draws the arrow from
/// that slice without a record of the ready itself, which keeps a
/// hand-off's cost to the two records of the slices. From a thread
/// without an M (inside gort_call) it is a sequence number, [`SHARED`]
/// set, matched with the shared buffer's record of the ready.
pub(crate) mod flow {
    /// The arrow links a creator to the goroutine it created (else a
    /// readier to the goroutine it readied).
    pub(crate) const CREATE: u64 = 1 << 63;
    /// The rest is a sequence number of the shared buffer.
    pub(crate) const SHARED: u64 = 1 << 62;
    const MID_SHIFT: u32 = 51;
    const MID_MASK: u64 = 0x7ff;
    const TICKS_MASK: u64 = (1 << MID_SHIFT) - 1;

    /// The slice of M `mid` that started at `ticks` (never 0).
    #[inline(always)]
    pub(crate) fn from_slice(mid: u32, ticks: u64) -> u64 {
        (((mid as u64 & MID_MASK) << MID_SHIFT) | (ticks & TICKS_MASK)).max(1)
    }

    /// The M id of a word made by [`from_slice`] (its low 11 bits).
    pub(crate) fn mid(f: u64) -> u32 {
        ((f >> MID_SHIFT) & MID_MASK) as u32
    }

    /// The slice start of a word made by [`from_slice`] (its low 51 bits).
    pub(crate) fn ticks(f: u64) -> u64 {
        f & TICKS_MASK
    }
}

/// A flow word for a record made without an M.
pub(crate) fn shared_flow() -> u64 {
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
pub(crate) fn cached_tid() -> i32 {
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
    fn record_packing() {
        let r = Rec::new(0x00ab_cdef_0123_4567, kind::READY, 7, 9, 11);
        assert_eq!(r.kind(), kind::READY);
        assert_eq!(r.ticks(), 0x00ab_cdef_0123_4567);
        assert_eq!(r.w[1..], [7, 9, 11]);
        assert_eq!(std::mem::size_of::<Rec>(), 32);
        assert_eq!(std::mem::size_of::<SharedRec>(), 40);
        assert_eq!(std::mem::size_of::<ChunkHdr>(), 24);
    }

    #[test]
    fn flow_words() {
        let f = flow::from_slice(3, 12345);
        assert_eq!(flow::mid(f), 3);
        assert_eq!(flow::ticks(f), 12345);
        assert_eq!(f & (flow::CREATE | flow::SHARED), 0);
        assert_ne!(flow::from_slice(2048, 0), 0);
        let s = shared_flow();
        assert_ne!(s & flow::SHARED, 0);
        assert_ne!(shared_flow(), s);
    }
}
