//! Evaluator semantics, property by property, as `eval.c` in Linux 6.12.

use ipe_lsm::host::parse_host;
use ipe_lsm::{Action, Config, Decision, FactDigest, Facts, Op, Source, decide};

const DIGEST: [u8; 4] = [0xde, 0xad, 0xbe, 0xef];

fn file() -> Facts {
    Facts {
        has_file: true,
        ..Facts::NO_FILE
    }
}

fn verity_file(signed: bool) -> Facts {
    Facts {
        fs_verity_digest: FactDigest::new(b"sha256", &DIGEST).unwrap(),
        fs_verity_signed: signed,
        ..file()
    }
}

fn dm_verity_file(signed: bool) -> Facts {
    Facts {
        has_bdev: true,
        dm_verity_signed: signed,
        dm_verity_root_hash: FactDigest::new(b"sha256", &DIGEST).unwrap(),
        ..file()
    }
}

/// Whether a one-rule policy `op=EXECUTE <props> action=DENY` (default
/// ALLOW) matches `facts`.
fn matches(props: &str, facts: &Facts, config: &Config) -> bool {
    let text = format!(
        "policy_name=t policy_version=0.0.0\nDEFAULT action=ALLOW\nop=EXECUTE {props} action=DENY\n"
    );
    let policy = parse_host(text.as_bytes()).unwrap();
    decide(&policy, Some(Op::Execute), facts, config).action == Action::Deny
}

const ALL: Config = Config::ALL;
const NONE: Config = Config {
    dm_verity: false,
    dm_verity_signature: false,
    fs_verity: false,
    fs_verity_builtin_sig: false,
};

#[test]
fn boot_verified_reads_the_superblock_and_is_false_without_a_file() {
    let initramfs = Facts {
        initramfs: true,
        ..file()
    };
    assert!(matches("boot_verified=TRUE", &initramfs, &NONE));
    assert!(!matches("boot_verified=FALSE", &initramfs, &NONE));
    assert!(matches("boot_verified=FALSE", &file(), &ALL));
    assert!(matches("boot_verified=FALSE", &Facts::NO_FILE, &ALL));
    let stale = Facts {
        initramfs: true,
        ..Facts::NO_FILE
    };
    assert!(!matches("boot_verified=TRUE", &stale, &ALL));
}

#[test]
fn dmverity_roothash_compares_algorithm_length_and_bytes() {
    let facts = dm_verity_file(false);
    assert!(matches("dmverity_roothash=sha256:DEADbeef", &facts, &ALL));
    assert!(!matches("dmverity_roothash=SHA256:deadbeef", &facts, &ALL));
    assert!(!matches("dmverity_roothash=sha256:deadbe", &facts, &ALL));
    assert!(!matches(
        "dmverity_roothash=sha256:deadbeef00",
        &facts,
        &ALL
    ));
    assert!(!matches("dmverity_roothash=sha256:deadbeee", &facts, &ALL));
    assert!(!matches("fsverity_digest=sha256:deadbeef", &facts, &ALL));
    let compiled_out = Config {
        dm_verity: false,
        ..ALL
    };
    assert!(!matches(
        "dmverity_roothash=sha256:deadbeef",
        &facts,
        &compiled_out
    ));
    let no_bdev = Facts {
        has_bdev: false,
        ..facts
    };
    assert!(!matches(
        "dmverity_roothash=sha256:deadbeef",
        &no_bdev,
        &ALL
    ));
    assert!(!matches(
        "dmverity_roothash=sha256:deadbeef",
        &Facts::NO_FILE,
        &ALL
    ));
}

#[test]
fn dmverity_signature_false_holds_without_a_bdev_and_both_fail_when_compiled_out() {
    assert!(matches(
        "dmverity_signature=TRUE",
        &dm_verity_file(true),
        &ALL
    ));
    assert!(!matches(
        "dmverity_signature=FALSE",
        &dm_verity_file(true),
        &ALL
    ));
    assert!(matches(
        "dmverity_signature=FALSE",
        &dm_verity_file(false),
        &ALL
    ));
    assert!(matches("dmverity_signature=FALSE", &file(), &ALL));
    assert!(matches("dmverity_signature=FALSE", &Facts::NO_FILE, &ALL));
    let compiled_out = Config {
        dm_verity_signature: false,
        ..ALL
    };
    assert!(!matches(
        "dmverity_signature=TRUE",
        &dm_verity_file(true),
        &compiled_out
    ));
    assert!(!matches("dmverity_signature=FALSE", &file(), &compiled_out));
}

