//! The kernel command line, split into parameters the way the kernel's own `next_arg()`
//! (`lib/cmdline.c`) splits it, so the init reads the values the kernel saw: double quotes group
//! words (`dm-mod.create="… …"`), and a word inside another parameter's quoted value is no
//! parameter. Bytes, not text: one stray byte elsewhere on the line must not hide ours.

/// Reads `/proc/cmdline`; empty if it cannot be read (then no `appliance.*` parameter is set).
pub fn read() -> Vec<u8> {
    std::fs::read("/proc/cmdline").unwrap_or_default()
}

/// The value of `name=VALUE`: `None` if the parameter is absent, an error if it is given twice,
/// without a value, or not in UTF-8.
pub fn value<'a>(cmdline: &'a [u8], name: &str) -> Option<Result<&'a str, String>> {
    let mut values = params(cmdline)
        .filter(|(param, _)| *param == name.as_bytes())
        .map(|(_, value)| value);
    let first = values.next()?;
    let others = values.count();
    if others > 0 {
        return Some(Err(format!(
            "{name} is given {} times; expected it once, as the build writes it",
            others + 1
        )));
    }
    let Some(value) = first else {
        return Some(Err(format!("{name} has no value; expected {name}=VALUE")));
    };
    Some(std::str::from_utf8(value).map_err(|_| {
        format!(
            "{name}={:?} is not UTF-8 text; expected the value the build writes",
            String::from_utf8_lossy(value)
        )
    }))
}

/// A parameter's name and its value, if it has `=`.
pub type Param<'a> = (&'a [u8], Option<&'a [u8]>);

/// Each parameter up to `--`, after which the words are the init's arguments.
pub fn params(cmdline: &[u8]) -> impl Iterator<Item = Param<'_>> {
    // The kernel's line is a C string.
    let line = cmdline.split(|&b| b == 0).next().unwrap_or_default();
    let mut rest = skip_spaces(line);
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (param, tail) = next_arg(rest);
        rest = skip_spaces(tail);
        Some(param)
    })
    .take_while(|&(param, value)| !(param == b"--" && value.is_none()))
}

/// `next_arg()`: one parameter and what follows it.
fn next_arg<'a>(args: &'a [u8]) -> (Param<'a>, &'a [u8]) {
    let (args, quoted) = match args.strip_prefix(b"\"") {
        Some(inner) => (inner, true),
        None => (args, false),
    };
    let mut in_quote = quoted;
    // The kernel takes the first `=` past the first byte: one at index 0 leaves `equals` 0.
    let mut equals = None;
    let mut end = args.len();
    for (i, &byte) in args.iter().enumerate() {
        if is_space(byte) && !in_quote {
            end = i;
            break;
        }
        if equals.is_none() && byte == b'=' && i > 0 {
            equals = Some(i);
        }
        if byte == b'"' {
            in_quote = !in_quote;
        }
    }
    let (arg, tail) = args.split_at(end);
    // The kernel ends the word early by overwriting its last byte, a closing quote, with NUL.
    let mut closing_quote = arg.ends_with(b"\"");
    let (mut param, mut value) = match equals {
        None => (arg, None),
        Some(at) => (&arg[..at], Some(&arg[at + 1..])),
    };
    if let Some(inner) = value.and_then(|v| v.strip_prefix(b"\"")) {
        value = Some(match inner.strip_suffix(b"\"") {
            Some(unquoted) if closing_quote => unquoted,
            _ => inner,
        });
        closing_quote = false;
    }
    if quoted && closing_quote {
        let unquote = |s: &'a [u8]| s.strip_suffix(b"\"").unwrap_or(s);
        match value {
            Some(v) => value = Some(unquote(v)),
            None => param = unquote(param),
        }
    }
    // Past the space that ended the word.
    ((param, value), tail.get(1..).unwrap_or_default())
}

/// The kernel's `isspace()`: `\t \n \v \f \r`, space, and 0xa0 (Latin-1's no-break space).
fn is_space(byte: u8) -> bool {
    matches!(byte, b'\t'..=b'\r' | b' ' | 0xa0)
}

fn skip_spaces(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| !is_space(b))
        .unwrap_or(bytes.len());
    &bytes[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each line as the kernel's own `next_arg()` and `parse_args()` split it: their C, compiled
    /// on the host, printed these; `fuzz/next-arg-diff.sh` compares the two on random lines (see
    /// FUZZING.md).
    #[test]
    fn splits_as_the_kernel_does() {
        type Params = &'static [Param<'static>];
        let vectors: &[(&[u8], Params)] = &[
            (
                b"console=ttyS0 appliance.policy=fw,/dev/vda,8192,1500 ro\n",
                &[
                    (b"console", Some(b"ttyS0")),
                    (b"appliance.policy", Some(b"fw,/dev/vda,8192,1500")),
                    (b"ro", None),
                ],
            ),
            (
                b"dm-mod.create=\"rootfs,,,ro,0 8 verity 1\" appliance.sealed=/dev/vdb,/x",
                &[
                    (b"dm-mod.create", Some(b"rootfs,,,ro,0 8 verity 1")),
                    (b"appliance.sealed", Some(b"/dev/vdb,/x")),
                ],
            ),
            (b"a=\"b c\"d e", &[(b"a", Some(b"b c\"d")), (b"e", None)]),
            (b"\"a=b c\" d", &[(b"a", Some(b"b c")), (b"d", None)]),
            (b"\"a b\"", &[(b"a b", None)]),
            (b"a=\"\" b=\"", &[(b"a", Some(b"")), (b"b", Some(b""))]),
            (b"=a=b", &[(b"=a", Some(b"b"))]),
            (b"a= b", &[(b"a", Some(b"")), (b"b", None)]),
            (
                b"x \xa0y\xc3\xa0z",
                &[(b"x", None), (b"y\xc3", None), (b"z", None)],
            ),
            (b"a -- appliance.policy=x", &[(b"a", None)]),
            (b"a=\"b\"c\"", &[(b"a", Some(b"b\"c"))]),
            (b"\"a\"", &[(b"a", None)]),
            (b"a b\0c d", &[(b"a", None), (b"b", None)]),
            (b"a=\t\x0bb", &[(b"a", Some(b"")), (b"b", None)]),
        ];
        for (line, expected) in vectors {
            let params: Vec<_> = params(line).collect();
            assert_eq!(params, *expected, "{:?}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn a_value_is_refused_when_repeated_bare_or_not_utf8() {
        for (line, problem) in [
            (&b"p=1 p=2"[..], "p is given 2 times"),
            (b"p", "p has no value"),
            (b"p=\xff", "is not UTF-8"),
        ] {
            let error = value(line, "p").unwrap().unwrap_err();
            assert!(error.contains(problem), "{error}");
        }
        assert_eq!(value(b"q=1 p=\"a b\"", "p"), Some(Ok("a b")));
        assert_eq!(value(b"q=1", "p"), None);
    }
}
