// SPDX-License-Identifier: GPL-2.0

//! IPE's policy engine for the kernel: the `extern "C"` functions the C shim
//! calls (see `ipe_rust.h`), over the engine in `engine/`.
//!
//! `engine/` holds the very files of the host crate `ipe-lsm` (its `src/`),
//! copied into the tree by the appliance's kernel stage, so the parser the
//! host tools and tests check is the parser the kernel runs. Storage is
//! `KVVec` with `GFP_KERNEL`; an allocation failure is `-ENOMEM`.

use core::ffi::{c_char, c_int, c_void};
use core::mem::size_of;

use kernel::alloc::{flags::GFP_KERNEL, KBox, KVVec};

// The engine's modules, declared at the crate root as in its lib.rs (they
// refer to each other as `crate::…`). The engine is safe code only.
// A module added to lib.rs must be added here: the build fails otherwise,
// and ipe-lsm/tests/kernel_glue.rs checks the two lists agree.
#[forbid(unsafe_code)]
#[allow(unreachable_pub, dead_code)]
#[path = "engine/digest.rs"]
mod digest;
#[forbid(unsafe_code)]
#[allow(unreachable_pub, dead_code)]
#[path = "engine/errno.rs"]
mod errno;
#[forbid(unsafe_code)]
#[allow(unreachable_pub, dead_code)]
#[path = "engine/eval.rs"]
mod eval;
#[forbid(unsafe_code)]
#[allow(unreachable_pub, dead_code)]
#[path = "engine/facts.rs"]
mod facts;
#[forbid(unsafe_code)]
#[allow(unreachable_pub, dead_code)]
#[path = "engine/index.rs"]
mod index;
#[forbid(unsafe_code)]
#[allow(unreachable_pub, dead_code)]
#[path = "engine/model.rs"]
mod model;
#[forbid(unsafe_code)]
#[allow(unreachable_pub, dead_code)]
#[path = "engine/parser.rs"]
mod parser;
#[forbid(unsafe_code)]
#[allow(unreachable_pub, dead_code)]
#[path = "engine/storage.rs"]
mod storage;
#[forbid(unsafe_code)]
#[allow(unreachable_pub, dead_code)]
#[path = "engine/text.rs"]
mod text;

/// The golden parser vectors, for the KUnit suite in kunit.c.
#[cfg(CONFIG_SECURITY_IPE_RUST_KUNIT_TEST)]
#[allow(unreachable_pub, dead_code)]
#[path = "vectors/mod.rs"]
mod vectors;

use errno::Errno;
use facts::{Config, Facts};
use index::{IndexEntry, IndexedPolicy};
use model::{Action, Op, Property, Rule};
use eval::Source;
use storage::{OutOfMemory, Vector};

/// Upstream's errnos for the version rules (x86 and generic values).
const EINVAL: c_int = -22;
const ESTALE: c_int = -116;

// kvmalloc-backed: a large policy's stores outgrow kmalloc's largest block
// (4 MiB: 65 537 properties of 40 bytes, doubled to a capacity of 131 072,
// are 5 MiB), where upstream allocates each rule and property on its own.
impl<T> Vector<T> for KVVec<T> {
    fn try_push(&mut self, item: T) -> Result<(), OutOfMemory> {
        self.push(item, GFP_KERNEL).map_err(|_| OutOfMemory)
    }

    fn as_slice(&self) -> &[T] {
        self
    }

    fn as_mut_slice(&mut self) -> &mut [T] {
        self
    }
}

/// A parsed, indexed policy. It borrows its text, which the C side keeps
/// (`struct ipe_policy::text`) until after `ipe_rust_free`: hence `'static`.
type KernelPolicy =
    IndexedPolicy<'static, KVVec<Rule>, KVVec<Property<'static>>, KVVec<IndexEntry>>;

