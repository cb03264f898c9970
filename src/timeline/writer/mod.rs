//! Turns a session's spill file into the Chrome JSON trace.
//!
//! # Layout of the trace
//!
//! Two processes, so that the tracks of the Ps and of the threads never
//! share ids: pid 1, "gort <pid> processors", one track per P (`P0`, tid =
//! P id + 1, sorted by id), with the counters and sysmon's retakes; pid 2,
//! "gort <pid> threads", one track per thread under its kernel thread id
//! (`M3 (thread 1234)`, `sysmon (thread 1235)`, `foreign thread 1236`).
//! Each stretch a goroutine ran is a complete event (`X`) on its M's
//! track and, if it kept its P throughout, on the P's; instants (`i`)
//! and flows (`s`, `f`, bound to the enclosing slices) live on the thread
//! tracks.
//!
//! # Parts
//!
//! One [`Writer`] holds the state of the pass; its methods are split by
//! what they do: `chunks` reads the chunks back (memory, then the spill
//! file), `state` follows each M, foreign thread and flow through the
//! records, `json` writes the events out of the pieces `out` appends,
//! `map` is the one lookup table. The writer runs once per session,
//! at its end: it is written for size rather than speed (one map type for
//! every lookup, the output functions called rather than inlined), which
//! costs the recording side nothing.
//!
//! # Invariants
//!
//! - Every lookup goes through [`Map`] (u64 to u64, module `map`): values
//!   that are not a u64 live in a vector the map indexes, so that one
//!   hash table's code serves them all.
//! - The output depends only on the records and [`Info`]: maps are never
//!   iterated, and what is still open at the end is written sorted by M id
//!   and then by thread id.

mod chunks;
mod json;
mod map;
mod out;
mod state;

use map::Map;
use out::Out;
use state::{Opens, Waiting};

/// What the writer needs to know besides the records.
#[derive(Debug)]
pub(super) struct Info {
    /// The process id, for the process names.
    pub pid: i32,
    /// (ticks, nanotime) when the session started and ended.
    pub start: (u64, i64),
    /// See `start`.
    pub end: (u64, i64),
    /// The clock the ticks came from.
    pub clock: &'static str,
    /// The first error writing the spill file (records are missing).
    pub spill_err: i32,
}

const PID_PROCS: i32 = 1;
const PID_THREADS: i32 = 2;

/// The state of one pass over the records.
struct Writer {
    out: Out,
    info: Info,
    /// Nanoseconds per tick.
    scale: f64,
    /// Entry function address -> index in `name_text`.
    names: Map,
    /// Function names, JSON-escaped (without quotes).
    name_text: Vec<String>,
    /// Per M id: its thread and its open slice.
    ms: Opens,
    /// Per M id (its low 11 bits, as flow words carry it): from which
    /// ticks on which thread ran it.
    m_threads: Vec<Vec<(u64, i32)>>,
    /// Open gort_call per foreign thread.
    calls: Opens,
    /// Tracks whose names were written: pid << 32 | tid.
    named: Map,
    /// Flow ends read before their other end.
    waiting: Waiting,
    /// Flow ids handed out.
    flows: u64,
}

/// Reads `len` bytes of records from `spill` and writes the trace to
/// `out`. Errors are errno values.
#[inline(never)]
pub(super) fn write(spill: i32, len: u64, out: i32, info: &Info) -> Result<(), i32> {
    let span_ticks = info.end.0.saturating_sub(info.start.0);
    let scale = if span_ticks == 0 {
        1.0
    } else {
        (info.end.1 - info.start.1) as f64 / span_ticks as f64
    };
    let mut w = Writer {
        out: Out::new(out),
        info: Info { ..*info },
        scale,
        names: Map::default(),
        name_text: Vec::new(),
        ms: Opens::default(),
        m_threads: Vec::new(),
        calls: Opens::default(),
        named: Map::default(),
        waiting: Waiting::default(),
        flows: 0,
    };
    w.out.lit("{\"traceEvents\":[");
    w.header();
    let read_err = w.read_chunks(spill, len);
    w.close_open();
    w.trailer(read_err != 0);
    w.out.flush();
    if w.out.err != 0 {
        Err(w.out.err)
    } else {
        Ok(())
    }
}

impl Writer {
    /// Nanoseconds of the monotonic clock at `ticks`.
    fn ns(&self, ticks: u64) -> i64 {
        let d = ticks as i64 - self.info.start.0 as i64;
        self.info.start.1 + (d as f64 * self.scale) as i64
    }
}

#[cfg(test)]
mod tests;
