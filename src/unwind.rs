//! Stack walking for goroutine dumps: the frames of a goroutine that is
//! not running (parked or runnable, from the context it saved when it
//! switched out), of the calling goroutine (`gort_stack`, panic reports),
//! and of a goroutine that faulted (from the signal's context).
//!
//! # How
//!
//! C compiled without frame pointers is the common case, so frames are
//! walked with the DWARF call-frame information every object carries for
//! exceptions (`.eh_frame`), read in place from memory: gimli parses the
//! tables and computes the unwind row for a code address (its frame's
//! canonical frame address and where the caller's return address and
//! frame pointer were saved); this module applies rows to three registers
//! (pc, sp, rbp), which is all x86-64 code needs to find its callers. A
//! code address without call-frame information (hand-written assembly,
//! generated code) falls back to the frame-pointer chain.
//!
//! Each loaded object (`dl_iterate_phdr`) is found once: its executable
//! segments, and its `.eh_frame_hdr` lookup table (`PT_GNU_EH_FRAME`), or,
//! in a program linked with `cc -static` (which has none), an index of the
//! `.eh_frame` entries built from the file's section headers. The table
//! is refreshed when an address falls in no known object (a `dlopen`).
//!
//! Rejected: libgcc's `_Unwind_Backtrace`, which walks only the calling
//! thread from the current point and aborts in static programs; the
//! `framehop` crate, which wraps the same gimli tables in its own caches
//! and formats for other platforms (the size of `libgort.so` counts).
//!
//! # Safety of the reads
//!
//! Every read of stack memory is bounds-checked against the stack being
//! walked (`[lo, hi)`), so a wrong rule or a torn value stops the walk
//! instead of reading elsewhere. A goroutine that is not running may start
//! running while its stack is walked; its memory stays mapped (stacks are
//! unmapped only under [`crate::stack`]'s unmap gate, which the dump holds
//! exclusively while it walks) and the saved context's sequence number
//! tells the dump to discard a walk that raced with a resume (see
//! `sched::SavedContext`).
//!
//! # Invariants
//!
//! - A walk visits at most `max` frames and the stack pointer strictly
//!   grows from frame to frame, so it always ends.
//! - Objects are never removed from the table: the runtime's objects are
//!   never unloaded (`-z nodelete`), and an object a host unloads is only
//!   ever looked up by an address that no longer occurs in any stack.

use std::ffi::{c_int, c_void};

use crate::lock::Mutex;
use gimli::{BaseAddresses, EhFrame, EhFrameHdr, NativeEndian, UnwindSection};

/// The registers a walk tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Regs {
    /// The code address (exact for the first frame, a return address for
    /// the others).
    pub pc: usize,
    /// The stack pointer.
    pub sp: usize,
    /// The frame pointer (rbp), which C code may use as any register.
    pub bp: usize,
}

type Slice = gimli::EndianSlice<'static, NativeEndian>;

/// One loaded object's code ranges and unwind tables.
struct Object {
    /// Executable segments, run-time addresses `[start, end)`.
    text: Vec<(usize, usize)>,
    /// `.eh_frame` in memory, from its start to the end of its segment.
    eh_frame: &'static [u8],
    /// `.eh_frame_hdr` in memory, if the object has one.
    hdr: Option<&'static [u8]>,
    /// Without `.eh_frame_hdr`: (first address, entry offset) of every
    /// FDE, sorted by address.
    index: Vec<(usize, usize)>,
    bases: BaseAddresses,
}

impl Object {
    fn contains(&self, addr: usize) -> bool {
        self.text.iter().any(|&(s, e)| s <= addr && addr < e)
    }

    fn section(&self) -> EhFrame<Slice> {
        let mut s = EhFrame::new(self.eh_frame, NativeEndian);
        s.set_address_size(std::mem::size_of::<usize>() as u8);
        s
    }

