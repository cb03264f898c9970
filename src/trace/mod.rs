//! Goroutine dumps: `gort_stack`, panic and fatal-error reports, the
//! deadlock report, crash reports and SIGQUIT (the symbolizer is in
//! [`symbolize`], the stack walker in `crate::unwind`).
//!
//! # Format (Go's `runtime.Stack`)
//!
//! ```text
//! goroutine 7 [running]:
//! inner(...)
//!         /src/prog.c:42 +0x1d
//! worker(...)
//!         /src/prog.c:57 +0x2b
//! created by spawner
//!         /src/prog.c:80 +0x11
//!
//! goroutine 9 [sync.WaitGroup.Wait, 3 minutes]:
//! gort_wg_wait(...)
//!         /path/libgort.so.0+0x6b110
//! parked_worker(...)
//!         /src/prog.c:31 +0x14
//! created by spawner
//!         /path/prog+0x1402
//! ```
//!
//! One block per goroutine counted by `gort_num_goroutine`, the caller's
//! first. Each lists the goroutine's frames down to its entry function:
//! the caller's walked from the dump's own frame, a parked or runnable
//! goroutine's from the context it saved when it switched out (walked
//! only while the stacks are held mapped, and kept only if the goroutine
//! did not run meanwhile), a faulting goroutine's from the signal's
//! context. The runtime's own frames are skipped; a blocked goroutine's
//! block starts with one line for the gort function it called (found
//! from the program's call instruction when that function left no frame
//! of its own). A goroutine running on another thread has no frames to
//! show. The state is Go's word for what the goroutine waits for, with
//! `, N minutes` and `, locked to thread` where they apply. Every
//! goroutine made by `gort_go` has its `created by` line.
//!
//! Under each function name: `file:line +0xoff` (offset into the
//! function) where the object has debug information, else
//! `object+0xoff` (offset into the object file, for `addr2line -e`).

use std::fmt::Write as _;
use std::ptr;
use std::sync::atomic::Ordering;

use crate::sched::{self, status, Goroutine};
use crate::unwind;

/// Most frames printed for the calling goroutine.
const MAX_FRAMES: usize = 64;

mod symbolize;
pub(crate) use symbolize::function_name;
use symbolize::{
    is_runtime_frame, module_of, runtime_shared_object, symbolize, Frame, STACK_BOTTOM,
};

/// Two lines for a code address, as Go writes them:
/// `name(...)` then `\tfile.c:42 +0x1d` (the offset into the function)
/// where debug information gives the line, else `\tobject+0x1234` (the
/// offset into the object file); `?` for an unknown function.
fn write_frame(out: &mut String, addr: usize, prefix: &str) {
    write_symbolized(out, addr, symbolize(addr).as_ref(), prefix);
}

/// [`write_frame`] for an address already symbolized.
fn write_symbolized(out: &mut String, addr: usize, frame: Option<&Frame>, prefix: &str) {
    let args = if prefix.is_empty() { "(...)" } else { "" };
    let _ = match frame {
        Some(f) => {
            let _ = writeln!(out, "{prefix}{}{args}", f.name);
            match &f.line {
                Some((file, line)) => writeln!(out, "\t{file}:{line} +{:#x}", addr - f.start),
                None => writeln!(out, "\t{}+{:#x}", f.path, addr - f.bias),
            }
        }
        // An object whose symbols could not be read (stripped, or no
        // memory to read them): still its offset, never a bare address.
        None => match module_of(addr) {
            Some((path, bias)) => writeln!(out, "{prefix}?{args}\n\t{path}+{:#x}", addr - bias),
            None => writeln!(out, "{prefix}?{args}\n\t?+{addr:#x}"),
        },
    };
}

fn state_of(g: &Goroutine) -> &'static str {
    match g.status.load(Ordering::Relaxed) {
        status::RUNNING => "running",
        status::RUNNABLE => "runnable",
        status::WAITING => match g.reason() {
            "" => "waiting",
            r => r,
        },
        _ => "dead",
    }
}

fn is_live(g: &Goroutine) -> bool {
    if g.foreign {
        return g.in_call.load(Ordering::Relaxed);
    }
    g.counted.load(Ordering::Relaxed)
        && matches!(
            g.status.load(Ordering::Relaxed),
            status::RUNNING | status::RUNNABLE | status::WAITING
        )
}

fn write_created_by(out: &mut String, g: &Goroutine) {
    let pc = g.creator_pc.load(Ordering::Relaxed);
    if pc != 0 {
        write_frame(out, pc - 1, "created by ");
    }
}

/// Most frames walked on a stack (runtime frames included).
const MAX_WALK: usize = 256;

/// The top of the calling thread's stack for goroutine `g`, the caller.
fn own_stack_top(g: &Goroutine) -> Option<usize> {
    if g.foreign {
        crate::signals::foreign_stack_top()
    } else {
        // The stack bounds are owned by the goroutine's own thread: us.
        Some(g.stack_hi.load(Ordering::Relaxed)).filter(|&hi| hi != 0)
    }
}

