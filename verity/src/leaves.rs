//! Parallel, bounded-memory hashing of the data blocks (the tree's leaves).
//!
//! The data is processed in batches of [`BATCH_BYTES`]; within a batch, rayon tasks of
//! [`TASK_BYTES`] each read their own slice with `pread` and hash it, so reading and
//! hashing overlap across cores. Memory use is one batch plus its digests.

use rayon::prelude::*;

use crate::Error;
use crate::hash::SaltedHasher;
use crate::source::BlockSource;

/// Data read and hashed per batch: bounds memory use independently of the data size.
const BATCH_BYTES: usize = 32 << 20;
/// Data per parallel task: large enough to amortise scheduling, small enough that the bytes
/// just read are still in the L2 cache when they are hashed.
const TASK_BYTES: usize = 256 << 10;

/// Hashes the blocks of the first `len` bytes of `source`, zero-padding the last block,
/// and hands `sink` the packed digests of each batch, in order.
pub(crate) fn hash_leaves<S, F>(
    source: &S,
    len: u64,
    block_size: usize,
    hasher: &SaltedHasher,
    mut sink: F,
) -> Result<(), Error>
where
    S: BlockSource + ?Sized,
    F: FnMut(&[u8]) -> Result<(), Error>,
{
    let digest_len = hasher.digest_len();
    let blocks_per_task = (TASK_BYTES / block_size).max(1);
    let task_bytes = blocks_per_task * block_size;
    let batch_bytes = (BATCH_BYTES / task_bytes).max(4) * task_bytes;
    let first = clamp(len, batch_bytes).next_multiple_of(block_size);
    let mut buf = vec![0u8; first];
    let mut digests = vec![0u8; first / block_size * digest_len];
    let mut offset = 0u64;
    while offset < len {
        let valid = clamp(len - offset, batch_bytes);
        let padded = valid.next_multiple_of(block_size);
        let out = &mut digests[..padded / block_size * digest_len];
        buf[..padded]
            .par_chunks_mut(task_bytes)
            .zip(out.par_chunks_mut(blocks_per_task * digest_len))
            .enumerate()
            .try_for_each(|(task, (chunk, out))| {
                let start = task * task_bytes;
                let filled = valid.saturating_sub(start).min(chunk.len());
                source.read_at(&mut chunk[..filled], offset + start as u64)?;
                chunk[filled..].fill(0);
                hasher.hash_blocks(chunk, block_size, out);
                Ok(())
            })?;
        sink(out)?;
        offset += valid as u64;
    }
    Ok(())
}

/// `min(n, cap)` as a `usize`.
fn clamp(n: u64, cap: usize) -> usize {
    usize::try_from(n).map_or(cap, |n| n.min(cap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HashAlgorithm;

    fn leaves(data: &[u8], block_size: usize) -> Vec<u8> {
        let hasher = SaltedHasher::new(HashAlgorithm::Sha256, b"salt");
        let mut all = Vec::new();
        hash_leaves(data, data.len() as u64, block_size, &hasher, |d| {
            all.extend_from_slice(d);
            Ok(())
        })
        .unwrap();
        all
    }

    #[test]
    fn matches_block_by_block_hashing_across_batches() {
        let data: Vec<u8> = (0..(BATCH_BYTES + 3 * TASK_BYTES + 100))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let block_size = 4096;
        let got = leaves(&data, block_size);
        let hasher = SaltedHasher::new(HashAlgorithm::Sha256, b"salt");
        let mut want = Vec::new();
        for block in data.chunks(block_size) {
            let mut padded = block.to_vec();
            padded.resize(block_size, 0);
            let mut d = [0; 32];
            hasher.hash_into(&padded, &mut d);
            want.extend_from_slice(&d);
        }
        assert_eq!(got, want);
    }

    #[test]
    fn empty_input_hashes_nothing() {
        assert!(leaves(&[], 4096).is_empty());
    }

    #[test]
    fn short_source_is_an_error_not_a_panic() {
        let hasher = SaltedHasher::new(HashAlgorithm::Sha256, b"");
        let data = [0u8; 10];
        assert!(hash_leaves(&data[..], 20, 4096, &hasher, |_| Ok(())).is_err());
    }
}