    /// The frame description entry covering `addr`.
    fn fde(&self, addr: usize) -> Option<gimli::FrameDescriptionEntry<Slice>> {
        let section = self.section();
        if let Some(hdr) = self.hdr {
            let parsed = EhFrameHdr::new(hdr, NativeEndian)
                .parse(&self.bases, std::mem::size_of::<usize>() as u8)
                .ok()?;
            return parsed
                .table()?
                .fde_for_address(&section, &self.bases, addr as u64, EhFrame::cie_from_offset)
                .ok();
        }
        let i = self.index.partition_point(|&(start, _)| start <= addr);
        let &(_, offset) = self.index[..i].last()?;
        let fde = section
            .fde_from_offset(
                &self.bases,
                gimli::EhFrameOffset(offset),
                EhFrame::cie_from_offset,
            )
            .ok()?;
        fde.contains(addr as u64).then_some(fde)
    }
}

/// The objects seen so far (module docs).
static OBJECTS: Mutex<Vec<Object>> = Mutex::new(Vec::new());

/// The objects table; a fatal report waits only briefly (the reporting
/// thread may hold the lock itself).
fn lock_objects() -> Option<crate::lock::MutexGuard<'static, Vec<Object>>> {
    if crate::fatal::reporting() {
        OBJECTS.try_lock_for(std::time::Duration::from_millis(100))
    } else {
        Some(OBJECTS.lock())
    }
}

/// A slice of `len` bytes of this process's memory at `addr`.
///
/// # Safety
/// The range must be mapped and readable for the life of the process.
unsafe fn memory(addr: usize, len: usize) -> &'static [u8] {
    // SAFETY: per the contract.
    unsafe { std::slice::from_raw_parts(addr as *const u8, len) }
}

/// Reads every loaded object's segments (the objects already known are
/// kept; new ones are added).
fn scan_objects(objects: &mut Vec<Object>) {
    struct Found {
        text: Vec<(usize, usize)>,
        /// (address, size) of PT_GNU_EH_FRAME.
        hdr: Option<(usize, usize)>,
        /// Readable segments, for the end of `.eh_frame`.
        segments: Vec<(usize, usize)>,
        name: String,
        bias: usize,
    }
    unsafe extern "C" fn each(info: *mut libc::dl_phdr_info, _: usize, data: *mut c_void) -> c_int {
        // SAFETY: dl_iterate_phdr passes a valid info and our data pointer.
        let (info, found) = unsafe { (&*info, &mut *(data as *mut Vec<Found>)) };
        let bias = info.dlpi_addr as usize;
        let mut f = Found {
            text: Vec::new(),
            hdr: None,
            segments: Vec::new(),
            name: String::new(),
            bias,
        };
        for i in 0..info.dlpi_phnum as usize {
            // SAFETY: dlpi_phdr has dlpi_phnum entries.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            let start = bias + ph.p_vaddr as usize;
            let end = start + ph.p_memsz as usize;
            match ph.p_type {
                libc::PT_LOAD => {
                    if ph.p_flags & libc::PF_X != 0 {
                        f.text.push((start, end));
                    }
                    if ph.p_flags & libc::PF_R != 0 {
                        f.segments.push((start, end));
                    }
                }
                libc::PT_GNU_EH_FRAME => f.hdr = Some((start, ph.p_memsz as usize)),
                _ => {}
            }
        }
        if !info.dlpi_name.is_null() {
            // SAFETY: a NUL-terminated name owned by the loader.
            let name = unsafe { std::ffi::CStr::from_ptr(info.dlpi_name) };
            f.name = name.to_string_lossy().into_owned();
        }
        if !f.text.is_empty() {
            found.push(f);
        }
        0
    }
    let mut found: Vec<Found> = Vec::new();
    // SAFETY: the callback only reads the loader's records and appends to
    // the Vec it is given.
    unsafe { libc::dl_iterate_phdr(Some(each), &mut found as *mut Vec<Found> as *mut c_void) };
    for f in found {
        if objects.iter().any(|o| o.text.first() == f.text.first()) {
            continue;
        }
        let segment_end = |addr: usize| {
            f.segments
                .iter()
                .find(|&&(s, e)| s <= addr && addr < e)
                .map(|&(_, e)| e)
        };
        let object = match f.hdr {
            Some((addr, size)) => with_hdr(addr, size, &segment_end, f.text.clone()),
            None => without_hdr(&f.name, f.bias, &segment_end, f.text.clone()),
        };
        if let Some(o) = object {
            objects.push(o);
        }
    }
}

