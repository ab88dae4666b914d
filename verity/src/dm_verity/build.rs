//! Runs the tree engine over dm-verity data: parallel leaves, then streaming levels.

use crate::hash::SaltedHasher;
use crate::leaves::hash_leaves;
use crate::source::BlockSource;
use crate::tree::{Sink, TreeBuilder};
use crate::{Digest, Error};

use super::{Geometry, Params};

/// Hashes the data blocks of `data` and hands every hash block to `sink`; returns the root.
pub(crate) fn build_tree<D, S>(
    data: &D,
    params: &Params,
    geometry: &Geometry,
    sink: S,
) -> Result<Digest, Error>
where
    D: BlockSource + ?Sized,
    S: Sink,
{
    // Format version 1 hashes salt || block, with the salt unpadded.
    let hasher = SaltedHasher::new(params.hash, &params.salt);
    let mut tree = TreeBuilder::new(&hasher, params.packing(), geometry.data_blocks, sink);
    let data_len = geometry.data_blocks * u64::from(params.data_block_size);
    hash_leaves(
        data,
        data_len,
        params.data_block_size as usize,
        &hasher,
        |digests| tree.push_leaves(digests),
    )?;
    let (root, _) = tree.finish()?;
    root.ok_or(Error::NoData)
}