/// Frames of `g`, which is not running, from where it switched out (None
/// when it has not run yet, or ran again while it was walked).
fn parked_frames(g: &Goroutine) -> Option<Vec<usize>> {
    if g.foreign {
        return None;
    }
    for _ in 0..3 {
        let (regs, hi, seq) = g.ctx.read(&g.status, &g.stack_hi)?;
        // Racy by design: under valgrind, a walk that raced with a resume
        // reads words being rewritten; `still` throws it away.
        let frames = crate::valgrind::unreported(|| unwind::walk(regs, regs.sp, hi, MAX_WALK));
        if g.ctx.still(seq, &g.status) {
            return Some(frames);
        }
    }
    None
}

/// Whether `addr` is code of the runtime (its Rust code, its assembly,
/// a `gort_*` entry point) rather than of the program.
fn in_runtime(addr: usize, frame: Option<&Frame>) -> bool {
    static LIB: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let lib = LIB.get_or_init(runtime_shared_object);
    if lib.is_some() && module_of(addr).map(|(p, _)| p) == *lib {
        return true;
    }
    frame.is_some_and(|f| is_runtime_frame(&f.name))
}

/// The function a call instruction ending just before return address
/// `ra` calls, where that can be read from the code (x86-64: a direct
/// `call`, through a PLT stub or not, or a call through a GOT slot, as
/// `-fno-plt` emits). Only bytes inside the loaded objects' segments are
/// read.
fn call_target(ra: usize) -> Option<usize> {
    if !cfg!(target_arch = "x86_64") {
        return None;
    }
    let bytes = |at: usize, n: usize| -> Option<&'static [u8]> {
        let end = at.checked_add(n)?;
        (module_of(at).is_some() && module_of(end - 1).is_some()).then(|| {
            // SAFETY: both ends lie in loaded segments, mapped while code
            // that returns to `ra` can run (objects holding goroutine
            // frames stay loaded).
            unsafe { std::slice::from_raw_parts(at as *const u8, n) }
        })
    };
    let rel32 = |b: &[u8]| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as isize;
    let word = |at: usize| -> Option<usize> {
        let b = bytes(at, 8)?;
        Some(usize::from_le_bytes(b.try_into().ok()?))
    };
    // `call *disp32(%rip)`: the target is in the GOT slot.
    if let Some(b) = bytes(ra.checked_sub(6)?, 6) {
        if b[0] == 0xff && b[1] == 0x15 {
            return word(ra.wrapping_add_signed(rel32(&b[2..])));
        }
    }
    // `call rel32`: a function, or a PLT stub that jumps through its GOT
    // slot (`jmp *disp32(%rip)`, after `endbr64` and a `bnd` prefix with
    // IBT).
    let b = bytes(ra.checked_sub(5)?, 5)?;
    if b[0] != 0xe8 {
        return None;
    }
    let target = ra.wrapping_add_signed(rel32(&b[1..]));
    let stub = bytes(target, 11)?;
    let jmp = match stub {
        [0xff, 0x25, ..] => Some(0),
        [0xf3, 0x0f, 0x1e, 0xfa, 0xf2, 0xff, 0x25, ..] => Some(5),
        [0xf3, 0x0f, 0x1e, 0xfa, 0xff, 0x25, ..] => Some(4),
        _ => None,
    };
    match jmp {
        Some(at) => {
            let next = target + at + 6;
            word(next.wrapping_add_signed(rel32(&stub[at + 2..at + 6])))
        }
        None => Some(target),
    }
}

/// Writes a goroutine's frames, innermost first (`frames` as
/// [`unwind::walk`] returns them): the runtime's own frames are skipped,
/// except, with `call`, the last `gort_*` function among them (the
/// blocking operation); then the program's frames down to the entry
/// function `entry` (named even if no frame showed it: a tail call, or a
/// walk cut short), or the next runtime frame below them.
fn write_frames(out: &mut String, frames: &[usize], entry: usize, call: bool) {
    let mut symbolized: Vec<(usize, Option<Frame>)> =
        frames.iter().map(|&a| (a, symbolize(a))).collect();
    if let Some(i) = symbolized
        .iter()
        .position(|(_, f)| f.as_ref().is_some_and(|f| f.name == STACK_BOTTOM))
    {
        symbolized.truncate(i + 1);
    }
    // The program's frames start after the runtime's; the last gort_*
    // function among those is the call the program made.
    let start = symbolized
        .iter()
        .position(|(a, f)| !in_runtime(*a, f.as_ref()))
        .unwrap_or(symbolized.len());
    if call {
        let api = symbolized[..start]
            .iter()
            .rev()
            .find(|(_, f)| f.as_ref().is_some_and(|f| f.name.starts_with("gort_")));
        match api {
            Some((a, f)) => write_symbolized(out, *a, f.as_ref(), ""),
            // The gort function handed on to the runtime with a tail call
            // and left no frame: name it from the program's call.
            None => {
                let called = symbolized.get(start).and_then(|&(a, _)| call_target(a + 1));
                if let Some(target) = called {
                    if let Some(f) = symbolize(target).filter(|f| f.name.starts_with("gort_")) {
                        write_symbolized(out, target, Some(&f), "");
                    }
                }
            }
        }
    }
    let entry_name = symbolize(entry).map(|f| f.name);
    let mut saw_entry = false;
    for (printed, (a, f)) in symbolized[start..].iter().enumerate() {
        if in_runtime(*a, f.as_ref()) {
            break;
        }
        if printed == MAX_FRAMES {
            let _ = writeln!(out, "...additional frames elided...");
            break;
        }
        write_symbolized(out, *a, f.as_ref(), "");
        let name = f.as_ref().map(|f| &f.name);
        if name.is_some() && name == entry_name.as_ref() || *a == entry {
            saw_entry = true;
            break;
        }
    }
    if !saw_entry && entry != 0 {
        write_frame(out, entry, "");
    }
}