/// An object whose `.eh_frame_hdr` is mapped at `addr`.
fn with_hdr(
    addr: usize,
    size: usize,
    segment_end: &dyn Fn(usize) -> Option<usize>,
    text: Vec<(usize, usize)>,
) -> Option<Object> {
    // SAFETY: PT_GNU_EH_FRAME lies in a loaded, read-only segment that
    // stays mapped while the object is loaded (module invariants).
    let hdr = unsafe { memory(addr, size) };
    let bases = BaseAddresses::default().set_eh_frame_hdr(addr as u64);
    let parsed = EhFrameHdr::new(hdr, NativeEndian)
        .parse(&bases, std::mem::size_of::<usize>() as u8)
        .ok()?;
    let gimli::Pointer::Direct(eh) = parsed.eh_frame_ptr() else {
        return None;
    };
    let eh = eh as usize;
    let end = segment_end(eh)?;
    Some(Object {
        text,
        // SAFETY: from `.eh_frame`'s start to the end of its loaded
        // segment: mapped for as long as the object is.
        eh_frame: unsafe { memory(eh, end - eh) },
        hdr: Some(hdr),
        index: Vec::new(),
        bases: bases.set_eh_frame(eh as u64),
    })
}

/// An object without `.eh_frame_hdr` (a `cc -static` program): its
/// `.eh_frame` is found through the file's section headers and indexed.
fn without_hdr(
    name: &str,
    bias: usize,
    segment_end: &dyn Fn(usize) -> Option<usize>,
    text: Vec<(usize, usize)>,
) -> Option<Object> {
    use object::{Object as _, ObjectSection as _};
    let path = if name.is_empty() {
        "/proc/self/exe"
    } else {
        name
    };
    let bytes = std::fs::read(path).ok()?;
    let file = object::File::parse(&*bytes).ok()?;
    let section = file.section_by_name(".eh_frame")?;
    let eh = bias + section.address() as usize;
    let end = segment_end(eh)?.min(eh + section.size() as usize);
    // SAFETY: `.eh_frame` is allocated in a loaded segment (checked just
    // above), mapped for as long as the object is.
    let eh_frame = unsafe { memory(eh, end - eh) };
    let bases = BaseAddresses::default().set_eh_frame(eh as u64);
    let mut object = Object {
        text,
        eh_frame,
        hdr: None,
        index: Vec::new(),
        bases,
    };
    let section = object.section();
    let mut entries = section.entries(&object.bases);
    while let Ok(Some(entry)) = entries.next() {
        if let gimli::CieOrFde::Fde(partial) = entry {
            if let Ok(fde) = partial.parse(EhFrame::cie_from_offset) {
                object
                    .index
                    .push((fde.initial_address() as usize, fde.offset()));
            }
        }
    }
    object.index.sort_unstable();
    Some(object)
}

/// Walks a stack from `regs`, reading only `[lo, hi)`: the code address
/// of each frame, innermost first (the first exactly `regs.pc`, the others
/// a return address minus one: an address inside the call), at most
/// `max`.
pub(crate) fn walk(regs: Regs, lo: usize, hi: usize, max: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(16);
    if regs.pc == 0 || max == 0 {
        return out;
    }
    let Some(mut objects) = lock_objects() else {
        out.push(regs.pc);
        return out;
    };
    let read = |addr: usize| -> Option<usize> {
        if addr < lo || addr.checked_add(std::mem::size_of::<usize>())? > hi {
            return None;
        }
        if addr % std::mem::align_of::<usize>() != 0 {
            return None;
        }
        // SAFETY: an aligned word inside the stack being walked, which
        // stays mapped during the walk (module docs).
        let word = unsafe { std::ptr::read_volatile(addr as *const usize) };
        Some(word)
    };
    let mut ctx = Box::new(gimli::UnwindContext::<usize>::new());
    let mut regs = regs;
    let mut rescanned = false;
    while out.len() < max {
        let addr = if out.is_empty() { regs.pc } else { regs.pc - 1 };
        out.push(addr);
        let mut found = objects.iter().position(|o| o.contains(addr));
        if found.is_none() && !rescanned {
            rescanned = true;
            scan_objects(&mut objects);
            found = objects.iter().position(|o| o.contains(addr));
        }
        let next = match found {
            Some(i) => match step(&objects[i], &mut ctx, addr, regs, &read) {
                Step::Next(r) => Some(r),
                Step::End => None,
                Step::NoInfo => frame_pointer_step(regs, &read),
            },
            None => frame_pointer_step(regs, &read),
        };
        match next {
            Some(n) if n.sp > regs.sp && n.pc > 1 && n.sp <= hi => regs = n,
            _ => break,
        }
    }
    out
}

