//! Golden vectors: upstream's KUnit cases and targeted error-path cases.

#[path = "../vectors/mod.rs"]
mod vectors;

use ipe_lsm::host::parse_host;
use ipe_lsm::{Errno, Reason};
use vectors::Case;

fn run(cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        let got = match parse_host(case.text) {
            Ok(_) => 0,
            Err(error) => error.errno().to_kernel(),
        };
        if got != case.errno {
            failures.push(format!("{}: expected {}, got {got}", case.why, case.errno));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn upstream_kunit_cases() {
    assert_eq!(vectors::upstream::UPSTREAM_CASES.len(), 33);
    run(vectors::upstream::UPSTREAM_CASES);
}

#[test]
fn targeted_cases() {
    assert!(vectors::targeted::TARGETED_CASES.len() >= 100);
    run(vectors::targeted::TARGETED_CASES);
}

#[test]
fn every_reason_is_exercised_by_a_vector() {
    use std::collections::HashSet;
    let seen: HashSet<String> = vectors::upstream::UPSTREAM_CASES
        .iter()
        .chain(vectors::targeted::TARGETED_CASES)
        .filter_map(|case| parse_host(case.text).err())
        .map(|error| format!("{:?}", error.reason))
        .collect();
    let all = [
        Reason::Empty,
        Reason::MissingHeader,
        Reason::HeaderTokenOutOfPlace,
        Reason::HeaderExtraToken,
        Reason::HeaderIncomplete,
        Reason::VersionTooFewParts,
        Reason::VersionTooManyParts,
        Reason::VersionNotNumber,
        Reason::VersionOutOfRange,
        Reason::UnknownOperation,
        Reason::UnknownProperty,
        Reason::DigestMissingAlgorithm,
        Reason::DigestBadHex,
        Reason::UnknownAction,
        Reason::RuleWithoutOperation,
        Reason::DefaultWithProperties,
        Reason::DuplicateGlobalDefault,
        Reason::DuplicateOpDefault,
        Reason::MissingDefault,
    ];
    let missing: Vec<_> = all
        .iter()
        .map(|reason| format!("{reason:?}"))
        .filter(|reason| !seen.contains(reason))
        .collect();
    assert!(missing.is_empty(), "reasons without a vector: {missing:?}");
}

#[test]
fn errors_carry_line_and_token() {
    let text = b"# header next\r\npolicy_name=t policy_version=0.0.0\r\nDEFAULT action=ALLOW\r\n\r\nop=EXECUTE fsverity_digest=sha256:abc action=ALLOW\n";
    let error = parse_host(text).unwrap_err();
    assert_eq!(error.errno(), Errno::EINVAL);
    assert_eq!(error.reason, Reason::DigestBadHex);
    assert_eq!(error.line, 5);
    assert_eq!(error.token, b"fsverity_digest=sha256:abc");

    let error =
        parse_host(b"policy_name=t policy_version=1.0.x\rDEFAULT action=ALLOW").unwrap_err();
    assert_eq!((error.errno(), error.line), (Errno::EINVAL, 1));
    assert_eq!(error.token, b"policy_version=1.0.x");

    let error =
        parse_host(b"policy_name=t policy_version=1.0.0\r\rDEFAULT action=ALLW").unwrap_err();
    assert_eq!((error.reason, error.line), (Reason::UnknownAction, 3));
    assert_eq!(error.token, b"action=ALLW");

    let error = parse_host(b"policy_name=t policy_version=1.0.0\n").unwrap_err();
    assert_eq!((error.reason, error.line), (Reason::MissingDefault, 0));
}

#[test]
fn accepted_policy_has_expected_content() {
    use ipe_lsm::{Action, Op, Property, Version};
    let text = b"policy_name=demo policy_version=1.2.3\n\
        DEFAULT action=DENY\n\
        DEFAULT op=KMODULE action=ALLOW\n\
        op=EXECUTE boot_verified=TRUE action=ALLOW\n\
        op=EXECUTE fsverity_digest=sha256:ABcd fsverity_signature=FALSE action=DENY\n";
    let policy = parse_host(text).unwrap();
    assert_eq!(policy.name(), b"demo");
    assert_eq!(
        policy.version(),
        Version {
            major: 1,
            minor: 2,
            revision: 3
        }
    );
    assert_eq!(policy.global_default(), Some(Action::Deny));
    assert_eq!(policy.op_default(Op::KernelModule), Some(Action::Allow));
    assert_eq!(policy.op_default(Op::Execute), None);
    let rules = policy.rules();
    assert_eq!(rules.len(), 2);
    assert_eq!(policy.props(&rules[0]), [Property::BootVerified(true)]);
    let [
        Property::FsVerityDigest(digest),
        Property::FsVeritySignature(false),
    ] = policy.props(&rules[1])
    else {
        panic!("unexpected properties {:?}", policy.props(&rules[1]));
    };
    assert_eq!(digest.alg(), b"sha256");
    assert_eq!(digest.bytes().collect::<Vec<_>>(), [0xab, 0xcd]);
    assert_eq!(rules[1].action(), Action::Deny);
}
