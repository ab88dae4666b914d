//! `struct fsverity_descriptor` and `struct fsverity_formatted_digest` (pure encoding).
//!
//! The file digest is the hash of the 256-byte descriptor:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | version = 1 |
//! | 1 | 1 | hash algorithm (1 = SHA-256, 2 = SHA-512) |
//! | 2 | 1 | log2 of the block size |
//! | 3 | 1 | salt size |
//! | 4 | 4 | reserved, zero |
//! | 8 | 8 | data size (little-endian) |
//! | 16 | 64 | Merkle tree root hash, zero-padded |
//! | 80 | 32 | salt, zero-padded |
//! | 112 | 144 | reserved, zero |

use crate::{Digest, HashAlgorithm};

use super::Params;

/// Size of an `fsverity_descriptor`.
pub const DESCRIPTOR_LEN: usize = 256;
/// Magic at the start of an `fsverity_formatted_digest`.
pub const FORMATTED_DIGEST_MAGIC: &[u8; 8] = b"FSVerity";

/// The kernel's `FS_VERITY_HASH_ALG_*` number.
pub fn algorithm_id(hash: HashAlgorithm) -> u8 {
    match hash {
        HashAlgorithm::Sha256 => 1,
        HashAlgorithm::Sha512 => 2,
    }
}

/// Encodes the descriptor of a file of `data_size` bytes whose tree root is `root_hash`.
/// `params` must be valid (see [`Params::validate`]).
pub fn descriptor(params: &Params, data_size: u64, root_hash: &Digest) -> [u8; DESCRIPTOR_LEN] {
    let mut out = [0u8; DESCRIPTOR_LEN];
    let salt = &params.salt[..params.salt.len().min(super::MAX_SALT_LEN)];
    out[0] = 1;
    out[1] = algorithm_id(params.hash);
    out[2] = params.block_size.trailing_zeros() as u8;
    out[3] = salt.len() as u8;
    out[8..16].copy_from_slice(&data_size.to_le_bytes());
    let root = root_hash.as_bytes();
    out[16..16 + root.len()].copy_from_slice(root);
    out[80..80 + salt.len()].copy_from_slice(salt);
    out
}

/// The `fsverity_formatted_digest` that `fsverity sign` signs and the kernel checks:
/// `"FSVerity"`, the algorithm number and digest size as little-endian u16, the digest.
pub fn formatted_digest(hash: HashAlgorithm, digest: &Digest) -> Vec<u8> {
    let digest = digest.as_bytes();
    let mut out = Vec::with_capacity(12 + digest.len());
    out.extend_from_slice(FORMATTED_DIGEST_MAGIC);
    out.extend_from_slice(&u16::from(algorithm_id(hash)).to_le_bytes());
    out.extend_from_slice(&(digest.len() as u16).to_le_bytes());
    out.extend_from_slice(digest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_fields_at_their_offsets() {
        let params = Params {
            hash: HashAlgorithm::Sha512,
            block_size: 1024,
            salt: vec![9, 8],
        };
        let root = Digest::from_slice(&[0xaa; 64]).unwrap();
        let d = descriptor(&params, 0x0102_0304_0506, &root);
        assert_eq!(d[..4], [1, 2, 10, 2]);
        assert_eq!(d[4..8], [0; 4]);
        assert_eq!(d[8..16], [6, 5, 4, 3, 2, 1, 0, 0]);
        assert_eq!(d[16..80], [0xaa; 64]);
        assert_eq!(d[80..83], [9, 8, 0]);
        assert!(d[112..].iter().all(|&b| b == 0));
    }

    #[test]
    fn formatted_digest_matches_fsverity_for_builtin_sig() {
        // `fsverity digest --for-builtin-sig` of a file containing "a".
        let digest = Digest::from_slice(
            &hex::decode("bce75948b9e7510293f8f2720412af9697c1479281323f3f220623fb8e94b557")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            hex::encode(formatted_digest(HashAlgorithm::Sha256, &digest)),
            "465356657269747901002000bce75948b9e7510293f8f2720412af9697c1479281323f3f220623fb8e94b557"
        );
    }
}
