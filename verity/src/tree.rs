//! Streaming Merkle tree engine shared by dm-verity and fs-verity.
//!
//! Leaf digests are pushed in order; each level keeps one partially filled hash block.
//! A full block is hashed, handed to the sink (which writes or checks it), and its digest
//! is pushed one level up. Memory is one block per level whatever the data size.
//!
//! Both formats agree on the shape: level 0 hashes the data blocks, each level has
//! `ceil(previous / per_block)` blocks, and the top level is the first with one block.
//! The root hash is the salted hash of that block (of the only data block if the data
//! is one block long). They differ only in parameters: see [`Packing`].

use crate::Error;
use crate::digest::Digest;
use crate::hash::SaltedHasher;

/// How digests are packed into hash blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Packing {
    /// Hash block size in bytes.
    pub(crate) block_size: usize,
    /// Bytes from one digest to the next (the digest, zero-padded).
    pub(crate) stride: usize,
    /// Digests per hash block; the rest of the block is zero.
    pub(crate) per_block: usize,
}

/// Number of hash blocks in each level, bottom-up; empty when there is at most one data block.
pub(crate) fn level_sizes(data_blocks: u64, per_block: u64) -> Vec<u64> {
    let mut sizes = Vec::new();
    let mut blocks = data_blocks;
    while blocks > 1 {
        blocks = blocks.div_ceil(per_block);
        sizes.push(blocks);
    }
    sizes
}

/// Receives every completed hash block: `(level, index within level, bytes)`.
pub(crate) trait Sink {
    fn block(&mut self, level: usize, index: u64, bytes: &[u8]) -> Result<(), Error>;
}

impl<F: FnMut(usize, u64, &[u8]) -> Result<(), Error>> Sink for F {
    fn block(&mut self, level: usize, index: u64, bytes: &[u8]) -> Result<(), Error> {
        self(level, index, bytes)
    }
}

struct Level {
    block: Vec<u8>,
    filled: usize,
    emitted: u64,
}

/// Builds a tree over a known number of leaves, streaming completed blocks to a sink.
pub(crate) struct TreeBuilder<'h, S> {
    hasher: &'h SaltedHasher,
    packing: Packing,
    levels: Vec<Level>,
    root: Option<Digest>,
    sink: S,
}

impl<'h, S: Sink> TreeBuilder<'h, S> {
    /// A builder for `data_blocks` leaves.
    pub(crate) fn new(
        hasher: &'h SaltedHasher,
        packing: Packing,
        data_blocks: u64,
        sink: S,
    ) -> Self {
        let levels = level_sizes(data_blocks, packing.per_block as u64)
            .iter()
            .map(|_| Level {
                block: vec![0; packing.block_size],
                filled: 0,
                emitted: 0,
            })
            .collect();
        Self {
            hasher,
            packing,
            levels,
            root: None,
            sink,
        }
    }

    /// Pushes the packed digests of consecutive data blocks.
    ///
    /// Where digests fill whole level-0 blocks back to back (no per-digest padding), those
    /// blocks are taken straight from `digests` and hashed together (multi-buffer), so the
    /// tree costs little beyond the leaves; everything else goes digest by digest.
    pub(crate) fn push_leaves(&mut self, digests: &[u8]) -> Result<(), Error> {
        let digest_len = self.hasher.digest_len();
        let Packing {
            block_size,
            stride,
            per_block,
        } = self.packing;
        let dense = stride == digest_len && per_block * stride == block_size;
        let mut rest = digests;
        while let Some((digest, tail)) = rest.split_at_checked(digest_len) {
            let aligned = self.levels.first().is_some_and(|level| level.filled == 0);
            if dense && aligned && rest.len() >= block_size {
                let whole = rest.len() / block_size * block_size;
                self.push_level0_blocks(&rest[..whole])?;
                rest = &rest[whole..];
                continue;
            }
            self.push(
                0,
                Digest::filled(digest_len, |out| out.copy_from_slice(digest)),
            )?;
            rest = tail;
        }
        Ok(())
    }

    /// Emits complete level-0 blocks given as packed digests.
    fn push_level0_blocks(&mut self, blocks: &[u8]) -> Result<(), Error> {
        let digest_len = self.hasher.digest_len();
        let mut block_digests = vec![0; blocks.len() / self.packing.block_size * digest_len];
        self.hasher
            .hash_blocks(blocks, self.packing.block_size, &mut block_digests);
        for (block, digest) in blocks
            .chunks_exact(self.packing.block_size)
            .zip(block_digests.chunks_exact(digest_len))
        {
            let level = &mut self.levels[0];
            self.sink.block(0, level.emitted, block)?;
            level.emitted += 1;
            self.push(
                1,
                Digest::filled(digest_len, |out| out.copy_from_slice(digest)),
            )?;
        }
        Ok(())
    }

