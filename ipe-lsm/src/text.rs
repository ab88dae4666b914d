//! Byte-level scanning that reproduces upstream's `strsep`/`isspace`/`kstrtou16` use.

use crate::errno::Errno;

/// Splits on each `\n` and each `\r`, like `strsep(&p, "\n\r")`.
///
/// Also counts lines as an editor does (`\r\n` is one break), so errors
/// point where the user looks.
pub(crate) struct Lines<'t> {
    rest: Option<&'t [u8]>,
    line_no: u32,
}

impl<'t> Lines<'t> {
    pub(crate) fn new(text: &'t [u8]) -> Self {
        Lines {
            rest: Some(text),
            line_no: 1,
        }
    }
}

impl<'t> Iterator for Lines<'t> {
    type Item = (u32, &'t [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest?;
        let line_no = self.line_no;
        let Some(at) = rest.iter().position(|&b| b == b'\n' || b == b'\r') else {
            self.rest = None;
            return Some((line_no, rest));
        };
        let (line, tail) = rest.split_at_checked(at)?;
        let (&delimiter, after) = tail.split_first()?;
        if delimiter == b'\n' || after.first() != Some(&b'\n') {
            self.line_no = self.line_no.saturating_add(1);
        }
        self.rest = Some(after);
        Some((line_no, line))
    }
}

/// `remove_comment()` then `remove_trailing_spaces()`.
pub(crate) fn strip_line(line: &[u8]) -> &[u8] {
    let mut line = match line.iter().position(|&b| b == b'#') {
        Some(at) => line.get(..at).unwrap_or(line),
        None => line,
    };
    while let [rest @ .., last] = line {
        if !is_kernel_space(*last) {
            break;
        }
        line = rest;
    }
    line
}

/// The kernel's `isspace()`: `\t \n \v \f \r`, space and Latin-1 NBSP (0xA0).
fn is_kernel_space(byte: u8) -> bool {
    matches!(byte, b'\t'..=b'\r' | b' ' | 0xA0)
}

/// Token separators within a line (`IPE_POLICY_DELIM`); other whitespace is
/// part of a token.
pub(crate) fn is_delimiter(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

/// The non-empty tokens of `line`, in order.
pub(crate) fn tokens(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| is_delimiter(b))
        .filter(|token| !token.is_empty())
}

/// Splits off the last token, which upstream's rule loop leaves for the
/// action: everything after the final delimiter.
pub(crate) fn split_last_token(line: &[u8]) -> (&[u8], &[u8]) {
    match line.iter().rposition(|&b| is_delimiter(b)) {
        Some(at) => {
            let body = line.get(..at).unwrap_or(&[]);
            let last = line.get(at..).and_then(|tail| tail.get(1..));
            (body, last.unwrap_or(&[]))
        }
        None => (&[], line),
    }
}

/// Returns `token` without `prefix` when the rest is non-empty, as a
/// `match_token()` pattern `prefix%s` requires.
pub(crate) fn strip_value<'t>(token: &'t [u8], prefix: &str) -> Option<&'t [u8]> {
    token
        .strip_prefix(prefix.as_bytes())
        .filter(|value| !value.is_empty())
}

/// `kstrtou16(text, 10)`: an optional `+`, decimal digits, nothing after.
///
/// Order matters for the errno: a `u64` overflow while reading digits is
/// `ERANGE` even with junk after them, junk is `EINVAL`, and only then is a
/// value above `u16::MAX` `ERANGE`. (A trailing `\n`, which kstrto* allows,
/// cannot occur inside a policy line.)
pub(crate) fn kstrtou16(text: &[u8]) -> Result<u16, Errno> {
    let text = text.strip_prefix(b"+").unwrap_or(text);
    let digit_count = text.iter().take_while(|b| b.is_ascii_digit()).count();
    let (digits, rest) = text.split_at_checked(digit_count).ok_or(Errno::EINVAL)?;
    let mut value: u64 = 0;
    for &digit in digits {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(digit.wrapping_sub(b'0'))))
            .ok_or(Errno::ERANGE)?;
    }
    if digits.is_empty() || !rest.is_empty() {
        return Err(Errno::EINVAL);
    }
    u16::try_from(value).map_err(|_| Errno::ERANGE)
}
