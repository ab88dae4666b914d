//! The parsed policy, mirroring `struct ipe_parsed_policy` in `policy.h`.

use crate::digest::Digest;
use crate::storage::Vector;

/// The operations a rule can govern (`enum ipe_op_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Op {
    /// `op=EXECUTE`
    Execute = 0,
    /// `op=FIRMWARE`
    Firmware = 1,
    /// `op=KMODULE`
    KernelModule = 2,
    /// `op=KEXEC_IMAGE`
    KexecImage = 3,
    /// `op=KEXEC_INITRAMFS`
    KexecInitramfs = 4,
    /// `op=POLICY`
    Policy = 5,
    /// `op=X509_CERT`
    X509Cert = 6,
}

impl Op {
    /// All operations in upstream's enum order.
    pub const ALL: [Op; 7] = [
        Op::Execute,
        Op::Firmware,
        Op::KernelModule,
        Op::KexecImage,
        Op::KexecInitramfs,
        Op::Policy,
        Op::X509Cert,
    ];

    /// The full policy token, e.g. `op=EXECUTE`.
    pub const fn token(self) -> &'static str {
        match self {
            Op::Execute => "op=EXECUTE",
            Op::Firmware => "op=FIRMWARE",
            Op::KernelModule => "op=KMODULE",
            Op::KexecImage => "op=KEXEC_IMAGE",
            Op::KexecInitramfs => "op=KEXEC_INITRAMFS",
            Op::Policy => "op=POLICY",
            Op::X509Cert => "op=X509_CERT",
        }
    }

    /// Recognises an exact `op=…` token, as `match_token()` does.
    pub fn from_token(token: &[u8]) -> Option<Op> {
        Op::ALL
            .into_iter()
            .find(|op| op.token().as_bytes() == token)
    }
}

/// What a matching rule or default decides (`enum ipe_action_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `action=ALLOW`
    Allow,
    /// `action=DENY`
    Deny,
}

impl Action {
    /// The full policy token, e.g. `action=ALLOW`.
    pub const fn token(self) -> &'static str {
        match self {
            Action::Allow => "action=ALLOW",
            Action::Deny => "action=DENY",
        }
    }

    /// Recognises an exact `action=…` token.
    pub fn from_token(token: &[u8]) -> Option<Action> {
        [Action::Allow, Action::Deny]
            .into_iter()
            .find(|action| action.token().as_bytes() == token)
    }
}

/// One rule property (`enum ipe_prop_type` plus its value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Property<'t> {
    /// `boot_verified=TRUE|FALSE`
    BootVerified(bool),
    /// `dmverity_roothash=alg:hex`
    DmVerityRootHash(Digest<'t>),
    /// `dmverity_signature=TRUE|FALSE`
    DmVeritySignature(bool),
    /// `fsverity_digest=alg:hex`
    FsVerityDigest(Digest<'t>),
    /// `fsverity_signature=TRUE|FALSE`
    FsVeritySignature(bool),
}

/// A policy version; each part is parsed with `kstrtou16`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// First component.
    pub major: u16,
    /// Second component.
    pub minor: u16,
    /// Third component.
    pub revision: u16,
}

/// A non-DEFAULT rule. Its properties live in the policy's property store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub(crate) op: Op,
    pub(crate) action: Action,
    pub(crate) props_start: usize,
    pub(crate) props_end: usize,
}

impl Rule {
    /// The operation this rule applies to.
    pub fn op(&self) -> Op {
        self.op
    }

    /// The action taken when every property matches.
    pub fn action(&self) -> Action {
        self.action
    }
}

/// A successfully parsed and validated policy, borrowing from its text.
///
/// Invariant (checked by the parser, like `validate_policy()`): the global
/// default is set, or every operation has its own default.
#[derive(Debug)]
pub struct Policy<'t, R, P> {
    pub(crate) name: &'t [u8],
    pub(crate) version: Version,
    pub(crate) global_default: Option<Action>,
    pub(crate) op_defaults: [Option<Action>; 7],
    pub(crate) rules: R,
    pub(crate) props: P,
}

impl<'t, R: Vector<Rule>, P: Vector<Property<'t>>> Policy<'t, R, P> {
    /// The `policy_name` value (arbitrary bytes except whitespace, `#`, NUL).
    pub fn name(&self) -> &'t [u8] {
        self.name
    }

    /// The `policy_version` value.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The `DEFAULT action=…` line, if any.
    pub fn global_default(&self) -> Option<Action> {
        self.global_default
    }

    /// The `DEFAULT op=… action=…` line for `op`, if any.
    pub fn op_default(&self, op: Op) -> Option<Action> {
        self.op_defaults
            .get(usize::from(op as u8))
            .copied()
            .flatten()
    }

    /// All non-DEFAULT rules in text order, all operations interleaved.
    pub fn rules(&self) -> &[Rule] {
        self.rules.as_slice()
    }

    /// The properties of `rule`, in text order.
    pub fn props(&self, rule: &Rule) -> &[Property<'t>] {
        self.props
            .as_slice()
            .get(rule.props_start..rule.props_end)
            .unwrap_or(&[])
    }
}

impl<'t, R, P, R2, P2> PartialEq<Policy<'t, R2, P2>> for Policy<'t, R, P>
where
    R: Vector<Rule>,
    P: Vector<Property<'t>>,
    R2: Vector<Rule>,
    P2: Vector<Property<'t>>,
{
    /// Semantic equality: same header, defaults and rules (digests compared
    /// by decoded value, not by hex spelling).
    fn eq(&self, other: &Policy<'t, R2, P2>) -> bool {
        self.name == other.name
            && self.version == other.version
            && self.global_default == other.global_default
            && self.op_defaults == other.op_defaults
            && self.rules().len() == other.rules().len()
            && self.rules().iter().zip(other.rules()).all(|(a, b)| {
                a.op == b.op && a.action == b.action && self.props(a) == other.props(b)
            })
    }
}
