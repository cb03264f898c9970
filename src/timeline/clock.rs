//! The clock records are stamped with: the CPU's time-stamp counter where
//! the kernel trusts it, else `CLOCK_MONOTONIC` nanoseconds, counted from
//! the session's start.
//!
//! # Invariants
//!
//! - The clock is chosen, and its zero taken, by [`choose_clock`] at a
//!   session's start, before the session is live: every record of a
//!   session is stamped by one clock from one zero.
//! - Ticks are kept to 56 bits, what a [`Rec`](super::record::Rec) holds
//!   beside the event kind.
//! - The writer converts ticks to `CLOCK_MONOTONIC` by two [`anchor`]s,
//!   taken at the session's start and end.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Whether ticks are the CPU's time-stamp counter (else nanoseconds).
static USE_TSC: AtomicBool = AtomicBool::new(false);
/// Ticks when the session started.
static TICK0: AtomicU64 = AtomicU64::new(0);

/// Chooses the clock: the time-stamp counter where the kernel itself uses
/// it as its clock source (so it is invariant and synchronized across
/// CPUs), else `CLOCK_MONOTONIC`.
pub(super) fn choose_clock() -> &'static str {
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
pub(super) fn ticks() -> u64 {
    raw_ticks().wrapping_sub(TICK0.load(Ordering::Relaxed)) & ((1 << 56) - 1)
}

/// A (ticks, nanotime) pair, for the writer's conversion.
pub(super) fn anchor() -> (u64, i64) {
    (ticks(), crate::os::nanotime())
}
