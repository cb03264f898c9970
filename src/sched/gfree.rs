//! Goroutine records: allocation, reuse and the stacks attached to them
//! (Go: `gfget`, `gfput`, `goexit0`).
//!
//! Records are never freed: a finished goroutine's record goes to its P's
//! free list (spilling to a global one), and `allgs` lists every record
//! for dumps. A stack is attached when the goroutine first runs
//! (`new_coro`) and returned to the stack cache when it ends.
//!
//! # Invariants
//!
//! - A record on a free list has status IDLE and no coroutine.

use super::*;

pub(super) fn gfget(pp: *const Processor) -> GRef {
    if !pp.is_null() {
        // SAFETY: this M holds pp.
        let local = unsafe { (*pp).gfree() };
        if let Some(g) = local.pop() {
            return g;
        }
        let mut global = sched().gfree_global.lock();
        let n = global.len().min(p::GFREE_LOCAL / 2);
        let at = global.len() - n;
        local.extend(global.drain(at..));
        drop(global);
        if let Some(g) = local.pop() {
            return g;
        }
    } else if let Some(g) = sched().gfree_global.lock().pop() {
        return g;
    }
    let g = Box::leak(Box::new(Goroutine::new(false)));
    let gp = GRef(ptr::NonNull::from(g));
    sched().allgs.lock().push(gp);
    gp
}

/// Every goroutine record ever allocated (records are recycled, never
/// freed), for dumps.
pub(crate) fn all_goroutines() -> Vec<GRef> {
    sched().allgs.lock().clone()
}

/// Stamps every waiting goroutine's park with `now` the first time it is
/// seen (see `Goroutine::census`), under the list's lock, without a copy.
pub(crate) fn wait_census(now: i64) {
    for gp in sched().allgs.lock().iter() {
        gp.get().census(now);
    }
}

/// Every goroutine record a report lists: [`all_goroutines`] (live and
/// recycled) followed by the records of foreign threads inside
/// gort_call, which are goroutines while the call lasts. The one walk
/// over all goroutines for dumps and schedtrace.
pub(crate) fn all_records() -> Vec<GRef> {
    let mut v = all_goroutines();
    v.extend(crate::foreign::calling_records());
    v
}

pub(super) fn gfput(p: &Processor, gp: GRef) {
    gp.get().status.store(status::IDLE, Ordering::Relaxed);
    // SAFETY: this M holds p.
    let local = unsafe { p.gfree() };
    local.push(gp);
    if local.len() > p::GFREE_LOCAL {
        let mut global = sched().gfree_global.lock();
        global.extend(local.drain(..p::GFREE_LOCAL / 2));
    }
}

pub(super) fn new_coro(m: &Machine, gp: GRef, size: usize) -> g::Coro {
    // SAFETY: m holds its P while executing, inside the runtime.
    let cache = unsafe { (*m.p()).stacks() };
    let Some(stack) = stack::alloc(cache, size) else {
        crate::panic::out_of_memory(size + stack::GUARD_SIZE, "goroutine stack");
    };
    let g = gp.get();
    g.stack_lo.set(stack.low());
    g.stack_hi.store(stack.high(), Ordering::Relaxed);
    let start = g.start_fn.load(Ordering::Relaxed);
    // SAFETY: spawn stored a GoFunc as start_fn, and nothing changes it
    // before the first run (which this is).
    let entry = (start != 0).then(|| unsafe { std::mem::transmute::<usize, GoFunc>(start) });
    let arg = g.arg.get();
    Coroutine::with_stack(stack, move |y: &GYielder, ()| {
        // SAFETY: gp is live and owned by the M running it.
        unsafe { (*gp.as_ptr()).yielder.set(y) };
        // SAFETY: gort_go checked the function pointer; calling it with
        // its argument is the contract of gort_go. The entry frame's
        // deferred calls run after it.
        unsafe { crate::panic::run_entry(entry, arg) };
    })
}

/// Recycles a finished goroutine (Go: `goexit0` + `gfput`), into `p`'s
/// caches, or the global pools when the M has no P.
pub(super) fn gdestroy(p: Option<&Processor>, gp: GRef) {
    let s = sched();
    let g = gp.get();
    g.status.store(status::DEAD, Ordering::Relaxed);
    // SAFETY: the goroutine is finished and owned by this M.
    let coro = unsafe { &mut *g.coro.get() }.take();
    if let Some(c) = coro {
        match p {
            // SAFETY: this M holds p.
            Some(p) => stack::free(unsafe { p.stacks() }, c.into_stack()),
            None => stack::free_global(c.into_stack()),
        }
    }
    g.yielder.set(ptr::null());
    g.arg.set(ptr::null_mut());
    g.is_main.set(false);
    // SAFETY: the goroutine is finished; its state is ours to reset.
    unsafe { (*g.panic.get()).reset() };
    g.stack_lo.set(0);
    g.stack_hi.store(0, Ordering::Relaxed);
    let counted = g.counted.swap(false, Ordering::Relaxed);
    match p {
        Some(p) => {
            if counted {
                bump(&s.counters[p.id].exited);
            }
            gfput(p, gp);
        }
        None => {
            if counted {
                s.global.exited.fetch_add(1, Ordering::Relaxed);
            }
            g.status.store(status::IDLE, Ordering::Relaxed);
            s.gfree_global.lock().push(gp);
        }
    }
}
