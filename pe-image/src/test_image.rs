//! A minimal PE32+ EFI application for unit tests: headers of 0x200 bytes and
//! a `.text` section of 0x200 bytes at 0x1000.

/// Offset of the PE signature.
pub const PE: usize = 0x40;
/// Offset of the optional header.
pub const OPTIONAL: usize = PE + 24;
/// Offset of the section table (240-byte PE32+ optional header).
pub const SECTION_TABLE: usize = OPTIONAL + 240;

/// The image, `trailing` bytes of 0xee appended after the section.
pub fn image(trailing: usize) -> Vec<u8> {
    let mut b = vec![0u8; 0x400];
    b[..2].copy_from_slice(b"MZ");
    put(&mut b, 0x3c, PE as u32);
    b[PE..PE + 4].copy_from_slice(b"PE\0\0");
    b[PE + 4..PE + 6].copy_from_slice(&0x8664u16.to_le_bytes());
    b[PE + 6..PE + 8].copy_from_slice(&1u16.to_le_bytes());
    b[PE + 20..PE + 22].copy_from_slice(&240u16.to_le_bytes());
    b[OPTIONAL..OPTIONAL + 2].copy_from_slice(&0x20bu16.to_le_bytes());
    put(&mut b, OPTIONAL + 32, 0x1000); // SectionAlignment
    put(&mut b, OPTIONAL + 36, 0x200); // FileAlignment
    put(&mut b, OPTIONAL + 56, 0x2000); // SizeOfImage
    put(&mut b, OPTIONAL + 60, 0x200); // SizeOfHeaders
    put(&mut b, OPTIONAL + 108, 16); // NumberOfRvaAndSizes
    let text = SECTION_TABLE;
    b[text..text + 5].copy_from_slice(b".text");
    put(&mut b, text + 8, 0x180); // VirtualSize
    put(&mut b, text + 12, 0x1000); // VirtualAddress
    put(&mut b, text + 16, 0x200); // SizeOfRawData
    put(&mut b, text + 20, 0x200); // PointerToRawData
    put(&mut b, text + 36, 0x6000_0020); // code, execute, read
    b[0x200..0x400].fill(0xc3);
    b.resize(0x400 + trailing, 0xee);
    b
}

/// Writes a little-endian u32.
pub fn put(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}