enum Step {
    Next(Regs),
    /// The outermost frame (its return address is undefined).
    End,
    /// No call-frame information covers the address.
    NoInfo,
}

#[cfg(target_arch = "x86_64")]
mod reg {
    use gimli::{Register, X86_64};
    pub(super) const SP: Register = X86_64::RSP;
    pub(super) const FP: Register = X86_64::RBP;
    pub(super) const RA: Register = X86_64::RA;
}
#[cfg(target_arch = "aarch64")]
mod reg {
    use gimli::{AArch64, Register};
    pub(super) const SP: Register = AArch64::SP;
    pub(super) const FP: Register = AArch64::X29;
    pub(super) const RA: Register = AArch64::X30;
}

/// One frame up with the call-frame information of `object`.
fn step(
    object: &Object,
    ctx: &mut gimli::UnwindContext<usize>,
    addr: usize,
    regs: Regs,
    read: &dyn Fn(usize) -> Option<usize>,
) -> Step {
    let Some(fde) = object.fde(addr) else {
        return Step::NoInfo;
    };
    let section = object.section();
    let Ok(row) = fde.unwind_info_for_address(&section, &object.bases, ctx, addr as u64) else {
        return Step::NoInfo;
    };
    let value_of = |r: gimli::Register| match r {
        reg::SP => Some(regs.sp),
        reg::FP => Some(regs.bp),
        _ => None,
    };
    let cfa = match row.cfa() {
        gimli::CfaRule::RegisterAndOffset { register, offset } => match value_of(*register) {
            Some(v) => v.wrapping_add(*offset as usize),
            None => return Step::NoInfo,
        },
        gimli::CfaRule::Expression(e) => match expression(object, e, &value_of, read) {
            Some(v) => v,
            None => return Step::NoInfo,
        },
    };
    let saved = |rule: gimli::RegisterRule<usize>, same: usize| -> Option<usize> {
        match rule {
            gimli::RegisterRule::Undefined | gimli::RegisterRule::SameValue => Some(same),
            gimli::RegisterRule::Offset(n) => read(cfa.wrapping_add(n as usize)),
            gimli::RegisterRule::ValOffset(n) => Some(cfa.wrapping_add(n as usize)),
            gimli::RegisterRule::Register(r) => value_of(r),
            gimli::RegisterRule::Expression(e) => read(expression(object, &e, &value_of, read)?),
            _ => None,
        }
    };
    let pc = match row.register(reg::RA) {
        gimli::RegisterRule::Undefined => return Step::End,
        rule => match saved(rule, 0) {
            Some(pc) => pc,
            None => return Step::End,
        },
    };
    // A frame pointer that cannot be read back (a rule pointing below the
    // stack pointer, left over after an epilogue) keeps its value: only
    // the frame-pointer fallback and expression rules use it.
    let bp = saved(row.register(reg::FP), regs.bp).unwrap_or(regs.bp);
    Step::Next(Regs { pc, sp: cfa, bp })
}

