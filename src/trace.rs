//! Goroutine dumps (`gort_stack`) and the symbolizer behind them.
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
//! goroutine 9 [sync.WaitGroup.Wait]:
//! parked_worker(...)
//!         /path/prog+0x11a0
//! created by spawner
//!         /path/prog+0x1402
//! ```
//!
//! One block per goroutine counted by `gort_num_goroutine`, the caller's
//! first. The caller's block lists its own frames (unwound with the
//! platform unwinder, `_Unwind_Backtrace`, from the C code's unwind
//! tables) from the function that called `gort_stack` down to the
//! goroutine's entry function. Other goroutines are not running on this
//! thread, so their block names their entry function and state. Every
//! goroutine made by `gort_go` has its `created by` line.
//!
//! Under each function name: `file:line +0xoff` (offset into the
//! function) where the object has debug information, else
//! `object+0xoff` (offset into the object file, for `addr2line -e`).
//!
//! # Symbolizer
//!
//! Names come from the ELF symbol tables (`.symtab`, else `.dynsym`) of the
//! loaded objects, found with `dl_iterate_phdr` and parsed with the
//! `object` crate, so static functions are named in programs built without
//! `-rdynamic` (the symbol table is in the file unless it was stripped).
//! GCC's split fragments (`f.cold`, `f.part.0`, `f.isra.0`,
//! `f.constprop.0`) are shown as `f`. Files and lines come from the DWARF
//! line tables (`crate::lines`), read from a read-only mapping of the file
//! that is given back once read; compressed debug sections and separate
//! debug files are not read (those frames show the object offset). Each
//! object is read once and cached for the life of the process; nothing is
//! read until the first dump.
//!
//! Rejected: the `backtrace` crate, which wraps the same DWARF reader but
//! brings its own loader and demanglers, doubling the size of
//! `libgort.so`.

use std::ffi::{c_int, c_void, CStr};
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use crate::lock::Mutex;
use object::{Object, ObjectSymbol, SymbolKind};

use crate::sched::{self, status, Goroutine};
use crate::unwind;
use std::ptr;

/// Most frames printed for the calling goroutine.
const MAX_FRAMES: usize = 64;

/// A function symbol, at run-time addresses.
#[derive(Debug, Clone)]
struct Sym {
    start: usize,
    end: usize,
    name: String,
}

/// What is known about one loaded object.
struct Module {
    path: String,
    bias: usize,
    syms: Vec<Sym>,
    /// None when the file has no usable debug information.
    lines: Option<crate::lines::LineTable>,
}

/// Loaded objects seen so far, each read once (what a dump needs is
/// copied out of the file). Entries are never removed.
static CACHE: Mutex<Vec<Module>> = Mutex::new(Vec::new());

/// A code address, symbolized.
#[derive(Debug, Clone)]
struct Frame {
    /// The function's name (GCC fragments mapped to their function).
    name: String,
    /// The function's first address.
    start: usize,
    /// The object file's path and load bias.
    path: String,
    bias: usize,
    /// The source file and line, where debug information exists.
    line: Option<(String, u32)>,
}

/// The loaded object containing `addr`: (file path, load bias).
fn module_of(addr: usize) -> Option<(String, usize)> {
    struct Search {
        addr: usize,
        found: Option<(String, usize)>,
    }
    unsafe extern "C" fn cb(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: dl_iterate_phdr passes a valid info and our data pointer.
        let (info, search) = unsafe { (&*info, &mut *(data as *mut Search)) };
        let bias = info.dlpi_addr as usize;
        for i in 0..info.dlpi_phnum as usize {
            // SAFETY: dlpi_phdr has dlpi_phnum entries.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            if ph.p_type != libc::PT_LOAD {
                continue;
            }
            let lo = bias + ph.p_vaddr as usize;
            let hi = lo + ph.p_memsz as usize;
            if search.addr >= lo && search.addr < hi {
                let name = if info.dlpi_name.is_null() {
                    String::new()
                } else {
                    // SAFETY: dlpi_name is a NUL-terminated string.
                    unsafe { CStr::from_ptr(info.dlpi_name) }
                        .to_string_lossy()
                        .into_owned()
                };
                let path = if name.is_empty() {
                    std::fs::read_link("/proc/self/exe")
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_default()
                } else {
                    name
                };
                search.found = Some((path, bias));
                return 1;
            }
        }
        0
    }
    let mut search = Search { addr, found: None };
    // SAFETY: the callback only reads the info it is given.
    unsafe { libc::dl_iterate_phdr(Some(cb), &mut search as *mut Search as *mut c_void) };
    search.found
}

/// Maps `path` read-only (the caller unmaps it); None if it cannot be
/// read.
fn map_file(path: &str) -> Option<&'static [u8]> {
    let file = std::fs::File::open(path).ok()?;
    let len = usize::try_from(file.metadata().ok()?.len()).ok()?;
    if len == 0 {
        return None;
    }
    use std::os::fd::AsRawFd;
    // SAFETY: a fresh private read-only mapping of an open file; the
    // descriptor may be closed once it exists.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            file.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    // SAFETY: the mapping is `len` readable bytes and is never unmapped
    // while the slice is in use (`load_module` unmaps it once read).
    Some(unsafe { std::slice::from_raw_parts(p as *const u8, len) })
}

/// The function symbols of a parsed object loaded at `bias`.
fn function_syms(file: &object::File<'_>, bias: usize) -> Vec<Sym> {
    let collect = |symbols: &mut dyn Iterator<Item = object::Symbol<'_, '_>>| -> Vec<Sym> {
        symbols
            .filter(|sym| sym.kind() == SymbolKind::Text && sym.address() != 0)
            .filter_map(|sym| {
                let name = sym.name().ok().filter(|n| !n.is_empty())?;
                let start = bias + sym.address() as usize;
                Some(Sym {
                    start,
                    end: start + (sym.size() as usize).max(1),
                    name: base_name(name).to_owned(),
                })
            })
            .collect()
    };
    let mut syms = collect(&mut file.symbols());
    if syms.is_empty() {
        syms = collect(&mut file.dynamic_symbols());
    }
    syms.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
    syms
}

