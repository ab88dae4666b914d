//! The canonical text both sides print for an accepted policy, mirroring
//! upstream's in-memory layout (per-op rule lists, enum numbers):
//!
//! ```text
//! N:<name hex>
//! V:<major>.<minor>.<rev>
//! G:<global default: 0 allow, 1 deny, 2 unset>
//! O<op>:<op default>            for op 0..=6, each followed by its rules:
//! R<op>:<action>[ P<prop type>[:<alg hex>:<digest hex>]]...
//! ```

use std::fmt::Write;

use ipe_lsm::host::HostPolicy;
use ipe_lsm::{Action, Op, Property};

fn hex(bytes: impl IntoIterator<Item = u8>) -> String {
    bytes.into_iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

fn action_number(action: Option<Action>) -> u8 {
    match action {
        Some(Action::Allow) => 0,
        Some(Action::Deny) => 1,
        None => 2,
    }
}

/// `enum ipe_prop_type` number and, for digests, the digest.
fn property(out: &mut String, property: &Property<'_>) {
    let (number, digest) = match property {
        Property::BootVerified(value) => (u8::from(*value), None),
        Property::DmVerityRootHash(digest) => (2, Some(digest)),
        Property::DmVeritySignature(value) => (3 + u8::from(*value), None),
        Property::FsVerityDigest(digest) => (5, Some(digest)),
        Property::FsVeritySignature(value) => (6 + u8::from(*value), None),
    };
    let _ = write!(out, " P{number}");
    if let Some(digest) = digest {
        let _ = write!(
            out,
            ":{}:{}",
            hex(digest.alg().iter().copied()),
            hex(digest.bytes())
        );
    }
}

/// Prints `policy` in the canonical form.
pub fn canonical(policy: &HostPolicy<'_>) -> String {
    let version = policy.version();
    let mut out = format!(
        "N:{}\nV:{}.{}.{}\nG:{}\n",
        hex(policy.name().iter().copied()),
        version.major,
        version.minor,
        version.revision,
        action_number(policy.global_default())
    );
    for op in Op::ALL {
        let _ = writeln!(
            out,
            "O{}:{}",
            op as u8,
            action_number(policy.op_default(op))
        );
        for rule in policy.rules().iter().filter(|rule| rule.op() == op) {
            let _ = write!(out, "R{}:{}", op as u8, action_number(Some(rule.action())));
            for prop in policy.props(rule) {
                property(&mut out, prop);
            }
            out.push('\n');
        }
    }
    out
}
