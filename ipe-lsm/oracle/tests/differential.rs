//! ipe-lsm against upstream's C parser. `IPE_ORACLE_INPUTS` sets how many
//! generated inputs to try (CI default below), `IPE_ORACLE_SEED` the stream;
//! the long run is `ipe-differential parse` (see the ipe-lsm README).

#[path = "../../vectors/mod.rs"]
mod vectors;

use ipe_lsm_oracle::parse::{self, Outcome, diverges, theirs};
use ipe_lsm_oracle::run::Collect;

const DEFAULT_INPUTS: u64 = 100_000;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn golden_vectors_match_upstream_and_expected_errno() {
    let cases = vectors::upstream::UPSTREAM_CASES
        .iter()
        .chain(vectors::targeted::TARGETED_CASES);
    let mut failures = Vec::new();
    for case in cases {
        let errno = match theirs(case.text) {
            Outcome::Accepted(_) => 0,
            Outcome::Rejected(errno) => errno,
        };
        if errno != case.errno {
            failures.push(format!(
                "{}: table says {}, upstream says {errno}",
                case.why, case.errno
            ));
        }
        if let Some((theirs, mine)) = diverges(case.text) {
            failures.push(format!("{}: upstream {theirs:?}, ours {mine:?}", case.why));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn generated_inputs_agree_with_upstream() {
    let count = env_u64("IPE_ORACLE_INPUTS", DEFAULT_INPUTS);
    let seed = env_u64("IPE_ORACLE_SEED", 0x1BE_2024);
    let started = std::time::Instant::now();
    let mut divergences = Collect::new(20);
    let tally = parse::run(seed, count, &mut divergences);
    eprintln!(
        "oracle: {} inputs (seed {seed:#x}), {} accepted, {} divergences, {:.1?}",
        tally.tried,
        tally.positive,
        tally.divergences,
        started.elapsed()
    );
    assert!(
        divergences.found.is_empty(),
        "{}",
        divergences.found.join("\n")
    );
    assert_eq!(tally.tried, count);
    // A generator that stopped producing valid policies would test little.
    assert!(tally.positive * 10 > count, "{tally:?}");
}

#[test]
fn canonical_form_carries_the_parsed_policy() {
    let text = b"policy_name=a policy_version=1.2.3\nDEFAULT action=ALLOW\nDEFAULT op=KMODULE action=DENY\n\
        op=EXECUTE fsverity_digest=sha256:AB boot_verified=FALSE action=DENY\n";
    let expected = "N:61\nV:1.2.3\nG:0\nO0:2\nR0:1 P5:736861323536:ab P0\nO1:2\nO2:1\nO3:2\nO4:2\nO5:2\nO6:2\n";
    assert_eq!(theirs(text), Outcome::Accepted(expected.to_string()));
    assert_eq!(parse::ours(text), Outcome::Accepted(expected.to_string()));
}
