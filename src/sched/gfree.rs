//! Goroutine records: allocation, reuse and the stacks attached to them
//! (Go: `gfget`, `gfput`, `goexit0`).
//!
//! Records are never freed: a finished goroutine's record goes to its P's
//! free list (spilling to a global one), and `allgs` lists every record
//! for dumps. New records are carved from slabs of [`SLAB`] records, so a
//! record costs its own size and no allocator header (the budget of a
//! parked goroutine is one stack page and its record). A stack is attached when the goroutine first runs
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
        // No free record anywhere: make half a cache of them under one
        // lock round, as the refill above takes half a cache at once.
        let mut all = sched().allgs.lock();
        for _ in 1..p::GFREE_LOCAL / 2 {
            local.push(all.new_record());
        }
        return all.new_record();
    } else if let Some(g) = sched().gfree_global.lock().pop() {
        return g;
    }
    sched().allgs.lock().new_record()
}

/// Records per slab.
const SLAB: usize = 64;

/// Every goroutine record, and the slab new ones come from.
pub(crate) struct AllGs {
    list: Vec<GRef>,
    /// The next unused record of the current slab, and how many are left.
    next: *mut Goroutine,
    left: usize,
}

// SAFETY: the slab pointer is only used under the `allgs` lock.
unsafe impl Send for AllGs {}

impl AllGs {
    pub(super) const fn new() -> AllGs {
        AllGs {
            list: Vec::new(),
            next: ptr::null_mut(),
            left: 0,
        }
    }

    /// A fresh record, listed.
    fn new_record(&mut self) -> GRef {
        if self.left == 0 {
            let layout = std::alloc::Layout::array::<Goroutine>(SLAB).expect("slab layout");
            // SAFETY: the layout is not empty.
            let p = unsafe { std::alloc::alloc(layout) } as *mut Goroutine;
            if p.is_null() {
                crate::panic::out_of_memory(layout.size(), "goroutine records");
            }
            (self.next, self.left) = (p, SLAB);
        }
        let g = self.next;
        // SAFETY: `g` is an unused slot of the current slab (never freed:
        // records live for the process), written before it is shared.
        let gp = unsafe {
            g.write(Goroutine::new(false));
            self.next = g.add(1);
            GRef(ptr::NonNull::new_unchecked(g))
        };
        self.left -= 1;
        self.list.push(gp);
        gp
    }
}

/// Every goroutine record ever allocated (records are recycled, never
/// freed), for dumps.
pub(crate) fn all_goroutines() -> Vec<GRef> {
    sched().allgs.lock().list.clone()
}

/// Stamps every waiting goroutine's park with `now` the first time it is
/// seen (see `Goroutine::census`), under the list's lock, without a copy.
pub(crate) fn wait_census(now: i64) {
    for gp in sched().allgs.lock().list.iter() {
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
    // Goroutine::stack_lo relies on it.
    debug_assert_eq!(stack.high() - stack.low(), size + stack::GUARD_SIZE);
    g.stack_hi.store(stack.high(), Ordering::Relaxed);
    g::Coro::new(stack, gp)
}

/// A goroutine's whole life on its stack (called by `crate::coro` on
/// the first switch into it): runs the entry function with its deferred
/// calls, then ends the goroutine.
///
/// # Safety
/// `gp` is the goroutine that owns the calling stack, on its first run.
pub(crate) unsafe fn goroutine_body(gp: GRef) -> ! {
    let g = gp.get();
    let start = g.start_fn.load(Ordering::Relaxed);
    // SAFETY: spawn stored a GoFunc as start_fn, and nothing changes it
    // before the first run (which this is).
    let entry = (start != 0).then(|| unsafe { std::mem::transmute::<usize, GoFunc>(start) });
    let arg = g.arg.get();
    // SAFETY: gort_go checked the function pointer; calling it with its
    // argument is the contract of gort_go. The entry frame's deferred
    // calls run after it.
    unsafe { crate::panic::run_entry(entry, arg) };
    // SAFETY: on this goroutine; nothing on its stack needs dropping (the
    // entry frame has returned).
    unsafe { super::goexit() }
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
    g.arg.set(ptr::null_mut());
    g.is_main.set(false);
    // SAFETY: the goroutine is finished; its state is ours to reset.
    unsafe { (*g.panic.get()).reset() };
    g.stack_hi.store(0, Ordering::Relaxed);
    let counted = g.take_counted();
    match p {
        Some(p) => {
            if counted {
                bump(&p.counters.exited);
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
