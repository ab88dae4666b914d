//! Digest index: O(log n) decisions for policies with many digest rules.
//!
//! Each rule gets one index entry. A rule with a digest property is keyed by
//! its first digest: it can only match a file whose digest of that kind
//! equals the key. Other rules are "unkeyed" and always candidates. A
//! decision binary-searches the unkeyed run of the op and the two runs
//! keyed by the file's digests, then evaluates their rules in policy order,
//! so the first match is exactly the one the linear scan finds.

use core::cmp::Ordering;

use crate::digest::Digest;
use crate::eval::{self, Decision, Source};
use crate::facts::{Config, Facts};
use crate::model::{Op, Policy, Property, Rule};
use crate::storage::{OutOfMemory, Vector};

/// Which digest a rule is keyed by. The order groups entries in the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Unkeyed,
    FsVerity,
    DmVerity,
}

/// One rule's place in the index (storage item for [`IndexedPolicy`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    op: Op,
    key: Key,
    /// Position of the key's digest property in the property store.
    prop: usize,
    /// Position of the rule in [`Policy::rules`].
    rule: usize,
}

/// A policy together with its digest index.
#[derive(Debug)]
pub struct IndexedPolicy<'t, R, P, E> {
    policy: Policy<'t, R, P>,
    entries: E,
}

impl<'t, R, P, E> IndexedPolicy<'t, R, P, E>
where
    R: Vector<Rule>,
    P: Vector<Property<'t>>,
    E: Vector<IndexEntry>,
{
    /// Indexes `policy` into the empty store `entries`: one entry per rule,
    /// then an in-place sort (no further allocation).
    pub fn new(policy: Policy<'t, R, P>, mut entries: E) -> Result<Self, OutOfMemory> {
        for (rule_position, rule) in policy.rules().iter().enumerate() {
            let keyed = policy
                .props(rule)
                .iter()
                .enumerate()
                .find_map(|(offset, property)| Some((offset, key_of(property)?)));
            let (prop, key) = match keyed {
                Some((offset, key)) => (rule.props_start.saturating_add(offset), key),
                None => (0, Key::Unkeyed),
            };
            entries.try_push(IndexEntry {
                op: rule.op,
                key,
                prop,
                rule: rule_position,
            })?;
        }
        let props = policy.props.as_slice();
        entries
            .as_mut_slice()
            .sort_unstable_by(|a, b| order(props, a, b));
        Ok(IndexedPolicy { policy, entries })
    }

    /// The indexed policy.
    pub fn policy(&self) -> &Policy<'t, R, P> {
        &self.policy
    }

    /// The same decision as [`eval::decide`], in O(log n) plus the rules
    /// that can possibly match. Never allocates.
    pub fn decide(&self, op: Option<Op>, facts: &Facts, config: &Config) -> Decision {
        let Some(op) = op else {
            return eval::fallback(&self.policy, None);
        };
        let entries = self.entries.as_slice();
        let props = self.policy.props.as_slice();
        let run = |key: Key, fact: Option<(&[u8], &[u8])>| {
            equal_range(entries, |entry| probe(props, entry, op, key, fact))
        };
        let mut runs = [
            run(Key::Unkeyed, None),
            facts
                .fs_verity(config)
                .map_or(&[][..], |fact| run(Key::FsVerity, Some(fact))),
            facts
                .root_hash(config)
                .map_or(&[][..], |fact| run(Key::DmVerity, Some(fact))),
        ];
        while let Some(position) = pop_lowest(&mut runs) {
            let Some(rule) = self.policy.rules().get(position) else {
                continue;
            };
            if eval::rule_matches(&self.policy, rule, facts, config) {
                return Decision {
                    action: rule.action,
                    source: Source::Rule(position),
                };
            }
        }
        eval::fallback(&self.policy, Some(op))
    }
}

fn key_of(property: &Property<'_>) -> Option<Key> {
    match property {
        Property::FsVerityDigest(_) => Some(Key::FsVerity),
        Property::DmVerityRootHash(_) => Some(Key::DmVerity),
        _ => None,
    }
}

fn digest_at<'t>(props: &[Property<'t>], entry: &IndexEntry) -> Option<Digest<'t>> {
    match (entry.key, props.get(entry.prop)?) {
        (Key::Unkeyed, _) => None,
        (_, Property::FsVerityDigest(digest) | Property::DmVerityRootHash(digest)) => Some(*digest),
        _ => None,
    }
}

/// Index order: op, key kind, key digest, then policy order.
fn order(props: &[Property<'_>], a: &IndexEntry, b: &IndexEntry) -> Ordering {
    (a.op, a.key)
        .cmp(&(b.op, b.key))
        .then_with(|| match (digest_at(props, a), digest_at(props, b)) {
            (Some(x), Some(y)) => x.cmp_digest(&y),
            _ => Ordering::Equal,
        })
        .then(a.rule.cmp(&b.rule))
}

/// Orders `entry` relative to the target group `(op, key)` and, for keyed
/// groups, the file's digest `fact`.
fn probe(
    props: &[Property<'_>],
    entry: &IndexEntry,
    op: Op,
    key: Key,
    fact: Option<(&[u8], &[u8])>,
) -> Ordering {
    (entry.op, entry.key)
        .cmp(&(op, key))
        .then_with(|| match (digest_at(props, entry), fact) {
            (Some(digest), Some((alg, bytes))) => digest.cmp_with(alg, bytes),
            _ => Ordering::Equal,
        })
}

/// The entries comparing equal under `probe` (which orders an entry
/// relative to the target).
fn equal_range(entries: &[IndexEntry], probe: impl Fn(&IndexEntry) -> Ordering) -> &[IndexEntry] {
    let start = entries.partition_point(|e| probe(e) == Ordering::Less);
    let end = entries.partition_point(|e| probe(e) != Ordering::Greater);
    entries.get(start..end).unwrap_or(&[])
}

/// Takes the lowest rule position off the front of the runs (each sorted).
fn pop_lowest(runs: &mut [&[IndexEntry]; 3]) -> Option<usize> {
    let run = runs
        .iter_mut()
        .filter(|run| !run.is_empty())
        .min_by_key(|run| run.first().map(|entry| entry.rule))?;
    let (first, rest) = run.split_first()?;
    *run = rest;
    Some(first.rule)
}
