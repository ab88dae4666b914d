//! The headers of a PE/COFF image (PE32 or PE32+), located and bounds-checked.
//!
//! Field offsets are those of the Microsoft PE/COFF specification: the COFF
//! file header follows the `PE\0\0` signature at `e_lfanew`, the optional
//! header follows it, and the section table follows the optional header.

use crate::error::{Error, Result, malformed};

/// Size of one section header.
pub(crate) const SECTION_HEADER_SIZE: usize = 40;
/// Index of the Certificate Table among the data directories.
const CERTIFICATE_TABLE: usize = 4;

// Offsets inside the COFF file header.
pub(crate) const COFF_NUMBER_OF_SECTIONS: usize = 2;
pub(crate) const COFF_TIME_DATE_STAMP: usize = 4;
pub(crate) const COFF_POINTER_TO_SYMBOL_TABLE: usize = 8;
pub(crate) const COFF_NUMBER_OF_SYMBOLS: usize = 12;
const COFF_SIZE_OF_OPTIONAL_HEADER: usize = 16;
const COFF_HEADER_SIZE: usize = 20;

// Offsets inside the optional header (the same in PE32 and PE32+).
pub(crate) const OPT_SIZE_OF_INITIALIZED_DATA: usize = 8;
const OPT_SECTION_ALIGNMENT: usize = 32;
const OPT_FILE_ALIGNMENT: usize = 36;
pub(crate) const OPT_SIZE_OF_IMAGE: usize = 56;
const OPT_SIZE_OF_HEADERS: usize = 60;
const OPT_CHECKSUM: usize = 64;

/// One entry of the section table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// The name, NUL-padded to 8 bytes.
    pub name: [u8; 8],
    /// Size in memory (the systemd stub reads this as the content's size).
    pub virtual_size: u32,
    /// Address in memory, relative to the image base.
    pub virtual_address: u32,
    /// Size in the file, a multiple of FileAlignment.
    pub size_of_raw_data: u32,
    /// Offset in the file.
    pub pointer_to_raw_data: u32,
    /// Flags (code, initialized data, readable, ...).
    pub characteristics: u32,
}

impl Section {
    fn parse(header: &[u8]) -> Self {
        let field = |at| u32_at(header, at).unwrap_or(0);
        Self {
            name: header[..8].try_into().unwrap_or_default(),
            virtual_size: field(8),
            virtual_address: field(12),
            size_of_raw_data: field(16),
            pointer_to_raw_data: field(20),
            characteristics: field(36),
        }
    }

    /// The 40-byte section header, relocations and line numbers empty.
    pub(crate) fn encode(&self) -> [u8; SECTION_HEADER_SIZE] {
        let mut header = [0u8; SECTION_HEADER_SIZE];
        header[..8].copy_from_slice(&self.name);
        for (at, value) in [
            (8, self.virtual_size),
            (12, self.virtual_address),
            (16, self.size_of_raw_data),
            (20, self.pointer_to_raw_data),
            (36, self.characteristics),
        ] {
            header[at..at + 4].copy_from_slice(&value.to_le_bytes());
        }
        header
    }

    /// The name without its NUL padding, for messages and tests.
    pub fn name(&self) -> String {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(8);
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }

    /// Where the section's data ends in the file.
    pub(crate) fn raw_end(&self) -> u64 {
        u64::from(self.pointer_to_raw_data) + u64::from(self.size_of_raw_data)
    }
}

/// The located headers of a PE/COFF image; offsets are into the parsed bytes.
#[derive(Clone, Debug)]
pub struct PeImage {
    /// Offset of the COFF file header.
    pub(crate) coff: usize,
    /// Offset of the optional header.
    pub(crate) optional: usize,
    /// Offset of the section table.
    pub(crate) section_table: usize,
    pub(crate) size_of_headers: u32,
    pub(crate) section_alignment: u32,
    pub(crate) file_alignment: u32,
    pub(crate) size_of_image: u32,
    /// Offset of the Certificate Table's data directory entry.
    pub(crate) certificate_entry: usize,
    /// The Certificate Table's (file offset, size); (0, 0) when unsigned.
    pub(crate) certificate_table: (u32, u32),
    pub(crate) sections: Vec<Section>,
}

