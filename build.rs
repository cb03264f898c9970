//! Build script: regenerates `include/runtime.h` with cbindgen and sets the
//! shared library's link options.
//!
//! The header is rewritten only when its content changes, so that an
//! unchanged build leaves its timestamp alone and `make check` can compare
//! the committed copy with a fresh one.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let version = env::var("CARGO_PKG_VERSION").unwrap();
    let mut parts = version.split('.');
    let (major, minor, patch) = (
        parts.next().unwrap_or("0").to_owned(),
        parts.next().unwrap_or("0").to_owned(),
        parts
            .next()
            .unwrap_or("0")
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap_or("0")
            .to_owned(),
    );

    // The shared library: a stable soname, and never unloaded (its threads
    // run library code for the life of the process).
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libgort.so.0");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    // Relative relocations packed (DT_RELR): about 20 KB less in the
    // shared library, and fewer pages for the loader to write. Only where
    // the linker and the C library support it (GNU ld 2.38 and glibc 2.36,
    // or lld): the probe links a small shared object the same way.
    if linker_packs_relocations() {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");

    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable");
    config.after_includes = Some(format!(
        r#"
/* The crate version this header was generated from. */
#define GORT_VERSION_MAJOR {major}
#define GORT_VERSION_MINOR {minor}
#define GORT_VERSION_PATCH {patch}
#define GORT_VERSION_STRING "{version}"

/* Marks functions that never return. */
#if defined(__cplusplus)
#define GORT_NORETURN [[noreturn]]
#else
#define GORT_NORETURN _Noreturn
#endif

/* errno belongs to the goroutine, but a goroutine may resume on another
 * thread after any blocking gort call, and compilers may cache errno's
 * address across calls (glibc's __errno_location is const). This errno
 * re-reads the current thread's slot after every call; see
 * gort_errno_location(). Define GORT_NO_ERRNO_MACRO to keep libc's.
 *
 * With GCC and Clang the function is declared weak here, so that a
 * program that includes this header but only dlopen()s libgort (and so
 * never links gort_errno_location) still links: its errno is then libc's.
 * A program linked with libgort gets the goroutine's errno as soon as it
 * calls any gort function (libgort.a is one object: a call to any gort
 * function links them all). */
#if !defined(GORT_NO_ERRNO_MACRO)
#if defined(__GNUC__) || defined(__clang__)
#if defined(__cplusplus)
extern "C" {{
#endif
int *gort_errno_location(void) __attribute__((weak));
#if defined(__cplusplus)
}}
#endif
/* libc's errno, taken before it is redefined below. */
static inline int *gort_libc_errno_location(void) {{ return &errno; }}
#undef errno
#define errno (*(gort_errno_location ? gort_errno_location() : gort_libc_errno_location()))
#else
#undef errno
#define errno (*gort_errno_location())
#endif
#endif

/* Registers fn (a `void fn(void *)`, called with NULL) as an init function
 * from a constructor of the including file: see gort_init_register(). */
#if defined(__GNUC__) || defined(__clang__)
#define GORT_INIT(fn) \
    __attribute__((constructor)) static void gort_init_ctor_##fn(void) {{ \
        (void)gort_init_register(fn, NULL); \
    }}
#endif

/* Static initialisers; all-zero storage is equally valid. */
#define GORT_MUTEX_INIT {{{{0}}}}
#define GORT_WAITGROUP_INIT {{{{0}}}}
#define GORT_ONCE_INIT {{{{0}}}}
#define GORT_RWMUTEX_INIT {{{{0}}}}
#define GORT_COND_INIT {{{{0}}}}
"#
    ));

    let bindings = match cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
    {
        Ok(b) => b,
        Err(e) => panic!("cbindgen failed: {e}"),
    };
    let mut out = Vec::new();
    bindings.write(&mut out);
    let text = fix_noreturn(String::from_utf8(out).expect("header is UTF-8"));

    let path = crate_dir.join("include").join("runtime.h");
    let old = fs::read_to_string(&path).unwrap_or_default();
    if old != text {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).expect("write include/runtime.h");
    }
}

/// Whether the C compiler that links the shared library (cargo's default
/// linker is `cc`) accepts `-z pack-relative-relocs` without a warning:
/// old linkers only warn about an unknown `-z` option, so warnings are
/// fatal in the probe.
fn linker_packs_relocations() -> bool {
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let src = out.join("relr_probe.c");
    let lib = out.join("librelr_probe.so");
    if fs::write(
        &src,
        "int relr_probe_value = 1;\nint *relr_probe = &relr_probe_value;\n",
    )
    .is_err()
    {
        return false;
    }
    let status = std::process::Command::new("cc")
        .args([
            "-shared",
            "-fPIC",
            "-Wl,--fatal-warnings",
            "-Wl,-z,pack-relative-relocs",
            "-o",
        ])
        .arg(&lib)
        .arg(&src)
        .stderr(std::process::Stdio::null())
        .status();
    matches!(status, Ok(s) if s.success())
}

/// cbindgen places the no-return marker after the declaration
/// (`void f(void) GORT_NORETURN;`), where only GNU attributes are allowed.
/// C11 `_Noreturn` and C++ `[[noreturn]]` must come first.
fn fix_noreturn(text: String) -> String {
    text.lines()
        .map(|line| match line.strip_suffix(" GORT_NORETURN;") {
            Some(decl) => format!("GORT_NORETURN {decl};"),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}
