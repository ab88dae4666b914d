//! Decisions, as `ipe_evaluate_event()` and `evaluate_property()` in `eval.c`.
//!
//! [`decide`] is the plain linear scan upstream performs; the indexed
//! evaluator in [`crate::IndexedPolicy`] must always agree with it.

use crate::facts::{Config, Facts};
use crate::model::{Action, Op, Policy, Property, Rule};
use crate::storage::Vector;

/// Where a decision came from (`enum ipe_match`), for auditing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The rule at this position in [`Policy::rules`] matched first.
    Rule(usize),
    /// No rule matched; the op's own DEFAULT applied.
    OpDefault,
    /// No rule matched and the op has no DEFAULT (or the op is unknown);
    /// the global DEFAULT applied.
    Global,
}

/// The outcome of one evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Allow or deny.
    pub action: Action,
    /// Which rule or default decided.
    pub source: Source,
}

/// Whether one property holds for `facts`, exactly as upstream.
pub fn property_matches(property: &Property<'_>, facts: &Facts, config: &Config) -> bool {
    match property {
        // Without a file the context is zeroed, so initramfs reads false.
        Property::BootVerified(expected) => (facts.has_file && facts.initramfs) == *expected,
        Property::DmVerityRootHash(digest) => facts
            .root_hash(config)
            .is_some_and(|(alg, bytes)| digest.matches(alg, bytes)),
        Property::DmVeritySignature(expected) => {
            // Compiled out: both TRUE and FALSE are false.
            config.dm_verity_signature
                && (facts.bdev(config) && facts.dm_verity_signed) == *expected
        }
        Property::FsVerityDigest(digest) => facts
            .fs_verity(config)
            .is_some_and(|(alg, bytes)| digest.matches(alg, bytes)),
        Property::FsVeritySignature(expected) => {
            config.fs_verity_builtin_sig
                && (facts.fs_verity(config).is_some() && facts.fs_verity_signed) == *expected
        }
    }
}

/// Whether every property of `rule` holds (an empty rule always matches).
pub(crate) fn rule_matches<'t, R, P>(
    policy: &Policy<'t, R, P>,
    rule: &Rule,
    facts: &Facts,
    config: &Config,
) -> bool
where
    R: Vector<Rule>,
    P: Vector<Property<'t>>,
{
    policy
        .props(rule)
        .iter()
        .all(|property| property_matches(property, facts, config))
}

/// The decision when no rule of `op` matched: the op's DEFAULT, else the
/// global DEFAULT. An unknown op (`None`) goes straight to the global
/// DEFAULT, and upstream allows (with a warning) if there is none.
pub(crate) fn fallback<'t, R, P>(policy: &Policy<'t, R, P>, op: Option<Op>) -> Decision
where
    R: Vector<Rule>,
    P: Vector<Property<'t>>,
{
    match op.and_then(|op| policy.op_default(op)) {
        Some(action) => Decision {
            action,
            source: Source::OpDefault,
        },
        None => Decision {
            action: policy.global_default().unwrap_or(Action::Allow),
            source: Source::Global,
        },
    }
}

/// Upstream's evaluation: the first rule of `op` whose properties all hold,
/// else the defaults. Linear in the number of rules; never allocates.
pub fn decide<'t, R, P>(
    policy: &Policy<'t, R, P>,
    op: Option<Op>,
    facts: &Facts,
    config: &Config,
) -> Decision
where
    R: Vector<Rule>,
    P: Vector<Property<'t>>,
{
    let Some(wanted) = op else {
        return fallback(policy, None);
    };
    policy
        .rules()
        .iter()
        .enumerate()
        .find(|(_, rule)| rule.op == wanted && rule_matches(policy, rule, facts, config))
        .map_or_else(
            || fallback(policy, op),
            |(position, rule)| Decision {
                action: rule.action,
                source: Source::Rule(position),
            },
        )
}
