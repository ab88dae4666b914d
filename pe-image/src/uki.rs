//! Unified Kernel Images: systemd-stub with the kernel, its command line, an
//! os-release and optionally an initrd appended as PE sections, the layout
//! `objcopy --add-section … --change-section-vma …` gives (see
//! ARCHITECTURE.md, "Signed UKI: building blocks").
//!
//! systemd-stub 252 finds each section by name and reads VirtualAddress and
//! VirtualSize; it warns unless the section table is in ascending address
//! order. New sections therefore follow the stub's last one, each at the next
//! 4 KiB boundary, in the order given. The result is reproducible: the COFF
//! TimeDateStamp is zeroed, and the stub's COFF symbol table (debugging data
//! after the last section, never loaded) is dropped.

use crate::checksum;
use crate::error::{Error, Result};
use crate::headers::{
    COFF_NUMBER_OF_SECTIONS, COFF_NUMBER_OF_SYMBOLS, COFF_POINTER_TO_SYMBOL_TABLE,
    COFF_TIME_DATE_STAMP, OPT_SIZE_OF_IMAGE, OPT_SIZE_OF_INITIALIZED_DATA, PeImage,
    SECTION_HEADER_SIZE, Section, put_u16, put_u32, u32_at,
};

/// Where each new section starts in memory: a page, as in the objcopy recipe.
const SECTION_ADDRESS_ALIGNMENT: u64 = 4096;
/// IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ, what objcopy gives
/// an added section (`CONTENTS, ALLOC, LOAD, READONLY, DATA`).
const READ_ONLY_DATA: u32 = 0x4000_0040;

/// What goes into a UKI besides the stub.
#[derive(Clone, Copy, Debug)]
pub struct UkiParts<'a> {
    /// `.osrel`: the os-release file the stub exports to the boot loader.
    pub osrel: &'a [u8],
    /// `.cmdline`: under Secure Boot the only command line the stub passes.
    pub cmdline: &'a [u8],
    /// `.linux`: the kernel, an EFI-stub bzImage.
    pub linux: &'a [u8],
    /// `.initrd`, if any.
    pub initrd: Option<&'a [u8]>,
}

/// Builds a UKI from the systemd-stub PE `stub` (unsigned) and `parts`.
pub fn assemble(stub: &[u8], parts: &UkiParts) -> Result<Vec<u8>> {
    let mut sections = vec![
        (".osrel", parts.osrel),
        (".cmdline", parts.cmdline),
        (".linux", parts.linux),
    ];
    sections.extend(parts.initrd.map(|initrd| (".initrd", initrd)));
    append_sections(stub, &sections)
}

