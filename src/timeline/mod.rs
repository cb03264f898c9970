//! GORT_TRACE: a timeline of the scheduler that opens in Perfetto
//! (ui.perfetto.dev) and chrome://tracing (API.md §8.3).
//!
//! (Not to be confused with module `trace`, the goroutine dumps.)
//!
//! # What is recorded
//!
//! One track per P and per M; a slice for every stretch a goroutine ran,
//! on the track of its P and of its M, named `G<id> <entry function>`;
//! instants for creation, blocking (with the wait reason of the dumps),
//! unblocking by something that is not a goroutine, sysmon's retakes,
//! netpoll wake-ups, foreign `gort_call` entry and exit (with a slice on
//! the foreign thread's track); flow arrows from a creator's slice to the
//! created goroutine's first slice and from a readier's slice to the
//! readied goroutine's next one; counters of runnable and live goroutines.
//!
//! # Format: Chrome JSON, written at the end
//!
//! The trace is Chrome's JSON trace event format (`{"traceEvents":[...]}`):
//! both viewers open it, and it can be checked with any JSON parser.
//! Perfetto's protobuf would be several times smaller but chrome://tracing
//! does not read it, and writing it means hand-encoding a schema we could
//! not check without Perfetto's tools. The few event shapes are written
//! by hand (module `writer`): a JSON crate would add code and buy
//! nothing for objects this regular.
//!
//! JSON costs time: a slice with its flow and instant is some 400 bytes
//! of text, several hundred nanoseconds to format, where a channel
//! hand-off costs about 50 ns. Formatting as events happen would make a
//! traced ping-pong several times slower, so the hot paths only append
//! 32-byte binary records to their M's buffer (module `buffer`): raw
//! goroutine ids, code addresses and pointers to static wait reasons,
//! stamped with the CPU's time-stamp counter where the kernel trusts it
//! (10 ns here against 23 for `clock_gettime`). A hand-off costs two
//! records (the end of one slice, the start of the next) and two clock
//! reads: a ready by a goroutine leaves no record of its own, as the
//! readied goroutine carries a *flow word* naming the readier's slice
//! (M id and start), from which the writer draws the arrow. Full buffers
//! are copied into memory mapped in huge pages, which sysmon maps and
//! populates ahead of need (a first touch of memory is what costs most
//! on a virtual machine), and past 256 MiB into an unlinked spill file
//! next to the trace (or in `$TMPDIR`). When the session ends
//! (gort_trace_stop, exit, a fatal error or an unrecovered panic) the
//! records are read back and the JSON written in one pass, with names
//! symbolized once per entry function and ticks converted to
//! `CLOCK_MONOTONIC` microseconds (the clock of `gort_nanotime`) by the
//! two anchors taken at the session's start and end. The price: the file
//! appears only at the end, and the end takes time proportional to the
//! trace (about a second per million slices). Events made while a
//! goroutine runs (its readies and spawns) carry the time its slice
//! started: the arrows bind to the right slices, only their tails sit at
//! the slice's start rather than at the moment of the ready.
//!
//! # Cost
//!
//! Off: every hook is `if timeline::on() { timeline::hook(..) }`, one
//! relaxed load of a global and a predictable branch; the recording
//! functions are `#[cold]` and out of line. On: a hook is a thread-local
//! (or the M at hand), a check that the M's buffer belongs to the live
//! session, a clock read and four stores; no lock and no locked
//! instruction, except in threads without an M (foreign threads, sysmon),
//! which share one buffer behind a mutex. The counters are sampled by an
//! M at a slice start at most every 100,000 ticks (30-100 µs), and by
//! sysmon at most every millisecond.
//!
//! # Invariants
//!
//! Each file keeps its own (see their docs); the ones that span them:
//! a session is live exactly while `buffer::LIVE` is non-zero (module
//! `control` starts and ends it), hooks never block, and the trace is
//! written once per session.
//!
//! # Files
//!
//! - `hooks`: the recording functions the runtime calls.
//! - `record`: the binary records, flow words and chunk headers.
//! - `clock`: the ticks records are stamped with.
//! - `buffer`: the per-M buffers, the shared buffer, a session's start and
//!   end of recording.
//! - `store`: where full buffers go, memory then the spill file.
//! - `control`: start, stop and the exit paths.
//! - `writer`: the records read back and written as JSON.

mod buffer;
mod clock;
mod control;
mod hooks;
mod record;
mod store;
#[cfg(test)]
mod tests;
mod writer;

use std::sync::atomic::Ordering;

pub(crate) use buffer::MBufPtr;
pub(crate) use control::{at_exit, start, start_from_env, stop};
pub(crate) use hooks::{
    call_enter, call_exit, netpoll, ready, retake, slice_end, slice_start, spawn, sysmon_thread,
    sysmon_tick, thread_started,
};

/// Whether a trace is being recorded. The hooks' one check.
#[inline(always)]
pub(crate) fn on() -> bool {
    buffer::LIVE.load(Ordering::Relaxed) != 0
}
