//! The crate's error type: every variant names what went wrong and what to do about it.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while formatting, verifying or digesting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on `path` failed.
    #[error("{path}: cannot {action}: {source}")]
    Io {
        /// The file being accessed.
        path: PathBuf,
        /// What was being done, e.g. "read data".
        action: &'static str,
        /// The underlying error.
        source: io::Error,
    },

    /// A block size is not a supported power of two.
    #[error("{what} block size {size} is not supported: use a power of two from {min} to {max}")]
    BlockSize {
        /// Which block size ("data", "hash", "fs-verity").
        what: &'static str,
        /// The rejected value.
        size: u64,
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
    },

    /// The salt is longer than the format can store.
    #[error("salt is {len} bytes long, but at most {max} bytes are allowed: use a shorter salt")]
    SaltTooLong {
        /// Length given.
        len: usize,
        /// Maximum length.
        max: usize,
    },

    /// A hex string (salt or root hash) could not be decoded.
    #[error("{what} {text:?} is not valid hex: give an even number of hex digits")]
    Hex {
        /// What the string was meant to be.
        what: &'static str,
        /// The rejected text.
        text: String,
    },

    /// A UUID string could not be parsed.
    #[error("UUID {0:?} is malformed: use the form 01234567-89ab-cdef-0123-456789abcdef")]
    Uuid(String),

    /// A hash algorithm name is not supported.
    #[error("hash algorithm {0:?} is not supported: use sha256 or sha512")]
    HashAlgorithm(String),

    /// The `--hash-offset` is not aligned as veritysetup requires.
    #[error(
        "hash offset {0} is not a multiple of 512 bytes: align it (ideally to the hash block size)"
    )]
    HashOffsetAlignment(u64),

    /// The data does not hold a single whole data block.
    #[error(
        "{path}: {size} bytes hold no whole {block_size}-byte data block: dm-verity needs at least one (pad the image)"
    )]
    DataTooSmall {
        /// The data file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The data block size.
        block_size: u32,
    },

    /// A tree over zero data blocks was requested.
    #[error(
        "there are no data blocks to protect: the data must hold at least one whole data block"
    )]
    NoData,

    /// An image to append a tree to does not end on a data block boundary.
    #[error(
        "{path}: {size} bytes is not a whole number of {block_size}-byte data blocks, so its tail would be unprotected: pad the image first"
    )]
    Unaligned {
        /// The image.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The data block size.
        block_size: u32,
    },

    /// More data blocks were requested than the data file holds.
    #[error(
        "{path}: {requested} data blocks requested, but the file holds only {available}: lower --data-blocks"
    )]
    DataBlocks {
        /// The data file.
        path: PathBuf,
        /// Blocks requested.
        requested: u64,
        /// Whole blocks in the file.
        available: u64,
    },

    /// The hash area would overwrite the data area of the same file.
    #[error(
        "{path}: the hash area starts at byte {hash_start}, inside the data area that ends at byte {data_end}: use --hash-offset {data_end} or more"
    )]
    Overlap {
        /// The shared data and hash file.
        path: PathBuf,
        /// First byte of the hash area (superblock or tree).
        hash_start: u64,
        /// End of the data area.
        data_end: u64,
    },

    /// The data or tree is too large to address with 64-bit offsets.
    #[error("the hash tree for {0} data blocks does not fit in 64-bit offsets")]
    TooLarge(u64),

    /// The hash device has no valid dm-verity superblock where one was expected.
    #[error(
        "{path}: no valid dm-verity superblock at byte {offset} ({reason}): check --hash-offset, or pass --no-superblock with the format parameters"
    )]
    Superblock {
        /// The hash device.
        path: PathBuf,
        /// Where the superblock was looked for.
        offset: u64,
        /// Which field was wrong.
        reason: String,
    },

    /// A root hash has the wrong length for the algorithm.
    #[error(
        "root hash is {len} bytes long, but {algorithm} digests are {expected} bytes: check the root hash and --hash"
    )]
    RootHashLength {
        /// Length given.
        len: usize,
        /// The tree's algorithm.
        algorithm: crate::HashAlgorithm,
        /// Expected length.
        expected: usize,
    },

    /// A stored hash block differs from the one computed from the data.
    #[error(
        "{path}: hash block {index} of tree level {level} (byte {offset}) does not match the data: the data or the hash tree is corrupt; re-run format"
    )]
    HashBlockMismatch {
        /// The hash device.
        path: PathBuf,
        /// Tree level, 0 being the one that hashes data blocks.
        level: usize,
        /// Block index within the level.
        index: u64,
        /// Byte offset of the block in the hash device.
        offset: u64,
    },

    /// The tree is consistent but its root is not the expected root hash.
    #[error(
        "root hash mismatch: expected {expected}, computed {computed}: the data, the hash tree or the root hash is wrong"
    )]
    RootHashMismatch {
        /// The root hash the caller trusts.
        expected: String,
        /// The root hash of the data and tree on disk.
        computed: String,
    },

    /// The operating system's random number generator failed.
    #[error("cannot generate random bytes for the salt or UUID: {0}")]
    Random(String),
}

impl Error {
    /// Wraps an [`io::Error`] with the file and the action that failed.
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        action: &'static str,
    ) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            path,
            action,
            source,
        }
    }
}