/// Appends `sections` (name, contents) after the image's last section, at
/// ascending page-aligned addresses in the given order.
pub fn append_sections(image: &[u8], sections: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    let headers = PeImage::parse(image)?;
    // A signature would no longer match; the stub must be the unsigned original.
    headers.ensure_unsigned()?;
    for (name, contents) in sections {
        check_section(name, contents)?;
    }
    let table_end = headers.section_table_end();
    let limit = headers
        .sections
        .iter()
        .filter(|s| s.size_of_raw_data > 0)
        .map(|s| s.pointer_to_raw_data as usize)
        .fold(headers.size_of_headers as usize, usize::min);
    if table_end + SECTION_HEADER_SIZE * sections.len() > limit {
        return Err(Error::NoRoomForSections {
            wanted: sections.len(),
            table_end,
            limit,
        });
    }

    // Keep the headers and the sections' data; drop the symbol table after them.
    let data_end = headers
        .sections
        .iter()
        .filter(|s| s.size_of_raw_data > 0)
        .map(Section::raw_end)
        .fold(u64::from(headers.size_of_headers), u64::max);
    let file_alignment = u64::from(headers.file_alignment);
    let mut out = image[..data_end as usize].to_vec();
    out.resize(data_end.next_multiple_of(file_alignment) as usize, 0);

    let address_alignment = SECTION_ADDRESS_ALIGNMENT.max(u64::from(headers.section_alignment));
    let stub_end = headers
        .sections
        .iter()
        .map(|s| u64::from(s.virtual_address) + u64::from(s.virtual_size.max(s.size_of_raw_data)))
        .fold(u64::from(headers.size_of_image), u64::max);
    let mut address = stub_end.next_multiple_of(address_alignment);
    let mut image_end = stub_end;
    let mut added_raw: u64 = 0;
    let mut new_headers = Vec::new();
    for (name, contents) in sections {
        let size = contents.len() as u64;
        let raw_size = size.next_multiple_of(file_alignment);
        let section = Section {
            name: section_name(name),
            virtual_size: fits(size)?,
            virtual_address: fits(address)?,
            size_of_raw_data: fits(raw_size)?,
            pointer_to_raw_data: fits(out.len() as u64)?,
            characteristics: READ_ONLY_DATA,
        };
        out.extend_from_slice(contents);
        out.resize(out.len().next_multiple_of(file_alignment as usize), 0);
        new_headers.extend_from_slice(&section.encode());
        image_end = address + size;
        address = image_end.next_multiple_of(address_alignment);
        added_raw += raw_size;
    }
    fits(out.len() as u64)?;

    out[table_end..table_end + new_headers.len()].copy_from_slice(&new_headers);
    let count = headers.sections.len() + sections.len();
    let count = u16::try_from(count).map_err(|_| Error::TooLarge)?;
    put_u16(&mut out, headers.coff + COFF_NUMBER_OF_SECTIONS, count);
    put_u32(&mut out, headers.coff + COFF_TIME_DATE_STAMP, 0);
    put_u32(&mut out, headers.coff + COFF_POINTER_TO_SYMBOL_TABLE, 0);
    put_u32(&mut out, headers.coff + COFF_NUMBER_OF_SYMBOLS, 0);
    let size_of_image = image_end.next_multiple_of(u64::from(headers.section_alignment));
    put_u32(
        &mut out,
        headers.optional + OPT_SIZE_OF_IMAGE,
        fits(size_of_image)?,
    );
    let initialized_at = headers.optional + OPT_SIZE_OF_INITIALIZED_DATA;
    let initialized = u64::from(u32_at(&out, initialized_at).unwrap_or(0)) + added_raw;
    put_u32(&mut out, initialized_at, fits(initialized)?);
    checksum::update(&mut out)?;
    Ok(out)
}