/// The calling goroutine's block: its frames from `gort_stack`'s caller
/// (or the code that panicked) down to its entry function.
fn write_current(out: &mut String, g: &Goroutine) {
    let _ = writeln!(out, "goroutine {} [running]:", g.goid());
    let regs = unwind::here();
    let frames = own_stack_top(g)
        .map(|hi| unwind::walk(regs, regs.sp, hi, MAX_WALK))
        .unwrap_or_default();
    write_frames(out, &frames, g.start_fn.load(Ordering::Relaxed), false);
    write_created_by(out, g);
}

/// The state word of a goroutine that is not the caller, as Go writes it.
fn header_of(g: &Goroutine) -> String {
    let mut state = state_of(g).to_owned();
    if g.status.load(Ordering::Relaxed) == status::RUNNING {
        let m = crate::sched::m::all().find(|m| ptr::eq(m.curg.load(Ordering::Relaxed), g));
        if m.is_some_and(|m| m.blocking.load(Ordering::Relaxed) || m.p_unsynced().is_null()) {
            state = "syscall".to_owned();
        }
    }
    let minutes = g.wait_minutes(crate::os::nanotime());
    if minutes >= 1 {
        let _ = write!(state, ", {minutes} minutes");
    }
    // Locked by the program (the main goroutine of gort_main is bound to
    // the main thread without being locked in Go's sense), or a foreign
    // thread's goroutine, which runs on that thread only.
    if g.lock_count.load(Ordering::Relaxed) > 0 || g.foreign {
        state.push_str(", locked to thread");
    }
    format!("goroutine {} [{state}]:", g.goid())
}

/// The block of goroutine `g`, not the caller; its frames are walked only
/// if `walk` (the stacks are held mapped).
fn write_other(out: &mut String, g: &Goroutine, walk: bool) {
    let _ = writeln!(out, "{}", header_of(g));
    let entry = g.start_fn.load(Ordering::Relaxed);
    let frames = if walk { parked_frames(g) } else { None };
    match frames {
        Some(frames) => write_frames(out, &frames, entry, true),
        None if g.status.load(Ordering::Relaxed) == status::RUNNING && !g.foreign => {
            let _ = writeln!(
                out,
                "\tgoroutine running on other thread; stack unavailable"
            );
        }
        None if entry != 0 => write_frame(out, entry, ""),
        None => {}
    }
    write_created_by(out, g);
}

/// Every live goroutine but `me`, each block after a blank line.
fn write_others(out: &mut String, me: *mut Goroutine) {
    // Keeps the walked stacks mapped (see crate::unwind).
    let mapped = crate::stack::hold_mapped();
    for gp in sched::all_records() {
        if gp.as_ptr() == me {
            continue;
        }
        let g = gp.get();
        if is_live(g) {
            if !out.is_empty() {
                out.push('\n');
            }
            write_other(out, g, mapped.is_some());
        }
    }
}

/// The dump `gort_stack` writes: the caller's goroutine (if any) first,
/// then, with `all`, every other live goroutine.
pub(crate) fn dump(all: bool) -> String {
    let mut out = String::new();
    let mut me = sched::current_g();
    if me.is_null() {
        me = crate::foreign::current_call();
    }
    if !me.is_null() {
        // SAFETY: the running goroutine (or our own record) is live.
        write_current(&mut out, unsafe { &*me });
    }
    if all {
        write_others(&mut out, me);
    }
    out
}

/// The dump of a crash report: goroutine `g`, which faulted with
/// registers `regs` on the stack `[lo, hi)` (its frames first), then,
/// with `all`, every other live goroutine.
pub(crate) fn crash_dump(
    g: &Goroutine,
    regs: unwind::Regs,
    lo: usize,
    hi: usize,
    all: bool,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "goroutine {} [running]:", g.goid());
    let frames = unwind::walk(regs, regs.sp.max(lo), hi, MAX_WALK);
    write_frames(&mut out, &frames, g.start_fn.load(Ordering::Relaxed), false);
    write_created_by(&mut out, g);
    if all {
        write_others(&mut out, g as *const Goroutine as *mut Goroutine);
    }
    out
}
