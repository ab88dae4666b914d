//! fs-verity Merkle tree parameters (what `fsverity digest` takes on its command line).

use crate::tree::Packing;
use crate::{Error, HashAlgorithm};

/// Longest salt an `fsverity_descriptor` can hold.
pub const MAX_SALT_LEN: usize = 32;
/// Largest Merkle tree block size accepted (the kernel itself supports up to the page size).
pub const MAX_BLOCK_SIZE: u32 = 1 << 21;

/// Parameters of an fs-verity Merkle tree. The default matches `fsverity digest`:
/// SHA-256, 4096-byte blocks, no salt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// Hash algorithm (`--hash-alg`).
    pub hash: HashAlgorithm,
    /// Merkle tree block size in bytes (`--block-size`), a power of two.
    pub block_size: u32,
    /// Salt (`--salt`), at most 32 bytes.
    pub salt: Vec<u8>,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            hash: HashAlgorithm::Sha256,
            block_size: 4096,
            salt: Vec::new(),
        }
    }
}

impl Params {
    /// Checks the block size and salt length.
    pub fn validate(&self) -> Result<(), Error> {
        let min = 2 * self.hash.digest_len() as u32;
        if !self.block_size.is_power_of_two() || !(min..=MAX_BLOCK_SIZE).contains(&self.block_size)
        {
            return Err(Error::BlockSize {
                what: "fs-verity",
                size: self.block_size.into(),
                min: min.into(),
                max: MAX_BLOCK_SIZE.into(),
            });
        }
        if self.salt.len() > MAX_SALT_LEN {
            return Err(Error::SaltTooLong {
                len: self.salt.len(),
                max: MAX_SALT_LEN,
            });
        }
        Ok(())
    }

    /// The salt zero-padded to a multiple of the hash's compression block, as it is
    /// prepended to every hashed block.
    pub(crate) fn padded_salt(&self) -> Vec<u8> {
        let mut salt = self.salt.clone();
        salt.resize(
            salt.len()
                .next_multiple_of(self.hash.compression_block_len()),
            0,
        );
        salt
    }

    /// fs-verity packs digests back to back, as many as fit.
    pub(crate) fn packing(&self) -> Packing {
        let block_size = self.block_size as usize;
        let stride = self.hash.digest_len();
        Packing {
            block_size,
            stride,
            per_block: block_size / stride,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates() {
        assert!(Params::default().validate().is_ok());
        for block_size in [0, 32, 3000, 1 << 22] {
            let p = Params {
                block_size,
                ..Params::default()
            };
            assert!(
                matches!(p.validate(), Err(Error::BlockSize { .. })),
                "{block_size}"
            );
        }
        let p = Params {
            hash: HashAlgorithm::Sha512,
            block_size: 64,
            ..Params::default()
        };
        assert!(p.validate().is_err());
        let p = Params {
            salt: vec![0; 33],
            ..Params::default()
        };
        assert!(matches!(
            p.validate(),
            Err(Error::SaltTooLong { len: 33, max: 32 })
        ));
    }

    #[test]
    fn pads_salt_to_compression_block() {
        let p = Params {
            salt: vec![1; 5],
            ..Params::default()
        };
        assert_eq!(p.padded_salt().len(), 64);
        let p = Params {
            salt: vec![1; 32],
            hash: HashAlgorithm::Sha512,
            ..Params::default()
        };
        assert_eq!(p.padded_salt().len(), 128);
        assert!(Params::default().padded_salt().is_empty());
    }
}
