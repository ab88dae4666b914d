//! Host-side conveniences: `Vec` storage, the policy checker used by
//! `cargo xtask policy check`, a canonical printer, and [`PolicyText`] for writing policies.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::index::{IndexEntry, IndexedPolicy};
use crate::model::{Op, Policy, Property, Rule};
use crate::parser::{ParseError, parse};
use crate::storage::{OutOfMemory, Vector};

mod policy_text;
pub use policy_text::{BadVersion, PolicyText};

impl<T> Vector<T> for Vec<T> {
    fn try_push(&mut self, item: T) -> Result<(), OutOfMemory> {
        self.try_reserve(1).map_err(|_| OutOfMemory)?;
        self.push(item);
        Ok(())
    }

    fn as_slice(&self) -> &[T] {
        self
    }

    fn as_mut_slice(&mut self) -> &mut [T] {
        self
    }
}

/// A policy stored in `Vec`s.
pub type HostPolicy<'t> = Policy<'t, Vec<Rule>, Vec<Property<'t>>>;

/// An indexed policy stored in `Vec`s.
pub type HostIndexedPolicy<'t> = IndexedPolicy<'t, Vec<Rule>, Vec<Property<'t>>, Vec<IndexEntry>>;

/// Parses with `Vec` storage.
pub fn parse_host(text: &[u8]) -> Result<HostPolicy<'_>, ParseError<'_>> {
    parse(text, Vec::new(), Vec::new())
}

/// Parses and indexes with `Vec` storage.
pub fn parse_indexed(text: &[u8]) -> Result<HostIndexedPolicy<'_>, ParseError<'_>> {
    let policy = parse_host(text)?;
    IndexedPolicy::new(policy, Vec::new()).map_err(|OutOfMemory| ParseError {
        reason: crate::Reason::OutOfMemory,
        line: 0,
        token: &[],
    })
}

/// Why a policy file is rejected, ready to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Upstream's errno name, e.g. `EBADMSG`.
    pub errno: &'static str,
    /// 1-based line, or 0 when the error concerns the whole policy.
    pub line: u32,
    /// The offending token (lossy UTF-8).
    pub token: String,
    /// A human explanation.
    pub explanation: &'static str,
}

impl From<ParseError<'_>> for Diagnostic {
    fn from(error: ParseError<'_>) -> Self {
        Diagnostic {
            errno: error.errno().name(),
            line: error.line,
            token: String::from_utf8_lossy(error.token).into_owned(),
            explanation: error.reason.explain(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.errno, self.explanation)
        } else {
            write!(
                f,
                "{} line {} token `{}`: {}",
                self.errno,
                self.line,
                self.token.escape_debug(),
                self.explanation
            )
        }
    }
}

/// Checks a policy exactly as the kernel would load it.
pub fn check(text: &[u8]) -> Result<(), Diagnostic> {
    parse_host(text).map(drop).map_err(Diagnostic::from)
}

/// Prints `policy` in canonical form; parsing the output gives an equal
/// policy.
pub fn to_text<'t, R: Vector<Rule>, P: Vector<Property<'t>>>(policy: &Policy<'t, R, P>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"policy_name=");
    out.extend_from_slice(policy.name());
    let version = policy.version();
    out.extend_from_slice(
        alloc::format!(
            " policy_version={}.{}.{}\n",
            version.major,
            version.minor,
            version.revision
        )
        .as_bytes(),
    );
    if let Some(action) = policy.global_default() {
        out.extend_from_slice(alloc::format!("DEFAULT {}\n", action.token()).as_bytes());
    }
    for op in Op::ALL {
        if let Some(action) = policy.op_default(op) {
            out.extend_from_slice(
                alloc::format!("DEFAULT {} {}\n", op.token(), action.token()).as_bytes(),
            );
        }
    }
    for rule in policy.rules() {
        out.extend_from_slice(rule.op().token().as_bytes());
        for property in policy.props(rule) {
            out.push(b' ');
            write_property(&mut out, property);
        }
        out.extend_from_slice(alloc::format!(" {}\n", rule.action().token()).as_bytes());
    }
    out
}

fn write_property(out: &mut Vec<u8>, property: &Property<'_>) {
    let flag = |value: bool| if value { "TRUE" } else { "FALSE" };
    let (name, digest) = match property {
        Property::BootVerified(value) => {
            out.extend_from_slice(alloc::format!("boot_verified={}", flag(*value)).as_bytes());
            return;
        }
        Property::DmVeritySignature(value) => {
            out.extend_from_slice(alloc::format!("dmverity_signature={}", flag(*value)).as_bytes());
            return;
        }
        Property::FsVeritySignature(value) => {
            out.extend_from_slice(alloc::format!("fsverity_signature={}", flag(*value)).as_bytes());
            return;
        }
        Property::DmVerityRootHash(digest) => ("dmverity_roothash=", digest),
        Property::FsVerityDigest(digest) => ("fsverity_digest=", digest),
    };
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(digest.alg());
    out.push(b':');
    for byte in digest.bytes() {
        out.extend_from_slice(alloc::format!("{byte:02x}").as_bytes());
    }
}
