//! `alg:hex` digests, as `ipe_digest_parse()` / `ipe_digest_eval()` in `digest.c`.
//!
//! The digest keeps borrowing the policy text and decodes hex on the fly,
//! so parsing and matching never allocate.

use core::cmp::Ordering;

/// A digest from the policy: an algorithm name and validated hex.
///
/// Upstream does not check the algorithm name; it only has to equal the
/// kernel's name (e.g. `sha256`) byte for byte at evaluation time.
#[derive(Clone, Copy, Debug)]
pub struct Digest<'t> {
    alg: &'t [u8],
    hex: &'t [u8],
}

/// Why a digest value was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DigestError {
    /// No `:` separator (`EBADMSG`).
    MissingSeparator,
    /// Odd length or a non-hex character (`EINVAL` from `hex2bin`).
    BadHex,
}

impl<'t> Digest<'t> {
    /// Parses `alg:hex`. The algorithm may be empty and the hex may be
    /// empty, both as upstream accepts them.
    pub(crate) fn parse(value: &'t [u8]) -> Result<Self, DigestError> {
        let colon = value
            .iter()
            .position(|&b| b == b':')
            .ok_or(DigestError::MissingSeparator)?;
        let (alg, rest) = value
            .split_at_checked(colon)
            .ok_or(DigestError::MissingSeparator)?;
        let hex = rest.get(1..).unwrap_or(&[]);
        // hex2bin() reads (len + 1) / 2 pairs, so an odd length pairs the last
        // digit with the terminating NUL and fails.
        if hex.len() % 2 != 0 || !hex.iter().all(|&b| nibble(b).is_some()) {
            return Err(DigestError::BadHex);
        }
        Ok(Digest { alg, hex })
    }

    /// The algorithm name before the `:`.
    pub fn alg(&self) -> &'t [u8] {
        self.alg
    }

    /// The hex digits as written in the policy.
    pub fn hex(&self) -> &'t [u8] {
        self.hex
    }

    /// The digest length in bytes.
    pub fn len(&self) -> usize {
        self.hex.len() / 2
    }

    /// Whether the digest has no bytes (upstream accepts `alg:`).
    pub fn is_empty(&self) -> bool {
        self.hex.is_empty()
    }

    /// The decoded digest bytes.
    pub fn bytes(&self) -> impl Iterator<Item = u8> + 't {
        self.hex.chunks_exact(2).map(|pair| match pair {
            [high, low] => nibble(*high).unwrap_or(0) << 4 | nibble(*low).unwrap_or(0),
            _ => 0,
        })
    }

    /// `ipe_digest_eval()`: same length, same algorithm name, same bytes.
    pub fn matches(&self, alg: &[u8], digest: &[u8]) -> bool {
        self.len() == digest.len() && self.alg == alg && self.bytes().eq(digest.iter().copied())
    }

    /// Total order on (algorithm, length, bytes), consistent with
    /// [`Digest::matches`]; the digest index sorts and searches by it.
    pub fn cmp_with(&self, alg: &[u8], digest: &[u8]) -> Ordering {
        self.alg
            .cmp(alg)
            .then(self.len().cmp(&digest.len()))
            .then_with(|| self.bytes().cmp(digest.iter().copied()))
    }

    /// [`Digest::cmp_with`] between two policy digests.
    pub fn cmp_digest(&self, other: &Digest<'_>) -> Ordering {
        self.alg
            .cmp(other.alg)
            .then(self.len().cmp(&other.len()))
            .then_with(|| self.bytes().cmp(other.bytes()))
    }
}

impl PartialEq for Digest<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp_digest(other) == Ordering::Equal
    }
}

impl Eq for Digest<'_> {}

/// `hex_to_bin()`: the value of one hex digit of either case.
fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit.wrapping_sub(b'0')),
        b'a'..=b'f' => Some(digit.wrapping_sub(b'a').wrapping_add(10)),
        b'A'..=b'F' => Some(digit.wrapping_sub(b'A').wrapping_add(10)),
        _ => None,
    }
}
