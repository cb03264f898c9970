//! The stack-overflow report.
//!
//! A fault counts as a stack overflow when the faulting thread is a
//! runtime thread running a goroutine and either the fault address lies in
//! that goroutine's guard region, or the stack pointer is below the usable
//! stack but above `limit - 1 MiB` (a frame larger than the guard that
//! jumped over it). On a foreign thread inside `gort_call` the same holds
//! for the thread's stack: the fault address or the stack pointer lies
//! below its lowest usable address, by at most 1 MiB (the guard glibc
//! leaves below a thread's stack, or the gap the kernel keeps below the
//! main thread's).

use super::foreign::find_slot;
use super::*;

/// How far below the guard a stack pointer still counts as an overflow.
const FAR_BELOW: usize = 1 << 20;

pub(super) struct Overflow {
    g: &'static Goroutine,
    size: usize,
    sp: usize,
    lo: usize,
    hi: usize,
    /// A gort_call goroutine on a foreign thread's own stack.
    foreign: bool,
}

pub(super) fn overflow(addr: usize, sp: usize) -> Option<Overflow> {
    // SAFETY: pthread_self reads the thread pointer; async-signal-safe.
    let me = unsafe { libc::pthread_self() } as u64;
    let Some(m) = machine::find_by_thread(me) else {
        return foreign_overflow(me, addr, sp);
    };
    // SAFETY: curg is the goroutine this very thread was running when it
    // faulted; its fields are owned by this thread, and goroutine records
    // are never freed.
    let g = unsafe { m.curg.load(Ordering::Relaxed).as_ref() }?;
    let lo = g.stack_lo();
    let hi = g.stack_hi.load(Ordering::Relaxed);
    if lo == 0 {
        return None;
    }
    let usable_lo = lo + GUARD_SIZE;
    let in_guard = crate::stack::guard_contains(lo, addr);
    let sp_below = sp < usable_lo && sp + FAR_BELOW > lo;
    if !in_guard && !sp_below {
        return None;
    }
    Some(Overflow {
        g,
        size: hi - usable_lo,
        sp,
        lo: usable_lo,
        hi,
        foreign: false,
    })
}

/// [`overflow`] on a thread that is not a runtime thread: an overflow only
/// while the thread is inside gort_call, of the stack learned at attach.
fn foreign_overflow(me: u64, addr: usize, sp: usize) -> Option<Overflow> {
    let slot = find_slot(me)?;
    // SAFETY: the slot's record is this very thread's attach record, freed
    // only by this thread after clearing the slot.
    let g = unsafe { slot.record.load(Ordering::Acquire).as_ref() }?;
    if !g.in_call.load(Ordering::Relaxed) {
        return None;
    }
    let lo = slot.lo.load(Ordering::Relaxed);
    let hi = slot.hi.load(Ordering::Relaxed);
    let above = slot.above.load(Ordering::Relaxed);
    if lo == 0 {
        return None;
    }
    let near = |a: usize| a < lo + above && a >= lo.saturating_sub(FAR_BELOW);
    if !near(addr) && !near(sp) {
        return None;
    }
    Some(Overflow {
        g,
        size: hi - lo,
        sp,
        lo,
        hi,
        foreign: true,
    })
}

impl Overflow {
    /// Go's report, with the goroutine's frames where they can be had (the
    /// walk reads only the usable stack; the report allocates, and if
    /// another report is under way only its first lines are written).
    pub(super) fn print_and_exit(&self, regs: crate::unwind::Regs) -> ! {
        let mut w = crate::os::FixedBuf::new();
        w.s("fatal error: stack overflow\n\nruntime: goroutine ");
        w.dec(self.g.goid() as u64);
        w.s(" stack exceeds ");
        w.dec(self.size as u64);
        w.s("-byte limit\nruntime: sp=");
        w.hex(self.sp as u64);
        w.s(" stack=[");
        w.hex(self.lo as u64);
        w.s(", ");
        w.hex(self.hi as u64);
        w.s("]\n\n");
        crate::os::write_stderr(w.bytes());
        if crate::panic::begin_report() {
            let dump = crate::trace::crash_dump(self.g, regs, self.lo, self.hi, false);
            crate::os::write_stderr(dump.as_bytes());
        }
        crate::os::write_stderr(if self.foreign {
            b"(gort_call runs on the calling thread's own stack: give that thread a larger one)\n"
        } else {
            b"(set GORT_STACK_SIZE for larger goroutine stacks)\n"
        });
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(2) }
    }
}
