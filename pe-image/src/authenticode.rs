//! The layout side of Authenticode: which bytes the image hash covers, and how
//! the signature is attached (Microsoft's "Windows Authenticode Portable
//! Executable Signature Format", the rules sbsigntool and EDK2's
//! `DxeImageVerificationLib` follow).
//!
//! The hash covers, in this order: the headers up to SizeOfHeaders without the
//! CheckSum field and the Certificate Table's data directory entry; each
//! section's raw data in file order (by PointerToRawData); then whatever
//! follows, counted from the number of bytes hashed so far, up to the
//! certificate table. The signature is appended as a WIN_CERTIFICATE at an
//! 8-byte aligned offset, which the data directory entry then points to.

use std::ops::Range;

use crate::checksum;
use crate::error::{Error, Result};
use crate::headers::{PeImage, put_u32};

/// WIN_CERT_REVISION_2_0.
const WIN_CERT_REVISION_2_0: u16 = 0x0200;
/// WIN_CERT_TYPE_PKCS_SIGNED_DATA.
const WIN_CERT_TYPE_PKCS_SIGNED_DATA: u16 = 0x0002;
/// Size of the WIN_CERTIFICATE header before the PKCS#7 bytes.
const WIN_CERTIFICATE_HEADER: usize = 8;

/// An unsigned image, padded so that a certificate table can follow it.
pub struct UnsignedImage {
    bytes: Vec<u8>,
    headers: PeImage,
}

impl UnsignedImage {
    /// Checks `image` and pads it with zeros to a multiple of 8 bytes: the
    /// certificate table must start 8-byte aligned, and the padding is hashed
    /// as trailing data (as sbsign does), so it must be there before hashing.
    pub fn new(image: &[u8]) -> Result<Self> {
        let headers = PeImage::parse(image)?;
        headers.ensure_unsigned()?;
        let mut bytes = image.to_vec();
        bytes.resize(image.len().next_multiple_of(8), 0);
        Ok(Self { bytes, headers })
    }

    /// The ranges of the image the Authenticode hash covers, in hashing order.
    pub fn hashed_ranges(&self) -> Vec<Range<usize>> {
        let checksum = self.headers.checksum_offset();
        let certificate_entry = self.headers.certificate_entry;
        let mut ranges = vec![
            0..checksum,
            checksum + 4..certificate_entry,
            certificate_entry + 8..self.headers.size_of_headers as usize,
        ];
        let mut sections: Vec<_> = self
            .headers
            .sections
            .iter()
            .filter(|s| s.size_of_raw_data > 0)
            .collect();
        sections.sort_by_key(|s| s.pointer_to_raw_data);
        let mut hashed = self.headers.size_of_headers as usize;
        for section in sections {
            let start = section.pointer_to_raw_data as usize;
            ranges.push(start..start + section.size_of_raw_data as usize);
            hashed += section.size_of_raw_data as usize;
        }
        // Verifiers continue from the count of bytes hashed, not from the end of
        // the last section; the two agree for images without gaps.
        if hashed < self.bytes.len() {
            ranges.push(hashed..self.bytes.len());
        }
        ranges
    }

    /// The bytes of each hashed range, in hashing order.
    pub fn hashed_parts(&self) -> impl Iterator<Item = &[u8]> {
        self.hashed_ranges()
            .into_iter()
            .map(|range| &self.bytes[range])
    }

    /// Appends `pkcs7` (a DER SignedData) as the image's certificate table,
    /// points the data directory at it and recomputes the CheckSum.
    pub fn attach_signature(self, pkcs7: &[u8]) -> Result<Vec<u8>> {
        let Self { mut bytes, headers } = self;
        let offset = bytes.len();
        // dwLength counts the header and the PKCS#7; the table is padded to 8.
        let length = WIN_CERTIFICATE_HEADER + pkcs7.len();
        let table_size = length.next_multiple_of(8);
        let too_large = |_| Error::TooLarge;
        let offset_field = u32::try_from(offset).map_err(too_large)?;
        let length_field = u32::try_from(length).map_err(too_large)?;
        let table_field = u32::try_from(table_size).map_err(too_large)?;
        u32::try_from(offset + table_size).map_err(too_large)?;

        bytes.extend_from_slice(&length_field.to_le_bytes());
        bytes.extend_from_slice(&WIN_CERT_REVISION_2_0.to_le_bytes());
        bytes.extend_from_slice(&WIN_CERT_TYPE_PKCS_SIGNED_DATA.to_le_bytes());
        bytes.extend_from_slice(pkcs7);
        bytes.resize(offset + table_size, 0);

        put_u32(&mut bytes, headers.certificate_entry, offset_field);
        put_u32(&mut bytes, headers.certificate_entry + 4, table_field);
        let sum = checksum::compute(&bytes, headers.checksum_offset());
        put_u32(&mut bytes, headers.checksum_offset(), sum);
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::u32_at;
    use crate::test_image::{self, OPTIONAL};

    const CHECKSUM: usize = OPTIONAL + 64;
    const CERTIFICATE_ENTRY: usize = OPTIONAL + 112 + 32;

    #[test]
    fn hashes_all_but_the_checksum_and_certificate_entry() {
        let unsigned = UnsignedImage::new(&test_image::image(0)).unwrap();
        assert_eq!(
            unsigned.hashed_ranges(),
            [
                0..CHECKSUM,
                CHECKSUM + 4..CERTIFICATE_ENTRY,
                CERTIFICATE_ENTRY + 8..0x200,
                0x200..0x400,
            ]
        );
    }

    #[test]
    fn trailing_data_is_padded_to_eight_and_hashed() {
        let unsigned = UnsignedImage::new(&test_image::image(5)).unwrap();
        let ranges = unsigned.hashed_ranges();
        assert_eq!(ranges.last(), Some(&(0x400..0x408)));
        let hashed: usize = unsigned.hashed_parts().map(<[u8]>::len).sum();
        assert_eq!(hashed, 0x408 - 4 - 8);
    }

    #[test]
    fn attaches_an_aligned_win_certificate() {
        let unsigned = UnsignedImage::new(&test_image::image(5)).unwrap();
        let signed = unsigned.attach_signature(&[0x30; 13]).unwrap();
        // Offset 0x408 (8-aligned), dwLength 8 + 13, the table padded to 24.
        assert_eq!(u32_at(&signed, CERTIFICATE_ENTRY), Some(0x408));
        assert_eq!(u32_at(&signed, CERTIFICATE_ENTRY + 4), Some(24));
        assert_eq!(signed.len(), 0x408 + 24);
        // dwLength 21, wRevision 0x0200, wCertificateType 2 (PKCS_SIGNED_DATA).
        assert_eq!(&signed[0x408..0x410], &[21, 0, 0, 0, 0, 2, 2, 0][..]);
        assert_eq!(&signed[0x410..0x41d], &[0x30; 13][..]);
        assert_eq!(&signed[0x41d..], &[0; 3][..]);
        let sum = crate::checksum::compute(&signed, CHECKSUM);
        assert_eq!(u32_at(&signed, CHECKSUM), Some(sum));
    }

    #[test]
    fn refuses_a_signed_image() {
        let unsigned = UnsignedImage::new(&test_image::image(0)).unwrap();
        let signed = unsigned.attach_signature(&[0x30; 8]).unwrap();
        assert!(matches!(
            UnsignedImage::new(&signed),
            Err(Error::AlreadySigned {
                offset: 0x400,
                size: 16
            })
        ));
    }
}
