//! dm-verity hash trees, byte-identical to `veritysetup format` (format version 1).
//!
//! | module | concern |
//! |---|---|
//! | `params` | the format parameters and their limits |
//! | `geometry` | where the superblock and each tree level live (pure) |
//! | `superblock` | the 512-byte on-disk superblock (pure) |
//! | `uuid` | the superblock's UUID |
//! | `build` | feeding data to the shared tree engine |
//! | `output` | temp-file-and-rename or in-place writing |
//! | `format`, `verify` | the two operations on files |

mod build;
mod format;
mod geometry;
mod output;
mod params;
mod superblock;
mod uuid;
mod verify;

pub use format::{Formatted, format, format_appended, format_bytes};
pub use geometry::Geometry;
pub use params::{HASH_OFFSET_ALIGN, MAX_BLOCK_SIZE, MAX_SALT_LEN, MIN_BLOCK_SIZE, Params};
pub use superblock::{SUPERBLOCK_LEN, Superblock};
pub use uuid::Uuid;
pub use verify::{read_superblock, verify};