/// Evaluates the one shape of DWARF expression compilers emit for frames
/// that realign the stack (GCC's `main`, functions with over-aligned
/// locals): `DW_OP_bregN offset`, optionally followed by `DW_OP_deref`.
fn expression(
    object: &Object,
    e: &gimli::UnwindExpression<usize>,
    value_of: &dyn Fn(gimli::Register) -> Option<usize>,
    read: &dyn Fn(usize) -> Option<usize>,
) -> Option<usize> {
    const DW_OP_BREG0: u8 = 0x70;
    const DW_OP_BREG31: u8 = 0x8f;
    const DW_OP_DEREF: u8 = 0x06;
    let bytes = object
        .eh_frame
        .get(e.offset..e.offset.checked_add(e.length)?)?;
    let (&op, rest) = bytes.split_first()?;
    if !(DW_OP_BREG0..=DW_OP_BREG31).contains(&op) {
        return None;
    }
    let mut r = gimli::EndianSlice::new(rest, NativeEndian);
    let offset = gimli::Reader::read_sleb128(&mut r).ok()?;
    let base = value_of(gimli::Register(u16::from(op - DW_OP_BREG0)))?;
    let addr = base.wrapping_add(offset as usize);
    match r.slice() {
        [] => Some(addr),
        [DW_OP_DEREF] => read(addr),
        _ => None,
    }
}

/// One frame up through the frame-pointer chain (code without call-frame
/// information): only when the frame pointer points into the stack.
fn frame_pointer_step(regs: Regs, read: &dyn Fn(usize) -> Option<usize>) -> Option<Regs> {
    let word = std::mem::size_of::<usize>();
    if regs.bp < regs.sp {
        return None;
    }
    let pc = read(regs.bp + word)?;
    let bp = read(regs.bp)?;
    Some(Regs {
        pc,
        sp: regs.bp + 2 * word,
        bp,
    })
}

/// The caller's registers at this point: the frame of the function that
/// calls `here` (inlined into it).
#[inline(always)]
pub(crate) fn here() -> Regs {
    #[cfg(target_arch = "x86_64")]
    {
        let (pc, sp, bp): (usize, usize, usize);
        // SAFETY: reads three registers into outputs; touches no memory.
        unsafe {
            std::arch::asm!(
                "lea {pc}, [rip]",
                "mov {sp}, rsp",
                "mov {bp}, rbp",
                pc = out(reg) pc,
                sp = out(reg) sp,
                bp = out(reg) bp,
                options(nomem, nostack, preserves_flags),
            )
        };
        Regs { pc, sp, bp }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Regs {
            pc: 0,
            sp: 0,
            bp: 0,
        }
    }
}

/// The registers of a signal's interrupted context.
///
/// # Safety
/// `ctx` is the ucontext the kernel passed to a signal handler.
pub(crate) unsafe fn from_signal(ctx: *mut c_void) -> Regs {
    let uc = ctx as *const libc::ucontext_t;
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: per the contract.
        let g = unsafe { &(*uc).uc_mcontext.gregs };
        Regs {
            pc: g[libc::REG_RIP as usize] as usize,
            sp: g[libc::REG_RSP as usize] as usize,
            bp: g[libc::REG_RBP as usize] as usize,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = uc;
        Regs {
            pc: 0,
            sp: 0,
            bp: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn walk_from_here(depth: u32, out: &mut Vec<usize>) {
        if depth > 0 {
            walk_from_here(depth - 1, out);
            std::hint::black_box(&out);
            return;
        }
        let regs = here();
        let hi = regs.sp + (1 << 20);
        // The test thread's stack is far larger than the few frames read.
        *out = walk(regs, regs.sp, hi, 16);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn walks_through_its_callers() {
        let mut frames = Vec::new();
        walk_from_here(3, &mut frames);
        let f = walk_from_here as fn(u32, &mut Vec<usize>) as usize;
        // The innermost frame and the three recursive calls all lie in
        // walk_from_here (the function is a few hundred bytes long).
        let inside = frames
            .iter()
            .take(4)
            .filter(|&&pc| pc >= f && pc < f + 4096)
            .count();
        assert_eq!(inside, 4, "{frames:x?} (function at {f:#x})");
        assert!(frames.len() > 4, "{frames:x?}");
    }
}