    fn push(&mut self, mut level: usize, mut digest: Digest) -> Result<(), Error> {
        loop {
            let Some(current) = self.levels.get_mut(level) else {
                self.root = Some(digest);
                return Ok(());
            };
            let at = current.filled * self.packing.stride;
            let bytes = digest.as_bytes();
            current.block[at..at + bytes.len()].copy_from_slice(bytes);
            current.filled += 1;
            if current.filled < self.packing.per_block {
                return Ok(());
            }
            digest = self.emit(level)?;
            level += 1;
        }
    }

    fn emit(&mut self, level: usize) -> Result<Digest, Error> {
        let current = &mut self.levels[level];
        let digest = self.hasher.hash(&current.block);
        self.sink.block(level, current.emitted, &current.block)?;
        current.emitted += 1;
        current.filled = 0;
        current.block.fill(0);
        Ok(digest)
    }

    /// Flushes the partial blocks and returns the root hash and the sink;
    /// the root is `None` if no leaf was pushed.
    pub(crate) fn finish(mut self) -> Result<(Option<Digest>, S), Error> {
        for level in 0..self.levels.len() {
            if self.levels[level].filled > 0 {
                let digest = self.emit(level)?;
                self.push(level + 1, digest)?;
            }
        }
        Ok((self.root, self.sink))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HashAlgorithm;

    #[test]
    fn level_sizes_match_veritysetup_geometry() {
        assert_eq!(level_sizes(0, 128), Vec::<u64>::new());
        assert_eq!(level_sizes(1, 128), Vec::<u64>::new());
        assert_eq!(level_sizes(2, 128), vec![1]);
        assert_eq!(level_sizes(128, 128), vec![1]);
        assert_eq!(level_sizes(129, 128), vec![2, 1]);
        assert_eq!(level_sizes(256, 128), vec![2, 1]);
        assert_eq!(level_sizes(128 * 128 + 1, 128), vec![129, 2, 1]);
    }

    /// A naive level-by-level reference: the definition the streaming builder must match.
    fn reference(
        hasher: &SaltedHasher,
        packing: Packing,
        leaves: &[Vec<u8>],
    ) -> (Vec<Vec<Vec<u8>>>, Vec<u8>) {
        let hash = |b: &[u8]| {
            let mut d = vec![0; hasher.digest_len()];
            hasher.hash_into(b, &mut d);
            d
        };
        let mut levels = Vec::new();
        let mut current = leaves.to_vec();
        while current.len() > 1 {
            let blocks: Vec<Vec<u8>> = current
                .chunks(packing.per_block)
                .map(|ds| {
                    let mut block = vec![0; packing.block_size];
                    for (i, d) in ds.iter().enumerate() {
                        block[i * packing.stride..][..d.len()].copy_from_slice(d);
                    }
                    block
                })
                .collect();
            current = blocks.iter().map(|b| hash(b)).collect();
            levels.push(blocks);
        }
        (levels, current[0].clone())
    }

    #[test]
    fn streaming_builder_matches_reference() {
        let hasher = SaltedHasher::new(HashAlgorithm::Sha256, b"x");
        // Small blocks so that several levels appear with few leaves; stride > digest tests padding.
        let packing = Packing {
            block_size: 128,
            stride: 32,
            per_block: 4,
        };
        let padded = Packing {
            block_size: 256,
            stride: 64,
            per_block: 3,
        };
        for packing in [packing, padded] {
            for n in [1usize, 2, 3, 4, 5, 15, 16, 17, 64, 65, 100] {
                let leaves: Vec<Vec<u8>> = (0..n)
                    .map(|i| {
                        let mut d = vec![0; 32];
                        hasher.hash_into(&i.to_le_bytes(), &mut d);
                        d
                    })
                    .collect();
                let mut seen: Vec<Vec<Vec<u8>>> = Vec::new();
                let sink = |level: usize, index: u64, bytes: &[u8]| {
                    if seen.len() <= level {
                        seen.resize(level + 1, Vec::new());
                    }
                    assert_eq!(seen[level].len() as u64, index);
                    seen[level].push(bytes.to_vec());
                    Ok(())
                };
                let mut builder = TreeBuilder::new(&hasher, packing, n as u64, sink);
                // Uneven pieces exercise both the whole-block fast path and the digest path.
                let all = leaves.concat();
                let (first, second) = all.split_at(all.len().min(3 * 32));
                builder.push_leaves(first).unwrap();
                builder.push_leaves(second).unwrap();
                let (root, _) = builder.finish().unwrap();
                let (levels, want_root) = reference(&hasher, packing, &leaves);
                assert_eq!(root.unwrap().as_bytes(), want_root.as_slice(), "n={n}");
                assert_eq!(seen, levels, "n={n}");
            }
        }
    }

    #[test]
    fn no_leaves_no_root() {
        let hasher = SaltedHasher::new(HashAlgorithm::Sha256, b"");
        let packing = Packing {
            block_size: 4096,
            stride: 32,
            per_block: 128,
        };
        let builder = TreeBuilder::new(&hasher, packing, 0, |_: usize, _: u64, _: &[u8]| Ok(()));
        assert!(builder.finish().unwrap().0.is_none());
    }
}
