//! Environment configuration: `GORT_MAXPROCS`, `GORT_STACK_SIZE`.
//!
//! Read once, when the runtime starts. A value that does not parse or is out
//! of range is reported on stderr in one line and the default is used, as
//! API.md §8 requires:
//!
//! ```text
//! gort: GORT_MAXPROCS="x": not a positive integer; using 2
//! ```

use crate::os;

/// Upper bound on GOMAXPROCS: the processor table has this many slots.
pub(crate) const MAX_PROCS: usize = 256;

/// Default goroutine stack size (bytes, usable, without the guard region).
pub(crate) const DEFAULT_STACK_SIZE: usize = 256 * 1024;
/// Smallest accepted `GORT_STACK_SIZE`.
pub(crate) const MIN_STACK_SIZE: usize = 16 * 1024;
/// Largest accepted `GORT_STACK_SIZE`.
pub(crate) const MAX_STACK_SIZE: usize = 256 * 1024 * 1024;

/// The runtime's start-up settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    /// Initial GOMAXPROCS.
    pub maxprocs: usize,
    /// Usable bytes of each goroutine stack (a multiple of the page size).
    pub stack_size: usize,
}

impl Config {
    /// Reads the environment, warning about bad values.
    pub(crate) fn from_env() -> Config {
        let ncpu = os::ncpu().clamp(1, MAX_PROCS);
        let maxprocs = env_or("GORT_MAXPROCS", parse_maxprocs, ncpu);
        let stack_size = env_or("GORT_STACK_SIZE", parse_stack_size, DEFAULT_STACK_SIZE);
        let page = os::page_size();
        Config {
            maxprocs,
            stack_size: stack_size.div_ceil(page) * page,
        }
    }
}

/// The value of environment variable `name` parsed by `parse`, or
/// `default` when it is unset or bad (a bad value is reported in one line
/// on stderr).
fn env_or<T: std::fmt::Display + Copy>(
    name: &str,
    parse: fn(&str) -> Result<T, &'static str>,
    default: T,
) -> T {
    let Some(v) = std::env::var_os(name) else {
        return default;
    };
    let v = v.to_string_lossy();
    parse(&v).unwrap_or_else(|why| {
        let line = format!("gort: {name}={v:?}: {why}; using {default}\n");
        os::write_stderr(line.as_bytes());
        default
    })
}

/// Parses `GORT_MAXPROCS`: a positive decimal integer, at most
/// [`MAX_PROCS`].
pub(crate) fn parse_maxprocs(s: &str) -> Result<usize, &'static str> {
    let n: u64 = s.trim().parse().map_err(|_| "not a positive integer")?;
    if n == 0 {
        return Err("not a positive integer");
    }
    if n > MAX_PROCS as u64 {
        return Err("larger than 256");
    }
    Ok(n as usize)
}

/// Parses `GORT_STACK_SIZE`: bytes, between 16 KiB and 256 MiB.
/// Suffixes `k`, `m` (powers of 1024) are accepted.
pub(crate) fn parse_stack_size(s: &str) -> Result<usize, &'static str> {
    let t = s.trim();
    let (digits, mult) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1024u64),
        Some((i, 'm' | 'M')) => (&t[..i], 1024 * 1024),
        _ => (t, 1),
    };
    let n: u64 = digits.parse().map_err(|_| "not a size in bytes")?;
    let n = n
        .checked_mul(mult)
        .ok_or("not between 16384 and 268435456")?;
    if n < MIN_STACK_SIZE as u64 || n > MAX_STACK_SIZE as u64 {
        return Err("not between 16384 and 268435456");
    }
    Ok(n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maxprocs_values() {
        assert_eq!(parse_maxprocs("4"), Ok(4));
        assert_eq!(parse_maxprocs(" 1 "), Ok(1));
        assert!(parse_maxprocs("0").is_err());
        assert!(parse_maxprocs("-3").is_err());
        assert!(parse_maxprocs("x").is_err());
        assert!(parse_maxprocs("").is_err());
        assert!(parse_maxprocs("100000").is_err());
    }

    #[test]
    fn stack_size_values() {
        assert_eq!(parse_stack_size("65536"), Ok(65536));
        assert_eq!(parse_stack_size("64k"), Ok(65536));
        assert_eq!(parse_stack_size("1M"), Ok(1 << 20));
        assert!(parse_stack_size("1024").is_err());
        assert!(parse_stack_size("512m").is_err());
        assert!(parse_stack_size("lots").is_err());
        assert!(parse_stack_size("99999999999999999999k").is_err());
    }
}
