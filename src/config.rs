//! Environment configuration: `GORT_MAXPROCS`, `GORT_STACK_SIZE`,
//! `GORT_DEBUG`.
//!
//! Read once, when the runtime starts (API.md §8). The rules, the same for
//! every variable:
//!
//! - unset or empty: the default, silently;
//! - a number out of range: clamped the way the matching call clamps it
//!   (`GORT_MAXPROCS=300` is `gort_gomaxprocs(300)`, i.e. 256), with one
//!   line saying so;
//! - anything else that does not parse: the default, with one line.
//!
//! ```text
//! gort: GORT_MAXPROCS="x": not a positive integer; using 2
//! gort: GORT_MAXPROCS="300": out of range; using 256
//! gort: GORT_DEBUG="foo=1": unknown key "foo"; ignored
//! ```
//!
//! `GORT_DEBUG` is a comma-separated list of `key=value` settings (Go's
//! `GODEBUG` shape); each unknown key or bad value gets its own line and
//! is ignored, the other settings still apply. Nothing here is ever fatal.
//!
//! The parsers are pure functions (unit-tested below); only the `env_*`
//! helpers read the environment and write the warnings.

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
    /// `GORT_DEBUG` settings.
    pub debug: DebugFlags,
}

/// `GORT_DEBUG` settings; the default is everything off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DebugFlags {
    /// `schedtrace=MS`: sysmon prints a `SCHED` line every this many
    /// milliseconds; 0 when off.
    pub schedtrace_ms: u64,
    /// `scheddetail=1`: each `SCHED` report also lists every P, M and G
    /// (only with `schedtrace`).
    pub scheddetail: bool,
    /// `sigquit=1`: in library mode too, install the SIGQUIT handler that
    /// dumps every goroutine (program mode installs it anyway). Parsed
    /// here only; the signal code reads it as `sched().debug.sigquit`.
    pub sigquit: bool,
    /// `fdrescueoff=1`: sysmon never rescues a read, write or accept that
    /// parked trusting its descriptor's registration (see
    /// `netpoll::Arm::Trusted`); such a wait on a number the host closed
    /// and got back then waits for good. For tests that check a wait does
    /// not lean on the rescue (Go: `asyncpreemptoff=1` turns off a safety
    /// net the same way).
    pub fdrescueoff: bool,
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
            debug: env_debug("GORT_DEBUG"),
        }
    }
}

/// Why a value was not taken as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bad<T> {
    /// It does not parse: the reason; the default is used.
    Invalid(&'static str),
    /// A number out of range: what it is clamped to.
    Clamped(T),
}

/// The value of environment variable `name`, as text; None when unset or
/// empty (an empty value counts as unset).
fn env_value(name: &str) -> Option<String> {
    let v = std::env::var_os(name)?;
    let v = v.to_string_lossy().into_owned();
    (!v.is_empty()).then_some(v)
}

/// Writes one warning line about `name="value"` on stderr (one write).
fn warn(name: &str, value: &str, what: &str) {
    let line = format!("gort: {name}={value:?}: {what}\n");
    os::write_stderr(line.as_bytes());
}

/// The value of environment variable `name` parsed by `parse`, or
/// `default` when it is unset, empty or bad, or the clamped value when it
/// is out of range (a bad or clamped value is reported in one line on
/// stderr).
fn env_or<T: std::fmt::Display + Copy>(
    name: &str,
    parse: fn(&str) -> Result<T, Bad<T>>,
    default: T,
) -> T {
    let Some(v) = env_value(name) else {
        return default;
    };
    match parse(&v) {
        Ok(x) => x,
        Err(Bad::Clamped(x)) => {
            warn(name, &v, &format!("out of range; using {x}"));
            x
        }
        Err(Bad::Invalid(why)) => {
            warn(name, &v, &format!("{why}; using {default}"));
            default
        }
    }
}

