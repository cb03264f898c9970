//! gort: Go's concurrency model for C programs.
//!
//! gort is a runtime shipped as `libgort.a` / `libgort.so` with a generated
//! C header (`include/runtime.h`). It gives C code goroutines on an M:N
//! work-stealing scheduler, channels and select, Go's sync primitives,
//! sleeps and timers, handles (Go's cgo.Handle), callbacks from foreign
//! threads and panic/recover. The C contract is the header; this crate's
//! Rust API is internal and exists for tests and benchmarks.
//!
//! # Design overview
//!
//! The scheduler follows Go's runtime (`proc.go`) closely:
//!
//! - A [`sched::Goroutine`] (Go's G) is an entry function, an argument and a
//!   stackful coroutine. Its stack is taken from a pool the first time it
//!   runs, not when it is spawned, so a queue of a million not-yet-started
//!   goroutines costs a few hundred bytes each.
//! - A [`sched::Machine`] (M) is an OS thread. Its own thread stack is the
//!   scheduler context (Go's g0): goroutines are resumed from it and switch
//!   back to it whenever they block, yield or end.
//! - A [`sched::Processor`] (P) is the right to run goroutines; GOMAXPROCS
//!   of them exist. Each owns a work-stealing run queue and a `runnext` slot.
//!   An M must hold a P to run goroutines; idle Ms park on a futex.
//! - Every blocking operation is built on one park/ready pair
//!   ([`sched::park`], [`sched::ready`]); on a thread that is not a runtime
//!   thread the same pair blocks and wakes the thread itself.
//!
//! # Glossary
//!
//! | Go          | here                  |
//! |-------------|-----------------------|
//! | G           | `Goroutine`           |
//! | M           | `Machine`             |
//! | P           | `Processor`           |
//! | g0          | an M's own thread stack, running `sched::schedule` |
//! | gopark      | `sched::park`         |
//! | goready     | `sched::ready`        |
//! | sudog       | `chan::Waiter`; semaphores use the wait links inside `Goroutine` |
//! | hchan       | `chan::Chan`          |
//! | note        | `note::Note`          |
//! | semacquire  | `sync::sema::acquire` |
//! | notifyList  | `sync::sema::NotifyList` |
//! | timer (of a `time.Timer` / `time.Ticker`) | `timer::Timer` |
//! | cancelCtx, timerCtx | `context::Context` |
//!
//! # Modules
//!
//! - [`ffi`]: every `extern "C"` item, argument checks, panic fences.
//! - [`sched`]: goroutines, machines, processors, the scheduler loop.
//! - [`stack`]: goroutine stacks, guard regions, the stack pool.
//! - [`chan`]: channels (Go's `chan.go`).
//! - [`select`]: select over channels (Go's `select.go`).
//! - [`time`]: the monotonic clock, the timer heap, sleep.
//! - [`timer`]: channel timers: `gort_timer`, `gort_ticker`, `gort_after`
//!   (Go 1.23's `time.Timer`, `time.Ticker`, `time.After`).
//! - [`context`]: contexts, cancellation trees with deadlines (Go's
//!   `context`).
//! - [`sync`]: runtime semaphores and notify lists, mutex, rwmutex, cond,
//!   waitgroup, once.
//! - [`panic`]: defer, panic, recover; fatal errors; the exit race.
//! - [`fatal`]: the claim on the process's last report, the out-of-memory
//!   report, and the `fatal error:` entry of the base layer (the core
//!   installs the full report into it).
//! - [`memory`]: the global allocator (a failed allocation is Go's
//!   `fatal error: runtime: out of memory`).
//! - [`frame`]: the frame boundaries a recovered panic returns to, and the
//!   personality routine that meets C++ exceptions and thread exits there.
//! - [`handle`]: the handle table behind `gort_handle` (Go's cgo.Handle).
//! - [`netpoll`]: the netpoller (Go's `netpoll.go`): goroutines wait for
//!   file descriptors without holding a thread.
//! - [`fdready`]: `gort_fd_ready`, readiness as a channel over the
//!   netpoller.
//! - [`signals`]: the SIGSEGV/SIGBUS handler that reports stack overflow
//!   (of goroutine stacks, and of foreign threads inside `gort_call`).
//! - [`trace`]: goroutine dumps (`gort_stack`) and their symbolizer.
//! - [`timeline`]: GORT_TRACE, a scheduler timeline for Perfetto and
//!   chrome://tracing.
//! - [`config`]: environment variables.
//! - [`note`], [`os`]: futex notifications and thin OS helpers.
//! - [`init`]: the library constructor, library-mode init, program mode.
//! - [`foreign`]: foreign threads' attach state and `gort_call`.
//! - [`sync_shim`]: the atomics that the loom models swap for loom's.
//! - `lock`, `lines`, `unwind`, `valgrind`: runtime locks, DWARF line
//!   tables, the stack walker, valgrind's client requests.
//!
//! # Layers
//!
//! The modules form four layers, listed here top first. A module imports
//! only from its own layer or the ones below. Where a lower layer needs
//! something of a higher one, the higher one supplies it: installed when
//! the runtime starts (the full fatal report into [`fatal`], the handler
//! of foreign unwinds into [`frame`]: `panic::install_reports`), or handed
//! down as an argument (library-mode init's wait into [`foreign`], the
//! channel side of a `gort_fd_ready` wait into [`netpoll`]). The unit test
//! `tests::layers` reads the table below and fails on every `crate::`
//! path, outside comments and test files, that goes upward.
//!
//! - ffi (the C boundary): `ffi`
//! - concepts (what the C API offers): `chan`, `select`, `sync`, `timer`, `context`, `handle`, `init`, `fdready`
//! - core (the runtime proper): `sched`, `coro`, `time`, `panic`, `signals`, `foreign`, `trace`, `timeline`, `netpoll`
//! - base (what the runtime stands on): `os`, `lock`, `note`, `stack`, `frame`, `config`, `memory`, `unwind`, `lines`, `valgrind`, `sync_shim`, `fatal`

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc,
    missing_debug_implementations,
    unreachable_pub
)]

pub(crate) mod chan;
pub(crate) mod config;
pub(crate) mod context;
pub(crate) mod coro;
pub(crate) mod fatal;
pub(crate) mod fdready;
pub mod ffi;
pub(crate) mod foreign;
pub(crate) mod frame;
pub(crate) mod handle;
pub(crate) mod init;
pub(crate) mod lines;
pub(crate) mod lock;
pub(crate) mod memory;
pub(crate) mod netpoll;
pub(crate) mod note;
pub(crate) mod os;
pub(crate) mod panic;
pub(crate) mod sched;
pub(crate) mod select;
pub(crate) mod signals;
pub(crate) mod stack;
pub(crate) mod sync;
pub(crate) mod sync_shim;
pub(crate) mod time;
pub(crate) mod timeline;
pub(crate) mod timer;
pub(crate) mod trace;
pub(crate) mod unwind;
mod valgrind;

#[cfg(test)]
mod tests;
