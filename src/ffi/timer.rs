//! Timers and tickers (API.md §11).
//!
//! The timer itself is `crate::timer`; this file checks C arguments.

use super::chan::gort_chan;
use super::fence;
use crate::panic::go_panic;
use crate::timer::{self, Timer};

/// A timer or a ticker (Go's time.Timer and time.Ticker), made by
/// gort_timer_new() or gort_ticker_new() and freed by gort_timer_free().
/// It delivers the time, an `int64_t` on the gort_nanotime() clock, on
/// its channel (gort_timer_chan()); a timer once, a ticker every period.
///
/// The channel follows Go 1.23: once gort_timer_stop() or
/// gort_timer_reset() has returned, no value from before is received
/// (one still in the channel is dropped, one on its way is not sent), so
/// no draining is ever needed; gort_chan_len() and gort_chan_cap() of the
/// channel read 0. A value sent when nobody was receiving waits for the
/// next receiver. A ticker whose receiver falls behind drops ticks, as
/// Go's does: at most one waits in the channel.
///
/// A timer costs one allocation and no thread; a stopped one leaves the
/// runtime's timer heap at once. Every function works from goroutines and
/// from any other thread. A timer may be stopped, reset and received from
/// by several goroutines at once; freeing it must come after every other
/// use. NULL panics ("gort_timer_stop: nil timer", and so on), except in
/// gort_timer_free().
#[derive(Debug)]
pub struct gort_timer {
    _private: [u8; 0],
}

#[inline(always)]
fn inner<'a>(t: *mut gort_timer, what: &str) -> &'a Timer {
    if t.is_null() {
        go_panic(what);
    }
    // SAFETY: a non-null gort_timer is a live Timer (every function's
    // contract).
    unsafe { &*(t as *const Timer) }
}

/// Makes a timer that sends the time on its channel once, `ns`
/// nanoseconds from now (Go's time.NewTimer). `ns <= 0` sends at once:
/// the value is already in the channel. Returns the timer; free it with
/// gort_timer_free().
#[no_mangle]
pub extern "C" fn gort_timer_new(ns: i64) -> *mut gort_timer {
    fence(|| timer::new_timer(ns) as *mut gort_timer)
}

/// Makes a ticker that sends the time on its channel every `period_ns`
/// nanoseconds, the first time one period from now (Go's
/// time.NewTicker). The ticks keep their schedule: a tick that comes late
/// does not delay the next ones, and ticks missed while the receiver was
/// slow are dropped. `period_ns <= 0` panics with "non-positive interval
/// for NewTicker". Returns the ticker; stop it with gort_timer_stop(),
/// free it with gort_timer_free().
#[no_mangle]
pub extern "C" fn gort_ticker_new(period_ns: i64) -> *mut gort_timer {
    fence(|| timer::new_ticker(period_ns) as *mut gort_timer)
}

/// Returns the channel on which `t` sends the time (one `int64_t` per
/// fire, the gort_nanotime() of the fire). Borrowed: it lives as long as `t`; do not
/// release or close it (gort_chan_retain() it to keep it past
/// gort_timer_free()). Receive from it with gort_chan_recv(),
/// gort_chan_try_recv() or a gort_select() case.
///
/// # Safety
/// `t` is a live timer (NULL panics).
#[no_mangle]
pub unsafe extern "C" fn gort_timer_chan(t: *mut gort_timer) -> *mut gort_chan {
    let t = inner(t, "gort_timer_chan: nil timer");
    fence(|| t.chan() as *mut gort_chan)
}

/// Stops `t` (Go 1.23's Timer.Stop; on a ticker, Ticker.Stop). Returns
/// true if a send was pending or a value sent was still unreceived (which
/// is dropped), false if the timer had fired and its value was received,
/// or was stopped already; on a running ticker, true. Either way, from
/// then on nothing from before is received on the channel. A
/// goroutine blocked receiving from it stays blocked until a
/// gort_timer_reset().
///
/// # Safety
/// `t` is a live timer (NULL panics).
#[no_mangle]
pub unsafe extern "C" fn gort_timer_stop(t: *mut gort_timer) -> bool {
    let t = inner(t, "gort_timer_stop: nil timer");
    fence(|| t.stop())
}

/// Stops `t` as gort_timer_stop() does and starts it again (Go 1.23's
/// Timer.Reset, Ticker.Reset). Returns what gort_timer_stop() would have:
/// true if a send was pending or a value unreceived. A timer sends once,
/// `ns` from now (at once if `ns <= 0`: the value is then already in the
/// channel). A ticker takes `ns` as its new
/// period and ticks one period from now; `ns <= 0` panics with
/// "non-positive interval for Ticker.Reset", changing nothing. No value
/// from before the reset is received afterwards.
///
/// # Safety
/// `t` is a live timer (NULL panics).
#[no_mangle]
pub unsafe extern "C" fn gort_timer_reset(t: *mut gort_timer, ns: i64) -> bool {
    let t = inner(t, "gort_timer_reset: nil timer");
    fence(|| t.reset(ns))
}

/// Stops `t` and frees it. Its channel goes with it, unless the program
/// holds a reference of its own (gort_chan_retain()). Freeing a timer
/// while goroutines or threads are blocked on its channel, with no such
/// reference, panics with "release of channel with blocked goroutines"
/// and changes nothing. NULL is ignored.
///
/// # Safety
/// `t` is NULL or a live timer, not used again.
#[no_mangle]
pub unsafe extern "C" fn gort_timer_free(t: *mut gort_timer) {
    if t.is_null() {
        return;
    }
    // SAFETY: forwarded contract.
    fence(|| unsafe { timer::free(t as *const Timer) })
}