/// The trust providers this kernel was built with.
const CONFIG: Config = Config {
    dm_verity: cfg!(CONFIG_IPE_PROP_DM_VERITY),
    dm_verity_signature: cfg!(CONFIG_IPE_PROP_DM_VERITY_SIGNATURE),
    fs_verity: cfg!(CONFIG_IPE_PROP_FS_VERITY),
    fs_verity_builtin_sig: cfg!(CONFIG_IPE_PROP_FS_VERITY_BUILTIN_SIG),
};

/// `struct ipe_rust_decision`.
#[repr(C)]
pub struct CDecision {
    deny: bool,
    matched: u8,
    no_default: bool,
    rule: usize,
}

/// `struct ipe_rust_digest` and `struct ipe_rust_facts` are these types.
const _: () = assert!(size_of::<Facts>() == 4 + 195 + 1 + 195);
const _: () = assert!(size_of::<CDecision>() == 16);

/// Parses `len` bytes at `text` into `*out`; returns 0 or upstream's `-errno`.
///
/// # Safety
///
/// `text` is valid for `len` bytes and outlives the policy; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn ipe_rust_parse(
    text: *const u8,
    len: usize,
    out: *mut *mut KernelPolicy,
) -> c_int {
    // A signed message may carry no content at all: then there is no pointer.
    let text: &'static [u8] = if text.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the caller guarantees `text` is valid for `len` bytes and is
        // not freed before the policy (ipe_free_policy() frees the policy first).
        unsafe { core::slice::from_raw_parts(text, len) }
    };
    let policy = match parser::parse(text, KVVec::new(), KVVec::new()) {
        Ok(policy) => policy,
        Err(error) => return error.errno().to_kernel(),
    };
    let Ok(indexed) = IndexedPolicy::new(policy, KVVec::new()) else {
        return Errno::ENOMEM.to_kernel();
    };
    let Ok(boxed) = KBox::new(indexed, GFP_KERNEL) else {
        return Errno::ENOMEM.to_kernel();
    };
    // SAFETY: the caller guarantees `out` is writable.
    unsafe { *out = KBox::into_raw(boxed) };
    0
}

/// Frees a policy from `ipe_rust_parse` (NULL is ignored).
///
/// # Safety
///
/// `policy` is NULL or came from `ipe_rust_parse` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn ipe_rust_free(policy: *mut KernelPolicy) {
    if !policy.is_null() {
        // SAFETY: by the contract, `policy` is an unaliased `KBox::into_raw`.
        drop(unsafe { KBox::from_raw(policy) });
    }
}

/// Borrows a live policy.
///
/// # Safety
///
/// `policy` came from `ipe_rust_parse` and is not freed while borrowed.
unsafe fn policy_ref<'a>(policy: *const KernelPolicy) -> &'a KernelPolicy {
    // SAFETY: guaranteed by the caller.
    unsafe { &*policy }
}

/// The policy's name (no NUL), its length in `*len`.
///
/// # Safety
///
/// `policy` is live; `len` is writable.
#[no_mangle]
pub unsafe extern "C" fn ipe_rust_name(policy: *const KernelPolicy, len: *mut usize) -> *const c_char {
    // SAFETY: guaranteed by the caller.
    let name = unsafe { policy_ref(policy) }.policy().name();
    // SAFETY: guaranteed by the caller.
    unsafe { *len = name.len() };
    name.as_ptr().cast()
}

/// The policy's version as `{major, minor, revision}`.
///
/// # Safety
///
/// `policy` is live; `version` is writable for three `u16`.
#[no_mangle]
pub unsafe extern "C" fn ipe_rust_version(policy: *const KernelPolicy, version: *mut [u16; 3]) {
    // SAFETY: guaranteed by the caller.
    let v = unsafe { policy_ref(policy) }.policy().version();
    // SAFETY: guaranteed by the caller.
    unsafe { *version = [v.major, v.minor, v.revision] };
}

