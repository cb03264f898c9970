//! Reading the session's records back: the chunks kept in memory first,
//! then those of the spill file, in the order they were stored, each
//! record handed to the state machine (module `state`).
//!
//! # Invariants
//!
//! - One M's chunks are read in the order it recorded them: the store's
//!   chunks in their order, then the spill file's from its start.
//! - A damaged chunk header (bad magic, unknown kind, a length past the
//!   end) stops the reading there; what was read before is written, and
//!   the error makes the trace say it is incomplete.
//! - The chunks in memory are read in place: the store unmaps them only
//!   after the writer is done.

use super::Writer;
use crate::timeline::record::{ChunkHdr, Rec, SharedRec, CHUNK_M, CHUNK_SHARED, MAGIC};
use crate::timeline::store;

/// Where a chunk's records are.
#[derive(Debug, Clone, Copy)]
enum Src {
    /// In memory, at this address.
    Mem(usize),
    /// In the spill file, at this offset.
    File(u64),
}

impl Writer {
    /// The chunks, those kept in memory first, then those of the spill
    /// file: a first pass over their headers (which thread ran each M
    /// when), then their records.
    #[inline(never)]
    pub(super) fn read_chunks(&mut self, spill: i32, len: u64) -> i32 {
        let (chunks, err) = self.scan(spill, len);
        let mut buf: Vec<u8> = Vec::new();
        for (src, hdr) in chunks {
            let blen = hdr.n as usize * record_size(&hdr);
            let body: &[u8] = match src {
                // SAFETY: a chunk in the store, alive until release_memory
                // (after the writer is done); scan checked its length.
                Src::Mem(p) => unsafe { std::slice::from_raw_parts(p as *const u8, blen) },
                Src::File(off) => {
                    buf.resize(blen, 0);
                    if let Err(e) = pread_all(spill, &mut buf, off) {
                        return e;
                    }
                    &buf
                }
            };
            self.records(&hdr, body);
        }
        err
    }

    fn records(&mut self, hdr: &ChunkHdr, body: &[u8]) {
        let rsize = record_size(hdr);
        for i in 0..hdr.n as usize {
            let at = i * rsize;
            if hdr.kind == CHUNK_M {
                // SAFETY: at + size_of::<Rec>() <= body.len(); read_unaligned
                // copes with any alignment.
                let r = unsafe { (body.as_ptr().add(at) as *const Rec).read_unaligned() };
                self.m_event(hdr.mid, hdr.tid, &r);
            } else {
                // SAFETY: as above, for a SharedRec.
                let s = unsafe { (body.as_ptr().add(at) as *const SharedRec).read_unaligned() };
                self.shared_event(&s);
            }
        }
    }

    /// Notes when M chunk `hdr` (whose first record starts with `w0`)
    /// shows its M on a new thread.
    fn chunk_thread(&mut self, hdr: &ChunkHdr, w0: u64) {
        if hdr.kind == CHUNK_M && hdr.n != 0 {
            self.note_thread(hdr.mid, hdr.tid, w0);
        }
    }

    /// Reads the chunk headers. Stops at the first damaged one, returning
    /// its error with the good ones.
    fn scan(&mut self, spill: i32, len: u64) -> (Vec<(Src, ChunkHdr)>, i32) {
        let hsize = std::mem::size_of::<ChunkHdr>();
        let mut chunks = Vec::new();
        for (p, clen) in store::memory_chunks() {
            // SAFETY: a stored chunk of clen >= hsize bytes, header first.
            let hdr = unsafe { (p as *const ChunkHdr).read_unaligned() };
            if hdr.magic != MAGIC || hsize + hdr.n as usize * record_size(&hdr) != clen {
                return (chunks, libc::EIO);
            }
            if hdr.n > 0 {
                // SAFETY: the chunk holds at least one record after the header.
                let w0 = unsafe { ((p + hsize) as *const u64).read_unaligned() };
                self.chunk_thread(&hdr, w0);
            }
            chunks.push((Src::Mem(p + hsize), hdr));
        }
        let mut off = 0u64;
        while off + hsize as u64 <= len {
            let mut hdr = ChunkHdr::default();
            // SAFETY: hdr is a plain-old-data struct of hsize bytes.
            let hb = unsafe {
                std::slice::from_raw_parts_mut(&mut hdr as *mut ChunkHdr as *mut u8, hsize)
            };
            if let Err(e) = pread_all(spill, hb, off) {
                return (chunks, e);
            }
            off += hsize as u64;
            let blen = hdr.n as u64 * record_size(&hdr) as u64;
            if hdr.magic != MAGIC || record_size(&hdr) == 0 || off + blen > len {
                return (chunks, libc::EIO);
            }
            if hdr.n > 0 {
                let mut w0 = [0u8; 8];
                if let Err(e) = pread_all(spill, &mut w0, off) {
                    return (chunks, e);
                }
                self.chunk_thread(&hdr, u64::from_ne_bytes(w0));
            }
            chunks.push((Src::File(off), hdr));
            off += blen;
        }
        (chunks, 0)
    }
}

fn pread_all(fd: i32, buf: &mut [u8], mut off: u64) -> Result<(), i32> {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: buf[done..] is writable for its length.
        let n = unsafe {
            libc::pread(
                fd,
                buf[done..].as_mut_ptr().cast(),
                buf.len() - done,
                off as i64,
            )
        };
        if n < 0 {
            let e = crate::os::errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(libc::EIO);
        }
        done += n as usize;
        off += n as u64;
    }
    Ok(())
}

/// Bytes per record of a chunk (0: not a chunk kind we know).
fn record_size(h: &ChunkHdr) -> usize {
    match h.kind {
        CHUNK_M => std::mem::size_of::<Rec>(),
        CHUNK_SHARED => std::mem::size_of::<SharedRec>(),
        _ => 0,
    }
}