fn check_section(name: &str, contents: &[u8]) -> Result<()> {
    let bad = |reason| {
        Err(Error::BadSection {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() || name.len() > 8 {
        return bad("a section name has 1 to 8 bytes");
    }
    if contents.is_empty() {
        // The stub treats a zero-sized section as absent: leave it out instead.
        return bad("empty; leave the section out instead");
    }
    Ok(())
}

fn section_name(name: &str) -> [u8; 8] {
    let mut padded = [0u8; 8];
    padded[..name.len()].copy_from_slice(name.as_bytes());
    padded
}

fn fits(value: u64) -> Result<u32> {
    u32::try_from(value).map_err(|_| Error::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_image::{self, OPTIONAL, PE, SECTION_TABLE, put};

    fn parts<'a>(linux: &'a [u8], initrd: Option<&'a [u8]>) -> UkiParts<'a> {
        UkiParts {
            osrel: b"ID=appliance\n",
            cmdline: b"console=ttyS0",
            linux,
            initrd,
        }
    }

    #[test]
    fn appends_page_aligned_sections_in_order() {
        let mut stub = test_image::image(100); // 100 bytes of symbol table
        put(&mut stub, PE + 8, 0x1234_5678); // TimeDateStamp
        let linux = vec![0x4d; 0x1801];
        // The test image has room for three more section headers: no initrd.
        let uki = assemble(&stub, &parts(&linux, None)).unwrap();
        let pe = PeImage::parse(&uki).unwrap();
        let layout: Vec<_> = pe
            .sections()
            .iter()
            .map(|s| {
                (
                    s.name(),
                    s.virtual_address,
                    s.virtual_size,
                    s.pointer_to_raw_data,
                    s.size_of_raw_data,
                )
            })
            .collect();
        assert_eq!(
            layout,
            [
                (".text".into(), 0x1000, 0x180, 0x200, 0x200),
                (".osrel".into(), 0x2000, 13, 0x400, 0x200),
                (".cmdline".into(), 0x3000, 13, 0x600, 0x200),
                (".linux".into(), 0x4000, 0x1801, 0x800, 0x1a00),
            ]
        );
        assert_eq!(uki.len(), 0x2200, "the symbol table is dropped");
        assert_eq!(&uki[0x800..0x800 + 0x1801], &linux[..]);
        assert_eq!(u32_at(&uki, PE + 8), Some(0), "TimeDateStamp");
        assert_eq!(u32_at(&uki, OPTIONAL + 56), Some(0x6000), "SizeOfImage");
        assert_eq!(
            u32_at(&uki, OPTIONAL + 8),
            Some(0x1e00),
            "SizeOfInitializedData"
        );
        assert_eq!(
            u32_at(&uki, OPTIONAL + 64),
            Some(checksum::compute(&uki, OPTIONAL + 64))
        );
        assert_eq!(assemble(&stub, &parts(&linux, None)).unwrap(), uki);
    }

    #[test]
    fn follows_a_section_without_file_data() {
        let mut stub = test_image::image(0);
        // A .bss: memory only, with a file pointer that points nowhere.
        stub[PE + 6] = 2;
        let bss = SECTION_TABLE + 40;
        stub[bss..bss + 4].copy_from_slice(b".bss");
        put(&mut stub, bss + 8, 0x100);
        put(&mut stub, bss + 12, 0x2000);
        put(&mut stub, bss + 20, 0x10_0000);
        let uki = append_sections(&stub, &[(".osrel", b"ID=x\n")]).unwrap();
        let osrel = PeImage::parse(&uki).unwrap().sections()[2].clone();
        assert_eq!(
            (osrel.virtual_address, osrel.pointer_to_raw_data),
            (0x3000, 0x400)
        );
    }

    #[test]
    fn refuses_when_the_headers_have_no_room() {
        let stub = test_image::image(0);
        // Room for (0x200 - 0x170) / 40 = 3 headers after the first.
        assert_eq!(SECTION_TABLE + 40, 0x170);
        let three = [(".a", &b"1"[..]), (".b", b"2"), (".c", b"3")];
        append_sections(&stub, &three).unwrap();
        let four = [(".a", &b"1"[..]), (".b", b"2"), (".c", b"3"), (".d", b"4")];
        let err = append_sections(&stub, &four).unwrap_err();
        assert!(
            matches!(
                err,
                Error::NoRoomForSections {
                    wanted: 4,
                    table_end: 0x170,
                    limit: 0x200
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn refuses_bad_sections_and_signed_stubs() {
        let stub = test_image::image(0);
        let empty = append_sections(&stub, &[(".cmdline", b"")]).unwrap_err();
        assert!(
            empty.to_string().contains("leave the section out"),
            "{empty}"
        );
        let long = append_sections(&stub, &[(".toolongname", b"x")]).unwrap_err();
        assert!(long.to_string().contains("1 to 8 bytes"), "{long}");
        let signed = crate::authenticode::UnsignedImage::new(&stub)
            .unwrap()
            .attach_signature(&[0x30; 8])
            .unwrap();
        let err = assemble(&signed, &parts(b"k", None)).unwrap_err();
        assert!(matches!(err, Error::AlreadySigned { .. }), "{err}");
    }
}
