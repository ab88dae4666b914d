//! The fs-verity file digest (what `fsverity digest` prints and the kernel measures).

use std::fmt;
use std::fs::File;
use std::path::Path;

use rayon::prelude::*;
use sha2::{Digest as _, Sha256, Sha512};

use crate::hash::SaltedHasher;
use crate::leaves::hash_leaves;
use crate::source::{BlockSource, FileSource};
use crate::tree::TreeBuilder;
use crate::{Digest, Error, HashAlgorithm};

use super::Params;
use super::descriptor::{DESCRIPTOR_LEN, descriptor, formatted_digest};

/// A file's fs-verity digest with its algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileDigest {
    /// The algorithm of the tree and the digest.
    pub hash: HashAlgorithm,
    /// The hash of the file's `fsverity_descriptor`.
    pub digest: Digest,
}

impl FileDigest {
    /// The `fsverity_formatted_digest` bytes to sign for the kernel's built-in signatures.
    pub fn formatted(&self) -> Vec<u8> {
        formatted_digest(self.hash, &self.digest)
    }
}

/// `sha256:<hex>`, as `fsverity digest` prints it.
impl fmt::Display for FileDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.hash, self.digest)
    }
}

/// The fs-verity digest of the file at `path`, identical to `fsverity digest`.
/// Large files are hashed in parallel with bounded memory.
pub fn digest_file(path: &Path, params: &Params) -> Result<FileDigest, Error> {
    let file = File::open(path).map_err(Error::io(path, "open the file"))?;
    let size = file
        .metadata()
        .map_err(Error::io(path, "stat the file"))?
        .len();
    digest_source(&FileSource { file: &file, path }, size, params, no_blocks).map(|d| d.digest)
}

/// The digests of many files, computed in parallel across files (and within large ones),
/// in the order given. Each result names its file on error.
pub fn digest_files<P: AsRef<Path> + Sync>(
    paths: &[P],
    params: &Params,
) -> Vec<Result<FileDigest, Error>> {
    paths
        .par_iter()
        .map(|path| digest_file(path.as_ref(), params))
        .collect()
}

/// The fs-verity digest of `data`.
pub fn digest_bytes(data: &[u8], params: &Params) -> Result<FileDigest, Error> {
    digest_source(data, data.len() as u64, params, no_blocks).map(|d| d.digest)
}

/// What `FS_IOC_ENABLE_VERITY` stores for a file besides its data.
pub struct Metadata {
    /// The Merkle tree's levels from the root level down, each of whole blocks, as ext4, f2fs
    /// and btrfs keep them.
    pub tree: Vec<u8>,
    pub descriptor: [u8; DESCRIPTOR_LEN],
    pub digest: FileDigest,
}

/// The fs-verity metadata of `data`: for writing a file with fs-verity already enabled.
pub fn metadata_bytes(data: &[u8], params: &Params) -> Result<Metadata, Error> {
    let mut levels: Vec<Vec<u8>> = Vec::new();
    let computed = digest_source(
        data,
        data.len() as u64,
        params,
        |level: usize, _: u64, block: &[u8]| {
            if levels.len() <= level {
                levels.resize_with(level + 1, Vec::new);
            }
            levels[level].extend_from_slice(block);
            Ok(())
        },
    )?;
    levels.reverse();
    Ok(Metadata {
        tree: levels.concat(),
        descriptor: computed.descriptor,
        digest: computed.digest,
    })
}

fn no_blocks(_: usize, _: u64, _: &[u8]) -> Result<(), Error> {
    Ok(())
}

struct Computed {
    descriptor: [u8; DESCRIPTOR_LEN],
    digest: FileDigest,
}

/// Hashes the tree, handing each hash block to `sink` (level from the bottom, index, bytes).
fn digest_source<S: BlockSource + ?Sized>(
    source: &S,
    size: u64,
    params: &Params,
    sink: impl FnMut(usize, u64, &[u8]) -> Result<(), Error>,
) -> Result<Computed, Error> {
    params.validate()?;
    let hasher = SaltedHasher::new(params.hash, &params.padded_salt());
    let block_size = params.block_size as usize;
    let blocks = size.div_ceil(block_size as u64);
    let mut tree = TreeBuilder::new(&hasher, params.packing(), blocks, sink);
    hash_leaves(source, size, block_size, &hasher, |digests| {
        tree.push_leaves(digests)
    })?;
    let (root, _) = tree.finish()?;
    // An empty file has an all-zero root hash.
    let root = root.unwrap_or_else(|| Digest::filled(params.hash.digest_len(), |_| ()));
    let descriptor = descriptor(params, size, &root);
    let digest = match params.hash {
        HashAlgorithm::Sha256 => {
            Digest::filled(32, |out| out.copy_from_slice(&Sha256::digest(descriptor)))
        }
        HashAlgorithm::Sha512 => {
            Digest::filled(64, |out| out.copy_from_slice(&Sha512::digest(descriptor)))
        }
    };
    Ok(Computed {
        descriptor,
        digest: FileDigest {
            hash: params.hash,
            digest,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers_from_fsverity_digest() {
        let empty = digest_bytes(b"", &Params::default()).unwrap();
        assert_eq!(
            empty.to_string(),
            "sha256:3d248ca542a24fc62d1c43b916eae5016878e2533c88238480b26128a1f1af95"
        );
        let a = digest_bytes(b"a", &Params::default()).unwrap();
        assert_eq!(
            a.to_string(),
            "sha256:bce75948b9e7510293f8f2720412af9697c1479281323f3f220623fb8e94b557"
        );
        let params = Params {
            hash: HashAlgorithm::Sha512,
            salt: vec![1, 2],
            ..Params::default()
        };
        assert_eq!(
            digest_bytes(b"a", &params).unwrap().to_string(),
            "sha512:b86c5397bf02fbc29cc6173dd3165176310295b2c2874b79bad69a8eea2339c9\
             f2fc9008a0ec0cf27e8188832c527d44c3484c170d07564c522724adf835c507"
        );
    }

    #[test]
    fn bad_params_are_errors() {
        let params = Params {
            block_size: 3000,
            ..Params::default()
        };
        assert!(digest_bytes(b"a", &params).is_err());
    }
}
