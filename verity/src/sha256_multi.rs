//! Multi-buffer SHA-256: 8 (AVX2) or 16 (AVX-512) equal-length messages hashed at once,
//! one per 32-bit lane of a vector register.
//!
//! Tree building hashes millions of independent blocks, and without the SHA extensions
//! (SHA-NI) one SHA-256 is a serial chain of 32-bit operations that leaves the vector units
//! idle. Running many messages in lockstep does that work once per instruction for all
//! lanes, several times the speed of the best single-message code (OpenSSL's).
//!
//! Each lane hashes `prefix || block` for its own block; the whole 64-byte chunks of the
//! shared prefix (the salt) are compressed once up front. Message words are loaded a whole
//! chunk per lane and transposed in registers. Both backends are generated from one round
//! function (`backend!`) over a handful of per-ISA vector helpers.

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
        let mut state = IV;
        for chunk in prefix[..whole].chunks_exact(CHUNK) {
            let views = [chunk; MAX_LANES];
            state = match backend {
                // SAFETY: `detect` (or the tests) only choose a backend the CPU supports.
                Backend::Avx2 => unsafe { x86::avx2::compress_once(&state, &views) },
                // SAFETY: as above.
                Backend::Avx512 => unsafe { x86::avx512::compress_once(&state, &views) },
            };
        }
        Self {
            backend,
            state,
            tail: prefix[whole..].to_vec(),
            prefix_len: prefix.len() as u64,
        }
    }

    /// How many blocks [`Sha256Multi::hash`] takes at once.
    pub(crate) fn lanes(&self) -> usize {
        match self.backend {
            Backend::Avx2 => 8,
            Backend::Avx512 => 16,
        }
    }

    /// Writes `SHA-256(prefix || blocks[i])` to `out[i]` for the first `lanes()` blocks,
    /// which must all have the same length; the other entries are ignored.
    pub(crate) fn hash(&self, blocks: &[&[u8]; MAX_LANES], out: &mut [[u8; 32]; MAX_LANES]) {
        let state = match self.backend {
            // SAFETY: as in `with_backend`.
            Backend::Avx2 => unsafe { x86::avx2::hash(self, blocks) },
            // SAFETY: as in `with_backend`.
            Backend::Avx512 => unsafe { x86::avx512::hash(self, blocks) },
        };
        for (digest, words) in out.iter_mut().zip(state).take(self.lanes()) {
            for (bytes, word) in digest.chunks_exact_mut(4).zip(words) {
                bytes.copy_from_slice(&word.to_be_bytes());
            }
        }
    }

    /// Number of 64-byte chunks in `tail || block || padding` for blocks of `len` bytes.
    fn chunks(&self, len: usize) -> usize {
        (self.tail.len() + len + 9).div_ceil(CHUNK)
    }

    /// Chunk `chunk` of every lane's message: a view into the block where possible, else
    /// assembled (prefix tail, padding, length) in `scratch`.
    fn chunk_views<'a>(
        &'a self,
        blocks: &[&'a [u8]; MAX_LANES],
        chunk: usize,
        scratch: &'a mut [[u8; CHUNK]; MAX_LANES],
    ) -> [&'a [u8]; MAX_LANES] {
        let len = blocks[0].len();
        let (start, stream_len) = (chunk * CHUNK, self.tail.len() + len);
        if start >= self.tail.len() && start + CHUNK <= stream_len {
            let at = start - self.tail.len();
            return std::array::from_fn(|lane| {
                blocks[lane].get(at..at + CHUNK).unwrap_or(&[0; CHUNK])
            });
        }
        let len_at = self.chunks(len) * CHUNK - 8;
        let bit_len = ((self.prefix_len + len as u64) * 8).to_be_bytes();
        for (buf, block) in scratch.iter_mut().zip(blocks).take(self.lanes()) {
            for (i, byte) in buf.iter_mut().enumerate() {
                let at = start + i;
                *byte = if at < self.tail.len() {
                    self.tail[at]
                } else if at < stream_len {
                    block[at - self.tail.len()]
                } else if at == stream_len {
                    0x80
                } else if at >= len_at {
                    bit_len[at - len_at]
                } else {
                    0
                };
            }
        }
        std::array::from_fn(|lane| &scratch[lane][..])
    }
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Option<Backend> {
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
    {
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

/// One SHA-256 round on vectors: `d += T1; h = T1 + T2`, the caller renaming the
/// variables between rounds instead of shifting them.
macro_rules! round {
    ($a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident, $k:expr, $w:expr) => {
        let s1 = xor3(rotr::<6, 26>($e), rotr::<11, 21>($e), rotr::<25, 7>($e));
        let t1 = add(add(add($h, s1), add(ch($e, $f, $g), splat($k))), $w);
        let s0 = xor3(rotr::<2, 30>($a), rotr::<13, 19>($a), rotr::<22, 10>($a));
        $d = add($d, t1);
        $h = add(t1, add(s0, maj($a, $b, $c)));
    };
}

/// The SHA-256 rounds over vectors, written once in terms of the helpers each backend
/// module defines (`splat`, `add`, `xor3`, `shr`, `rotr`, `ch`, `maj`, `load_words`,
/// `store_state`), plus the two entry points built on them.
macro_rules! backend {
    ($feature:literal) => {
        /// One compression of one 64-byte chunk per lane.
        #[target_feature(enable = $feature)]
        fn compress(state: [Vector; 8], chunks: &[&[u8]; MAX_LANES]) -> [Vector; 8] {
            let mut w = load_words(chunks);
            let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = state;
            for i in (0..64).step_by(16) {
                if i > 0 {
                    // W[t] for t = i + j, in place: w[j] holds W[t - 16] until overwritten.
                    for j in 0..16 {
                        let (w15, w2) = (w[(j + 1) % 16], w[(j + 14) % 16]);
                        let s0 = xor3(rotr::<7, 25>(w15), rotr::<18, 14>(w15), shr::<3>(w15));
                        let s1 = xor3(rotr::<17, 15>(w2), rotr::<19, 13>(w2), shr::<10>(w2));
                        w[j] = add(add(w[j], s0), add(w[(j + 9) % 16], s1));
                    }
                }
                // Unrolled with the variables renamed instead of shifted along.
                round!(a, b, c, d, e, f, g, h, K[i], w[0]);
                round!(h, a, b, c, d, e, f, g, K[i + 1], w[1]);
                round!(g, h, a, b, c, d, e, f, K[i + 2], w[2]);
                round!(f, g, h, a, b, c, d, e, K[i + 3], w[3]);
                round!(e, f, g, h, a, b, c, d, K[i + 4], w[4]);
                round!(d, e, f, g, h, a, b, c, K[i + 5], w[5]);
                round!(c, d, e, f, g, h, a, b, K[i + 6], w[6]);
                round!(b, c, d, e, f, g, h, a, K[i + 7], w[7]);
                round!(a, b, c, d, e, f, g, h, K[i + 8], w[8]);
                round!(h, a, b, c, d, e, f, g, K[i + 9], w[9]);
                round!(g, h, a, b, c, d, e, f, K[i + 10], w[10]);
                round!(f, g, h, a, b, c, d, e, K[i + 11], w[11]);
                round!(e, f, g, h, a, b, c, d, K[i + 12], w[12]);
                round!(d, e, f, g, h, a, b, c, K[i + 13], w[13]);
                round!(c, d, e, f, g, h, a, b, K[i + 14], w[14]);
                round!(b, c, d, e, f, g, h, a, K[i + 15], w[15]);
            }
            let out = [a, b, c, d, e, f, g, h];
            std::array::from_fn(|i| add(out[i], state[i]))
        }

        /// The final states of hashing `prefix || blocks[lane]` in each lane.
        #[target_feature(enable = $feature)]
        pub(crate) fn hash(
            multi: &Sha256Multi,
            blocks: &[&[u8]; MAX_LANES],
        ) -> [[u32; 8]; MAX_LANES] {
            let mut state: [Vector; 8] = std::array::from_fn(|i| splat(multi.state[i]));
            let mut scratch = [[0u8; CHUNK]; MAX_LANES];
            for chunk in 0..multi.chunks(blocks[0].len()) {
                state = compress(state, &multi.chunk_views(blocks, chunk, &mut scratch));
            }
            store_state(state)
        }

        /// `state` after one more (unpadded) 64-byte chunk, for prefix set-up.
        #[target_feature(enable = $feature)]
        pub(crate) fn compress_once(state: &[u32; 8], chunks: &[&[u8]; MAX_LANES]) -> [u32; 8] {
            let state = std::array::from_fn(|i| splat(state[i]));
            store_state(compress(state, chunks))[0]
        }

        /// Transposes one vector per state word into one state per lane.
        #[target_feature(enable = $feature)]
        fn store_state(state: [Vector; 8]) -> [[u32; 8]; MAX_LANES] {
            let mut out = [[0u32; 8]; MAX_LANES];
            for (i, v) in state.into_iter().enumerate() {
                // SAFETY: same size, and every bit pattern is valid for both types.
                let words = unsafe { std::mem::transmute::<Vector, [u32; LANES]>(v) };
                for (lane, word) in words.into_iter().enumerate() {
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

        use super::super::{CHUNK, K, MAX_LANES, Sha256Multi};

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

        /// Loads 32 bytes at `at` of a chunk, byte-swapping each word to big-endian order.
        #[target_feature(enable = "avx2")]
        fn load_be(chunk: &[u8], at: usize) -> Vector {
            let bytes: &[u8; 32] = chunk[at..at + 32].try_into().unwrap_or(&[0; 32]);
            // SAFETY: `bytes` is 32 readable bytes; the load has no alignment requirement.
            let v = unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) };
            let swap = _mm256_set_epi8(
                12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11,
                4, 5, 6, 7, 0, 1, 2, 3,
            );
            _mm256_shuffle_epi8(v, swap)
        }

        /// 8x8 transpose of 32-bit elements: `rows[lane][t]` to `out[t][lane]`.
        #[target_feature(enable = "avx2")]
        fn transpose(r: [Vector; 8]) -> [Vector; 8] {
            let t: [Vector; 8] = std::array::from_fn(|i| {
                let (a, b) = (r[i & !1], r[i | 1]);
                if i % 2 == 0 {
                    _mm256_unpacklo_epi32(a, b)
                } else {
                    _mm256_unpackhi_epi32(a, b)
                }
            });
            // u[4g + j] holds words j and j + 4 of rows 4g..4g + 4.
            let u: [Vector; 8] = std::array::from_fn(|i| {
                let (g, j) = (i / 4 * 4, i % 4);
                let (a, b) = (t[g + j / 2], t[g + j / 2 + 2]);
                if j % 2 == 0 {
                    _mm256_unpacklo_epi64(a, b)
                } else {
                    _mm256_unpackhi_epi64(a, b)
                }
            });
            std::array::from_fn(|i| {
                let j = i % 4;
                if i < 4 {
                    _mm256_permute2x128_si256::<0x20>(u[j], u[4 + j])
                } else {
                    _mm256_permute2x128_si256::<0x31>(u[j], u[4 + j])
                }
            })
        }

        /// The 16 message words of each lane's chunk, one vector per word.
        #[target_feature(enable = "avx2")]
        fn load_words(chunks: &[&[u8]; MAX_LANES]) -> [Vector; 16] {
            let low = transpose(std::array::from_fn(|lane| load_be(chunks[lane], 0)));
            let high = transpose(std::array::from_fn(|lane| load_be(chunks[lane], 32)));
            std::array::from_fn(|t| if t < 8 { low[t] } else { high[t - 8] })
        }

        backend!("avx2");
    }

    pub(super) mod avx512 {
        use std::arch::x86_64::*;

        use super::super::{CHUNK, K, MAX_LANES, Sha256Multi};

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

        /// Loads a 64-byte chunk, byte-swapping each word to big-endian order.
        #[target_feature(enable = "avx512f,avx512bw")]
        fn load_be(chunk: &[u8]) -> Vector {
            let bytes: &[u8; CHUNK] = chunk[..CHUNK].try_into().unwrap_or(&[0; CHUNK]);
            // SAFETY: `bytes` is 64 readable bytes; the load has no alignment requirement.
            let v = unsafe { _mm512_loadu_si512(bytes.as_ptr().cast()) };
            let swap = _mm512_set4_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203);
            _mm512_shuffle_epi8(v, swap)
        }

        /// The 16 message words of each lane's chunk, one vector per word: a 16x16
        /// transpose of 32-bit elements in four shuffle stages.
        #[target_feature(enable = "avx512f,avx512bw")]
        fn load_words(chunks: &[&[u8]; MAX_LANES]) -> [Vector; 16] {
            let r: [Vector; 16] = std::array::from_fn(|lane| load_be(chunks[lane]));
            let t: [Vector; 16] = std::array::from_fn(|i| {
                let (a, b) = (r[i & !1], r[i | 1]);
                if i % 2 == 0 {
                    _mm512_unpacklo_epi32(a, b)
                } else {
                    _mm512_unpackhi_epi32(a, b)
                }
            });
            // u[4g + j] holds words j, j + 4, j + 8, j + 12 of rows 4g..4g + 4.
            let u: [Vector; 16] = std::array::from_fn(|i| {
                let (g, j) = (i / 4 * 4, i % 4);
                let (a, b) = (t[g + j / 2], t[g + j / 2 + 2]);
                if j % 2 == 0 {
                    _mm512_unpacklo_epi64(a, b)
                } else {
                    _mm512_unpackhi_epi64(a, b)
                }
            });
            // v[4j + 0]: words j, j + 8 of rows 0..8; v[4j + 1]: words j + 4, j + 12 of rows
            // 0..8; v[4j + 2] and v[4j + 3]: the same for rows 8..16.
            let v: [Vector; 16] = std::array::from_fn(|i| {
                let (j, k) = (i / 4, i % 4);
                let (a, b) = if k < 2 {
                    (u[j], u[4 + j])
                } else {
                    (u[8 + j], u[12 + j])
                };
                if k % 2 == 0 {
                    _mm512_shuffle_i32x4::<0x88>(a, b)
                } else {
                    _mm512_shuffle_i32x4::<0xdd>(a, b)
                }
            });
            std::array::from_fn(|word| {
                let (j, high) = (word % 4, word / 4);
                let (a, b) = if high % 2 == 0 {
                    (v[4 * j], v[4 * j + 2])
                } else {
                    (v[4 * j + 1], v[4 * j + 3])
                };
                if high < 2 {
                    _mm512_shuffle_i32x4::<0x88>(a, b)
                } else {
                    _mm512_shuffle_i32x4::<0xdd>(a, b)
                }
            })
        }

        backend!("avx512f,avx512bw");
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
                    // Entries past `lanes()` are ignored, as `SaltedHasher` passes them empty.
                    let blocks: [&[u8]; MAX_LANES] = std::array::from_fn(|i| {
                        if i < multi.lanes() {
                            &data[100 + i * 1500..][..block_len]
                        } else {
                            &[]
                        }
                    });
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
