//! The 512-byte dm-verity superblock (`struct verity_sb` in libcryptsetup), little-endian:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | signature `"verity\0\0"` |
//! | 8 | 4 | version = 1 |
//! | 12 | 4 | hash type = 1 (normal; 0 is Chrome OS) |
//! | 16 | 16 | UUID |
//! | 32 | 32 | algorithm name, NUL-padded |
//! | 64 | 4 | data block size |
//! | 68 | 4 | hash block size |
//! | 72 | 8 | data blocks |
//! | 80 | 2 | salt size |
//! | 82 | 6 | padding |
//! | 88 | 256 | salt, zero-padded |
//! | 344 | 168 | padding |

use crate::HashAlgorithm;

use super::{Params, Uuid};

/// Size of the superblock in bytes.
pub const SUPERBLOCK_LEN: usize = 512;
const SIGNATURE: &[u8; 8] = b"verity\0\0";
const VERSION: u32 = 1;
const HASH_TYPE_NORMAL: u32 = 1;
const SALT_AT: usize = 88;

/// The fields of a dm-verity superblock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Superblock {
    /// UUID of the hash device.
    pub uuid: Uuid,
    /// Hash algorithm.
    pub hash: HashAlgorithm,
    /// Data block size in bytes.
    pub data_block_size: u32,
    /// Hash block size in bytes.
    pub hash_block_size: u32,
    /// Number of data blocks.
    pub data_blocks: u64,
    /// Salt.
    pub salt: Vec<u8>,
}

impl Superblock {
    /// The superblock veritysetup writes for `params` (whose `superblock` gives the UUID).
    pub fn from_params(params: &Params, data_blocks: u64) -> Self {
        Self {
            uuid: params.superblock.unwrap_or_default(),
            hash: params.hash,
            data_block_size: params.data_block_size,
            hash_block_size: params.hash_block_size,
            data_blocks,
            salt: params.salt.clone(),
        }
    }

    /// Format parameters for a device whose superblock (this) sits at `hash_offset`.
    pub fn params(&self, hash_offset: u64) -> Params {
        Params {
            hash: self.hash,
            data_block_size: self.data_block_size,
            hash_block_size: self.hash_block_size,
            salt: self.salt.clone(),
            hash_offset,
            data_blocks: Some(self.data_blocks),
            superblock: Some(self.uuid),
        }
    }

    /// Encodes the superblock. The salt must be at most 256 bytes (see [`Params::validate`]).
    pub fn encode(&self) -> [u8; SUPERBLOCK_LEN] {
        let mut out = [0u8; SUPERBLOCK_LEN];
        out[0..8].copy_from_slice(SIGNATURE);
        out[8..12].copy_from_slice(&VERSION.to_le_bytes());
        out[12..16].copy_from_slice(&HASH_TYPE_NORMAL.to_le_bytes());
        out[16..32].copy_from_slice(&self.uuid.0);
        let name = self.hash.name().as_bytes();
        out[32..32 + name.len()].copy_from_slice(name);
        out[64..68].copy_from_slice(&self.data_block_size.to_le_bytes());
        out[68..72].copy_from_slice(&self.hash_block_size.to_le_bytes());
        out[72..80].copy_from_slice(&self.data_blocks.to_le_bytes());
        let salt = &self.salt[..self.salt.len().min(super::params::MAX_SALT_LEN)];
        out[80..82].copy_from_slice(&(salt.len() as u16).to_le_bytes());
        out[SALT_AT..SALT_AT + salt.len()].copy_from_slice(salt);
        out
    }

    /// Decodes and checks a superblock; the error string says which field is wrong.
    pub fn decode(bytes: &[u8; SUPERBLOCK_LEN]) -> Result<Self, String> {
        let u32_at = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        if &bytes[0..8] != SIGNATURE {
            return Err("signature is not \"verity\"".into());
        }
        if u32_at(8) != VERSION {
            return Err(format!("superblock version {} is not 1", u32_at(8)));
        }
        if u32_at(12) != HASH_TYPE_NORMAL {
            return Err(format!(
                "hash type {} is not supported, only 1 (normal)",
                u32_at(12)
            ));
        }
        let name = &bytes[32..64];
        let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
        let hash = std::str::from_utf8(name)
            .ok()
            .and_then(|name| name.parse().ok())
            .ok_or_else(|| {
                format!(
                    "hash algorithm {:?} is not supported",
                    String::from_utf8_lossy(name)
                )
            })?;
        let salt_len = usize::from(u16::from_le_bytes([bytes[80], bytes[81]]));
        if salt_len > super::params::MAX_SALT_LEN {
            return Err(format!("salt size {salt_len} exceeds 256"));
        }
        let mut uuid = [0; 16];
        uuid.copy_from_slice(&bytes[16..32]);
        let mut data_blocks = [0; 8];
        data_blocks.copy_from_slice(&bytes[72..80]);
        let sb = Self {
            uuid: Uuid(uuid),
            hash,
            data_block_size: u32_at(64),
            hash_block_size: u32_at(68),
            data_blocks: u64::from_le_bytes(data_blocks),
            salt: bytes[SALT_AT..SALT_AT + salt_len].to_vec(),
        };
        sb.params(0).validate().map_err(|e| e.to_string())?;
        Ok(sb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// First 0x60 bytes written by `veritysetup format --salt 0011 --uuid
    /// 12345678-1234-1234-1234-123456789abc` over 8192 bytes of data; the rest is zero.
    const VERITYSETUP_HEAD: &str = concat!(
        "7665726974790000010000000100000012345678123412341234123456789abc",
        "7368613235360000000000000000000000000000000000000000000000000000",
        "0010000000100000020000000000000002000000000000000011000000000000",
    );

    #[test]
    fn encodes_like_veritysetup() {
        let params = Params {
            salt: vec![0x00, 0x11],
            superblock: Some("12345678-1234-1234-1234-123456789abc".parse().unwrap()),
            ..Params::default()
        };
        let bytes = Superblock::from_params(&params, 2).encode();
        let head = hex::decode(VERITYSETUP_HEAD).unwrap();
        assert_eq!(&bytes[..head.len()], head.as_slice());
        assert!(bytes[head.len()..].iter().all(|&b| b == 0));
    }

    #[test]
    fn decode_round_trips_and_rejects_garbage() {
        let params = Params {
            salt: vec![7; 256],
            hash: HashAlgorithm::Sha512,
            superblock: Some(Uuid([3; 16])),
            ..Params::default()
        };
        let sb = Superblock::from_params(&params, 99);
        assert_eq!(Superblock::decode(&sb.encode()).unwrap(), sb);
        assert_eq!(sb.params(0).data_blocks, Some(99));

        assert!(
            Superblock::decode(&[0; SUPERBLOCK_LEN])
                .unwrap_err()
                .contains("signature")
        );
        let mut bad = sb.encode();
        bad[12] = 0;
        assert!(Superblock::decode(&bad).unwrap_err().contains("hash type"));
        let mut bad = sb.encode();
        bad[32..38].copy_from_slice(b"md5\0\0\0");
        assert!(Superblock::decode(&bad).unwrap_err().contains("md5"));
        let mut bad = sb.encode();
        bad[64..68].copy_from_slice(&1000u32.to_le_bytes());
        assert!(Superblock::decode(&bad).unwrap_err().contains("block size"));
        let mut bad = sb.encode();
        bad[80..82].copy_from_slice(&257u16.to_le_bytes());
        assert!(Superblock::decode(&bad).unwrap_err().contains("salt"));
    }
}
