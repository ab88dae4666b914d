//! `veritysetup verify`: recomputes the tree from the data and checks every stored block.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::Error;
use crate::source::FileSource;

use super::build::build_tree;
use super::geometry::count_data_blocks;
use super::superblock::SUPERBLOCK_LEN;
use super::{Geometry, Params, Superblock};

/// Reads and checks the superblock at `hash_offset` in `hash_path`.
pub fn read_superblock(hash_path: &Path, hash_offset: u64) -> Result<Superblock, Error> {
    let file = File::open(hash_path).map_err(Error::io(hash_path, "open the hash device"))?;
    let mut bytes = [0; SUPERBLOCK_LEN];
    file.read_exact_at(&mut bytes, hash_offset)
        .map_err(Error::io(hash_path, "read the superblock"))?;
    Superblock::decode(&bytes).map_err(|reason| Error::Superblock {
        path: hash_path.into(),
        offset: hash_offset,
        reason,
    })
}

/// Checks that the hash tree in `hash_path` matches the data in `data_path` and that its
/// root is `root_hash`. With a superblock, take `params` from [`read_superblock`].
/// Fails with the first mismatching hash block, or a root hash mismatch.
pub fn verify(
    data_path: &Path,
    hash_path: &Path,
    params: &Params,
    root_hash: &[u8],
) -> Result<Geometry, Error> {
    params.validate()?;
    if root_hash.len() != params.hash.digest_len() {
        return Err(Error::RootHashLength {
            len: root_hash.len(),
            algorithm: params.hash,
            expected: params.hash.digest_len(),
        });
    }
    let data = File::open(data_path).map_err(Error::io(data_path, "open the data file"))?;
    let size = data
        .metadata()
        .map_err(Error::io(data_path, "stat the data file"))?
        .len();
    let geometry = Geometry::new(params, count_data_blocks(data_path, size, params)?)?;
    let hash = File::open(hash_path).map_err(Error::io(hash_path, "open the hash device"))?;

    let mut stored = vec![0; params.hash_block_size as usize];
    let source = FileSource {
        file: &data,
        path: data_path,
    };
    let computed = build_tree(
        &source,
        params,
        &geometry,
        |level: usize, index: u64, block: &[u8]| {
            let offset = geometry.block_offset(level, index);
            hash.read_exact_at(&mut stored, offset).map_err(Error::io(
                hash_path,
                "read the hash tree (is the hash device truncated?)",
            ))?;
            if stored == block {
                Ok(())
            } else {
                Err(Error::HashBlockMismatch {
                    path: hash_path.into(),
                    level,
                    index,
                    offset,
                })
            }
        },
    )?;
    if computed.as_bytes() != root_hash {
        return Err(Error::RootHashMismatch {
            expected: hex::encode(root_hash),
            computed: computed.to_hex(),
        });
    }
    Ok(geometry)
}
