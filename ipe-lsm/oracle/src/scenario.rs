//! Random policies and events for the decision oracle. Policy digests and
//! file facts come from one small pool, so rules match often, and the pool
//! has near misses: another algorithm name, its case, a shorter digest.

use std::fmt::Write;

use ipe_lsm::{Config, FactDigest, Facts, Op};

use crate::generate::Rng;

/// A digest as the pool holds it.
#[derive(Clone, Copy)]
struct Entry {
    alg: &'static str,
    /// Byte `i` of the digest is `seed.wrapping_add(i)`.
    seed: u8,
    len: usize,
}

impl Entry {
    fn bytes(self) -> Vec<u8> {
        (0..self.len)
            .map(|i| self.seed.wrapping_add(i as u8))
            .collect()
    }
}

/// The first five are digests fs-verity can report (a kernel hash algorithm
/// at its size); dm-verity root hashes may be any of them.
const POOL: [Entry; 10] = [
    Entry {
        alg: "sha256",
        seed: 0xa0,
        len: 32,
    },
    Entry {
        alg: "sha256",
        seed: 0x10,
        len: 32,
    },
    Entry {
        alg: "sha512",
        seed: 0xa0,
        len: 64,
    },
    Entry {
        alg: "sha3-256",
        seed: 0xa0,
        len: 32,
    },
    Entry {
        alg: "md5",
        seed: 0xa0,
        len: 16,
    },
    Entry {
        alg: "SHA256",
        seed: 0xa0,
        len: 32,
    },
    Entry {
        alg: "sha256",
        seed: 0xa0,
        len: 16,
    },
    Entry {
        alg: "sha256",
        seed: 0,
        len: 0,
    },
    Entry {
        alg: "",
        seed: 0xa0,
        len: 2,
    },
    Entry {
        alg: "sha512",
        seed: 0xa0,
        len: 32,
    },
];
const FS_VERITY_CAPABLE: usize = 5;

/// The valid `CONFIG_IPE_PROP_*` combinations (a signature switch needs its
/// base switch); build.rs compiles eval.c for each.
pub const CONFIGS: [Config; 9] = {
    let mut configs = [Config::ALL; 9];
    let mut i = 0;
    while i < 9 {
        let (dm, fs) = (i / 3, i % 3);
        configs[i] = Config {
            dm_verity: dm > 0,
            dm_verity_signature: dm > 1,
            fs_verity: fs > 0,
            fs_verity_builtin_sig: fs > 1,
        };
        i += 1;
    }
    configs
};

fn flag(rng: &mut Rng) -> &'static str {
    if rng.one_in(2) { "TRUE" } else { "FALSE" }
}

fn action(rng: &mut Rng) -> &'static str {
    if rng.one_in(2) {
        "action=ALLOW"
    } else {
        "action=DENY"
    }
}

/// A policy digest: mostly from the pool, in either hex case.
fn digest(rng: &mut Rng, out: &mut String) {
    let entry = if rng.one_in(8) {
        Entry {
            alg: "sha256",
            seed: rng.next_u64() as u8,
            len: 32,
        }
    } else {
        *rng.pick(&POOL)
    };
    let upper = rng.one_in(4);
    let _ = write!(out, "{}:", entry.alg);
    for byte in entry.bytes() {
        let _ = if upper {
            write!(out, "{byte:02X}")
        } else {
            write!(out, "{byte:02x}")
        };
    }
}

fn property(rng: &mut Rng, out: &mut String) {
    out.push(' ');
    match rng.below(8) {
        0 | 1 => {
            out.push_str("dmverity_roothash=");
            digest(rng, out);
        }
        2 | 3 => {
            out.push_str("fsverity_digest=");
            digest(rng, out);
        }
        4 => out.push_str(&format!("boot_verified={}", flag(rng))),
        5 => out.push_str(&format!("dmverity_signature={}", flag(rng))),
        _ => out.push_str(&format!("fsverity_signature={}", flag(rng))),
    }
}

/// A valid policy: header, DEFAULTs (global, per op, or both), then rules
/// of every op with zero to three properties.
pub fn policy(rng: &mut Rng) -> String {
    let mut text = String::from("policy_name=oracle policy_version=0.0.1\n");
    let global = !rng.one_in(3);
    if global {
        let _ = writeln!(text, "DEFAULT {}", action(rng));
    }
    for op in Op::ALL {
        if !global || rng.one_in(3) {
            let _ = writeln!(text, "DEFAULT {} {}", op.token(), action(rng));
        }
    }
    let rules = if rng.one_in(10) {
        rng.below(200)
    } else {
        rng.below(24)
    };
    for _ in 0..rules {
        text.push_str(rng.pick(&Op::ALL).token());
        for _ in 0..rng.below(4) {
            property(rng, &mut text);
        }
        let _ = writeln!(text, " {}", action(rng));
    }
    text
}

/// A file digest fact: from the pool (fs-verity only what it can report),
/// sometimes a digest no policy names.
fn fact(rng: &mut Rng, fs_verity: bool) -> FactDigest {
    if rng.one_in(4) {
        return FactDigest::ABSENT;
    }
    let entry = if rng.one_in(8) {
        Entry {
            alg: "sha256",
            seed: rng.next_u64() as u8,
            len: 32,
        }
    } else if fs_verity {
        POOL[rng.below(FS_VERITY_CAPABLE)]
    } else {
        *rng.pick(&POOL)
    };
    FactDigest::new(entry.alg.as_bytes(), &entry.bytes()).unwrap_or(FactDigest::ABSENT)
}

/// One event: its op (sometimes unknown), its file and the kernel's config.
#[derive(Clone, Copy, Debug)]
pub struct Event {
    pub op: Option<Op>,
    pub facts: Facts,
    pub config: Config,
}

pub fn event(rng: &mut Rng) -> Event {
    let op = if rng.one_in(16) {
        None
    } else {
        Some(*rng.pick(&Op::ALL))
    };
    let facts = Facts {
        has_file: !rng.one_in(8),
        initramfs: rng.one_in(2),
        has_bdev: !rng.one_in(4),
        dm_verity_signed: rng.one_in(2),
        dm_verity_root_hash: fact(rng, false),
        fs_verity_signed: rng.one_in(2),
        fs_verity_digest: fact(rng, true),
    };
    let config = if rng.one_in(2) {
        Config::ALL
    } else {
        *rng.pick(&CONFIGS)
    };
    Event { op, facts, config }
}