/// Reads the object at `path`, loaded at `bias`: its function symbols
/// and, where it has them, its line tables.
fn load_module(path: &str, bias: usize) -> Module {
    let mut module = Module {
        path: path.to_owned(),
        bias,
        syms: Vec::new(),
        lines: None,
    };
    let Some(data) = map_file(path) else {
        return module;
    };
    if let Ok(file) = object::File::parse(data) {
        module.syms = function_syms(&file, bias);
        module.lines = crate::lines::LineTable::load(&file);
    }
    // Nothing borrows the mapping: give it back.
    // SAFETY: `data` is the whole mapping made by map_file, and the
    // symbols and the line table copied what they need out of it.
    unsafe { libc::munmap(data.as_ptr() as *mut c_void, data.len()) };
    module
}

/// The path of libgort.so when the runtime lives in a shared object (None
/// when it is linked into the program), so its frames can be recognised
/// even if it was stripped.
fn runtime_shared_object() -> Option<String> {
    let (path, _) = module_of(dump as fn(bool) -> String as usize)?;
    let exe = std::fs::read_link("/proc/self/exe").ok()?;
    (std::path::Path::new(&path) != exe).then_some(path)
}

/// Whether a frame belongs to the runtime (its Rust code, its assembly
/// trampolines, or a `gort_*` entry point) rather than to the program.
fn is_runtime_frame(name: &str) -> bool {
    name.starts_with("_ZN")
        || name.starts_with("_R")
        || name.starts_with("gort_")
        || name.starts_with("__gortrt_")
        || name == STACK_BOTTOM
        || name == "stack_call_trampoline"
}

/// The first frame of every goroutine stack (the stack-switching crate's
/// entry trampoline): a walk ends there.
const STACK_BOTTOM: &str = "stack_init_trampoline";

/// `f.cold`, `f.part.0`, `f.isra.0`, `f.constprop.0`, ... -> `f`.
fn base_name(name: &str) -> &str {
    match name.find('.') {
        Some(i) if i > 0 => &name[..i],
        _ => name,
    }
}

/// The symbolizer's cache. While a fatal report is written the wait is
/// short, and on timeout the frame goes unnamed: the reporting thread may
/// itself hold the lock (its allocation failed inside the symbolizer), or
/// another thread that will never release it.
fn lock_cache() -> Option<crate::lock::MutexGuard<'static, Vec<Module>>> {
    if crate::panic::reporting() {
        CACHE.try_lock_for(std::time::Duration::from_millis(100))
    } else {
        Some(CACHE.lock())
    }
}

/// The function containing `addr`, its object, and its source line.
fn symbolize(addr: usize) -> Option<Frame> {
    let (path, bias) = module_of(addr)?;
    let mut cache = lock_cache()?;
    let idx = match cache.iter().position(|m| m.path == path && m.bias == bias) {
        Some(i) => i,
        None => {
            cache.push(load_module(&path, bias));
            cache.len() - 1
        }
    };
    let m = &cache[idx];
    let i = m.syms.partition_point(|s| s.start <= addr);
    let sym = m.syms[..i].iter().rev().take(8).find(|s| addr < s.end)?;
    let line = m.lines.as_ref().and_then(|lines| {
        let (file, line) = lines.find((addr - bias) as u64)?;
        Some((file.to_owned(), line))
    });
    Some(Frame {
        name: sym.name.clone(),
        start: sym.start,
        path,
        bias,
        line,
    })
}

/// The name of the function at `addr` (`?` if unknown).
pub(crate) fn function_name(addr: usize) -> String {
    symbolize(addr).map_or_else(|| format!("{addr:#x}"), |f| f.name)
}

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
        Some(g.stack_hi.get()).filter(|&hi| hi != 0)
    }
}

/// Frames of `g`, which is not running, from where it switched out (None
/// when it has not run yet, or ran again while it was walked).
fn parked_frames(g: &Goroutine) -> Option<Vec<usize>> {
    if g.foreign {
        return None;
    }
    for _ in 0..3 {
        let (regs, hi, seq) = g.ctx.read(&g.status)?;
        let frames = unwind::walk(regs, regs.sp, hi, MAX_WALK);
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
            // SAFETY: both ends lie in loaded segments of one object or
            // adjacent ones, mapped for as long as the code that returns
            // to `ra` can run (objects holding goroutine frames stay
            // loaded).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_map_to_their_function() {
        assert_eq!(base_name("worker.cold"), "worker");
        assert_eq!(base_name("worker.part.0"), "worker");
        assert_eq!(base_name("worker.constprop.0.isra.0"), "worker");
        assert_eq!(base_name("worker"), "worker");
        assert_eq!(base_name(".hidden"), ".hidden");
    }

    #[test]
    fn symbolizes_a_function_of_this_binary() {
        let addr = symbolizes_a_function_of_this_binary as fn() as usize;
        let f = symbolize(addr).expect("symbol found");
        assert!(
            f.name.contains("symbolizes_a_function_of_this_binary"),
            "{}",
            f.name
        );
        assert!(!f.path.is_empty());
        assert_eq!(f.start, addr);
        // Test builds carry debug information: the line tables are read.
        if cfg!(debug_assertions) {
            let (file, line) = f.line.expect("a source line");
            assert!(file.ends_with("trace.rs") && line > 0, "{file}:{line}");
        }
    }
}
