//! The chunk store: where the records of full buffers go while a session
//! is live, first memory, then the session's spill file.
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
//!
//! # Invariants
//!
//! - Once a chunk has not fit in memory (`Store::full`), every later one
//!   goes to the spill file, so that the file's chunks all come after the
//!   store's.
//! - [`write_chunk`] leaves errno as it was: it runs inside hooks.
//! - The memory is unmapped only by [`release_memory`], before a session
//!   starts and after its trace is written: the writer reads the chunks
//!   in place.

use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};

use super::record::ChunkHdr;
use crate::lock::Mutex;

/// The spill file of the live session (-1: none).
static SPILL_FD: AtomicI32 = AtomicI32::new(-1);
/// Bytes reserved in the spill file so far.
static SPILL_OFF: AtomicU64 = AtomicU64::new(0);
/// The first error writing the spill file (0: none).
static SPILL_ERR: AtomicI32 = AtomicI32::new(0);

/// Makes `fd` the spill file, empty and without error.
pub(super) fn open_spill(fd: i32) {
    SPILL_FD.store(fd, Ordering::Relaxed);
    SPILL_OFF.store(0, Ordering::Relaxed);
    SPILL_ERR.store(0, Ordering::Relaxed);
}

/// No more chunks go to the spill file: returns its size and the first
/// error writing it.
pub(super) fn close_spill() -> (u64, i32) {
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
pub(super) fn set_mem_cap(bytes: usize) {
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
        copy_streaming(hdr as *const ChunkHdr as *const u8, at as *mut u8, hsize);
        copy_streaming(body, (at + hsize) as *mut u8, body_len);
    }
    st.free = (at + total, st.free.1 - total);
    st.total += total;
    st.chunks.push((at, total));
    true
}

/// Copies `len` bytes to memory nobody reads until the trace is written:
/// on x86_64 with non-temporal stores, which skip reading each
/// destination line into the cache first (a plain copy's cost here) and
/// leave the running M's cache alone.
///
/// # Safety
/// As for `copy_nonoverlapping`, with `dst` and `len` multiples of 8
/// (chunks are: the header and records are whole words).
unsafe fn copy_streaming(src: *const u8, dst: *mut u8, len: usize) {
    debug_assert!(dst as usize % 8 == 0 && len % 8 == 0);
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_sfence, _mm_stream_si64};
        let (src, dst) = (src as *const i64, dst as *mut i64);
        for i in 0..len / 8 {
            // SAFETY: the caller's contract; SSE2 is part of x86_64.
            unsafe { _mm_stream_si64(dst.add(i), src.add(i).read_unaligned()) };
        }
        // Orders the streaming stores before the store lock's release,
        // which publishes the chunk.
        // SAFETY: a fence.
        unsafe { _mm_sfence() };
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // SAFETY: the caller's contract.
        unsafe { std::ptr::copy_nonoverlapping(src, dst, len) };
    }
}

/// Maps and populates regions before the Ms need them (sysmon calls this
/// while a session is live; the start of a session, once), so that the
/// page faults of a growing trace are taken off the threads running
/// goroutines. On a virtual machine a first touch of memory can cost
/// microseconds per page.
pub(super) fn prefault() {
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
pub(super) fn memory_chunks() -> Vec<(usize, usize)> {
    STORE.lock().chunks.clone()
}

/// Gives the memory of the chunks back (after the trace is written).
/// Out of line: a session's start and its end both call it.
#[inline(never)]
pub(super) fn release_memory() {
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
pub(super) fn write_chunk(hdr: ChunkHdr, body: *const u8, body_len: usize) {
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