/// Upstream's update rule: same name (`-EINVAL`), strictly newer (`-ESTALE`).
///
/// # Safety
///
/// Both policies are live.
#[no_mangle]
pub unsafe extern "C" fn ipe_rust_check_update(
    old: *const KernelPolicy,
    new: *const KernelPolicy,
) -> c_int {
    // SAFETY: guaranteed by the caller.
    let (old, new) = unsafe { (policy_ref(old).policy(), policy_ref(new).policy()) };
    if old.name() != new.name() {
        EINVAL
    } else if old.version() >= new.version() {
        ESTALE
    } else {
        0
    }
}

/// Upstream's activation rule: never an older version than the active one.
///
/// # Safety
///
/// Both policies are live.
#[no_mangle]
pub unsafe extern "C" fn ipe_rust_check_activate(
    active: *const KernelPolicy,
    policy: *const KernelPolicy,
) -> c_int {
    // SAFETY: guaranteed by the caller.
    let (active, policy) = unsafe { (policy_ref(active).policy(), policy_ref(policy).policy()) };
    if active.version() > policy.version() {
        EINVAL
    } else {
        0
    }
}

fn op_of(op: u32) -> Option<Op> {
    Op::ALL.get(usize::try_from(op).ok()?).copied()
}

/// The decision for `op` (`IPE_OP_INVALID` and above: unknown) on `facts`.
///
/// # Safety
///
/// `policy` is live; `facts` is readable; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn ipe_rust_decide(
    policy: *const KernelPolicy,
    op: u32,
    facts: *const Facts,
    out: *mut CDecision,
) {
    // SAFETY: guaranteed by the caller.
    let (policy, facts) = unsafe { (policy_ref(policy), &*facts) };
    let decision = policy.decide(op_of(op), facts, &CONFIG);
    let (matched, rule) = match decision.source {
        Source::Rule(position) => (0, position),
        Source::OpDefault => (1, 0),
        Source::Global => (2, 0),
    };
    let result = CDecision {
        deny: decision.action == Action::Deny,
        matched,
        no_default: matches!(decision.source, Source::Global)
            && policy.policy().global_default().is_none(),
        rule,
    };
    // SAFETY: guaranteed by the caller.
    unsafe { *out = result };
}

extern "C" {
    fn ipe_rust_log(ab: *mut c_void, s: *const u8, len: usize);
    fn ipe_rust_log_untrusted(ab: *mut c_void, s: *const u8, len: usize);
    fn ipe_rust_log_hex(ab: *mut c_void, buf: *const u8, len: usize);
}

/// Writes into one audit record through the C helpers.
struct Audit(*mut c_void);

impl Audit {
    fn text(&self, s: &[u8]) {
        // SAFETY: `self.0` is the record being written; `s` is a valid slice.
        unsafe { ipe_rust_log(self.0, s.as_ptr(), s.len()) }
    }

    fn untrusted(&self, s: &[u8]) {
        // SAFETY: as above.
        unsafe { ipe_rust_log_untrusted(self.0, s.as_ptr(), s.len()) }
    }

    fn hex(&self, bytes: impl Iterator<Item = u8>) {
        // audit_log_n_hex() appends, so chunks print as one run of hex.
        let mut chunk = [0_u8; 32];
        let mut used = 0;
        for byte in bytes {
            if let Some(slot) = chunk.get_mut(used) {
                *slot = byte;
                used += 1;
            }
            if used == chunk.len() {
                // SAFETY: as above.
                unsafe { ipe_rust_log_hex(self.0, chunk.as_ptr(), used) };
                used = 0;
            }
        }
        if used > 0 {
            // SAFETY: as above.
            unsafe { ipe_rust_log_hex(self.0, chunk.as_ptr(), used) };
        }
    }
}

fn op_name(op: Option<Op>) -> &'static [u8] {
    op.map_or(b"UNKNOWN", |op| {
        let token = op.token().as_bytes();
        token.get(3..).unwrap_or(token)
    })
}

fn action_name(deny: bool) -> &'static [u8] {
    if deny {
        b"DENY"
    } else {
        b"ALLOW"
    }
}

