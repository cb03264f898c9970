//! The atomics of the lock-free protocols that loom checks: std's in every
//! real build, loom's in the test build under `--cfg loom`.
//!
//! Only the atomics a model exercises come from here: a handle-table
//! slot's state and value words (module `handle`) and a goroutine's status
//! word (module `sched::g`). Everything else keeps `std::sync::atomic`, so
//! a loom build changes nothing but those fields. Orderings are std's
//! `Ordering` either way (loom re-exports it).
//!
//! Under loom these atomics exist only inside `loom::model`, so a loom
//! test build runs its models and nothing else (loom is a dev-dependency;
//! a non-test build with `--cfg loom` keeps std's atomics):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test --release --lib --target-dir target/loom loom_
//! ```
//!
//! (`make check` runs exactly this; the own target directory keeps the
//! main build's artifacts intact.) What each model checks is stated in the
//! module that holds it: `handle::loom_tests` and `sched::loom_tests`.

#[cfg(all(test, loom))]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64};
#[cfg(not(all(test, loom)))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64};