/// Reads `GORT_DEBUG` (see [`parse_debug`]), reporting each bad setting.
fn env_debug(name: &str) -> DebugFlags {
    let Some(v) = env_value(name) else {
        return DebugFlags::default();
    };
    let (flags, problems) = parse_debug(&v);
    for (item, why) in problems {
        warn(name, item, &format!("{why}; ignored"));
    }
    flags
}

/// A decimal number (surrounding blanks allowed): `Ok(n)`, or
/// `Err(true)` for digits too large for a u64 (out of range, not
/// malformed), `Err(false)` for anything else.
fn parse_digits(s: &str) -> Result<u64, bool> {
    let s = s.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(false);
    }
    s.parse().map_err(|_| true)
}

/// Parses `GORT_MAXPROCS`: a positive decimal integer. Above
/// [`MAX_PROCS`] it is clamped, as `gort_gomaxprocs` clamps.
pub(crate) fn parse_maxprocs(s: &str) -> Result<usize, Bad<usize>> {
    const NOT: &str = "not a positive integer";
    match parse_digits(s) {
        Ok(0) | Err(false) => Err(Bad::Invalid(NOT)),
        Ok(n) if n <= MAX_PROCS as u64 => Ok(n as usize),
        Ok(_) | Err(true) => Err(Bad::Clamped(MAX_PROCS)),
    }
}

