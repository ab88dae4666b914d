//! ipe-lsm's decisions against upstream's `eval.c`. `IPE_ORACLE_CASES` sets
//! how many random events to try (CI default below); the long run is
//! `ipe-differential eval` (see the ipe-lsm README).

use ipe_lsm::{Config, FactDigest, Facts, Op};
use ipe_lsm_oracle::decide::{self, Pair};
use ipe_lsm_oracle::run::Collect;
use ipe_lsm_oracle::scenario::{CONFIGS, Event};
use ipe_lsm_oracle::upstream::{Matched, Policy, Verdict};

const DEFAULT_CASES: u64 = 50_000;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const DIGEST: [u8; 32] = [0xab; 32];

fn policy(rules: &str) -> Policy {
    let text = format!("policy_name=t policy_version=0.0.0\nDEFAULT action=ALLOW\n{rules}");
    Policy::new(text.as_bytes()).unwrap()
}

fn file() -> Facts {
    Facts {
        has_file: true,
        ..Facts::NO_FILE
    }
}

const ALLOWED: Verdict = Verdict {
    rc: 0,
    deny: false,
    matched: Matched::Global,
};

fn rule(op: u8, index: usize) -> Verdict {
    Verdict {
        rc: -13,
        deny: true,
        matched: Matched::Rule { op, index },
    }
}

#[test]
fn upstream_harness_reports_the_matched_rule() {
    let upstream = policy(
        "op=KMODULE action=DENY\n\
         op=EXECUTE boot_verified=TRUE action=DENY\n\
         op=EXECUTE fsverity_digest=sha256:abababababababababababababababababababababababababababababababab action=DENY\n\
         op=EXECUTE dmverity_roothash=sha256:ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB action=DENY\n",
    );
    let exec = Some(Op::Execute);
    let dm_verity = Facts {
        has_bdev: true,
        dm_verity_root_hash: FactDigest::new(b"sha256", &DIGEST).unwrap(),
        ..file()
    };
    assert_eq!(upstream.decide(exec, &dm_verity, &Config::ALL), rule(0, 2));
    let verity = Facts {
        fs_verity_digest: FactDigest::new(b"sha256", &DIGEST).unwrap(),
        ..file()
    };
    assert_eq!(upstream.decide(exec, &verity, &Config::ALL), rule(0, 1));
    let initramfs = Facts {
        initramfs: true,
        ..verity
    };
    assert_eq!(upstream.decide(exec, &initramfs, &Config::ALL), rule(0, 0));
    assert_eq!(
        upstream.decide(Some(Op::KernelModule), &Facts::NO_FILE, &Config::ALL),
        rule(2, 0)
    );
    let allowed = upstream.decide(exec, &file(), &Config::ALL);
    assert_eq!((allowed.rc, allowed.matched), (0, Matched::Global));
}

#[test]
fn each_upstream_build_compiles_its_providers_in_or_out() {
    let text = "policy_name=t policy_version=0.0.0\nDEFAULT action=ALLOW\n\
        op=EXECUTE dmverity_signature=FALSE action=DENY\n\
        op=EXECUTE fsverity_signature=FALSE action=DENY\n\
        op=EXECUTE fsverity_digest=sha256:abababababababababababababababababababababababababababababababab action=DENY\n";
    let pair = Pair::new(text.as_bytes()).unwrap();
    let facts = Facts {
        fs_verity_digest: FactDigest::new(b"sha256", &DIGEST).unwrap(),
        ..file()
    };
    for config in CONFIGS {
        // A compiled-out property never matches, whatever its value.
        let expected = if config.dm_verity_signature {
            rule(0, 0)
        } else if config.fs_verity_builtin_sig {
            rule(0, 1)
        } else if config.fs_verity {
            rule(0, 2)
        } else {
            ALLOWED
        };
        let event = Event {
            op: Some(Op::Execute),
            facts,
            config,
        };
        assert_eq!(pair.verdicts(&event), [expected; 3], "{config:?}");
    }
}

#[test]
fn unknown_op_without_global_default_is_allowed_as_upstream_warns() {
    let defaults: String = Op::ALL
        .iter()
        .map(|op| format!("DEFAULT {} action=DENY\n", op.token()))
        .collect();
    let text = format!("policy_name=t policy_version=0.0.0\n{defaults}");
    let pair = Pair::new(text.as_bytes()).unwrap();
    let event = Event {
        op: None,
        facts: file(),
        config: Config::ALL,
    };
    assert_eq!(pair.verdicts(&event), [ALLOWED; 3]);
}

#[test]
fn random_events_decide_as_upstream() {
    let cases = env_u64("IPE_ORACLE_CASES", DEFAULT_CASES);
    let seed = env_u64("IPE_ORACLE_SEED", 0x1BE_E7A1);
    let mut divergences = Collect::new(10);
    let tally = decide::run(seed, cases, &mut divergences);
    eprintln!("oracle: {cases} events (seed {seed:#x}), {tally:?}");
    assert!(
        divergences.found.is_empty(),
        "{}",
        divergences.found.join("\n\n")
    );
    assert_eq!(tally.tried, cases);
    // Rules must decide often, or the comparison is mostly of defaults.
    assert!(tally.positive * 5 > cases, "{tally:?}");
}
