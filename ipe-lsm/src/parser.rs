//! The policy text parser, step for step as `policy_parser.c` in Linux 6.12.
//!
//! Errors are reported in the same order upstream meets them, so the first
//! error (and hence the errno) is the one the kernel would return.

use crate::digest::{Digest, DigestError};
use crate::errno::Errno;
use crate::model::{Action, Op, Policy, Property, Rule, Version};
use crate::storage::Vector;
use crate::text::{self, Lines};

/// Why a policy was rejected; [`Reason::errno`] gives upstream's errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The policy text has length zero.
    Empty,
    /// No non-blank line, so no header.
    MissingHeader,
    /// A header token is not `policy_name=…` then `policy_version=…`.
    HeaderTokenOutOfPlace,
    /// The header has more than two tokens.
    HeaderExtraToken,
    /// The header lacks `policy_version=…` (or both tokens).
    HeaderIncomplete,
    /// The version has fewer than three dot-separated parts.
    VersionTooFewParts,
    /// The version has more than three dot-separated parts.
    VersionTooManyParts,
    /// A version part is not a plain decimal number.
    VersionNotNumber,
    /// A version part exceeds 65535.
    VersionOutOfRange,
    /// The first token of a rule is not a known `op=…`.
    UnknownOperation,
    /// A token after `op=…` is not a known property.
    UnknownProperty,
    /// A digest value has no `alg:` prefix.
    DigestMissingAlgorithm,
    /// A digest's hex has odd length or a non-hex character.
    DigestBadHex,
    /// The last token is not `action=ALLOW` or `action=DENY`.
    UnknownAction,
    /// A rule consists of an action alone.
    RuleWithoutOperation,
    /// A DEFAULT line carries properties.
    DefaultWithProperties,
    /// A second `DEFAULT action=…`.
    DuplicateGlobalDefault,
    /// A second `DEFAULT op=X action=…` for the same op.
    DuplicateOpDefault,
    /// No global DEFAULT and some op lacks its own DEFAULT.
    MissingDefault,
    /// Storage could not grow.
    OutOfMemory,
}

impl Reason {
    /// The errno upstream returns for this failure.
    pub const fn errno(self) -> Errno {
        match self {
            Reason::VersionNotNumber | Reason::DigestBadHex => Errno::EINVAL,
            Reason::VersionOutOfRange => Errno::ERANGE,
            Reason::OutOfMemory => Errno::ENOMEM,
            _ => Errno::EBADMSG,
        }
    }

    /// A one-line explanation for humans.
    pub const fn explain(self) -> &'static str {
        match self {
            Reason::Empty => "the policy is empty",
            Reason::MissingHeader => {
                "no header: the first non-blank line must be `policy_name=NAME policy_version=MAJ.MIN.REV`"
            }
            Reason::HeaderTokenOutOfPlace => {
                "the header must be exactly `policy_name=NAME policy_version=MAJ.MIN.REV`, in that order"
            }
            Reason::HeaderExtraToken => "unexpected token after policy_version in the header",
            Reason::HeaderIncomplete => "the header lacks `policy_version=MAJ.MIN.REV`",
            Reason::VersionTooFewParts => "the version needs three parts, MAJ.MIN.REV",
            Reason::VersionTooManyParts => "the version has more than three parts",
            Reason::VersionNotNumber => "a version part is not a decimal number",
            Reason::VersionOutOfRange => "a version part is larger than 65535",
            Reason::UnknownOperation => {
                "expected `DEFAULT` or an operation (op=EXECUTE, FIRMWARE, KMODULE, KEXEC_IMAGE, KEXEC_INITRAMFS, POLICY, X509_CERT)"
            }
            Reason::UnknownProperty => {
                "unknown property (boot_verified, dmverity_roothash, dmverity_signature, fsverity_digest, fsverity_signature)"
            }
            Reason::DigestMissingAlgorithm => "a digest must be written ALGORITHM:HEX",
            Reason::DigestBadHex => "the digest is not an even number of hex digits",
            Reason::UnknownAction => "a rule must end with action=ALLOW or action=DENY",
            Reason::RuleWithoutOperation => "a rule needs an op=… before its action",
            Reason::DefaultWithProperties => "a DEFAULT rule cannot have properties",
            Reason::DuplicateGlobalDefault => "the global DEFAULT is set twice",
            Reason::DuplicateOpDefault => "the DEFAULT for this op is set twice",
            Reason::MissingDefault => {
                "no global `DEFAULT action=…` and not every op has its own DEFAULT"
            }
            Reason::OutOfMemory => "out of memory",
        }
    }
}

