//! Multi-buffer SHA-256: 8 (AVX2) or 16 (AVX-512) equal-length messages hashed at once,
//! one per 32-bit lane of a vector register.
//!
//! Tree building hashes millions of independent blocks, and without the SHA extensions
//! (SHA-NI) one SHA-256 is a serial chain of 32-bit operations that leaves the vector units
//! idle. Running many messages in lockstep does that work once per instruction for all
//! lanes, several times the speed of the best single-message code (OpenSSL's).
//!
//! Each lane hashes `prefix || block` for its own block; the whole 64-byte chunks of the
//! shared prefix (the salt) are compressed once up front. Both backends are generated from
//! one round function (`compress!`) over a handful of per-ISA vector helpers.

/// Most lanes of any backend.
pub(crate) const MAX_LANES: usize = 16;
const CHUNK: usize = 64;

const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// The vector instruction set in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Avx2,
    Avx512,
}

/// A SHA-256 prefix (salt) prepared for hashing many `prefix || block` messages at once.
#[derive(Clone, Debug)]
pub(crate) struct Sha256Multi {
    backend: Backend,
    /// State after the prefix's whole chunks.
    state: [u32; 8],
    /// The prefix's trailing partial chunk.
    tail: Vec<u8>,
    /// Prefix length in bytes.
    prefix_len: u64,
}

impl Sha256Multi {
    /// The fastest backend this CPU supports; `None` without AVX2.
    pub(crate) fn new(prefix: &[u8]) -> Option<Self> {
        detect().map(|backend| Self::with_backend(prefix, backend))
    }

    fn with_backend(prefix: &[u8], backend: Backend) -> Self {
        let whole = prefix.len() / CHUNK * CHUNK;
        let mut this = Self {
            backend,
            state: IV,
            tail: prefix[whole..].to_vec(),
            prefix_len: prefix.len() as u64,
        };
        for chunk in prefix[..whole].chunks_exact(CHUNK) {
            this.state = this.compress(&[this.state; MAX_LANES], &[chunk; MAX_LANES])[0];
        }
        this
    }

    /// How many blocks [`Sha256Multi::hash`] takes at once.
    pub(crate) fn lanes(&self) -> usize {
        match self.backend {
            Backend::Avx2 => 8,
            Backend::Avx512 => 16,
        }
    }

    /// Writes `SHA-256(prefix || blocks[i])` to `out[i]` for the first `lanes()` blocks,
    /// which must all have the same length.
    pub(crate) fn hash(&self, blocks: &[&[u8]; MAX_LANES], out: &mut [[u8; 32]; MAX_LANES]) {
        let len = blocks[0].len();
        let stream_len = self.tail.len() + len;
        let chunks = (stream_len + 9).div_ceil(CHUNK);
        let bit_len = (self.prefix_len + len as u64) * 8;
        let mut state = [self.state; MAX_LANES];
        let mut scratch = [[0u8; CHUNK]; MAX_LANES];
        let lanes = self.lanes();
        for chunk in 0..chunks {
            let start = chunk * CHUNK;
            let mut views = [&[0u8; CHUNK][..]; MAX_LANES];
            if start >= self.tail.len() && start + CHUNK <= stream_len {
                for (view, block) in views.iter_mut().zip(blocks).take(lanes) {
                    *view = &block[start - self.tail.len()..][..CHUNK];
                }
            } else {
                for (buf, block) in scratch.iter_mut().zip(blocks).take(lanes) {
                    self.fill_chunk(buf, block, start, stream_len, chunks, bit_len);
                }
                for (view, buf) in views.iter_mut().zip(&scratch) {
                    *view = buf;
                }
            }
            state = self.compress(&state, &views);
        }
        for (digest, words) in out.iter_mut().zip(state).take(lanes) {
            for (bytes, word) in digest.chunks_exact_mut(4).zip(words) {
                bytes.copy_from_slice(&word.to_be_bytes());
            }
        }
    }

    fn compress(
        &self,
        state: &[[u32; 8]; MAX_LANES],
        chunks: &[&[u8]; MAX_LANES],
    ) -> [[u32; 8]; MAX_LANES] {
        match self.backend {
            // SAFETY: `detect` (or the tests) only choose a backend the CPU supports.
            Backend::Avx2 => unsafe { x86::avx2::compress(state, chunks) },
            // SAFETY: as above.
            Backend::Avx512 => unsafe { x86::avx512::compress(state, chunks) },
        }
    }

