//! Deterministic input generator: grammar-shaped policies built from a
//! vocabulary of valid tokens and near misses, then byte-level mutations.

/// SplitMix64: tiny, fast, and reproducible from a seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `1/n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const OPS: &[&[u8]] = &[
    b"op=EXECUTE",
    b"op=FIRMWARE",
    b"op=KMODULE",
    b"op=KEXEC_IMAGE",
    b"op=KEXEC_INITRAMFS",
    b"op=POLICY",
    b"op=X509_CERT",
    b"op=execute",
    b"op=",
    b"op",
    b"op=EXECUTEX",
    b"DEFAULT",
];
const ACTIONS: &[&[u8]] = &[
    b"action=ALLOW",
    b"action=DENY",
    b"action=",
    b"action=allow",
    b"action",
    b"action=DENYY",
];
const FLAGS: &[&[u8]] = &[
    b"boot_verified=TRUE",
    b"boot_verified=FALSE",
    b"dmverity_signature=TRUE",
    b"dmverity_signature=FALSE",
    b"fsverity_signature=TRUE",
    b"fsverity_signature=FALSE",
    b"boot_verified=true",
    b"boot_verified=",
    b"fsverity_signature",
    b"dmverity_signature=1",
];
const DIGEST_KEYS: &[&[u8]] = &[
    b"fsverity_digest=",
    b"dmverity_roothash=",
    b"fsverity_digests=",
    b"dmverity_roothash",
];
const ALGS: &[&[u8]] = &[
    b"sha256", b"sha512", b"SHA256", b"", b"md5", b"sha256:", b"a b", b"a#b",
];
const SEPARATORS: &[&[u8]] = &[
    b" ", b" ", b" ", b"\t", b"  ", b" \t ", b"\x0b", b"\xa0", b"\x0c",
];
const LINE_ENDS: &[&[u8]] = &[b"\n", b"\n", b"\n", b"\r\n", b"\r", b"\n\r", b"\n\n"];
const VERSION_PARTS: &[&[u8]] = &[
    b"0",
    b"1",
    b"65535",
    b"00012",
    b"+7",
    b"0000",
    b"65536",
    b"++1",
    b"-1",
    b"",
    b"x",
    b"1a",
    b"0x10",
    b"99999",
    b"18446744073709551615",
    b"18446744073709551616",
    b"99999999999999999999x",
    b" 1",
];
const NAMES: &[&[u8]] = &[
    b"t",
    b"allow_all",
    b"a=b",
    b"$@!*&^%%\\:;{}()",
    b"\xff\xef",
    b"",
    b"#x",
    b"policy_version=1.2.3",
];
const TRAILERS: &[&[u8]] = &[
    b"",
    b"",
    b"",
    b" ",
    b"\t",
    b" # comment",
    b"#",
    b"\x0b",
    b"\x0c",
    b"\xa0",
    b"\0",
];