impl PeImage {
    /// Locates and checks the headers: every table inside the file, the
    /// section table inside SizeOfHeaders, every section's data inside the file.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.get(..2) != Some(b"MZ") {
            return Err(malformed("no MZ signature at offset 0"));
        }
        let pe = u32_at(bytes, 0x3c).ok_or_else(|| malformed("truncated DOS header"))? as usize;
        if bytes.get(pe..pe + 4) != Some(b"PE\0\0") {
            return Err(malformed(format!("no PE signature at e_lfanew {pe:#x}")));
        }
        let coff = pe + 4;
        let optional = coff + COFF_HEADER_SIZE;
        let number_of_sections = u16_at(bytes, coff + COFF_NUMBER_OF_SECTIONS);
        let optional_size = u16_at(bytes, coff + COFF_SIZE_OF_OPTIONAL_HEADER);
        let (Some(number_of_sections), Some(optional_size)) = (number_of_sections, optional_size)
        else {
            return Err(malformed("truncated COFF file header"));
        };
        let optional_end = optional + usize::from(optional_size);
        let (count_at, directories) = match u16_at(bytes, optional) {
            Some(0x10b) => (optional + 92, optional + 96),
            Some(0x20b) => (optional + 108, optional + 112),
            Some(magic) => {
                return Err(malformed(format!(
                    "optional header magic {magic:#x} is neither PE32 (0x10b) nor PE32+ (0x20b)"
                )));
            }
            None => return Err(malformed("truncated optional header")),
        };
        let field = |at: usize, what: &str| {
            u32_at(bytes, at)
                .filter(|_| at + 4 <= optional_end)
                .ok_or_else(|| malformed(format!("optional header too short for {what}")))
        };
        let directory_count = field(count_at, "NumberOfRvaAndSizes")? as usize;
        if directory_count <= CERTIFICATE_TABLE {
            return Err(malformed(format!(
                "only {directory_count} data directories: no Certificate Table entry"
            )));
        }
        if directories + 8 * directory_count > optional_end {
            return Err(malformed(
                "the data directories run past SizeOfOptionalHeader",
            ));
        }
        let certificate_entry = directories + 8 * CERTIFICATE_TABLE;
        let certificate_table = (
            field(certificate_entry, "the Certificate Table")?,
            field(certificate_entry + 4, "the Certificate Table")?,
        );
        let size_of_headers = field(optional + OPT_SIZE_OF_HEADERS, "SizeOfHeaders")?;
        let section_alignment = field(optional + OPT_SECTION_ALIGNMENT, "SectionAlignment")?;
        let file_alignment = field(optional + OPT_FILE_ALIGNMENT, "FileAlignment")?;
        let size_of_image = field(optional + OPT_SIZE_OF_IMAGE, "SizeOfImage")?;
        field(optional + OPT_CHECKSUM, "CheckSum")?;
        if !file_alignment.is_power_of_two() || !section_alignment.is_power_of_two() {
            return Err(malformed(format!(
                "FileAlignment {file_alignment:#x} and SectionAlignment {section_alignment:#x} \
                 must be powers of two"
            )));
        }
        if size_of_headers as usize > bytes.len() {
            return Err(malformed(format!(
                "SizeOfHeaders {size_of_headers:#x} is past the end of the file"
            )));
        }

        let section_table = optional_end;
        let table_end = section_table + SECTION_HEADER_SIZE * usize::from(number_of_sections);
        if table_end > size_of_headers as usize {
            return Err(malformed(format!(
                "the section table ends at {table_end:#x}, past SizeOfHeaders {size_of_headers:#x}"
            )));
        }
        let sections: Vec<Section> = bytes[section_table..table_end]
            .chunks_exact(SECTION_HEADER_SIZE)
            .map(Section::parse)
            .collect();
        if let Some(past) = sections
            .iter()
            .find(|s| s.size_of_raw_data > 0 && s.raw_end() > bytes.len() as u64)
        {
            return Err(malformed(format!(
                "section {:?} has data up to {:#x}, past the end of the file ({:#x})",
                past.name(),
                past.raw_end(),
                bytes.len()
            )));
        }
        Ok(Self {
            coff,
            optional,
            section_table,
            size_of_headers,
            section_alignment,
            file_alignment,
            size_of_image,
            certificate_entry,
            certificate_table,
            sections,
        })
    }

    /// The section table, in table order.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// Offset of the optional header's CheckSum field.
    pub(crate) fn checksum_offset(&self) -> usize {
        self.optional + OPT_CHECKSUM
    }

    /// Offset just past the last section header.
    pub(crate) fn section_table_end(&self) -> usize {
        self.section_table + SECTION_HEADER_SIZE * self.sections.len()
    }

    /// Refuses an image that already has a certificate table.
    pub(crate) fn ensure_unsigned(&self) -> Result<()> {
        match self.certificate_table {
            (0, 0) => Ok(()),
            (offset, size) => Err(Error::AlreadySigned { offset, size }),
        }
    }
}

