//! dm-verity hash trees and fs-verity file digests, computed in-process.
//!
//! * [`dm_verity`] writes the hash device that `veritysetup format` writes (format
//!   version 1, optional superblock, salt, block sizes, `--hash-offset`) and verifies it.
//! * [`fs_verity`] computes the file digest that `fsverity digest` prints, and the
//!   `fsverity_formatted_digest` bytes that `fsverity sign` signs.
//!
//! Both build their Merkle trees with one streaming engine ([`tree`]) fed by a parallel,
//! bounded-memory leaf hasher ([`leaves`]), so images larger than RAM work and all cores
//! are used. Pure encoding (geometry, superblock, descriptor) is kept apart from I/O.

mod digest;
pub mod dm_verity;
mod error;
pub mod fs_verity;
mod hash;
mod hex_arg;
mod leaves;
mod random;
pub mod raw;
mod sha256_multi;
mod source;
mod tree;

pub use digest::Digest;
pub use error::Error;
pub use hash::HashAlgorithm;
pub use hex_arg::parse_hex;
pub use random::random_salt;