/// Picks from `items`, or only from its first `valid` items in clean mode
/// (each vocabulary lists its valid entries first).
fn choose(rng: &mut Rng, clean: bool, items: &[&'static [u8]], valid: usize) -> &'static [u8] {
    word(rng, if clean { &items[..valid] } else { items })
}

/// Any entry of a vocabulary.
fn word(rng: &mut Rng, items: &[&'static [u8]]) -> &'static [u8] {
    items[rng.below(items.len())]
}

/// Appends a digest value: mostly well formed, sometimes odd-length, bad
/// digits or missing the colon (never in clean mode).
fn digest(rng: &mut Rng, clean: bool, out: &mut Vec<u8>) {
    if !clean && rng.one_in(10) {
        out.extend_from_slice(b"1c0d7ee1f8343b7fbe418378e8eb22c061d7dec7");
        return;
    }
    out.extend_from_slice(choose(rng, clean, ALGS, 5));
    out.push(b':');
    let len = match rng.below(4) {
        0 => 64,
        1 => 128,
        2 => rng.below(6),
        _ => rng.below(70),
    };
    let len = if clean { len & !1 } else { len };
    for _ in 0..len {
        let digit = if !clean && rng.one_in(40) {
            *rng.pick(b"gG:x \0")
        } else {
            *rng.pick(b"0123456789abcdefABCDEF")
        };
        out.push(digit);
    }
}

fn header(rng: &mut Rng, clean: bool, out: &mut Vec<u8>) {
    let tokens = [b"policy_name=" as &[u8], b"policy_version="];
    let swap = !clean && rng.one_in(30);
    for (position, _) in tokens.iter().enumerate() {
        if position > 0 || rng.one_in(8) {
            out.extend_from_slice(choose(rng, clean, SEPARATORS, 6));
        }
        let which = if swap { 1 - position } else { position };
        if !clean && rng.one_in(40) {
            continue;
        }
        out.extend_from_slice(tokens[which]);
        if which == 0 {
            out.extend_from_slice(choose(rng, clean, NAMES, 5));
        } else {
            let parts = if !clean && rng.one_in(6) {
                rng.below(5)
            } else {
                3
            };
            for part in 0..parts {
                if part > 0 {
                    out.push(b'.');
                }
                if rng.one_in(3) {
                    out.extend_from_slice(choose(rng, clean, VERSION_PARTS, 6));
                } else {
                    out.extend_from_slice(rng.below(300).to_string().as_bytes());
                }
            }
        }
    }
    if !clean && rng.one_in(30) {
        out.extend_from_slice(b" extra");
    }
}

fn rule(rng: &mut Rng, clean: bool, out: &mut Vec<u8>) {
    let is_default = if clean { rng.one_in(12) } else { rng.one_in(3) };
    if is_default {
        out.extend_from_slice(b"DEFAULT");
        out.extend_from_slice(choose(rng, clean, SEPARATORS, 6));
        if rng.one_in(2) {
            out.extend_from_slice(word(rng, &OPS[..7]));
            out.extend_from_slice(choose(rng, clean, SEPARATORS, 6));
        }
    } else {
        out.extend_from_slice(choose(rng, clean, OPS, 7));
        out.extend_from_slice(choose(rng, clean, SEPARATORS, 6));
    }
    let props = if is_default || rng.one_in(3) {
        0
    } else {
        rng.below(4)
    };
    for _ in 0..props {
        if rng.one_in(2) {
            out.extend_from_slice(choose(rng, clean, FLAGS, 6));
        } else {
            out.extend_from_slice(choose(rng, clean, DIGEST_KEYS, 2));
            digest(rng, clean, out);
        }
        out.extend_from_slice(choose(rng, clean, SEPARATORS, 6));
    }
    if clean || !rng.one_in(25) {
        out.extend_from_slice(choose(rng, clean, ACTIONS, 2));
    }
}

/// A grammar-shaped policy: header, a few DEFAULTs and rules, comments.
/// In clean mode every token is valid, so only semantics can reject it.
pub fn policy(rng: &mut Rng) -> Vec<u8> {
    let clean = rng.one_in(2);
    let mut out = Vec::new();
    if rng.one_in(10) {
        out.extend_from_slice(b"# leading comment\n\n");
    }
    header(rng, clean, &mut out);
    out.extend_from_slice(choose(rng, clean, TRAILERS, 10));
    out.extend_from_slice(word(rng, LINE_ENDS));
    if !rng.one_in(6) {
        out.extend_from_slice(b"DEFAULT action=");
        out.extend_from_slice(if rng.one_in(2) { b"ALLOW" } else { b"DENY" });
        out.extend_from_slice(word(rng, LINE_ENDS));
    }
    for _ in 0..rng.below(9) {
        rule(rng, clean, &mut out);
        out.extend_from_slice(choose(rng, clean, TRAILERS, 10));
        out.extend_from_slice(word(rng, LINE_ENDS));
    }
    out
}

/// Byte-level damage: flips, inserts, deletes, splices of existing bytes.
pub fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(input.len() + 1);
        match rng.below(6) {
            0 if at < input.len() => input[at] = rng.next_u64() as u8,
            1 => input.insert(at, *rng.pick(b" \t\r\n\0#:.=\x0b\xa0+-0aA")),
            2 if at < input.len() => {
                input.remove(at);
            }
            3 if !input.is_empty() => {
                let from = rng.below(input.len());
                let len = rng.below(16).min(input.len() - from);
                let chunk = input[from..from + len].to_vec();
                input.splice(at..at, chunk);
            }
            4 if at < input.len() => input.truncate(at),
            _ => input.insert(at, rng.next_u64() as u8),
        }
    }
}

/// Input number `n` of the stream for `seed`: mostly grammar-shaped,
/// about a third mutated, a few pure noise.
pub fn input(seed: u64, n: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed ^ n.wrapping_mul(0xA076_1D64_78BD_642F));
    match rng.below(20) {
        0 => (0..rng.below(64)).map(|_| rng.next_u64() as u8).collect(),
        1..=7 => {
            let mut text = policy(&mut rng);
            mutate(&mut rng, &mut text);
            text
        }
        _ => policy(&mut rng),
    }
}
