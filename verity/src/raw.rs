//! Raw hashing of independent blocks, without any tree logic: the speed limit that tree
//! building is measured against (`cargo xtask bench verity`).

use rayon::prelude::*;

use crate::HashAlgorithm;
use crate::hash::SaltedHasher;

/// Hashes every `block_size` chunk of `data` (a whole number of blocks) with the fastest
/// code this CPU has, on one thread (`parallel == false`) or on all cores, and returns the
/// XOR of the digests' first bytes so the work cannot be optimised away.
pub fn hash_blocks(algorithm: HashAlgorithm, data: &[u8], block_size: usize, parallel: bool) -> u8 {
    let hasher = SaltedHasher::new(algorithm, &[]);
    let piece = block_size.max(1) * 256;
    let one = |blocks: &[u8]| {
        let mut out = vec![0; blocks.len() / block_size.max(1) * algorithm.digest_len()];
        hasher.hash_blocks(blocks, block_size.max(1), &mut out);
        out.iter().fold(0, |a, b| a ^ b)
    };
    if parallel {
        data.par_chunks(piece).map(one).reduce(|| 0, |a, b| a ^ b)
    } else {
        data.chunks(piece).map(one).fold(0, |a, b| a ^ b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_and_serial_agree() {
        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let serial = hash_blocks(HashAlgorithm::Sha256, &data, 4096, false);
        assert_eq!(
            hash_blocks(HashAlgorithm::Sha256, &data, 4096, true),
            serial
        );
    }
}
