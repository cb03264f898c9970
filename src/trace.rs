//! Goroutine dumps (`gort_stack`) and the symbolizer behind them.
//!
//! # Format (Go's `runtime.Stack`)
//!
//! ```text
//! goroutine 7 [running]:
//! inner(...)
//!         /path/prog+0x1234
//! worker(...)
//!         /path/prog+0x1290
//! created by spawner
//!         /path/prog+0x1402
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
//! # Symbolizer
//!
//! Names come from the ELF symbol tables (`.symtab`, else `.dynsym`) of the
//! loaded objects, found with `dl_iterate_phdr` and parsed with the
//! `object` crate, so static functions are named in programs built without
//! `-rdynamic` (the symbol table is in the file unless it was stripped).
//! GCC's split fragments (`f.cold`, `f.part.0`, `f.isra.0`,
//! `f.constprop.0`) are shown as `f`. Each object's table is read once and
//! cached. File and line numbers (DWARF) are not read.
//!
//! Rejected: the `backtrace` crate, which also reads DWARF but would more
//! than double the size of `libgort.so`.

use std::ffi::{c_int, c_void, CStr};
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use object::{Object, ObjectSymbol, SymbolKind};
use parking_lot::Mutex;

use crate::sched::{self, status, Goroutine};

/// Most frames printed for the calling goroutine.
const MAX_FRAMES: usize = 64;

/// A function symbol, at run-time addresses.
#[derive(Debug, Clone)]
struct Sym {
    start: usize,
    end: usize,
    name: String,
}

#[derive(Debug)]
struct ModuleSyms {
    path: String,
    bias: usize,
    syms: Vec<Sym>,
}

static CACHE: Mutex<Vec<ModuleSyms>> = Mutex::new(Vec::new());

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