/// Parses `GORT_STACK_SIZE`: bytes, with an optional suffix `k`, `m` or
/// `g` (powers of 1024, either case). Outside 16 KiB - 256 MiB it is
/// clamped to the nearer end.
pub(crate) fn parse_stack_size(s: &str) -> Result<usize, Bad<usize>> {
    let t = s.trim();
    let (digits, mult) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&t[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    let n = match parse_digits(digits) {
        Ok(n) => n.saturating_mul(mult),
        Err(true) => u64::MAX,
        Err(false) => return Err(Bad::Invalid("not a size in bytes")),
    };
    if n < MIN_STACK_SIZE as u64 {
        Err(Bad::Clamped(MIN_STACK_SIZE))
    } else if n > MAX_STACK_SIZE as u64 {
        Err(Bad::Clamped(MAX_STACK_SIZE))
    } else {
        Ok(n as usize)
    }
}

/// Parses `GORT_DEBUG`: comma-separated `key=value` settings, the last one
/// winning when a key repeats; empty items are skipped. Returns the
/// settings and, for each item that was ignored, the item and why.
///
/// Keys: `schedtrace=MS` (a positive integer), `scheddetail=0|1`,
/// `sigquit=0|1`, `fdrescueoff=0|1`.
pub(crate) fn parse_debug(s: &str) -> (DebugFlags, Vec<(&str, String)>) {
    let mut flags = DebugFlags::default();
    let mut problems = Vec::new();
    for item in s.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let Some((key, value)) = item.split_once('=') else {
            problems.push((item, "not key=value".to_owned()));
            continue;
        };
        let flag = |v: &str| match v.trim() {
            "0" => Ok(false),
            "1" => Ok(true),
            _ => Err("not 0 or 1".to_owned()),
        };
        let result = match key.trim() {
            "schedtrace" => match parse_digits(value) {
                Ok(n) if n > 0 => {
                    flags.schedtrace_ms = n;
                    Ok(())
                }
                _ => Err("not a positive integer".to_owned()),
            },
            "scheddetail" => flag(value).map(|b| flags.scheddetail = b),
            "sigquit" => flag(value).map(|b| flags.sigquit = b),
            "fdrescueoff" => flag(value).map(|b| flags.fdrescueoff = b),
            other => Err(format!("unknown key {other:?}")),
        };
        if let Err(why) = result {
            problems.push((item, why));
        }
    }
    (flags, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maxprocs_values() {
        assert_eq!(parse_maxprocs("4"), Ok(4));
        assert_eq!(parse_maxprocs(" 1 "), Ok(1));
        assert_eq!(parse_maxprocs("256"), Ok(256));
        assert!(matches!(parse_maxprocs("0"), Err(Bad::Invalid(_))));
        assert!(matches!(parse_maxprocs("-3"), Err(Bad::Invalid(_))));
        assert!(matches!(parse_maxprocs("x"), Err(Bad::Invalid(_))));
        assert!(matches!(parse_maxprocs("4x"), Err(Bad::Invalid(_))));
        assert!(matches!(parse_maxprocs(""), Err(Bad::Invalid(_))));
        assert_eq!(parse_maxprocs("257"), Err(Bad::Clamped(256)));
        assert_eq!(parse_maxprocs("300"), Err(Bad::Clamped(256)));
        assert_eq!(
            parse_maxprocs("99999999999999999999999"),
            Err(Bad::Clamped(256))
        );
    }

    #[test]
    fn stack_size_values() {
        assert_eq!(parse_stack_size("65536"), Ok(65536));
        assert_eq!(parse_stack_size("64k"), Ok(65536));
        assert_eq!(parse_stack_size("1M"), Ok(1 << 20));
        assert_eq!(parse_stack_size("16k"), Ok(16384));
        assert_eq!(parse_stack_size("256m"), Ok(256 << 20));
        assert_eq!(parse_stack_size("1024"), Err(Bad::Clamped(16384)));
        assert_eq!(parse_stack_size("1k"), Err(Bad::Clamped(16384)));
        assert_eq!(parse_stack_size("0"), Err(Bad::Clamped(16384)));
        assert_eq!(parse_stack_size("512m"), Err(Bad::Clamped(256 << 20)));
        assert_eq!(parse_stack_size("1g"), Err(Bad::Clamped(256 << 20)));
        assert_eq!(parse_stack_size("1G"), Err(Bad::Clamped(256 << 20)));
        assert_eq!(
            parse_stack_size("99999999999999999999k"),
            Err(Bad::Clamped(256 << 20))
        );
        assert_eq!(
            parse_stack_size("999999999999g"),
            Err(Bad::Clamped(256 << 20))
        );
        assert!(matches!(parse_stack_size("lots"), Err(Bad::Invalid(_))));
        assert!(matches!(parse_stack_size("-5k"), Err(Bad::Invalid(_))));
        assert!(matches!(parse_stack_size("k"), Err(Bad::Invalid(_))));
        assert!(matches!(parse_stack_size("1t"), Err(Bad::Invalid(_))));
    }

    #[test]
    fn debug_settings() {
        let (f, p) = parse_debug("schedtrace=1000");
        assert_eq!(f.schedtrace_ms, 1000);
        assert!(!f.scheddetail && !f.sigquit);
        assert!(p.is_empty());

        let (f, p) = parse_debug("schedtrace=50,scheddetail=1,sigquit=1,fdrescueoff=1");
        assert_eq!(
            f,
            DebugFlags {
                schedtrace_ms: 50,
                scheddetail: true,
                sigquit: true,
                fdrescueoff: true,
            }
        );
        assert!(p.is_empty());

        // Empty items and blanks are fine; the last setting of a key wins.
        let (f, p) = parse_debug(" sigquit=1, ,sigquit=0,");
        assert!(!f.sigquit);
        assert!(p.is_empty());
    }

    #[test]
    fn debug_problems_are_reported_and_skipped() {
        let (f, p) = parse_debug("foo=1,schedtrace=x,scheddetail=2,sigquit,schedtrace=0,sigquit=1");
        assert_eq!(
            f,
            DebugFlags {
                schedtrace_ms: 0,
                scheddetail: false,
                sigquit: true,
                fdrescueoff: false,
            }
        );
        let got: Vec<(&str, &str)> = p.iter().map(|(i, w)| (*i, w.as_str())).collect();
        assert_eq!(
            got,
            [
                ("foo=1", "unknown key \"foo\""),
                ("schedtrace=x", "not a positive integer"),
                ("scheddetail=2", "not 0 or 1"),
                ("sigquit", "not key=value"),
                ("schedtrace=0", "not a positive integer"),
            ]
        );
    }
}
