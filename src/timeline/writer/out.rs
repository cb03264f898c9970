//! The trace file's text: a buffer written to the file a megabyte at a
//! time ([`Out`]), and the pieces events are made of (literals, numbers,
//! microseconds, escaped text).
//!
//! Everything is appended piece by piece (a literal, a number, an escaped
//! name) by small out-of-line functions rather than a `format!` per event
//! (numbers go through one `write!` each): the writer runs once, and each
//! event written this way costs a few calls of code rather than a
//! formatting template and its arguments.
//!
//! # Invariants
//!
//! - Every event starts with [`Out::begin`]: a comma before it except the
//!   first.
//! - After an error writing the file, nothing more is written to it; the
//!   first error is kept in [`Out::err`].
//! - [`escape`] changes only ASCII bytes, so valid UTF-8 stays valid and
//!   the text between two escapes is copied whole.

use std::fmt::Write as _;

/// Output is written in pieces of about this size.
const OUT_CHUNK: usize = 1 << 20;

/// The trace being written.
pub(super) struct Out {
    buf: String,
    fd: i32,
    /// The first error writing the file (0: none).
    pub err: i32,
    /// No event was written yet.
    first: bool,
}

impl Out {
    pub(super) fn new(fd: i32) -> Out {
        Out {
            buf: String::with_capacity(OUT_CHUNK + 4096),
            fd,
            err: 0,
            first: true,
        }
    }

    /// Writes what is buffered to the file.
    #[inline(never)]
    pub(super) fn flush(&mut self) {
        let mut rest: &[u8] = self.buf.as_bytes();
        while !rest.is_empty() && self.err == 0 {
            // SAFETY: rest is a live slice.
            let n = unsafe { libc::write(self.fd, rest.as_ptr().cast(), rest.len()) };
            if n < 0 {
                let e = crate::os::errno();
                if e != libc::EINTR {
                    self.err = e;
                }
                continue;
            }
            rest = &rest[n as usize..];
        }
        self.buf.clear();
    }

    /// Starts an event: the separating comma, then `{`.
    #[inline(never)]
    pub(super) fn begin(&mut self) {
        if self.buf.len() >= OUT_CHUNK {
            self.flush();
        }
        let sep = if self.first { "\n{" } else { ",\n{" };
        self.first = false;
        self.lit(sep);
    }

    /// Appends `s` as it is.
    pub(super) fn lit(&mut self, s: &str) {
        push(&mut self.buf, s);
    }

    /// Appends `v` in decimal.
    #[inline(never)]
    pub(super) fn uint(&mut self, v: u64) {
        let _ = write!(self.buf, "{v}");
    }

    /// Appends `v` in decimal, with its sign.
    pub(super) fn int(&mut self, v: i64) {
        if v < 0 {
            self.lit("-");
        }
        self.uint(v.unsigned_abs());
    }

    /// Appends `ns` nanoseconds as microseconds with three decimals.
    #[inline(never)]
    pub(super) fn micros(&mut self, ns: i64) {
        if ns < 0 {
            self.lit("-");
        }
        let ns = ns.unsigned_abs();
        let _ = write!(self.buf, "{}.{:03}", ns / 1000, ns % 1000);
    }

    /// Appends `s` escaped for a JSON string.
    pub(super) fn esc(&mut self, s: &str) {
        escape(&mut self.buf, s);
    }
}

/// Appends `s` escaped for a JSON string (without the quotes). Only
/// ASCII is escaped, so the text between two escapes is copied whole (an
/// ASCII byte is never inside a longer UTF-8 character).
#[inline(never)]
pub(super) fn escape(out: &mut String, s: &str) {
    let mut from = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        let e = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0..=0x1f => "",
            _ => continue,
        };
        push(out, s.get(from..i).unwrap_or_default());
        if e.is_empty() {
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            push(out, e);
        }
        from = i + 1;
    }
    push(out, s.get(from..).unwrap_or_default());
}

/// Appends `s` to `out` (one copy of the code for every append).
#[inline(never)]
pub(super) fn push(out: &mut String, s: &str) {
    out.push_str(s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_has_three_decimals() {
        let mut o = Out::new(-1);
        o.micros(12_345_678);
        assert_eq!(o.buf, "12345.678");
        o.buf.clear();
        o.micros(7);
        assert_eq!(o.buf, "0.007");
        o.buf.clear();
        o.micros(-1_002);
        assert_eq!(o.buf, "-1.002");
    }

    #[test]
    fn numbers_are_decimal() {
        let mut o = Out::new(-1);
        o.uint(0);
        o.lit(",");
        o.uint(u64::MAX);
        o.lit(",");
        o.int(-42);
        o.lit(",");
        o.int(i64::MIN);
        assert_eq!(o.buf, "0,18446744073709551615,-42,-9223372036854775808");
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut v = String::new();
        escape(&mut v, "a\"b\\c\n\u{1f}\u{e9}");
        assert_eq!(v, "a\\\"b\\\\c\\u000a\\u001f\u{e9}");
    }
}
