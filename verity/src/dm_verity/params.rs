//! dm-verity format parameters (what `veritysetup format` takes on its command line).

use crate::tree::Packing;
use crate::{Error, HashAlgorithm};

use super::Uuid;

/// Smallest data or hash block size veritysetup accepts.
pub const MIN_BLOCK_SIZE: u32 = 512;
/// Largest data or hash block size veritysetup accepts.
pub const MAX_BLOCK_SIZE: u32 = 512 * 1024;
/// Longest salt the superblock can hold.
pub const MAX_SALT_LEN: usize = 256;
/// `--hash-offset` must be a multiple of this.
pub const HASH_OFFSET_ALIGN: u64 = 512;

/// Parameters of a dm-verity hash tree, format version 1.
///
/// The default is veritysetup's defaults with an empty salt and no superblock; set
/// `superblock` to `Some(uuid)` to write one, and choose a salt (a fixed one keeps
/// builds reproducible; [`crate::random_salt`] gives veritysetup's random default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// Hash algorithm (`--hash`).
    pub hash: HashAlgorithm,
    /// Data block size in bytes (`--data-block-size`).
    pub data_block_size: u32,
    /// Hash block size in bytes (`--hash-block-size`).
    pub hash_block_size: u32,
    /// Salt prepended to every hashed block (`--salt`), at most 256 bytes.
    pub salt: Vec<u8>,
    /// Byte offset of the hash area in the hash device (`--hash-offset`), a multiple of 512.
    pub hash_offset: u64,
    /// Number of data blocks to protect (`--data-blocks`); `None` for every whole block.
    pub data_blocks: Option<u64>,
    /// Write a superblock with this UUID; `None` is `--no-superblock`.
    pub superblock: Option<Uuid>,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            hash: HashAlgorithm::Sha256,
            data_block_size: 4096,
            hash_block_size: 4096,
            salt: Vec::new(),
            hash_offset: 0,
            data_blocks: None,
            superblock: None,
        }
    }
}

impl Params {
    /// Checks every parameter against veritysetup's limits.
    pub fn validate(&self) -> Result<(), Error> {
        check_block_size("data", self.data_block_size)?;
        check_block_size("hash", self.hash_block_size)?;
        if self.salt.len() > MAX_SALT_LEN {
            return Err(Error::SaltTooLong {
                len: self.salt.len(),
                max: MAX_SALT_LEN,
            });
        }
        if !self.hash_offset.is_multiple_of(HASH_OFFSET_ALIGN) {
            return Err(Error::HashOffsetAlignment(self.hash_offset));
        }
        Ok(())
    }

    /// Digest packing: format 1 pads each digest to a power of two and uses a power-of-two
    /// number of digests per hash block.
    pub(crate) fn packing(&self) -> Packing {
        let block_size = self.hash_block_size as usize;
        let stride = self.hash.digest_len().next_power_of_two();
        let per_block = 1 << (block_size / stride).ilog2();
        Packing {
            block_size,
            stride,
            per_block,
        }
    }
}

fn check_block_size(what: &'static str, size: u32) -> Result<(), Error> {
    if size.is_power_of_two() && (MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&size) {
        Ok(())
    } else {
        Err(Error::BlockSize {
            what,
            size: size.into(),
            min: MIN_BLOCK_SIZE.into(),
            max: MAX_BLOCK_SIZE.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_like_veritysetup() {
        assert!(Params::default().validate().is_ok());
        for size in [256, 1 << 20, 4095, 0] {
            let p = Params {
                data_block_size: size,
                ..Params::default()
            };
            assert!(
                matches!(p.validate(), Err(Error::BlockSize { .. })),
                "{size}"
            );
        }
        let p = Params {
            salt: vec![0; 257],
            ..Params::default()
        };
        assert!(matches!(p.validate(), Err(Error::SaltTooLong { .. })));
        let p = Params {
            hash_offset: 20000,
            ..Params::default()
        };
        assert!(matches!(
            p.validate(),
            Err(Error::HashOffsetAlignment(20000))
        ));
        let p = Params {
            hash_offset: 20992,
            salt: vec![0; 256],
            hash_block_size: 512,
            ..Params::default()
        };
        assert!(p.validate().is_ok());
    }

    #[test]
    fn packing_follows_format_1() {
        let p = Params::default().packing();
        assert_eq!((p.block_size, p.stride, p.per_block), (4096, 32, 128));
        let p = Params {
            hash: HashAlgorithm::Sha512,
            hash_block_size: 512,
            ..Params::default()
        }
        .packing();
        assert_eq!((p.stride, p.per_block), (64, 8));
    }
}
