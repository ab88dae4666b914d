//! Decision parity: upstream's `ipe_evaluate_event()` versus ipe-lsm's
//! linear `decide` and `IndexedPolicy::decide`, on random policies and
//! random events, with the matched rule compared as well as the action.

use std::fmt;

use ipe_lsm::host::{HostIndexedPolicy, HostPolicy, parse_indexed};
use ipe_lsm::{Action, Decision, Source, decide};

use crate::generate::Rng;
use crate::run::{Sink, Tally};
use crate::scenario::{self, Event};
use crate::upstream::{self, Matched, Verdict};

/// Events tried against each generated policy.
pub const EVENTS_PER_POLICY: u64 = 32;

/// `-EACCES`, what an enforcing hook returns on DENY.
const EACCES: i32 = -13;

/// ipe-lsm's decision in upstream's terms: the rule named by its op and
/// position within that op's rules, and the hook's return value.
pub fn verdict(policy: &HostPolicy<'_>, decision: Decision) -> Verdict {
    let matched = match decision.source {
        Source::Rule(position) => {
            let rules = policy.rules();
            let op = rules.get(position).map(|rule| rule.op());
            Matched::Rule {
                op: op.map_or(u8::MAX, |op| op as u8),
                index: rules
                    .iter()
                    .take(position)
                    .filter(|rule| Some(rule.op()) == op)
                    .count(),
            }
        }
        Source::OpDefault => Matched::OpDefault,
        Source::Global => Matched::Global,
    };
    let deny = decision.action == Action::Deny;
    Verdict {
        rc: if deny { EACCES } else { 0 },
        deny,
        matched,
    }
}

/// A policy parsed by both sides.
pub struct Pair<'t> {
    pub upstream: upstream::Policy,
    pub ours: HostIndexedPolicy<'t>,
}

impl<'t> Pair<'t> {
    /// Both parses, or `Err` with both results when either side rejects.
    pub fn new(text: &'t [u8]) -> Result<Self, String> {
        match (upstream::Policy::new(text), parse_indexed(text)) {
            (Ok(upstream), Ok(ours)) => Ok(Pair { upstream, ours }),
            (theirs, mine) => Err(format!(
                "upstream parse {:?}, ours {:?}",
                theirs.err(),
                mine.err()
            )),
        }
    }

    /// Upstream's, the linear scan's and the index's verdicts on `event`.
    pub fn verdicts(&self, event: &Event) -> [Verdict; 3] {
        let Event { op, facts, config } = event;
        let policy = self.ours.policy();
        [
            self.upstream.decide(*op, facts, config),
            verdict(policy, decide(policy, *op, facts, config)),
            verdict(policy, self.ours.decide(*op, facts, config)),
        ]
    }
}

/// One event on which the evaluators disagree (or a policy only one side
/// parses).
#[derive(Clone, Debug)]
pub struct Divergence {
    pub policy: String,
    pub event: Option<Event>,
    pub what: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "policy:\n{}", self.policy.trim_end())?;
        if let Some(event) = &self.event {
            writeln!(
                f,
                "op {:?}, config {:?}\nfacts {:?}",
                event.op, event.config, event.facts
            )?;
        }
        write!(f, "{}", self.what)
    }
}

/// Compares `cases` events (`EVENTS_PER_POLICY` per generated policy).
pub fn run(seed: u64, cases: u64, sink: &mut impl Sink<Divergence>) -> Tally {
    let mut tally = Tally::default();
    let mut n = 0_u64;
    while tally.tried < cases {
        let mut rng = Rng::new(seed ^ n.wrapping_mul(0xE703_7ED1_A0B4_28DB));
        n += 1;
        let text = scenario::policy(&mut rng);
        let pair = match Pair::new(text.as_bytes()) {
            Ok(pair) => pair,
            Err(what) => {
                // Counted as a case so a broken generator cannot spin forever.
                tally.tried += 1;
                tally.divergences += 1;
                let divergence = Divergence {
                    policy: text,
                    event: None,
                    what,
                };
                if sink.divergence(divergence).is_break() {
                    break;
                }
                continue;
            }
        };
        for _ in 0..EVENTS_PER_POLICY.min(cases - tally.tried) {
            let event = scenario::event(&mut rng);
            let [theirs, linear, indexed] = pair.verdicts(&event);
            tally.tried += 1;
            if theirs == linear && theirs == indexed {
                tally.positive += u64::from(matches!(theirs.matched, Matched::Rule { .. }));
                continue;
            }
            tally.divergences += 1;
            let divergence = Divergence {
                policy: text.clone(),
                event: Some(event),
                what: format!(
                    "  upstream: {theirs:?}\n  linear:   {linear:?}\n  indexed:  {indexed:?}"
                ),
            };
            if sink.divergence(divergence).is_break() {
                return tally;
            }
        }
        if n.is_multiple_of(1_000) {
            sink.progress(tally.tried);
        }
    }
    tally
}