/// Appends ` rule="…"` exactly as upstream's `ipe_audit_match()`: the
/// matching rule with its properties, or the DEFAULT that applied.
///
/// # Safety
///
/// `ab` is an open audit record; `policy` is live; `decision` is readable.
#[no_mangle]
pub unsafe extern "C" fn ipe_rust_audit_rule(
    ab: *mut c_void,
    policy: *const KernelPolicy,
    op: u32,
    decision: *const CDecision,
) {
    // SAFETY: guaranteed by the caller.
    let (policy, decision) = unsafe { (policy_ref(policy).policy(), &*decision) };
    let audit = Audit(ab);
    let action = action_name(decision.deny);
    let rule = policy.rules().get(decision.rule);
    match (decision.matched, rule) {
        (0, Some(rule)) => {
            audit.text(b" rule=\"op=");
            audit.text(op_name(Some(rule.op())));
            audit.text(b" ");
            for property in policy.props(rule) {
                audit_property(&audit, property);
                audit.text(b" ");
            }
            audit.text(b"action=");
            audit.text(action_name(rule.action() == Action::Deny));
            audit.text(b"\"");
        }
        (1, _) => {
            audit.text(b" rule=\"DEFAULT op=");
            audit.text(op_name(op_of(op)));
            audit.text(b" action=");
            audit.text(action);
            audit.text(b"\"");
        }
        _ => {
            audit.text(b" rule=\"DEFAULT action=");
            audit.text(action);
            audit.text(b"\"");
        }
    }
}

fn audit_property(audit: &Audit, property: &Property<'_>) {
    let flag = |name: &[u8], value: bool| {
        audit.text(name);
        audit.text(if value { b"TRUE" } else { b"FALSE" });
    };
    match property {
        Property::BootVerified(value) => flag(b"boot_verified=", *value),
        Property::DmVeritySignature(value) => flag(b"dmverity_signature=", *value),
        Property::FsVeritySignature(value) => flag(b"fsverity_signature=", *value),
        Property::DmVerityRootHash(digest) | Property::FsVerityDigest(digest) => {
            audit.text(match property {
                Property::DmVerityRootHash(_) => b"dmverity_roothash=",
                _ => b"fsverity_digest=",
            });
            // ipe_digest_audit(): the algorithm as an untrusted string, then hex.
            audit.untrusted(digest.alg());
            audit.text(b":");
            audit.hex(digest.bytes());
        }
    }
}

#[cfg(CONFIG_SECURITY_IPE_RUST_KUNIT_TEST)]
fn all_vectors() -> impl Iterator<Item = &'static vectors::Case> {
    vectors::upstream::UPSTREAM_CASES
        .iter()
        .chain(vectors::targeted::TARGETED_CASES.iter())
}

/// How many golden vectors there are.
#[cfg(CONFIG_SECURITY_IPE_RUST_KUNIT_TEST)]
#[no_mangle]
pub extern "C" fn ipe_rust_vector_count() -> usize {
    all_vectors().count()
}

/// Vector `i`: its text, expected return (0 or `-errno`) and description.
///
/// # Safety
///
/// Every pointer is writable.
#[cfg(CONFIG_SECURITY_IPE_RUST_KUNIT_TEST)]
#[no_mangle]
pub unsafe extern "C" fn ipe_rust_vector(
    i: usize,
    text: *mut *const u8,
    len: *mut usize,
    errno_out: *mut c_int,
    why: *mut *const u8,
    why_len: *mut usize,
) {
    let case = all_vectors().nth(i);
    let (t, e, w): (&[u8], c_int, &str) = case.map_or((b"", 0, "none"), |c| (c.text, c.errno, c.why));
    // SAFETY: guaranteed by the caller.
    unsafe {
        *text = t.as_ptr();
        *len = t.len();
        *errno_out = e;
        *why = w.as_ptr();
        *why_len = w.len();
    }
}
