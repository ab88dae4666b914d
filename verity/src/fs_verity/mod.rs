//! fs-verity file digests, identical to `fsverity digest` (fsverity-utils).
//!
//! | module | concern |
//! |---|---|
//! | `params` | block size, algorithm, salt and their limits |
//! | `descriptor` | `fsverity_descriptor` and `fsverity_formatted_digest` encoding (pure) |
//! | `digest` | the Merkle tree over a file, the resulting digest, and the tree itself |

mod descriptor;
mod digest;
mod params;

pub use descriptor::{
    DESCRIPTOR_LEN, FORMATTED_DIGEST_MAGIC, algorithm_id, descriptor, formatted_digest,
};
pub use digest::{FileDigest, Metadata, digest_bytes, digest_file, digest_files, metadata_bytes};
pub use params::{MAX_BLOCK_SIZE, MAX_SALT_LEN, Params};
