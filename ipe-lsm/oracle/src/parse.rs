//! Parser parity: upstream's `ipe_parse_policy()` versus ipe-lsm on the same
//! bytes, compared by errno or, when both accept, by the canonical form.

use std::fmt;

use crate::run::{Sink, Tally};
use crate::{canonical, generate, upstream};

/// What a parser made of one input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted; the policy in canonical form.
    Accepted(String),
    /// Rejected with this kernel return value (`-errno`).
    Rejected(i32),
}

/// ipe-lsm's verdict.
pub fn ours(text: &[u8]) -> Outcome {
    match ipe_lsm::host::parse_host(text) {
        Ok(policy) => Outcome::Accepted(canonical(&policy)),
        Err(error) => Outcome::Rejected(error.errno().to_kernel()),
    }
}

/// Upstream's verdict, from the kernel's own `policy_parser.c`.
pub fn theirs(text: &[u8]) -> Outcome {
    upstream::parse(text).map_or_else(Outcome::Rejected, Outcome::Accepted)
}

/// Both verdicts, when they differ.
pub fn diverges(text: &[u8]) -> Option<(Outcome, Outcome)> {
    let theirs = theirs(text);
    let mine = ours(text);
    (theirs != mine).then_some((theirs, mine))
}

/// One input on which the parsers disagree.
#[derive(Clone, Debug)]
pub struct Divergence {
    /// Its number in the generated stream.
    pub n: u64,
    pub text: Vec<u8>,
    pub upstream: Outcome,
    pub ours: Outcome,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "input #{} `{}`\n  upstream: {:?}\n  ours:     {:?}",
            self.n,
            self.text.escape_ascii(),
            self.upstream,
            self.ours
        )
    }
}

/// Compares inputs `0..inputs` of the generated stream for `seed`.
pub fn run(seed: u64, inputs: u64, sink: &mut impl Sink<Divergence>) -> Tally {
    let mut tally = Tally::default();
    for n in 0..inputs {
        let text = generate::input(seed, n);
        let upstream = theirs(&text);
        let ours = ours(&text);
        tally.tried += 1;
        if upstream == ours {
            tally.positive += u64::from(matches!(upstream, Outcome::Accepted(_)));
        } else {
            tally.divergences += 1;
            let divergence = Divergence {
                n,
                text,
                upstream,
                ours,
            };
            if sink.divergence(divergence).is_break() {
                break;
            }
        }
        if tally.tried.is_multiple_of(100_000) {
            sink.progress(tally.tried);
        }
    }
    tally
}
