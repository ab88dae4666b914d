//! The decision benchmark: upstream's evaluator (`ipe_build_eval_ctx()` +
//! `ipe_evaluate_event()`, C at the kernel's -O2) versus ipe-lsm's linear
//! `decide` and `IndexedPolicy::decide`, on the same policies and facts.
//! Every case is checked for identical verdicts before it is timed.

use std::fmt::Write;
use std::hint::black_box;
use std::time::{Duration, Instant};

use ipe_lsm::{Config, FactDigest, Facts, Op, decide};

use crate::decide::Pair;

/// Policy sizes, in rules.
pub const SIZES: [usize; 3] = [10, 1_000, 10_000];

/// The digests of the real rules; fillers count up from a different prefix.
const ROOTFS: [u8; 32] = [0x5e; 32];
const APP: [u8; 32] = [0xa9; 32];

fn filler(i: usize) -> [u8; 32] {
    let mut digest = [0x11_u8; 32];
    digest[24..].copy_from_slice(&(i as u64).to_be_bytes());
    digest
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

/// `rules` rules: dm-verity and fs-verity digest rules that the benchmark's
/// files never match, then an appliance's real rules (initramfs, the signed
/// root filesystem, one signed fs-verity binary) last.
pub fn policy_text(rules: usize) -> String {
    let mut text = String::from("policy_name=bench policy_version=1.0.0\nDEFAULT action=DENY\n");
    for i in 0..rules.saturating_sub(3) {
        let key = if i % 2 == 0 {
            "dmverity_roothash"
        } else {
            "fsverity_digest"
        };
        let _ = writeln!(
            text,
            "op=EXECUTE {key}=sha256:{} action=ALLOW",
            hex(&filler(i))
        );
    }
    text += "op=EXECUTE boot_verified=TRUE action=ALLOW\n";
    let _ = writeln!(
        text,
        "op=EXECUTE dmverity_roothash=sha256:{} dmverity_signature=TRUE action=ALLOW",
        hex(&ROOTFS)
    );
    let _ = writeln!(
        text,
        "op=EXECUTE fsverity_digest=sha256:{} fsverity_signature=TRUE action=ALLOW",
        hex(&APP)
    );
    text
}

/// A signed fs-verity file with digest `digest` on a signed dm-verity
/// device the policy does not name.
fn file(digest: &[u8]) -> Facts {
    let sha256 = |bytes: &[u8]| FactDigest::new(b"sha256", bytes).unwrap_or(FactDigest::ABSENT);
    Facts {
        has_file: true,
        initramfs: false,
        has_bdev: true,
        dm_verity_signed: true,
        dm_verity_root_hash: sha256(&[0x77; 32]),
        fs_verity_signed: true,
        fs_verity_digest: sha256(digest),
    }
}

/// The files: one the last rule allows, one no rule matches (DEFAULT DENY).
pub fn cases() -> [(&'static str, Facts); 2] {
    [("last rule", file(&APP)), ("no match", file(&[0x33; 32]))]
}

/// Nanoseconds per call of `run(n)` (which makes `n` calls): iterations
/// calibrated to at least `sample` per run, best of seven runs.
fn ns_per_call(sample: Duration, mut run: impl FnMut(u64)) -> f64 {
    let mut iterations = 1_u64;
    loop {
        let started = Instant::now();
        run(iterations);
        if started.elapsed() >= sample || iterations >= 1 << 40 {
            break;
        }
        iterations *= 2;
    }
    (0..7)
        .map(|_| {
            let started = Instant::now();
            run(iterations);
            started.elapsed().as_nanos() as f64 / iterations as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// One line of the table.
#[derive(Clone, Debug)]
pub struct Row {
    pub rules: usize,
    pub case: &'static str,
    pub upstream_ns: f64,
    pub linear_ns: f64,
    pub indexed_ns: f64,
}

/// Times every size and case; `Err` if the three verdicts differ anywhere.
pub fn measure(sample: Duration) -> Result<Vec<Row>, String> {
    let op = Some(Op::Execute);
    let config = Config::ALL;
    let mut rows = Vec::new();
    for rules in SIZES {
        let text = policy_text(rules);
        let pair = Pair::new(text.as_bytes())?;
        let linear = pair.ours.policy();
        for (case, facts) in cases() {
            let event = crate::scenario::Event { op, facts, config };
            let [theirs, mine, indexed] = pair.verdicts(&event);
            if theirs != mine || theirs != indexed {
                return Err(format!(
                    "{rules} rules, {case}: upstream {theirs:?}, linear {mine:?}, indexed {indexed:?}"
                ));
            }
            let upstream_ns = ns_per_call(sample, |n| {
                black_box(pair.upstream.repeat(op, &facts, &config, n));
            });
            let linear_ns = ns_per_call(sample, |n| {
                for _ in 0..n {
                    black_box(decide(linear, black_box(op), black_box(&facts), &config));
                }
            });
            let indexed_ns = ns_per_call(sample, |n| {
                for _ in 0..n {
                    black_box(pair.ours.decide(black_box(op), black_box(&facts), &config));
                }
            });
            rows.push(Row {
                rules,
                case,
                upstream_ns,
                linear_ns,
                indexed_ns,
            });
        }
    }
    Ok(rows)
}

/// The rows as a Markdown table; ratios are upstream's time over ours
/// (above 1: ipe-lsm is faster).
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| rules | file | upstream C ns | linear ns | indexed ns | C / linear | C / indexed |\n\
         | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} |",
            row.rules,
            row.case,
            row.upstream_ns,
            row.linear_ns,
            row.indexed_ns,
            row.upstream_ns / row.linear_ns,
            row.upstream_ns / row.indexed_ns
        );
    }
    out
}
