//! Hostile-input properties for what the init parses: the kernel command line
//! (`appliance.policy=`, `appliance.sealed=`) and the services file. A panic in PID 1 panics the
//! kernel, so each parser gets arbitrary bytes and mutated valid inputs, and must accept with the
//! meaning intact or refuse with a message that says what is wrong and what to do.

mod cmdline;
mod services;

use proptest::prelude::*;
use proptest::sample::Index;

/// `default` cases, enough for a few seconds in a debug build, unless `PROPTEST_CASES` says.
fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(cases)
}

/// Bytes that mean something to one of the parsers, or to UTF-8.
const TRICKY: &[u8] = b" \t\n\r\x0b\xa0\"=,/.#-+0123456789\0\xff\xc3";

fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![3 => proptest::sample::select(TRICKY), 1 => any::<u8>()]
}

#[derive(Debug, Clone)]
enum Edit {
    Insert(Index, u8),
    Delete(Index),
    Replace(Index, u8),
    /// Copies a span (up to 16 bytes) to another place: a field or separator twice.
    Repeat(Index, Index, Index),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<Index>(), byte()).prop_map(|(at, b)| Edit::Insert(at, b)),
        any::<Index>().prop_map(Edit::Delete),
        (any::<Index>(), byte()).prop_map(|(at, b)| Edit::Replace(at, b)),
        (any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(from, len, to)| Edit::Repeat(from, len, to)),
    ];
    prop::collection::vec(edit, 1..6)
}

fn mutate(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let len = bytes.len();
        match *edit {
            Edit::Insert(at, b) => bytes.insert(at.index(len + 1), b),
            Edit::Delete(at) if len > 0 => {
                bytes.remove(at.index(len));
            }
            Edit::Replace(at, b) if len > 0 => bytes[at.index(len)] = b,
            Edit::Repeat(from, span, to) if len > 0 => {
                let start = from.index(len);
                let end = start + span.index((len - start).min(16)) + 1;
                let copy = bytes[start..end].to_vec();
                let at = to.index(len + 1);
                bytes.splice(at..at, copy);
            }
            _ => {}
        }
    }
    bytes
}

/// A refusal names what is wrong, then says what to do after `; `, and writes hostile bytes
/// escaped: nothing from the input reaches the console raw.
fn check_refusal(message: &str) -> Result<(), TestCaseError> {
    let parts = message.rsplit_once("; ");
    prop_assert!(
        parts.is_some_and(|(what, fix)| !what.is_empty() && fix.len() > 5),
        "no `what; what to do`: {message}"
    );
    prop_assert!(
        !message.chars().any(char::is_control),
        "a raw control character: {message:?}"
    );
    Ok(())
}
