//! The digest index decides exactly as the linear scan, on random policies
//! and facts drawn from a small digest pool so that collisions happen.

use ipe_lsm::host::{parse_host, parse_indexed};
use ipe_lsm::{Config, FactDigest, Facts, Op, decide};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ALGS: [&str; 3] = ["sha256", "sha512", "SHA256"];
const HEXES: [&str; 5] = ["00", "aabb", "AABB", "aabbcc", ""];

fn random_digest(rng: &mut StdRng) -> (usize, usize) {
    (rng.gen_range(0..ALGS.len()), rng.gen_range(0..HEXES.len()))
}

fn digest_text((alg, hex): (usize, usize)) -> String {
    format!("{}:{}", ALGS[alg], HEXES[hex])
}

fn fact_digest(rng: &mut StdRng) -> FactDigest {
    if rng.gen_bool(0.2) {
        return FactDigest::ABSENT;
    }
    let (alg, hex) = random_digest(rng);
    let bytes: Vec<u8> = (0..HEXES[hex].len() / 2)
        .map(|i| u8::from_str_radix(&HEXES[hex][2 * i..2 * i + 2], 16).unwrap())
        .collect();
    FactDigest::new(ALGS[alg].as_bytes(), &bytes).unwrap()
}

fn random_policy(rng: &mut StdRng) -> String {
    let mut text = String::from("policy_name=r policy_version=0.0.0\n");
    let ops: Vec<_> = Op::ALL.iter().map(|op| op.token()).collect();
    if rng.gen_bool(0.7) {
        text += "DEFAULT action=DENY\n";
    } else {
        for op in &ops {
            text += &format!("DEFAULT {op} action=ALLOW\n");
        }
    }
    for _ in 0..rng.gen_range(0..40) {
        text += ops[rng.gen_range(0..3)];
        for _ in 0..rng.gen_range(0..4) {
            text += match rng.gen_range(0..7) {
                0 => " boot_verified=TRUE".to_string(),
                1 => " boot_verified=FALSE".to_string(),
                2 => format!(
                    " dmverity_signature={}",
                    if rng.r#gen() { "TRUE" } else { "FALSE" }
                ),
                3 => format!(
                    " fsverity_signature={}",
                    if rng.r#gen() { "TRUE" } else { "FALSE" }
                ),
                4 => format!(" dmverity_roothash={}", digest_text(random_digest(rng))),
                _ => format!(" fsverity_digest={}", digest_text(random_digest(rng))),
            }
            .as_str();
        }
        text += if rng.r#gen() {
            " action=ALLOW\n"
        } else {
            " action=DENY\n"
        };
    }
    text
}

fn random_facts(rng: &mut StdRng) -> Facts {
    Facts {
        has_file: rng.gen_bool(0.9),
        initramfs: rng.r#gen(),
        has_bdev: rng.r#gen(),
        dm_verity_signed: rng.r#gen(),
        dm_verity_root_hash: fact_digest(rng),
        fs_verity_signed: rng.r#gen(),
        fs_verity_digest: fact_digest(rng),
    }
}

fn random_config(rng: &mut StdRng) -> Config {
    Config {
        dm_verity: rng.gen_bool(0.8),
        dm_verity_signature: rng.gen_bool(0.8),
        fs_verity: rng.gen_bool(0.8),
        fs_verity_builtin_sig: rng.gen_bool(0.8),
    }
}

#[test]
fn indexed_decisions_equal_linear_decisions() {
    let mut rng = StdRng::seed_from_u64(0x1de_c15);
    let mut decisions = 0;
    for _ in 0..2_000 {
        let text = random_policy(&mut rng);
        let linear = parse_host(text.as_bytes()).unwrap();
        let indexed = parse_indexed(text.as_bytes()).unwrap();
        for _ in 0..40 {
            let facts = random_facts(&mut rng);
            let config = random_config(&mut rng);
            let op = [
                None,
                Some(Op::Execute),
                Some(Op::Firmware),
                Some(Op::KernelModule),
                Some(Op::X509Cert),
            ][rng.gen_range(0..5)];
            assert_eq!(
                indexed.decide(op, &facts, &config),
                decide(&linear, op, &facts, &config),
                "policy:\n{text}\nop {op:?} facts {facts:?} config {config:?}"
            );
            decisions += 1;
        }
    }
    assert_eq!(decisions, 80_000);
}

#[test]
fn large_policy_index_finds_the_first_of_duplicate_digests() {
    let mut text = String::from("policy_name=big policy_version=0.0.0\nDEFAULT action=DENY\n");
    for i in 0..10_000_u32 {
        text += &format!("op=EXECUTE fsverity_digest=sha256:{i:064x} action=ALLOW\n");
    }
    text += &format!(
        "op=EXECUTE fsverity_digest=sha256:{:064x} action=DENY\n",
        77
    );
    let indexed = parse_indexed(text.as_bytes()).unwrap();
    let linear = parse_host(text.as_bytes()).unwrap();
    for i in [0_u32, 77, 9_999, 10_000] {
        let mut digest = [0_u8; 32];
        digest[28..].copy_from_slice(&i.to_be_bytes());
        let facts = Facts {
            has_file: true,
            fs_verity_digest: FactDigest::new(b"sha256", &digest).unwrap(),
            ..Facts::NO_FILE
        };
        assert_eq!(
            indexed.decide(Some(Op::Execute), &facts, &Config::ALL),
            decide(&linear, Some(Op::Execute), &facts, &Config::ALL)
        );
    }
}
