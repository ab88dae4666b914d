//! Hash algorithms and the salted block hasher shared by both verity formats.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256, Sha512};

use crate::sha256_multi::{MAX_LANES, Sha256Multi};
use crate::{Digest, Error};

/// A hash algorithm supported for both dm-verity and fs-verity trees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum HashAlgorithm {
    /// SHA-256 (32-byte digests); the default of both veritysetup and fsverity.
    #[default]
    Sha256,
    /// SHA-512 (64-byte digests).
    Sha512,
}

impl HashAlgorithm {
    /// Digest length in bytes.
    pub const fn digest_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }

    /// Input block size of the compression function (64 or 128 bytes).
    pub const fn compression_block_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }

    /// The name used by veritysetup, fsverity and the dm-verity superblock.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HashAlgorithm {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "sha256" => Ok(Self::Sha256),
            "sha512" => Ok(Self::Sha512),
            other => Err(Error::HashAlgorithm(other.to_owned())),
        }
    }
}

/// Hashes `prefix || block` for many blocks, absorbing the prefix (the salt) only once,
/// many blocks at a time where the CPU allows (see [`Sha256Multi`]).
#[derive(Clone)]
pub(crate) struct SaltedHasher {
    single: Single,
    multi: Option<Sha256Multi>,
}

#[derive(Clone)]
enum Single {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl SaltedHasher {
    pub(crate) fn new(algorithm: HashAlgorithm, prefix: &[u8]) -> Self {
        match algorithm {
            HashAlgorithm::Sha256 => Self {
                single: Single::Sha256(Sha256::new_with_prefix(prefix)),
                multi: Sha256Multi::new(prefix),
            },
            HashAlgorithm::Sha512 => Self {
                single: Single::Sha512(Sha512::new_with_prefix(prefix)),
                multi: None,
            },
        }
    }

    pub(crate) fn digest_len(&self) -> usize {
        match self.single {
            Single::Sha256(_) => 32,
            Single::Sha512(_) => 64,
        }
    }

    /// `H(prefix || block)`.
    pub(crate) fn hash(&self, block: &[u8]) -> Digest {
        Digest::filled(self.digest_len(), |out| self.hash_into(block, out))
    }

    /// Writes `H(prefix || block)` into `out`, which must be `digest_len()` bytes.
    pub(crate) fn hash_into(&self, block: &[u8], out: &mut [u8]) {
        match &self.single {
            Single::Sha256(h) => out.copy_from_slice(&h.clone().chain_update(block).finalize()),
            Single::Sha512(h) => out.copy_from_slice(&h.clone().chain_update(block).finalize()),
        }
    }

    /// Hashes each `block_size` chunk of `data` (a whole number of blocks) into consecutive
    /// `digest_len()`-byte slots of `out`.
    pub(crate) fn hash_blocks(&self, data: &[u8], block_size: usize, out: &mut [u8]) {
        let mut done = 0;
        if let Some(multi) = &self.multi {
            let lanes = multi.lanes();
            let group = block_size * lanes;
            for (blocks, digests) in data
                .chunks_exact(group)
                .zip(out.chunks_exact_mut(32 * lanes))
            {
                let mut out = [[0u8; 32]; MAX_LANES];
                let views = std::array::from_fn(|i| {
                    blocks
                        .get(i * block_size..(i + 1) * block_size)
                        .unwrap_or_default()
                });
                multi.hash(&views, &mut out);
                digests.copy_from_slice(out[..lanes].as_flattened());
            }
            done = data.len() / group * lanes;
        }
        let digest_len = self.digest_len();
        for (block, digest) in data
            .chunks_exact(block_size)
            .zip(out.chunks_exact_mut(digest_len))
            .skip(done)
        {
            self.hash_into(block, digest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for alg in [HashAlgorithm::Sha256, HashAlgorithm::Sha512] {
            assert_eq!(alg.name().parse::<HashAlgorithm>().unwrap(), alg);
        }
        assert!("sha1".parse::<HashAlgorithm>().is_err());
    }

    #[test]
    fn salted_hash_is_hash_of_concatenation() {
        let h = SaltedHasher::new(HashAlgorithm::Sha256, b"ab");
        let mut out = [0; 32];
        h.hash_into(b"c", &mut out);
        assert_eq!(out.as_slice(), Sha256::digest(b"abc").as_slice());
        let h = SaltedHasher::new(HashAlgorithm::Sha512, b"");
        let mut out = [0; 64];
        h.hash_into(b"abc", &mut out);
        assert_eq!(out.as_slice(), Sha512::digest(b"abc").as_slice());
    }

    #[test]
    fn hash_blocks_matches_one_at_a_time() {
        let data: Vec<u8> = (0..(19 * 512)).map(|i| (i % 253) as u8).collect();
        for alg in [HashAlgorithm::Sha256, HashAlgorithm::Sha512] {
            let h = SaltedHasher::new(alg, b"some salt");
            let mut many = vec![0; 19 * alg.digest_len()];
            h.hash_blocks(&data, 512, &mut many);
            let one: Vec<u8> = data
                .chunks(512)
                .flat_map(|b| h.hash(b).as_bytes().to_vec())
                .collect();
            assert_eq!(many, one);
        }
    }
}