pub(crate) fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        bytes.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

pub(crate) fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        bytes.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// Overwrites a little-endian u32 inside headers that [`PeImage::parse`] checked.
pub(crate) fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// Overwrites a little-endian u16 inside headers that [`PeImage::parse`] checked.
pub(crate) fn put_u16(bytes: &mut [u8], at: usize, value: u16) {
    bytes[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_image::{self, OPTIONAL, PE, SECTION_TABLE, put};

    #[test]
    fn parses_the_headers_and_sections() {
        let image = test_image::image(0);
        let pe = PeImage::parse(&image).unwrap();
        assert_eq!(pe.checksum_offset(), OPTIONAL + 64);
        assert_eq!(pe.certificate_entry, OPTIONAL + 112 + 32);
        assert_eq!(pe.section_table_end(), SECTION_TABLE + 40);
        assert_eq!(pe.certificate_table, (0, 0));
        let text = &pe.sections()[0];
        assert_eq!(text.name(), ".text");
        assert_eq!(
            (
                text.virtual_address,
                text.pointer_to_raw_data,
                text.size_of_raw_data
            ),
            (0x1000, 0x200, 0x200)
        );
        assert_eq!(Section::parse(&text.encode()), *text);
    }

    fn refusal(edit: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut image = test_image::image(0);
        edit(&mut image);
        match PeImage::parse(&image) {
            Err(Error::Malformed(reason)) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn refuses_malformed_images_with_the_reason() {
        assert!(refusal(|b| b[0] = b'X').contains("MZ"));
        assert!(refusal(|b| b.truncate(0x30)).contains("DOS header"));
        assert!(refusal(|b| put(b, 0x3c, 0x10_0000)).contains("PE signature"));
        assert!(refusal(|b| b[OPTIONAL] = 0x0c).contains("magic"));
        assert!(refusal(|b| put(b, OPTIONAL + 108, 4)).contains("no Certificate Table"));
        assert!(refusal(|b| put(b, OPTIONAL + 108, 40)).contains("past SizeOfOptionalHeader"));
        assert!(refusal(|b| put(b, OPTIONAL + 36, 0x300)).contains("powers of two"));
        assert!(refusal(|b| b[PE + 6] = 20).contains("past SizeOfHeaders"));
        assert!(refusal(|b| b.truncate(0x300)).contains("past the end of the file"));
        assert!(refusal(|b| b.truncate(PE + 20)).contains("truncated COFF"));
    }
}
