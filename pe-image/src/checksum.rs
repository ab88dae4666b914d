//! The optional header's CheckSum, as ImageHlp's `CheckSumMappedFile`
//! computes it: the file summed as little-endian 16-bit words with end-around
//! carry, the CheckSum field itself counted as zero, plus the file's length.
//! UEFI does not check it, but tools do, and it keeps us equal to objcopy.

use crate::error::Result;
use crate::headers::{PeImage, put_u32};

/// The checksum of `image` whose CheckSum field is at `field`.
pub(crate) fn compute(image: &[u8], field: usize) -> u32 {
    let skipped = field..field + 4;
    let byte = |i: usize| if skipped.contains(&i) { 0 } else { image[i] };
    // Sum in 64 bits and fold at the end: end-around carry addition is
    // associative, so this equals folding after every word.
    let mut sum: u64 = 0;
    let mut i = 0;
    while i + 1 < image.len() {
        sum += u64::from(u16::from_le_bytes([byte(i), byte(i + 1)]));
        i += 2;
    }
    if i < image.len() {
        sum += u64::from(byte(i));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // The length wraps like the 32-bit field it is added into.
    (sum as u32).wrapping_add(image.len() as u32)
}

/// Recomputes and stores the CheckSum of a parsed image.
pub fn update(image: &mut [u8]) -> Result<()> {
    let field = PeImage::parse(image)?.checksum_offset();
    let sum = compute(image, field);
    put_u32(image, field, sum);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_words_with_end_around_carry_plus_the_length() {
        // 0xffff + 0x0002 = 0x1_0001 -> 0x0002, plus 4 bytes of length.
        assert_eq!(compute(&[0xff, 0xff, 0x02, 0x00], 100), 6);
        // An odd last byte counts as a low byte; the field reads as zero.
        assert_eq!(compute(&[1, 0, 9, 9, 9, 9, 5], 2), 1 + 5 + 7);
    }

    #[test]
    fn update_is_stable() {
        let mut image = crate::test_image::image(3);
        update(&mut image).unwrap();
        let once = image.clone();
        update(&mut image).unwrap();
        assert_eq!(image, once);
        assert_ne!(&image[crate::test_image::OPTIONAL + 64..][..4], &[0; 4]);
    }
}
