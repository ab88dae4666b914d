//! Parse throughput, and decision latency against rule count: upstream's
//! linear scan (`decide`) versus the digest index.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ipe_lsm::host::{parse_host, parse_indexed};
use ipe_lsm::{Config, FactDigest, Facts, Op, decide};

fn digest(i: usize) -> [u8; 32] {
    let mut digest = [0x5a_u8; 32];
    digest[24..].copy_from_slice(&(i as u64).to_be_bytes());
    digest
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A policy with `rules` fs-verity digest rules, plus a few flag rules as
/// real policies have.
fn policy_text(rules: usize) -> String {
    let mut text = String::from("policy_name=bench policy_version=1.0.0\nDEFAULT action=DENY\n");
    text += "op=KMODULE boot_verified=TRUE action=ALLOW\n";
    for i in 0..rules {
        text += &format!(
            "op=EXECUTE fsverity_digest=sha256:{} fsverity_signature=TRUE action=ALLOW\n",
            hex(&digest(i))
        );
    }
    text += "op=EXECUTE dmverity_signature=TRUE action=ALLOW\n";
    text
}

fn verity_file(digest: &[u8]) -> Facts {
    Facts {
        has_file: true,
        fs_verity_signed: true,
        fs_verity_digest: FactDigest::new(b"sha256", digest).unwrap(),
        ..Facts::NO_FILE
    }
}

fn parse_throughput(c: &mut Criterion) {
    let text = policy_text(10_000);
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("10k_rules", |b| {
        b.iter(|| parse_host(black_box(text.as_bytes())).unwrap())
    });
    group.bench_function("10k_rules_indexed", |b| {
        b.iter(|| parse_indexed(black_box(text.as_bytes())).unwrap())
    });
    group.finish();
}

fn decision_latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide");
    for rules in [10_usize, 1_000, 10_000, 100_000] {
        let text = policy_text(rules);
        let linear = parse_host(text.as_bytes()).unwrap();
        let indexed = parse_indexed(text.as_bytes()).unwrap();
        // The last digest rule is the linear scan's worst hit; an unknown
        // digest scans everything and falls through to the last rule.
        let hit = verity_file(&digest(rules - 1));
        let miss = verity_file(&[0x11; 32]);
        for (case, facts) in [("hit_last", &hit), ("miss", &miss)] {
            group.bench_with_input(
                BenchmarkId::new(format!("linear_{case}"), rules),
                facts,
                |b, facts| {
                    b.iter(|| decide(&linear, Some(Op::Execute), black_box(facts), &Config::ALL))
                },
            );
            group.bench_with_input(
                BenchmarkId::new(format!("indexed_{case}"), rules),
                facts,
                |b, facts| {
                    b.iter(|| indexed.decide(Some(Op::Execute), black_box(facts), &Config::ALL))
                },
            );
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = parse_throughput, decision_latency
}
criterion_main!(benches);
