//! The library constructor: the runtime starts when the library is loaded.
//!
//! With a static link, a dynamic link or `dlopen`, the ELF loader runs
//! the functions in `.init_array` before the program's `main` (or before
//! `dlopen` returns). Ours builds the scheduler (reads the environment,
//! creates the processors) and installs the panic hook; threads are started
//! on demand, so loading the library costs microseconds.
//!
//! Constructors of different objects run in an unspecified order, so every
//! entry point also starts the runtime on first use (`sched::sched`); the
//! constructor only makes sure it happens early.

#[cfg_attr(test, allow(dead_code))]
extern "C" fn gort_library_init() {
    crate::panic::install_rust_panic_hook();
    let _ = crate::sched::sched();
}

#[cfg(not(test))]
#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = gort_library_init;
