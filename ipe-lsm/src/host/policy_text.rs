//! Writing policies: a version read from configuration, and a policy assembled rule by rule,
//! renamed or extended, then rendered as the text the kernel parses.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use super::{Diagnostic, check};
use crate::model::{Action, Version};

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.revision)
    }
}

/// Why a version string is not `MAJOR.MINOR.REVISION`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadVersion(pub String);

impl fmt::Display for BadVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "version \"{}\" must be MAJOR.MINOR.REVISION, each a decimal number 0..=65535",
            self.0
        )
    }
}

impl core::error::Error for BadVersion {}

impl FromStr for Version {
    type Err = BadVersion;

    /// Strict decimal parts: what a configuration file should say. (The kernel is laxer, as
    /// `kstrtou16` is; every version this accepts, the kernel reads the same.)
    fn from_str(text: &str) -> Result<Version, BadVersion> {
        let bad = || BadVersion(text.to_string());
        let mut parts = text.split('.').map(|part| {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse::<u16>().map_err(|_| bad())
        });
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(major), Some(minor), Some(revision), None) => Ok(Version {
                major: major?,
                minor: minor?,
                revision: revision?,
            }),
            _ => Err(bad()),
        }
    }
}

impl Version {
    /// The next revision, or `None` at the top of the range.
    pub fn next_revision(self) -> Option<Version> {
        Some(Version {
            revision: self.revision.checked_add(1)?,
            ..self
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Line {
    Comment(String),
    Rule(String),
}

/// A policy being written: its header and default, then rules and comments in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyText {
    name: String,
    version: Version,
    default: Action,
    lines: Vec<Line>,
}

impl PolicyText {
    /// An empty policy: only `DEFAULT action=<default>`.
    pub fn new(name: impl Into<String>, version: Version, default: Action) -> PolicyText {
        PolicyText {
            name: name.into(),
            version,
            default,
            lines: Vec::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// Adds `# ` comment lines, one per line of `text`.
    pub fn comment(&mut self, text: &str) -> &mut PolicyText {
        for line in text.lines() {
            self.lines.push(Line::Comment(line.to_string()));
        }
        self
    }

    /// Adds one rule line, such as `op=EXECUTE boot_verified=TRUE action=ALLOW`.
    pub fn rule(&mut self, rule: impl Into<String>) -> &mut PolicyText {
        self.lines.push(Line::Rule(rule.into()));
        self
    }

    /// The rule lines, in order.
    pub fn rules(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().filter_map(|line| match line {
            Line::Rule(rule) => Some(rule.as_str()),
            Line::Comment(_) => None,
        })
    }

    /// The same rules under another name and version.
    pub fn renamed(&self, name: impl Into<String>, version: Version) -> PolicyText {
        PolicyText {
            name: name.into(),
            version,
            ..self.clone()
        }
    }

    /// The same policy with `rules` put before its own (IPE's first match wins).
    pub fn with_rules_first(&self, rules: impl IntoIterator<Item = String>) -> PolicyText {
        let mut lines: Vec<Line> = rules.into_iter().map(Line::Rule).collect();
        lines.extend(self.lines.iter().cloned());
        PolicyText {
            lines,
            ..self.clone()
        }
    }

    /// The policy file.
    pub fn render(&self) -> String {
        let mut text = alloc::format!(
            "policy_name={} policy_version={}\nDEFAULT {}\n",
            self.name,
            self.version,
            self.default.token()
        );
        for line in &self.lines {
            match line {
                Line::Comment(comment) => {
                    text.push_str("# ");
                    text.push_str(comment);
                }
                Line::Rule(rule) => text.push_str(rule),
            }
            text.push('\n');
        }
        text
    }

    /// [`render`](Self::render), checked with the parser the kernel runs.
    pub fn render_checked(&self) -> Result<String, Diagnostic> {
        let text = self.render();
        check(text.as_bytes())?;
        Ok(text)
    }
}

// The crate denies `unwrap` for the kernel's sake; in a host test a failed unwrap is a failed test.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn versions_read_and_print_alike_and_order_numerically() {
        let version: Version = "1.10.65535".parse().unwrap();
        assert_eq!(version.to_string(), "1.10.65535");
        assert!("1.9.0".parse::<Version>().unwrap() < "1.10.0".parse().unwrap());
        for bad in ["1.2", "1.2.3.4", "1.2.65536", "1.+2.3", "1..3", "", "a.b.c"] {
            assert!(bad.parse::<Version>().is_err(), "{bad}");
        }
        assert_eq!(version.next_revision(), None);
    }

    #[test]
    fn renders_header_default_comments_and_rules_in_order() {
        let mut policy = PolicyText::new("fw", "0.1.0".parse().unwrap(), Action::Deny);
        policy
            .comment("two\nlines")
            .rule("op=EXECUTE boot_verified=TRUE action=ALLOW");
        let text = policy.render_checked().unwrap();
        assert_eq!(
            text,
            "policy_name=fw policy_version=0.1.0\nDEFAULT action=DENY\n# two\n# lines\n\
             op=EXECUTE boot_verified=TRUE action=ALLOW\n"
        );
        let large = policy
            .renamed("big", "2.0.0".parse().unwrap())
            .with_rules_first(["op=KMODULE action=DENY".into()]);
        assert_eq!(
            large.rules().collect::<Vec<_>>(),
            [
                "op=KMODULE action=DENY",
                "op=EXECUTE boot_verified=TRUE action=ALLOW"
            ]
        );
        assert!(
            large
                .render()
                .starts_with("policy_name=big policy_version=2.0.0\n")
        );
    }

    #[test]
    fn a_rule_the_kernel_rejects_is_caught() {
        let mut policy = PolicyText::new("fw", Version::default(), Action::Deny);
        policy.rule("op=KERNEL_READ action=ALLOW");
        assert!(policy.render_checked().is_err());
    }
}