#[test]
fn fsverity_digest_needs_a_verity_inode() {
    assert!(matches(
        "fsverity_digest=sha256:deadbeef",
        &verity_file(false),
        &ALL
    ));
    assert!(!matches(
        "fsverity_digest=sha512:deadbeef",
        &verity_file(false),
        &ALL
    ));
    assert!(!matches("fsverity_digest=sha256:deadbeef", &file(), &ALL));
    assert!(!matches(
        "fsverity_digest=sha256:deadbeef",
        &Facts::NO_FILE,
        &ALL
    ));
    let compiled_out = Config {
        fs_verity: false,
        ..ALL
    };
    assert!(!matches(
        "fsverity_digest=sha256:deadbeef",
        &verity_file(false),
        &compiled_out
    ));
}

#[test]
fn fsverity_signature_semantics() {
    assert!(matches("fsverity_signature=TRUE", &verity_file(true), &ALL));
    assert!(matches(
        "fsverity_signature=FALSE",
        &verity_file(false),
        &ALL
    ));
    // A stale "signed" flag on a non-verity file does not count.
    let not_verity = Facts {
        fs_verity_signed: true,
        ..file()
    };
    assert!(matches("fsverity_signature=FALSE", &not_verity, &ALL));
    assert!(matches("fsverity_signature=FALSE", &Facts::NO_FILE, &ALL));
    let compiled_out = Config {
        fs_verity_builtin_sig: false,
        ..ALL
    };
    assert!(!matches(
        "fsverity_signature=TRUE",
        &verity_file(true),
        &compiled_out
    ));
    assert!(!matches(
        "fsverity_signature=FALSE",
        &Facts::NO_FILE,
        &compiled_out
    ));
}

#[test]
fn all_properties_of_a_rule_must_hold() {
    let facts = verity_file(true);
    assert!(matches(
        "fsverity_digest=sha256:deadbeef fsverity_signature=TRUE",
        &facts,
        &ALL
    ));
    assert!(!matches(
        "fsverity_digest=sha256:deadbeef fsverity_signature=FALSE",
        &facts,
        &ALL
    ));
    assert!(!matches(
        "boot_verified=TRUE boot_verified=FALSE",
        &facts,
        &ALL
    ));
}

#[test]
fn first_match_then_op_default_then_global_default() {
    let text = b"policy_name=t policy_version=0.0.0\n\
        DEFAULT action=DENY\n\
        DEFAULT op=KMODULE action=ALLOW\n\
        op=EXECUTE boot_verified=TRUE action=ALLOW\n\
        op=KMODULE action=DENY\n\
        op=EXECUTE action=DENY\n\
        op=EXECUTE action=ALLOW\n";
    let policy = parse_host(text).unwrap();
    let initramfs = Facts {
        initramfs: true,
        ..file()
    };
    let rule = |position, action| Decision {
        action,
        source: Source::Rule(position),
    };
    assert_eq!(
        decide(&policy, Some(Op::Execute), &initramfs, &ALL),
        rule(0, Action::Allow)
    );
    assert_eq!(
        decide(&policy, Some(Op::Execute), &file(), &ALL),
        rule(2, Action::Deny)
    );
    assert_eq!(
        decide(&policy, Some(Op::KernelModule), &file(), &ALL),
        rule(1, Action::Deny)
    );
    assert_eq!(
        decide(&policy, Some(Op::Firmware), &file(), &ALL),
        Decision {
            action: Action::Deny,
            source: Source::Global
        }
    );
    assert_eq!(
        decide(&policy, None, &file(), &ALL),
        Decision {
            action: Action::Deny,
            source: Source::Global
        }
    );

    let only_op_defaults = parse_host(
        b"policy_name=t policy_version=0.0.0\n\
        DEFAULT op=EXECUTE action=DENY\nDEFAULT op=FIRMWARE action=DENY\nDEFAULT op=KMODULE action=DENY\n\
        DEFAULT op=KEXEC_IMAGE action=DENY\nDEFAULT op=KEXEC_INITRAMFS action=DENY\n\
        DEFAULT op=POLICY action=DENY\nDEFAULT op=X509_CERT action=ALLOW\n",
    )
    .unwrap();
    assert_eq!(
        decide(&only_op_defaults, Some(Op::X509Cert), &file(), &ALL),
        Decision {
            action: Action::Allow,
            source: Source::OpDefault
        }
    );
    // Unknown op without a global DEFAULT: upstream warns and allows.
    assert_eq!(
        decide(&only_op_defaults, None, &file(), &ALL),
        Decision {
            action: Action::Allow,
            source: Source::Global
        }
    );
}

#[test]
fn fact_digest_rejects_oversized_values() {
    assert!(FactDigest::new(&[b'a'; 129], &DIGEST).is_none());
    assert!(FactDigest::new(b"sha256", &[0; 65]).is_none());
    assert_eq!(FactDigest::ABSENT.get(), None);
    let corrupt = FactDigest {
        alg_len: 200,
        ..FactDigest::new(b"sha256", &DIGEST).unwrap()
    };
    assert_eq!(corrupt.get(), None);
}
