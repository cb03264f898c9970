//! The symbolizer behind goroutine dumps: code addresses to function
//! names, object offsets and source lines.
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
//!
//! # Invariants
//!
//! - `CACHE` holds each loaded object (path, bias) at most once, and
//!   entries are never removed.

use std::ffi::{c_int, c_void, CStr};

use crate::lock::Mutex;
use object::{Object, ObjectSymbol, SymbolKind};

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
pub(super) struct Frame {
    /// The function's name (GCC fragments mapped to their function).
    pub(super) name: String,
    /// The function's first address.
    pub(super) start: usize,
    /// The object file's path and load bias.
    pub(super) path: String,
    pub(super) bias: usize,
    /// The source file and line, where debug information exists.
    pub(super) line: Option<(String, u32)>,
}

/// The loaded object containing `addr`: (file path, load bias).
pub(super) fn module_of(addr: usize) -> Option<(String, usize)> {
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
pub(super) fn runtime_shared_object() -> Option<String> {
    let (path, _) = module_of(super::dump as fn(bool) -> String as usize)?;
    let exe = std::fs::read_link("/proc/self/exe").ok()?;
    (std::path::Path::new(&path) != exe).then_some(path)
}

/// Whether a frame belongs to the runtime (its Rust code, its assembly
/// trampolines, or a `gort_*` entry point) rather than to the program.
pub(super) fn is_runtime_frame(name: &str) -> bool {
    name.starts_with("_ZN")
        || name.starts_with("_R")
        || name.starts_with("gort_")
        || name.starts_with("__gortrt_")
        || name == STACK_BOTTOM
        || name == "stack_call_trampoline"
}

/// The first frame of every goroutine stack (the entry trampoline): a
/// walk ends there.
pub(super) const STACK_BOTTOM: &str = crate::coro::STACK_BOTTOM;

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
pub(super) fn symbolize(addr: usize) -> Option<Frame> {
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
            assert!(file.ends_with("symbolize.rs") && line > 0, "{file}:{line}");
        }
    }
}