/// A rejected policy: upstream's errno, plus where and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError<'t> {
    /// What went wrong; its errno is the kernel's answer.
    pub reason: Reason,
    /// 1-based line (editor numbering), or 0 for whole-policy errors.
    pub line: u32,
    /// The offending token, or the whole line, or empty.
    pub token: &'t [u8],
}

impl ParseError<'_> {
    /// The errno upstream returns for this policy.
    pub const fn errno(&self) -> Errno {
        self.reason.errno()
    }
}

/// Parses `text` into a validated policy, like `ipe_parse_policy()`.
///
/// `rules` and `props` are empty stores the caller supplies; the parser only
/// appends to them. Text after a NUL byte is ignored, as upstream does.
pub fn parse<'t, R, P>(
    text: &'t [u8],
    rules: R,
    props: P,
) -> Result<Policy<'t, R, P>, ParseError<'t>>
where
    R: Vector<Rule>,
    P: Vector<Property<'t>>,
{
    if text.is_empty() {
        return Err(whole_policy(Reason::Empty));
    }
    let text = text.split(|&b| b == 0).next().unwrap_or(&[]);
    let mut policy = Policy {
        name: &[],
        version: Version::default(),
        global_default: None,
        op_defaults: [None; 7],
        rules,
        props,
    };
    let mut header_parsed = false;
    for (line_no, raw) in Lines::new(text) {
        let line = text::strip_line(raw);
        if line.is_empty() {
            continue;
        }
        let located = |reason, token| ParseError {
            reason,
            line: line_no,
            token,
        };
        if header_parsed {
            parse_rule(line, &mut policy).map_err(|(reason, token)| located(reason, token))?;
        } else {
            parse_header(line, &mut policy).map_err(|(reason, token)| located(reason, token))?;
            header_parsed = true;
        }
    }
    if !header_parsed {
        return Err(whole_policy(Reason::MissingHeader));
    }
    if policy.global_default.is_none() && policy.op_defaults.contains(&None) {
        return Err(whole_policy(Reason::MissingDefault));
    }
    Ok(policy)
}

fn whole_policy(reason: Reason) -> ParseError<'static> {
    ParseError {
        reason,
        line: 0,
        token: &[],
    }
}

/// A failure within one line: why, and which token.
type LineError<'t> = (Reason, &'t [u8]);

const NAME_PREFIX: &str = "policy_name=";
const VERSION_PREFIX: &str = "policy_version=";

/// `parse_header()`: exactly `policy_name=%s policy_version=%s`.
fn parse_header<'t, R, P>(
    line: &'t [u8],
    policy: &mut Policy<'t, R, P>,
) -> Result<(), LineError<'t>> {
    let mut seen = 0_usize;
    for token in text::tokens(line) {
        match seen {
            0 => {
                policy.name = text::strip_value(token, NAME_PREFIX)
                    .ok_or((Reason::HeaderTokenOutOfPlace, token))?;
            }
            1 => {
                let version = text::strip_value(token, VERSION_PREFIX)
                    .ok_or((Reason::HeaderTokenOutOfPlace, token))?;
                policy.version = parse_version(version).map_err(|reason| (reason, token))?;
            }
            _ => return Err((Reason::HeaderExtraToken, token)),
        }
        seen = seen.saturating_add(1);
    }
    if seen == 2 {
        Ok(())
    } else {
        Err((Reason::HeaderIncomplete, line))
    }
}