/// Reads the function symbols of the object at `path`, loaded at `bias`.
fn load_syms(path: &str, bias: usize) -> Vec<Sym> {
    let Ok(data) = std::fs::read(path) else {
        return Vec::new();
    };
    let Ok(file) = object::File::parse(&*data) else {
        return Vec::new();
    };
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

/// The path of libgort.so when the runtime lives in a shared object (None
/// when it is linked into the program), so its frames can be recognised
/// even if it was stripped.
fn runtime_shared_object() -> Option<String> {
    let (path, _) = module_of(dump as fn(bool) -> String as usize)?;
    let exe = std::fs::read_link("/proc/self/exe").ok()?;
    (std::path::Path::new(&path) != exe).then_some(path)
}

/// Whether a frame belongs to the runtime (its Rust code, or a `gort_*`
/// entry point) rather than to the program.
fn is_runtime_frame(name: &str) -> bool {
    name.starts_with("_ZN") || name.starts_with("_R") || name.starts_with("gort_")
}

/// `f.cold`, `f.part.0`, `f.isra.0`, `f.constprop.0`, ... -> `f`.
fn base_name(name: &str) -> &str {
    match name.find('.') {
        Some(i) if i > 0 => &name[..i],
        _ => name,
    }
}

/// The function containing `addr`, and the object's path and load bias.
fn symbolize(addr: usize) -> Option<(String, String, usize)> {
    let (path, bias) = module_of(addr)?;
    let mut cache = CACHE.lock();
    let idx = match cache.iter().position(|m| m.path == path && m.bias == bias) {
        Some(i) => i,
        None => {
            let syms = load_syms(&path, bias);
            cache.push(ModuleSyms {
                path: path.clone(),
                bias,
                syms,
            });
            cache.len() - 1
        }
    };
    let m = &cache[idx];
    let i = m.syms.partition_point(|s| s.start <= addr);
    let name = m.syms[..i]
        .iter()
        .rev()
        .take(8)
        .find(|s| addr < s.end)
        .map(|s| s.name.clone());
    name.map(|n| (n, path, bias))
}

/// The name of the function at `addr` (`?` if unknown).
pub fn function_name(addr: usize) -> String {
    symbolize(addr).map_or_else(|| format!("{addr:#x}"), |(n, _, _)| n)
}

/// `name(...)\n\tpath+0xoff\n` for a code address (`?` if unknown).
fn write_frame(out: &mut String, addr: usize, prefix: &str) {
    write_symbolized(out, addr, symbolize(addr), prefix);
}

/// [`write_frame`] for an address already symbolized.
fn write_symbolized(
    out: &mut String,
    addr: usize,
    sym: Option<(String, String, usize)>,
    prefix: &str,
) {
    match sym {
        Some((name, path, bias)) => {
            let _ = writeln!(
                out,
                "{prefix}{name}{}",
                if prefix.is_empty() { "(...)" } else { "" }
            );
            let _ = writeln!(out, "\t{path}+{:#x}", addr - bias);
        }
        None => {
            let _ = writeln!(
                out,
                "{prefix}?{}",
                if prefix.is_empty() { "(...)" } else { "" }
            );
            let _ = writeln!(out, "\t?+{addr:#x}");
        }
    }
}

/// cbindgen:ignore
type UnwindTraceFn = extern "C" fn(ctx: *mut c_void, arg: *mut c_void) -> c_int;

// The unwinder (excluded from the header in cbindgen.toml).
extern "C" {
    fn _Unwind_Backtrace(trace: UnwindTraceFn, arg: *mut c_void) -> c_int;
    fn _Unwind_GetIP(ctx: *mut c_void) -> usize;
}

/// Return addresses of the calling thread's frames, innermost first.
fn unwind_here() -> Vec<usize> {
    extern "C" fn each(ctx: *mut c_void, arg: *mut c_void) -> c_int {
        // SAFETY: arg is the Vec passed below; ctx is the unwinder's.
        let v = unsafe { &mut *(arg as *mut Vec<usize>) };
        // SAFETY: ctx is a live unwind context.
        let ip = unsafe { _Unwind_GetIP(ctx) };
        if ip == 0 || v.len() >= 256 {
            return 5; // _URC_END_OF_STACK
        }
        v.push(ip);
        0 // _URC_NO_REASON
    }
    let mut v: Vec<usize> = Vec::with_capacity(64);
    // SAFETY: the callback only appends to the Vec it is given.
    unsafe { _Unwind_Backtrace(each, &mut v as *mut Vec<usize> as *mut c_void) };
    v
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

/// The calling goroutine's block: its frames from `gort_stack`'s caller
/// down to its entry function.
fn write_current(out: &mut String, g: &Goroutine) {
    let _ = writeln!(out, "goroutine {} [running]:", g.goid());
    let ips = unwind_here();
    let entry = symbolize(g.start_fn.load(Ordering::Relaxed)).map(|(n, _, _)| n);
    // Skip the runtime's own frames (gort_stack, a panic or fatal report):
    // everything up to the first frame that is neither Rust code nor a
    // gort_* entry point.
    let ours = runtime_shared_object();
    let start = ips
        .iter()
        .position(|&ip| {
            let in_lib = ours.is_some() && module_of(ip - 1).map(|(p, _)| p) == ours;
            !in_lib && !symbolize(ip - 1).is_some_and(|(n, _, _)| is_runtime_frame(&n))
        })
        .unwrap_or(0);
    // Then the program's frames, down to the entry function or the next
    // runtime frame below them (gort_call, the goroutine trampoline).
    let mut printed = 0;
    let mut saw_entry = false;
    for &ip in &ips[start..] {
        let sym = symbolize(ip - 1);
        let name = sym.as_ref().map(|(n, _, _)| n.clone());
        if printed > 0 && name.as_deref().is_some_and(is_runtime_frame) {
            break;
        }
        write_symbolized(out, ip - 1, sym, "");
        printed += 1;
        if name.is_some() && name == entry {
            saw_entry = true;
            break;
        }
        if printed >= MAX_FRAMES {
            let _ = writeln!(out, "...additional frames elided...");
            break;
        }
    }
    if !saw_entry {
        // Tail calls (or missing unwind tables) hid the entry function's
        // frame: name it anyway.
        write_frame(out, g.start_fn.load(Ordering::Relaxed), "");
    }
    write_created_by(out, g);
}

fn write_other(out: &mut String, g: &Goroutine) {
    let _ = writeln!(out, "goroutine {} [{}]:", g.goid(), state_of(g));
    let f = g.start_fn.load(Ordering::Relaxed);
    if f != 0 {
        write_frame(out, f, "");
    }
    write_created_by(out, g);
}

/// The dump `gort_stack` writes: the caller's goroutine (if any) first,
/// then, with `all`, every other live goroutine.
pub fn dump(all: bool) -> String {
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
        let gs = sched::all_goroutines()
            .into_iter()
            .chain(crate::foreign::calling_records());
        for gp in gs {
            if gp.as_ptr() == me {
                continue;
            }
            let g = gp.get();
            if is_live(g) {
                if !out.is_empty() {
                    out.push('\n');
                }
                write_other(&mut out, g);
            }
        }
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
        let (name, path, _) = symbolize(addr).expect("symbol found");
        assert!(
            name.contains("symbolizes_a_function_of_this_binary"),
            "{name}"
        );
        assert!(!path.is_empty());
    }
}
