//! Memcheck client requests, for programs run under valgrind.
//!
//! A client request is a short instruction sequence that does nothing on
//! a real CPU (its rotations add up to a full turn) and that valgrind
//! recognises and answers; its ABI is fixed by valgrind's `valgrind.h`.
//! The runtime registers every goroutine stack as a stack (so that
//! valgrind takes a switch into it for a stack switch), and pooled goroutine stacks are marked inaccessible
//! while they sit in the global pool and undefined again when handed out,
//! so that memcheck's leak scan at exit skips them (it skips inaccessible
//! memory 64 KiB at a time, but reads every word of accessible memory,
//! which for a pool of thousands of mostly untouched stacks takes minutes)
//! and so that a stray access to a pooled stack is reported.
//!
//! Invariants: requests never change the program's state outside
//! valgrind; on architectures without a sequence here they are no-ops.

/// Memcheck's request codes: `('M' << 24) | ('C' << 16)` plus an index.
const MC_BASE: usize = (b'M' as usize) << 24 | (b'C' as usize) << 16;
const MAKE_MEM_NOACCESS: usize = MC_BASE;
const MAKE_MEM_UNDEFINED: usize = MC_BASE + 1;
/// Core requests: a region is a stack (so that a switch into it is a
/// stack switch, not a huge frame), and no longer one.
const STACK_REGISTER: usize = 0x1501;
const STACK_DEREGISTER: usize = 0x1502;
/// Core request: add its argument to the thread's error-reporting
/// disablement count (valgrind.h: VALGRIND_DISABLE/ENABLE_ERROR_REPORTING).
const CHANGE_ERR_DISABLEMENT: usize = 0x1801;

/// Issues a client request; returns `default` when not under valgrind.
#[inline]
fn request(default: usize, args: &[usize; 6]) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let result;
        // SAFETY: valgrind's documented no-op sequence: rdi is rotated by
        // 128 bits in all (back to its value), rax only read, rdx gets the
        // answer; no memory is written outside valgrind.
        unsafe {
            core::arch::asm!(
                "rol rdi, 3",
                "rol rdi, 13",
                "rol rdi, 61",
                "rol rdi, 51",
                "xchg rbx, rbx",
                inout("rdx") default => result,
                in("rax") args.as_ptr(),
                options(nostack),
            );
        }
        result
    }
    #[cfg(target_arch = "aarch64")]
    {
        let result;
        // SAFETY: as above, for aarch64 (x12 rotated back, x4 read, x3
        // gets the answer).
        unsafe {
            core::arch::asm!(
                "ror x12, x12, #3",
                "ror x12, x12, #13",
                "ror x12, x12, #61",
                "ror x12, x12, #51",
                "orr x10, x10, x10",
                inout("x3") default => result,
                in("x4") args.as_ptr(),
                options(nostack),
            );
        }
        result
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = args;
        default
    }
}

/// Marks `[addr, addr + len)` inaccessible for memcheck.
pub(crate) fn make_mem_noaccess(addr: usize, len: usize) {
    request(0, &[MAKE_MEM_NOACCESS, addr, len, 0, 0, 0]);
}

/// Marks `[addr, addr + len)` accessible with undefined contents.
pub(crate) fn make_mem_undefined(addr: usize, len: usize) {
    request(0, &[MAKE_MEM_UNDEFINED, addr, len, 0, 0, 0]);
}

/// Runs `f` with memcheck's error reports off on this thread: for reads
/// that are racy by design and checked afterwards (a dump walking the
/// stack of a goroutine that may be resumed meanwhile reads words the
/// goroutine is rewriting; the walk is thrown away if it raced).
pub(crate) fn unreported<R>(f: impl FnOnce() -> R) -> R {
    request(0, &[CHANGE_ERR_DISABLEMENT, 1, 0, 0, 0, 0]);
    let r = f();
    request(0, &[CHANGE_ERR_DISABLEMENT, usize::MAX, 0, 0, 0, 0]);
    r
}

/// A region registered as a stack while this value lives (valgrind's stack
/// ids are 32-bit: the id costs a goroutine's stack record 4 bytes).
#[derive(Debug)]
pub(crate) struct StackRegistration(u32);

impl StackRegistration {
    /// Registers `[lo, hi)` as a stack.
    pub(crate) fn new(lo: usize, hi: usize) -> StackRegistration {
        StackRegistration(request(0, &[STACK_REGISTER, lo, hi, 0, 0, 0]) as u32)
    }
}

impl Drop for StackRegistration {
    fn drop(&mut self) {
        request(0, &[STACK_DEREGISTER, self.0 as usize, 0, 0, 0, 0]);
    }
}
