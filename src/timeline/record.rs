//! The binary form of timeline events: records, their kinds, flow words
//! and the headers of the chunks they are written out in. Plain data,
//! shared by the recording side (modules `hooks`, `buffer`, `store`) and
//! the writer, which reads them back.
//!
//! # Records
//!
//! A record is four words ([`Rec`]): the first packs the time (clock
//! ticks since the session started, 56 bits) with the event kind (8
//! bits); the other three are the kind's arguments (see [`kind`]). Raw
//! values only (goroutine ids, code addresses, pointers to static wait
//! reasons): names are looked up when the trace is written.
//!
//! # Invariants
//!
//! - The layouts are `repr(C)` and fixed (32-byte [`Rec`], 40-byte
//!   [`SharedRec`], 24-byte [`ChunkHdr`]): the writer reads them back
//!   from memory and from the spill file byte for byte.
//! - A flow word made by [`flow::from_slice`] is never 0 and never has
//!   [`flow::CREATE`] or [`flow::SHARED`] set; 0 means "no flow".

/// Event kinds, and what the three argument words hold.
pub(super) mod kind {
    /// A goroutine starts running: goid, entry | (P id + 1) << 48, flow
    /// word (0: none; see [`flow`](super::flow)).
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
pub(super) struct Rec {
    /// Ticks << 8 | kind, then the kind's arguments.
    pub w: [u64; 4],
}

impl Rec {
    /// Packs an event.
    #[inline(always)]
    pub(super) fn new(ticks: u64, kind: u8, a: u64, b: u64, c: u64) -> Rec {
        Rec {
            w: [(ticks << 8) | kind as u64, a, b, c],
        }
    }

    /// The event kind.
    pub(super) fn kind(&self) -> u8 {
        self.w[0] as u8
    }

    /// Ticks since the session started.
    pub(super) fn ticks(&self) -> u64 {
        self.w[0] >> 8
    }
}

/// A record of the shared buffer: the recording thread and what it is.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct SharedRec {
    /// Kernel thread id of the recording thread.
    pub tid: i32,
    /// One of [`who`].
    pub who: u32,
    /// The event.
    pub rec: Rec,
}

/// What kind of thread recorded a shared record.
pub(super) mod who {
    /// A thread the runtime did not start.
    pub(crate) const FOREIGN: u32 = 0;
    /// sysmon.
    pub(crate) const SYSMON: u32 = 1;
}

/// Chunk header in the spill file.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ChunkHdr {
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
pub(super) const MAGIC: u32 = 0x316c_7467;
/// A chunk of one M's [`Rec`]s.
pub(super) const CHUNK_M: u32 = 1;
/// A chunk of [`SharedRec`]s.
pub(super) const CHUNK_SHARED: u32 = 2;

/// Flow words: what a goroutine's `timeline_flow` and a slice start's
/// flow argument hold, naming where the arrow to that slice begins.
///
/// From a goroutine on an M, the word is the M id and the start of the
/// readier's (or creator's) running slice: the writer draws the arrow from
/// that slice without a record of the ready itself, which keeps a
/// hand-off's cost to the two records of the slices. From a thread
/// without an M (inside gort_call) it is a sequence number, [`SHARED`]
/// set, matched with the shared buffer's record of the ready.
pub(super) mod flow {
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
    }
}