/// `parse_version()`: three `kstrtou16` parts separated by `.`.
fn parse_version(version: &[u8]) -> Result<Version, Reason> {
    let mut parts = [0_u16; 3];
    let mut count = 0_usize;
    for part in version.split(|&b| b == b'.') {
        let slot = parts.get_mut(count).ok_or(Reason::VersionTooManyParts)?;
        *slot = text::kstrtou16(part).map_err(|errno| match errno {
            Errno::ERANGE => Reason::VersionOutOfRange,
            _ => Reason::VersionNotNumber,
        })?;
        count = count.saturating_add(1);
    }
    match (count, parts) {
        (3, [major, minor, revision]) => Ok(Version {
            major,
            minor,
            revision,
        }),
        _ => Err(Reason::VersionTooFewParts),
    }
}

/// `parse_rule()`: `[DEFAULT] [op=…] [properties…] action=…`.
fn parse_rule<'t, R, P>(line: &'t [u8], policy: &mut Policy<'t, R, P>) -> Result<(), LineError<'t>>
where
    R: Vector<Rule>,
    P: Vector<Property<'t>>,
{
    let (body, action_token) = text::split_last_token(line);
    let props_start = policy.props.as_slice().len();
    let mut is_default = false;
    let mut op = None;
    for (position, token) in text::tokens(body).enumerate() {
        if position == 0 && token == b"DEFAULT" {
            is_default = true;
        } else if op.is_none() {
            op = Some(Op::from_token(token).ok_or((Reason::UnknownOperation, token))?);
        } else {
            let property = parse_property(token)?;
            policy
                .props
                .try_push(property)
                .map_err(|_| (Reason::OutOfMemory, token))?;
        }
    }
    let action = Action::from_token(action_token).ok_or((Reason::UnknownAction, action_token))?;
    let props_end = policy.props.as_slice().len();

    if is_default {
        if props_end != props_start {
            return Err((Reason::DefaultWithProperties, line));
        }
        let (slot, duplicate) = match op {
            None => (&mut policy.global_default, Reason::DuplicateGlobalDefault),
            Some(op) => (
                policy
                    .op_defaults
                    .get_mut(usize::from(op as u8))
                    .ok_or((Reason::UnknownOperation, line))?,
                Reason::DuplicateOpDefault,
            ),
        };
        if slot.is_some() {
            return Err((duplicate, line));
        }
        *slot = Some(action);
        return Ok(());
    }
    let op = op.ok_or((Reason::RuleWithoutOperation, line))?;
    policy
        .rules
        .try_push(Rule {
            op,
            action,
            props_start,
            props_end,
        })
        .map_err(|_| (Reason::OutOfMemory, line))
}

/// `parse_property()`: one of the eight property tokens.
fn parse_property(token: &[u8]) -> Result<Property<'_>, LineError<'_>> {
    let digest = |value| {
        Digest::parse(value).map_err(|error| match error {
            DigestError::MissingSeparator => (Reason::DigestMissingAlgorithm, token),
            DigestError::BadHex => (Reason::DigestBadHex, token),
        })
    };
    if let Some(value) = text::strip_value(token, "dmverity_roothash=") {
        return digest(value).map(Property::DmVerityRootHash);
    }
    if let Some(value) = text::strip_value(token, "fsverity_digest=") {
        return digest(value).map(Property::FsVerityDigest);
    }
    match token {
        b"boot_verified=FALSE" => Ok(Property::BootVerified(false)),
        b"boot_verified=TRUE" => Ok(Property::BootVerified(true)),
        b"dmverity_signature=FALSE" => Ok(Property::DmVeritySignature(false)),
        b"dmverity_signature=TRUE" => Ok(Property::DmVeritySignature(true)),
        b"fsverity_signature=FALSE" => Ok(Property::FsVeritySignature(false)),
        b"fsverity_signature=TRUE" => Ok(Property::FsVeritySignature(true)),
        _ => Err((Reason::UnknownProperty, token)),
    }
}