    /// Bytes `start..start + 64` of `tail || block || padding`.
    fn fill_chunk(
        &self,
        buf: &mut [u8; CHUNK],
        block: &[u8],
        start: usize,
        stream_len: usize,
        chunks: usize,
        bit_len: u64,
    ) {
        let len_at = chunks * CHUNK - 8;
        for (i, byte) in buf.iter_mut().enumerate() {
            let at = start + i;
            *byte = if at < self.tail.len() {
                self.tail[at]
            } else if at < stream_len {
                block[at - self.tail.len()]
            } else if at == stream_len {
                0x80
            } else if at >= len_at {
                bit_len.to_be_bytes()[at - len_at]
            } else {
                0
            };
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Option<Backend> {
    if std::arch::is_x86_feature_detected!("avx512f") {
        Some(Backend::Avx512)
    } else if std::arch::is_x86_feature_detected!("avx2") {
        Some(Backend::Avx2)
    } else {
        None
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Option<Backend> {
    None
}

/// The SHA-256 compression function over vectors of `$lanes` lanes, written once in
/// terms of the helpers each backend module defines (`splat`, `add`, `xor3`, `shr`,
/// `rotr`, `ch`, `maj`, `gather`, `scatter`).
macro_rules! compress {
    ($feature:literal) => {
        /// One compression of one 64-byte chunk per lane; lanes past `LANES` are untouched.
        #[target_feature(enable = $feature)]
        pub(crate) fn compress(
            state: &[[u32; 8]; MAX_LANES],
            chunks: &[&[u8]; MAX_LANES],
        ) -> [[u32; 8]; MAX_LANES] {
            let initial: [Vector; 8] = std::array::from_fn(|i| gather(|lane| state[lane][i]));
            let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = initial;
            let mut w = [splat(0); 16];
            for (t, k) in K.iter().enumerate() {
                let wt = if t < 16 {
                    let at = 4 * t;
                    w[t] = gather(|lane| {
                        let c = chunks[lane];
                        u32::from_be_bytes([c[at], c[at + 1], c[at + 2], c[at + 3]])
                    });
                    w[t]
                } else {
                    let w15 = w[(t - 15) % 16];
                    let w2 = w[(t - 2) % 16];
                    let s0 = xor3(rotr::<7, 25>(w15), rotr::<18, 14>(w15), shr::<3>(w15));
                    let s1 = xor3(rotr::<17, 15>(w2), rotr::<19, 13>(w2), shr::<10>(w2));
                    w[t % 16] = add(add(w[t % 16], s0), add(w[(t - 7) % 16], s1));
                    w[t % 16]
                };
                let s1 = xor3(rotr::<6, 26>(e), rotr::<11, 21>(e), rotr::<25, 7>(e));
                let t1 = add(add(add(h, s1), add(ch(e, f, g), splat(*k))), wt);
                let s0 = xor3(rotr::<2, 30>(a), rotr::<13, 19>(a), rotr::<22, 10>(a));
                let t2 = add(s0, maj(a, b, c));
                h = g;
                g = f;
                f = e;
                e = add(d, t1);
                d = c;
                c = b;
                b = a;
                a = add(t1, t2);
            }
            let mut out = *state;
            for (i, (v, init)) in [a, b, c, d, e, f, g, h]
                .into_iter()
                .zip(initial)
                .enumerate()
            {
                for (lane, word) in scatter(add(v, init)).into_iter().enumerate() {
                    out[lane][i] = word;
                }
            }
            out
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    pub(super) mod avx2 {
        use std::arch::x86_64::*;

        use super::super::{K, MAX_LANES};

        type Vector = __m256i;
        const LANES: usize = 8;

        #[target_feature(enable = "avx2")]
        fn splat(x: u32) -> Vector {
            _mm256_set1_epi32(x as i32)
        }

        #[target_feature(enable = "avx2")]
        fn add(a: Vector, b: Vector) -> Vector {
            _mm256_add_epi32(a, b)
        }

        #[target_feature(enable = "avx2")]
        fn xor3(a: Vector, b: Vector, c: Vector) -> Vector {
            _mm256_xor_si256(_mm256_xor_si256(a, b), c)
        }

        #[target_feature(enable = "avx2")]
        fn shr<const N: i32>(x: Vector) -> Vector {
            _mm256_srli_epi32::<N>(x)
        }

        /// Rotate right by `N` (`M` = 32 - `N`: AVX2 has no rotate).
        #[target_feature(enable = "avx2")]
        fn rotr<const N: i32, const M: i32>(x: Vector) -> Vector {
            _mm256_or_si256(_mm256_srli_epi32::<N>(x), _mm256_slli_epi32::<M>(x))
        }

        #[target_feature(enable = "avx2")]
        fn ch(e: Vector, f: Vector, g: Vector) -> Vector {
            _mm256_xor_si256(_mm256_and_si256(_mm256_xor_si256(f, g), e), g)
        }

        #[target_feature(enable = "avx2")]
        fn maj(a: Vector, b: Vector, c: Vector) -> Vector {
            _mm256_or_si256(
                _mm256_and_si256(a, b),
                _mm256_and_si256(c, _mm256_or_si256(a, b)),
            )
        }

        /// A vector whose lane `i` is `word(i)`.
        #[target_feature(enable = "avx2")]
        fn gather(word: impl Fn(usize) -> u32) -> Vector {
            let words: [u32; LANES] = std::array::from_fn(word);
            // SAFETY: same size, and every bit pattern is valid for both types.
            unsafe { std::mem::transmute::<[u32; LANES], Vector>(words) }
        }

        #[target_feature(enable = "avx2")]
        fn scatter(v: Vector) -> [u32; LANES] {
            // SAFETY: as in `gather`.
            unsafe { std::mem::transmute::<Vector, [u32; LANES]>(v) }
        }

        compress!("avx2");
    }

    pub(super) mod avx512 {
        use std::arch::x86_64::*;

        use super::super::{K, MAX_LANES};

        type Vector = __m512i;
        const LANES: usize = 16;

        #[target_feature(enable = "avx512f")]
        fn splat(x: u32) -> Vector {
            _mm512_set1_epi32(x as i32)
        }

        #[target_feature(enable = "avx512f")]
        fn add(a: Vector, b: Vector) -> Vector {
            _mm512_add_epi32(a, b)
        }

        #[target_feature(enable = "avx512f")]
        fn xor3(a: Vector, b: Vector, c: Vector) -> Vector {
            _mm512_ternarylogic_epi32::<0x96>(a, b, c)
        }

        #[target_feature(enable = "avx512f")]
        fn shr<const N: u32>(x: Vector) -> Vector {
            _mm512_srli_epi32::<N>(x)
        }

        /// Rotate right by `N` (the second parameter only mirrors the AVX2 helper).
        #[target_feature(enable = "avx512f")]
        fn rotr<const N: i32, const M: i32>(x: Vector) -> Vector {
            _mm512_ror_epi32::<N>(x)
        }

        /// `e ? f : g`, bitwise.
        #[target_feature(enable = "avx512f")]
        fn ch(e: Vector, f: Vector, g: Vector) -> Vector {
            _mm512_ternarylogic_epi32::<0xca>(e, f, g)
        }

        /// Bitwise majority.
        #[target_feature(enable = "avx512f")]
        fn maj(a: Vector, b: Vector, c: Vector) -> Vector {
            _mm512_ternarylogic_epi32::<0xe8>(a, b, c)
        }

        #[target_feature(enable = "avx512f")]
        fn gather(word: impl Fn(usize) -> u32) -> Vector {
            let words: [u32; LANES] = std::array::from_fn(word);
            // SAFETY: same size, and every bit pattern is valid for both types.
            unsafe { std::mem::transmute::<[u32; LANES], Vector>(words) }
        }

        #[target_feature(enable = "avx512f")]
        fn scatter(v: Vector) -> [u32; LANES] {
            // SAFETY: as in `gather`.
            unsafe { std::mem::transmute::<Vector, [u32; LANES]>(v) }
        }

        compress!("avx512f");
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    fn backends() -> Vec<Backend> {
        let mut all = vec![];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                all.push(Backend::Avx2);
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                all.push(Backend::Avx512);
            }
        }
        all
    }

    #[test]
    fn matches_sha2_for_all_prefix_and_block_lengths() {
        let data: Vec<u8> = (0..30_000u32).map(|i| (i * 37 % 256) as u8).collect();
        for backend in backends() {
            for prefix_len in [0, 1, 32, 55, 63, 64, 65, 119, 128, 256] {
                let prefix = &data[7..7 + prefix_len];
                let multi = Sha256Multi::with_backend(prefix, backend);
                for block_len in [0, 1, 55, 56, 63, 64, 65, 512, 1000, 4096] {
                    let blocks: [&[u8]; MAX_LANES] =
                        std::array::from_fn(|i| &data[100 + i * 1500..][..block_len]);
                    let mut out = [[0u8; 32]; MAX_LANES];
                    multi.hash(&blocks, &mut out);
                    for (block, got) in blocks.iter().zip(out).take(multi.lanes()) {
                        let want = Sha256::new()
                            .chain_update(prefix)
                            .chain_update(block)
                            .finalize();
                        assert_eq!(
                            got.as_slice(),
                            want.as_slice(),
                            "{backend:?} prefix {prefix_len} block {block_len}"
                        );
                    }
                }
            }
        }
    }
}
