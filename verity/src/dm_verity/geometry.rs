//! Where everything lives on the hash device (pure arithmetic, mirroring libcryptsetup).
//!
//! With a superblock, the 512-byte superblock sits at `hash_offset` and the tree starts at
//! the next hash-block boundary after it. Without one, the tree starts at
//! `hash_offset` rounded *down* to a hash block, as veritysetup does. The levels are
//! stored top level first, so the level that hashes the data blocks comes last.

use std::path::Path;

use crate::Error;
use crate::tree::level_sizes;

use super::Params;
use super::superblock::SUPERBLOCK_LEN;

/// Layout of a dm-verity hash device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Number of data blocks protected.
    pub data_blocks: u64,
    /// Byte offset of the superblock, if there is one.
    pub superblock_offset: Option<u64>,
    /// Byte offset of the first hash block (the top level).
    pub tree_offset: u64,
    /// Hash blocks per level; index 0 is the level that hashes the data blocks.
    pub level_blocks: Vec<u64>,
    /// Total number of hash blocks (veritysetup's "Hash blocks").
    pub hash_blocks: u64,
    /// End of the hash area in bytes: the hash device is at least this large.
    pub hash_end: u64,
    hash_block_size: u64,
    /// First block (relative to `tree_offset`) of each level, indexed like `level_blocks`.
    level_starts: Vec<u64>,
}

impl Geometry {
    /// The layout for `data_blocks` (at least one) blocks of data with `params` (already validated).
    pub fn new(params: &Params, data_blocks: u64) -> Result<Self, Error> {
        if data_blocks == 0 {
            return Err(Error::NoData);
        }
        let too_large = || Error::TooLarge(data_blocks);
        let hash_block_size = u64::from(params.hash_block_size);
        let (superblock_offset, tree_offset) = match params.superblock {
            Some(_) => {
                let end = params
                    .hash_offset
                    .checked_add(SUPERBLOCK_LEN as u64)
                    .ok_or_else(too_large)?;
                (
                    Some(params.hash_offset),
                    end.div_ceil(hash_block_size) * hash_block_size,
                )
            }
            None => (None, params.hash_offset / hash_block_size * hash_block_size),
        };
        let level_blocks = level_sizes(data_blocks, params.packing().per_block as u64);
        let mut level_starts = vec![0; level_blocks.len()];
        let mut position = 0u64;
        for (start, blocks) in level_starts.iter_mut().zip(&level_blocks).rev() {
            *start = position;
            position += blocks;
        }
        let hash_end = position
            .checked_mul(hash_block_size)
            .and_then(|len| len.checked_add(tree_offset))
            .ok_or_else(too_large)?;
        data_blocks
            .checked_mul(u64::from(params.data_block_size))
            .ok_or_else(too_large)?;
        Ok(Self {
            data_blocks,
            superblock_offset,
            tree_offset,
            level_blocks,
            hash_blocks: position,
            hash_end,
            hash_block_size,
            level_starts,
        })
    }

    /// Byte offset of block `index` of tree level `level`.
    pub fn block_offset(&self, level: usize, index: u64) -> u64 {
        self.tree_offset + (self.level_starts[level] + index) * self.hash_block_size
    }

    /// Length of a new hash device file, as veritysetup leaves it: the hash area's end,
    /// except that nothing at all is written without a superblock and hash blocks
    /// (one data block, whose hash is the root). The superblock write fills its whole
    /// hash block, so with a superblock the file always reaches `hash_end`.
    pub fn written_len(&self) -> u64 {
        if self.hash_blocks == 0 && self.superblock_offset.is_none() {
            0
        } else {
            self.hash_end
        }
    }

    /// First byte of the hash area: the superblock, or the tree without one.
    pub fn hash_start(&self) -> u64 {
        self.superblock_offset.unwrap_or(self.tree_offset)
    }
}

/// How many data blocks to protect in a data file of `size` bytes: `params.data_blocks`,
/// or every whole block (a trailing partial block is ignored, as veritysetup does).
pub(crate) fn count_data_blocks(path: &Path, size: u64, params: &Params) -> Result<u64, Error> {
    let available = size / u64::from(params.data_block_size);
    let blocks = params.data_blocks.unwrap_or(available);
    if blocks > available {
        return Err(Error::DataBlocks {
            path: path.into(),
            requested: blocks,
            available,
        });
    }
    if blocks == 0 {
        return Err(Error::DataTooSmall {
            path: path.into(),
            size,
            block_size: params.data_block_size,
        });
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dm_verity::Uuid;

    #[test]
    fn matches_veritysetup_layouts() {
        // 256 blocks: two level-0 blocks after the one level-1 block, superblock first.
        let p = Params {
            superblock: Some(Uuid::default()),
            ..Params::default()
        };
        let g = Geometry::new(&p, 256).unwrap();
        assert_eq!(g.level_blocks, vec![2, 1]);
        assert_eq!(g.hash_blocks, 3);
        assert_eq!(g.hash_end, 16384);
        assert_eq!(g.block_offset(1, 0), 4096);
        assert_eq!(g.block_offset(0, 1), 12288);

        // Unaligned offsets (observed with veritysetup 2.6.1): 20992 with a superblock puts
        // the tree at 24576; without one the tree starts at 20480.
        let p = Params {
            hash_offset: 20992,
            superblock: Some(Uuid::default()),
            ..Params::default()
        };
        let g = Geometry::new(&p, 5).unwrap();
        assert_eq!(
            (g.hash_start(), g.tree_offset, g.hash_end),
            (20992, 24576, 28672)
        );
        let p = Params {
            hash_offset: 20992,
            ..Params::default()
        };
        let g = Geometry::new(&p, 5).unwrap();
        assert_eq!((g.hash_start(), g.hash_end), (20480, 24576));

        // One data block: no hash blocks at all.
        let g = Geometry::new(
            &Params {
                hash_offset: 4096,
                ..Params::default()
            },
            1,
        )
        .unwrap();
        assert_eq!((g.hash_blocks, g.hash_end, g.written_len()), (0, 4096, 0));
        let p = Params {
            hash_offset: 8192,
            superblock: Some(Uuid::default()),
            ..Params::default()
        };
        assert_eq!(Geometry::new(&p, 1).unwrap().written_len(), 12288);
    }

    #[test]
    fn counts_whole_blocks_only() {
        let p = Params::default();
        let path = Path::new("img");
        assert_eq!(count_data_blocks(path, 10000, &p).unwrap(), 2);
        assert!(matches!(
            count_data_blocks(path, 4095, &p),
            Err(Error::DataTooSmall { size: 4095, .. })
        ));
        let p = Params {
            data_blocks: Some(3),
            ..Params::default()
        };
        assert!(matches!(
            count_data_blocks(path, 10000, &p),
            Err(Error::DataBlocks {
                requested: 3,
                available: 2,
                ..
            })
        ));
        let p = Params {
            data_blocks: Some(1),
            ..Params::default()
        };
        assert_eq!(count_data_blocks(path, 10000, &p).unwrap(), 1);
    }

    #[test]
    fn huge_trees_are_errors() {
        let p = Params {
            hash_offset: u64::MAX - 511,
            superblock: Some(Uuid::default()),
            ..Params::default()
        };
        assert!(matches!(Geometry::new(&p, 2), Err(Error::TooLarge(2))));
        assert!(matches!(
            Geometry::new(&Params::default(), u64::MAX),
            Err(Error::TooLarge(_))
        ));
        assert!(matches!(
            Geometry::new(&Params::default(), 0),
            Err(Error::NoData)
        ));
    }
}
